"""The evaluator: the evaluation policy on its own environment instance."""

from __future__ import annotations

import time
from typing import Any

import dm_env
import numpy as np

from rlkit import core, environment_loop, loggers
from rlkit.utils import counting


class Evaluator:
    """Runs `num_episodes` episodes of `actor` and logs their return's mean and spread.

    The actor should be an evaluation actor (greedy / deterministic, writing no replay) and
    the environment a separate instance from the one training acts in, so evaluation never
    disturbs a training episode.
    """

    def __init__(
        self,
        environment: dm_env.Environment,
        actor: core.Actor,
        num_episodes: int,
        counter: counting.Counter,
        logger: loggers.Logger | None = None,
    ):
        self._environment = environment
        self._loop = environment_loop.EnvironmentLoop(
            environment, actor, logger=loggers.NoOpLogger(), label="evaluator"
        )
        self._actor = actor
        self._num_episodes = num_episodes
        self._counter = counter
        self._logger = logger or loggers.NoOpLogger()
        self.seconds = 0.0  # Spent evaluating, over every `evaluate` call.

    def evaluate(self) -> dict[str, Any]:
        """Evaluates the current parameters; returns (and logs) the summary row."""
        started = time.monotonic()
        self._actor.update(wait=True)
        results = self._loop.run(num_episodes=self._num_episodes)
        self.seconds += time.monotonic() - started
        returns = np.array([float(r["episode_return"]) for r in results])
        lengths = np.array([r["episode_length"] for r in results])
        counts = self._counter.get_counts()
        row = {
            "actor_steps": int(counts.get("actor_steps", 0)),
            "return_mean": float(returns.mean()),
            "return_std": float(returns.std()),
            "return_min": float(returns.min()),
            "return_max": float(returns.max()),
            "episode_length_mean": float(lengths.mean()),
            "episodes": len(results),
        }
        self._logger.write(row)
        return row

    def close(self) -> None:
        """Closes the evaluation environment."""
        self._environment.close()
