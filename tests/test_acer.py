"""ACER: Retrace targets, the truncated importance-weighted gradient with bias correction and
the trust region by hand, the average network, rollouts written to the queue and the replay
table, the replay ratio, bad configs, checkpoint and resume, learning CartPole, and a run on
Ray with both tables on a Reverb server (slow)."""

import dataclasses
import importlib.util
import os

import chex
import dm_env
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
import pytest
from dm_env import specs as dm_specs

import rlkit
from rlkit import errors, replay, specs
from rlkit.agents import registry
from rlkit.agents.on_policy import ACER, ACERConfig, acer, builder
from rlkit.agents.on_policy import networks as networks_lib
from rlkit.replay import Step

GAMMA = 0.9


def baselines_retrace(q_taken, values, rewards, discounts, ratios, mask):
    """Baselines' `q_retrace` loop (lambda 1, c = min(1, rho)), run backwards from the
    bootstrap value, with the trace cut where a step is masked (a final observation's)."""
    length = len(rewards)
    q_ret = values[length]
    targets = np.zeros(length)
    for i in reversed(range(length)):
        q_ret = rewards[i] + discounts[i] * q_ret
        targets[i] = q_ret
        trace = min(1.0, ratios[i]) * mask[i]
        q_ret = trace * (q_ret - q_taken[i]) + values[i]
    return targets


def test_retrace_targets_cut_at_a_termination_and_bootstrap_a_truncation():
    """Steps 0, 1: an episode that terminates after step 1; step 2 its final observation's
    step; steps 3, 4: an episode truncated after step 4; step 5 its final observation's
    step; step 6 starts the next episode and only bootstraps."""
    q_taken = np.array([1.0, 2.0, 0.0, 4.0, 5.0, 0.0, 7.0])
    values = np.array([1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5])
    rewards = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    discounts = GAMMA * np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    ratios = np.array([0.5, 2.0, 1.0, 0.25, 0.8, 1.0, 1.0])
    mask = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    targets = acer.retrace_targets(*map(jnp.asarray, (q_taken, values, rewards, discounts,
                                                        ratios, mask)))  # fmt: skip
    g4 = 1.0 + GAMMA * 6.5  # Truncated: bootstraps from the final observation's value.
    g3 = 1.0 + GAMMA * (5.5 + 0.8 * (g4 - 5.0))
    g1 = 1.0  # Terminated: nothing after it.
    g0 = 1.0 + GAMMA * (2.5 + 1.0 * (g1 - 2.0))  # c_1 = min(1, 2) = 1.
    expected = [g0, g1, 0.0, g3, g4, 0.0]
    np.testing.assert_allclose(targets, expected, rtol=1e-6)
    np.testing.assert_allclose(
        targets, baselines_retrace(q_taken, values, rewards, discounts, ratios, mask), rtol=1e-6
    )


def test_retrace_targets_match_baselines_on_a_random_sequence():
    rng = np.random.default_rng(0)
    length = 9
    q_taken, values = rng.normal(size=length + 1), rng.normal(size=length + 1)
    rewards, ratios = rng.normal(size=length), rng.uniform(0.1, 3.0, size=length + 1)
    discounts = GAMMA * np.ones(length)
    targets = acer.retrace_targets(
        *map(jnp.asarray, (q_taken, values, rewards, discounts, ratios, np.ones(length)))
    )
    expected = baselines_retrace(q_taken, values, rewards, discounts, ratios, np.ones(length))
    np.testing.assert_allclose(targets, expected, rtol=1e-5, atol=1e-6)


def test_the_policy_gradient_truncates_the_importance_weight_and_corrects_its_bias():
    """Row 0: rho = (6, 1, 1/6); its action 0's weight is truncated at c = 2, and action 0
    gets the bias correction 1 - c/rho = 2/3. Row 1 is masked."""
    c, beta, eps = 2.0, 0.1, acer.EPSILON
    f = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
    mu = np.array([[0.1, 0.3, 0.6], [0.2, 0.3, 0.5]])
    q = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 2.0]])
    q_ret, actions, mask = np.array([4.0, 1.0]), np.array([0, 2]), np.array([1.0, 0.0])
    gradient = acer.policy_gradient_of_probs(
        *map(jnp.asarray, (f, mu, q, q_ret)), jnp.asarray(actions), jnp.asarray(mask), c, beta
    )
    row, a = f[0], 0
    rho, v = row / (mu[0] + eps), row @ q[0]
    expected = np.zeros(3)
    expected[a] += min(c, rho[a]) * (q_ret[0] - v) / (row[a] + eps)
    correction = np.maximum(0.0, 1.0 - c / (rho + eps))
    np.testing.assert_allclose(correction, [2.0 / 3.0, 0.0, 0.0], atol=1e-5)
    expected += correction * row * (q[0] - v) / (row + eps)
    expected += beta * (-np.log(row + eps) - row / (row + eps))  # d/df of -f log f.
    np.testing.assert_allclose(gradient[0], expected, rtol=1e-5)
    np.testing.assert_array_equal(gradient[1], np.zeros(3))


def test_the_trust_region_keeps_the_linearised_kl_below_delta_and_leaves_inside_alone():
    rng = np.random.default_rng(1)
    f = jax.nn.softmax(jnp.asarray(rng.normal(size=(64, 4))))
    average = jax.nn.softmax(jnp.asarray(rng.normal(size=(64, 4))))
    gradient = jnp.asarray(rng.normal(size=(64, 4)) * 3.0)
    delta = 0.5
    projected, active = acer.trust_region(gradient, f, average, delta)
    k = -average / (f + acer.EPSILON)
    before, after = jnp.sum(k * gradient, -1), jnp.sum(k * projected, -1)
    assert 0 < int(active.sum()) < 64  # Some rows are outside, some inside.
    np.testing.assert_array_equal(active, before > delta)
    assert np.all(after <= delta + 1e-4)
    np.testing.assert_allclose(after[before > delta], delta, rtol=1e-4)  # On the boundary.
    np.testing.assert_array_equal(projected[before <= delta], gradient[before <= delta])
    # The change is along k only: the closest point of the half-space.
    change = projected - gradient
    cosine = jnp.sum(change * k, -1) / (
        jnp.linalg.norm(change, axis=-1) * jnp.linalg.norm(k, axis=-1) + 1e-12
    )
    np.testing.assert_allclose(np.abs(cosine[before > delta]), 1.0, rtol=1e-4)


SPEC = specs.EnvironmentSpec(
    observations=dm_specs.Array((2,), np.float32),
    actions=dm_specs.DiscreteArray(3, dtype=np.int32),
    rewards=dm_specs.Array((), np.float32),
    discounts=dm_specs.BoundedArray((), np.float32, 0.0, 1.0),
)


def random_sequences(num_envs=2, length=6, seed=0):
    """`Step`s [N, T + 1] with one episode end (a final observation's step at 2, the next
    episode from 3) in sequence 0."""
    rng = np.random.default_rng(seed)
    mu = rng.dirichlet(np.ones(3), size=(num_envs, length + 1)).astype(np.float32)
    start = np.zeros((num_envs, length + 1), bool)
    start[0, 3] = True
    discount = np.ones((num_envs, length + 1), np.float32)
    discount[0, 1:3] = 0.0
    return Step(
        observation=rng.normal(size=(num_envs, length + 1, 2)).astype(np.float32),
        action=rng.integers(3, size=(num_envs, length + 1)).astype(np.int32),
        reward=rng.normal(size=(num_envs, length + 1)).astype(np.float32),
        discount=discount,
        start_of_episode=start,
        extras={"log_prob": np.zeros((num_envs, length + 1), np.float32), "probs": mu},
    )


def small_config(**overrides):
    values = dict(num_envs=2, rollout_length=6, policy_hidden_sizes=(16,),
                  value_hidden_sizes=(16,), replay_start_steps=0)  # fmt: skip
    return ACERConfig(**{**values, **overrides})


def baselines_loss(networks, config, params, data):
    """Baselines' ACER loss (before its trust region), written out as one scalar."""
    flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731
    observations, actions = flat(data.observation), flat(data.action)
    f = jax.nn.softmax(networks.policy_apply(params, observations))
    q = networks.value_apply(params, observations)
    rho = jax.lax.stop_gradient(f) / (flat(data.extras["probs"]) + acer.EPSILON)
    v = jnp.sum(f * q, -1)
    num_envs, length = data.reward.shape
    mask = 1.0 - data.start_of_episode[:, 1:].astype(jnp.float32)
    pick = lambda x: jnp.take_along_axis(x, actions[:, None], -1)[:, 0]  # noqa: E731
    q_ret = jax.vmap(acer.retrace_targets)(
        pick(q).reshape(num_envs, length), v.reshape(num_envs, length), data.reward[:, :-1],
        config.discount * data.discount[:, :-1], pick(rho).reshape(num_envs, length), mask,
    )  # fmt: skip
    mask, q_ret = flat(jnp.pad(mask, ((0, 0), (0, 1)))), flat(jnp.pad(q_ret, ((0, 0), (0, 1))))
    n, sg, c = jnp.sum(mask), jax.lax.stop_gradient, config.truncation
    log_f = jnp.log(f + acer.EPSILON)
    gain = pick(log_f) * sg((q_ret - v) * jnp.minimum(c, pick(rho)))
    bias = jnp.sum(log_f * sg((q - v[:, None]) * jax.nn.relu(1 - c / (rho + acer.EPSILON)) * f), -1)
    entropy = -jnp.sum(f * log_f, -1)
    policy = -jnp.sum(mask * (gain + bias + config.entropy_coefficient * entropy)) / n
    critic = jnp.sum(mask * 0.5 * (sg(q_ret) - pick(q)) ** 2) / n
    return policy + config.value_coefficient * critic


def test_without_a_trust_region_the_update_is_baselines_acer_loss_gradient():
    config = small_config(trust_region_delta=0.0, truncation=1.5)
    networks = networks_lib.make_policy_value_networks(SPEC, config, critic="q")
    params = networks.init(jax.random.PRNGKey(0))
    other = networks.init(jax.random.PRNGKey(1))
    data = jax.tree_util.tree_map(jnp.asarray, random_sequences())
    grads, metrics = acer.acer_gradients(networks, config, params, other, data)
    expected = jax.grad(lambda p: baselines_loss(networks, config, p, data))(params)
    chex.assert_trees_all_close(grads, expected, rtol=1e-4, atol=1e-6)
    assert float(metrics["trust_region_active"]) == 0.0


def test_the_trust_region_only_changes_the_policy_s_gradient():
    config = small_config(trust_region_delta=1e-3)
    networks = networks_lib.make_policy_value_networks(SPEC, config, critic="q")
    params = networks.init(jax.random.PRNGKey(0))
    average = networks.init(jax.random.PRNGKey(1))
    data = jax.tree_util.tree_map(jnp.asarray, random_sequences())
    unconstrained = dataclasses.replace(config, trust_region_delta=0.0)
    inside, _ = acer.acer_gradients(networks, unconstrained, params, average, data)
    projected, metrics = acer.acer_gradients(networks, config, params, average, data)
    assert float(metrics["trust_region_active"]) > 0
    policy_in, value_in = networks_lib.split_params(inside)
    policy_out, value_out = networks_lib.split_params(projected)
    chex.assert_trees_all_close(value_in, value_out)
    assert not np.allclose(policy_in["policy"]["w"], policy_out["policy"]["w"])


def test_an_update_moves_the_average_network_by_one_minus_its_decay():
    config = small_config(average_decay=0.9)
    networks = networks_lib.make_policy_value_networks(SPEC, config, critic="q")
    optimizer = optax.sgd(0.1)
    state = acer.initial_state(networks, optimizer, jax.random.PRNGKey(0))
    state = state._replace(average_params=jax.tree_util.tree_map(jnp.zeros_like, state.params))
    update = jax.jit(acer.make_update(networks, optimizer, config))
    data = jax.tree_util.tree_map(jnp.asarray, random_sequences())
    new, metrics, _ = update(state, data, jnp.ones(2))
    chex.assert_trees_all_close(
        new.average_params, jax.tree_util.tree_map(lambda p: 0.1 * p, new.params), rtol=1e-6
    )
    assert not np.allclose(new.params["policy"]["w"], state.params["policy"]["w"])
    assert (int(new.steps), int(new.replay_steps)) == (1, 0)
    replayed, _, _ = jax.jit(acer.make_update(networks, optimizer, config, replayed=True))(
        new, data, jnp.ones(2)
    )
    assert (int(replayed.steps), int(replayed.replay_steps)) == (1, 1)
    assert np.isfinite(float(metrics["value_loss"]))


def transition(reward, observation, last=False, discount=1.0):
    step_type = dm_env.StepType.LAST if last else dm_env.StepType.MID
    return dm_env.TimeStep(step_type, np.float32(reward), np.float32(discount),
                           np.full(2, observation, np.float32))  # fmt: skip


@pytest.mark.parametrize("batched", [False, True])
def test_the_adder_writes_each_sequence_into_the_queue_and_the_replay_table(
    replay_backend, batched
):
    config = small_config(rollout_length=3, num_envs=1)
    acer_builder = builder.OnPolicyBuilder(config)
    networks = builder.make_networks(SPEC, config)
    policy = acer_builder.make_policy(networks, SPEC)
    tables = acer_builder.make_replay_tables(SPEC, policy)
    assert [t.sampler for t in tables] == ["fifo", "uniform"]
    server = replay.make_server(tables, replay_backend)
    try:
        client = server.client()
        if batched:
            adder = acer_builder.make_batched_adder(client, SPEC, policy, 1)
            first = dm_env.restart(np.zeros((1, 2), np.float32))
            first = first._replace(step_type=np.zeros(1, np.int8))
        else:
            adder = acer_builder.make_adder(client, SPEC, policy)
            first = dm_env.restart(np.zeros(2, np.float32))
        adder.add_first(first)
        for t in range(1, 8):  # Items end at stream steps 4 and 7.
            probs = np.array([0.2, 0.3, 0.5], np.float32)
            extras = {"log_prob": np.float32(np.log(0.2)), "probs": probs}
            step = transition(1.0, t)
            if batched:
                step = jax.tree_util.tree_map(lambda x: np.asarray(x)[None], step)
                extras = jax.tree_util.tree_map(lambda x: np.asarray(x)[None], extras)
                adder.add(np.zeros(1, np.int32), step, extras)
            else:
                adder.add(np.int32(0), step, extras)
        adder.flush()
        assert adder.items_written == 2  # Sequences, not inserts.
        assert client.table_size(config.replay_buffer_table_name) == 2
        fresh = next(client.dataset(config.replay_table_name, 2, flatten_blocks=False))
        replayed = next(client.dataset(config.replay_buffer_table_name, 8, flatten_blocks=False))
        observations = {tuple(row[:, 0]) for row in np.asarray(replayed.data.observation)}
        assert observations == {tuple(row[:, 0]) for row in np.asarray(fresh.data.observation)}
        assert observations == {(0.0, 1.0, 2.0, 3.0), (3.0, 4.0, 5.0, 6.0)}
        np.testing.assert_allclose(fresh.data.extras["probs"][0, 0], [0.2, 0.3, 0.5])
        adder.close()
    finally:
        server.stop()


def test_acer_acts_in_discrete_action_spaces_only():
    box = specs.EnvironmentSpec(
        observations=dm_specs.Array((3,), np.float32),
        actions=dm_specs.BoundedArray((1,), np.float32, -1.0, 1.0),
        rewards=dm_specs.Array((), np.float32),
        discounts=dm_specs.BoundedArray((), np.float32, 0.0, 1.0),
    )
    entry = registry.get_agent("acer")
    assert entry.supports("discrete") and not entry.supports("continuous")
    with pytest.raises(errors.ConfigError, match="Discrete action space only"):
        entry.make_networks(box, entry.config_class())


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(num_epochs=2), "one gradient step per batch"),
        (dict(minibatch_size=6), "one gradient step per batch"),
        (dict(normalize_observations=True), "does not normalise"),
        (dict(average_decay=1.0), "average_decay"),
        (dict(replay_ratio=-1.0), "replay_ratio must be >= 0"),
        (dict(truncation=0.0), "truncation must be positive"),
        (dict(replay_buffer_steps=10), "at least one batch of rollouts"),
        (dict(replay_buffer_table_name="rollouts"), "must differ"),
    ],
)
def test_bad_configs_name_the_fix(overrides, message):
    with pytest.raises(errors.ConfigError, match=message):
        small_config(**overrides)


def test_the_learner_replays_a_poisson_number_of_batches_after_the_start():
    config = small_config(replay_start_steps=24, replay_ratio=2.0)  # 12 steps a batch.
    env = rlkit.make_vector_environment("CartPole-v1", config.num_envs, seed=0)
    agent = ACER(rlkit.make_environment_spec(env), config, seed=0,
                 logger=rlkit.loggers.NoOpLogger())  # fmt: skip
    learner = agent.learner
    counts = [learner.replay_count(step) for step in range(1, 200)]
    assert counts[:1] == [0] and 1.6 < np.mean(counts[1:]) < 2.4
    assert counts == [learner.replay_count(step) for step in range(1, 200)]  # Seeded.
    rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger()).run(num_steps=200)
    state = learner.state
    steps = int(state.steps)
    assert steps >= 15
    assert int(state.replay_steps) == sum(counts[:steps])
    assert agent.replay_client.table_size(config.replay_table_name) == 0
    assert agent.replay_client.table_size(config.replay_buffer_table_name) == 2 * steps
    # The actor acts on the learner's newest parameters, replayed updates included.
    chex.assert_trees_all_equal(
        agent.actor._variable_client.params, learner.get_variables(["policy"])[0]
    )
    agent.close()
    env.close()


def test_the_q_critic_has_a_value_per_action():
    config = small_config()
    networks = builder.make_networks(SPEC, config)
    params = networks.init(jax.random.PRNGKey(0))
    chex.assert_shape(networks.value_apply(params, jnp.zeros((5, 2))), (5, 3))
    assert hk.data_structures.tree_size(params) > 0


@pytest.mark.slow
def test_run_experiment_trains_acer_and_resumes(tmp_path):
    from rlkit import experiments

    experiment = experiments.make_experiment_config(
        "acer",
        "CartPole-v1",
        agent_config=small_config(replay_start_steps=24),
        max_num_actor_steps=200,
        eval_every=100,
        checkpoint_every=100,
        num_eval_episodes=2,
        run_dir=str(tmp_path),
        loggers=("csv",),
    )
    result = experiments.run_experiment(experiment)
    assert 200 <= result.actor_steps <= 201
    resumed = experiments.run_experiment(dataclasses.replace(experiment, max_num_actor_steps=300))
    assert resumed.resumed_from == result.actor_steps
    assert 300 <= resumed.actor_steps <= 301
    policy = experiments.load_policy(str(tmp_path))
    env = policy.make_environment(seed=0)
    actor = policy.make_actor(seed=0)
    actor.observe_first(env.reset())
    assert int(actor.select_action(env.reset().observation)) in (0, 1)


@pytest.mark.slow
def test_learns_cartpole():
    config = registry.get_agent("acer").load_config("CartPole-v1")
    env = rlkit.make_vector_environment("CartPole-v1", config.num_envs, seed=0)
    agent = ACER(rlkit.make_environment_spec(env), config, seed=0,
                 logger=rlkit.loggers.NoOpLogger())  # fmt: skip
    loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
    results = loop.run(num_steps=100_000)  # The shipped config's budget (~30 s).
    first = np.mean([r["episode_return"] for r in results[:20]])
    evaluation = rlkit.EnvironmentLoop(
        rlkit.make_environment("CartPole-v1", seed=100),
        agent.make_evaluation_actor(),
        logger=rlkit.loggers.NoOpLogger(),
    ).run(num_episodes=10)
    greedy = np.mean([r["episode_return"] for r in evaluation])
    # bench/on_policy.py: 415, 344 and 493 on seeds 0-2 at 100k (RL-Zoo's 499 is at 500k).
    assert first < 60 and greedy >= 300, (first, greedy)  # Random: ~22.
    agent.close()
    env.close()


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None or importlib.util.find_spec("reverb") is None,
    reason="needs the distributed and reverb extras",
)
def test_on_ray_actors_fill_both_tables_and_the_learner_replays(tmp_path):
    from rlkit import experiments

    experiment = experiments.make_experiment_config(
        "acer", "CartPole-v1", agent_config=small_config(replay_start_steps=200),
        max_num_actor_steps=2_000, eval_every=1_000, checkpoint_every=1_000,
        num_eval_episodes=2, run_dir=str(tmp_path), loggers=("csv",),
    )  # fmt: skip
    result = experiments.run_distributed_experiment(experiment, num_actors=2)
    assert result.actor_steps >= 2_000 and len(result.evaluations) >= 2
    assert os.path.exists(os.path.join(tmp_path, "manifests", f"{result.actor_steps}.json"))
    learner = pd.read_csv(os.path.join(tmp_path, "logs", "learner.csv"))
    # Updates on batches sampled from the replay table, besides one per fresh batch.
    assert learner["learner_sgd_steps"].iloc[-1] > learner["learner_steps"].iloc[-1], learner
