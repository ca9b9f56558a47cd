"""The in-process replay backend: numpy tables in this process, no server, no port.

Tables store items in preallocated arrays (one per leaf of the item signature, with the
item axis first), so an insert is one slot write per leaf and a batch is one gather. Keys
are unique per table and never reused, so a priority update for an item that has since been
evicted is ignored rather than landing on its successor (as with Reverb). Items leave only
oldest first (FIFO eviction, queue reads), so the live keys are always one contiguous range
and a key's slot follows from it: no key map to keep. Sampling draws
from a `numpy.random.Generator` seeded per table, whose state is checkpointed with the
table: a run is reproduced by its seed, and a resumed run continues the same sampler.

Why our own and not cpprb or flashbax: the adders write through Reverb's trajectory-writer
API (`append`, `history`, `create_item`) and learners need Reverb's sample keys,
probabilities and rate limiters; cpprb addresses items by recycled slot index and samples
from numpy's global random state, and flashbax keeps its buffer as a functional JAX state
updated by a jitted call per insert. Both would need the same adapter layer around them as
these few hundred lines of numpy.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tree

from rlkit import errors, types
from rlkit.replay import base

_log = logging.getLogger("rlkit.replay")
_FORMAT = "rlkit-local-replay-1"
_MANIFEST = "rlkit-replay.json"


class SumTree:
    """Sums over a fixed array of non-negative values, for proportional sampling.

    `set` and `find` take whole batches of slots or targets and walk the tree level by level
    with numpy, so a batch costs O(log capacity) vectorised steps. Parents are recomputed
    from their children rather than updated by differences, so rounding does not drift.
    """

    def __init__(self, capacity: int):
        self._leaves = 1 << max(0, (capacity - 1).bit_length())
        self._nodes = np.zeros(2 * self._leaves, np.float64)

    @property
    def total(self) -> float:
        return float(self._nodes[1])

    def get(self, slots: np.ndarray) -> np.ndarray:
        return self._nodes[np.asarray(slots) + self._leaves]

    def set(self, slots: np.ndarray, values: np.ndarray) -> None:
        slots = np.asarray(slots, np.int64).reshape(-1)
        if slots.size == 1:  # Every insert and eviction: a scalar walk is ~20x cheaper.
            self._set_one(int(slots[0]), float(np.asarray(values).reshape(-1)[0]))
            return
        index = slots + self._leaves
        self._nodes[index] = values
        index = np.unique(index // 2)
        while index.size and index[0] >= 1:
            self._nodes[index] = self._nodes[2 * index] + self._nodes[2 * index + 1]
            index = np.unique(index // 2) if index[0] > 1 else index[:0]

    def _set_one(self, slot: int, value: float) -> None:
        nodes = self._nodes
        index = slot + self._leaves
        nodes[index] = value
        index //= 2
        while index >= 1:
            nodes[index] = nodes[2 * index] + nodes[2 * index + 1]
            index //= 2

    def find(self, targets: np.ndarray) -> np.ndarray:
        """The slot whose cumulative-sum interval holds each target in [0, total)."""
        index = np.ones(len(targets), np.int64)
        targets = np.array(targets, np.float64)
        while index.size and index[0] < self._leaves:
            left = 2 * index
            left_sum = self._nodes[left]
            right = targets >= left_sum
            targets = np.where(right, targets - left_sum, targets)
            index = left + right
        return index - self._leaves


def _spec_arrays(signature: Any, capacity: int) -> list[np.ndarray]:
    return [np.zeros((capacity, *s.shape), np.dtype(s.dtype)) for s in tree.flatten(signature)]


class LocalTable:
    """One in-process table: sampler, FIFO eviction and Reverb's rate limiter.

    Thread-safe: actors insert and learners sample from different threads. `insert` and
    `sample` wait on the rate limiter like Reverb's (with an optional timeout).
    """

    def __init__(self, config: base.TableConfig, rng: np.random.Generator):
        if config.max_times_sampled not in (0, 1) or (
            config.max_times_sampled == 1 and config.sampler != "fifo"
        ):
            raise ValueError(
                f"Table {config.name!r}: the local backend removes sampled items only from a "
                "fifo table with max_times_sampled=1 (a queue)."
            )
        self.config = config
        self._rng = rng
        self._capacity = config.max_size
        # The item nest: the signature's, or (without one) the first item's.
        self.structure: Any = config.signature
        self._storage: list[np.ndarray] | None = None
        if config.signature is not None:
            self._storage = _spec_arrays(config.signature, self._capacity)
        self._priorities = np.zeros(self._capacity, np.float64)
        self.max_priority = 1.0  # The largest priority given so far (MAX_PRIORITY inserts).
        self._pending_priorities: list[tuple[np.ndarray, np.ndarray]] = []
        self._tree = SumTree(self._capacity) if config.sampler == "prioritized" else None
        self._head = 0
        self._size = 0
        self._next_key = 1
        self._inserts = 0
        self._samples = 0
        self._condition = threading.Condition()
        self._stopped = False

    # The rate limiter (Reverb's rule, see `base.RateLimiter`).
    def _can_insert(self) -> bool:
        limiter = self.config.rate_limiter
        if self._size + 1 <= limiter.min_size_to_sample:
            return True
        diff = (self._inserts + 1) * limiter.samples_per_insert - self._samples
        return diff <= limiter.max_diff

    def _samples_allowed(self, wanted: int) -> int:
        """How many of `wanted` samples the limiter lets through now (Reverb asks per item)."""
        limiter = self.config.rate_limiter
        if self._size < max(limiter.min_size_to_sample, 1):
            return 0
        room = self._inserts * limiter.samples_per_insert - self._samples - limiter.min_diff
        allowed = wanted if room >= wanted else max(0, int(room))
        if self.config.max_times_sampled:
            allowed = min(allowed, self._size)  # A queue hands out each item once.
        return allowed

    def _check_running(self) -> None:
        if self._stopped:
            raise errors.RlkitError(f"Replay table {self.config.name!r} was stopped.")

    def _wait(self, ready, timeout_s: float | None) -> bool:
        """Waits until `ready()`; False on timeout. Raises if the table is stopped."""
        if not self._stopped:
            ready_in_time = self._condition.wait_for(lambda: self._stopped or ready(), timeout_s)
            if not ready_in_time:
                return False
        self._check_running()
        return True

    def _keys_of(self, slots: np.ndarray) -> np.ndarray:
        first_key = self._next_key - self._size
        return (first_key + (slots - self._head) % self._capacity).astype(np.uint64)

    def size(self) -> int:
        with self._condition:
            return self._size

    def insert(self, item: Any, priority: float, timeout_s: float | None = None) -> int:
        """Inserts one item (a nest of arrays in the table's structure); returns its key."""
        if not (priority >= 0 and math.isfinite(priority)):
            raise base.priority_error([priority], self.config.name)
        leaves = [np.asarray(leaf) for leaf in tree.flatten(item)]
        with self._condition:
            self._check_running()
            if self._storage is None:
                self.structure = tree.map_structure(lambda _: 0, item)
                self._storage = [
                    np.zeros((self._capacity, *leaf.shape), leaf.dtype) for leaf in leaves
                ]
            self._check_item(leaves)
            if not self._can_insert() and not self._wait(self._can_insert, timeout_s):
                raise errors.ReplayTimeoutError(
                    f"Inserting into replay table {self.config.name!r} waited {timeout_s} s: "
                    "its rate limiter holds inserts until the learner samples more."
                )
            if self._size == self._capacity:
                self._remove_oldest(1)
            slot = (self._head + self._size) % self._capacity
            for column, leaf in zip(self._storage, leaves, strict=True):
                column[slot] = leaf
            key = self._next_key
            self._next_key += 1
            self._priorities[slot] = priority
            self.max_priority = max(self.max_priority, priority)
            if self._tree is not None:
                exponent = self.config.priority_exponent
                self._tree.set(np.array([slot]), np.array([priority]) ** exponent)
            self._size += 1
            self._inserts += 1
            self._condition.notify_all()
            return key

    def _check_item(self, leaves: list[np.ndarray]) -> None:
        if len(leaves) != len(self._storage):
            raise ValueError(
                f"Item for table {self.config.name!r} has {len(leaves)} fields; the table's "
                f"signature has {len(self._storage)}."
            )
        for index, (column, leaf) in enumerate(zip(self._storage, leaves, strict=True)):
            if leaf.shape != column.shape[1:] or leaf.dtype != column.dtype:
                raise ValueError(
                    f"Item field {index} for table {self.config.name!r} is {leaf.dtype}"
                    f"{list(leaf.shape)}; the table's signature says {column.dtype}"
                    f"{list(column.shape[1:])}."
                )

    def _remove_oldest(self, count: int) -> None:
        slots = (self._head + np.arange(count)) % self._capacity
        if self._tree is not None:
            self._tree.set(slots, np.zeros(count))
        self._head = (self._head + count) % self._capacity
        self._size -= count

    def sample(
        self, count: int, timeout_s: float | None = None
    ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """`count` items (leaves stacked on a new axis 0), their keys and probabilities.

        Like Reverb, the rate limiter is asked per item: the batch is served in chunks as
        the limiter allows, waiting for inserts in between (`timeout_s` bounds the wait).
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        chunks = []
        with self._condition:
            self._apply_pending_priorities()
            remaining = count
            while remaining:
                if self._stopped or not self._samples_allowed(1):
                    left = None if deadline is None else max(0.0, deadline - time.monotonic())
                    if not self._wait(lambda: self._samples_allowed(1) > 0, left):
                        raise base.timeout_error(self.config.name, timeout_s)
                allowed = self._samples_allowed(remaining)
                slots, probabilities = self._select(allowed)
                chunks.append(
                    (
                        [column[slots] for column in self._storage],
                        self._keys_of(slots),
                        probabilities,
                    )
                )
                self._samples += allowed
                if self.config.max_times_sampled:
                    self._remove_oldest(allowed)
                remaining -= allowed
                self._condition.notify_all()
        if len(chunks) == 1:
            return chunks[0]
        leaves = [np.concatenate(parts) for parts in zip(*(c[0] for c in chunks), strict=True)]
        keys = np.concatenate([c[1] for c in chunks])
        return leaves, keys, np.concatenate([c[2] for c in chunks])

    def _select(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        sampler = self.config.sampler
        if sampler == "fifo":
            if self.config.max_times_sampled:  # A queue: the oldest `count`, each once.
                return (self._head + np.arange(count)) % self._capacity, np.ones(count)
            return np.full(count, self._head), np.ones(count)  # Reverb's Fifo: the oldest.
        if sampler == "prioritized" and self._tree.total > 0:
            total = self._tree.total
            slots = self._tree.find(self._rng.random(count) * total)
            # A target at the very end of the range can round into an empty leaf: redraw it.
            for _ in range(100):
                empty = self._tree.get(slots) <= 0
                if not empty.any():
                    break
                slots[empty] = self._tree.find(self._rng.random(int(empty.sum())) * total)
            return slots, self._tree.get(slots) / total
        # Uniform (also a prioritized table whose priorities are all zero, as in Reverb).
        offsets = self._rng.integers(self._size, size=count)
        return (self._head + offsets) % self._capacity, np.full(count, 1.0 / self._size)

    def update_priorities(self, keys: np.ndarray, priorities: np.ndarray) -> None:
        """Queues new priorities for `keys`; the next `sample` or `save` applies them.

        Applying them on the sampling thread, not on the learner's, makes what a seeded run
        samples (and the maximum priority new items get) independent of thread timing.
        """
        keys = np.asarray(keys).reshape(-1)
        priorities = base.checked_priorities(priorities, self.config.name)
        if keys.shape != priorities.shape:
            raise ValueError(
                f"update_priorities got {keys.size} keys and {priorities.size} priorities."
            )
        with self._condition:
            self._pending_priorities.append((keys.astype(np.int64), priorities))

    def _apply_pending_priorities(self) -> None:
        for keys, priorities in self._pending_priorities:
            # Keys no longer (or never) in the table are ignored, as Reverb does.
            offsets = keys - (self._next_key - self._size)
            live = (offsets >= 0) & (offsets < self._size)
            if not live.any():
                continue
            slots = (self._head + offsets[live]) % self._capacity
            self._priorities[slots] = priorities[live]
            self.max_priority = max(self.max_priority, float(priorities[live].max()))
            if self._tree is not None:
                self._tree.set(slots, priorities[live] ** self.config.priority_exponent)
        self._pending_priorities.clear()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    # Checkpoints: live slots only, in place, with the sampler's random state.
    def save(self, directory: str) -> None:
        name = self.config.name
        with self._condition:
            self._apply_pending_priorities()
            slots = (self._head + np.arange(self._size)) % self._capacity
            arrays = {"slots": slots, "priorities": self._priorities[slots]}
            for index, column in enumerate(self._storage or []):
                arrays[f"leaf_{index}"] = column[slots]
            state = {
                "format": _FORMAT,
                "sampler": self.config.sampler,
                "max_size": self._capacity,
                "leaves": [[list(c.shape[1:]), c.dtype.str] for c in self._storage or []],
                "head": self._head,
                "size": self._size,
                "next_key": self._next_key,
                "inserts": self._inserts,
                "samples": self._samples,
                "rng": self._rng.bit_generator.state,
            }
        np.savez(os.path.join(directory, f"{name}.npz"), **arrays)
        with open(os.path.join(directory, f"{name}.json"), "w") as file:
            json.dump(state, file)

    def restore(self, directory: str) -> None:
        name = self.config.name
        try:
            with open(os.path.join(directory, f"{name}.json")) as file:
                state = json.load(file)
            arrays = dict(np.load(os.path.join(directory, f"{name}.npz"), allow_pickle=False))
        except (OSError, ValueError) as error:
            raise errors.CheckpointError(
                f"Replay checkpoint {directory} has no readable table {name!r} ({error})."
            ) from None
        if self._storage is None:
            raise errors.CheckpointError(
                f"Table {name!r} has no signature, so its checkpoint cannot be restored; give "
                "its TableConfig a signature."
            )
        expected = [[list(c.shape[1:]), c.dtype.str] for c in self._storage]
        mismatch = (
            state.get("format") != _FORMAT
            or state["sampler"] != self.config.sampler
            or state["max_size"] != self._capacity
            or state["leaves"] != expected
        )
        if mismatch:
            raise errors.CheckpointError(
                f"Replay checkpoint {directory} does not match table {name!r} (sampler, size "
                "or item signature changed); resume with the config the run started with."
            )
        slots = arrays["slots"]
        with self._condition:
            for index, column in enumerate(self._storage):
                column[slots] = arrays[f"leaf_{index}"]
            self._priorities[slots] = arrays["priorities"]
            if slots.size:
                self.max_priority = max(1.0, float(arrays["priorities"].max()))
            if self._tree is not None:
                self._tree.set(slots, arrays["priorities"] ** self.config.priority_exponent)
            self._head, self._size = state["head"], state["size"]
            self._next_key, self._inserts = state["next_key"], state["inserts"]
            self._samples = state["samples"]
            self._rng.bit_generator.state = state["rng"]


def _table_named(tables: dict[str, LocalTable], name: str) -> LocalTable:
    try:
        return tables[name]
    except KeyError:
        raise ValueError(f"Unknown replay table {name!r}; tables: {', '.join(tables)}.") from None


class _Column:
    """One leaf's recent values in a writer's history; `[i]` or `[a:b]` reads them."""

    __slots__ = ("values",)

    def __init__(self, keep: int):
        self.values: collections.deque = collections.deque(maxlen=keep)

    def __getitem__(self, index: int | slice) -> np.ndarray:
        if isinstance(index, slice):
            selected = list(self.values)[index]
            if not selected:
                raise IndexError(f"History slice {index} selects no steps.")
            return np.stack(selected)
        return self.values[index]


class LocalTrajectoryWriter(base.TrajectoryWriter):
    """Reverb's trajectory writer over in-process tables: `create_item` inserts at once."""

    def __init__(self, tables: dict[str, LocalTable], num_keep_alive_refs: int):
        if num_keep_alive_refs < 1:
            raise ValueError(f"num_keep_alive_refs must be positive, got {num_keep_alive_refs}.")
        self._tables = tables
        self._keep = num_keep_alive_refs
        self._columns: list[_Column] | None = None
        self._history: Any = None

    def append(self, step: types.NestedArray) -> None:
        # Copies: adders reuse their buffers after appending them.
        leaves = [np.array(leaf) for leaf in tree.flatten(step)]
        if self._columns is None:
            self._columns = [_Column(self._keep) for _ in leaves]
            self._history = tree.unflatten_as(step, self._columns)
        elif len(leaves) != len(self._columns):
            raise ValueError(
                f"append got a step with {len(leaves)} fields; this writer's steps have "
                f"{len(self._columns)}."
            )
        for column, leaf in zip(self._columns, leaves, strict=True):
            column.values.append(leaf)

    @property
    def history(self) -> Any:
        if self._history is None:
            raise ValueError("The writer's history is empty: append a step first.")
        return self._history

    def create_item(self, table: str, priority: float, trajectory: Any) -> None:
        target = _table_named(self._tables, table)
        target.insert(trajectory, float(priority))

    def end_episode(self, clear_buffers: bool = True) -> None:
        if clear_buffers and self._columns is not None:
            for column in self._columns:
                column.values.clear()

    def flush(self) -> None:
        """Nothing to wait for: `create_item` has already inserted."""

    def close(self) -> None:
        self.end_episode(clear_buffers=True)


class LocalBatchedSequenceWriter(base.BatchedSequenceWriter):
    """`BatchedSequenceWriter` over in-process tables: the N streams' recent steps live in one
    ring buffer per leaf ([N, keep, ...]), so a step is one write per leaf for all N streams
    rather than N appends of N small arrays; `create_items` inserts at once."""

    def __init__(self, tables: dict[str, LocalTable], num_streams: int, num_keep_alive_refs: int):
        if num_streams < 1 or num_keep_alive_refs < 1:
            raise ValueError(
                "num_streams and num_keep_alive_refs must be positive, got "
                f"{num_streams} and {num_keep_alive_refs}."
            )
        self._tables = tables
        self._keep = num_keep_alive_refs
        self._counts = np.zeros(num_streams, np.int64)  # Steps appended to each stream.
        self._buffers: list[np.ndarray] | None = None
        self._structure: Any = None

    def append(self, steps: types.NestedArray, streams: np.ndarray) -> None:
        leaves = [np.asarray(leaf) for leaf in tree.flatten(steps)]
        if self._buffers is None:
            self._structure = tree.map_structure(lambda _: 0, steps)
            shape = (len(self._counts), self._keep)
            self._buffers = [np.zeros(shape + leaf.shape[1:], leaf.dtype) for leaf in leaves]
        elif len(leaves) != len(self._buffers):
            raise ValueError(
                f"append got steps with {len(leaves)} fields; this writer's steps have "
                f"{len(self._buffers)}."
            )
        slots = self._counts[streams] % self._keep
        if len(streams) == len(self._counts) and (slots == slots[0]).all():
            # Every stream at the same slot (no stream skipped a step): one slice per leaf.
            for buffer, leaf in zip(self._buffers, leaves, strict=True):
                buffer[:, slots[0]] = leaf  # Copies: callers may reuse their arrays.
        else:
            for buffer, leaf in zip(self._buffers, leaves, strict=True):
                buffer[streams, slots] = leaf[streams]
        self._counts[streams] += 1

    def create_items(self, table: str, priority: float, streams: np.ndarray, length: int) -> None:
        target = _table_named(self._tables, table)
        counts = self._counts[streams]
        held = np.minimum(counts, self._keep)
        if length < 1 or (held < length).any():
            raise ValueError(
                f"Items of {length} steps from streams holding {held.tolist()} steps "
                f"(num_keep_alive_refs={self._keep})."
            )
        rows = (counts[:, None] + np.arange(-length, 0)) % self._keep
        items = [buffer[streams[:, None], rows] for buffer in self._buffers]  # [D, length, ...]
        for k in range(len(streams)):
            item = tree.unflatten_as(self._structure, [leaf[k] for leaf in items])
            target.insert(item, float(priority))

    def end_episodes(self) -> None:
        self._counts[:] = 0

    def flush(self) -> None:
        """Nothing to wait for: `create_items` has already inserted."""

    def close(self) -> None:
        self.end_episodes()


class LocalDataset(Iterator[types.Batch]):
    """Batches sampled from a local table on the calling thread (no prefetch thread).

    `prefetch(n)` draws the next `n` batches now. The single-process agent calls it before
    handing a round of learner steps to its background thread, so what is sampled does not
    depend on how far the actor has run meanwhile: the same seed gives the same run.
    """

    def __init__(
        self,
        table: LocalTable,
        items_per_batch: int,
        flatten_blocks: bool = True,
        check_finite: bool = True,
        rate_limiter_timeout_s: float | None = None,
    ):
        if items_per_batch < 1:
            raise ValueError(f"items_per_batch must be positive, got {items_per_batch}.")
        self._table = table
        self.items_per_batch = items_per_batch
        self._flatten = flatten_blocks
        self._check_finite = check_finite
        self._timeout_s = rate_limiter_timeout_s
        self._ready: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._prefetching = False
        self._warned = False

    def _draw(self) -> types.Batch:
        leaves, keys, probabilities = self._table.sample(self.items_per_batch, self._timeout_s)
        data = tree.unflatten_as(self._table.structure, leaves)
        if self._flatten:
            data = base.flatten_blocks(data)
        if self._check_finite:
            base.check_finite(data)
        return types.Batch(data=data, keys=keys, probabilities=probabilities)

    def prefetch(self, num_batches: int) -> None:
        with self._lock:
            self._prefetching = True
            # Batches left by an interrupted round were never learned from: drop them.
            self._ready.clear()
            for _ in range(num_batches):
                self._ready.append(self._draw())

    def __next__(self) -> types.Batch:
        with self._lock:
            if self._ready:
                return self._ready.popleft()
            if self._prefetching and not self._warned:
                self._warned = True
                _log.warning(
                    "A learner step drew more than one replay batch; the extra batches are "
                    "sampled on the learner thread, so runs are no longer reproducible by seed."
                )
        return self._draw()


class LocalReplayClient(base.ReplayClient):
    """Reaches a `LocalReplayServer`'s tables directly (same process)."""

    backend = "local"

    def __init__(self, server: LocalReplayServer):
        self._server = server

    def _table(self, name: str) -> LocalTable:
        return _table_named(self._server.tables, name)

    def trajectory_writer(self, num_keep_alive_refs: int) -> LocalTrajectoryWriter:
        return LocalTrajectoryWriter(self._server.tables, num_keep_alive_refs)

    def batched_sequence_writer(
        self, num_streams: int, num_keep_alive_refs: int
    ) -> LocalBatchedSequenceWriter:
        return LocalBatchedSequenceWriter(self._server.tables, num_streams, num_keep_alive_refs)

    def dataset(
        self,
        table: str,
        items_per_batch: int,
        flatten_blocks: bool = True,
        check_finite: bool = True,
        rate_limiter_timeout_s: float | None = None,
    ) -> LocalDataset:
        return LocalDataset(
            self._table(table),
            items_per_batch,
            flatten_blocks,
            check_finite,
            rate_limiter_timeout_s,
        )

    def update_priorities(self, table: str, keys: np.ndarray, priorities: np.ndarray) -> None:
        self._table(table).update_priorities(keys, priorities)

    def wait_for_priority_updates(self) -> None:
        """Nothing to wait for: a table applies queued updates before its next sample."""

    def sampler(self, table: str) -> str:
        return self._table(table).config.sampler

    def max_priority(self, table: str) -> float:
        return self._table(table).max_priority

    def table_size(self, table: str) -> int:
        return self._table(table).size()

    def checkpoint(self) -> str:
        return self._server.checkpoint()


class LocalReplayServer(base.ReplayServer):
    """In-process tables made from `TableConfig`s; nothing listens on any port.

    Args:
      tables: the tables to hold.
      seed: seeds each table's sampler (through `numpy.random.SeedSequence`).
      checkpoint_dir: where `checkpoint()` writes; it keeps only its latest checkpoint there,
        like Reverb's default checkpointer.
      restore_from: a checkpoint directory (from `checkpoint()`) to load the tables from.
    """

    backend = "local"

    def __init__(
        self,
        tables: Sequence[base.TableConfig],
        seed: int = 0,
        checkpoint_dir: str | None = None,
        restore_from: str | None = None,
    ):
        names = [table.name for table in tables]
        if len(set(names)) != len(names):
            raise ValueError(f"Replay table names must be unique, got {names}.")
        streams = np.random.SeedSequence(seed).spawn(len(tables))
        self.tables = {
            table.name: LocalTable(table, np.random.default_rng(stream))
            for table, stream in zip(tables, streams, strict=True)
        }
        self._checkpoint_dir = checkpoint_dir
        if restore_from is not None:
            check_checkpoint_backend(restore_from, "local")
            with open(os.path.join(restore_from, _MANIFEST)) as file:
                saved = json.load(file).get("tables", [])
            if sorted(saved) != sorted(self.tables):
                raise errors.CheckpointError(
                    f"Replay checkpoint {restore_from} holds tables {sorted(saved)}; this agent "
                    f"has {sorted(self.tables)}. Resume with the config the run started with."
                )
            for table in self.tables.values():
                table.restore(restore_from)

    def client(self) -> LocalReplayClient:
        return LocalReplayClient(self)

    def checkpoint(self) -> str:
        if self._checkpoint_dir is None:
            raise errors.CheckpointError(
                "This replay server has no checkpoint directory; create it with one."
            )
        os.makedirs(self._checkpoint_dir, exist_ok=True)
        name = time.strftime("%Y-%m-%dT%H:%M:%S") + f".{time.time_ns() % 10**9:09d}"
        final = os.path.join(self._checkpoint_dir, name)
        staging = final + ".tmp"
        os.makedirs(staging)
        for table in self.tables.values():
            table.save(staging)
        with open(os.path.join(staging, _MANIFEST), "w") as file:
            json.dump({"format": _FORMAT, "tables": list(self.tables)}, file)
        os.replace(staging, final)
        for entry in os.listdir(self._checkpoint_dir):  # Only our own older checkpoints.
            path = os.path.join(self._checkpoint_dir, entry)
            if entry != name and os.path.isfile(os.path.join(path, _MANIFEST)):
                shutil.rmtree(path, ignore_errors=True)
        return final

    def stop(self) -> None:
        for table in self.tables.values():
            table.stop()


def checkpoint_backend(path: str) -> str:
    """Which backend wrote the replay checkpoint at `path` ("local" or "reverb")."""
    if not os.path.isdir(path):
        raise errors.CheckpointError(f"Replay checkpoint {path} does not exist.")
    return "local" if os.path.isfile(os.path.join(path, _MANIFEST)) else "reverb"


def check_checkpoint_backend(path: str, backend: str) -> None:
    """Raises `CheckpointError` if the replay checkpoint at `path` is another backend's."""
    is_local = checkpoint_backend(path) == "local"
    if is_local != (backend == "local"):
        written_by = "local" if is_local else "reverb"
        raise errors.CheckpointError(
            f"Replay checkpoint {path} was written by the {written_by!r} replay backend; resume "
            f"the run with replay_backend={written_by!r} (--replay-backend {written_by})."
        )
