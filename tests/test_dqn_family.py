"""The DQN family as agents: prioritised replay end to end on each backend, exact restore,
variants through the registry and the CLI, bad input, and learning."""

import dataclasses

import chex
import jax
import numpy as np
import pytest
import tree
from dm_env import specs as dm_specs

import rlkit
from rlkit import replay
from rlkit.agents import dqn, registry
from rlkit.experiments import checkpointing

VARIANTS = ["dqn", "c51", "qrdqn", "iqn", "mdqn", "rainbow"]
SIGNATURE = {"x": dm_specs.Array((), np.float32)}


def quiet(**kwargs):
    return dict(logger=rlkit.loggers.NoOpLogger(), **kwargs)


def draw(client, table, count=200):
    batch = next(client.dataset(table, count, flatten_blocks=False))
    values = batch.data["x"] if isinstance(batch.data, dict) else None
    return values, batch.keys, batch.probabilities


def test_new_items_go_in_at_the_largest_priority(replay_backend):
    table = replay.prioritized_table("p", 10, replay.min_size_limiter(1), 1.0, SIGNATURE)
    server = replay.make_server([table], replay_backend)
    client = server.client()
    assert client.max_priority("p") == 1.0
    writer = client.trajectory_writer(num_keep_alive_refs=1)

    def insert(x):
        writer.append({"x": np.float32(x)})
        priority = client.max_priority("p")
        writer.create_item("p", priority, tree.map_structure(lambda c: c[-1], writer.history))
        writer.flush()

    insert(0)
    insert(1)
    values, keys, _ = draw(client, "p")
    key_of = dict(zip(values.tolist(), keys.tolist(), strict=False))
    client.update_priorities(
        "p", np.array([key_of[0.0], key_of[1.0]], np.uint64), np.array([5.0, 1.0])
    )
    draw(client, "p")  # The local backend applies updates at the next sample.
    assert client.max_priority("p") == 5.0
    insert(2)  # At priority 5: probabilities 5/11, 1/11, 5/11.
    values, _, probabilities = draw(client, "p")
    by_value = dict(zip(values.tolist(), probabilities.tolist(), strict=False))
    np.testing.assert_allclose(
        [by_value[v] for v in (0.0, 1.0, 2.0)], [5 / 11, 1 / 11, 5 / 11], rtol=1e-5
    )
    server.stop()


def test_prioritized_dqn_writes_priorities_back(replay_backend):
    config = dqn.DQNConfig(
        hidden_sizes=(16,), min_replay_size=100, prioritized=True, transitions_per_item=1
    )
    env = rlkit.make_environment("CartPole-v1", seed=0)
    agent = dqn.DQN(
        rlkit.make_environment_spec(env), config, **quiet(replay_backend=replay_backend)
    )
    assert replay.resolve_backend(replay_backend) == agent.replay_backend
    rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger()).run(num_steps=600)
    agent.wait_for_learner()
    assert int(agent.learner.state.steps) > 0
    agent.replay_client.wait_for_priority_updates()
    _, _, probabilities = draw(agent.replay_client, config.replay_table_name, 300)
    # Inserted at priority 1 (the max before any update), the items would all be equally
    # likely; the learner's |TD| priorities make them differ.
    assert np.ptp(probabilities) > 0.1 * np.mean(probabilities), probabilities
    agent.close()


def test_prioritized_config_on_a_uniform_table_is_a_clear_error():
    config = dqn.DQNConfig(hidden_sizes=(8,), prioritized=True)
    builder = dqn.DQNBuilder(config)
    spec = rlkit.make_environment_spec(rlkit.make_environment("CartPole-v1"))
    server = replay.make_server(
        [replay.uniform_table(config.replay_table_name, 10, replay.min_size_limiter(1))], "local"
    )
    with pytest.raises(rlkit.ConfigError, match="prioritized table"):
        builder.make_learner(
            jax.random.PRNGKey(0),
            dqn.make_networks(spec, config),
            iter(()),
            replay_client=server.client(),
        )
    server.stop()


@pytest.mark.slow
def test_restore_is_exact():
    config = dqn.RainbowConfig(
        hidden_sizes=(16,), min_replay_size=100, v_min=0.0, v_max=100.0, epsilon_init=0.5
    )
    env = rlkit.make_environment("CartPole-v1", seed=0)
    spec = rlkit.make_environment_spec(env)
    agent = dqn.Rainbow(spec, config, seed=0, **quiet())
    rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger()).run(num_steps=500)
    saved = jax.device_get(agent.save())
    fresh = dqn.Rainbow(spec, config, seed=7, **quiet())
    fresh.restore(saved)
    restored = jax.device_get(fresh.save())
    # Params, target params, optimiser state, PRNG key and SGD step count; the actor's key
    # and step count (its epsilon schedule position); the observation and learner step counts.
    chex.assert_trees_all_equal(restored, saved)
    state = fresh.learner.state
    assert int(state.steps) == int(saved["learner"].steps) > 0
    assert int(fresh.actor.state.steps) == 500
    assert fresh.num_observations == 500
    agent.close()
    fresh.close()


@pytest.mark.slow
def test_resumed_run_continues_the_learner_step_count_exactly(tmp_path):
    def run(run_dir, steps):
        config = rlkit.experiments.make_experiment_config(
            "dqn",
            "CartPole-v1",
            dqn.DQNConfig(min_replay_size=100, hidden_sizes=(16,)),
            max_num_actor_steps=steps,
            run_dir=str(run_dir),
            eval_every=400,
            checkpoint_every=400,
            num_eval_episodes=1,
            loggers=("csv",),
        )
        rlkit.experiments.run_experiment(config)
        return checkpointing.Checkpointer(str(run_dir)).read_metadata(steps)["counts"]

    straight = run(tmp_path / "straight", 1200)
    run(tmp_path / "resumed", 800)
    resumed = run(tmp_path / "resumed", 1200)
    assert resumed["learner_steps"] == straight["learner_steps"] > 0


def test_every_variant_is_registered_with_a_cartpole_config():
    assert [name for name in registry.agent_names() if name in VARIANTS] == VARIANTS
    for name in VARIANTS:
        entry = registry.get_agent(name)
        config = entry.load_config("CartPole-v1")
        assert isinstance(config, dqn.DQNConfig)
        assert entry.default_config_path("CartPole-v1"), name
    assert isinstance(registry.get_agent("rainbow").load_config("CartPole-v1"), dqn.RainbowConfig)


def test_an_agent_can_register_itself():
    entry = registry.AgentEntry(
        name="my-dqn",
        description="a test agent",
        action_spaces="discrete",
        package="rlkit.agents.dqn",
        config="rlkit.agents.dqn.config:DQNConfig",
        builder="rlkit.agents.dqn.builder:DQNBuilder",
        networks="rlkit.agents.dqn.builder:make_networks",
    )
    try:
        registry.register(entry)
        assert registry.get_agent("my-dqn") is entry
        with pytest.raises(ValueError, match="registered already"):
            registry.register(dataclasses.replace(entry, description="another agent"))
    finally:
        registry._AGENTS.pop("my-dqn", None)


@pytest.mark.parametrize(
    "config_class, kwargs, message",
    [
        (dqn.C51Config, dict(num_atoms=1), "num_atoms must be at least 2"),
        (dqn.C51Config, dict(v_min=5.0, v_max=5.0), "v_min .* must be below v_max"),
        (dqn.RainbowConfig, dict(v_min=1.0, v_max=-1.0), "v_min .* must be below v_max"),
        (dqn.QRDQNConfig, dict(num_quantiles=0), "num_quantiles must be positive"),
        (dqn.IQNConfig, dict(hidden_sizes=()), "at least one layer"),
        (dqn.MDQNConfig, dict(double_q=True), "double_q does not apply"),
    ],
)
def test_variant_config_errors(config_class, kwargs, message):
    with pytest.raises(rlkit.ConfigError, match=message):
        config_class(**kwargs)


@pytest.mark.parametrize("name", VARIANTS)
def test_variants_refuse_continuous_actions(name):
    spec = rlkit.make_environment_spec(rlkit.make_environment("Pendulum-v1"))
    entry = registry.get_agent(name)
    with pytest.raises(rlkit.ConfigError, match="needs a single discrete action space"):
        entry.make_networks(spec, entry.config_class())


def _learn(agent_class, config, steps, seed=0):
    env = rlkit.make_environment("CartPole-v1", seed=seed)
    agent = agent_class(rlkit.make_environment_spec(env), config, seed=seed, **quiet())
    loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
    evaluation = rlkit.EnvironmentLoop(
        rlkit.make_environment("CartPole-v1", seed=100),
        agent.make_evaluation_actor(),
        logger=rlkit.loggers.NoOpLogger(),
    )
    scores = []
    for _ in range(steps // 5_000):
        loop.run(num_steps=5_000)
        scores.append(np.mean([r["episode_return"] for r in evaluation.run(num_episodes=5)]))
    agent.close()
    return scores


@pytest.mark.slow
# Rainbow is left out: on the Reverb stack (jax 0.4.34) it had not cleared 150 by 15k steps;
# bench/dqn_family.py reaches 500 on 3/3 seeds by 50k (current stack).
@pytest.mark.parametrize("name", ["c51", "qrdqn", "iqn", "mdqn"])
def test_variant_learns_cartpole(name):
    """Each variant's shipped CartPole config; the untrained greedy policy scores ~10-40."""
    entry = registry.get_agent(name)
    config = entry.load_config("CartPole-v1")
    scores = _learn(dqn.DQN, config, 15_000)
    assert max(scores) >= 150, scores
