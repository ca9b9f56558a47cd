"""The actor-critic toolkit and agents: losses by hand, tanh-Gaussian densities, Polyak
targets, acting, errors, save/restore, and (slow) learning on Pendulum."""

from __future__ import annotations

import math

import chex
import dm_env
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dm_env import specs as dm_specs
from scipy import stats

import rlkit
from rlkit import errors, specs, types, wrappers
from rlkit.agents import actor_critic as ac
from rlkit.agents.actor_critic import acting, learning
from rlkit.agents.actor_critic import builder as builder_lib
from rlkit.jax import distributions
from rlkit.jax import learning as jax_learning

CONFIGS = {
    "ddpg": ac.DDPGConfig,
    "td3": ac.TD3Config,
    "sac": ac.SACConfig,
    "d4pg": ac.D4PGConfig,
}
SMALL = dict(
    policy_hidden_sizes=(16,),
    critic_hidden_sizes=(16,),
    batch_size=8,
    num_sgd_steps_per_step=2,
    transitions_per_item=4,
    min_replay_size=16,
    samples_per_insert=8.0,
    random_action_steps=8,
)


def _pendulum():
    return rlkit.make_environment("Pendulum-v1", seed=0, recipe="continuous")


def _spec(action_shape=(2,), minimum=-1.0, maximum=1.0) -> specs.EnvironmentSpec:
    return specs.EnvironmentSpec(
        observations=dm_specs.Array((3,), np.float32),
        actions=dm_specs.BoundedArray(action_shape, np.float32, minimum, maximum),
        rewards=dm_specs.Array((), np.float32),
        discounts=dm_specs.BoundedArray((), np.float32, 0.0, 1.0),
    )


def _transitions(batch: int, spec: specs.EnvironmentSpec, seed: int = 0) -> types.Transition:
    rng = np.random.default_rng(seed)
    action_shape = spec.actions.shape
    return types.Transition(
        observation=jnp.asarray(rng.normal(size=(batch, 3)), jnp.float32),
        action=jnp.asarray(rng.uniform(-1, 1, size=(batch, *action_shape)), jnp.float32),
        reward=jnp.asarray(rng.normal(size=batch), jnp.float32),
        discount=jnp.full((batch,), 0.99, jnp.float32),
        next_observation=jnp.asarray(rng.normal(size=(batch, 3)), jnp.float32),
    )


# The tanh-squashed Gaussian.


@pytest.mark.parametrize("mean,std", [(0.0, 1.0), (0.7, 0.3), (-1.5, 2.0)])
def test_tanh_gaussian_log_prob_matches_a_numerical_density(mean, std):
    # p(a) = d/da P(tanh(u) <= a) = d/da Phi((atanh(a) - mean) / std), by central differences.
    actions = np.array([-0.95, -0.5, 0.0, 0.3, 0.9])
    h = 1e-6
    cdf = lambda a: stats.norm.cdf((np.arctanh(a) - mean) / std)  # noqa: E731
    numerical = np.log((cdf(actions + h) - cdf(actions - h)) / (2 * h))
    params = distributions.GaussianParams(
        jnp.full((5, 1), mean, jnp.float32), jnp.full((5, 1), math.log(std), jnp.float32)
    )
    got = distributions.tanh_gaussian_log_prob(params, jnp.asarray(actions[:, None], jnp.float32))
    np.testing.assert_allclose(got, numerical, rtol=2e-4, atol=2e-4)


def test_tanh_gaussian_sample_log_prob_sums_dimensions_and_stays_finite():
    params = distributions.GaussianParams(
        jnp.array([[0.2, -0.4], [15.0, -15.0]]), jnp.array([[-0.5, 0.1], [0.0, 0.0]])
    )
    action, log_prob = distributions.tanh_gaussian_sample(params, jax.random.PRNGKey(3))
    assert action.shape == (2, 2) and log_prob.shape == (2,)
    assert np.all(np.abs(action) <= 1.0)
    # Away from the edges the sample's log-prob is the density at the sampled action.
    np.testing.assert_allclose(
        log_prob[0],
        distributions.tanh_gaussian_log_prob(
            jax.tree_util.tree_map(lambda x: x[:1], params), action[:1]
        )[0],
        rtol=1e-4,
    )
    # |u| ~ 15 saturates tanh in float32; the stable Jacobian keeps the log-prob finite
    # (log(1 - tanh(u)^2) would be log(0)).
    assert np.isfinite(log_prob[1]) and log_prob[1] > 20.0


# Losses and targets against hand computations.


def test_td_target_takes_the_smaller_critic_and_subtracts_the_entropy_term():
    next_q = jnp.array([[1.0, 5.0], [2.0, 3.0]])  # [critics, batch]
    target = learning.td_target(
        jnp.array([0.5, -1.0]), jnp.array([0.9, 0.0]), next_q, jnp.array([0.2, 7.0])
    )
    np.testing.assert_allclose(target, [0.5 + 0.9 * (1.0 - 0.2), -1.0], rtol=1e-6)


def test_target_policy_smoothing_clips_the_noise_and_the_action():
    action = jnp.array([[0.95, -0.2, 0.0]])
    key = jax.random.PRNGKey(0)
    smoothed = learning.smoothed_action(action, key, noise_std=10.0, noise_clip=0.5)
    noise = np.clip(10.0 * np.asarray(jax.random.normal(key, action.shape)), -0.5, 0.5)
    np.testing.assert_allclose(smoothed, np.clip(action + noise, -1.0, 1.0), rtol=1e-6)
    assert learning.smoothed_action(action, key, 0.0, 0.5) is action


def test_critic_regression_loss_by_hand():
    q = jnp.array([[1.0, 2.0], [0.0, 4.0]])
    loss, per = learning.critic_regression_loss(q, jnp.array([1.5, 3.0]), jnp.array([1.0, 0.5]))
    # Transition 0: 0.5 * (0.25 + 2.25) = 1.25; transition 1: 0.5 * (1 + 1) = 1.
    np.testing.assert_allclose(per, [1.25, 1.0])
    np.testing.assert_allclose(loss, (1.25 + 0.5 * 1.0) / 2)


def test_sac_policy_loss_and_temperature_loss_by_hand():
    log_prob = jnp.array([-1.0, 0.5])
    q = jnp.array([[3.0, 1.0], [2.0, 4.0]])
    # mean(0.2 * log_prob - min_k q) = mean(-0.2 - 2, 0.1 - 1) = -1.55.
    np.testing.assert_allclose(learning.sac_policy_loss(0.2, log_prob, q), -1.55, rtol=1e-6)
    log_alpha = jnp.log(0.2)
    # -log(alpha) * mean(log_prob + target): mean(-1 - 2, 0.5 - 2) = -2.25.
    loss = learning.temperature_loss(log_alpha, log_prob, -2.0)
    np.testing.assert_allclose(loss, -math.log(0.2) * -2.25, rtol=1e-6)
    # Entropy (-log pi, here 0.25) above the target (2): the gradient step lowers alpha.
    grad = jax.grad(learning.temperature_loss)(log_alpha, log_prob, -2.0)
    np.testing.assert_allclose(grad, 2.25, rtol=1e-6)
    grad_low_entropy = jax.grad(learning.temperature_loss)(log_alpha, jnp.array([3.0]), -2.0)
    assert grad_low_entropy < 0  # Entropy -3 is below the target -2: alpha rises.


def test_categorical_projection_by_hand():
    atoms = jnp.array([0.0, 1.0, 2.0])
    # The target critic puts all mass on atom 0; r = 0.5, discount 1: the target return is
    # 0.5, split evenly between atoms 0 and 1.
    target_logits = jnp.array([[50.0, -50.0, -50.0]])
    logits = jnp.log(jnp.array([[0.2, 0.3, 0.5]]))
    loss = learning.categorical_critic_loss(
        logits, jnp.array([0.5]), jnp.array([1.0]), target_logits, atoms
    )
    np.testing.assert_allclose(loss, [-(0.5 * math.log(0.2) + 0.5 * math.log(0.3))], rtol=1e-5)
    # A return beyond the support lands on its edge: r = 5 puts everything on atom 2.
    loss = learning.categorical_critic_loss(
        logits, jnp.array([5.0]), jnp.array([1.0]), target_logits, atoms
    )
    np.testing.assert_allclose(loss, [-math.log(0.5)], rtol=1e-5)


# SGD steps: Polyak targets, TD3's delay, SAC's temperature.


def _sgd_setup(name: str, action_shape=(2,), **overrides):
    spec = _spec(action_shape)
    config = CONFIGS[name](**{**SMALL, **overrides})
    builder = ac.ActorCriticBuilder(config)
    networks = builder_lib.make_networks(spec, config)
    optimizers = builder.make_optimizers()
    state = learning.initial_state(networks, optimizers, jax.random.PRNGKey(0))
    step = jax.jit(builder.make_sgd_step(networks, optimizers))
    batch = jax_learning.SGDBatch(_transitions(8, spec), jnp.ones(8))
    return config, networks, state, step, batch


def test_td3_delays_the_policy_and_moves_targets_by_polyak_averaging():
    config, _, state, step, batch = _sgd_setup("td3", policy_delay=2, target_update_rate=0.1)
    first, metrics, _ = step(state, batch)
    # Step 1 of 2: the critics learn; the policy and both targets wait.
    chex.assert_trees_all_equal(first.policy_params, state.policy_params)
    chex.assert_trees_all_equal(first.target_critic_params, state.target_critic_params)
    assert not jax.tree_util.tree_all(
        jax.tree_util.tree_map(jnp.array_equal, first.critic_params, state.critic_params)
    )
    assert np.isnan(metrics["policy_loss"]) and np.isfinite(metrics["critic_loss"])
    second, metrics, _ = step(first, batch)
    assert np.isfinite(metrics["policy_loss"])
    for online, target, old in [
        (second.policy_params, second.target_policy_params, first.target_policy_params),
        (second.critic_params, second.target_critic_params, first.target_critic_params),
    ]:
        expected = jax.tree_util.tree_map(lambda o, t: 0.1 * o + 0.9 * t, online, old)
        chex.assert_trees_all_close(target, expected, rtol=1e-6)
    assert int(second.steps) == 2


def test_ddpg_updates_policy_and_targets_every_step_with_one_critic():
    _, networks, state, step, batch = _sgd_setup("ddpg")
    assert networks.num_critics == 1
    new, _, _ = step(state, batch)
    assert not jax.tree_util.tree_all(
        jax.tree_util.tree_map(jnp.array_equal, new.policy_params, state.policy_params)
    )


@pytest.mark.slow
def test_sac_tunes_the_temperature_and_keeps_it_fixed_when_asked():
    _, _, state, step, batch = _sgd_setup("sac")
    new, metrics, priorities = step(state, batch)
    assert new.log_temperature != state.log_temperature
    assert set(metrics) == {"critic_loss", "policy_loss", "temperature", "entropy"}
    assert priorities is None  # A uniform table needs none.
    _, _, state, step, batch = _sgd_setup("sac", prioritized=True)
    assert step(state, batch)[2].shape == (8,)
    _, _, state, step, batch = _sgd_setup("sac", learn_temperature=False)
    assert step(state, batch)[0].log_temperature == state.log_temperature


@pytest.mark.slow
def test_d4pg_critic_is_categorical_and_returns_priorities():
    _, networks, state, step, batch = _sgd_setup(
        "d4pg", num_atoms=11, v_min=-5.0, v_max=5.0, prioritized=True
    )
    assert networks.atoms.shape == (11,)
    logits = networks.critic_apply(
        state.critic_params, batch.transitions.observation, batch.transitions.action
    )
    assert logits.shape == (8, 11)
    _, metrics, priorities = step(state, batch)
    assert priorities.shape == (8,) and np.all(priorities > 0)
    np.testing.assert_allclose(metrics["critic_loss"], np.mean(priorities), rtol=1e-5)


def test_first_critic_alone_matches_the_ensemble():
    _, networks, state, _, batch = _sgd_setup("td3")
    t = batch.transitions
    both = networks.critic_apply(state.critic_params, t.observation, t.action)
    assert both.shape == (2, 8)
    np.testing.assert_allclose(
        networks.q_values(state.critic_params, t.observation, t.action), both[0], rtol=1e-6
    )


# Acting.


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_policies_act_in_the_unit_box_and_evaluation_is_deterministic(name):
    spec = _spec((3,))
    config = CONFIGS[name](**{**SMALL, "random_action_steps": 2})
    networks = builder_lib.make_networks(spec, config)
    params = networks.init_policy(jax.random.PRNGKey(1))
    observation = jnp.ones(3)
    policy = ac.ActorCriticBuilder(config).make_policy(networks, _spec((3,)))
    state = policy.init(jax.random.PRNGKey(0))
    for _ in range(5):
        action, state = policy.select_action(params, observation, state)
        assert action.shape == (3,) and action.dtype == jnp.float32
        assert np.all(np.abs(action) <= 1.0)
    evaluation = ac.ActorCriticBuilder(config).make_policy(networks, _spec((3,)), evaluation=True)
    state = evaluation.init(jax.random.PRNGKey(0))
    a1, state = evaluation.select_action(params, observation, state)
    a2, _ = evaluation.select_action(params, observation, state)
    np.testing.assert_array_equal(a1, a2)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_matrix_shaped_action_space_acts_and_learns(name):
    # Box actions of shape (2, 2): the networks work on the 4 flattened dimensions (SAC's
    # log-probability sums all four), actions come back in the spec's shape.
    spec = _spec((2, 2))
    noise = {"exploration_noise": "ou"} if name == "ddpg" else {}
    config = CONFIGS[name](**{**SMALL, "random_action_steps": 0, **noise})
    networks = builder_lib.make_networks(spec, config)
    policy = ac.ActorCriticBuilder(config).make_policy(networks, _spec((2, 2)))
    params = networks.init_policy(jax.random.PRNGKey(1))
    action, _ = jax.jit(policy.select_action)(
        params, jnp.ones(3), policy.init(jax.random.PRNGKey(0))
    )
    assert action.shape == (2, 2) and np.all(np.abs(action) <= 1.0)
    _, _, state, step, batch = _sgd_setup(name, action_shape=(2, 2))
    new, metrics, _ = step(state, batch)
    assert all(np.isfinite(value) or key == "policy_loss" for key, value in metrics.items())
    assert np.isfinite(metrics["critic_loss"]) and int(new.steps) == 1
    if name == "sac":
        output = networks.policy_apply(params, batch.transitions.observation)
        _, log_prob = distributions.tanh_gaussian_sample(output, jax.random.PRNGKey(2))
        assert log_prob.shape == (8,)


def test_warm_up_acts_uniformly_then_follows_the_policy():
    spec = _spec((1,))
    config = ac.TD3Config(**{**SMALL, "random_action_steps": 200, "exploration_noise_std": 0.0})
    networks = builder_lib.make_networks(spec, config)
    params = networks.init_policy(jax.random.PRNGKey(1))
    policy = ac.ActorCriticBuilder(config).make_policy(networks, _spec((1,)))
    select = jax.jit(policy.select_action)
    state = policy.init(jax.random.PRNGKey(0))
    actions = []
    for _ in range(201):
        action, state = select(params, jnp.ones(3), state)
        actions.append(float(action[0]))
    warm_up = np.array(actions[:200])
    assert warm_up.min() < -0.8 and warm_up.max() > 0.8  # Uniform on [-1, 1].
    greedy = networks.policy_apply(params, jnp.ones((1, 3)))[0, 0]
    np.testing.assert_allclose(actions[200], greedy, rtol=1e-6)


def test_ornstein_uhlenbeck_noise_is_correlated_and_restarts_each_episode():
    spec = _spec((1,))
    config = ac.DDPGConfig(
        **{**SMALL, "random_action_steps": 0},
        exploration_noise="ou",
        exploration_noise_std=0.5,
        ou_dt=1.0,
        ou_theta=0.15,
    )
    networks = builder_lib.make_networks(spec, config)
    policy = ac.ActorCriticBuilder(config).make_policy(networks, _spec((1,)))
    key = jax.random.PRNGKey(0)
    draw = jax.random.split(key, 3)[1]
    expected = 0.0 - 0.15 * 0.0 + 0.5 * jax.random.normal(draw, (1,))
    params = networks.init_policy(jax.random.PRNGKey(1))
    _, state = policy.select_action(params, jnp.ones(3), policy.init(key))
    np.testing.assert_allclose(state.noise, expected, rtol=1e-6)
    step = acting.ornstein_uhlenbeck_step(jnp.array([1.0]), key, 0.0, 0.15, 1.0)
    np.testing.assert_allclose(step, [0.85], rtol=1e-6)  # Mean reversion alone.
    assert np.all(policy.episode_start(state).noise == 0.0)


# Bad input.


def test_a_discrete_action_space_names_the_discrete_agents():
    cartpole = rlkit.make_environment("CartPole-v1")
    with pytest.raises(errors.ConfigError, match=r"continuous.*use one of: dqn, ") as raised:
        builder_lib.make_networks(rlkit.make_environment_spec(cartpole), ac.SACConfig())
    listed = str(raised.value).split("use one of:")[1]
    assert "ppo" in listed and not any(name in listed for name in ("sac", "td3", "ddpg", "d4pg"))


def test_an_unbounded_action_space_says_which_wrapper_to_add():
    spec = _spec()._replace(actions=dm_specs.Array((2,), np.float32))
    with pytest.raises(errors.ConfigError, match="finite action bounds.*ActionWrapper"):
        builder_lib.make_networks(spec, ac.TD3Config())
    with pytest.raises(errors.ConfigError, match="CanonicalSpecWrapper"):
        builder_lib.make_networks(_spec(minimum=-2.0, maximum=2.0), ac.TD3Config())


def test_the_continuous_recipe_presents_actions_in_the_unit_box():
    env = _pendulum()
    spec = env.action_spec()
    assert isinstance(env, wrappers.CanonicalSpecWrapper)
    np.testing.assert_array_equal(spec.minimum, [-1.0])
    np.testing.assert_array_equal(spec.maximum, [1.0])
    plain = rlkit.make_environment("Pendulum-v1")
    np.testing.assert_array_equal(plain.action_spec().maximum, [2.0])


def test_action_rescaling_round_trip():
    # CanonicalSpecWrapper maps a in [-1, 1] onto [low, high]; the inverse map recovers a.
    low, high = np.array([-2.0, 0.0, 5.0]), np.array([2.0, 1.0, 15.0])
    inner_spec = dm_specs.BoundedArray((3,), np.float32, low, high)

    class Recorder(dm_env.Environment):
        def reset(self):
            return dm_env.restart(np.zeros(1, np.float32))

        def step(self, action):
            self.action = action
            return dm_env.transition(0.0, np.zeros(1, np.float32))

        def observation_spec(self):
            return dm_specs.Array((1,), np.float32)

        def action_spec(self):
            return inner_spec

    inner = Recorder()
    env = wrappers.CanonicalSpecWrapper(inner)
    env.reset()
    for action in ([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], [0.25, -0.5, 0.0]):
        env.step(np.asarray(action, np.float32))
        recovered = 2.0 * (inner.action - low) / (high - low) - 1.0
        np.testing.assert_allclose(recovered, action, atol=1e-6)
    np.testing.assert_allclose(inner.action, [0.5, 0.25, 10.0], atol=1e-6)


def test_a_nan_action_is_reported_with_its_step_and_not_sent():
    env = _pendulum()
    spec = rlkit.make_environment_spec(env)
    config = ac.TD3Config(**{**SMALL, "random_action_steps": 0})
    builder = ac.ActorCriticBuilder(config)
    networks = builder_lib.make_networks(spec, config)
    params = jax.tree_util.tree_map(
        lambda x: jnp.full_like(x, jnp.nan), networks.init_policy(jax.random.PRNGKey(0))
    )
    from rlkit.jax import variable_utils

    actor = builder.make_actor(
        jax.random.PRNGKey(0),
        builder.make_policy(networks, spec),
        spec,
        variable_utils.StaticVariableSource(params),
    )
    timestep = env.reset()
    actor.observe_first(timestep)
    with pytest.raises(errors.InvalidActionError, match="non-finite action.*step 1"):
        actor.select_action(timestep.observation)


def test_configs_reject_bad_values():
    with pytest.raises(errors.ConfigError, match="exploration_noise"):
        ac.TD3Config(exploration_noise="pink")
    with pytest.raises(errors.ConfigError, match="v_min"):
        ac.D4PGConfig(v_min=1.0, v_max=0.0)
    with pytest.raises(errors.ConfigError, match="target_update_rate"):
        ac.SACConfig(target_update_rate=1.5)
    with pytest.raises(errors.ConfigError, match="policy_delay"):
        ac.TD3Config(policy_delay=0)


# Agents end to end.


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_save_restore_gives_the_same_state(name):
    env = _pendulum()
    spec = rlkit.make_environment_spec(env)
    config = CONFIGS[name](**SMALL)
    agent = ac.ActorCritic(spec, config, seed=0, learn_in_background=False)
    rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger()).run(num_steps=80)
    saved = jax.device_get(agent.save())
    other = ac.ActorCritic(spec, config, seed=1, learn_in_background=False)
    other.restore(saved)
    chex.assert_trees_all_equal(jax.device_get(other.save()), saved)
    # The restored agent acts as the original does.
    observation = env.reset().observation
    first = agent.make_evaluation_actor().select_action(observation)
    np.testing.assert_array_equal(other.make_evaluation_actor().select_action(observation), first)


def _evaluate(agent, episodes: int = 5) -> float:
    env = rlkit.make_environment("Pendulum-v1", seed=123, recipe="continuous")
    actor = agent.make_evaluation_actor()
    returns = []
    for _ in range(episodes):
        timestep, total = env.reset(), 0.0
        while not timestep.last():
            timestep = env.step(actor.select_action(timestep.observation))
            total += timestep.reward
        returns.append(total)
    return float(np.mean(returns))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_agents_learn_pendulum(name):
    # A small budget: 7k steps, the first 1k random warm-up, 256x256 networks, the shipped
    # hyperparameters otherwise. A random policy scores about -1200.
    from rlkit.agents import registry

    config = registry.get_agent(name).load_config(
        "Pendulum-v1",
        overrides=[
            "min_replay_size=1000",
            "random_action_steps=1000",
            "policy_hidden_sizes=[256,256]",
            "critic_hidden_sizes=[256,256]",
        ],
    )
    env = _pendulum()
    agent = ac.ActorCritic(rlkit.make_environment_spec(env), config, seed=0)
    before = _evaluate(agent)
    rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger()).run(num_steps=7_000)
    after = _evaluate(agent)
    # Well above random acting; trained policies reach about -150.
    assert after > -700.0 and after > before + 400.0, (before, after)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_registered_with_the_continuous_recipe_shipped_configs_and_search_space(name):
    from rlkit.agents import registry
    from rlkit.experiments import tuning

    entry = registry.get_agent(name)
    assert entry.action_spaces == "continuous" and entry.config_class is CONFIGS[name]
    assert entry.resolve_recipe("Pendulum-v1") == "continuous"
    assert entry.resolve_recipe("Pendulum-v1", "gymnasium") == "gymnasium"
    assert registry.get_agent("dqn").resolve_recipe("Pendulum-v1") == "gymnasium"
    shipped = ["Pendulum-v1", "HalfCheetah-v5", "Hopper-v5"] if name in ("sac", "td3") else []
    for env_id in ["Pendulum-v1", *shipped]:
        assert entry.default_config_path(env_id) is not None, env_id
        assert isinstance(entry.load_config(env_id), CONFIGS[name])
    pendulum = entry.load_config("Pendulum-v1")
    assert pendulum.batch_size / pendulum.samples_per_insert == 1.0  # One update per step.
    assert tuning.load_search_space(entry.tune_space_path(), entry.config_class)


@pytest.mark.parametrize(
    "env_id",
    ["MountainCarContinuous-v0", "LunarLanderContinuous-v3", "BipedalWalker-v3", "Hopper-v5"],
)
@pytest.mark.slow
def test_acts_and_learns_on_box2d_and_mujoco_action_spaces(env_id):
    env = rlkit.make_environment(env_id, seed=0, recipe="continuous")
    spec = rlkit.make_environment_spec(env)
    agent = ac.ActorCritic(spec, ac.SACConfig(**SMALL), seed=0, learn_in_background=False)
    rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger()).run(num_steps=60)
    assert int(agent.learner.state.steps) > 0
    action = agent.make_evaluation_actor().select_action(env.reset().observation)
    assert action.shape == spec.actions.shape and np.all(np.abs(action) <= 1.0)


def test_an_agent_refuses_another_familys_config():
    from rlkit.agents.dqn import DQNConfig

    with pytest.raises(TypeError, match="ActorCriticConfig.*got DQNConfig"):
        ac.SAC(rlkit.make_environment_spec(_pendulum()), DQNConfig())
