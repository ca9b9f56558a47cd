"""The evaluator: the evaluation policy on environment instances of its own."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import dm_env
import numpy as np
import tree

from rlkit import core, loggers
from rlkit.replay.base import index_nest
from rlkit.utils import counting

# Evaluation episodes run side by side in up to this many environments: one batched policy
# call per step for all of them, where one environment would need a call per episode step.
MAX_PARALLEL_EVALUATION_EPISODES = 16


class Evaluator:
    """Runs `num_episodes` episodes of `actor` and logs their return's mean and spread.

    The episodes run side by side, one per environment of `environments`, with `actor`
    batched over them (made with `num_envs=len(environments)`), or one after the other in a
    single environment for an actor of one environment. Environment i runs
    `(num_episodes + i) // len(environments)` whole episodes per evaluation and then waits
    for the others, so short episodes are not over-counted (as SB3's `evaluate_policy`);
    each evaluation resets every environment.

    The actor should be an evaluation actor (greedy / deterministic, writing no replay) and
    the environments separate instances from the one training acts in, so evaluation never
    disturbs a training episode. Rewards must be scalars.
    """

    def __init__(
        self,
        environments: Sequence[dm_env.Environment] | dm_env.Environment,
        actor: core.Actor,
        num_episodes: int,
        counter: counting.Counter,
        logger: loggers.Logger | None = None,
    ):
        if isinstance(environments, dm_env.Environment):
            environments = [environments]  # One environment: episodes one after another.
        self._environments = list(environments)
        self._batched = getattr(actor, "num_envs", None) is not None
        expected = actor.num_envs if self._batched else 1
        if len(self._environments) != expected:
            raise ValueError(
                f"The evaluation actor acts in {expected} environment(s) but the evaluator "
                f"was given {len(self._environments)}: make the actor with "
                "num_envs=len(environments) (or give one environment to an unbatched actor)."
            )
        if num_episodes < 1:
            raise ValueError(f"num_episodes must be positive, got {num_episodes}.")
        self._actor = actor
        self._num_episodes = num_episodes
        self._counter = counter
        self._logger = logger or loggers.NoOpLogger()
        self.seconds = 0.0  # Spent evaluating, over every `evaluate` call.
        # The parameters the latest evaluation acted with (None: the actor does not say):
        # the policy exported with that evaluation's return, not the learner's newer one.
        self.evaluated_params: Any = None

    def evaluate(self) -> dict[str, Any]:
        """Evaluates the current parameters; returns (and logs) the summary row."""
        started = time.monotonic()
        self._actor.update(wait=True)
        self.evaluated_params = getattr(self._actor, "params", None)
        returns, lengths = self._run_episodes()
        self.seconds += time.monotonic() - started
        return _log_row(self._logger, self._counter, returns, lengths)

    def _run_episodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Every environment's episodes for one evaluation: (returns, lengths)."""
        environments, actor = self._environments, self._actor
        count = len(environments)
        episodes_left = [(self._num_episodes + i) // count for i in range(count)]
        timesteps = [environment.reset() for environment in environments]
        actor.observe_first(self._together(timesteps))
        episode_returns, episode_lengths = np.zeros(count), np.zeros(count, np.int64)
        returns: list[float] = []
        lengths: list[int] = []
        while any(episodes_left):
            actions = actor.select_action(self._together(timesteps).observation)
            for i, environment in enumerate(environments):
                if not episodes_left[i]:
                    continue  # Its episodes are done: its last timestep stands in.
                if timesteps[i].last():
                    # Its next episode starts a step after the last one ended (the action
                    # taken meanwhile is dropped), as a vector environment's auto-reset does:
                    # the actor sees the LAST step, then the FIRST.
                    timesteps[i] = environment.reset()
                    continue
                action = index_nest(actions, i) if self._batched else actions
                timestep = timesteps[i] = environment.step(action)
                episode_returns[i] += timestep.reward
                episode_lengths[i] += 1
                if timestep.last():
                    returns.append(float(episode_returns[i]))
                    lengths.append(int(episode_lengths[i]))
                    episode_returns[i], episode_lengths[i] = 0.0, 0
                    episodes_left[i] -= 1
            if self._batched:
                actor.observe(actions, self._together(timesteps))
            elif timesteps[0].first():
                actor.observe_first(timesteps[0])
            else:
                actor.observe(actions, timesteps[0])
        return np.array(returns), np.array(lengths)

    def _together(self, timesteps: list[dm_env.TimeStep]) -> dm_env.TimeStep:
        """The environments' timesteps as the actor takes them: one, or stacked on a leading
        axis (rewards and discounts of FIRST steps as 0 and 1)."""
        if not self._batched:
            return timesteps[0]
        return dm_env.TimeStep(
            np.array([timestep.step_type for timestep in timesteps]),
            np.array([0.0 if t.reward is None else t.reward for t in timesteps], np.float32),
            np.array([1.0 if t.discount is None else t.discount for t in timesteps], np.float32),
            tree.map_structure(lambda *rows: np.stack(rows), *[t.observation for t in timesteps]),
        )

    def close(self) -> None:
        """Closes the evaluation environments (each, even if closing another fails)."""
        with contextlib.ExitStack() as closing:
            for environment in self._environments:
                closing.callback(environment.close)


def _log_row(
    logger: loggers.Logger, counter: counting.Counter, returns: np.ndarray, lengths: np.ndarray
) -> dict[str, Any]:
    """An evaluation's summary row, logged."""
    row = {
        "actor_steps": int(counter.get_counts().get("actor_steps", 0)),
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "return_min": float(returns.min()),
        "return_max": float(returns.max()),
        "episode_length_mean": float(lengths.mean()),
        "episodes": len(returns),
    }
    logger.write(row)
    return row


class EpisodesEvaluator:
    """An evaluator whose episodes a layout runs itself: `run_episodes()` returns the
    parameters it acted with and the episodes' returns and lengths (e.g. the Anakin layout's,
    all episodes in one jitted call on the JAX environment). Logs the same row as
    `Evaluator`."""

    def __init__(
        self,
        run_episodes: Callable[[], tuple[Any, np.ndarray, np.ndarray]],
        counter: counting.Counter,
        logger: loggers.Logger | None = None,
    ):
        self._run_episodes = run_episodes
        self._counter = counter
        self._logger = logger or loggers.NoOpLogger()
        self.seconds = 0.0
        self.evaluated_params: Any = None

    def evaluate(self) -> dict[str, Any]:
        started = time.monotonic()
        self.evaluated_params, returns, lengths = self._run_episodes()
        self.seconds += time.monotonic() - started
        return _log_row(self._logger, self._counter, np.asarray(returns), np.asarray(lengths))

    def close(self) -> None:
        pass
