"""The tanh-squashed diagonal Gaussian: SAC's policy distribution, as pure functions.

An action is `tanh(u)` with `u ~ N(mean, exp(log_std)^2)` per dimension, so it lies in
(-1, 1). Its log-density is the Gaussian's at `u` minus the log-Jacobian of tanh,
`log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))`, written in that form because
`1 - tanh(u)^2` rounds to 0 in float32 for |u| beyond about 9. Written here rather than
through distrax: these few lines run inside every SAC update and act step, and distrax
pulls in TensorFlow Probability's JAX substrate at import.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlkit import types

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


class GaussianParams(NamedTuple):
    """A diagonal Gaussian: mean and log standard deviation, [..., A] each."""

    mean: jax.Array
    log_std: jax.Array


def gaussian_log_prob(params: GaussianParams, value: jax.Array) -> jax.Array:
    """log N(value; mean, std^2), summed over the last axis."""
    z = (value - params.mean) * jnp.exp(-params.log_std)
    return jnp.sum(-0.5 * z**2 - params.log_std - _HALF_LOG_TWO_PI, axis=-1)


def _log_tanh_jacobian(pre_tanh: jax.Array) -> jax.Array:
    """log(d tanh(u) / du) = log(1 - tanh(u)^2), summed over the last axis."""
    return jnp.sum(2.0 * (math.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh)), axis=-1)


def tanh_gaussian_sample(params: GaussianParams, key: types.PRNGKey) -> tuple[jax.Array, jax.Array]:
    """A reparameterised sample `tanh(mean + std * eps)` and its log-probability [...]."""
    noise = jax.random.normal(key, params.mean.shape, params.mean.dtype)
    pre_tanh = params.mean + jnp.exp(params.log_std) * noise
    log_prob = gaussian_log_prob(params, pre_tanh) - _log_tanh_jacobian(pre_tanh)
    return jnp.tanh(pre_tanh), log_prob


def tanh_gaussian_log_prob(
    params: GaussianParams, action: jax.Array, epsilon: float = 1e-6
) -> jax.Array:
    """The log-probability of an action in (-1, 1); actions are clipped `epsilon` inside the
    bounds first, where `atanh` is finite."""
    action = jnp.clip(action, -1.0 + epsilon, 1.0 - epsilon)
    pre_tanh = jnp.arctanh(action)
    return gaussian_log_prob(params, pre_tanh) - _log_tanh_jacobian(pre_tanh)


def tanh_gaussian_mode(params: GaussianParams) -> jax.Array:
    """The deterministic action SAC evaluates with: `tanh(mean)`."""
    return jnp.tanh(params.mean)
