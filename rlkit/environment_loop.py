"""The loop that runs an actor (or agent) in an environment."""

from __future__ import annotations

import operator
import time
from collections.abc import Sequence
from typing import Any, Protocol

import dm_env
import numpy as np
import tree

from rlkit import core, loggers
from rlkit.utils import counting


class EnvLoopObserver(Protocol):
    """Collects per-episode metrics from the loop (e.g. action histograms, success rates)."""

    def observe_first(self, env: dm_env.Environment, timestep: dm_env.TimeStep) -> None: ...

    def observe(
        self, env: dm_env.Environment, timestep: dm_env.TimeStep, action: np.ndarray
    ) -> None: ...

    def get_metrics(self) -> dict[str, Any]: ...


class EnvironmentLoop(core.Worker):
    """Runs `actor` in `environment`: reset, then select_action / step / observe / update.

    Each finished episode produces a result dict with at least `episode_return`,
    `episode_length` and `steps_per_second`, plus the counter's totals and the observers'
    metrics; the result goes to `logger` and is returned by `run`.
    """

    def __init__(
        self,
        environment: dm_env.Environment,
        actor: core.Actor,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        observers: Sequence[EnvLoopObserver] = (),
        label: str = "environment_loop",
    ):
        self._environment = environment
        self._actor = actor
        self._counter = counter or counting.Counter()
        self._logger = logger or loggers.make_default_logger(label)
        self._observers = tuple(observers)
        self._zero_return = tree.map_structure(
            lambda spec: np.zeros(spec.shape, spec.dtype), environment.reward_spec()
        )

    def run_episode(self, max_steps: int | None = None) -> dict[str, Any] | None:
        """Runs one episode (or `max_steps` steps of it); returns its result when it ended."""
        start = time.perf_counter()
        environment, actor, observers = self._environment, self._actor, self._observers
        timestep = environment.reset()
        actor.observe_first(timestep)
        for observer in observers:
            observer.observe_first(environment, timestep)
        episode_return = self._zero_return
        episode_length = 0
        scalar_reward = not isinstance(episode_return, dict | tuple | list)
        while not timestep.last():
            if max_steps is not None and episode_length >= max_steps:
                self._counter.increment(steps=episode_length)
                return None
            action = actor.select_action(timestep.observation)
            timestep = environment.step(action)
            actor.observe(action, next_timestep=timestep)
            for observer in observers:
                observer.observe(environment, timestep, action)
            actor.update()
            episode_length += 1
            if scalar_reward:
                episode_return = episode_return + timestep.reward
            else:
                episode_return = tree.map_structure(operator.add, episode_return, timestep.reward)

        counts = self._counter.increment(episodes=1, steps=episode_length)
        elapsed = time.perf_counter() - start
        result = {
            "episode_length": episode_length,
            "episode_return": episode_return,
            "steps_per_second": episode_length / max(elapsed, 1e-9),
            **counts,
        }
        for observer in observers:
            result.update(observer.get_metrics())
        return result

    def run(
        self, num_episodes: int | None = None, num_steps: int | None = None
    ) -> list[dict[str, Any]]:
        """Runs `num_episodes` episodes or exactly `num_steps` environment steps (or forever).

        With `num_steps`, the loop stops after exactly that many steps even mid-episode (the
        next `run` starts a fresh episode); results cover the episodes that finished.
        """
        if num_episodes is not None and num_steps is not None:
            raise ValueError("Pass num_episodes or num_steps to run(), not both.")
        for name, value in (("num_episodes", num_episodes), ("num_steps", num_steps)):
            if value is not None and (not isinstance(value, int | np.integer) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
        results = []
        episodes = steps = 0
        while (num_episodes is None or episodes < num_episodes) and (
            num_steps is None or steps < num_steps
        ):
            remaining = None if num_steps is None else num_steps - steps
            result = self.run_episode(max_steps=remaining)
            if result is None:
                break
            episodes += 1
            steps += result["episode_length"]
            self._logger.write(result)
            results.append(result)
        return results
