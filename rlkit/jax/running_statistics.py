"""Running mean and variance of a nest of arrays, for normalising observations and rewards.

`RunningStatistics` is a pytree (it lives in a learner's state, is saved in checkpoints and
is served to actors with the policy); `update` folds in a batch with Chan et al.'s parallel
algorithm, so the statistics equal those of every sample seen so far in one pass, whatever
the batch sizes. Integer leaves (images, counts) are left as they are by `normalize`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rlkit import types


class RunningStatistics(NamedTuple):
    """Count, mean and (population) variance of the samples seen so far, per element of
    each leaf. `count` is a float scalar: it stays exact up to 2^24 samples a batch in
    float32 and is summed in float32 after that."""

    count: jax.Array
    mean: types.NestedArray
    variance: types.NestedArray


def _is_float(leaf: Any) -> bool:
    return jnp.issubdtype(leaf.dtype, jnp.floating)


def init_state(like: types.NestedSpec) -> RunningStatistics:
    """Statistics of no samples (mean 0, variance 1) shaped as one sample of `like` (specs or
    arrays): float32 whatever the leaf's dtype."""
    zeros = jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape, jnp.float32), like)
    ones = jax.tree_util.tree_map(lambda x: jnp.ones(x.shape, jnp.float32), like)
    return RunningStatistics(jnp.zeros((), jnp.float32), zeros, ones)


def update(
    state: RunningStatistics, batch: types.NestedArray, weights: jax.Array | None = None
) -> RunningStatistics:
    """`state` with the samples of `batch` folded in. Each leaf of `batch` is [*B, *shape]
    (B: any number of leading batch axes, the same for all leaves); `weights` [*B] (0 or 1)
    leaves samples out."""
    first = jax.tree_util.tree_leaves(batch)[0]
    sample_ndim = jax.tree_util.tree_leaves(state.mean)[0].ndim
    batch_shape = first.shape[: first.ndim - sample_ndim]
    if weights is None:
        weights = jnp.ones(batch_shape, jnp.float32)
    weights = weights.astype(jnp.float32)
    batch_count = jnp.sum(weights)
    count = state.count + batch_count
    # An empty batch leaves the statistics as they are (no 0/0).
    new_fraction = batch_count / jnp.maximum(count, 1.0)
    axes = tuple(range(len(batch_shape)))

    def fold(mean, variance, samples):
        samples = samples.astype(jnp.float32)
        w = weights.reshape(batch_shape + (1,) * (samples.ndim - len(batch_shape)))
        batch_mean = jnp.sum(samples * w, axis=axes) / jnp.maximum(batch_count, 1.0)
        batch_variance = jnp.sum(w * (samples - batch_mean) ** 2, axis=axes) / jnp.maximum(
            batch_count, 1.0
        )
        delta = batch_mean - mean
        new_mean = mean + delta * new_fraction
        # Chan et al.: M2 = M2_a + M2_b + delta^2 * n_a * n_b / n, divided by n.
        new_variance = (
            variance * (1.0 - new_fraction)
            + batch_variance * new_fraction
            + delta**2 * new_fraction * (1.0 - new_fraction)
        )
        # Before the first sample, the prior variance of 1 is what `normalize` divides by.
        return new_mean, jnp.where(count > 0, new_variance, variance)

    means, structure = jax.tree_util.tree_flatten(state.mean)
    folded = [
        fold(mean, variance, samples)
        for mean, variance, samples in zip(
            means,
            structure.flatten_up_to(state.variance),
            structure.flatten_up_to(batch),
            strict=True,
        )
    ]
    return RunningStatistics(
        count,
        jax.tree_util.tree_unflatten(structure, [mean for mean, _ in folded]),
        jax.tree_util.tree_unflatten(structure, [variance for _, variance in folded]),
    )


def normalize(
    state: RunningStatistics,
    batch: types.NestedArray,
    clip: float | None = None,
    epsilon: float = 1e-8,
) -> types.NestedArray:
    """`(x - mean) / sqrt(variance + epsilon)` on each float leaf, clipped to [-clip, clip]
    when asked (Stable-Baselines3's VecNormalize); integer leaves pass unchanged."""

    def one(samples, mean, variance):
        if not _is_float(samples):
            return samples
        normalized = (samples - mean) / jnp.sqrt(variance + epsilon)
        if clip is not None:
            normalized = jnp.clip(normalized, -clip, clip)
        return normalized.astype(samples.dtype)

    return jax.tree_util.tree_map(one, batch, state.mean, state.variance)


def scale(
    state: RunningStatistics, x: jax.Array, clip: float | None = None, epsilon: float = 1e-8
) -> jax.Array:
    """`x / sqrt(variance + epsilon)` (no centring: reward scaling), clipped when asked;
    `state` holds scalar statistics."""
    scaled = x / jnp.sqrt(state.variance + epsilon)
    return scaled if clip is None else jnp.clip(scaled, -clip, clip)
