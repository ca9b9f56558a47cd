"""Environments written in JAX, with the same dm_env semantics as rlkit's host environments.

A `JaxEnvironment` is one environment as two pure functions, `reset(key)` and
`step(state, action, key)`, each returning the new state and a `dm_env.TimeStep` of arrays.
Both trace under `jax.jit`, `jax.vmap` and `jax.lax.scan`, so a batch of environments is
`jax.vmap(env.step)(states, actions, keys)` and acting, stepping and learning can be compiled
together (the Anakin layout). The timesteps keep exactly the contract `GymWrapper` and
`VectorGymWrapper` keep on the host:

- `reset` gives `FIRST`, reward 0, discount 1;
- `step` gives `MID`; or `LAST` with discount 0 when the episode terminated; or `LAST` with
  discount 1 when it was truncated (time limit), carrying the true final observation so that
  the learner bootstraps from it;
- the step after a `LAST` one starts a new episode from `key`: `FIRST`, reward 0, discount 1,
  and the action is ignored (the batched stand-ins for dm_env's `None`, as on the host).

`step_type` is an int8 array of `dm_env.StepType` values; reward and discount are float32.
"""

from __future__ import annotations

import abc
from typing import Any, NamedTuple

import dm_env
import jax
import jax.numpy as jnp
import numpy as np
from dm_env import specs

from rlkit import _xla_setup, types

# As rlkit.jax does: before any JAX code here starts the backend.
_xla_setup.prefer_inline_cpu_dispatch()
_xla_setup.use_persistent_compilation_cache()

EnvState = Any  # A pytree of arrays: whatever one environment needs to carry between steps.

FIRST, MID, LAST = (np.int8(step_type) for step_type in dm_env.StepType)


class JaxEnvironment(abc.ABC):
    """A single environment written in JAX: pure, jittable and vmappable `reset` and `step`.

    Specs describe one (unbatched) environment; a caller batches with `jax.vmap`. `id` is the
    full id it was made from (e.g. "gymnax:CartPole-v1"). Actions must lie within
    `action_spec()`: a traced function cannot raise, so an out-of-spec action is the
    caller's error (`JaxEnvironmentWrapper` checks them on the host).
    """

    id: str = ""

    @abc.abstractmethod
    def reset(self, key: jax.Array) -> tuple[EnvState, dm_env.TimeStep]:
        """Starts an episode: the state and a `FIRST` timestep."""

    @abc.abstractmethod
    def step(
        self, state: EnvState, action: types.NestedArray, key: jax.Array
    ) -> tuple[EnvState, dm_env.TimeStep]:
        """Advances one step (or starts a new episode after `LAST`, ignoring `action`)."""

    @abc.abstractmethod
    def observation_spec(self) -> types.NestedSpec:
        """The observation spec of one environment."""

    @abc.abstractmethod
    def action_spec(self) -> types.NestedSpec:
        """The action spec of one environment."""

    def reward_spec(self) -> specs.Array:
        return specs.Array((), np.float32, name="reward")

    def discount_spec(self) -> specs.BoundedArray:
        return specs.BoundedArray((), np.float32, 0.0, 1.0, name="discount")


class JaxEnvironmentState(NamedTuple):
    """What `AutoResetEnvironment` carries: the inner environment's state, and whether the
    last timestep was `LAST` (then the next `step` starts a new episode)."""

    inner: EnvState
    last: jax.Array  # bool scalar


def _select(condition: jax.Array, on_reset: Any, on_step: Any) -> Any:
    """`on_reset` where `condition`, else `on_step`, leaf by leaf (traced, so vmappable), in
    `on_reset`'s dtypes: a stepped state then has exactly the types `reset` gives."""
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b).astype(a.dtype), on_reset, on_step)


def strong_types(tree: Any) -> Any:
    """Every leaf as an array of a fixed dtype, Python scalars included: `reset` and `step`
    then return states of identical types, as a `lax.scan` carry must have."""
    return jax.tree.map(lambda leaf: jnp.asarray(leaf, dtype=jnp.asarray(leaf).dtype), tree)


class AutoResetEnvironment(JaxEnvironment):
    """The dm_env logic of a `JaxEnvironment` over two simpler pieces a subclass supplies.

    `_reset_env(key) -> (inner_state, observation)` starts an episode;
    `_step_env(inner_state, action, key) -> (inner_state, observation, reward, terminated,
    truncated)` advances one without resetting. This class turns them into timesteps, keeps
    whether the last one was `LAST`, and resets on the step after it. Where both
    `terminated` and `truncated` hold, termination wins (discount 0), as in gymnasium.
    """

    @abc.abstractmethod
    def _reset_env(self, key: jax.Array) -> tuple[EnvState, types.NestedArray]:
        """Starts an episode: the inner state and the first observation."""

    @abc.abstractmethod
    def _step_env(
        self, state: EnvState, action: types.NestedArray, key: jax.Array
    ) -> tuple[EnvState, types.NestedArray, jax.Array, jax.Array, jax.Array]:
        """One step from a running episode: (state, observation, reward, terminated,
        truncated), never resetting."""

    def reset(self, key: jax.Array) -> tuple[JaxEnvironmentState, dm_env.TimeStep]:
        inner, observation = strong_types(self._reset_env(key))
        timestep = dm_env.TimeStep(
            jnp.asarray(FIRST, jnp.int8),
            jnp.zeros((), jnp.float32),
            jnp.ones((), jnp.float32),
            observation,
        )
        return JaxEnvironmentState(inner, jnp.zeros((), bool)), timestep

    def step(
        self, state: JaxEnvironmentState, action: types.NestedArray, key: jax.Array
    ) -> tuple[JaxEnvironmentState, dm_env.TimeStep]:
        # Both branches are computed and one is selected: under vmap a `lax.cond` would run
        # both anyway. The same key serves both, since only one branch's result survives;
        # a restart from `key` is then exactly `reset(key)`.
        reset_inner, reset_observation = strong_types(self._reset_env(key))
        inner, observation, reward, terminated, truncated = self._step_env(state.inner, action, key)
        restart = state.last
        terminated = jnp.asarray(terminated, bool) & ~restart
        ended = (terminated | jnp.asarray(truncated, bool)) & ~restart
        step_type = jnp.where(restart, FIRST, jnp.where(ended, LAST, MID)).astype(jnp.int8)
        timestep = dm_env.TimeStep(
            step_type,
            jnp.where(restart, 0.0, reward).astype(jnp.float32),
            jnp.where(terminated, 0.0, 1.0).astype(jnp.float32),
            _select(restart, reset_observation, observation),
        )
        inner = _select(restart, reset_inner, inner)
        return JaxEnvironmentState(inner, ended), timestep
