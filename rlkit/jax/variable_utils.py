"""Keeps an actor's copy of the learner's parameters fresh."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent import futures

from rlkit import core, types


class VariableClient:
    """Pulls variables from a `VariableSource` every `update_period` calls to `update`.

    Locally the source is the learner itself and a pull costs nothing but a reference; across
    processes the source is a remote learner and `update_period` bounds the traffic. With
    `asynchronous`, a pull runs on a background thread (one per client, for its lifetime)
    and its result is swapped in at the first `update` after it arrives, so acting never
    waits on the network (Acme's variable client); `update(wait=True)` and the first pull
    still block. An error in a background pull is raised by the `update` that would have
    swapped its result in. By default a client is asynchronous exactly when its source is
    remote (`VariableSource.remote`), and then starts a pull at most every
    `source.min_pull_interval_s` seconds; a pull that brings back the very variables the
    client holds (the source had nothing newer) doubles that wait, up to
    `source.max_pull_interval_s`, so an idle learner is not polled at the full rate; new
    variables, or `update(wait=True)`, bring it back to the minimum.
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
        self._max_interval_s = max(
            self._min_interval_s, float(getattr(source, "max_pull_interval_s", 0.0))
        )
        self._interval_s = self._min_interval_s
        self._last_pull = -float("inf")
        self._calls = 0
        self._params: types.Params | None = None
        self._pending: futures.Future | None = None
        self._superseded = False
        self._puller: _Puller | None = None

    def update(self, wait: bool = False) -> None:
        """Counts a call; pulls on every `update_period`-th one, or now when `wait`."""
        self._calls += 1
        if wait or self._params is None:
            self.update_and_wait()
            return
        pull = self._pending
        if pull is not None and pull.done():
            self._pending = None
            if self._superseded:  # Older than what `update_and_wait` got meanwhile.
                self._superseded = False
            else:
                self._swap_in(pull.result())
        if self._calls >= self._update_period:
            if not self._asynchronous:
                self.update_and_wait()
            elif self._pending is None:  # One pull in flight at a time.
                now = time.monotonic()
                if now - self._last_pull >= self._interval_s:
                    if self._puller is None:
                        self._puller = _Puller(self._source, self._key)
                    self._pending = self._puller.request()
                    self._last_pull = now
                    self._calls = 0

    def _swap_in(self, params: types.Params) -> None:
        if params is self._params:  # The source's way of saying it has nothing newer.
            self._interval_s = min(2 * max(self._interval_s, 1e-3), self._max_interval_s)
        else:
            self._params, self._interval_s = params, self._min_interval_s

    def update_and_wait(self) -> None:
        # A background pull still in flight is superseded: its result is dropped when it
        # lands, and the next one starts only then (a queue of pulls would delay it).
        self._superseded = self._pending is not None
        (self._params,) = self._source.get_variables([self._key])
        self._interval_s = self._min_interval_s  # Asked for now: poll at the full rate again.
        self._last_pull = time.monotonic()  # Fresh: no background pull right after it.
        self._calls = 0

    @property
    def params(self) -> types.Params:
        if self._params is None:
            self.update_and_wait()
        return self._params

    def __del__(self) -> None:
        if getattr(self, "_puller", None) is not None:
            self._puller.stop()


class _Puller:
    """A daemon thread serving a client's pulls (futures), one at a time, until the client
    is collected (`stop`, from its `__del__`). One thread for the client's lifetime: starting
    a thread per pull made the acting thread wait for each new thread to be scheduled. Not a
    `ThreadPoolExecutor`: its threads are joined at exit, so a hung remote source would keep
    the process from exiting. A `SimpleQueue`, as its `put` may be called from `__del__` on
    any thread, this one included."""

    def __init__(self, source: core.VariableSource, key: str):
        self._source = source
        self._key = key
        self._requests: queue.SimpleQueue[futures.Future | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name="rlkit-variable-pull", daemon=True)
        self.thread.start()

    def request(self) -> futures.Future:
        pull: futures.Future = futures.Future()
        self._requests.put(pull)
        return pull

    def stop(self) -> None:
        """Ends the thread once the pull in flight, if any, is done."""
        self._requests.put(None)

    def _serve(self) -> None:
        while (pull := self._requests.get()) is not None:
            pull.set_running_or_notify_cancel()
            try:
                (value,) = self._source.get_variables([self._key])
            except BaseException as error:  # Raised on the acting thread, by `result`.
                pull.set_exception(error)
            else:
                pull.set_result(value)


class StaticVariableSource(core.VariableSource):
    """Serves fixed variables under every name: a saved policy's parameters, no learner."""

    def __init__(self, variables: types.Params):
        self._variables = variables

    def get_variables(self, names: Sequence[str]) -> list[types.Params]:
        return [self._variables for _ in names]
