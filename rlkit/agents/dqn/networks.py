"""DQN's Q-network."""

from __future__ import annotations

from collections.abc import Callable

import haiku as hk
import jax.numpy as jnp
import numpy as np
from dm_env import specs as dm_specs

from rlkit import errors, specs, types
from rlkit.agents import registry
from rlkit.agents.dqn.config import DQNConfig
from rlkit.jax import networks as networks_lib


def num_discrete_actions(environment_spec: specs.EnvironmentSpec) -> int:
    """The number of actions; raises for action spaces DQN cannot handle."""
    action_spec = environment_spec.actions
    if not isinstance(action_spec, dm_specs.DiscreteArray):
        # Name only what exists: the registered agents, and for actions numbered from
        # another start, the gymnasium wrapper that renumbers them.
        hint = f"Registered agents: {registry.agents_summary()}; `rlkit agents` describes them."
        integer = np.issubdtype(np.dtype(action_spec.dtype), np.integer)
        if integer and action_spec.shape == ():
            hint = (
                f"Its actions are numbered from {action_spec.minimum}, DQN's from 0: in "
                "Python, gymnasium.wrappers.TransformAction can renumber them. " + hint
            )
        raise errors.ConfigError(
            f"DQN needs a single discrete action space (0..n-1), got {action_spec!r}. {hint}"
        )
    return int(action_spec.num_values)


def make_networks(
    environment_spec: specs.EnvironmentSpec, config: DQNConfig
) -> networks_lib.FeedForwardNetwork:
    """Q-network: observation [B, ...] -> Q-values [B, num_actions] (discrete observations
    one-hot encoded)."""
    num_actions = num_discrete_actions(environment_spec)
    encode = networks_lib.make_observation_encoder(environment_spec.observations)

    def q_network(observation):
        features = encode(observation)
        if config.dueling:
            return networks_lib.DuelingMLP(num_actions, config.hidden_sizes)(features)
        return networks_lib.MLP([*config.hidden_sizes, num_actions])(features)

    transformed = hk.without_apply_rng(hk.transform(q_network))
    dummy = networks_lib.zeros_like_spec(environment_spec.observations, batch=1)
    return networks_lib.FeedForwardNetwork(
        init=lambda key: transformed.init(key, dummy),
        apply=lambda params, observation: transformed.apply(params, observation).astype(
            jnp.float32
        ),
    )


def q_values(
    networks: networks_lib.FeedForwardNetwork,
) -> Callable[[types.Params, types.NestedArray], jnp.ndarray]:
    """`(params, observations [B, ...]) -> Q-values [B, num_actions]`, what value plots read."""
    return networks.apply
