"""Sarsa(λ) and TD(λ) with tile coding: the trace updates by hand, true online TD(λ)
against the online λ-return algorithm, the agent against Sutton & Barto's loop, episode
ends, bad input, save/restore, the runner and the CLI, and learning Mountain Car (slow)."""

import dataclasses

import dm_env
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlkit
from rlkit import errors, replay, types
from rlkit.agents import registry
from rlkit.agents.sarsa_lambda import (
    SarsaAdder,
    SarsaLambda,
    SarsaLambdaConfig,
    TDLambda,
    TDLambdaConfig,
    TraceBuilder,
    TraceState,
    TraceStep,
    learning,
    make_networks,
    trace_update,
)

MOUNTAIN_CAR = "MountainCar-v0"


def mountain_car_config(**overrides) -> SarsaLambdaConfig:
    config = registry.get_agent("sarsa_lambda").load_config(MOUNTAIN_CAR)
    return dataclasses.replace(config, **overrides)


def state_of(weights, trace=(0, 0, 0, 0), old_value=0.0, trace_decay=0.0) -> TraceState:
    as_array = lambda values: jnp.asarray(values, jnp.float32)  # noqa: E731
    return TraceState(
        as_array(weights), as_array(trace), as_array(old_value), as_array(trace_decay),
        jnp.zeros((), jnp.int32),
    )  # fmt: skip


def step_of(features, reward, next_value, start, discount=1.0) -> TraceStep:
    return TraceStep(
        jnp.asarray(features, jnp.float32), jnp.float32(reward), jnp.float32(discount),
        jnp.float32(next_value), jnp.asarray(start),
    )  # fmt: skip


# Two steps from w = [1, 2, 0, 0] with α = 0.5, λ = 0.5, γ = 1: x1 = [1, 1, 0, 0], R = 2,
# v' = w·x2 = 2, then x2 = [0, 1, 1, 0], R = 0, v' = 4. Step 1 starts the episode (z = 0):
# v = 3, δ = 1, so every trace gives z = x1 and w1 = w + α δ x1 = [1.5, 2.5, 0, 0]; then
# v = w1·x2 = 2.5 and δ = 1.5, and
#   dutch: z = 0.5 x1 + (1 - 0.5 * 0.5 * z·x2) x2 = [0.5, 1.25, 0.75, 0];
#          w2 = w1 + α(δ + v - v_old) z - α(v - v_old) x2 = w1 + 1.0 z - 0.25 x2
#   accumulating: z = 0.5 x1 + x2 = [0.5, 1.5, 1, 0]; w2 = w1 + 0.75 z
#   replacing: z = [0.5, 1, 1, 0] (x2's tiles set to 1); w2 = w1 + 0.75 z
HAND_COMPUTED = {
    "dutch": ([0.5, 1.25, 0.75, 0.0], [2.0, 3.5, 0.5, 0.0]),
    "accumulating": ([0.5, 1.5, 1.0, 0.0], [1.875, 3.625, 0.75, 0.0]),
    "replacing": ([0.5, 1.0, 1.0, 0.0], [1.875, 3.25, 0.75, 0.0]),
}


@pytest.mark.parametrize("trace", list(HAND_COMPUTED))
def test_each_trace_s_update_against_hand_computed_values(trace):
    update = jax.jit(trace_update, static_argnums=(2, 3, 4))
    state, td_error = update(
        state_of([1, 2, 0, 0]), step_of([1, 1, 0, 0], 2, 2, True), 0.5, 0.5, trace
    )
    np.testing.assert_allclose(state.weights, [1.5, 2.5, 0, 0])
    np.testing.assert_allclose(state.trace, [1, 1, 0, 0])
    assert float(td_error) == 1.0 and float(state.old_value) == 2.0
    assert float(state.trace_decay) == 0.5  # γλ of this transition, for the next step.
    state, td_error = update(state, step_of([0, 1, 1, 0], 0, 4, False), 0.5, 0.5, trace)
    trace_values, weights = HAND_COMPUTED[trace]
    assert float(td_error) == 1.5
    np.testing.assert_allclose(state.trace, trace_values, rtol=1e-6)
    np.testing.assert_allclose(state.weights, weights, rtol=1e-6)
    assert int(state.steps) == 2


def test_the_start_of_an_episode_forgets_the_trace_and_the_old_value():
    carried = state_of([1, 2, 0, 0], trace=[3, 1, 2, 5], old_value=7.0, trace_decay=0.9)
    fresh = state_of([1, 2, 0, 0])
    step = step_of([1, 1, 0, 0], 2, 2, True)
    for trace in HAND_COMPUTED:
        restarted, error = trace_update(carried, step, 0.5, 0.5, trace)
        new, new_error = trace_update(fresh, step, 0.5, 0.5, trace)
        np.testing.assert_allclose(restarted.weights, new.weights)
        np.testing.assert_allclose(restarted.trace, new.trace)
        assert float(error) == float(new_error)


def random_episode(rng, length: int, num_features: int = 6):
    """Binary features of `length` states and a terminal one (x = 0), rewards."""
    features = (rng.random((length, num_features)) < 0.4).astype(np.float64)
    features = np.concatenate([features, np.zeros((1, num_features))])
    return features, rng.normal(size=length)


def test_true_online_sarsa_with_lambda_0_is_one_step_linear_sarsa():
    rng = np.random.default_rng(0)
    features, rewards = random_episode(rng, 12)
    alpha, gamma = 0.1, 0.9
    w0 = rng.normal(size=6).astype(np.float32)
    state = TraceState(jnp.asarray(w0), jnp.zeros(6), jnp.float32(0), jnp.float32(0), jnp.int32(0))
    expected = w0.astype(np.float64)
    for t in range(12):
        x, x_next = features[t], features[t + 1]
        next_value = float(np.asarray(state.weights) @ x_next)
        step = step_of(x, rewards[t], next_value, t == 0, discount=gamma)
        state, _ = trace_update(state, step, alpha, 0.0, "dutch")
        delta = rewards[t] + gamma * expected @ x_next - expected @ x
        expected = expected + alpha * delta * x
        np.testing.assert_allclose(state.weights, expected, rtol=1e-5, atol=1e-6)


def online_lambda_return_weights(features, rewards, w0, alpha, gamma, lambda_):
    """The online λ-return algorithm (van Seijen & Sutton 2014; S&B 12.4): at each horizon h
    the episode's updates are redone from w0 with the truncated λ-returns G_t^{λ|h}, whose
    n-step returns bootstrap on the weights of horizon t + n - 1. Returns w_h^h for each h."""
    steps = len(rewards)
    diagonal = [np.array(w0, np.float64)]  # w_h^h

    def n_step_return(t, n):
        ret = sum(gamma**k * rewards[t + k] for k in range(n))
        return ret + gamma**n * diagonal[t + n - 1] @ features[t + n]

    for horizon in range(1, steps + 1):
        w = np.array(w0, np.float64)
        for t in range(horizon):
            last = horizon - t
            truncated = (1 - lambda_) * sum(
                lambda_ ** (n - 1) * n_step_return(t, n) for n in range(1, last)
            ) + lambda_ ** (last - 1) * n_step_return(t, last)
            w = w + alpha * (truncated - w @ features[t]) * features[t]
        diagonal.append(w)
    return diagonal[1:]


def float64():
    """JAX's float64 switch: `jax.enable_x64` in current JAX, `jax.experimental.enable_x64`
    in the Reverb stack's (0.4)."""
    switch = getattr(jax, "enable_x64", None)
    if switch is None:
        from jax.experimental import enable_x64 as switch
    return switch(True)


def test_true_online_td_lambda_is_the_online_lambda_return_algorithm():
    rng = np.random.default_rng(1)
    features, rewards = random_episode(rng, 8)
    w0 = rng.normal(size=6)
    alpha, gamma, lambda_ = 0.2, 0.95, 0.8
    expected = online_lambda_return_weights(features, rewards, w0, alpha, gamma, lambda_)
    with float64():  # Equal to machine precision: compare in float64.
        state = TraceState(
            jnp.asarray(w0), jnp.zeros(6), jnp.float64(0), jnp.float64(0), jnp.int32(0)
        )
        for t in range(len(rewards)):
            next_value = jnp.dot(state.weights, features[t + 1])
            step = TraceStep(
                jnp.asarray(features[t]), jnp.float64(rewards[t]), jnp.float64(gamma),
                next_value, jnp.asarray(t == 0),
            )  # fmt: skip
            state, _ = trace_update(state, step, alpha, lambda_, "dutch")
            np.testing.assert_allclose(np.asarray(state.weights), expected[t], rtol=1e-12)


def mountain_car_pieces(config: SarsaLambdaConfig):
    env = rlkit.make_environment(MOUNTAIN_CAR, seed=0)
    spec = rlkit.make_environment_spec(env)
    return env, spec, make_networks(spec, config)


def test_sarsa_s_transition_bootstraps_a_truncation_and_stops_at_termination():
    config = mountain_car_config(epsilon=0.1)
    env, spec, networks = mountain_car_pieces(config)
    env.close()
    weights = jax.random.normal(jax.random.PRNGKey(0), (networks.num_features,))
    observation = np.array([-0.5, 0.01], np.float32)
    next_observation = np.array([-0.45, 0.02], np.float32)
    q_next = networks.action_values({"weights": weights}, next_observation)

    def transition(discount, taken):
        extras = {"next_action": np.int32(1), "next_action_taken": np.bool_(taken),
                  "start_of_episode": np.bool_(False)}  # fmt: skip
        return types.Transition(
            observation, np.int32(2), np.float32(-1), np.float32(discount), next_observation,
            extras,
        )  # fmt: skip

    step_of = learning.sarsa_step(config)
    taken = step_of(networks, weights, transition(1.0, True))
    np.testing.assert_allclose(taken.next_value, q_next[1], rtol=1e-6)  # Q(S', A').
    truncated = step_of(networks, weights, transition(1.0, False))
    expected = 0.9 * jnp.max(q_next) + 0.1 * jnp.mean(q_next)  # The ε-greedy policy's value.
    np.testing.assert_allclose(truncated.next_value, expected, rtol=1e-6)
    assert float(truncated.discount) == 1.0
    terminal = step_of(networks, weights, transition(0.0, False))
    assert float(terminal.discount) == 0.0  # R alone: no bootstrap.
    np.testing.assert_array_equal(
        np.flatnonzero(taken.features), np.sort(networks.indices(observation, 2))
    )


def test_the_adder_writes_each_transition_with_the_action_after_it():
    spec = rlkit.make_environment_spec(rlkit.make_environment(MOUNTAIN_CAR))
    tables = TraceBuilder(SarsaLambdaConfig()).make_replay_tables(spec)
    server = replay.make_server([replay.for_one_process(t) for t in tables], "local")
    adder = SarsaAdder(server.client(), tables[0].name, spec)

    def obs(position):
        return np.array([position, 0.0], np.float32)

    def mid(position):
        return dm_env.TimeStep(dm_env.StepType.MID, np.float32(-1), np.float32(1), obs(position))

    def last(position, discount):
        step = dm_env.TimeStep(dm_env.StepType.LAST, np.float32(-1), np.float32(discount), None)
        return step._replace(observation=obs(position))

    adder.add_first(dm_env.restart(obs(-0.5)))
    adder.add(np.int32(0), mid(-0.49))
    assert adder.items_written == 0  # The next action is not known yet.
    adder.add(np.int32(2), last(-0.48, 1.0))  # A truncation: both transitions out.
    adder.add_first(dm_env.restart(obs(-0.4)))
    adder.add(np.int32(1), last(0.5, 0.0))  # A one-step episode, terminal.
    adder.add_first(dm_env.restart(obs(-0.3)))
    adder.add(np.int32(1), mid(-0.31))
    adder.add_first(dm_env.restart(obs(-0.2)))  # The last episode was cut short.
    assert adder.items_written == 4
    dataset = server.client().dataset(tables[0].name, 4, flatten_blocks=False)
    data = next(dataset).data
    np.testing.assert_allclose(data.observation[:, 0], [-0.5, -0.49, -0.4, -0.3])
    np.testing.assert_array_equal(data.action, [0, 2, 1, 1])
    np.testing.assert_array_equal(data.discount, [1, 1, 0, 1])
    np.testing.assert_allclose(data.next_observation[:, 0], [-0.49, -0.48, 0.5, -0.31])
    np.testing.assert_array_equal(data.extras["next_action"], [2, 0, 0, 0])
    np.testing.assert_array_equal(data.extras["next_action_taken"], [True, False, False, False])
    np.testing.assert_array_equal(data.extras["start_of_episode"], [True, False, True, True])
    adder.close()
    server.stop()


def sutton_barto_true_online_sarsa(networks, config, num_steps: int) -> np.ndarray:
    """The book's box (p. 307), written out with numpy on `networks`' tiles: greedy (ε = 0),
    truncated episodes bootstrapped on max_a q(S', a), float32 as the agent computes."""
    env = rlkit.make_environment(MOUNTAIN_CAR, seed=0)
    w = np.zeros(networks.num_features, np.float32)
    alpha, lam, gamma = np.float32(config.step_size_per_weight), config.lambda_, config.discount
    x_of = jax.jit(networks.features)
    q_of = jax.jit(networks.action_values)
    steps = 0
    while steps < num_steps:
        timestep = env.reset()
        action = int(np.argmax(q_of({"weights": w}, timestep.observation)))
        x = np.asarray(x_of(timestep.observation, action))
        z, q_old = np.zeros_like(w), np.float32(0)
        while steps < num_steps:
            timestep = env.step(np.int32(action))
            steps += 1
            q_next_all = np.asarray(q_of({"weights": w}, timestep.observation))
            next_action = int(np.argmax(q_next_all))
            if timestep.last():
                x_next, q_next = np.zeros_like(w), np.float32(q_next_all.max())
            else:
                x_next = np.asarray(x_of(timestep.observation, next_action))
                q_next = np.float32(w @ x_next)
            q = np.float32(w @ x)
            discount = np.float32(gamma * timestep.discount)
            delta = timestep.reward + discount * q_next - q
            # Decay by the γλ of the step that led here (the book's constant γλ within an episode).
            z = gamma * lam * z + (1 - alpha * gamma * lam * (z @ x)) * x
            w = w + alpha * (delta + q - q_old) * z - alpha * (q - q_old) * x
            q_old, x, action = q_next, x_next, next_action
            if timestep.last():
                break
    env.close()
    return w


def test_the_agent_learns_as_sutton_and_barto_s_loop_does():
    """Through the adder, the queue, the learner and the actor's fetches: the same weights
    as the book's loop, over a truncated episode and the start of the next."""
    config = mountain_car_config()
    env, spec, networks = mountain_car_pieces(config)
    agent = SarsaLambda(spec, config, seed=0, logger=rlkit.loggers.NoOpLogger())
    rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger()).run(num_steps=260)
    env.close()
    # The agent has not yet learned from the last step (its next action is still unknown):
    # the book's loop after 259 updates.
    assert int(agent.learner.state.steps) == 259
    expected = sutton_barto_true_online_sarsa(networks, config, 259)
    assert np.abs(expected).max() > 1.0
    np.testing.assert_allclose(agent.learner.state.weights, expected, atol=2e-4)
    agent.close()


def test_the_shipped_search_space_loads():
    from rlkit.experiments import tuning

    entry = registry.get_agent("sarsa_lambda")
    assert tuning.load_search_space(entry.tune_space_path(), entry.config_class)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"num_envs": 4}, "num_envs must be 1"),
        ({"trace": "dutchy"}, "trace must be one of dutch, accumulating, replacing"),
        ({"lambda_": 1.5}, r"lambda_ must be in \[0, 1\]"),
        ({"observation_low": (0.0,), "observation_high": ()}, "one bound per observation"),
        ({"observation_low": (1.0,), "observation_high": (0.0,)}, "below observation_high"),
    ],
)
def test_bad_configs_name_the_fix(overrides, message):
    with pytest.raises(errors.ConfigError, match=message):
        SarsaLambdaConfig(**overrides)


def test_environments_it_cannot_learn_in_get_an_error_naming_the_fix(tmp_path):
    from rlkit import experiments

    with pytest.raises(errors.ConfigError, match="discrete action spaces"):
        experiments.make_experiment_config("sarsa_lambda", "Pendulum-v1")
    unbounded = SarsaLambdaConfig()  # CartPole's velocities have no bounds in its spec.
    with pytest.raises(errors.ConfigError, match="unbounded .* set observation_low"):
        experiments.make_experiment_config("sarsa_lambda", "CartPole-v1", agent_config=unbounded)
    # The shipped CartPole config gives them.
    experiments.make_experiment_config("sarsa_lambda", "CartPole-v1", max_num_actor_steps=100)
    with pytest.raises(errors.ConfigError, match="give 1 bounds; the observations have 2"):
        make_networks(
            rlkit.make_environment_spec(rlkit.make_environment(MOUNTAIN_CAR)),
            SarsaLambdaConfig(observation_low=(0.0,), observation_high=(1.0,)),
        )
    with pytest.raises(errors.ConfigError, match="acts in one plain environment"):
        rlkit.LocalLayout(
            TraceBuilder(SarsaLambdaConfig()), *mountain_car_pieces(SarsaLambdaConfig())[1:],
            num_envs=2,
        )  # fmt: skip
    with pytest.raises(errors.ConfigError, match="one stream of experience .* Drop --distributed"):
        TraceBuilder(SarsaLambdaConfig()).check_distributed()
    # The Ray layout asks before anything starts (and where Ray is not installed).
    experiment = experiments.make_experiment_config(
        "sarsa_lambda", MOUNTAIN_CAR, max_num_actor_steps=100, run_dir=str(tmp_path / "run")
    )
    with pytest.raises(errors.ConfigError, match="one stream of experience"):
        experiments.make_distributed_experiment(experiment, num_actors=2).run()
    assert not (tmp_path / "run").exists()
    with pytest.raises(errors.ConfigError, match="predicts the values of a given policy"):
        TraceBuilder(TDLambdaConfig())


def test_save_and_restore_continue_exactly():
    config = mountain_car_config()
    env, spec, _ = mountain_car_pieces(config)
    agent = SarsaLambda(spec, config, seed=0, logger=rlkit.loggers.NoOpLogger())
    loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
    loop.run(num_steps=250)
    saved = jax.device_get(agent.save())
    other = SarsaLambda(spec, config, seed=1, logger=rlkit.loggers.NoOpLogger())
    other.restore(saved)
    for mine, theirs in zip(jax.tree_util.tree_leaves(agent.save()),
                            jax.tree_util.tree_leaves(other.save()), strict=True):  # fmt: skip
        np.testing.assert_array_equal(mine, theirs)
    observation = np.array([-0.5, 0.0], np.float32)
    assert int(other.make_evaluation_actor().select_action(observation)) == int(
        agent.make_evaluation_actor().select_action(observation)
    )
    for a in (agent, other):
        a.close()
    env.close()


def energy_pumping(observation, key):
    """Push the way the car moves: reaches Mountain Car's goal in about 100-120 steps."""
    del key
    return jnp.where(observation[1] >= 0, 2, 0).astype(jnp.int32)


def test_td_lambda_predicts_a_fixed_policy_s_values():
    """A deterministic policy in a deterministic environment: v(s) is minus the steps it
    takes from s to the goal, compared on starts it has not learned from."""
    config = TDLambdaConfig(
        observation_low=(-1.2, -0.07), observation_high=(0.5, 0.07), step_size=0.5, lambda_=0.9
    )
    env = rlkit.make_environment(MOUNTAIN_CAR, seed=0)
    agent = TDLambda(
        rlkit.make_environment_spec(env), energy_pumping, config, logger=rlkit.loggers.NoOpLogger()
    )
    rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger()).run(num_episodes=50)
    test_env = rlkit.make_environment(MOUNTAIN_CAR, seed=123)
    starts, lengths = [], []
    for _ in range(10):
        timestep = test_env.reset()
        starts.append(timestep.observation)
        while not timestep.last():
            timestep = test_env.step(energy_pumping(timestep.observation, None))
            lengths.append(len(starts) - 1)
    steps_to_goal = np.bincount(lengths)
    assert steps_to_goal.max() < 200  # Every episode reaches the goal: returns are -length.
    (params,) = agent.get_variables(["policy"])
    values = np.asarray(agent.networks.state_values(params, np.stack(starts)))
    assert np.mean(np.abs(values + steps_to_goal) / steps_to_goal) < 0.1, (values, steps_to_goal)
    agent.close()
    env.close()
    test_env.close()


def test_run_experiment_checkpoints_resumes_and_exports(tmp_path):
    from rlkit import experiments

    experiment = experiments.make_experiment_config(
        "sarsa_lambda",
        MOUNTAIN_CAR,
        max_num_actor_steps=300,
        eval_every=150,
        checkpoint_every=150,
        num_eval_episodes=1,
        run_dir=str(tmp_path),
        loggers=("csv",),
    )
    result = experiments.run_experiment(experiment)
    assert result.actor_steps == 300
    resumed = experiments.run_experiment(dataclasses.replace(experiment, max_num_actor_steps=450))
    assert resumed.resumed_from == 300 and resumed.actor_steps == 450
    policy = experiments.load_policy(str(tmp_path))
    assert policy.value_function(np.zeros((5, 2), np.float32)).shape == (5, 3)
    assert int(policy.predict(np.array([-0.5, 0.0], np.float32))) in (0, 1, 2)


def test_the_command_line_trains_evaluates_and_plays(capsys, tmp_path):
    from rlkit.cli import main as cli

    run_dir = tmp_path / "run"
    argv = ["train", "sarsa_lambda", "--env", MOUNTAIN_CAR, "--steps", "400", "--eval-every",
            "400", "--eval-episodes", "1", "--run-dir", str(run_dir)]  # fmt: skip
    assert cli.main(argv) == 0
    assert "sarsa_lambda on MountainCar-v0: evaluation return" in capsys.readouterr().out
    assert cli.main(["eval", str(run_dir), "--episodes", "1"]) == 0
    assert "sarsa_lambda on MountainCar-v0: return" in capsys.readouterr().out
    assert cli.main(["play", str(run_dir), "--episodes", "1"]) == 0
    code = cli.main(["train", "sarsa_lambda", "--env", MOUNTAIN_CAR, "--set", "num_envs=2"])
    assert code == 2 and "num_envs must be 1" in capsys.readouterr().err


@pytest.mark.slow
def test_learns_mountain_car():
    """The book's setting: greedy returns of -150 or better after 15k steps (seeds 0-2
    locally: -136, -106, -106 over these 20 episodes; bench/sarsa_lambda.py trains 100k)."""
    config = mountain_car_config()
    env = rlkit.make_environment(MOUNTAIN_CAR, seed=0)
    agent = SarsaLambda(rlkit.make_environment_spec(env), config, seed=0,
                        logger=rlkit.loggers.NoOpLogger())  # fmt: skip
    rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger()).run(num_steps=15_000)
    evaluation = rlkit.EnvironmentLoop(
        rlkit.make_environment(MOUNTAIN_CAR, seed=100),
        agent.make_evaluation_actor(),
        logger=rlkit.loggers.NoOpLogger(),
    ).run(num_episodes=20)
    greedy = np.mean([r["episode_return"] for r in evaluation])
    assert greedy >= -150, greedy
    agent.close()
    env.close()
