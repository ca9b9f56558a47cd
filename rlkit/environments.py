"""`make_environment`: a gymnasium id to a ready dm_env environment, built by a recipe.

A recipe names how an environment is built: "gymnasium" (`gymnasium.make` and rlkit's
dm_env wrappers) or "atari" (ale-py with DQN's preprocessing, `rlkit.wrappers.
make_atari_environment`). "auto" picks "atari" for `ALE/` ids. Runs record their recipe with
the exported policy, so `rlkit eval` and `rlkit play` rebuild the same environment; an
evaluation build reports true returns (Atari's training rewards are clipped).

A served id, `remote://HOST:PORT/ENV_ID`, is built by the `rlkit serve-env` there with these
same functions and reached over the network (`rlkit.remote.RemoteEnvironment`).
"""

from __future__ import annotations

import difflib
import inspect
import os
import types
import typing
from typing import Any

import dm_env
import gymnasium
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector import AutoresetMode

from rlkit import (
    errors,
    jax_environments,  # Its exports load on first use: JAX only for JAX ids.
    wrappers,
)
from rlkit.jax_environments import ids as jax_environment_ids
from rlkit.jax_environments.ids import is_jax_environment_id
from rlkit.recipes import RECIPES, VECTOR_BACKENDS, resolve_recipe
from rlkit.remote import client as remote_client
from rlkit.remote import protocol as remote_protocol
from rlkit.remote.address import is_remote_environment_id
from rlkit.wrappers import envpool_wrapper
from rlkit.wrappers import ids as gymnasium_ids

__all__ = [
    "RECIPES",
    "VECTOR_BACKENDS",
    "check_environment_id",
    "check_environment_kwargs",
    "make_environment",
    "make_vector_environment",
    "resolve_recipe",
]


# Keywords `gymnasium.make` takes itself rather than passing on to the environment.
_MAKE_KEYWORDS = {"max_episode_steps": (int,), "disable_env_checker": (bool,)}
_SIMPLE_TYPES = {"bool": bool, "int": int, "float": float, "str": str, "None": type(None)}


def _annotation_types(annotation: Any) -> tuple[type, ...] | None:
    """`bool`, `"int"`, `str | None`, `"float | None"` -> the types; None for anything else
    (a list, a mapping, a union with other types): those values are not checked."""
    if isinstance(annotation, str):
        parts = [part.strip() for part in annotation.split("|")]
        if all(part in _SIMPLE_TYPES for part in parts):
            return tuple(_SIMPLE_TYPES[part] for part in parts)
        return None
    if annotation in _SIMPLE_TYPES.values() or annotation is None:
        return (type(None),) if annotation is None else (annotation,)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        parts = [_annotation_types(arg) for arg in typing.get_args(annotation)]
        if all(part is not None for part in parts):
            return tuple(t for part in parts for t in part)
    return None


def _matches(value: Any, expected: tuple[type, ...]) -> bool:
    """Whether `value` is one of `expected`; an int is a float, a bool is no number."""
    if isinstance(value, bool):
        return bool in expected
    if isinstance(value, int) and float in expected:
        return True
    return isinstance(value, tuple(t for t in expected if t is not bool))


def _type_names(expected: tuple[type, ...]) -> str:
    """`(int,)` -> "an int", `(str, NoneType)` -> "a str"."""
    names = " or ".join(t.__name__ for t in expected if t is not type(None))
    return f"an {names}" if names.startswith("int") else f"a {names}"


def _constructor_parameters(env_id: str) -> tuple[dict[str, inspect.Parameter], bool] | None:
    """The environment constructor's keyword parameters and whether it takes `**kwargs`;
    None when they cannot be read (gymnasium.make reports what goes wrong then)."""
    spec = gymnasium.registry.get(env_id)
    if spec is None or spec.entry_point is None:
        return None
    try:
        creator = (
            load_env_creator(spec.entry_point)
            if isinstance(spec.entry_point, str)
            else spec.entry_point
        )
        signature = inspect.signature(creator)
    except Exception:  # A missing optional dependency (Box2D, MuJoCo), a C extension...
        return None
    parameters = {
        name: parameter
        for name, parameter in signature.parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    }
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    return parameters, takes_any


def check_environment_id(env_id: str) -> None:
    """Raises `UnknownEnvironmentError` (suggesting close ids) unless `env_id` names an
    environment rlkit can make: a registered gymnasium id, a served one's form, or a JAX
    environment's (`gymnax:CartPole-v1`)."""
    if is_jax_environment_id(env_id):
        jax_environment_ids.check_jax_environment_id(env_id)
    else:
        gymnasium_ids.check_environment_id(env_id)


def check_environment_kwargs(env_id: str, kwargs: dict[str, Any]) -> None:
    """Raises `ConfigError` for a keyword `env_id`'s constructor does not take, or a value
    whose type does not fit the parameter's annotation or default (`is_slippery="maybe"`).

    What cannot be read is let through for `gymnasium.make` to judge: a constructor that
    takes `**kwargs` accepts any keyword, and a parameter annotated with something other than
    bool, int, float, str or None (or without annotation and default) any value. None is
    always let through (the parameter's own "not given").
    """
    if is_remote_environment_id(env_id):  # The few a server takes (it judges the values).
        remote_protocol.check_environment_kwargs(env_id, kwargs)
        return
    if is_jax_environment_id(env_id):
        return  # Judged when it is made (its parameters are gymnax's dataclass fields).
    if not kwargs:
        return
    found = _constructor_parameters(env_id)
    if found is None:
        return
    parameters, takes_any = found
    registered = gymnasium.registry[env_id].kwargs or {}
    for key, value in kwargs.items():
        if key in _MAKE_KEYWORDS:
            expected = _MAKE_KEYWORDS[key]
        elif key in parameters:
            parameter, expected = parameters[key], None
            if parameter.annotation is not inspect.Parameter.empty:
                expected = _annotation_types(parameter.annotation)
            else:
                default = registered.get(key, parameter.default)
                if isinstance(default, bool | str | float):
                    expected = (type(default),)
                elif isinstance(default, int):  # `goal_velocity=0` may well take 0.5.
                    expected = (int, float)
        elif takes_any:
            continue
        else:
            accepted = ", ".join(parameters) or "none"
            close = difflib.get_close_matches(key, [*parameters, *_MAKE_KEYWORDS], n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise errors.ConfigError(
                f"{env_id} takes no keyword argument {key!r}.{hint} Its keyword arguments: "
                f"{accepted} (and gymnasium.make's {', '.join(_MAKE_KEYWORDS)})."
            )
        if value is None or expected is None or _matches(value, expected):
            continue
        if str in expected and not isinstance(value, str):
            fix = f"quote it: {key}='{value}'"
        elif bool in expected:
            fix = "use true or false"
        else:
            fix = f"give {_type_names(expected)}"
        raise errors.ConfigError(
            f"{env_id}'s keyword argument {key!r} expects {_type_names(expected)}, got "
            f"{value!r} ({type(value).__name__}); {fix}."
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
      env_id: a registered gymnasium id, e.g. "CartPole-v1" or "ALE/Pong-v5"; or one served
        by `rlkit serve-env`, "remote://HOST:PORT/CartPole-v1" (its token from the
        RLKIT_ENV_TOKEN environment variable; keyword arguments: `max_episode_steps` and
        `render_mode` only).
      seed: seeds the first `reset`; the same seed reproduces the same episodes.
      recipe: "auto", "gymnasium", "continuous" or "atari" (see the module docstring).
      evaluation: build it for evaluation (Atari: unclipped rewards).
      **kwargs: passed to `gymnasium.make` (e.g. `render_mode="rgb_array"`), or to
        `make_atari_environment` for the Atari recipe.

    Raises:
      UnknownEnvironmentError: `env_id` is not registered; the message suggests close ids.
      ConfigError: a keyword argument the environment does not take, or a recipe that does
        not fit the id.
      RemoteEnvironmentError: a served environment's server cannot be reached, or refuses.
    """
    recipe = resolve_recipe(env_id, recipe)
    if is_jax_environment_id(env_id):
        return _make_jax_host_environment(env_id, seed, recipe, kwargs)
    if is_remote_environment_id(env_id):
        check_environment_kwargs(env_id, kwargs)  # Not the client's own (token, timeout).
        return remote_client.RemoteEnvironment(
            env_id, seed=seed, recipe=recipe, evaluation=evaluation, **kwargs
        )
    if recipe == "atari":
        if evaluation:
            kwargs = {**kwargs, "clip_rewards": False}
        return wrappers.make_atari_environment(env_id, seed=seed, **kwargs)
    check_environment_id(env_id)
    _prefer_headless_mujoco()
    environment = _gymnasium_make(gymnasium.make, env_id, kwargs)
    return _wrap(environment, wrappers.GymWrapper(environment, seed=seed), recipe)


def _make_jax_host_environment(
    env_id: str, seed: int | None, recipe: str, kwargs: dict[str, Any]
) -> dm_env.Environment:
    """A JAX environment ("gymnax:CartPole-v1") stepped from Python, one jitted call per
    step: for evaluation, `rlkit eval`/`play` and the local layout."""
    if kwargs.get("render_mode") is not None:
        raise errors.ConfigError(
            f"{env_id} has no renderer (gymnax draws no frames): play it without --video, "
            "or record a video on the gymnasium environment of the same name."
        )
    kwargs.pop("render_mode", None)
    environment = make_jax_environment(env_id, recipe, **kwargs)
    return jax_environments.JaxEnvironmentWrapper(environment, seed=seed)


def make_jax_environment(env_id: str, recipe: str = "auto", **kwargs) -> Any:
    """The JAX environment `env_id` ("gymnax:CartPole-v1") built by `recipe` ("auto",
    "gymnasium", or "continuous": bounded continuous actions in [-1, 1]), as the Anakin
    layout steps it (`rlkit.jax_environments.JaxEnvironment`)."""
    recipe = resolve_recipe(env_id, recipe)
    environment = jax_environments.make_jax_environment(env_id, **kwargs)
    if recipe == "atari":
        raise errors.ConfigError(f"The Atari recipe is for ale-py ids, not {env_id!r}.")
    if recipe == "continuous":
        environment = jax_environments.CanonicalActions(environment)
    return environment


def _make_vector_elsewhere(
    env_id: str,
    num_envs: int,
    seed: int | None,
    recipe: str,
    asynchronous: bool,
    backend: str,
    kwargs: dict[str, Any],
) -> dm_env.Environment:
    """A batch stepped outside gymnasium: a JAX environment's copies in one vmapped call, or
    envpool's C++ threads."""
    if is_jax_environment_id(env_id):
        if backend != "gymnasium" or asynchronous:
            raise errors.ConfigError(
                f"{env_id} is written in JAX: its copies step in one vmapped call, with no "
                "other backend and no subprocesses (leave backend and asynchronous alone)."
            )
        environment = make_jax_environment(env_id, recipe, **kwargs)
        return jax_environments.JaxVectorEnvironmentWrapper(environment, num_envs, seed=seed)
    environment = envpool_wrapper.make_envpool_environment(
        env_id, num_envs, seed=seed, recipe=recipe, asynchronous=asynchronous, **kwargs
    )
    return _wrap(environment, environment, recipe)


def make_vector_environment(
    env_id: str,
    num_envs: int,
    *,
    seed: int | None = None,
    recipe: str = "auto",
    asynchronous: bool = False,
    backend: str = "gymnasium",
    **kwargs,
) -> dm_env.Environment:
    """`num_envs` copies of `env_id` stepped together, as one batched dm_env environment.

    The batched counterpart of `make_environment` (same recipes but "atari", same
    single-precision wrapping): a gymnasium vector environment behind
    `rlkit.wrappers.VectorGymWrapper`, whose timesteps carry a leading axis of `num_envs`
    and whose sub-environments each keep dm_env's semantics. `asynchronous=True` steps each
    copy in its own subprocess (`gymnasium.vector.AsyncVectorEnv`), which pays off when one
    step costs more than the inter-process hand-off (MuJoCo, Box2D); the default steps them
    in this process, one after another. Sub-environment i is seeded with `seed + i`. A served
    id (`remote://HOST:PORT/ENV_ID`) is one batch built and stepped by the server.

    `backend="envpool"` steps the copies in envpool's C++ threads instead (`pip install
    'rlkit-jax[envpool]'`), for the gymnasium ids envpool also has (classic control, MuJoCo)
    and Atari games, which get the Atari recipe from envpool's own preprocessing; same
    batched contract and specs, envpool's own random streams. Its keywords are envpool's
    options (`max_episode_steps`, `num_threads`; Atari: `make_atari_environment`'s), and
    `rlkit.wrappers.envpool_wrapper` says where it differs.

    Raises:
      ConfigError: `num_envs` < 1, an unknown recipe or backend, a keyword the environment
        lacks, or envpool is not installed.
      UnknownEnvironmentError: `env_id` is not registered (or envpool does not have it).
    """
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise errors.ConfigError(
            f"num_envs must be a positive integer (the number of environment copies), got "
            f"{num_envs!r}; use num_envs=1 for a single environment."
        )
    if backend not in VECTOR_BACKENDS:
        raise errors.ConfigError(
            f"Unknown vector backend {backend!r}; choose one of: {', '.join(VECTOR_BACKENDS)}."
        )
    recipe = resolve_recipe(env_id, recipe)
    if is_jax_environment_id(env_id) or backend == "envpool":
        return _make_vector_elsewhere(env_id, num_envs, seed, recipe, asynchronous, backend, kwargs)
    if recipe == "atari":
        raise errors.ConfigError(
            f"The Atari recipe has no vectorised build through gymnasium; make {env_id!r} "
            "with backend='envpool', or with make_environment (one environment)."
        )
    if is_remote_environment_id(env_id):
        if asynchronous:
            raise errors.ConfigError(
                f"{env_id} is stepped by its server, in one process: asynchronous=True (a "
                "subprocess per copy) is for local environments."
            )
        check_environment_kwargs(env_id, kwargs)
        return remote_client.RemoteEnvironment(
            env_id, seed=seed, recipe=recipe, num_envs=num_envs, **kwargs
        )
    check_environment_id(env_id)
    _prefer_headless_mujoco()

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
