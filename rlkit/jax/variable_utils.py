"""Keeps an actor's copy of the learner's parameters fresh."""

from __future__ import annotations

from collections.abc import Sequence

from rlkit import core, types


class VariableClient:
    """Pulls variables from a `VariableSource` every `update_period` calls to `update`.

    Locally the source is the learner itself and a pull costs nothing but a reference; across
    processes the source is a remote learner and `update_period` bounds the traffic.
    """

    def __init__(self, source: core.VariableSource, key: str = "policy", update_period: int = 1):
        if update_period < 1:
            raise ValueError(f"update_period must be a positive integer, got {update_period}.")
        self._source = source
        self._key = key
        self._update_period = update_period
        self._calls = 0
        self._params: types.Params | None = None

    def update(self, wait: bool = False) -> None:
        """Counts a call; fetches on every `update_period`-th one, or now when `wait`."""
        self._calls += 1
        if wait or self._params is None or self._calls >= self._update_period:
            self.update_and_wait()

    def update_and_wait(self) -> None:
        (self._params,) = self._source.get_variables([self._key])
        self._calls = 0

    @property
    def params(self) -> types.Params:
        if self._params is None:
            self.update_and_wait()
        return self._params


class StaticVariableSource(core.VariableSource):
    """Serves fixed variables under every name: a saved policy's parameters, no learner."""

    def __init__(self, variables: types.Params):
        self._variables = variables

    def get_variables(self, names: Sequence[str]) -> list[types.Params]:
        return [self._variables for _ in names]
