"""Casts 64-bit observations, rewards and discounts to 32 bits (what JAX computes in)."""

from __future__ import annotations

import dm_env
import numpy as np
import tree
from dm_env import specs

from rlkit import specs as specs_lib
from rlkit.wrappers.base import EnvironmentWrapper

_NARROW = {np.dtype(np.float64): np.float32, np.dtype(np.int64): np.int32}


def _narrow_spec(spec):
    dtype = _NARROW.get(np.dtype(spec.dtype))
    if dtype is None:
        return spec
    if isinstance(spec, specs.DiscreteArray):
        return specs.DiscreteArray(spec.num_values, dtype=dtype, name=spec.name)
    if isinstance(spec, specs.BoundedArray):
        minimum = np.asarray(spec.minimum)
        maximum = np.asarray(spec.maximum)
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            low = np.clip(minimum, info.min, info.max).astype(dtype)
            high = np.clip(maximum, info.min, info.max).astype(dtype)
            return specs.BoundedArray(spec.shape, dtype, low, high, name=spec.name)
        # Round bounds inwards: a value at the advertised bound must be valid for the inner env.
        low, high = minimum.astype(dtype), maximum.astype(dtype)
        low = np.where(low < minimum, np.nextafter(low, dtype(np.inf)), low).astype(dtype)
        high = np.where(high > maximum, np.nextafter(high, dtype(-np.inf)), high).astype(dtype)
        return specs.BoundedArray(spec.shape, dtype, low, high, name=spec.name)
    return specs.Array(spec.shape, dtype, name=spec.name)


def _make_caster(spec):
    """A function casting values of `spec` to the narrowed dtypes (identity when unchanged)."""
    if not any(np.dtype(s.dtype) in _NARROW for s in tree.flatten(spec)):
        return lambda value: value
    return specs_lib.make_caster(tree.map_structure(_narrow_spec, spec))


class SinglePrecisionWrapper(EnvironmentWrapper):
    """float64 -> float32 and int64 -> int32 for observations, rewards and discounts.

    Actions pass through unchanged: the action spec keeps the inner dtypes' values but is
    advertised in 32 bits, and the inner environment casts what it receives.
    """

    def __init__(self, environment: dm_env.Environment):
        super().__init__(environment)
        self._observation_spec = tree.map_structure(_narrow_spec, environment.observation_spec())
        self._action_spec = tree.map_structure(_narrow_spec, environment.action_spec())
        self._reward_spec = tree.map_structure(_narrow_spec, environment.reward_spec())
        self._discount_spec = tree.map_structure(_narrow_spec, environment.discount_spec())
        self._cast_observation = _make_caster(environment.observation_spec())
        self._cast_reward = _make_caster(environment.reward_spec())
        self._cast_discount = _make_caster(environment.discount_spec())

    def _convert(self, timestep: dm_env.TimeStep) -> dm_env.TimeStep:
        return dm_env.TimeStep(
            timestep.step_type,
            None if timestep.reward is None else self._cast_reward(timestep.reward),
            None if timestep.discount is None else self._cast_discount(timestep.discount),
            self._cast_observation(timestep.observation),
        )

    def reset(self, **kwargs) -> dm_env.TimeStep:
        return self._convert(self._environment.reset(**kwargs))

    def step(self, action) -> dm_env.TimeStep:
        return self._convert(self._environment.step(action))

    def observation_spec(self):
        return self._observation_spec

    def action_spec(self):
        return self._action_spec

    def reward_spec(self):
        return self._reward_spec

    def discount_spec(self):
        return self._discount_spec
