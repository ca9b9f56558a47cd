"""JAX environment ids ("gymnax:CartPole-v1") to `JaxEnvironment`s."""

from __future__ import annotations

from rlkit import errors
from rlkit.jax_environments import gymnax_environments
from rlkit.jax_environments.base import JaxEnvironment
from rlkit.jax_environments.ids import GYMNAX_PREFIX, is_jax_environment_id


def make_jax_environment(env_id: str, **kwargs) -> JaxEnvironment:
    """The JAX environment `env_id`, e.g. "gymnax:CartPole-v1" or "gymnax:Breakout-MinAtar".

    Args:
      env_id: "gymnax:" and one of `gymnax_environments.GYMNAX_ENVIRONMENTS`.
      **kwargs: `max_episode_steps` (the time limit, as gymnasium's), and the environment's
        own parameters or options (see `make_gymnax_environment`).

    Raises:
      UnknownEnvironmentError: not a JAX environment id, or an unknown name.
      ConfigError: the environment's package is not installed, or a bad keyword.
    """
    if not is_jax_environment_id(env_id):
        raise errors.UnknownEnvironmentError(
            f"{env_id!r} is not a JAX environment id: those are 'gymnax:<Name>', e.g. "
            f"'gymnax:CartPole-v1'. Make host (gymnasium) environments with "
            "rlkit.make_environment."
        )
    name = env_id[len(GYMNAX_PREFIX) :]
    return gymnax_environments.make_gymnax_environment(name, **kwargs)
