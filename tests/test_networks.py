"""Observation encoding shared by the agents' networks."""

import chex
import numpy as np
from dm_env import specs

from rlkit.agents import dqn
from rlkit.jax import networks


def test_discrete_observations_are_one_hot():
    encode = networks.make_observation_encoder(specs.DiscreteArray(4))
    features = encode(np.array([0, 3], np.int64))
    chex.assert_trees_all_close(features, np.array([[1, 0, 0, 0], [0, 0, 0, 1]], np.float32))


def test_nested_observations_are_flattened_and_concatenated():
    spec = {"image": specs.Array((2, 3), np.uint8), "cell": specs.DiscreteArray(3)}
    encode = networks.make_observation_encoder(spec)
    batch = {"image": np.ones((5, 2, 3), np.uint8), "cell": np.array([0, 1, 2, 1, 0])}
    features = encode(batch)
    chex.assert_shape(features, (5, 6 + 3))
    assert features.dtype == np.float32
    # dm-tree orders dict keys: "cell" (one-hot) first, then the flattened image.
    chex.assert_trees_all_close(features[2, :3], np.array([0, 0, 1], np.float32))


def test_dqn_network_on_a_discrete_state():
    import jax

    import rlkit

    spec = rlkit.make_environment_spec(rlkit.make_environment("FrozenLake-v1"))
    network = dqn.make_networks(spec, dqn.DQNConfig(hidden_sizes=(8,)))
    params = network.init(jax.random.PRNGKey(0))
    first_layer = params["mlp/~/mlp/~/linear_0"]
    assert first_layer["w"].shape == (16, 8)  # 16 one-hot inputs.
    chex.assert_shape(network.apply(params, np.arange(16)), (16, 4))
