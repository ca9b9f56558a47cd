"""Reverb datasets as iterators of prefetched numpy batches (the Reverb backend's)."""

from __future__ import annotations

from collections.abc import Iterator

import reverb

from rlkit import errors, types
from rlkit.replay import base
from rlkit.replay.adders import Step

# Reverb rebuilds namedtuples from the table signature under new classes of the same name;
# map them back so batches are the library's own types.
_ITEM_TYPES = {cls.__name__: cls for cls in (types.Transition, Step)}


class ReplayIterator(Iterator[types.Batch]):
    """Yields `Batch(data, keys, probabilities)` from a Reverb table, prefetched by tf.data.

    With `rate_limiter_timeout_s`, a sample that the table's rate limiter holds back for
    longer raises `ReplayTimeoutError` instead of waiting forever (in one process, nothing
    else could ever insert the data it waits for).

    Items holding a block of transitions (see `NStepTransitionAdder`) are flattened, so
    `data` always has one leading axis of `items_per_batch * transitions_per_item`. `keys`
    and `probabilities` are per item, for priority updates and importance weights.
    """

    def __init__(
        self,
        server_address: str,
        table: str,
        items_per_batch: int,
        flatten_blocks: bool = True,
        prefetch: int = 2,
        check_finite: bool = True,
        rate_limiter_timeout_s: float | None = None,
    ):
        timeout_ms = -1 if rate_limiter_timeout_s is None else int(rate_limiter_timeout_s * 1000)
        dataset = reverb.TrajectoryDataset.from_table_signature(
            server_address=server_address,
            table=table,
            max_in_flight_samples_per_worker=2 * items_per_batch,
            rate_limiter_timeout_ms=timeout_ms,
        )
        dataset = dataset.batch(items_per_batch, drop_remainder=True).prefetch(prefetch)
        self._iterator = dataset.as_numpy_iterator()
        self._flatten = flatten_blocks
        self._check_finite = check_finite
        self.items_per_batch = items_per_batch
        self._table = table
        self._timeout_s = rate_limiter_timeout_s

    def __next__(self) -> types.Batch:
        try:
            sample = next(self._iterator)
        except StopIteration:
            if self._timeout_s is None:
                raise errors.RlkitError(
                    f"Replay table {self._table!r} stopped serving samples (was its server "
                    "stopped?)."
                ) from None
            raise base.timeout_error(self._table, self._timeout_s) from None
        data = sample.data
        item_type = _ITEM_TYPES.get(type(data).__name__)
        if item_type is not None and type(data) is not item_type:
            data = item_type(*data)
        if self._flatten:
            data = base.flatten_blocks(data)
        if self._check_finite:
            base.check_finite(data)
        return types.Batch(data=data, keys=sample.info.key, probabilities=sample.info.probability)
