"""The replay interface that adders, datasets, builders and experiments share.

A builder describes its tables with `TableConfig`s (sampler, remover, size, rate limiter,
signature); a backend turns them into live tables behind a `ReplayServer`, whose
`ReplayClient` gives trajectory writers (for adders), datasets of `Batch`es (for learners),
priority updates and checkpoints. Two backends implement it:

- `local`: in-process numpy tables (`rlkit.replay.local`), the default for one process;
- `reverb`: a Reverb server (`rlkit-jax[reverb]`), for runs whose actors are other processes.

Both enforce Reverb's rate-limiter rule, so a table behaves the same on either.
"""

from __future__ import annotations

import abc
import dataclasses
import re
import sys
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import tree

from rlkit import errors, types

BACKENDS = ("auto", "local", "reverb")
# An adder's priority meaning "the largest priority this table has seen" (1.0 at first):
# prioritised replay inserts new items there so each is sampled soon.
MAX_PRIORITY = "max"
SAMPLERS = ("uniform", "prioritized", "fifo")
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class RateLimiter(NamedTuple):
    """Reverb's rate-limiter rule, which both backends enforce.

    With `diff = inserts * samples_per_insert - samples`, an insert waits while
    `diff + samples_per_insert > max_diff`, and a sample waits while the table holds fewer
    than `min_size_to_sample` items or `diff - 1 < min_diff`.
    """

    samples_per_insert: float
    min_size_to_sample: int
    min_diff: float
    max_diff: float


def min_size_limiter(min_size_to_sample: int) -> RateLimiter:
    """Sampling waits until the table holds `min_size_to_sample` items; nothing else."""
    if min_size_to_sample < 1:
        raise ValueError(f"min_size_to_sample must be positive, got {min_size_to_sample}.")
    return RateLimiter(1.0, min_size_to_sample, -sys.float_info.max, sys.float_info.max)


def sample_to_insert_limiter(
    samples_per_insert: float,
    min_size_to_sample: int,
    error_buffer: float,
    block_inserts: bool = True,
) -> RateLimiter:
    """Reverb's `SampleToInsertRatio`, optionally never blocking inserts.

    In one process the actor and learner share a thread: if an insert ever blocked waiting
    for samples, nothing could sample and the run would hang. There `block_inserts=False`
    keeps the sample side gated (no sampling ahead of the ratio) and lets inserts through.
    """
    if samples_per_insert <= 0:
        raise ValueError(f"samples_per_insert must be positive, got {samples_per_insert}.")
    if min_size_to_sample < 1:
        raise ValueError(f"min_size_to_sample must be positive, got {min_size_to_sample}.")
    offset = samples_per_insert * min_size_to_sample
    if block_inserts:
        if 2 * error_buffer < 2 * max(1.0, samples_per_insert):
            # Reverb's own check: a narrower band could block inserts and samples together.
            raise ValueError(
                f"error_buffer ({error_buffer}) must be at least max(1, samples_per_insert) "
                f"({max(1.0, samples_per_insert)})."
            )
        return RateLimiter(
            samples_per_insert, min_size_to_sample, offset - error_buffer, offset + error_buffer
        )
    return RateLimiter(
        samples_per_insert, min_size_to_sample, offset - error_buffer, sys.float_info.max
    )


def queue_limiter(size: int) -> RateLimiter:
    """Reverb's `Queue`: inserts wait while `size` items are unread, samples while none are."""
    return RateLimiter(1.0, 1, 0.0, float(size))


@dataclasses.dataclass(frozen=True)
class TableConfig:
    """A replay table, independent of the backend that will hold it.

    Attributes:
      name: the table's name, used by adders and datasets.
      sampler: "uniform", "prioritized" (probability proportional to
        `priority ** priority_exponent`) or "fifo" (oldest first).
      max_size: items kept; inserting into a full table evicts the oldest item.
      rate_limiter: when inserts and samples may proceed (see `RateLimiter`).
      signature: the item structure as a nest of `dm_env.specs.Array` (shape includes the
        item's leading time/block axis). Items are checked against it on insert, and a table
        is restored from a checkpoint into it.
      priority_exponent: the prioritized sampler's exponent.
      max_times_sampled: an item is removed after this many samples (0: never).
    """

    name: str
    sampler: str
    max_size: int
    rate_limiter: RateLimiter
    signature: Any = None
    priority_exponent: float = 1.0
    max_times_sampled: int = 0

    def __post_init__(self):
        if not _TABLE_NAME.fullmatch(self.name) or self.name == "rlkit-replay":
            raise ValueError(
                f"Table name {self.name!r}: use letters, digits, '_', '-' and '.' (it names "
                "the table's checkpoint files); 'rlkit-replay' is reserved."
            )
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}.")
        if self.max_size < 1:
            raise ValueError(f"max_size must be positive, got {self.max_size}.")
        if self.max_times_sampled < 0:
            raise ValueError(f"max_times_sampled must be >= 0, got {self.max_times_sampled}.")


def uniform_table(
    name: str, max_size: int, rate_limiter: RateLimiter, signature: Any = None
) -> TableConfig:
    """A FIFO-evicting table sampled uniformly (standard experience replay)."""
    return TableConfig(name, "uniform", max_size, rate_limiter, signature)


def prioritized_table(
    name: str,
    max_size: int,
    rate_limiter: RateLimiter,
    priority_exponent: float = 0.6,
    signature: Any = None,
) -> TableConfig:
    """A FIFO-evicting table sampled in proportion to `priority ** priority_exponent`."""
    return TableConfig(name, "prioritized", max_size, rate_limiter, signature, priority_exponent)


def queue_table(name: str, max_size: int, signature: Any = None) -> TableConfig:
    """A FIFO queue: every item is sampled exactly once, in order (on-policy agents)."""
    return TableConfig(
        name, "fifo", max_size, queue_limiter(max_size), signature, max_times_sampled=1
    )


# How long a sample may wait in one process, where nothing else can insert meanwhile.
ONE_PROCESS_SAMPLE_TIMEOUT_S = 60.0


def for_one_process(table: TableConfig) -> TableConfig:
    """`table` as a one-process layout runs it, its actor and learner sharing a thread.

    A ratio limiter (Reverb's `SampleToInsertRatio`) keeps the replay ratio between processes
    by blocking inserts or samples; in one process a blocked insert could never be released,
    and the limiter would also count the dataset's prefetched samples, which a resumed run no
    longer has. There the agent's counted schedule keeps the ratio exactly, so the table only
    waits for `min_size_to_sample` items. A queue (on-policy rollouts) is left as it is: the
    agent learns as soon as a batch is in, so it never fills.
    """
    if table.sampler == "fifo":
        return table
    limiter = min_size_limiter(table.rate_limiter.min_size_to_sample)
    return dataclasses.replace(table, rate_limiter=limiter)


class TrajectoryWriter(abc.ABC):
    """Reverb's `TrajectoryWriter` API, the one adders write with.

    `append(step)` adds one step (a nest of arrays) to the writer's history; `history` is a
    nest of columns like the step, each indexable by an int or a slice of recent steps;
    `create_item(table, priority, trajectory)` inserts an item made of such column
    references. Only the last `num_keep_alive_refs` steps stay referenceable.
    """

    @abc.abstractmethod
    def append(self, step: types.NestedArray) -> None: ...

    @property
    @abc.abstractmethod
    def history(self) -> Any: ...

    @abc.abstractmethod
    def create_item(self, table: str, priority: float, trajectory: Any) -> None: ...

    @abc.abstractmethod
    def end_episode(self, clear_buffers: bool = True) -> None: ...

    @abc.abstractmethod
    def flush(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...


def index_nest(nest: Any, index: Any) -> Any:
    """Row `index` of every array in `nest` (dicts, lists, tuples and named tuples), without
    dm-tree's general machinery: adders run this per sub-environment on every step."""
    if isinstance(nest, dict):
        return {key: index_nest(value, index) for key, value in nest.items()}
    if isinstance(nest, tuple) and hasattr(nest, "_fields"):
        return type(nest)(*(index_nest(value, index) for value in nest))
    if isinstance(nest, tuple | list):
        return type(nest)(index_nest(value, index) for value in nest)
    return nest[index]


class BatchedSequenceWriter:
    """N streams of steps written together (the sub-environments of a batched environment),
    whose items are each one stream's most recent steps.

    `append(steps, streams)` appends row i of the batched `steps` (a nest of [N, ...] arrays)
    to stream i for each i in `streams`; `create_items(table, priority, streams, length)`
    inserts, for each i in `streams`, stream i's last `length` steps as one item. Items never
    mix streams. This one writes through a `TrajectoryWriter` per stream (Reverb's API); the
    local backend keeps the N streams as arrays, one write per step for all of them.
    """

    def __init__(self, writers: list[TrajectoryWriter]):
        self._writers = list(writers)

    def append(self, steps: types.NestedArray, streams: np.ndarray) -> None:
        for index in streams:
            self._writers[index].append(index_nest(steps, index))

    def create_items(self, table: str, priority: float, streams: np.ndarray, length: int) -> None:

        for index in streams:
            writer = self._writers[index]
            trajectory = tree.map_structure(lambda column: column[-length:], writer.history)
            writer.create_item(table, priority, trajectory)

    def end_episodes(self) -> None:
        """Forgets every stream's steps (a new stream starts in each)."""
        for writer in self._writers:
            writer.end_episode(clear_buffers=True)

    def flush(self) -> None:
        for writer in self._writers:
            writer.flush()

    def close(self) -> None:
        for writer in self._writers:
            writer.close()


class ReplayClient(abc.ABC):
    """What adders, learners and checkpoints use of a replay server, whatever its backend."""

    backend: str

    @abc.abstractmethod
    def trajectory_writer(self, num_keep_alive_refs: int) -> TrajectoryWriter:
        """A writer for one stream of steps (see `TrajectoryWriter`)."""

    def batched_sequence_writer(
        self, num_streams: int, num_keep_alive_refs: int
    ) -> BatchedSequenceWriter:
        """A writer for `num_streams` streams appended together (see `BatchedSequenceWriter`);
        each keeps its last `num_keep_alive_refs` steps."""
        return BatchedSequenceWriter(
            [self.trajectory_writer(num_keep_alive_refs) for _ in range(num_streams)]
        )

    @abc.abstractmethod
    def dataset(
        self,
        table: str,
        items_per_batch: int,
        flatten_blocks: bool = True,
        check_finite: bool = True,
        rate_limiter_timeout_s: float | None = None,
    ) -> Iterator[types.Batch]:
        """Batches of `items_per_batch` items with their keys and sampling probabilities.

        With `flatten_blocks`, items holding a block of transitions are flattened so `data`
        has one leading axis of `items_per_batch * transitions_per_item`. With
        `check_finite`, a batch with NaN or inf raises `InvalidBatchError`. A sample that the
        rate limiter holds back longer than `rate_limiter_timeout_s` raises
        `ReplayTimeoutError` (None: wait forever).
        """

    @abc.abstractmethod
    def update_priorities(self, table: str, keys: np.ndarray, priorities: np.ndarray) -> None:
        """Sets the priorities of sampled items; keys no longer in the table are ignored.

        May return before the write lands (a remote server), so a learner does not wait for
        it; writes land in call order, and `wait_for_priority_updates` waits for them.
        """

    def wait_for_priority_updates(self) -> None:
        """Blocks until every `update_priorities` call so far has reached the table."""

    @abc.abstractmethod
    def sampler(self, table: str) -> str:
        """How `table` is sampled: one of `SAMPLERS` ("uniform", "prioritized", "fifo")."""

    @abc.abstractmethod
    def max_priority(self, table: str) -> float:
        """The largest priority `table` has been given (1.0 before any); what `MAX_PRIORITY`
        inserts at."""

    @abc.abstractmethod
    def table_size(self, table: str) -> int:
        """How many items `table` holds now."""

    @abc.abstractmethod
    def checkpoint(self) -> str:
        """Writes every table to the server's checkpoint directory; returns the path."""


class SampleTimeoutClient:
    """`client` with its datasets' samples giving up after `timeout_s` (`ReplayTimeoutError`)
    unless the caller names its own timeout: a one-process layout's way to turn a sample
    that could never be served into an error, where a distributed learner waits for
    restarting actors instead. Everything else is `client`'s."""

    def __init__(self, client: ReplayClient, timeout_s: float):
        self._client = client
        self._timeout_s = timeout_s

    def dataset(self, table: str, items_per_batch: int, **kwargs: Any) -> Iterator[types.Batch]:
        if kwargs.get("rate_limiter_timeout_s") is None:
            kwargs["rate_limiter_timeout_s"] = self._timeout_s
        return self._client.dataset(table, items_per_batch, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class ReplayServer(abc.ABC):
    """Live replay tables. `client()` reaches them; `stop()` releases them."""

    backend: str

    @abc.abstractmethod
    def client(self) -> ReplayClient: ...

    @abc.abstractmethod
    def stop(self) -> None: ...


def check_finite(data: Any) -> None:
    """Raises `InvalidBatchError` naming the first field with NaN or inf."""

    for path, leaf in tree.flatten_with_path(data):
        if np.issubdtype(leaf.dtype, np.floating) and not np.isfinite(leaf).all():
            field = ".".join(str(p) for p in path)
            raise errors.InvalidBatchError(
                f"Replay batch field '{field}' contains NaN or inf. Check the environment's "
                "observations/rewards (e.g. normalise them) before they reach replay."
            )


def flatten_blocks(data: Any) -> Any:
    """[items, block, ...] -> [items * block, ...] on every leaf."""

    return tree.map_structure(lambda x: x.reshape((-1,) + x.shape[2:]), data)


def priority_error(bad: Any, table: str) -> errors.InvalidBatchError:
    return errors.InvalidBatchError(
        f"Priorities must be non-negative and finite, got {list(bad)[:3]} for replay table "
        f"{table!r}; check the loss that produced them."
    )


def checked_priorities(priorities: Any, table: str) -> np.ndarray:
    """`priorities` as float64, or `InvalidBatchError` if any is negative, NaN or infinite."""
    priorities = np.asarray(priorities, np.float64).reshape(-1)
    bad = ~((priorities >= 0) & np.isfinite(priorities))
    if bad.any():
        raise priority_error(priorities[bad].tolist(), table)
    return priorities


def timeout_error(table: str, timeout_s: float) -> errors.ReplayTimeoutError:
    return errors.ReplayTimeoutError(
        f"Sampling from replay table {table!r} waited {timeout_s} s without data: its rate "
        "limiter allows no more samples until more is inserted. Learner steps must keep to "
        "the replay ratio (samples_per_insert); step the actor."
    )
