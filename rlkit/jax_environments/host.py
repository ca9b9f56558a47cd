"""A `JaxEnvironment` as a host-side `dm_env.Environment`, for rlkit's `EnvironmentLoop`.

`rlkit eval`, `rlkit play` and the dm_env conformance tests then run JAX environments through
the same machinery as gymnasium ones, one jitted `reset` or `step` per call.
"""

from __future__ import annotations

from typing import Any

import dm_env
import jax
import numpy as np

from rlkit import types
from rlkit.jax_environments.base import JaxEnvironment
from rlkit.wrappers.gym_wrapper import make_action_validator


def _make_key(seed: int | None) -> jax.Array:
    if seed is None:  # Fresh entropy, as gymnasium draws for an unseeded reset.
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    return jax.random.PRNGKey(seed)


class _HostEnvironment(dm_env.Environment):
    """What both host adapters share: the wrapped environment's specs (of one copy)."""

    _environment: JaxEnvironment

    @property
    def environment(self) -> JaxEnvironment:
        """The wrapped JAX environment."""
        return self._environment

    def observation_spec(self) -> types.NestedSpec:
        return self._environment.observation_spec()

    def action_spec(self) -> types.NestedSpec:
        return self._environment.action_spec()

    def reward_spec(self) -> types.NestedSpec:
        return self._environment.reward_spec()

    def discount_spec(self) -> types.NestedSpec:
        return self._environment.discount_spec()


class JaxEnvironmentWrapper(_HostEnvironment):
    """Presents a `JaxEnvironment` as a `dm_env.Environment` with numpy timesteps.

    Timesteps are what rlkit's host environments give: `step_type` a `dm_env.StepType`, the
    `FIRST` step's reward and discount `None`, and otherwise 0-d float32 arrays. As dm_env
    asks, `step` on a fresh environment or after a `LAST` step starts a new episode and
    ignores the action; any other action outside the action spec raises
    `InvalidActionError`.

    Args:
      environment: the JAX environment (e.g. `make_jax_environment("gymnax:CartPole-v1")`).
      seed: seeds the environment's PRNG key; the same seed reproduces the same episodes.
    """

    def __init__(self, environment: JaxEnvironment, seed: int | None = None):
        self._environment = environment
        self._key = _make_key(seed)
        self._action_dtypes = jax.tree.map(lambda spec: spec.dtype, environment.action_spec())
        self._validate_action = make_action_validator(environment.action_spec())
        self._reset = jax.jit(self._reset_and_split)
        self._step = jax.jit(self._step_and_split)
        self._state: Any = None
        self._needs_reset = True

    def _reset_and_split(self, key: jax.Array):
        key, reset_key = jax.random.split(key)
        state, timestep = self._environment.reset(reset_key)
        return state, timestep.observation, key

    def _step_and_split(self, state: Any, action: types.NestedArray, key: jax.Array):
        key, step_key = jax.random.split(key)
        state, timestep = self._environment.step(state, action, step_key)
        return state, timestep, key

    @property
    def id(self) -> str:
        """The JAX environment's id, e.g. "gymnax:CartPole-v1"."""
        return self._environment.id

    def reset(self, seed: int | None = None) -> dm_env.TimeStep:
        """Starts a new episode; `seed` reseeds the environment's key first."""
        if seed is not None:
            self._key = _make_key(seed)
        self._state, observation, self._key = self._reset(self._key)
        self._needs_reset = False
        return dm_env.restart(jax.device_get(observation))

    def step(self, action: types.NestedArray) -> dm_env.TimeStep:
        if self._needs_reset:  # dm_env: a fresh env or one after LAST ignores the action.
            return self.reset()
        self._validate_action(action)
        action = jax.tree.map(np.asarray, action, self._action_dtypes)
        self._state, timestep, self._key = self._step(self._state, action, self._key)
        step_type, reward, discount, observation = jax.device_get(timestep)
        step_type = dm_env.StepType(int(step_type))
        self._needs_reset = step_type is dm_env.StepType.LAST
        return dm_env.TimeStep(step_type, reward, discount, observation)


class JaxVectorEnvironmentWrapper(_HostEnvironment):
    """`num_envs` copies of a `JaxEnvironment` as one batched `dm_env.Environment`, stepped
    by one jitted, vmapped call: the contract of `rlkit.wrappers.VectorGymWrapper` (leading
    axis N on every field; the step after a sub-environment's `LAST` is its `FIRST`, reward 0
    and discount 1, its action ignored), which a JAX environment keeps by itself. For the
    local layout of agents that act in batches (PPO's `num_envs`) on a JAX environment.

    Args:
      environment: the JAX environment.
      num_envs: how many copies.
      seed: seeds the copies' PRNG keys; the same seed reproduces the same episodes.
    """

    def __init__(self, environment: JaxEnvironment, num_envs: int, seed: int | None = None):
        self._environment = environment
        self.num_envs = num_envs
        self._key = _make_key(seed)
        self._action_dtypes = jax.tree.map(lambda spec: spec.dtype, environment.action_spec())
        self._validate_actions = make_action_validator(
            environment.action_spec(), "actions", (num_envs,)
        )
        self._reset = jax.jit(self._reset_all)
        self._step = jax.jit(self._step_all)
        self._state: Any = None

    def _reset_all(self, key: jax.Array):
        key, reset_key = jax.random.split(key)
        keys = jax.random.split(reset_key, self.num_envs)
        state, timestep = jax.vmap(self._environment.reset)(keys)
        return state, timestep, key

    def _step_all(self, state: Any, actions: types.NestedArray, key: jax.Array):
        key, step_key = jax.random.split(key)
        keys = jax.random.split(step_key, self.num_envs)
        state, timestep = jax.vmap(self._environment.step)(state, actions, keys)
        return state, timestep, key

    def reset(self, seed: int | None = None) -> dm_env.TimeStep:
        """Starts new episodes in every copy; `seed` reseeds the key first."""
        if seed is not None:
            self._key = _make_key(seed)
        self._state, timestep, self._key = self._reset(self._key)
        return jax.device_get(timestep)

    def step(self, actions: types.NestedArray) -> dm_env.TimeStep:
        if self._state is None:  # dm_env: a fresh environment resets, ignoring the actions.
            return self.reset()
        self._validate_actions(actions)
        actions = jax.tree.map(np.asarray, actions, self._action_dtypes)
        self._state, timestep, self._key = self._step(self._state, actions, self._key)
        return jax.device_get(timestep)
