"""Environment specs: the shapes and types an agent is built for."""

from __future__ import annotations

from typing import NamedTuple

import dm_env

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
