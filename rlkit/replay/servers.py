"""Choosing a replay backend and starting its server."""

from __future__ import annotations

from collections.abc import Sequence

from rlkit import errors
from rlkit.replay import base, reverb_backend
from rlkit.replay.local import LocalReplayServer


def resolve_backend(backend: str) -> str:
    """`auto` is `local`: every runner today is a single process, which reaches its tables
    directly, so a Reverb server there would only open an unauthenticated gRPC port on all
    interfaces (Reverb cannot bind to loopback). The distributed layout will choose Reverb.
    """
    if backend not in base.BACKENDS:
        raise errors.ConfigError(
            f"Unknown replay backend {backend!r}; choose from: {', '.join(base.BACKENDS)}."
        )
    return "local" if backend == "auto" else backend


def make_server(
    tables: Sequence[base.TableConfig],
    backend: str = "auto",
    seed: int = 0,
    checkpoint_dir: str | None = None,
    restore_from: str | None = None,
) -> base.ReplayServer:
    """A replay server holding `tables` on `backend` ("auto", "local" or "reverb").

    `seed` seeds the local backend's samplers (Reverb's cannot be seeded); `checkpoint_dir`
    is where `client().checkpoint()` writes; `restore_from` is a checkpoint to start from.
    A Reverb server logs one line: its port is open to the network.
    """
    backend = resolve_backend(backend)
    if backend == "local":
        return LocalReplayServer(tables, seed, checkpoint_dir, restore_from)
    server = reverb_backend.ReverbReplayServer(
        tables, checkpoint_dir=checkpoint_dir, restore_from=restore_from
    )
    reverb_backend.warn_open_port(server.port)
    return server
