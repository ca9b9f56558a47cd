"""Keeps an actor's copy of the learner's parameters fresh."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from rlkit import core, types


class VariableClient:
    """Pulls variables from a `VariableSource` every `update_period` calls to `update`.

    Locally the source is the learner itself and a pull costs nothing but a reference; across
    processes the source is a remote learner and `update_period` bounds the traffic. With
    `asynchronous`, a pull runs on a background thread and its result is swapped in at the
    first `update` after it arrives, so acting never waits on the network (Acme's variable
    client); `update(wait=True)` and the first pull still block. An error in a background
    pull is raised by the `update` that would have swapped its result in. By default a
    client is asynchronous exactly when its source is remote (`VariableSource.remote`),
    and then starts a pull at most every `source.min_pull_interval_s` seconds.
    """

    def __init__(
        self,
        source: core.VariableSource,
        key: str = "policy",
        update_period: int = 1,
        asynchronous: bool | None = None,
    ):
        if update_period < 1:
            raise ValueError(f"update_period must be a positive integer, got {update_period}.")
        self._source = source
        self._key = key
        self._update_period = update_period
        remote = bool(getattr(source, "remote", False))
        self._asynchronous = remote if asynchronous is None else asynchronous
        self._min_interval_s = float(getattr(source, "min_pull_interval_s", 0.0))
        self._last_pull = -float("inf")
        self._calls = 0
        self._params: types.Params | None = None
        self._pending: _Pull | None = None

    def update(self, wait: bool = False) -> None:
        """Counts a call; pulls on every `update_period`-th one, or now when `wait`."""
        self._calls += 1
        if wait or self._params is None:
            self.update_and_wait()
            return
        if self._pending is not None and self._pending.done.is_set():
            pull, self._pending = self._pending, None
            self._params = pull.result()
        if self._calls >= self._update_period:
            if not self._asynchronous:
                self.update_and_wait()
            elif self._pending is None:  # One pull in flight at a time.
                now = time.monotonic()
                if now - self._last_pull >= self._min_interval_s:
                    self._pending = _Pull(self._source, self._key)
                    self._last_pull = now
                    self._calls = 0

    def update_and_wait(self) -> None:
        self._pending = None  # A pull still in flight is superseded by this one.
        (self._params,) = self._source.get_variables([self._key])
        self._calls = 0

    @property
    def params(self) -> types.Params:
        if self._params is None:
            self.update_and_wait()
        return self._params


class _Pull:
    """One `get_variables` call on a daemon thread (a hung remote source cannot keep the
    process from exiting)."""

    def __init__(self, source: core.VariableSource, key: str):
        self.done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        thread = threading.Thread(
            target=self._run, args=(source, key), name="rlkit-variable-pull", daemon=True
        )
        thread.start()

    def _run(self, source: core.VariableSource, key: str) -> None:
        try:
            (self._value,) = source.get_variables([key])
        except BaseException as error:  # Raised on the acting thread, in `result`.
            self._error = error
        finally:
            self.done.set()

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value


class StaticVariableSource(core.VariableSource):
    """Serves fixed variables under every name: a saved policy's parameters, no learner."""

    def __init__(self, variables: types.Params):
        self._variables = variables

    def get_variables(self, names: Sequence[str]) -> list[types.Params]:
        return [self._variables for _ in names]
