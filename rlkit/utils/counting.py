"""Counters shared by the actor loop, learner and evaluator (as in Acme)."""

from __future__ import annotations

import threading
from typing import Any


class Counter:
    """A thread-safe tally of named numbers (`actor_steps`, `learner_steps`, ...).

    A child counter (`Counter(parent, prefix="actor")`) writes `actor_steps` into its parent
    and reads back the parent's whole tally, so several workers share one count.
    """

    def __init__(self, parent: Counter | None = None, prefix: str = ""):
        self._parent = parent
        self._prefix = prefix
        self._counts: dict[str, float] = {}
        self._lock = threading.Lock()

    def increment(self, **counts: float) -> dict[str, float]:
        """Adds to the named counts; returns the (parent's) full tally afterwards."""
        with self._lock:
            for key, value in counts.items():
                self._counts[key] = self._counts.get(key, 0) + value
        if self._parent is not None:
            prefixed = {self._prefixed(key): value for key, value in counts.items()}
            return self._parent.increment(**prefixed)
        return self.get_counts()

    def _prefixed(self, key: str) -> str:
        return f"{self._prefix}_{key}" if self._prefix else key

    def get_counts(self) -> dict[str, float]:
        if self._parent is not None:
            return self._parent.get_counts()
        with self._lock:
            return dict(self._counts)

    def save(self) -> dict[str, Any]:
        with self._lock:
            return {"counts": dict(self._counts)}

    def restore(self, state: dict[str, Any]) -> None:
        with self._lock:
            self._counts = dict(state["counts"])
