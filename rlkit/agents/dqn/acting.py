"""DQN policies: epsilon-greedy over Q-values, with a decaying epsilon."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from rlkit import types
from rlkit.agents.dqn.networks import ValueNetworks
from rlkit.jax import actors
from rlkit.jax import networks as networks_lib


class EpsilonGreedyState(NamedTuple):
    key: types.PRNGKey
    steps: jax.Array


def make_epsilon_greedy_policy(
    networks: ValueNetworks,
    epsilon: float | optax.Schedule,
    num_actions: int,
    sample_network: bool = False,
) -> actors.ActorCore:
    """Epsilon-greedy on the network's Q-values; `epsilon` may be a schedule over actor steps.

    With `sample_network` (noisy nets, IQN) each step's Q-values come from a fresh draw of
    the network's noise; otherwise the network is deterministic.

    With probability epsilon a uniformly random action, else the greedy one: written out
    rather than through a categorical distribution, because this runs once per env step and
    every op counts at that size. One key split and one draw of two uniforms decide both
    (measured: a 3-way split plus `uniform` and `randint` made the call 3-4x slower on
    current XLA CPU).
    """
    schedule = epsilon if callable(epsilon) else (lambda _: epsilon)

    def init(key: types.PRNGKey) -> EpsilonGreedyState:
        return EpsilonGreedyState(key, jnp.zeros((), jnp.int32))

    def select_action(params, observation, state: EpsilonGreedyState):
        key, draw_key = jax.random.split(state.key)
        network_key = jax.random.fold_in(draw_key, 1) if sample_network else None
        observations = networks_lib.add_batch_dim(observation)
        q_values = networks.q_values(params, observations, network_key)[0]
        explore_draw, action_draw = jax.random.uniform(draw_key, (2,))
        explore = explore_draw < schedule(state.steps)
        # floor(u * n) is uniform over 0..n-1; the min guards float rounding of u * n to n.
        random_action = jnp.minimum((action_draw * num_actions).astype(jnp.int32), num_actions - 1)
        action = jnp.where(explore, random_action, jnp.argmax(q_values))
        return action.astype(jnp.int32), EpsilonGreedyState(key, state.steps + 1)

    return actors.ActorCore(init=init, select_action=select_action, get_extras=lambda _: ())
