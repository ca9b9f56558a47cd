"""The replay server on Ray, and how the other workers find it (again, after a restart)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from rlkit import replay
from rlkit.layouts.distributed.common import import_ray, spec_and_networks
from rlkit.replay import reverb_backend


class ReplayWorker:
    """Owns the Reverb server, on `port`; its tables are the builder's, unchanged.
    Checkpoints go to `checkpoint_dir` (written by the server itself) and it starts from
    `restore_from`. Restarted by Ray after its process died, it serves empty tables on the
    same port, which the actors refill."""

    def __init__(
        self,
        config: Any,
        port: int,
        checkpoint_dir: str | None,
        restore_from: str | None,
        learner_paused: bool = False,
    ):
        ray = import_ray()
        if ray.get_runtime_context().was_current_actor_reconstructed:
            restore_from = None  # Possibly deleted since; the tables are refilled instead.

        environment, spec, _, networks = spec_and_networks(config, config.seed)
        environment.close()
        tables = config.builder.make_replay_tables(spec, config.builder.make_policy(networks, spec))
        if learner_paused:  # Nothing samples: a ratio or queue limiter would block actors.
            limiter = replay.min_size_limiter(1)  # Full tables drop their oldest items.
            tables = [dataclasses.replace(table, rate_limiter=limiter) for table in tables]
        self._server = reverb_backend.ReverbReplayServer(
            tables, port=port, checkpoint_dir=checkpoint_dir, restore_from=restore_from
        )
        self._address = f"{ray.util.get_node_ip_address()}:{self._server.port}"

    def address(self) -> str:
        return self._address

    def pid(self) -> int:
        """The serving process: another one after a restart."""
        return os.getpid()

    def checkpoint(self) -> str:
        """Writes the tables (Reverb's checkpoint call); returns the checkpoint's path."""
        return self._server.client().checkpoint()

    def stop(self) -> None:
        self._server.stop()


class ReplayConnection:
    """The replay server's address, and whether Ray restarted its process since the last
    look (the streams to the old one then fail, and are made again)."""

    def __init__(self, handle: Any):
        ray = import_ray()
        self._handle = handle
        self.address, self._pid = ray.get([handle.address.remote(), handle.pid.remote()])

    def client(self) -> Any:
        return reverb_backend.ReverbReplayClient(self.address, can_checkpoint=False)

    def restarted(self) -> bool:
        """Waits for a restart in progress; True if the server is another process now."""
        pid = import_ray().get(self._handle.pid.remote())
        restarted, self._pid = pid != self._pid, pid
        return restarted
