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


def _scale_pixels(inputs: jax.Array) -> jax.Array:
    """uint8 (or other integer) pixels to float32 in [0, 1]; floats pass unchanged."""
    inputs = jnp.asarray(inputs)
    if jnp.issubdtype(inputs.dtype, jnp.integer):
        return inputs.astype(jnp.float32) / 255.0
    return inputs


class NatureDQNTorso(hk.Module):
    """The DQN Atari torso (Mnih et al. 2015): `[B, H, W, C]` frames to `[B, 512]` features.

    Convolutions 32 8x8 stride 4, 64 4x4 stride 2 and 64 3x3 stride 1 ("VALID" padding, ReLU
    after each), flatten, then a 512-unit linear layer with ReLU (`hidden_size=None`: none,
    for a head with its own layers). Integer (uint8) pixels are
    scaled by 1/255; float inputs are used as given. On `[B, 84, 84, 4]` frames (rlkit's
    Atari wrapper) the convolutions give `[B, 7, 7, 64]`, 3136 features.
    """

    def __init__(self, hidden_size: int | None = 512, name: str | None = None):
        super().__init__(name=name)
        self._hidden_size = hidden_size

    def __call__(self, inputs: jax.Array) -> jax.Array:
        x = _scale_pixels(inputs)
        for channels, kernel, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
            x = jax.nn.relu(hk.Conv2D(channels, kernel, stride=stride, padding="VALID")(x))
        x = hk.Flatten()(x)
        if self._hidden_size is None:  # The convolutional features (a head adds its own).
            return x
        return jax.nn.relu(hk.Linear(self._hidden_size)(x))


class _ImpalaResidualBlock(hk.Module):
    def __call__(self, inputs: jax.Array) -> jax.Array:
        channels = inputs.shape[-1]
        x = hk.Conv2D(channels, 3, padding="SAME")(jax.nn.relu(inputs))
        x = hk.Conv2D(channels, 3, padding="SAME")(jax.nn.relu(x))
        return inputs + x


class ImpalaTorso(hk.Module):
    """IMPALA's residual torso (Espeholt et al. 2018): `[B, H, W, C]` to `[B, 256]` features.

    Three sections of (16, 32, 32) channels, each a 3x3 convolution, a 3x3 max-pool with
    stride 2 and two residual blocks (`x + conv(relu(conv(relu(x))))`); then ReLU, flatten and
    a 256-unit linear layer with ReLU (`hidden_size=None`: none). Integer (uint8) pixels are
    scaled by 1/255. On `[B, 84, 84, 4]` frames the sections give `[B, 11, 11, 32]`, 3872 features.
    """

    def __init__(
        self,
        channels: Sequence[int] = (16, 32, 32),
        num_blocks: int = 2,
        hidden_size: int | None = 256,
        name: str | None = None,
    ):
        super().__init__(name=name)
        self._channels = tuple(channels)
        self._num_blocks = num_blocks
        self._hidden_size = hidden_size

    def __call__(self, inputs: jax.Array) -> jax.Array:
        x = _scale_pixels(inputs)
        for channels in self._channels:
            x = hk.Conv2D(channels, 3, padding="SAME")(x)
            x = hk.MaxPool(window_shape=3, strides=2, padding="SAME")(x)
            for _ in range(self._num_blocks):
                x = _ImpalaResidualBlock()(x)
        x = hk.Flatten()(jax.nn.relu(x))
        if self._hidden_size is None:
            return x
        return jax.nn.relu(hk.Linear(self._hidden_size)(x))
