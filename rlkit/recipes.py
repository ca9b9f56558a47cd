"""Environment recipes by name (no heavy imports: the CLI checks names before loading JAX).

"gymnasium": `gymnasium.make` and rlkit's dm_env wrappers; "continuous": the same with
bounded continuous actions presented in [-1, 1] (`CanonicalSpecWrapper`), what the
continuous-control agents act in; "atari": ale-py with DQN's preprocessing
(`rlkit.wrappers.make_atari_environment`); "auto": "atari" for `ALE/` ids, else the agent's
own recipe ("gymnasium" unless the agent says otherwise). `rlkit.environments.make_environment`
builds them. A served environment's recipe is chosen from the id it serves
(`remote://HOST:PORT/ALE/Pong-v5` is an Atari game) and applied by the server.
"""

from __future__ import annotations

from rlkit import errors
from rlkit.remote.address import served_environment_id

RECIPES = ("auto", "gymnasium", "continuous", "atari")
# What steps `make_vector_environment`'s copies: gymnasium's vector environments, or envpool.
VECTOR_BACKENDS = ("gymnasium", "envpool")


def resolve_recipe(env_id: str, recipe: str = "auto", default: str = "gymnasium") -> str:
    """The recipe "auto" stands for ("atari" for `ALE/` ids, else `default`, the agent's
    recipe); checks names."""
    if recipe not in RECIPES:
        raise errors.ConfigError(
            f"Unknown environment recipe {recipe!r}; choose one of: {', '.join(RECIPES)}."
        )
    is_atari = served_environment_id(env_id).startswith("ALE/")
    if recipe == "auto":
        return "atari" if is_atari else resolve_recipe(env_id, default)
    if recipe == "atari" and not is_atari:
        raise errors.ConfigError(
            f"The Atari recipe needs an ale-py id such as 'ALE/Pong-v5', got {env_id!r}; use "
            "recipe='gymnasium' (or 'auto') for other environments."
        )
    return recipe
