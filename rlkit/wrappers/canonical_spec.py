"""Rescales bounded continuous actions to [-1, 1]."""

from __future__ import annotations

import dm_env
import numpy as np
import tree
from dm_env import specs

from rlkit.wrappers.base import EnvironmentWrapper


def _is_rescalable(spec) -> bool:
    return (
        isinstance(spec, specs.BoundedArray)
        and np.issubdtype(np.dtype(spec.dtype), np.floating)
        and np.all(np.isfinite(spec.minimum))
        and np.all(np.isfinite(spec.maximum))
    )


class CanonicalSpecWrapper(EnvironmentWrapper):
    """Presents every finite, bounded, floating-point action in [-1, 1].

    Agents emit actions in [-1, 1] (e.g. through tanh); this wrapper maps them affinely onto
    the environment's bounds. With `clip=True`, out-of-range actions are clipped first instead
    of being rejected by the inner environment. Discrete and unbounded actions pass unchanged.
    """

    def __init__(self, environment: dm_env.Environment, clip: bool = False):
        super().__init__(environment)
        self._clip = clip
        self._inner_spec = environment.action_spec()
        self._action_spec = tree.map_structure(self._canonical_spec, self._inner_spec)
        # Discrete (or unbounded) actions pass through without a walk of the nest per step.
        self._rescales = any(_is_rescalable(spec) for spec in tree.flatten(self._inner_spec))

    @staticmethod
    def _canonical_spec(spec):
        if not _is_rescalable(spec):
            return spec
        return specs.BoundedArray(spec.shape, spec.dtype, -1.0, 1.0, name=spec.name)

    def _scale(self, action, spec):
        if not _is_rescalable(spec):
            return action
        action = np.asarray(action, dtype=spec.dtype)
        if self._clip:
            action = np.clip(action, -1.0, 1.0)
        low, high = spec.minimum, spec.maximum
        # Written so that huge finite bounds (e.g. +/- float32 max) cannot overflow high - low.
        scaled = 0.5 * (1.0 - action) * low + 0.5 * (1.0 + action) * high
        # Rounding can step a hair outside [low, high]; never hand the env an invalid action.
        inside = np.all(action >= -1.0) and np.all(action <= 1.0)
        return np.clip(scaled, low, high).astype(spec.dtype) if inside else scaled

    def inner_action(self, action):
        """`action` (in [-1, 1]) mapped onto the wrapped environment's bounds, as `step` passes
        it on. Works on a batch of actions too (a leading axis on every leaf)."""
        if not self._rescales:
            return action
        return tree.map_structure(self._scale, action, self._inner_spec)

    def step(self, action) -> dm_env.TimeStep:
        return self._environment.step(self.inner_action(action))

    def action_spec(self):
        return self._action_spec
