"""On-policy agents (PPO, A2C, REINFORCE, TRPO, IMPALA): GAE, V-trace, the losses and
TRPO's conjugate gradient by hand, rollouts and episodes from the replay queue,
normalisation, bad configs, save/restore, and learning CartPole (slow)."""

import dataclasses

import chex
import dm_env
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlkit
from rlkit import errors
from rlkit.agents import registry
from rlkit.agents.on_policy import (
    A2C,
    IMPALA,
    PPO,
    REINFORCE,
    TRPO,
    VARIANTS,
    A2CConfig,
    IMPALAConfig,
    PPOConfig,
    REINFORCEConfig,
    TRPOConfig,
    learning,
)
from rlkit.agents.on_policy import networks as networks_lib
from rlkit.jax import distributions, running_statistics
from rlkit.replay import Step


def test_gae_masks_a_final_observation_s_step_and_bootstraps_a_truncation():
    """Steps 0, 1 end an episode truncated after step 1 (discount 1); step 2 is the final
    observation's step (masked); step 3 starts the next episode; value 4 bootstraps."""
    gamma, lam = 0.9, 0.5
    values = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
    rewards = jnp.array([1.0, 1.0, 0.0, 2.0])
    discounts = gamma * jnp.array([1.0, 1.0, 0.0, 1.0])
    mask = jnp.array([1.0, 1.0, 0.0, 1.0])
    advantages, targets = learning.rollout_advantages(values, rewards, discounts, mask, lam)
    delta3 = 2.0 + gamma * 5.0 - 4.0
    delta1 = 1.0 + gamma * 3.0 - 2.0  # Bootstraps from the final observation's value, 3.
    delta0 = 1.0 + gamma * 2.0 - 1.0
    expected = [delta0 + gamma * lam * delta1, delta1, 0.0, delta3]  # No trace across.
    np.testing.assert_allclose(advantages, expected, rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(targets)[[0, 1, 3]], np.array(expected)[[0, 1, 3]] + [1, 2, 4]
    )


def test_vtrace_corrects_for_the_actor_s_policy_and_stops_before_a_final_observation():
    """Step 0 is a truncated episode's last step (it bootstraps from the final observation,
    value 2, and no trace crosses), step 1 the final observation's step, step 2 the next
    episode's first. Importance ratios pi/mu: 0.5, 1 and 2 (clipped to 1)."""
    gamma = 0.9
    values = jnp.array([1.0, 2.0, 3.0, 4.0])
    rewards = jnp.array([1.0, 0.0, 2.0])
    discounts = gamma * jnp.array([1.0, 0.0, 1.0])
    mask = jnp.array([1.0, 0.0, 1.0])
    log_rhos = jnp.log(jnp.array([0.5, 1.0, 2.0]))
    advantages, targets = learning.vtrace_advantages(
        values, rewards, discounts, mask, log_rhos, IMPALAConfig()
    )
    delta0 = 0.5 * (1.0 + gamma * 2.0 - 1.0)  # rho_0 = 0.5; no trace into step 1.
    delta2 = 1.0 * (2.0 + gamma * 4.0 - 3.0)  # rho_2 clipped to 1.
    np.testing.assert_allclose(advantages, [delta0, 0.0, delta2], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(targets)[[0, 2]], [1.0 + delta0, 3.0 + delta2])


def test_vtrace_carries_the_trace_within_an_episode():
    gamma = 0.9
    values, rewards = jnp.array([1.0, 2.0, 3.0]), jnp.array([1.0, 1.0])
    discounts, mask = gamma * jnp.ones(2), jnp.ones(2)
    log_rhos = jnp.log(jnp.array([0.5, 2.0]))
    advantages, targets = learning.vtrace_advantages(
        values, rewards, discounts, mask, log_rhos, IMPALAConfig()
    )
    delta1 = 1.0 + gamma * 3.0 - 2.0  # rho_1 clipped to 1.
    target1 = 2.0 + delta1
    # c_0 = min(1, 0.5): the trace from step 1 comes in at half weight.
    target0 = 1.0 + 0.5 * (1.0 + gamma * 2.0 - 1.0) + gamma * 0.5 * delta1
    np.testing.assert_allclose(targets, [target0, target1], rtol=1e-6)
    # The policy gradient's advantage bootstraps from the next V-trace target.
    np.testing.assert_allclose(advantages, [0.5 * (1.0 + gamma * target1 - 1.0), delta1], rtol=1e-6)


def test_natural_gradient_solves_the_fisher_system_on_a_pytree():
    """Conjugate gradient on a known 3x3 positive-definite system, the unknowns split over a
    pytree: exact after 3 iterations (as many as unknowns)."""
    fisher = jnp.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]])
    gradient = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([3.0])}

    def product(vector):
        flat = fisher @ jnp.concatenate([vector["a"], vector["b"]])
        return {"a": flat[:2], "b": flat[2:]}

    direction = learning.natural_gradient(product, gradient, max_steps=3)
    expected = np.linalg.solve(np.asarray(fisher), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(
        np.concatenate([direction["a"], direction["b"]]), expected, rtol=1e-5
    )
    one_step = learning.natural_gradient(product, gradient, max_steps=1)
    assert not np.allclose(np.concatenate([one_step["a"], one_step["b"]]), expected)


@pytest.mark.slow
def test_trpo_step_stays_in_the_trust_region_improves_the_surrogate_and_spares_the_critic():
    env = rlkit.make_environment("CartPole-v1", seed=0)
    spec = rlkit.make_environment_spec(env)
    config = TRPOConfig(num_envs=1, rollout_length=64, minibatch_size=64, target_kl=0.01)
    networks = networks_lib.make_policy_value_networks(spec, config)
    params = networks.init(jax.random.PRNGKey(0))
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    observation = jax.random.normal(keys[0], (64, 4))
    action = jax.random.bernoulli(keys[1], 0.5, (64,)).astype(jnp.int32)
    output = networks.policy_apply(params, observation)
    batch = learning.Minibatch(
        observation=observation,
        action=action,
        log_prob=distributions.log_prob(networks.policy_kind, output, action),
        advantage=jax.random.normal(keys[2], (64,)) + 2.0 * action,  # Action 1 is better.
        value_target=jnp.zeros(64),
        value=jnp.zeros(64),
        mask=jnp.ones(64).at[-4:].set(0.0),
    )
    new_params, metrics = jax.jit(lambda p, b: learning.trpo_policy_step(networks, config, p, b))(
        params, batch
    )
    assert float(metrics["line_search_accepted"]) == 1.0
    assert 0.0 < float(metrics["kl"]) < config.target_kl
    assert float(metrics["policy_improvement"]) > 0.0
    new_output = networks.policy_apply(new_params, observation)
    kl = np.mean(
        np.asarray(distributions.kl_divergence(networks.policy_kind, output, new_output))[:60]
    )
    np.testing.assert_allclose(kl, metrics["kl"], rtol=1e-4)
    # Action 1 became more likely; the value network's parameters are untouched.
    assert np.mean(jax.nn.softmax(new_output)[:, 1]) > np.mean(jax.nn.softmax(output)[:, 1])
    _, old_value = networks_lib.split_params(params)
    _, new_value = networks_lib.split_params(new_params)
    assert old_value and set(old_value) == {m for m in params if m.startswith("value")}
    chex.assert_trees_all_equal(new_value, old_value)


def test_reinforce_learns_from_whole_episodes_with_monte_carlo_returns():
    """A padded episode item (max_episode_steps 4): two steps, terminated, the final
    observation's step, then padding (empty episodes). Advantages are G_t - V(s_t)."""
    config = REINFORCEConfig(num_envs=1, max_episode_steps=4, discount=0.5)
    assert (config.rollout_length, config.minibatch_size) == (5, 5)
    padding = [0.0, 0.0, 0.0]
    data = Step(
        observation=jnp.array([[[1.0], [2.0], [3.0], [0.0], [0.0], [0.0]]]),
        action=jnp.array([[1, 0, 0, 0, 0, 0]], jnp.int32),
        reward=jnp.array([[1.0, 1.0, 0.0, *padding]]),
        discount=jnp.array([[1.0, 0.0, 0.0, *padding]]),
        start_of_episode=jnp.array([[True, False, False, True, True, True]]),
        extras={"log_prob": jnp.zeros((1, 6))},
    )
    values = lambda params, observation: 10.0 * observation[:, 0]  # noqa: E731
    networks = fixed_networks(jnp.zeros((5, 2)), None)._replace(value_apply=values)
    batch = learning.rollout_minibatch(networks, config, {}, data, "gae")
    np.testing.assert_array_equal(batch.mask, [1, 1, 0, 0, 0])
    returns = np.array([1.0 + 0.5 * 1.0, 1.0])
    np.testing.assert_allclose(batch.advantage[:2], returns - [10.0, 20.0], rtol=1e-6)
    np.testing.assert_allclose(batch.advantage[2:], 0.0)
    np.testing.assert_allclose(batch.value_target[:2], returns, rtol=1e-6)


def fixed_networks(logits, values):
    """Networks whose outputs ignore the parameters: the loss is then checkable by hand."""
    return networks_lib.PolicyValueNetworks(
        init=lambda key: {},
        policy_apply=lambda params, observation: logits,
        value_apply=lambda params, observation: values,
        policy_kind="categorical",
        action_size=logits.shape[-1],
    )


def test_ppo_loss_against_a_hand_computed_value():
    logits = jnp.log(jnp.array([[0.5, 0.5], [0.2, 0.8], [0.9, 0.1]]))
    values = jnp.array([1.0, 0.5, 0.0])
    batch = learning.Minibatch(
        observation=jnp.zeros((3, 1)),
        action=jnp.array([0, 1, 0]),
        log_prob=jnp.log(jnp.array([0.25, 0.8, 0.5])),  # Ratios 2.0, 1.0, 1.8.
        advantage=jnp.array([1.0, -2.0, 5.0]),
        value_target=jnp.array([2.0, 0.5, 7.0]),
        value=jnp.array([0.0, 0.0, 0.0]),
        mask=jnp.array([1.0, 1.0, 0.0]),  # The third step is a final observation's.
    )
    config = PPOConfig(normalize_advantages=False, value_coefficient=0.5, entropy_coefficient=0.1)
    loss, metrics = learning.ppo_loss(
        fixed_networks(logits, values), config, {}, batch, jnp.asarray(1.0)
    )
    # Surrogate: min(2.0 * 1, 1.2 * 1) = 1.2 and min(1.0 * -2, 1.0 * -2) = -2: mean -0.4.
    policy_loss = -(1.2 - 2.0) / 2
    value_loss = ((2.0 - 1.0) ** 2 + 0.0) / 2
    entropy = (np.log(2) - (0.2 * np.log(0.2) + 0.8 * np.log(0.8))) / 2
    np.testing.assert_allclose(metrics["policy_loss"], policy_loss, rtol=1e-5)
    np.testing.assert_allclose(metrics["value_loss"], value_loss, rtol=1e-5)
    np.testing.assert_allclose(metrics["entropy"], entropy, rtol=1e-5)
    np.testing.assert_allclose(loss, policy_loss + 0.5 * value_loss - 0.1 * entropy, rtol=1e-5)
    np.testing.assert_allclose(metrics["clip_fraction"], 0.5)


def test_a2c_loss_against_a_hand_computed_value():
    logits = jnp.log(jnp.array([[0.5, 0.5], [0.2, 0.8], [0.9, 0.1]]))
    batch = learning.Minibatch(
        observation=jnp.zeros((3, 1)),
        action=jnp.array([0, 1, 0]),
        log_prob=jnp.zeros(3),  # A2C does not use the acting policy's log-probabilities.
        advantage=jnp.array([1.0, -2.0, 5.0]),
        value_target=jnp.array([2.0, 0.5, 7.0]),
        value=jnp.zeros(3),
        mask=jnp.array([1.0, 1.0, 0.0]),
    )
    config = A2CConfig(value_coefficient=0.5, entropy_coefficient=0.1)
    networks = fixed_networks(logits, jnp.array([1.0, 0.5, 0.0]))
    loss, metrics = learning.a2c_loss(networks, config, {}, batch, jnp.asarray(1.0))
    policy_loss = -(1.0 * np.log(0.5) + -2.0 * np.log(0.8)) / 2  # No normalisation (SB3's).
    value_loss = (1.0 + 0.0) / 2
    entropy = (np.log(2) - (0.2 * np.log(0.2) + 0.8 * np.log(0.8))) / 2
    np.testing.assert_allclose(metrics["policy_loss"], policy_loss, rtol=1e-5)
    np.testing.assert_allclose(loss, policy_loss + 0.5 * value_loss - 0.1 * entropy, rtol=1e-5)


def test_a2c_takes_one_gradient_step_on_the_whole_batch_with_rmsprop():
    config = A2CConfig(num_envs=4)
    assert (config.rollout_length, config.minibatch_size, config.num_epochs) == (5, 20, 1)
    assert config.num_minibatches == 1 and VARIANTS[A2CConfig].optimizer == "rmsprop"
    # RMSprop as torch's: eps outside the square root (the first step is lr * g / (|g|
    # sqrt(0.01) + eps)).
    optimizer = learning.make_optimizer(
        dataclasses.replace(config, max_gradient_norm=0.0), VARIANTS[A2CConfig].optimizer
    )
    params = {"w": jnp.array([1.0])}
    updates, _ = optimizer.update({"w": jnp.array([2.0])}, optimizer.init(params), params)
    expected = -7e-4 * 2.0 / (np.sqrt(0.01 * 4.0) + 1e-5)
    np.testing.assert_allclose(updates["w"], [expected], rtol=1e-6)


def test_value_clipping_keeps_the_value_near_its_old_estimate():
    logits = jnp.zeros((2, 2))
    batch = learning.Minibatch(
        observation=jnp.zeros((2, 1)),
        action=jnp.array([0, 1]),
        log_prob=jnp.log(jnp.array([0.5, 0.5])),
        advantage=jnp.zeros(2),
        value_target=jnp.array([3.0, 3.0]),
        value=jnp.array([1.0, 1.0]),
        mask=jnp.ones(2),
    )
    networks = fixed_networks(logits, jnp.array([2.0, 0.0]))
    config = PPOConfig(value_clip_epsilon=0.5)
    _, metrics = learning.ppo_loss(networks, config, {}, batch, jnp.asarray(1.0))
    # Clipped to 1.5 and 0.5: ((3 - 1.5)^2 + (3 - 0.5)^2) / 2.
    np.testing.assert_allclose(metrics["value_loss"], (1.5**2 + 2.5**2) / 2, rtol=1e-6)


def test_rollout_minibatch_flattens_rollouts_and_masks_final_observation_steps():
    """One sub-environment, rollout length 3: steps 0-1 end an episode (terminated), step
    2 is its final observation's step, step 3 (bootstrap only) starts the next."""
    data = Step(
        observation=jnp.array([[[0.0], [1.0], [2.0], [0.0]]]),
        action=jnp.array([[1, 0, 0, 1]], jnp.int32),
        reward=jnp.array([[1.0, 1.0, 0.0, 1.0]]),
        discount=jnp.array([[1.0, 0.0, 0.0, 1.0]]),
        start_of_episode=jnp.array([[True, False, False, True]]),
        extras={"log_prob": jnp.array([[-0.1, -0.2, 0.0, -0.4]])},
    )
    values = lambda params, observation: 10.0 * observation[:, 0]  # noqa: E731
    networks = fixed_networks(jnp.zeros((4, 2)), None)._replace(value_apply=values)
    config = PPOConfig(num_envs=1, rollout_length=3, minibatch_size=3, discount=0.5)
    batch = learning.rollout_minibatch(networks, config, {}, data, "gae")
    chex.assert_shape(batch.observation, (3, 1))
    np.testing.assert_array_equal(batch.mask, [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(batch.action, [1, 0, 0])
    np.testing.assert_allclose(batch.log_prob, [-0.1, -0.2, 0.0])
    np.testing.assert_allclose(batch.value, [0.0, 10.0, 20.0])
    # Step 1 terminates: advantage 1 - 10; step 0: 1 + 0.5 * 10 - 0 + 0.5 * 0.95 * (-9).
    delta1 = 1.0 - 10.0
    np.testing.assert_allclose(
        batch.advantage, [1.0 + 5.0 + 0.5 * 0.95 * delta1, delta1, 0.0], rtol=1e-6
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(num_envs=3, rollout_length=10, minibatch_size=4), "multiple of minibatch_size"),
        (dict(num_envs=0), "num_envs must be positive"),
        (dict(anneal_clip_epsilon=True), "anneal_env_steps"),
        (dict(gae_lambda=1.5), "gae_lambda"),
        (dict(activation="gelu"), "activation must be one of"),
        (dict(observation_clip=0.0), "observation_clip must be positive"),
    ],
)
def test_bad_configs_name_the_fix(overrides, message):
    with pytest.raises(errors.ConfigError, match=message):
        PPOConfig(**overrides)


@pytest.mark.parametrize(
    "config_class, overrides, message",
    [
        (REINFORCEConfig, dict(rollout_length=100), "set max_episode_steps instead"),
        (REINFORCEConfig, dict(max_episode_steps=0), "max_episode_steps must be positive"),
        (TRPOConfig, dict(line_search_shrink=1.0), "line_search_shrink"),
        (TRPOConfig, dict(target_kl=0.0), "target_kl must be positive"),
        (IMPALAConfig, dict(actor_update_period=0), "actor_update_period must be positive"),
        (IMPALAConfig, dict(clip_rho_threshold=-1.0), "clip_rho_threshold must be positive"),
    ],
)
def test_bad_configs_of_the_other_agents_name_the_fix(config_class, overrides, message):
    with pytest.raises(errors.ConfigError, match=message):
        config_class(**overrides)


@pytest.mark.parametrize("agent", ["ppo", "a2c", "reinforce", "trpo", "impala"])
def test_an_action_space_without_a_policy_gets_an_error_naming_what_is_supported(agent):
    from dm_env import specs as dm_specs

    from rlkit import specs

    multi_discrete = specs.EnvironmentSpec(
        observations=dm_specs.Array((3,), np.float32),
        actions=dm_specs.BoundedArray((2,), np.int64, 0, 3),
        rewards=dm_specs.Array((), np.float32),
        discounts=dm_specs.BoundedArray((), np.float32, 0.0, 1.0),
    )
    entry = registry.get_agent(agent)
    with pytest.raises(errors.ConfigError, match="Discrete action space .* or a bounded Box"):
        entry.make_networks(multi_discrete, entry.config_class())


def small_config(**overrides):
    return PPOConfig(num_envs=2, rollout_length=8, minibatch_size=8, num_epochs=2, **overrides)


def test_an_agent_of_n_environments_refuses_a_single_environment():
    env = rlkit.make_environment("CartPole-v1", seed=0)
    agent = PPO(rlkit.make_environment_spec(env), small_config())
    with pytest.raises(ValueError, match="make_vector_environment"):
        rlkit.EnvironmentLoop(env, agent)
    agent.close()


@pytest.mark.parametrize(
    "env_id, recipe", [("CartPole-v1", "gymnasium"), ("Pendulum-v1", "continuous")]
)
@pytest.mark.slow
@pytest.mark.parametrize("agent_class", [PPO, A2C, TRPO])
def test_learns_from_each_batch_of_rollouts_once_and_acts_on_new_parameters(
    env_id, recipe, replay_backend, agent_class
):
    config = {
        PPO: small_config(),
        A2C: A2CConfig(num_envs=2, rollout_length=8),
        TRPO: TRPOConfig(num_envs=2, rollout_length=8, minibatch_size=8, num_epochs=2),
    }[agent_class]
    env = rlkit.make_vector_environment(env_id, config.num_envs, seed=0, recipe=recipe)
    spec = rlkit.make_environment_spec(env)
    agent = agent_class(spec, config, seed=0, replay_backend=replay_backend)
    loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
    loop.run(num_steps=2 * 8 * 5)
    # Every sub-environment appends one step per vector step (an auto-reset's step holds the
    # final observation), so rollouts are complete after 9, 17, 25, ... vector steps.
    vector_steps = agent.actor._steps
    assert vector_steps >= 40
    assert int(agent.learner.state.steps) == (vector_steps - 1) // 8
    assert agent.replay_client.table_size(config.replay_table_name) == 0
    # The actor holds the learner's newest parameters.
    actor_params = agent.actor._variable_client.params
    chex.assert_trees_all_equal(actor_params, agent.learner.get_variables(["policy"])[0])
    agent.close()
    env.close()


@pytest.mark.parametrize(
    "env_id, recipe", [("CartPole-v1", "gymnasium"), ("Pendulum-v1", "continuous")]
)
@pytest.mark.slow
def test_reinforce_learns_once_per_batch_of_whole_episodes(env_id, recipe, replay_backend):
    config = REINFORCEConfig(num_envs=2, max_episode_steps=200)
    env = rlkit.make_vector_environment(env_id, config.num_envs, seed=0, recipe=recipe)
    agent = REINFORCE(rlkit.make_environment_spec(env), config, replay_backend=replay_backend)
    loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
    episodes = len(loop.run(num_steps=600))
    assert episodes >= 2
    assert int(agent.learner.state.steps) == episodes // 2
    chex.assert_trees_all_equal(
        agent.actor._variable_client.params, agent.learner.get_variables(["policy"])[0]
    )
    agent.close()
    env.close()


def test_reinforce_names_the_fix_for_an_episode_longer_than_its_padding():
    config = REINFORCEConfig(num_envs=2, max_episode_steps=100)
    env = rlkit.make_vector_environment("Pendulum-v1", 2, seed=0, recipe="continuous")
    agent = REINFORCE(rlkit.make_environment_spec(env), config)
    loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
    with pytest.raises(ValueError, match="max_sequence_length"):
        loop.run(num_steps=400)  # Pendulum's episodes last 200 steps.
    agent.close()
    env.close()


def test_impala_s_actor_lags_the_learner_by_its_update_period(replay_backend):
    config = IMPALAConfig(num_envs=2, rollout_length=4, actor_update_period=3)
    env = rlkit.make_vector_environment("CartPole-v1", config.num_envs, seed=0)
    agent = IMPALA(rlkit.make_environment_spec(env), config, replay_backend=replay_backend)
    client = agent.actor._variable_client
    fetched_at, fetch = [], client.update_and_wait

    def recording_fetch():
        fetched_at.append(int(agent.learner.state.steps))
        fetch()

    client.update_and_wait = recording_fetch
    rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger()).run(num_steps=80)
    steps = int(agent.learner.state.steps)
    assert steps >= 9
    # Parameters reach the actor after learner steps 3, 6, 9, ...: it acts up to 2 behind.
    assert [s for s in fetched_at if s > 0] == list(range(3, steps + 1, 3))
    agent.close()
    env.close()


def test_normalisation_uses_the_actor_s_statistics_and_scales_rewards_by_the_return_std():
    """Two sub-environments, rollout length 3. Sub-environment 0 terminates after step 1
    (step 2 holds its final observation); 1 runs on. Discounted returns carry in from the
    previous batch (1 and 2) and restart after an episode's end."""
    data = Step(
        observation=jnp.array([[[1.0], [2.0], [3.0], [4.0]], [[50.0], [6.0], [7.0], [8.0]]]),
        action=jnp.zeros((2, 4), jnp.int32),
        reward=jnp.array([[1.0, 2.0, 0.0, 9.0], [3.0, 4.0, 5.0, 9.0]]),
        discount=jnp.array([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]]),
        start_of_episode=jnp.array([[False, False, False, True], [False, False, False, False]]),
        extras={"log_prob": jnp.zeros((2, 4))},
    )
    config = PPOConfig(
        num_envs=2, rollout_length=3, minibatch_size=3, discount=0.5,
        normalize_observations=True, normalize_rewards=True,
    )  # fmt: skip
    networks = fixed_networks(jnp.zeros((8, 2)), None)._replace(
        observation_clip=10.0,
        initial_observation_statistics=running_statistics.init_state(jnp.zeros(1)),
    )
    optimizer = learning.make_optimizer(config, "adam")
    state = learning.initial_state(networks, optimizer, jax.random.PRNGKey(0), config)
    state = state._replace(discounted_returns=jnp.array([1.0, 2.0]))
    normalized, state = learning.normalize_rollouts(networks, config, state, data)
    # The actor acted with no statistics yet (mean 0, variance 1): only the clip applies.
    np.testing.assert_allclose(normalized.observation[:, :, 0], [[1, 2, 3, 4], [10, 6, 7, 8]])
    observed = np.array([1.0, 2.0, 3.0, 50.0, 6.0, 7.0])  # Each step once, bootstraps not.
    np.testing.assert_allclose(state.observation_statistics.mean, [observed.mean()], rtol=1e-6)
    np.testing.assert_allclose(state.observation_statistics.variance, [observed.var()], rtol=1e-5)
    returns = np.array([1.5, 2.75, 4.0, 6.0, 8.0])  # 0.5 * 1 + 1, ...; 0.5 * 2 + 3, ...
    np.testing.assert_allclose(state.return_statistics.variance, returns.var(), rtol=1e-5)
    np.testing.assert_allclose(state.discounted_returns, [0.0, 8.0])
    np.testing.assert_allclose(
        normalized.reward, np.asarray(data.reward) / np.sqrt(returns.var() + 1e-8), rtol=1e-5
    )


def test_normalisation_statistics_reach_the_actor_and_count_every_rollout_step():
    config = small_config(normalize_observations=True, normalize_rewards=True)
    env = rlkit.make_vector_environment("Pendulum-v1", config.num_envs, seed=0, recipe="continuous")
    agent = PPO(rlkit.make_environment_spec(env), config, seed=0)
    rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger()).run(num_steps=2 * 8 * 4)
    state = agent.learner.state
    steps = int(state.steps) * config.steps_per_learner_step
    assert steps >= 48
    assert int(state.observation_statistics.count) == steps
    assert int(state.return_statistics.count) == steps  # No episode ends in 200 steps.
    # Pendulum's observations are cos, sin and a speed: not mean 0 and variance 1.
    assert not np.allclose(state.observation_statistics.variance, 1.0)
    served = agent.actor._variable_client.params
    chex.assert_trees_all_equal(served.observation_statistics, state.observation_statistics)
    agent.close()
    env.close()


@pytest.mark.parametrize("normalize", [False, True])
def test_ppo_state_saves_and_restores_exactly(normalize):
    config = small_config(normalize_observations=normalize, normalize_rewards=normalize)
    env = rlkit.make_vector_environment("CartPole-v1", config.num_envs, seed=0)
    spec = rlkit.make_environment_spec(env)
    agent = PPO(spec, config, seed=0)
    rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger()).run(num_steps=60)
    saved = jax.device_get(agent.save())
    other = PPO(spec, config, seed=1)
    other.restore(saved)
    chex.assert_trees_all_equal(jax.device_get(other.save()), saved)
    agent.close()
    other.close()
    env.close()


def test_the_cartpole_yaml_is_rl_zoo_s():
    config = registry.get_agent("ppo").load_config("CartPole-v1")
    expected = dict(num_envs=8, rollout_length=32, minibatch_size=256, num_epochs=20)
    assert {k: getattr(config, k) for k in expected} == expected
    assert (config.discount, config.gae_lambda, config.learning_rate) == (0.98, 0.8, 1e-3)
    assert config.anneal_env_steps == 100_000 and config.anneal_clip_epsilon
    from rlkit.experiments import tuning

    entry = registry.get_agent("ppo")
    assert tuning.load_search_space(entry.tune_space_path(), entry.config_class)
    pendulum = entry.load_config("Pendulum-v1")
    assert (pendulum.num_envs, pendulum.rollout_length, pendulum.discount) == (4, 1024, 0.9)
    # "auto" builds Box actions in [-1, 1] for the Gaussian policy; Discrete ones pass as they are.
    assert entry.resolve_recipe("Pendulum-v1") == "continuous"
    env = rlkit.make_environment("CartPole-v1", recipe=entry.resolve_recipe("CartPole-v1"))
    networks_lib.make_policy_value_networks(rlkit.make_environment_spec(env), config)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, agent_class, steps, threshold",
    # PPO: half RL-Zoo's budget (500 at 100k). A2C: a fifth of it (RL-Zoo trains 500k), where
    # it has not settled (bench/on_policy.py: 500, 123 and 448 on seeds 0-2 at 100k).
    [
        ("ppo", PPO, 50_000, 300),
        ("a2c", A2C, 100_000, 100),
        ("reinforce", REINFORCE, 100_000, 150),
        ("trpo", TRPO, 50_000, 200),
        ("impala", IMPALA, 100_000, 150),
    ],
)
def test_learns_cartpole(name, agent_class, steps, threshold):
    config = registry.get_agent(name).load_config("CartPole-v1")  # RL-Zoo's.
    env = rlkit.make_vector_environment("CartPole-v1", config.num_envs, seed=0)
    agent = agent_class(rlkit.make_environment_spec(env), config, seed=0)
    loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
    results = loop.run(num_steps=steps)
    first = np.mean([r["episode_return"] for r in results[:20]])
    evaluation = rlkit.EnvironmentLoop(
        rlkit.make_environment("CartPole-v1", seed=100),
        agent.make_evaluation_actor(),
        logger=rlkit.loggers.NoOpLogger(),
    ).run(num_episodes=10)
    greedy = np.mean([r["episode_return"] for r in evaluation])
    assert first < 60 and greedy >= threshold, (first, greedy)  # Random: ~22.
    agent.close()
    env.close()


def test_the_final_observation_step_is_no_transition_for_the_agent_count():
    config = small_config()
    env = rlkit.make_vector_environment("CartPole-v1", config.num_envs, seed=0)
    agent = PPO(rlkit.make_environment_spec(env), config, seed=0)
    restarted = dm_env.TimeStep(
        np.array([0, 1], np.int8), np.zeros(2, np.float32), np.ones(2, np.float32),
        np.zeros((2, 4), np.float32),
    )  # fmt: skip
    agent.observe_first(restarted._replace(step_type=np.zeros(2, np.int8)))
    agent.observe(np.zeros(2, np.int32), restarted)
    assert agent.num_observations == 1
    agent.close()
    env.close()


@pytest.mark.slow
def test_run_experiment_trains_ppo_in_a_batched_environment_and_resumes(tmp_path):
    from rlkit import experiments

    experiment = experiments.make_experiment_config(
        "ppo",
        "CartPole-v1",
        agent_config=small_config(normalize_observations=True, normalize_rewards=True),
        max_num_actor_steps=200,
        eval_every=100,
        checkpoint_every=100,
        num_eval_episodes=2,
        run_dir=str(tmp_path),
        loggers=("csv",),
    )
    result = experiments.run_experiment(experiment)
    # Two sub-environments step together: a chunk may end one step past its target.
    assert 200 <= result.actor_steps <= 201
    assert [round(e["actor_steps"], -2) for e in result.evaluations] == [100, 200]
    resumed = experiments.run_experiment(dataclasses.replace(experiment, max_num_actor_steps=300))
    assert resumed.resumed_from == result.actor_steps
    assert 300 <= resumed.actor_steps <= 301
    policy = experiments.load_policy(str(tmp_path))
    # The exported policy normalises with the statistics of every rollout learned from.
    statistics = policy.params.observation_statistics
    assert int(statistics.count) >= 288 and int(statistics.count) % 16 == 0
    assert not np.allclose(statistics.variance, 1.0)
    actor = policy.make_actor(seed=0)
    env = policy.make_environment(seed=0)
    actor.observe_first(env.reset())
    assert int(actor.select_action(env.reset().observation)) in (0, 1)


def test_ppo2_value_clipping_takes_the_larger_of_the_clipped_and_unclipped_errors():
    batch = learning.Minibatch(
        observation=jnp.zeros((2, 1)),
        action=jnp.array([0, 1]),
        log_prob=jnp.log(jnp.array([0.5, 0.5])),
        advantage=jnp.zeros(2),
        value_target=jnp.array([3.0, 3.0]),
        value=jnp.array([1.0, 1.0]),
        mask=jnp.ones(2),
    )
    networks = fixed_networks(jnp.zeros((2, 2)), jnp.array([2.0, 4.0]))
    config = PPOConfig(value_clip_epsilon=0.5, value_clip_form="ppo2")
    _, metrics = learning.ppo_loss(networks, config, {}, batch, jnp.asarray(1.0))
    # Step 0: 2.0 -> clipped 1.5: max((3-1.5)^2, (3-2)^2); step 1: 4.0 -> clipped 1.5:
    # max((3-1.5)^2, (3-4)^2). SB3's form would give (1.5^2 + 1.5^2) / 2 too; tell them apart:
    np.testing.assert_allclose(metrics["value_loss"], (1.5**2 + 1.5**2) / 2, rtol=1e-6)
    networks = fixed_networks(jnp.zeros((2, 2)), jnp.array([6.0, 0.0]))
    _, metrics = learning.ppo_loss(networks, config, {}, batch, jnp.asarray(1.0))
    # Step 0: 6.0 -> clipped 1.5: max(1.5^2, 3^2) = 9; step 1: 0.0 -> 0.5: max(2.5^2, 3^2) = 9.
    np.testing.assert_allclose(metrics["value_loss"], 9.0, rtol=1e-6)
    with pytest.raises(errors.ConfigError, match="value_clip_form"):
        PPOConfig(value_clip_form="max")
