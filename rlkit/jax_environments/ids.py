"""JAX environment ids, told apart from gymnasium ids without importing JAX or gymnax."""

from __future__ import annotations

from typing import Any

GYMNAX_PREFIX = "gymnax:"
PREFIXES = (GYMNAX_PREFIX,)


def is_jax_environment_id(env_id: Any) -> bool:
    """Whether `env_id` names a JAX environment ("gymnax:<Name>"); a string check only, so
    it costs nothing and needs neither JAX nor gymnax imported."""
    return isinstance(env_id, str) and env_id.startswith(PREFIXES)
