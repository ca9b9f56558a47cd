"""The Reverb backend: `TableConfig`s served by a Reverb server (`pip install 'rlkit-jax[reverb]'`).

Reverb and TensorFlow are imported only here, and only when this backend is used, so
`import rlkit` works without them.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import os
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tree

from rlkit import _reverb_logs, errors, types
from rlkit.replay import base
from rlkit.replay.local import check_checkpoint_backend

_log = logging.getLogger("rlkit.replay")


# Servers not stopped yet: stopped at exit, while the modules Reverb's own finaliser needs
# (portpicker) are still there. A script that never closes its agent would otherwise end
# with "Exception ignored in: Server.__del__" from the interpreter's teardown.
_RUNNING: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _stop_running_servers() -> None:
    for server in list(_RUNNING):
        try:
            server.stop()
        except Exception:  # One server's failure must not keep the others running.
            _log.exception("Stopping a Reverb server at exit failed.")


def import_reverb():
    """Imports `reverb`, or raises `ConfigError` naming the extra that provides it."""
    _reverb_logs.quiet()  # Reverb's C++ log lines off unless RLKIT_REVERB_LOGS=1 (see there).
    try:
        import reverb
    except ImportError as error:
        raise errors.ConfigError(
            f"The 'reverb' replay backend needs Reverb, which is not installed ({error}). "
            "Install the extra on Python 3.11: pip install -c constraints.txt 'rlkit-jax[reverb]'; "
            "or use replay_backend='local'."
        ) from None
    return reverb


def _tensor_signature(signature: Any) -> Any:
    import tensorflow as tf

    if signature is None:
        return None
    return tree.map_structure(
        lambda spec: tf.TensorSpec(tuple(spec.shape), tf.as_dtype(np.dtype(spec.dtype))),
        signature,
    )


def make_table(config: base.TableConfig):
    """A `reverb.Table` with `config`'s sampler, FIFO remover and rate limiter."""
    reverb = import_reverb()
    limiter = config.rate_limiter
    samplers = {
        "uniform": reverb.selectors.Uniform,
        "prioritized": lambda: reverb.selectors.Prioritized(config.priority_exponent),
        "fifo": reverb.selectors.Fifo,
    }
    return reverb.Table(
        name=config.name,
        sampler=samplers[config.sampler](),
        remover=reverb.selectors.Fifo(),
        max_size=config.max_size,
        rate_limiter=reverb.rate_limiters.RateLimiter(
            samples_per_insert=limiter.samples_per_insert,
            min_size_to_sample=limiter.min_size_to_sample,
            min_diff=limiter.min_diff,
            max_diff=limiter.max_diff,
        ),
        max_times_sampled=config.max_times_sampled,
        signature=_tensor_signature(config.signature),
    )


# A writer waits, every this many items, until at most this many are unconfirmed by the
# server, so at most twice as many are ever in flight (Acme's adders wait after each item,
# for 5; a wait also sends what is pending, so waiting less often sends fewer messages).
MAX_IN_FLIGHT_ITEMS = 8


class _BoundedTrajectoryWriter:
    """Reverb's `TrajectoryWriter`, which waits every `MAX_IN_FLIGHT_ITEMS` items until at
    most that many are unconfirmed. Reverb's writer itself queues items without
    bound while a rate limiter holds inserts back: an actor would run ahead of the learner
    with parameters ever older than its data, and its queue grow. Waiting here is how a
    table's limiter reaches the actor, as Acme's adders do it."""

    def __init__(self, writer: Any):
        self._writer = writer
        self._unchecked = 0

    def create_item(self, table: str, priority: float, trajectory: Any) -> None:
        self._writer.create_item(table, priority, trajectory)
        self._unchecked += 1
        if self._unchecked >= MAX_IN_FLIGHT_ITEMS:
            self._writer.flush(block_until_num_items=MAX_IN_FLIGHT_ITEMS)
            self._unchecked = 0

    def __getattr__(self, name: str) -> Any:  # append, history, flush, end_episode, ...
        return getattr(self._writer, name)


class ReverbReplayClient(base.ReplayClient):
    """A `reverb.Client` behind rlkit's replay interface."""

    backend = "reverb"

    def __init__(self, server_address: str, can_checkpoint: bool = True):
        reverb = import_reverb()
        self.server_address = server_address
        self.reverb_client = reverb.Client(server_address)
        self._can_checkpoint = can_checkpoint
        self._max_priority: dict[str, float] = {}
        # A priority update is a network round trip: it runs on this thread, beside the
        # caller's next step. One write in flight keeps them in order and makes a slow server
        # hold the learner back instead of queueing writes without bound.
        self._priority_writer = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="rlkit-priorities"
        )
        self._pending_priorities: concurrent.futures.Future | None = None

    def trajectory_writer(self, num_keep_alive_refs: int):
        return _BoundedTrajectoryWriter(
            self.reverb_client.trajectory_writer(num_keep_alive_refs=num_keep_alive_refs)
        )

    def dataset(
        self,
        table: str,
        items_per_batch: int,
        flatten_blocks: bool = True,
        check_finite: bool = True,
        rate_limiter_timeout_s: float | None = None,
    ) -> Iterator[types.Batch]:
        from rlkit.replay.dataset import ReplayIterator

        return ReplayIterator(
            self.server_address,
            table,
            items_per_batch,
            flatten_blocks=flatten_blocks,
            check_finite=check_finite,
            rate_limiter_timeout_s=rate_limiter_timeout_s,
        )

    def update_priorities(self, table: str, keys: np.ndarray, priorities: np.ndarray) -> None:
        priorities = base.checked_priorities(priorities, table)
        if priorities.size:
            self._max_priority[table] = max(self.max_priority(table), float(priorities.max()))
        keys = np.asarray(keys, np.uint64).reshape(-1).tolist()
        updates = dict(zip(keys, priorities.tolist(), strict=True))
        self.wait_for_priority_updates()
        self._pending_priorities = self._priority_writer.submit(
            self.reverb_client.mutate_priorities, table, updates=updates
        )

    def wait_for_priority_updates(self) -> None:
        pending, self._pending_priorities = self._pending_priorities, None
        if pending is not None:
            pending.result()

    def sampler(self, table: str) -> str:
        try:
            options = self.reverb_client.server_info()[table].sampler_options
        except KeyError:
            raise ValueError(f"Unknown replay table {table!r}.") from None
        return options.WhichOneof("distribution")

    def max_priority(self, table: str) -> float:
        # Reverb does not report it: this client remembers what it has written. In one process
        # the learner and the adder share the client, so that is every update.
        return self._max_priority.get(table, 1.0)

    def table_size(self, table: str) -> int:
        return int(self.reverb_client.server_info()[table].current_size)

    def checkpoint(self) -> str:
        self.wait_for_priority_updates()
        if not self._can_checkpoint:
            raise errors.CheckpointError(
                "This replay server has no checkpoint directory; create it with one."
            )
        return self.reverb_client.checkpoint()


class ReverbReplayServer(base.ReplayServer):
    """A Reverb server in this process. It listens on all interfaces (Reverb has no bind
    address): use it where other processes must reach the tables.

    Args:
      tables: the tables to serve.
      port: the gRPC port (None: a free one).
      checkpoint_dir: where `checkpoint()` writes (Reverb keeps only its latest there). It
        should start empty: Reverb loads the latest checkpoint it finds there in preference
        to `restore_from`.
      restore_from: a Reverb checkpoint to load the tables from when the server starts.
    """

    backend = "reverb"

    def __init__(
        self,
        tables: Sequence[base.TableConfig],
        port: int | None = None,
        checkpoint_dir: str | None = None,
        restore_from: str | None = None,
    ):
        if restore_from is not None:
            check_checkpoint_backend(restore_from, "reverb")
            if not os.path.isfile(os.path.join(restore_from, "DONE")):
                # Reverb would silently start with empty tables.
                raise errors.CheckpointError(
                    f"Replay checkpoint {restore_from} is incomplete (no DONE marker); restore "
                    "it, or start the run afresh."
                )
        reverb = import_reverb()
        checkpointer = None
        self._scratch = None
        if checkpoint_dir is None and restore_from is not None:
            # Never root the checkpointer at `restore_from`: Reverb prunes its root.
            self._scratch = tempfile.TemporaryDirectory(prefix="rlkit-reverb-")
        root = checkpoint_dir or (self._scratch.name if self._scratch else None)
        if root is not None:
            checkpointer = reverb.checkpointers.DefaultCheckpointer(
                root, fallback_checkpoint_path=restore_from
            )
        self._can_checkpoint = checkpoint_dir is not None
        self._server = reverb.Server(
            [make_table(table) for table in tables], port=port, checkpointer=checkpointer
        )
        self.port = self._server.port
        _RUNNING.add(self)

    def client(self) -> ReverbReplayClient:
        return ReverbReplayClient(f"localhost:{self.port}", self._can_checkpoint)

    def stop(self) -> None:
        """Stops the server and frees its port; again: nothing."""
        if self._server is None:
            return
        _RUNNING.discard(self)
        server, self._server = self._server, None
        try:
            server.stop()
        finally:
            del server  # Reverb's finaliser (returning the port) runs now, not at teardown.
            if self._scratch is not None:
                self._scratch.cleanup()


def warn_open_port(port: int) -> None:
    _log.warning(
        "Replay backend 'reverb' in one process: its gRPC port %d is open on all interfaces, "
        "without authentication (replay_backend='local' opens none).",
        port,
    )
