"""Environment specs: the shapes and types an agent is built for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import dm_env
import numpy as np

from rlkit import types


class EnvironmentSpec(NamedTuple):
    """Full specification of an environment's interface (as in Acme)."""

    observations: types.NestedSpec
    actions: types.NestedSpec
    rewards: types.NestedSpec
    discounts: types.NestedSpec


def make_environment_spec(environment: dm_env.Environment) -> EnvironmentSpec:
    """Returns the `EnvironmentSpec` of a dm_env environment."""
    return EnvironmentSpec(
        observations=environment.observation_spec(),
        actions=environment.action_spec(),
        rewards=environment.reward_spec(),
        discounts=environment.discount_spec(),
    )


def make_caster(spec: types.NestedSpec) -> Callable[[Any], types.NestedArray]:
    """Returns a function casting a (nested) value to the spec's dtypes, built once per spec."""
    if isinstance(spec, dict):
        casters = {key: make_caster(sub) for key, sub in spec.items()}
        return lambda value: {key: cast(value[key]) for key, cast in casters.items()}
    if isinstance(spec, tuple | list):
        casters = [make_caster(sub) for sub in spec]
        return lambda value: tuple(cast(v) for cast, v in zip(casters, value, strict=True))
    dtype = np.dtype(spec.dtype)
    return lambda value: np.asarray(value, dtype=dtype)
