"""An agent: an actor and a learner in one process, learning as it acts."""

from __future__ import annotations

from collections.abc import Sequence

import dm_env

from rlkit import core, types


class Agent(core.Actor, core.VariableSource):
    """Acts through `actor` and runs `learner` steps on a fixed schedule.

    After `min_observations` environment steps, the learner takes one step every
    `observations_per_step` steps (or several per step when it is below 1). The schedule is
    counted, not timed, so a run does the same number of updates whatever the machine; the
    replay table's rate limiter guarantees no sample is drawn before its data is inserted.
    """

    def __init__(
        self,
        actor: core.Actor,
        learner: core.Learner,
        min_observations: int,
        observations_per_step: float,
    ):
        if observations_per_step <= 0:
            raise ValueError(
                f"observations_per_step must be positive, got {observations_per_step}."
            )
        self._actor = actor
        self._learner = learner
        self._min_observations = min_observations
        self._observations_per_step = observations_per_step
        self._num_observations = 0
        self._learner_steps = 0

    def _learner_steps_due(self) -> int:
        since_start = self._num_observations - self._min_observations
        if since_start < 0:
            return 0
        return int(since_start // self._observations_per_step) + 1

    def select_action(self, observation: types.NestedArray) -> types.NestedArray:
        return self._actor.select_action(observation)

    def observe_first(self, timestep: dm_env.TimeStep) -> None:
        self._actor.observe_first(timestep)

    def observe(self, action: types.NestedArray, next_timestep: dm_env.TimeStep) -> None:
        self._num_observations += 1
        self._actor.observe(action, next_timestep)

    def update(self, wait: bool = False) -> None:
        due = self._learner_steps_due()
        if self._learner_steps >= due:
            return
        while self._learner_steps < due:
            self._learner.step()
            self._learner_steps += 1
        self._actor.update(wait)

    def get_variables(self, names: Sequence[str]) -> list[types.NestedArray]:
        return self._learner.get_variables(names)

    @property
    def learner(self) -> core.Learner:
        return self._learner

    @property
    def actor(self) -> core.Actor:
        return self._actor

    @property
    def num_observations(self) -> int:
        return self._num_observations
