"""JAX environment ids, told apart from gymnasium ids without importing JAX or gymnax."""

from __future__ import annotations

import difflib
from typing import Any

from rlkit import errors

GYMNAX_PREFIX = "gymnax:"
PREFIXES = (GYMNAX_PREFIX,)


def is_jax_environment_id(env_id: Any) -> bool:
    """Whether `env_id` names a JAX environment ("gymnax:<Name>"); a string check only, so
    it costs nothing and needs neither JAX nor gymnax imported."""
    return isinstance(env_id, str) and env_id.startswith(PREFIXES)


# The gymnax environments whose spaces, termination and time limit rlkit has checked.
# MinAtar's Freeway ends only at its time limit, so there it is a truncation (discount 1).
GYMNAX_ENVIRONMENTS = (
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "Pendulum-v1",
    "Asterix-MinAtar",
    "Breakout-MinAtar",
    "Freeway-MinAtar",
    "SpaceInvaders-MinAtar",
)


def check_jax_environment_id(env_id: str) -> None:
    """Raises `UnknownEnvironmentError` (suggesting close ids) unless `env_id` is a JAX
    environment rlkit supports; a name check only (no JAX, no gymnax)."""
    name = env_id[len(GYMNAX_PREFIX) :] if is_jax_environment_id(env_id) else env_id
    if is_jax_environment_id(env_id) and name in GYMNAX_ENVIRONMENTS:
        return
    close = difflib.get_close_matches(name, GYMNAX_ENVIRONMENTS, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(GYMNAX_PREFIX + c for c in close)}?" if close else ""
    raise errors.UnknownEnvironmentError(
        f"Unknown JAX environment id {env_id!r}.{hint} The gymnax environments rlkit "
        f"supports: {', '.join(GYMNAX_PREFIX + n for n in GYMNAX_ENVIRONMENTS)}."
    )
