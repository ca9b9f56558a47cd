"""Item signatures: the structure, shapes and dtypes of what adders write."""

from __future__ import annotations

import dm_env
import numpy as np
import tree

from rlkit import specs, types
from rlkit.replay.adders import Step


def _array_spec(spec, leading: tuple[int, ...] = ()) -> dm_env.specs.Array:
    return dm_env.specs.Array(leading + tuple(spec.shape), np.dtype(spec.dtype))


def transition_signature(
    environment_spec: specs.EnvironmentSpec,
    transitions_per_item: int = 1,
    extras_spec: types.NestedSpec = (),
) -> types.Transition:
    """Signature of items holding `transitions_per_item` transitions each, stacked on axis 0."""
    leading = (transitions_per_item,)
    to_spec = lambda s: _array_spec(s, leading)  # noqa: E731
    observation = tree.map_structure(to_spec, environment_spec.observations)
    return types.Transition(
        observation=observation,
        action=tree.map_structure(to_spec, environment_spec.actions),
        reward=tree.map_structure(to_spec, environment_spec.rewards),
        discount=tree.map_structure(to_spec, environment_spec.discounts),
        next_observation=observation,
        extras=tree.map_structure(to_spec, extras_spec),
    )


def step_signature(
    environment_spec: specs.EnvironmentSpec,
    sequence_length: int,
    extras_spec: types.NestedSpec = (),
):
    """Signature of sequence / episode items: `Step` fields stacked over time."""
    leading = (sequence_length,)
    to_spec = lambda s: _array_spec(s, leading)  # noqa: E731
    return Step(
        observation=tree.map_structure(to_spec, environment_spec.observations),
        action=tree.map_structure(to_spec, environment_spec.actions),
        reward=tree.map_structure(to_spec, environment_spec.rewards),
        discount=tree.map_structure(to_spec, environment_spec.discounts),
        start_of_episode=dm_env.specs.Array(leading, np.bool_),
        extras=tree.map_structure(to_spec, extras_spec),
    )
