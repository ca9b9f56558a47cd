"""Core interfaces: what every actor, learner and worker in rlkit implements.

The split follows Acme: an `Actor` chooses actions and records experience, a `Learner`
turns experience into parameters, and a `VariableSource` serves those parameters to actors
(locally or across processes).
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import dm_env

from rlkit import types

T = TypeVar("T")


class Actor(abc.ABC):
    """Interacts with an environment: picks actions and observes their consequences.

    The loop calls `observe_first` after `reset`, then for every step `select_action`,
    `observe`, and `update`. An actor that learns (an `Agent`) does its learning in `update`.
    """

    @abc.abstractmethod
    def select_action(self, observation: types.NestedArray) -> types.NestedArray:
        """Returns the action to take given the current observation."""

    @abc.abstractmethod
    def observe_first(self, timestep: dm_env.TimeStep) -> None:
        """Records the first timestep of an episode."""

    @abc.abstractmethod
    def observe(self, action: types.NestedArray, next_timestep: dm_env.TimeStep) -> None:
        """Records the action taken and the timestep that followed it."""

    @abc.abstractmethod
    def update(self, wait: bool = False) -> None:
        """Refreshes parameters (and, for an agent, learns) after an observation."""


class VariableSource(abc.ABC):
    """Serves named collections of variables (e.g. network params) to actors.

    A source in another process sets `remote`: variable clients then pull from it on a
    background thread, starting a pull at most every `min_pull_interval_s` seconds, and
    less often (down to one every `max_pull_interval_s`; no back-off at or below the
    minimum) while pulls bring back nothing new.
    """

    remote: bool = False
    min_pull_interval_s: float = 0.0
    max_pull_interval_s: float = 0.0

    @abc.abstractmethod
    def get_variables(self, names: Sequence[str]) -> list[types.NestedArray]:
        """Returns the current value of each named collection, in the same order: the very
        same objects while nothing changed (clients tell new variables by identity)."""


class Worker(abc.ABC):
    """A long-running unit of work: an actor loop, a learner, an evaluator."""

    @abc.abstractmethod
    def run(self) -> None:
        """Runs until stopped."""


class Saveable(abc.ABC, Generic[T]):
    """An object whose state can be saved and restored (learners, counters)."""

    @abc.abstractmethod
    def save(self) -> T:
        """Returns the state to checkpoint."""

    @abc.abstractmethod
    def restore(self, state: T) -> None:
        """Restores state returned by `save`."""


class Learner(VariableSource, Worker, Saveable[Any]):
    """Updates parameters from data: one `step` is one (or one block of) gradient updates."""

    @abc.abstractmethod
    def step(self) -> None:
        """Performs one learning step (pulls data, updates parameters)."""

    def run(self, num_steps: int | None = None) -> None:
        """Calls `step` `num_steps` times, or forever if `num_steps` is None."""
        iterator = range(num_steps) if num_steps is not None else itertools.count()
        for _ in iterator:
            self.step()

    def save(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement save().")

    def restore(self, state: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement restore().")

    def close(self) -> None:
        """Called once when training ends: writes what is still buffered (e.g. metrics)."""
