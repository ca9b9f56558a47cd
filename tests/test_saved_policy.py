"""SavedPolicy.predict: act in `gymnasium.make(env_id)` directly; its repr.

Policies are exported from freshly initialised networks (what acting needs is the same for a
trained one): `export_policy` is what `run_experiment` calls. The trained DQN case is in
tests/test_experiments.py (it reuses that module's finished run).
"""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlkit import environments, experiments, specs
from rlkit.agents import registry
from rlkit.agents.actor_critic import SACConfig, TD3Config
from rlkit.agents.dqn import DQNConfig
from rlkit.agents.on_policy import PPOConfig
from rlkit.agents.on_policy import networks as on_policy_networks
from rlkit.jax import running_statistics


def export_untrained(run_dir, agent, env_id, config, edit_params=None):
    """Exports `agent`'s initial policy on `env_id` to `run_dir`, as a finished run would."""
    description = experiments.policy_description(agent, env_id, config)
    environment = environments.make_environment(env_id, recipe=description["env_recipe"])
    spec = specs.make_environment_spec(environment)
    environment.close()
    networks = registry.get_agent(agent).make_networks(spec, config)
    params = getattr(networks, "init_policy", networks.init)(jax.random.PRNGKey(1))
    if edit_params is not None:
        params = edit_params(params, spec)
    description = {**description, "actor_steps": 1234, "evaluation_return": -321.5}
    experiments.export_policy(str(run_dir), params, description)
    return experiments.load_policy(str(run_dir))


def amplified(params, spec):
    """Larger weights: the tanh policy saturates, so actions reach the ends of [-1, 1]."""
    del spec
    return jax.tree_util.tree_map(lambda x: x * 20.0, params)


def pendulum_observations(count, seed=0):
    space = gymnasium.make("Pendulum-v1").observation_space
    space.seed(seed)
    return np.stack([space.sample() for _ in range(count)])


def test_policy_description_resolves_auto_to_the_agents_recipe():
    description = experiments.policy_description("td3", "Pendulum-v1", TD3Config())
    assert description["env_recipe"] == "continuous"
    assert experiments.policy_description("dqn", "CartPole-v1", DQNConfig())["env_recipe"] == (
        "gymnasium"
    )


def test_continuous_actions_come_back_in_the_environments_own_bounds(tmp_path):
    config = TD3Config(policy_hidden_sizes=(16,), critic_hidden_sizes=(16,))
    policy = export_untrained(tmp_path, "td3", "Pendulum-v1", config, amplified)
    env = gymnasium.make("Pendulum-v1")  # As a Gymnasium user makes it: [-2, 2] torques.
    observation, _ = env.reset(seed=0)
    actor = policy.make_actor()
    for _ in range(20):
        action = policy.predict(observation)
        assert action.shape == (1,) and action.dtype == np.float32
        assert env.action_space.contains(action)
        # The agent acts in [-1, 1]; the recipe maps that onto Pendulum's [-2, 2].
        canonical = np.asarray(actor.select_action(observation.astype(np.float32)))
        np.testing.assert_allclose(action, 2.0 * canonical, rtol=1e-5, atol=1e-6)
        observation, _, terminated, truncated, _ = env.step(action)
        assert not (terminated or truncated)
    batch = pendulum_observations(64)
    actions = policy.predict(batch)
    assert actions.shape == (64, 1) and actions.dtype == np.float32
    assert np.all(np.abs(actions) <= 2.0) and np.any(np.abs(actions) > 1.5)
    singles = np.stack([policy.predict(observation) for observation in batch[:5]])
    np.testing.assert_allclose(actions[:5], singles, rtol=1e-5, atol=1e-6)
    env.close()


def test_a_batch_from_a_gymnasium_vector_environment(tmp_path):
    config = SACConfig(policy_hidden_sizes=(16,), critic_hidden_sizes=(16,))
    policy = export_untrained(tmp_path, "sac", "Pendulum-v1", config, amplified)
    envs = gymnasium.make_vec("Pendulum-v1", num_envs=3)
    observations, _ = envs.reset(seed=0)
    for _ in range(5):
        actions = policy.predict(observations)
        assert actions.shape == (3, 1) and envs.action_space.contains(actions)
        observations, *_ = envs.step(actions)
    envs.close()


def test_sampling_is_opt_in_and_seeded(tmp_path):
    config = SACConfig(policy_hidden_sizes=(16,), critic_hidden_sizes=(16,))
    policy = export_untrained(tmp_path, "sac", "Pendulum-v1", config)
    assert policy.can_sample
    batch = pendulum_observations(32)
    greedy = policy.predict(batch)
    np.testing.assert_array_equal(greedy, policy.predict(batch))  # Deterministic by default.
    sampled = policy.predict(batch, deterministic=False, seed=3)
    assert not np.allclose(sampled, greedy) and np.all(np.abs(sampled) <= 2.0)
    np.testing.assert_array_equal(sampled, policy.predict(batch, deterministic=False, seed=3))
    assert not np.allclose(sampled, policy.predict(batch, deterministic=False))


def test_a_deterministic_policy_refuses_to_sample(tmp_path):
    config = TD3Config(policy_hidden_sizes=(16,), critic_hidden_sizes=(16,))
    policy = export_untrained(tmp_path, "td3", "Pendulum-v1", config)
    assert not policy.can_sample
    with pytest.raises(ValueError, match="deterministic"):
        policy.predict(np.zeros(3, np.float32), deterministic=False)


def with_observation_statistics(params, spec):
    """Statistics far from the initial ones (mean 0, variance 1), as after training."""
    rng = np.random.default_rng(0)
    samples = rng.normal([5.0, -3.0, 40.0], [0.5, 2.0, 10.0], (1000, 3)).astype(np.float32)
    statistics = running_statistics.update(
        running_statistics.init_state(spec.observations), jnp.asarray(samples)
    )
    return params._replace(observation_statistics=statistics)


def test_on_policy_observation_normalisation_is_applied(tmp_path):
    config = PPOConfig(
        num_envs=1,
        rollout_length=64,
        minibatch_size=64,
        policy_hidden_sizes=(16,),
        value_hidden_sizes=(16,),
        normalize_observations=True,
    )
    policy = export_untrained(tmp_path, "ppo", "Pendulum-v1", config, with_observation_statistics)
    statistics = policy.params.observation_statistics
    assert float(statistics.count) == 1000  # Exported and loaded with the policy.
    batch = pendulum_observations(64)
    actions = policy.predict(batch)

    def reference(observations):
        mean, _ = policy.networks.policy_apply(policy.params.network, observations)
        return 2.0 * np.clip(np.asarray(mean), -1.0, 1.0)  # Pendulum's [-2, 2].

    normalised = running_statistics.normalize(statistics, jnp.asarray(batch), 10.0)
    np.testing.assert_allclose(actions, reference(normalised), rtol=1e-5, atol=1e-5)
    # The statistics matter here: without them the actions would differ.
    assert not np.allclose(actions, reference(jnp.asarray(batch)), atol=1e-3)
    assert isinstance(policy.params, on_policy_networks.PolicyParams)

    env = gymnasium.make("Pendulum-v1")
    observation, _ = env.reset(seed=0)
    for _ in range(10):
        observation, *_ = env.step(policy.predict(observation))
    sampled = policy.predict(batch, deterministic=False, seed=0)
    assert sampled.shape == (64, 1) and not np.allclose(sampled, actions)
    env.close()


def test_wrong_shapes_are_clear_errors(tmp_path):
    config = TD3Config(policy_hidden_sizes=(16,), critic_hidden_sizes=(16,))
    policy = export_untrained(tmp_path, "td3", "Pendulum-v1", config)
    with pytest.raises(ValueError, match=r"shape \(4,\); expected \(3,\).*\(batch, 3\)"):
        policy.predict(np.zeros(4))
    with pytest.raises(ValueError, match=r"shape \(2, 2, 3\); expected \(3,\)"):
        policy.predict(np.zeros((2, 2, 3)))
    # float64 and lists are cast to the spec's float32.
    action = policy.predict([0.5, 0.5, 0.0])
    assert action.shape == (1,) and action.dtype == np.float32


def test_repr_is_a_short_summary(tmp_path):
    config = TD3Config(policy_hidden_sizes=(16,), critic_hidden_sizes=(16,))
    policy = export_untrained(tmp_path, "td3", "Pendulum-v1", config)
    text = repr(policy)
    assert text == (
        "SavedPolicy(agent='td3', env_id='Pendulum-v1', recipe='continuous', "
        "observations=float32[3], actions=float32[1] in [-2, 2], "
        "exported_at_step=1234, evaluation_return=-321.5)"
    )
    assert len(str(policy)) < 300
