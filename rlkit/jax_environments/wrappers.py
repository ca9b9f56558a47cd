"""Wrappers of `JaxEnvironment`s: the recipes' changes, as pure functions too."""

from __future__ import annotations

from typing import Any

import dm_env
import jax
import jax.numpy as jnp
import numpy as np
from dm_env import specs

from rlkit import types
from rlkit.jax_environments.base import EnvState, JaxEnvironment


def _is_rescalable(spec: Any) -> bool:
    return (
        isinstance(spec, specs.BoundedArray)
        and np.issubdtype(np.dtype(spec.dtype), np.floating)
        and bool(np.all(np.isfinite(spec.minimum)))
        and bool(np.all(np.isfinite(spec.maximum)))
    )


class CanonicalActions(JaxEnvironment):
    """Presents every finite, bounded, floating-point action in [-1, 1] (the "continuous"
    recipe, as `rlkit.wrappers.CanonicalSpecWrapper` on the host): agents emit actions in
    [-1, 1] and they are mapped affinely onto the environment's bounds, clipped there
    against rounding. Discrete and unbounded actions pass unchanged."""

    def __init__(self, environment: JaxEnvironment):
        self._environment = environment
        self.id = environment.id
        self._inner_spec = environment.action_spec()

    @property
    def environment(self) -> JaxEnvironment:
        """The wrapped environment."""
        return self._environment

    def reset(self, key: jax.Array) -> tuple[EnvState, dm_env.TimeStep]:
        return self._environment.reset(key)

    def step(
        self, state: EnvState, action: types.NestedArray, key: jax.Array
    ) -> tuple[EnvState, dm_env.TimeStep]:
        return self._environment.step(state, self.inner_action(action), key)

    def inner_action(self, action: types.NestedArray) -> types.NestedArray:
        """`action` (in [-1, 1]) mapped onto the wrapped environment's bounds."""

        def scale(value: Any, spec: Any) -> Any:
            if not _is_rescalable(spec):
                return value
            value = jnp.asarray(value, spec.dtype)
            low, high = jnp.asarray(spec.minimum, spec.dtype), jnp.asarray(spec.maximum, spec.dtype)
            # Written so that huge finite bounds cannot overflow high - low.
            scaled = 0.5 * (1.0 - value) * low + 0.5 * (1.0 + value) * high
            return jnp.clip(scaled, low, high).astype(spec.dtype)

        return jax.tree.map(scale, action, self._inner_spec)

    def observation_spec(self) -> types.NestedSpec:
        return self._environment.observation_spec()

    def action_spec(self) -> types.NestedSpec:
        def canonical(spec: Any) -> Any:
            if not _is_rescalable(spec):
                return spec
            return specs.BoundedArray(spec.shape, spec.dtype, -1.0, 1.0, name=spec.name)

        return jax.tree.map(canonical, self._inner_spec)

    def reward_spec(self) -> types.NestedSpec:
        return self._environment.reward_spec()

    def discount_spec(self) -> types.NestedSpec:
        return self._environment.discount_spec()
