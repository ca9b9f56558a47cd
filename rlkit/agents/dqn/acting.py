"""DQN policies: epsilon-greedy over Q-values, with a decaying epsilon."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
import rlax

from rlkit import types
from rlkit.jax import actors
from rlkit.jax import networks as networks_lib


class EpsilonGreedyState(NamedTuple):
    key: types.PRNGKey
    steps: jax.Array


def make_epsilon_greedy_policy(
    network: networks_lib.FeedForwardNetwork,
    epsilon: float | optax.Schedule,
) -> actors.ActorCore:
    """Epsilon-greedy on `network`'s Q-values; `epsilon` may be a schedule over actor steps."""
    schedule = epsilon if callable(epsilon) else (lambda _: epsilon)

    def init(key: types.PRNGKey) -> EpsilonGreedyState:
        return EpsilonGreedyState(key, jnp.zeros((), jnp.int32))

    def select_action(params, observation, state: EpsilonGreedyState):
        key, action_key = jax.random.split(state.key)
        q_values = network.apply(params, networks_lib.add_batch_dim(observation))[0]
        action = rlax.epsilon_greedy(schedule(state.steps)).sample(action_key, q_values)
        return action.astype(jnp.int32), EpsilonGreedyState(key, state.steps + 1)

    return actors.ActorCore(init=init, select_action=select_action, get_extras=lambda _: ())
