"""Network building blocks (haiku) and the pure-function network container."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import tree
from dm_env import specs as dm_specs

from rlkit import types


class FeedForwardNetwork(NamedTuple):
    """A pair of pure functions: `init(key) -> params`, `apply(params, *inputs) -> outputs`."""

    init: Callable[..., types.Params]
    apply: Callable[..., types.NestedArray]


class MLP(hk.Module):
    """A multi-layer perceptron over flattened inputs; no activation after the last layer."""

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
        activate_final: bool = False,
        name: str | None = None,
    ):
        super().__init__(name=name)
        self._mlp = hk.nets.MLP(
            list(layer_sizes),
            activation=activation,
            activate_final=activate_final,
            w_init=hk.initializers.VarianceScaling(1.0, "fan_avg", "uniform"),
        )

    def __call__(self, inputs: jax.Array) -> jax.Array:
        return self._mlp(batch_flatten(inputs))


class DuelingMLP(hk.Module):
    """Dueling Q head (Wang et al. 2016): Q = V + A - mean(A), over an MLP torso."""

    def __init__(self, num_actions: int, hidden_sizes: Sequence[int], name: str | None = None):
        super().__init__(name=name)
        self._num_actions = num_actions
        self._hidden_sizes = list(hidden_sizes)

    def __call__(self, inputs: jax.Array) -> jax.Array:
        torso = MLP(self._hidden_sizes, activate_final=True, name="torso")(inputs)
        value = hk.Linear(1, name="value")(torso)
        advantages = hk.Linear(self._num_actions, name="advantages")(torso)
        return value + advantages - jnp.mean(advantages, axis=-1, keepdims=True)


def batch_flatten(inputs: types.NestedArray) -> jax.Array:
    """Flattens and concatenates a nest of [B, ...] arrays into one [B, D] float array."""
    leaves = jax.tree_util.tree_leaves(inputs)
    flat = [jnp.reshape(x, (x.shape[0], -1)).astype(jnp.float32) for x in leaves]
    return flat[0] if len(flat) == 1 else jnp.concatenate(flat, axis=-1)


def make_observation_encoder(observation_spec) -> Callable[[types.NestedArray], jax.Array]:
    """`observations [B, ...] -> features [B, D]`: discrete ones one-hot, the rest flattened.

    A discrete observation (a `DiscreteArray`, e.g. FrozenLake's state index) is a category,
    not a magnitude; feeding its index to a linear layer would make neighbouring states look
    alike. Every other leaf is cast to float32 and flattened; leaves are concatenated.
    """
    spec_leaves = tree.flatten(observation_spec)

    def encode(observations: types.NestedArray) -> jax.Array:
        features = []
        for spec, x in zip(spec_leaves, tree.flatten(observations), strict=True):
            x = jnp.asarray(x)
            if isinstance(spec, dm_specs.DiscreteArray):
                x = jax.nn.one_hot(x, spec.num_values)
            features.append(jnp.reshape(x, (x.shape[0], -1)).astype(jnp.float32))
        return features[0] if len(features) == 1 else jnp.concatenate(features, axis=-1)

    return encode


def add_batch_dim(nest: types.NestedArray) -> types.NestedArray:
    return jax.tree_util.tree_map(lambda x: jnp.expand_dims(x, 0), nest)


def zeros_like_spec(spec_nest, batch: int | None = None) -> types.NestedArray:
    """Dummy inputs for `init`: zeros shaped like the spec (with an optional batch axis)."""
    leading = () if batch is None else (batch,)
    return jax.tree_util.tree_map(lambda s: jnp.zeros(leading + tuple(s.shape), s.dtype), spec_nest)
