"""Observation encoding shared by the agents' networks."""

import chex
import numpy as np
import pytest
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
    kernels = [layer["w"].shape for layer in params.values() if "w" in layer]
    assert (16, 8) in kernels  # The first layer takes 16 one-hot inputs.
    chex.assert_shape(network.q_values(params, np.arange(16)), (16, 4))


def _torso_forward(make_torso, frames):
    import haiku as hk
    import jax

    model = hk.without_apply_rng(hk.transform(lambda x: make_torso()(x)))
    params = model.init(jax.random.PRNGKey(0), frames)
    return params, jax.jit(model.apply)


@pytest.mark.slow
def test_nature_dqn_torso_on_atari_frames():
    frames = np.random.default_rng(0).integers(0, 256, (2, 84, 84, 4), dtype=np.uint8)
    params, apply = _torso_forward(networks.NatureDQNTorso, frames)
    features = apply(params, frames)
    chex.assert_shape(features, (2, 512))
    assert features.dtype == np.float32 and (np.asarray(features) >= 0).all()
    shapes = {name: p["w"].shape for name, p in params.items()}
    assert sorted(shapes.values()) == sorted(
        [(8, 8, 4, 32), (4, 4, 32, 64), (3, 3, 64, 64), (7 * 7 * 64, 512)]
    )
    # uint8 pixels are scaled by 1/255: the same frames as floats in [0, 1] match.
    chex.assert_trees_all_close(apply(params, frames / np.float32(255)), features, atol=1e-5)


@pytest.mark.slow
def test_impala_torso_on_atari_frames():
    frames = np.random.default_rng(0).integers(0, 256, (3, 84, 84, 4), dtype=np.uint8)
    params, apply = _torso_forward(networks.ImpalaTorso, frames)
    features = apply(params, frames)
    chex.assert_shape(features, (3, 256))
    assert features.dtype == np.float32 and (np.asarray(features) >= 0).all()
    kernels = [p["w"].shape for p in params.values()]
    # Per section: one conv and two residual blocks of two convs each; then the linear layer.
    assert len(kernels) == 3 * (1 + 2 * 2) + 1
    assert (11 * 11 * 32, 256) in kernels  # 84 -> 42 -> 21 -> 11 after three pools.
    chex.assert_trees_all_close(apply(params, frames / np.float32(255)), features, atol=1e-5)
