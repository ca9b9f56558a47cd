"""Environments written in JAX ("gymnax:CartPole-v1"), stepped inside jitted code.

`make_jax_environment(env_id)` gives a `JaxEnvironment`: pure `reset(key)` and
`step(state, action, key)` with the dm_env semantics of rlkit's host environments, batched by
`jax.vmap` (the Anakin layout). `JaxEnvironmentWrapper` presents one as a host-side
`dm_env.Environment`, for the `EnvironmentLoop`, `rlkit eval` and `rlkit play`.
`is_jax_environment_id` is a string check that imports neither JAX nor gymnax.
"""

from typing import TYPE_CHECKING

from rlkit import _lazy

# Imported on first use (see rlkit/_lazy.py): telling ids apart needs no JAX.
_EXPORTS = {
    "AutoResetEnvironment": "rlkit.jax_environments.base",
    "CanonicalActions": "rlkit.jax_environments.wrappers",
    "EnvState": "rlkit.jax_environments.base",
    "JaxEnvironment": "rlkit.jax_environments.base",
    "JaxEnvironmentState": "rlkit.jax_environments.base",
    "GYMNAX_ENVIRONMENTS": "rlkit.jax_environments.ids",
    "check_jax_environment_id": "rlkit.jax_environments.ids",
    "GymnaxEnvironment": "rlkit.jax_environments.gymnax_environments",
    "JaxEnvironmentWrapper": "rlkit.jax_environments.host",
    "JaxVectorEnvironmentWrapper": "rlkit.jax_environments.host",
    "is_jax_environment_id": "rlkit.jax_environments.ids",
    "make_jax_environment": "rlkit.jax_environments.registry",
}
_lazy.attach(__name__, _EXPORTS)

__all__ = [
    "GYMNAX_ENVIRONMENTS",
    "AutoResetEnvironment",
    "CanonicalActions",
    "EnvState",
    "GymnaxEnvironment",
    "JaxEnvironment",
    "JaxEnvironmentState",
    "JaxEnvironmentWrapper",
    "JaxVectorEnvironmentWrapper",
    "check_jax_environment_id",
    "is_jax_environment_id",
    "make_jax_environment",
]

if TYPE_CHECKING:
    from rlkit.jax_environments.base import (
        AutoResetEnvironment,
        EnvState,
        JaxEnvironment,
        JaxEnvironmentState,
    )
    from rlkit.jax_environments.gymnax_environments import GymnaxEnvironment
    from rlkit.jax_environments.host import JaxEnvironmentWrapper, JaxVectorEnvironmentWrapper
    from rlkit.jax_environments.ids import (
        GYMNAX_ENVIRONMENTS,
        check_jax_environment_id,
        is_jax_environment_id,
    )
    from rlkit.jax_environments.registry import make_jax_environment
    from rlkit.jax_environments.wrappers import CanonicalActions
