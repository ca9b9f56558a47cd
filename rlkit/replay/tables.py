"""Reverb table factories and signatures."""

from __future__ import annotations

import sys

import numpy as np
import reverb
import tensorflow as tf
import tree

from rlkit import specs, types


def _tensor_spec(spec, leading: tuple[int, ...] = ()) -> tf.TensorSpec:
    return tf.TensorSpec(leading + tuple(spec.shape), tf.as_dtype(np.dtype(spec.dtype)))


def transition_signature(
    environment_spec: specs.EnvironmentSpec,
    transitions_per_item: int = 1,
    extras_spec: types.NestedSpec = (),
) -> types.Transition:
    """Signature of items holding `transitions_per_item` transitions each, stacked on axis 0."""
    leading = (transitions_per_item,)
    to_spec = lambda s: _tensor_spec(s, leading)  # noqa: E731
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
    from rlkit.replay.adders import Step  # Avoid a cycle: adders import tables.

    leading = (sequence_length,)
    to_spec = lambda s: _tensor_spec(s, leading)  # noqa: E731
    return Step(
        observation=tree.map_structure(to_spec, environment_spec.observations),
        action=tree.map_structure(to_spec, environment_spec.actions),
        reward=tree.map_structure(to_spec, environment_spec.rewards),
        discount=tree.map_structure(to_spec, environment_spec.discounts),
        start_of_episode=tf.TensorSpec(leading, tf.bool),
        extras=tree.map_structure(to_spec, extras_spec),
    )


def sample_to_insert_limiter(
    samples_per_insert: float,
    min_size_to_sample: int,
    error_buffer: float,
    block_inserts: bool = True,
) -> reverb.rate_limiters.RateLimiter:
    """Reverb's `SampleToInsertRatio`, optionally never blocking inserts.

    In one process the actor and learner share a thread: if an insert ever blocked waiting
    for samples, nothing could sample and the run would hang. There `block_inserts=False`
    keeps the sample side gated (no sampling ahead of the ratio) and lets inserts through;
    the agent then schedules learner steps so samples keep up (see `rlkit.agent.Agent`).
    """
    if samples_per_insert <= 0:
        raise ValueError(f"samples_per_insert must be positive, got {samples_per_insert}.")
    if block_inserts:
        return reverb.rate_limiters.SampleToInsertRatio(
            samples_per_insert=samples_per_insert,
            min_size_to_sample=min_size_to_sample,
            error_buffer=error_buffer,
        )
    offset = samples_per_insert * min_size_to_sample
    return reverb.rate_limiters.RateLimiter(
        samples_per_insert=samples_per_insert,
        min_size_to_sample=min_size_to_sample,
        min_diff=offset - error_buffer,
        max_diff=sys.float_info.max,
    )


def uniform_table(
    name: str,
    max_size: int,
    rate_limiter: reverb.rate_limiters.RateLimiter,
    signature=None,
) -> reverb.Table:
    """A FIFO-evicting table sampled uniformly (standard experience replay)."""
    return reverb.Table(
        name=name,
        sampler=reverb.selectors.Uniform(),
        remover=reverb.selectors.Fifo(),
        max_size=max_size,
        rate_limiter=rate_limiter,
        signature=signature,
    )


def prioritized_table(
    name: str,
    max_size: int,
    rate_limiter: reverb.rate_limiters.RateLimiter,
    priority_exponent: float = 0.6,
    signature=None,
) -> reverb.Table:
    """A FIFO-evicting table sampled in proportion to priority ** `priority_exponent`."""
    return reverb.Table(
        name=name,
        sampler=reverb.selectors.Prioritized(priority_exponent),
        remover=reverb.selectors.Fifo(),
        max_size=max_size,
        rate_limiter=rate_limiter,
        signature=signature,
    )


def queue_table(name: str, max_size: int, signature=None) -> reverb.Table:
    """A FIFO queue: every item is sampled exactly once (on-policy agents)."""
    return reverb.Table.queue(name=name, max_size=max_size, signature=signature)
