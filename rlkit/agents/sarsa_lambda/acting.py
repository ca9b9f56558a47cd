"""Acting: ε-greedy on the learned action values (Sarsa(λ)), or a fixed policy whose values
TD(λ) predicts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from rlkit import types
from rlkit.agents.dqn import acting as dqn_acting
from rlkit.agents.sarsa_lambda.networks import TileCodedValues
from rlkit.jax import actors

# `(observation, key) -> action`: a fixed policy, a pure JAX function of one observation.
FixedPolicy = Callable[[types.NestedArray, types.PRNGKey], Any]


def make_epsilon_greedy_policy(networks: TileCodedValues, epsilon: float) -> actors.ActorCore:
    """ε-greedy on `q(s, ·)` (the DQN family's policy, on the tile-coded values); ties go to
    the first action, as `argmax` breaks them."""
    return dqn_acting.make_epsilon_greedy_policy(networks, epsilon, networks.num_actions)


def make_fixed_policy(policy: FixedPolicy | actors.ActorCore) -> actors.ActorCore:
    """`policy` as an `ActorCore` that ignores the parameters it is given (TD(λ) learns the
    values of a policy, not the policy); an `ActorCore` is returned as it is."""
    if isinstance(policy, actors.ActorCore):
        return policy

    def select_action(params, observation, key):
        del params
        key, action_key = jax.random.split(key)
        return policy(observation, action_key), key

    return actors.ActorCore(
        init=lambda key: key, select_action=select_action, get_extras=lambda _: ()
    )
