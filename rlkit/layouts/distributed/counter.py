"""The run's counts on Ray: a counter worker, and a `Counter` over it for every process.

The counter worker also hands out each stretch's environment steps to the actors, a chunk at
a time, so a faster actor takes more of them.
"""

from __future__ import annotations

import time
from typing import Any

from rlkit.layouts.distributed.common import import_ray
from rlkit.utils import counting

# Actors claim a stretch's steps at most this many at a time; between chunks an actor
# re-reads the run's step count for its exploration schedule (so the schedule may lag the
# run by up to two chunks of each other actor's steps). A claim is a Ray call (about half a
# millisecond of CPU on each side): at 200 steps, claims took ~5% of the CPU of fast acting.
# Near a stretch's end chunks shrink (to a share of what is left, down to MIN_ACTING_CHUNK)
# so that actors finish together rather than one waiting for another's.
ACTING_CHUNK = 500
MIN_ACTING_CHUNK = 25


class CounterWorker:
    """The run's counts, and the steps of the current stretch not yet claimed by an actor."""

    def __init__(self, counts: dict[str, float]):
        self._counter = counting.Counter()
        self._counter.restore({"counts": counts})
        self._unclaimed = 0
        self._num_actors = 1

    def open_stretch(self, num_steps: int, num_actors: int = 1) -> None:
        """Offers `num_steps` steps to `num_actors` actors (0 ends the current stretch)."""
        self._unclaimed = num_steps
        self._num_actors = num_actors

    def claim(self, num_envs: int = 1) -> int:
        """The caller's next chunk of the stretch's unclaimed steps (0: none left), a
        multiple of its `num_envs` (one vector step takes that many) unless it is the last.
        Each actor holds up to two chunks (one acted, one claimed ahead), so near the end a
        chunk is a quarter of each actor's share of what is left."""
        share = self._unclaimed // (4 * self._num_actors)
        chunk = min(ACTING_CHUNK, max(MIN_ACTING_CHUNK, share))
        claimed = min(self._unclaimed, -(-chunk // num_envs) * num_envs)
        self._unclaimed -= claimed
        return claimed

    def increment(self, **counts: float) -> dict[str, float]:
        return self._counter.increment(**counts)

    def get_counts(self) -> dict[str, float]:
        return self._counter.get_counts()


class RemoteCounter:
    """A `counting.Counter` over a counter Ray actor. Increments are summed here and sent
    at most every `refresh_s` seconds (a Ray call costs the counter's process about a
    millisecond: one per episode would keep it busy), and always before a read; the tally
    returned is the last one read plus what is not sent yet (0: send and read every call).
    Ray runs one caller's calls in order, so a read sees every increment sent before it."""

    def __init__(self, handle: Any, prefix: str = "", refresh_s: float = 1.0):
        self._handle = handle
        self._prefix = prefix
        self._refresh_s = refresh_s
        self._last_read = -float("inf")
        self._counts: dict[str, float] = {}
        self._unsent: dict[str, float] = {}

    def increment(self, **counts: float) -> dict[str, float]:
        for key, value in counts.items():
            key = f"{self._prefix}_{key}" if self._prefix else key
            self._unsent[key] = self._unsent.get(key, 0) + value
        return self.cached_counts()

    def get_counts(self) -> dict[str, float]:
        """The counts now, after every increment made here."""
        ray = import_ray()
        if self._unsent:
            self._handle.increment.remote(**self._unsent)
            self._unsent = {}
        self._counts = ray.get(self._handle.get_counts.remote())
        self._last_read = time.monotonic()
        return dict(self._counts)

    def cached_counts(self) -> dict[str, float]:
        """The counts as last read (sending and reading again once `refresh_s` has passed),
        with the increments not sent yet."""
        if time.monotonic() - self._last_read >= self._refresh_s:
            return self.get_counts()
        counts = dict(self._counts)
        for key, value in self._unsent.items():
            counts[key] = counts.get(key, 0) + value
        return counts

    def save(self) -> dict[str, Any]:
        return {"counts": self.get_counts()}
