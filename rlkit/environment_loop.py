"""The loop that runs an actor (or agent) in an environment."""

from __future__ import annotations

import collections
import operator
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import dm_env
import numpy as np
import tree

from rlkit import core, loggers
from rlkit.utils import counting
from rlkit.wrappers import vector


class EnvLoopObserver(Protocol):
    """Collects per-episode metrics from the loop (e.g. action histograms, success rates)."""

    def observe_first(self, env: dm_env.Environment, timestep: dm_env.TimeStep) -> None: ...

    def observe(
        self, env: dm_env.Environment, timestep: dm_env.TimeStep, action: np.ndarray
    ) -> None: ...

    def get_metrics(self) -> dict[str, Any]: ...


class StopCheck:
    """`should_stop(steps)` asked once `first` steps of a stretch are taken, then every
    `every` more (a training loop's, or a layout's that polls its workers' count)."""

    def __init__(self, should_stop: Callable[[int], bool], every: int, first: int):
        self._should_stop, self._every = should_stop, every
        self.next_at = first

    def due(self, steps: int) -> bool:
        return steps >= self.next_at

    def stop(self, steps: int) -> bool:
        """Asks `should_stop(steps)` (and schedules the next check on the same grid)."""
        self.next_at += (steps - self.next_at) // self._every * self._every + self._every
        return bool(self._should_stop(steps))


class _Episode(NamedTuple):
    """An unfinished episode, kept between `run` calls."""

    timestep: dm_env.TimeStep
    episode_return: Any
    length: int
    elapsed: float


class _Batch(NamedTuple):
    """A batched environment's unfinished episodes, kept between `run` calls."""

    timestep: dm_env.TimeStep
    episode_returns: np.ndarray  # [N]
    episode_lengths: np.ndarray  # [N]


class EnvironmentLoop(core.Worker):
    """Runs `actor` in `environment`: reset, then select_action / step / observe / update.

    Each finished episode produces a result dict with at least `episode_return`,
    `episode_length` and `steps_per_second`, plus the counter's totals and the observers'
    metrics; the result goes to `logger` and is returned by `run`. At its end, `run` writes
    a summary to `logger.write_summary` (the default terminal logger prints it; pass
    `logger=rlkit.loggers.NoOpLogger()` for silence): the steps and episodes of that call,
    its wall-clock seconds and steps per second, the last episode's return and the mean of
    the last `RECENT_EPISODES` episodes' returns (scalar rewards).

    A batched environment (one with `num_envs`, e.g. `rlkit.make_vector_environment`) is run
    the same way with a batched actor: `select_action` gets the N observations and returns
    N actions, `observe` gets the N actions and the batched timestep, in which a
    sub-environment's `FIRST` step starts its next episode (see `VectorGymWrapper`). Steps
    count the sub-environments' transitions (not their `FIRST` steps), every sub-environment's
    finished episode gives a result, and `steps_per_second` is the loop's rate over all of
    them in the current `run` call. Observers watch one environment: a batched loop takes none.
    """

    RECENT_EPISODES = 100  # The summary's mean return is over this many recent episodes.

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
        self._episode: _Episode | None = None
        self._batch: _Batch | None = None
        self._steps_in_last_call = 0
        self._recent_returns: collections.deque[float] = collections.deque(
            maxlen=self.RECENT_EPISODES
        )
        self._zero_return = tree.map_structure(
            lambda spec: np.zeros(spec.shape, spec.dtype), environment.reward_spec()
        )
        self._num_envs = vector.num_envs(environment)
        actor_envs = getattr(actor, "num_envs", self._num_envs)
        if actor_envs != self._num_envs:
            acts_in = "one environment" if actor_envs is None else f"{actor_envs} sub-environments"
            has = "is a single one" if self._num_envs is None else f"has {self._num_envs}"
            raise ValueError(
                f"The actor acts in {acts_in} but the environment {has}: make "
                "it with rlkit.make_vector_environment(env_id, num_envs) for the actor's "
                "num_envs (or rlkit.make_environment for an actor of one environment)."
            )
        if self._num_envs is not None and self._observers:
            raise ValueError(
                "Observers watch one environment; this one is batched "
                f"({self._num_envs} sub-environments). Run them on a single environment."
            )

    def run_episode(self, max_steps: int | None = None) -> dict[str, Any] | None:
        """Runs one episode, or `max_steps` more steps of it; returns its result if it ended.

        An episode stopped by `max_steps` is continued by the next call, so chunked runs
        (train, evaluate, checkpoint, train on) see the same episodes as one long run.
        """
        if self._num_envs is not None:
            raise TypeError(
                "run_episode steps one environment; this one is batched: use run(num_episodes=1)."
            )
        start = time.perf_counter()
        environment, actor, observers = self._environment, self._actor, self._observers
        if self._episode is None:
            timestep = environment.reset()
            actor.observe_first(timestep)
            for observer in observers:
                observer.observe_first(environment, timestep)
            self._episode = _Episode(timestep, self._zero_return, 0, 0.0)
        episode = self._episode
        timestep, episode_return = episode.timestep, episode.episode_return
        steps = 0
        scalar_reward = not isinstance(episode_return, dict | tuple | list)
        try:
            while not timestep.last():
                if max_steps is not None and steps >= max_steps:
                    elapsed = episode.elapsed + time.perf_counter() - start
                    self._episode = _Episode(
                        timestep, episode_return, episode.length + steps, elapsed
                    )
                    self._counter.increment(steps=steps)
                    self._steps_in_last_call = steps
                    return None
                action = actor.select_action(timestep.observation)
                timestep = environment.step(action)
                # Positional, as Acme calls it: subclasses may name the parameters freely.
                actor.observe(action, timestep)
                steps += 1  # Counted once observed, as the agent counts it.
                for observer in observers:
                    observer.observe(environment, timestep, action)
                actor.update()
                if scalar_reward:
                    episode_return = episode_return + timestep.reward
                else:
                    episode_return = tree.map_structure(
                        operator.add, episode_return, timestep.reward
                    )
        except BaseException:
            # Interrupted mid-step (Ctrl-C, an error): the steps taken still count, and the
            # episode is abandoned, as the environment's state is unknown.
            self._episode = None
            self._counter.increment(steps=steps)
            raise

        self._episode = None
        self._steps_in_last_call = steps
        counts = self._counter.increment(episodes=1, steps=steps)
        episode_length = episode.length + steps
        elapsed = episode.elapsed + time.perf_counter() - start
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
        self,
        num_episodes: int | None = None,
        num_steps: int | None = None,
        *,
        should_stop: Callable[[int], bool] | None = None,
        check_every: int = 1_000,
        first_check: int | None = None,
    ) -> list[dict[str, Any]]:
        """Runs `num_episodes` episodes or exactly `num_steps` environment steps (or forever).

        With `num_steps`, the loop stops after exactly that many steps even mid-episode (the
        next `run` continues that episode); results cover the episodes that finished. A
        batched environment steps all its sub-environments at once, so it stops at the first
        vector step that reaches `num_steps` (at most `num_envs - 1` over) or that finishes
        the `num_episodes`-th episode (several may finish together).

        `should_stop(steps)`, if given, is asked after `first_check` steps (default:
        `check_every`) and every `check_every` steps after that (the steps this call has
        taken), and ends the run early when it returns True (training callbacks:
        `rlkit.experiments.callbacks`); without it the loop checks nothing.
        """
        if num_episodes is not None and num_steps is not None:
            raise ValueError("Pass num_episodes or num_steps to run(), not both.")
        for name, value in (("num_episodes", num_episodes), ("num_steps", num_steps)):
            if value is not None and (not isinstance(value, int | np.integer) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
        if should_stop is not None and (not isinstance(check_every, int) or check_every <= 0):
            raise ValueError(f"check_every must be a positive integer, got {check_every!r}.")
        check = None
        if should_stop is not None:
            check = StopCheck(should_stop, check_every, first_check or check_every)
        start = time.perf_counter()
        if self._num_envs is not None:
            results, steps = self._run_batched(num_episodes, num_steps, check)
        else:
            results, steps = self._run_single(num_episodes, num_steps, check)
        self._write_summary(steps, results, time.perf_counter() - start)
        return results

    def _run_single(
        self, num_episodes: int | None, num_steps: int | None, check: StopCheck | None
    ) -> tuple[list[dict[str, Any]], int]:
        results = []
        episodes = steps = 0
        while (num_episodes is None or episodes < num_episodes) and (
            num_steps is None or steps < num_steps
        ):
            remaining = None if num_steps is None else num_steps - steps
            if check is not None:  # An episode paused at the check goes on after it.
                until_check = check.next_at - steps
                remaining = until_check if remaining is None else min(remaining, until_check)
            result = self.run_episode(max_steps=remaining)
            steps += self._steps_in_last_call
            if result is not None:
                episodes += 1
                self._logger.write(result)
                results.append(result)
            if check is not None and check.due(steps):
                if check.stop(steps):
                    break
            elif result is None:
                break
        return results, steps

    def _write_summary(self, steps: int, results: list[dict[str, Any]], seconds: float) -> None:
        """The closing summary of one `run` call, to the logger's `write_summary`."""
        for result in results:
            episode_return = result["episode_return"]
            if np.ndim(episode_return) == 0 and not isinstance(episode_return, dict):
                self._recent_returns.append(float(episode_return))
        write_summary = getattr(self._logger, "write_summary", None)
        if write_summary is None or (steps == 0 and not results):
            return
        summary: dict[str, Any] = {
            "steps": steps,
            "episodes": len(results),
            "seconds": seconds,
            "steps_per_second": steps / max(seconds, 1e-9),
        }
        if self._recent_returns:
            summary["last_return"] = self._recent_returns[-1]
            summary["recent_mean_return"] = float(np.mean(self._recent_returns))
            summary["recent_episodes"] = len(self._recent_returns)
        write_summary(summary)

    def _run_batched(
        self, num_episodes: int | None, num_steps: int | None, check: StopCheck | None
    ) -> tuple[list[dict[str, Any]], int]:
        environment, actor = self._environment, self._actor
        start = time.perf_counter()
        if self._batch is None:
            timestep = environment.reset()
            actor.observe_first(timestep)
            returns = np.zeros(self._num_envs, np.asarray(timestep.reward).dtype)
            self._batch = _Batch(timestep, returns, np.zeros(self._num_envs, np.int64))
        timestep, returns, lengths = self._batch
        results: list[dict[str, Any]] = []
        steps = uncounted = 0
        try:
            while (num_episodes is None or len(results) < num_episodes) and (
                num_steps is None or steps < num_steps
            ):
                actions = actor.select_action(timestep.observation)
                timestep = environment.step(actions)
                actor.observe(actions, timestep)
                step_type = timestep.step_type
                stepped = step_type != vector.FIRST  # A FIRST step is a reset, not a transition.
                taken = int(np.count_nonzero(stepped))
                steps += taken
                uncounted += taken
                actor.update()
                if taken == self._num_envs:  # Most steps: nobody restarted.
                    returns += timestep.reward
                    lengths += 1
                else:
                    returns = np.where(stepped, returns + timestep.reward, 0).astype(returns.dtype)
                    lengths = np.where(stepped, lengths + 1, 0)
                ended = np.flatnonzero(step_type == vector.LAST)
                if ended.size:
                    counts = self._counter.increment(episodes=int(ended.size), steps=uncounted)
                    uncounted = 0
                    rate = steps / max(time.perf_counter() - start, 1e-9)
                    for index in ended:
                        result = {
                            "episode_length": int(lengths[index]),
                            "episode_return": returns[index],
                            "steps_per_second": rate,
                            **counts,
                        }
                        self._logger.write(result)
                        results.append(result)
                if check is not None and check.due(steps):
                    self._counter.increment(steps=uncounted)  # Counted for the check.
                    uncounted = 0
                    if check.stop(steps):
                        break
        except BaseException:
            # The sub-environments' states are unknown: the next run starts afresh.
            self._batch = None
            self._counter.increment(steps=uncounted)
            raise
        self._batch = _Batch(timestep, returns, lengths)
        if uncounted:
            self._counter.increment(steps=uncounted)
        return results, steps
