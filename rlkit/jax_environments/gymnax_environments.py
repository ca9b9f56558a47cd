"""gymnax environments ("gymnax:CartPole-v1") as `JaxEnvironment`s with dm_env semantics.

gymnax (`pip install 'rlkit-jax[gymnax]'`) folds its time limit into `done`, and its `step`
resets inside itself, replacing the final observation by the next episode's first. So the
adapter calls gymnax's lower-level `reset_env` and `step_env` with gymnax's own time limit
switched off, takes `done` as termination, and truncates at `max_episode_steps` itself: a
truncated episode's `LAST` step keeps the true final observation and discount 1.

Specs are those `rlkit.make_environment` presents for the gymnasium environment of the same
name (float32 observations, int32 discrete actions, Pendulum's action of shape (1,)), so an
agent's networks and configs apply unchanged.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from dm_env import specs

from rlkit import errors, types
from rlkit.jax_environments.base import AutoResetEnvironment, EnvState
from rlkit.jax_environments.ids import GYMNAX_PREFIX as PREFIX
from rlkit.jax_environments.ids import check_jax_environment_id

# gymnax's own time limit, switched off: `time` never reaches it.
_NO_LIMIT = int(np.iinfo(np.int32).max)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _bounds(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A Box bound as gymnasium writes it: float32 of the full shape, and unbounded as inf
    (gymnax writes float32's largest value)."""
    bound = np.broadcast_to(np.asarray(value, np.float32), shape).copy()
    bound[bound >= _FLOAT32_MAX] = np.inf
    bound[bound <= -_FLOAT32_MAX] = -np.inf
    return bound


def _space_to_spec(space: Any, name: str, shape: tuple[int, ...] | None = None) -> specs.Array:
    """A gymnax Discrete or Box space as the dm_env spec rlkit's host wrappers present
    (`shape`: the shape the environment really produces, where its space misstates it)."""
    from gymnax.environments import spaces

    if isinstance(space, spaces.Discrete):
        return specs.DiscreteArray(int(space.n), dtype=np.int32, name=name)
    if isinstance(space, spaces.Box):
        shape = tuple(space.shape) if shape is None else tuple(shape)
        low, high = _bounds(space.low, shape), _bounds(space.high, shape)
        return specs.BoundedArray(shape, np.float32, low, high, name=name)
    raise errors.ConfigError(
        f"gymnax space {type(space).__name__} has no dm_env spec in rlkit; supported are "
        "Discrete and Box."
    )


class GymnaxEnvironment(AutoResetEnvironment):
    """A gymnax environment as a `JaxEnvironment` (see the module docstring).

    Args:
      name: the gymnax name, e.g. "CartPole-v1".
      environment: the gymnax environment.
      params: its parameters (`max_steps_in_episode` is ignored: see `max_episode_steps`).
      max_episode_steps: the time limit; `None` keeps gymnax's default for the environment.
    """

    def __init__(
        self, name: str, environment: Any, params: Any, max_episode_steps: int | None = None
    ):
        self.id = PREFIX + name
        self.max_episode_steps = int(
            params.max_steps_in_episode if max_episode_steps is None else max_episode_steps
        )
        self._environment = environment
        self._params = params.replace(max_steps_in_episode=_NO_LIMIT)
        observation = jax.eval_shape(self._reset_env, jax.random.PRNGKey(0))[1]
        # The spec describes what the environment produces, whatever its space declares.
        self._observation_spec = _space_to_spec(
            environment.observation_space(self._params), "observation", observation.shape
        )
        self._action_spec = _space_to_spec(environment.action_space(self._params), "action")

    @property
    def environment(self) -> Any:
        """The wrapped gymnax environment."""
        return self._environment

    def observation_spec(self) -> specs.BoundedArray:
        return self._observation_spec

    def action_spec(self) -> specs.Array:
        return self._action_spec

    def _reset_env(self, key: jax.Array) -> tuple[EnvState, jax.Array]:
        observation, state = self._environment.reset_env(key, self._params)
        return state, jnp.asarray(observation, jnp.float32)

    def _step_env(
        self, state: EnvState, action: types.NestedArray, key: jax.Array
    ) -> tuple[EnvState, jax.Array, jax.Array, jax.Array, jax.Array]:
        spec = self._action_spec
        # Gymnax's Pendulum takes a scalar or a (1,) action; gymnasium's, and so rlkit's, (1,).
        action = jnp.reshape(jnp.asarray(action, spec.dtype), spec.shape)
        observation, state, reward, done, _ = self._environment.step_env(
            key, state, action, self._params
        )
        truncated = state.time >= self.max_episode_steps
        reward = jnp.reshape(jnp.asarray(reward, jnp.float32), ())
        observation = jnp.asarray(observation, jnp.float32)
        return state, observation, reward, jnp.reshape(done, ()), truncated


def _split_kwargs(name: str, params: Any, kwargs: dict[str, Any]) -> tuple[dict, dict]:
    """`kwargs` as (parameter overrides, constructor keywords): gymnax puts physical
    constants (`gravity`, `max_torque`) in its `EnvParams` and options in the constructor."""
    fields = {field.name for field in dataclasses.fields(params)}
    if "max_steps_in_episode" in kwargs:
        raise errors.ConfigError(
            f"Set gymnax:{name}'s time limit with max_episode_steps=..., as for gymnasium "
            "environments (not max_steps_in_episode)."
        )
    overrides = {key: value for key, value in kwargs.items() if key in fields}
    return overrides, {key: value for key, value in kwargs.items() if key not in fields}


def _check_max_episode_steps(value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise errors.ConfigError(
            f"max_episode_steps must be a positive integer (the time limit), got {value!r}."
        )


class _Deferred(ModuleType):
    """A module that imports the real one at its first attribute access."""

    def __getattr__(self, attribute: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attribute)


# gymnax imports its renderers' libraries with every environment (about 2 s of a process's
# start-up); rlkit never renders through them, so they load only if something touches them.
_RENDERING_MODULES = ("matplotlib.pyplot", "seaborn")


def _import_gymnax() -> Any:
    deferred = {name: _Deferred(name) for name in _RENDERING_MODULES if name not in sys.modules}
    sys.modules.update(deferred)
    try:
        import gymnax
    except ImportError as error:
        raise errors.ConfigError(
            f"gymnax environments need the gymnax package, which is not installed ({error}). "
            "Install the extra: pip install 'rlkit-jax[gymnax]'."
        ) from error
    finally:
        for name, module in deferred.items():
            if sys.modules.get(name) is module:  # The real one, if imported meanwhile, stays.
                del sys.modules[name]
    return gymnax


def make_gymnax_environment(
    name: str, *, max_episode_steps: int | None = None, **kwargs
) -> GymnaxEnvironment:
    """The gymnax environment `name` (e.g. "CartPole-v1") as a `GymnaxEnvironment`.

    Args:
      name: one of `GYMNAX_ENVIRONMENTS`.
      max_episode_steps: the time limit (truncation); `None` keeps gymnax's default, which
        is gymnasium's for the classic-control environments.
      **kwargs: gymnax parameters (`gravity=9.8`) or constructor options
        (`use_minimal_action_set=False`).

    Raises:
      UnknownEnvironmentError: `name` is not one of `GYMNAX_ENVIRONMENTS`.
      ConfigError: gymnax is not installed, or a keyword the environment does not take.
    """
    check_jax_environment_id(PREFIX + name)
    _check_max_episode_steps(max_episode_steps)
    gymnax = _import_gymnax()
    _, default_params = gymnax.make(name)
    overrides, constructor_kwargs = _split_kwargs(name, default_params, kwargs)
    try:
        environment, params = gymnax.make(name, **constructor_kwargs)
    except TypeError as error:
        fields = ", ".join(field.name for field in dataclasses.fields(default_params))
        raise errors.ConfigError(
            f"gymnax:{name} does not take {', '.join(map(repr, constructor_kwargs))} ({error}). "
            f"Its parameters: {fields}, and max_episode_steps."
        ) from None
    return GymnaxEnvironment(name, environment, params.replace(**overrides), max_episode_steps)
