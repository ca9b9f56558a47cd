"""The off-policy families' learner parts (`make_learner_parts`) and device replay settings
(`device_experience`): the learner a builder makes runs the very parts the Anakin layout
gets, and the device replay is the host replay's table, adder and dataset."""

from __future__ import annotations

import dataclasses

import chex
import dm_env
import jax
import numpy as np
import pytest
from dm_env import specs as dm_specs

import rlkit
from rlkit import builders, replay, specs, types
from rlkit.agents import actor_critic as ac
from rlkit.agents import dqn
from rlkit.jax import learning as jax_learning

SMALL_REPLAY = dict(batch_size=8, num_sgd_steps_per_step=2, transitions_per_item=4)
DQN_SMALL = dict(hidden_sizes=(8,), **SMALL_REPLAY)
AC_SMALL = dict(policy_hidden_sizes=(8,), critic_hidden_sizes=(8,), **SMALL_REPLAY)
CONFIGS = {
    "dqn": lambda: dqn.DQNConfig(**DQN_SMALL),
    "per": lambda: dqn.DQNConfig(prioritized=True, **DQN_SMALL),
    "c51": lambda: dqn.C51Config(num_atoms=5, **DQN_SMALL),
    "rainbow": lambda: dqn.RainbowConfig(num_atoms=5, **DQN_SMALL),
    "qrdqn": lambda: dqn.QRDQNConfig(num_quantiles=4, **DQN_SMALL),
    "td3": lambda: ac.TD3Config(**AC_SMALL),
    "sac": lambda: ac.SACConfig(initial_temperature=0.5, **AC_SMALL),
    "d4pg": lambda: ac.D4PGConfig(prioritized=True, num_atoms=5, **AC_SMALL),
}


def _spec(continuous: bool) -> specs.EnvironmentSpec:
    actions = (
        dm_specs.BoundedArray((2,), np.float32, -1.0, 1.0)
        if continuous
        else dm_specs.DiscreteArray(2)
    )
    return specs.EnvironmentSpec(
        observations=dm_specs.Array((3,), np.float32),
        actions=actions,
        rewards=dm_specs.Array((), np.float32),
        discounts=dm_specs.BoundedArray((), np.float32, 0.0, 1.0),
    )


def _family(config):
    """`(builder, networks, spec)` of `config`'s family."""
    continuous = isinstance(config, ac.ActorCriticConfig)
    spec = _spec(continuous)
    if continuous:
        return ac.ActorCriticBuilder(config), ac.make_networks(spec, config), spec
    return dqn.DQNBuilder(config), dqn.make_networks(spec, config), spec


def _sample(config, spec: specs.EnvironmentSpec) -> types.Batch:
    """One learner step's sample: flattened transitions and their items' probabilities."""
    items = config.items_per_learner_step
    num = items * config.transitions_per_item
    rng = np.random.default_rng(0)
    if isinstance(spec.actions, dm_specs.DiscreteArray):
        action = rng.integers(0, spec.actions.num_values, num).astype(np.int32)
    else:
        action = rng.uniform(-1, 1, (num, *spec.actions.shape)).astype(np.float32)
    transitions = types.Transition(
        observation=rng.normal(size=(num, 3)).astype(np.float32),
        action=action,
        reward=rng.normal(size=num).astype(np.float32),
        discount=np.full(num, 0.97, np.float32),
        next_observation=rng.normal(size=(num, 3)).astype(np.float32),
    )
    probabilities = rng.uniform(0.05, 0.3, items).astype(np.float32)
    return types.Batch(
        data=transitions, keys=np.arange(items, dtype=np.uint64), probabilities=probabilities
    )


class _PriorityClient:
    """What a learner asks of a prioritised table's client: its sampler, and priorities."""

    def __init__(self):
        self.priorities = []

    def sampler(self, table: str) -> str:
        return "prioritized"

    def update_priorities(self, table: str, keys, priorities) -> None:
        self.priorities.append(np.asarray(priorities))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_learner_runs_the_builders_learner_parts(name):
    config = CONFIGS[name]()
    builder, networks, spec = _family(config)
    sample = _sample(config, spec)
    key = jax.random.PRNGKey(7)
    logger, client = rlkit.loggers.BufferLogger(), _PriorityClient()
    learner = builder.make_learner(
        key, networks, iter([sample]), logger=logger, replay_client=client
    )
    family = ac.ActorCriticLearner if isinstance(builder, ac.ActorCriticBuilder) else dqn.DQNLearner
    assert type(learner) is family  # The family's class, as before the parts.
    parts = builder.make_learner_parts(networks, spec)
    assert parts.sgd_steps_per_step == config.num_sgd_steps_per_step
    state = parts.initial_state(key)
    chex.assert_trees_all_close(jax.device_get(learner.save()), jax.device_get(state))
    assert jax.tree.structure(learner.save()) == jax.tree.structure(state)

    learner.step()
    learner.close()  # Writes the step's row.
    new_state, metrics, priorities = jax.jit(parts.update)(state, sample.data, sample.probabilities)
    chex.assert_trees_all_close(jax.device_get(learner.save()), jax.device_get(new_state))
    (row,) = logger.drain()
    chex.assert_trees_all_close({m: row[m] for m in metrics}, jax.device_get(metrics))
    chex.assert_trees_all_close(
        learner.get_variables(["policy"])[0], parts.variables(new_state)["policy"]
    )
    if config.prioritized:
        (written,) = client.priorities
        expected = np.maximum(np.asarray(priorities, np.float64), jax_learning.MIN_PRIORITY)
        np.testing.assert_allclose(written, expected, rtol=1e-6)
    else:
        assert not client.priorities  # Uniform replay: none written back.


def _fill(builder, spec: specs.EnvironmentSpec, client, steps: int) -> None:
    """One episode of `steps` steps of reward 1 and discount 1 through the builder's adder."""
    adder = builder.make_adder(client, spec)
    observation = np.zeros(3, np.float32)
    action = spec.actions.generate_value()
    adder.add_first(dm_env.restart(observation))
    for step in range(steps):
        adder.add(action, dm_env.transition(1.0, observation + step + 1, 1.0))


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("dqn", dict(n_step=3, discount=0.9, max_replay_size=1_000, min_replay_size=8)),
        ("rainbow", dict(priority_exponent=0.7, min_replay_size=20, max_replay_size=60)),
        ("sac", dict(n_step=2, discount=0.5, transitions_per_item=2, min_replay_size=8)),
        ("d4pg", dict(discount=0.8, max_replay_size=10_000, min_replay_size=8)),
    ],
)
def test_device_replay_is_the_host_replay(name, overrides):
    config = dataclasses.replace(CONFIGS[name](), **overrides)
    builder, _, spec = _family(config)
    experience = builder.device_experience()
    assert isinstance(experience, builders.DeviceReplay)
    (table,) = builder.make_replay_tables(spec)
    assert experience.capacity == table.max_size
    if table.sampler == "prioritized":
        assert experience.priority_exponent == table.priority_exponent == config.priority_exponent
    else:
        assert table.sampler == "uniform" and experience.priority_exponent is None
    server = replay.make_server([replay.for_one_process(table)], "local")
    try:
        _fill(builder, spec, server.client(), steps=40)
        sample = next(builder.make_dataset_iterator(server.client()))
    finally:
        server.stop()
    # A sample is `items_per_sample` items of `transitions_per_item` transitions, n-step ones.
    assert len(sample.keys) == experience.items_per_sample
    per_item = experience.transitions_per_item
    assert sample.data.reward.shape == (experience.items_per_sample * per_item,)
    n, gamma = experience.n_step, experience.discount
    np.testing.assert_allclose(sample.data.discount, gamma**n, rtol=1e-6)
    np.testing.assert_allclose(sample.data.reward, sum(gamma**k for k in range(n)), rtol=1e-6)
    steps = sample.data.next_observation[:, 0] - sample.data.observation[:, 0]
    np.testing.assert_allclose(steps, n)
    first = sample.data.observation[::per_item, 0]  # An item's transitions are consecutive.
    np.testing.assert_allclose(
        sample.data.observation[:, 0],
        np.repeat(first, per_item) + np.tile(np.arange(per_item), len(first)),
    )


def test_vector_environments_keep_the_same_device_replay():
    config = dqn.DQNConfig(num_envs=4, **DQN_SMALL)
    assert (
        dqn.DQNBuilder(config).device_experience()
        == dqn.DQNBuilder(dqn.DQNConfig(**DQN_SMALL)).device_experience()
    )


@pytest.mark.parametrize(
    "config, message",
    [
        (
            dqn.DQNConfig(frame_storage="shared", **DQN_SMALL),
            "DQNConfig .*frame_storage='shared'.*frame_storage: stacked",
        ),
        (
            dqn.RainbowConfig(frame_storage="shared", **DQN_SMALL),
            "RainbowConfig .*frame_storage='shared'",
        ),
        (
            dqn.DQNConfig(variable_update_period=4, **DQN_SMALL),
            "every 4 learner steps \\(variable_update_period\\)",
        ),
        (
            ac.SACConfig(variable_update_period=2, **AC_SMALL),
            "SACConfig .*variable_update_period: 1",
        ),
    ],
)
def test_what_the_device_replay_cannot_hold_is_refused_with_the_way_out(config, message):
    builder, networks, spec = _family(config)
    for ask in (builder.device_experience, lambda: builder.make_learner_parts(networks, spec)):
        with pytest.raises(rlkit.ConfigError, match=message) as refusal:
            ask()
        assert "Anakin layout" in str(refusal.value) and "--layout local" in str(refusal.value)
    # The host layouts still build its learner.
    builder.make_learner(
        jax.random.PRNGKey(0), networks, iter(()), logger=rlkit.loggers.NoOpLogger()
    )
