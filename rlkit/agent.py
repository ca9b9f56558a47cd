"""An agent: an actor and a learner in one process, learning as it acts."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any

import dm_env
import numpy as np

from rlkit import builders, core, types


class Agent(core.Actor, core.VariableSource, core.Saveable[dict[str, Any]]):
    """Acts through `actor` and runs `learner` steps when its learning schedule says.

    By default the schedule is a replay ratio (`rlkit.LearningSchedule`): after
    `min_observations` environment steps, one learner step every `observations_per_step`
    steps (or several per step when it is below 1). The schedule is counted, not timed, so
    a run does the same number of updates whatever the machine; the replay table's rate
    limiter guarantees no sample is drawn before its data is inserted. A builder's own
    schedule (`schedule`, e.g. an on-policy family's, which learns when rollouts are in)
    replaces it.

    With `learn_in_background=True` (and a schedule that allows it) the learner steps due
    at one observation run on a worker thread while the actor keeps acting on the
    parameters from before them; they are joined before the next learner steps are
    started, so the actor is always exactly one round of learner steps behind, whatever the
    timing (the schedule is deterministic; so are replay samples on the local backend, not
    on Reverb's, whose samplers cannot be seeded). On a multi-core CPU this overlaps acting
    with the jitted update instead of queueing them. `before_background_round(num_steps)`,
    if given, runs on the acting thread before a round is handed to the worker (e.g. to
    draw its replay batches at a deterministic point).
    """

    def __init__(
        self,
        actor: core.Actor,
        learner: core.Learner,
        min_observations: int = 0,
        observations_per_step: float = 1.0,
        learn_in_background: bool = False,
        before_background_round: Callable[[int], None] | None = None,
        schedule: builders.LearningSchedule | None = None,
    ):
        if schedule is None:
            if observations_per_step <= 0:
                raise ValueError(
                    f"observations_per_step must be positive, got {observations_per_step}."
                )
            schedule = builders.LearningSchedule(min_observations, observations_per_step)
        self._actor = actor
        self._learner = learner
        self._schedule = schedule
        self._num_observations = 0
        self._learner_steps_started = 0  # Read and written by the acting thread only.
        self._learner_steps_done = 0  # Counted by whichever thread runs the learner.
        self._executor = (
            concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rlkit-learner")
            if learn_in_background and schedule.runs_in_background
            else None
        )
        self._pending: concurrent.futures.Future | None = None
        self._before_background_round = before_background_round

    def select_action(self, observation: types.NestedArray) -> types.NestedArray:
        return self._actor.select_action(observation)

    def observe_first(self, timestep: dm_env.TimeStep) -> None:
        self._actor.observe_first(timestep)

    def observe(self, action: types.NestedArray, next_timestep: dm_env.TimeStep) -> None:
        step_type = getattr(next_timestep, "step_type", None)
        if isinstance(step_type, np.ndarray) and step_type.ndim:
            # Batched: one transition per sub-environment but those restarting.
            self._num_observations += int(np.count_nonzero(step_type != dm_env.StepType.FIRST))
        else:
            self._num_observations += 1
        self._actor.observe(action, next_timestep)

    def _run_learner(self, num_steps: int) -> None:
        for _ in range(num_steps):
            self._learner.step()
            self._learner_steps_done += 1

    def update(self, wait: bool = False) -> None:
        num_steps = self._schedule.learner_steps_due(
            self._num_observations, self._learner_steps_started
        )
        if num_steps <= 0:
            return
        if self._executor is None:
            self._learner_steps_started += num_steps
            self._run_learner(num_steps)
            # The schedule may have the next action act on the new parameters; otherwise
            # the actor's variable client counts learner steps and fetches on its period.
            self._actor.update(wait or self._schedule.fetch_after_learning)
            return
        self.wait_for_learner()
        self._actor.update(wait)  # Parameters as of the round just joined.
        if self._before_background_round is not None:
            self._before_background_round(num_steps)
        self._pending = self._executor.submit(self._run_learner, num_steps)
        self._learner_steps_started += num_steps

    def wait_for_learner(self) -> None:
        """Blocks until background learner steps finish; re-raises their errors.

        Interrupted while waiting (Ctrl-C), the round stays pending, so a later `save` still
        waits for it.
        """
        pending = self._pending
        if pending is None:
            return
        try:
            pending.result()
        finally:
            if pending.done():
                self._pending = None

    def get_variables(self, names: Sequence[str]) -> list[types.NestedArray]:
        self.wait_for_learner()
        return self._learner.get_variables(names)

    def save(self) -> dict[str, Any]:
        """Learner, actor and schedule state, after pending learner steps (a pytree of arrays)."""
        self.wait_for_learner()
        if self._executor is not None:
            # A round submitted just before an interruption may not be in `_pending`; the
            # single worker runs tasks in order, so this one returns after it.
            self._executor.submit(lambda: None).result()
        actor_state = self._actor.save() if isinstance(self._actor, core.Saveable) else ()
        # Steps done, not started: an interrupted inline round is redone after a resume.
        schedule = np.array([self._num_observations, self._learner_steps_done], np.int64)
        return {"learner": self._learner.save(), "actor": actor_state, "schedule": schedule}

    def restore(self, state: dict[str, Any]) -> None:
        """Continues from `save()`'s state: the schedule resumes where it stopped."""
        self.wait_for_learner()
        self._learner.restore(state["learner"])
        if isinstance(self._actor, core.Saveable):
            self._actor.restore(state["actor"])
        self._num_observations, self._learner_steps_done = (int(n) for n in state["schedule"])
        self._learner_steps_started = self._learner_steps_done
        self._actor.update(wait=True)  # The restored parameters, not the initial ones.

    def restart_warm_up(self) -> None:
        """After the replay tables were lost (a damaged replay checkpoint, set aside): no
        learner step until the schedule says the new experience is enough
        (`LearningSchedule.warm_up_again`)."""
        self.wait_for_learner()
        self._learner_steps_done = self._schedule.warm_up_again(
            self._num_observations, self._learner_steps_done
        )
        self._learner_steps_started = self._learner_steps_done

    def close(self) -> None:
        """Finishes background learning and stops its thread (re-raising a learner error),
        then closes the learner."""
        try:
            self.wait_for_learner()
            self._learner.close()
        finally:
            if self._executor is not None:
                self._executor.shutdown()

    @property
    def learner(self) -> core.Learner:
        return self._learner

    @property
    def actor(self) -> core.Actor:
        return self._actor

    @property
    def num_observations(self) -> int:
        return self._num_observations
