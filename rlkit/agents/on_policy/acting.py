"""Acting policies of the on-policy agents: sample from the policy, record what the learner
needs beside each action (its log-probability, a Gaussian's unclipped sample, and for ACER
the whole probability vector), or act greedily for evaluation."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlkit import types
from rlkit.agents.on_policy import networks as networks_lib
from rlkit.agents.on_policy.networks import PolicyValueNetworks
from rlkit.jax import actors, distributions
from rlkit.jax import networks as jax_networks


class ActingState(NamedTuple):
    key: types.PRNGKey
    extras: dict[str, jax.Array]  # The last action's, for the adder.


def make_policy(
    networks: PolicyValueNetworks, evaluation: bool = False, record_probs: bool = False
) -> actors.ActorCore:
    """The sampling policy, whose extras are `{"log_prob"}` (categorical) or
    `{"log_prob", "raw_action"}` (Gaussian: the sample before clipping to [-1, 1]), and
    with `record_probs` (categorical) also `"probs"`, the behaviour policy's probabilities
    of every action [num_actions] (ACER's bias correction needs them all); or, with
    `evaluation`, the greedy one (the most likely action; the clipped mean)."""
    categorical = networks.policy_kind == "categorical"
    size = networks.action_size
    if record_probs and not categorical:
        raise ValueError("record_probs needs a categorical policy.")

    def init(key: types.PRNGKey) -> ActingState:
        extras = {"log_prob": jnp.zeros((), jnp.float32)}
        if not categorical:
            extras["raw_action"] = jnp.zeros((size,), jnp.float32)
        if record_probs:
            extras["probs"] = jnp.full((size,), 1.0 / size, jnp.float32)
        return ActingState(key, extras)

    def select_action(policy_params: networks_lib.PolicyParams, observation, state: ActingState):
        observation = networks.normalize_observation(
            policy_params.observation_statistics, observation
        )
        output = networks.policy_apply(
            policy_params.network, jax_networks.add_batch_dim(observation)
        )
        if evaluation:  # Greedy, and nothing for an adder: no PRNG draw, no log-probability.
            action = jnp.argmax(output[0]) if categorical else output[0][0]
            if not categorical:
                action = jnp.clip(action, -1.0, 1.0).reshape(networks.action_shape)
            return action.astype(jnp.int32) if categorical else action, state
        key, sample_key = jax.random.split(state.key)
        if categorical:
            logits = output[0]
            action = jax.random.categorical(sample_key, logits).astype(jnp.int32)
            extras = {
                "log_prob": distributions.log_prob(networks.policy_kind, output, action[None])[0]
            }
            if record_probs:
                extras["probs"] = jax.nn.softmax(logits)
            return action.astype(jnp.int32), ActingState(key, extras)
        mean, log_std = output[0][0], output[1]
        noise = jax.random.normal(sample_key, mean.shape)
        raw = mean + jnp.exp(log_std) * noise
        extras = {
            "log_prob": distributions.log_prob(
                networks.policy_kind, (mean[None], log_std), raw[None]
            )[0],
            "raw_action": raw,
        }
        action = jnp.clip(raw, -1.0, 1.0).reshape(networks.action_shape)
        return action, ActingState(key, extras)

    return actors.ActorCore(
        init=init, select_action=select_action, get_extras=lambda state: state.extras
    )
