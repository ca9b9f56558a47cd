"""The policy distributions, as pure functions: categorical and diagonal Gaussian (the
on-policy agents'), and the tanh-squashed diagonal Gaussian (SAC's).

A categorical policy's output is its logits [B, K]; a Gaussian policy's is `(mean [B, A],
log_std [A] or [B, A])`. `log_prob`, `entropy` and `kl_divergence` take the distribution's
kind ("categorical" or "gaussian") and go through rlax.

For the tanh-squashed Gaussian, an action is `tanh(u)` with `u ~ N(mean, exp(log_std)^2)`
per dimension, so it lies in (-1, 1). Its log-density is the Gaussian's at `u` minus the
log-Jacobian of tanh, `log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))`, written in that
form because `1 - tanh(u)^2` rounds to 0 in float32 for |u| beyond about 9. Written here
rather than through distrax: these few lines run inside every SAC update and act step, and
distrax pulls in TensorFlow Probability's JAX substrate at import.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import rlax

from rlkit import types

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


def _mean_and_std(output: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """A Gaussian policy's output `(mean [B, A], log_std)` as rlax takes it."""
    mean, log_std = output
    return mean, jnp.broadcast_to(jnp.exp(log_std), mean.shape)


def log_prob(kind: str, output: Any, action: jax.Array) -> jax.Array:
    """`log pi(action)` [B] under a batch of policy outputs (actions flat: [B] indices or
    [B, A])."""
    if kind == "categorical":
        return rlax.softmax().logprob(action.astype(jnp.int32), output)
    return rlax.gaussian_diagonal().logprob(action, *_mean_and_std(output))


def entropy(kind: str, output: Any) -> jax.Array:
    """The policy's entropy per observation [B]."""
    if kind == "categorical":
        return rlax.softmax().entropy(output)
    return rlax.gaussian_diagonal().entropy(*_mean_and_std(output))


def kl_divergence(kind: str, old_output: Any, new_output: Any) -> jax.Array:
    """`KL(old || new)` per observation [B] between two outputs of a policy network."""
    if kind == "categorical":
        return rlax.softmax().kl(old_output, new_output)
    return rlax.gaussian_diagonal().kl(*_mean_and_std(old_output), *_mean_and_std(new_output))


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
