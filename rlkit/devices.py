"""Where the learner runs: `auto` (JAX's default device: a GPU when one is visible, else the
CPU), `cpu` or `gpu`. Actors always act on the CPU (see `rlkit.jax.actors.GenericActor`)."""

from __future__ import annotations

from typing import Any

from rlkit import errors

DEVICES = ("auto", "cpu", "gpu")


def check_device_name(name: str) -> str:
    """`name` if it is one of `DEVICES`; `ConfigError` otherwise (no JAX import)."""
    if name not in DEVICES:
        raise errors.ConfigError(f"Unknown device {name!r}; choose one of: {', '.join(DEVICES)}.")
    return name


def learner_device(name: str = "auto") -> Any:
    """The `jax.Device` a learner named `name` runs on; `ConfigError` for a missing GPU."""
    import jax

    check_device_name(name)
    if name == "auto":
        return jax.devices()[0]
    try:
        return jax.devices(name)[0]
    except RuntimeError:
        raise errors.ConfigError(
            f"No {name.upper()} is visible to JAX (devices: {jax.devices()}); install a "
            "JAX build for it (e.g. `pip install -U 'jax[cuda12]'`) or use --device cpu."
        ) from None
