"""`make_environment`: a gymnasium id to a ready dm_env environment, built by a recipe.

A recipe names how an environment is built: "gymnasium" (`gymnasium.make` and rlkit's
dm_env wrappers) or "atari" (ale-py with DQN's preprocessing, `rlkit.wrappers.
make_atari_environment`). "auto" picks "atari" for `ALE/` ids. Runs record their recipe with
the exported policy, so `rlkit eval` and `rlkit play` rebuild the same environment; an
evaluation build reports true returns (Atari's training rewards are clipped).
"""

from __future__ import annotations

import difflib
import os
import sys

import dm_env
import gymnasium

from rlkit import errors, wrappers
from rlkit.recipes import RECIPES, resolve_recipe

__all__ = [
    "RECIPES",
    "check_environment_id",
    "make_environment",
    "make_vector_environment",
    "resolve_recipe",
]


def _registered_ids() -> list[str]:
    return sorted(gymnasium.registry.keys())


def check_environment_id(env_id: str) -> None:
    """Raises `UnknownEnvironmentError` (suggesting close ids) unless gymnasium knows `env_id`."""
    if env_id not in gymnasium.registry:
        close = difflib.get_close_matches(env_id, _registered_ids(), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        if env_id.startswith("ALE/") and "ale_py" not in sys.modules:
            hint += (
                " Atari games: rlkit.wrappers.make_atari_environment(env_id) registers ale-py's"
                " ids (pip install 'rlkit[atari]')."
            )
        raise errors.UnknownEnvironmentError(
            f"Unknown environment id {env_id!r}.{hint} "
            "List the registered ids with `gymnasium.pprint_registry()`."
        )


def _prefer_headless_mujoco() -> None:
    """Renders MuJoCo through EGL when no display exists (MuJoCo's default, GLFW, needs one).

    MuJoCo reads MUJOCO_GL when it is first imported, so this runs before any environment is
    made; a value the user set is kept.
    """
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("MUJOCO_GL", "egl")


def make_environment(
    env_id: str,
    *,
    seed: int | None = None,
    recipe: str = "auto",
    evaluation: bool = False,
    **kwargs,
) -> dm_env.Environment:
    """The environment `env_id`, built by `recipe`, as a single-precision dm_env environment.

    Args:
      env_id: a registered gymnasium id, e.g. "CartPole-v1" or "ALE/Pong-v5".
      seed: seeds the first `reset`; the same seed reproduces the same episodes.
      recipe: "auto", "gymnasium", "continuous" or "atari" (see the module docstring).
      evaluation: build it for evaluation (Atari: unclipped rewards).
      **kwargs: passed to `gymnasium.make` (e.g. `render_mode="rgb_array"`), or to
        `make_atari_environment` for the Atari recipe.

    Raises:
      UnknownEnvironmentError: `env_id` is not registered; the message suggests close ids.
      ConfigError: a keyword argument the environment does not take, or a recipe that does
        not fit the id.
    """
    recipe = resolve_recipe(env_id, recipe)
    if recipe == "atari":
        if evaluation:
            kwargs = {**kwargs, "clip_rewards": False}
        return wrappers.make_atari_environment(env_id, seed=seed, **kwargs)
    check_environment_id(env_id)
    _prefer_headless_mujoco()
    environment = _gymnasium_make(gymnasium.make, env_id, kwargs)
    return _wrap(environment, wrappers.GymWrapper(environment, seed=seed), recipe)


def make_vector_environment(
    env_id: str,
    num_envs: int,
    *,
    seed: int | None = None,
    recipe: str = "auto",
    asynchronous: bool = False,
    **kwargs,
) -> dm_env.Environment:
    """`num_envs` copies of `env_id` stepped together, as one batched dm_env environment.

    The batched counterpart of `make_environment` (same recipes but "atari", same
    single-precision wrapping): a gymnasium vector environment behind
    `rlkit.wrappers.VectorGymWrapper`, whose timesteps carry a leading axis of `num_envs`
    and whose sub-environments each keep dm_env's semantics. `asynchronous=True` steps each
    copy in its own subprocess (`gymnasium.vector.AsyncVectorEnv`), which pays off when one
    step costs more than the inter-process hand-off (MuJoCo, Box2D); the default steps them
    in this process, one after another. Sub-environment i is seeded with `seed + i`.

    Raises:
      ConfigError: `num_envs` < 1, an unknown recipe, or a keyword the environment lacks.
      UnknownEnvironmentError: `env_id` is not registered.
    """
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise errors.ConfigError(
            f"num_envs must be a positive integer (the number of environment copies), got "
            f"{num_envs!r}; use num_envs=1 for a single environment."
        )
    recipe = resolve_recipe(env_id, recipe)
    if recipe == "atari":
        raise errors.ConfigError(
            f"The Atari recipe has no vectorised build yet; make {env_id!r} with "
            "make_environment (one environment) instead."
        )
    check_environment_id(env_id)
    _prefer_headless_mujoco()
    from gymnasium.vector import AutoresetMode

    def make_vec(env_id, **make_kwargs):
        return gymnasium.make_vec(
            env_id,
            num_envs=num_envs,
            vectorization_mode="async" if asynchronous else "sync",
            vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP},
            **make_kwargs,
        )

    environment = _gymnasium_make(make_vec, env_id, kwargs)
    return _wrap(environment, wrappers.VectorGymWrapper(environment, seed=seed), recipe)


def _gymnasium_make(make, env_id: str, kwargs: dict):
    """`make(env_id, **kwargs)`, with gymnasium's errors turned into rlkit's."""
    try:
        return make(env_id, **kwargs)
    except gymnasium.error.DeprecatedEnv as error:
        raise errors.UnknownEnvironmentError(f"{error} (asked for {env_id!r}).") from error
    except TypeError as error:
        if not kwargs:
            raise
        raise errors.ConfigError(
            f"gymnasium.make({env_id!r}, {', '.join(f'{k}={v!r}' for k, v in kwargs.items())}) "
            f"failed: {error}. Check the environment's keyword arguments."
        ) from None


def _wrap(gym_environment, environment: dm_env.Environment, recipe: str) -> dm_env.Environment:
    """The recipe's dm_env wrappers around `environment`; closes the gymnasium one on error."""
    try:
        wrapped = wrappers.SinglePrecisionWrapper(environment)
        if recipe == "continuous":
            wrapped = wrappers.CanonicalSpecWrapper(wrapped)
        return wrapped
    except Exception:
        gym_environment.close()
        raise
