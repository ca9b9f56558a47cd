"""The Anakin layout: environment, acting and learning in one jitted chunk."""

import dataclasses
import os

import dm_env
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import tree
from dm_env import specs as dm_specs

from rlkit import errors, experiments, replay, specs
from rlkit.agents.on_policy.config import PPOConfig
from rlkit.jax import actors
from rlkit.jax import learning as jax_learning
from rlkit.jax_environments import base as jax_environments
from rlkit.jax_environments.host import JaxEnvironmentWrapper
from rlkit.layouts import programs

pytest.importorskip("gymnax")

FIRST, LAST = dm_env.StepType.FIRST, dm_env.StepType.LAST


class CountingEnvironment(jax_environments.AutoResetEnvironment):
    """Deterministic whatever the key: observation (t, sum of actions so far); reward
    t + action / 2; terminates once three actions of 1 were taken, truncated at t = 5."""

    def _reset_env(self, key):
        del key
        return jnp.zeros(2, jnp.float32), jnp.zeros(2, jnp.float32)

    def _step_env(self, state, action, key):
        del key
        state = state + jnp.array([1.0, 0.0]) + jnp.array([0.0, 1.0]) * action
        reward = state[0] + action / 2.0
        return state, state, reward, state[1] >= 3, state[0] >= 5

    def observation_spec(self):
        return dm_specs.BoundedArray((2,), np.float32, 0.0, 10.0, name="observation")

    def action_spec(self):
        return dm_specs.DiscreteArray(2, np.int32, name="action")


def random_policy() -> actors.ActorCore:
    """Uniform actions from its own key; extras tell each step's action apart."""

    def select(params, observation, key):
        del params, observation
        key, sample_key = jax.random.split(key)
        return jax.random.bernoulli(sample_key).astype(jnp.int32), key

    return actors.ActorCore(
        init=lambda key: key,
        select_action=select,
        get_extras=lambda key: {"tag": jax.random.uniform(key)},
    )


def recording_parts(num_envs=3, length=4) -> jax_learning.LearnerParts:
    """A learner whose state is (its step count, the last items it was given)."""
    spec = specs.make_environment_spec(CountingEnvironment())
    step_spec = replay.step_signature(spec, length + 1, {"tag": dm_specs.Array((), np.float32)})
    items = jax.tree.map(lambda s: jnp.zeros((num_envs,) + s.shape, s.dtype), step_spec)
    return jax_learning.LearnerParts(
        initial_state=lambda key: (jnp.zeros((), jnp.int32), items),
        update=lambda state, data, probabilities: ((state[0] + 1, data), {"steps": state[0]}, None),
        variables=lambda state: {"policy": state[0]},
    )


def host_items(rollouts, num_envs, length):
    """What rlkit's host side writes for the same actions: the batched adder fed the host
    environment's timesteps, auto-reset a step after LAST as a vector environment does."""
    environment = CountingEnvironment()
    spec = specs.make_environment_spec(environment)
    extras_spec = {"tag": dm_specs.Array((), np.float32)}
    signature = replay.step_signature(spec, length + 1, extras_spec)
    server = replay.make_server([replay.queue_table("queue", 1000, signature)], "local")
    client = server.client()
    adder = replay.BatchedSequenceAdder(
        client, "queue", spec, num_envs, length + 1, length, extras_spec=extras_spec
    )
    hosts = [JaxEnvironmentWrapper(environment, seed=i) for i in range(num_envs)]
    timesteps = [host.reset() for host in hosts]
    adder.add_first(batch(timesteps))
    # Every step's entry: the first rollout's, then each next one's after the shared one.
    entries = [tree.map_structure(lambda x: x[:, 0], rollouts[0])]
    for item in rollouts:
        entries += [tree.map_structure(lambda x, t=t: x[:, t], item) for t in range(1, length + 1)]
    for entry in entries:
        for i, host in enumerate(hosts):
            last = timesteps[i].last()
            timesteps[i] = host.reset() if last else host.step(entry.action[i])
        adder.add(entry.action, batch(timesteps), entry.extras)
    adder.flush()
    count = client.table_size("queue")
    data = next(client.dataset("queue", count, flatten_blocks=False, check_finite=False)).data
    server.stop()
    return data


def batch(timesteps):
    return dm_env.TimeStep(
        np.array([t.step_type for t in timesteps], np.int8),
        np.array([0.0 if t.reward is None else t.reward for t in timesteps], np.float32),
        np.array([1.0 if t.discount is None else t.discount for t in timesteps], np.float32),
        np.stack([t.observation for t in timesteps]),
    )


def run_recording(active_rounds, num_envs=3, length=4):
    """Runs chunks of the rollout program; returns the carry and each learner step's items."""
    program = programs.make_rollout_program(
        CountingEnvironment(), random_policy(), recording_parts(num_envs, length), num_envs, length
    )
    carry = jax.jit(program.start)(jax.random.PRNGKey(7))
    chunk = jax.jit(program.chunk)
    items = []
    for active in active_rounds:
        for flag in active:  # One iteration at a time, to see each learner step's items.
            carry, output = chunk(carry, jnp.asarray([flag]))
            if flag:
                items.append(jax.device_get(carry.learner_state[1]))
                assert int(output.learner_steps[0]) == 1
    return carry, items


def test_rollouts_are_the_items_the_host_adder_writes():
    num_envs, length, rounds = 3, 4, 6
    _, rollouts = run_recording([np.ones(rounds, bool)], num_envs, length)
    items = tree.map_structure(lambda *x: np.stack(x), *rollouts)  # [rounds, N, T + 1, ...]
    # Terminations (discount 0) and truncations (LAST with discount 1) both occur.
    discounts = items.discount[..., 1:][~items.start_of_episode[..., 1:]]
    assert (discounts == 0).any()
    expected = host_items(rollouts, num_envs, length)
    flat = tree.map_structure(lambda x: x.reshape((-1,) + x.shape[2:]), items)
    assert flat.observation.shape == (rounds * num_envs, length + 1, 2)
    tree.map_structure(np.testing.assert_allclose, flat, expected)


def test_a_masked_iteration_takes_no_environment_step():
    full, _ = run_recording([np.ones(5, bool)])
    masked, _ = run_recording([np.array([1, 1, 0, 0, 0], bool), np.array([1, 1, 1, 0, 0], bool)])
    assert int(full.learner_state[0]) == int(masked.learner_state[0]) == 5
    jax.tree.map(np.testing.assert_array_equal, full, masked)


# Through the experiment runner and the command line.

TINY_PPO = PPOConfig(num_envs=2, rollout_length=16, minibatch_size=16, num_epochs=2)


def anakin_experiment(steps, run_dir, agent_config=TINY_PPO, **kwargs):
    settings = dict(eval_every=0, num_eval_episodes=2, loggers=("csv",), checkpoint_every=320)
    return experiments.make_experiment_config(
        "ppo",
        "gymnax:CartPole-v1",
        agent_config,
        max_num_actor_steps=steps,
        run_dir=str(run_dir),
        **{**settings, **kwargs},
    )


def test_a_jax_environment_picks_the_anakin_layout_and_a_resumed_run_goes_on_exactly(tmp_path):
    first = experiments.run_experiment(anakin_experiment(640, tmp_path / "resumed"))
    # The step that opens the first rollout, then whole rollouts of 2 x 16 steps, of which
    # restarts (the step after an episode's last) are not counted, as the host's loop does.
    assert 640 <= first.actor_steps < 640 + 32
    assert first.actor_steps < 2 + 32 * first.learner_steps < first.actor_steps + 32 // 8 * 32
    resumed = experiments.run_experiment(anakin_experiment(1280, tmp_path / "resumed"))
    assert resumed.resumed_from == first.actor_steps and resumed.actor_steps >= 1280
    whole = experiments.run_experiment(anakin_experiment(1280, tmp_path / "whole"))
    assert whole.actor_steps == resumed.actor_steps
    jax.tree.map(
        np.testing.assert_array_equal,
        experiments.load_policy(str(tmp_path / "resumed")).params,
        experiments.load_policy(str(tmp_path / "whole")).params,
    )
    actor = pd.read_csv(os.path.join(tmp_path, "whole", "logs", "actor.csv"))
    assert {"episode_return", "episode_length", "actor_steps"} <= set(actor.columns)
    assert (actor["episode_length"] >= 8).all()  # CartPole cannot fall sooner.
    learner = pd.read_csv(os.path.join(tmp_path, "whole", "logs", "learner.csv"))
    assert learner["learner_steps"].iloc[-1] == whole.learner_steps and "policy_loss" in learner


def test_agents_the_layout_cannot_run_are_refused_with_the_reason():
    for agent in ("acer", "reinforce", "impala", "a3c", "sarsa_lambda"):
        with pytest.raises(errors.ConfigError, match="cannot run in the Anakin layout"):
            experiments.run_experiment(
                experiments.make_experiment_config(
                    agent, "gymnax:CartPole-v1", max_num_actor_steps=100, loggers=()
                )
            )
    with pytest.raises(errors.ConfigError, match="needs an environment written in JAX"):
        experiments.make_experiment_config(
            "ppo", "CartPole-v1", max_num_actor_steps=100, layout="anakin"
        )


def test_the_local_layout_steps_a_jax_environment_from_python(tmp_path):
    result = experiments.run_experiment(
        experiments.make_experiment_config(
            "dqn", "gymnax:CartPole-v1", max_num_actor_steps=300, layout="local", loggers=(),
            eval_every=0, num_eval_episodes=1,
        )
    )  # fmt: skip
    assert result.actor_steps == 300 and result.evaluations
    batched = experiments.run_experiment(  # PPO acts in a batch: vmapped copies.
        anakin_experiment(300, tmp_path / "local_ppo", layout="local", checkpoint_every=0)
    )
    assert batched.actor_steps >= 300 and batched.learner_steps >= 9


@pytest.mark.slow
def test_ppo_learns_gymnax_cartpole_in_the_anakin_layout(tmp_path):
    from rlkit.agents import registry

    config = registry.get_agent("ppo").load_config("gymnax:CartPole-v1")
    config.anneal_env_steps = 150_000
    result = experiments.run_experiment(
        anakin_experiment(150_000, tmp_path, config, eval_every=50_000, num_eval_episodes=5)
    )
    returns = [evaluation["return_mean"] for evaluation in result.evaluations]
    assert max(returns) >= 300, returns  # Random play lasts about 22 steps.


def test_the_cli_trains_in_the_anakin_layout_and_refuses_what_it_cannot(tmp_path, capsys):
    from rlkit.cli import main as cli

    run_dir = tmp_path / "run"
    argv = ["train", "ppo", "--env", "gymnax:CartPole-v1", "--steps", "600", "--run-dir"]
    argv += [str(run_dir), "--set", "rollout_length=16", "--set", "minibatch_size=64"]
    assert cli.main([*argv, "--eval-episodes", "1"]) == 0
    out = capsys.readouterr().out
    assert "evaluation return" in out
    assert "layout: anakin" in (run_dir / "experiment.yaml").read_text()
    assert cli.main(["eval", str(run_dir), "--episodes", "2"]) == 0
    for bad in (
        ["train", "acer", "--env", "gymnax:CartPole-v1", "--steps", "100"],
        ["train", "ppo", "--env", "CartPole-v1", "--layout", "anakin"],
        ["train", "ppo", "--env", "gymnax:CartPole-v1", "--distributed"],
        ["train", "ppo", "--env", "gymnax:NoSuchGame-v0", "--steps", "100"],
    ):
        code = cli.main([*bad, "--run-dir", str(tmp_path / "bad")])
        captured = capsys.readouterr()
        assert code != 0 and "Traceback" not in captured.err, bad
        assert len(captured.err.strip().splitlines()) == 1, captured.err


def test_a_batch_of_a_jax_environment_on_the_host_keeps_the_vector_contract():
    from rlkit.jax_environments import JaxVectorEnvironmentWrapper

    num_envs = 3
    batched = JaxVectorEnvironmentWrapper(CountingEnvironment(), num_envs, seed=0)
    assert batched.num_envs == num_envs
    singles = [JaxEnvironmentWrapper(CountingEnvironment(), seed=i) for i in range(num_envs)]
    fresh = batched.step(np.ones(num_envs, np.int32))  # dm_env: a fresh one resets.
    assert list(fresh.step_type) == [FIRST] * num_envs and fresh.observation.sum() == 0
    expected = [single.reset() for single in singles]
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(40):
        actions = rng.integers(0, 2, num_envs).astype(np.int32)
        batch = batched.step(actions)
        expected = [
            single.reset() if previous.last() else single.step(action)
            for single, previous, action in zip(singles, expected, actions, strict=True)
        ]
        for i, single_step in enumerate(expected):
            assert batch.step_type[i] == single_step.step_type
            np.testing.assert_array_equal(batch.observation[i], single_step.observation)
            reward = 0.0 if single_step.first() else single_step.reward
            discount = 1.0 if single_step.first() else single_step.discount
            assert (batch.reward[i], batch.discount[i]) == (reward, discount)
        ended += int(np.sum(batch.step_type == LAST))
    assert ended >= 5
    with pytest.raises(errors.InvalidActionError):
        batched.step(np.array([0, 1, 2], np.int32))


def test_seeds_vmapped_together_are_each_the_run_of_that_seed_alone(tmp_path):
    config = anakin_experiment(640, tmp_path / "together", seeds=[3, 5], eval_every=320)
    together = experiments.run_seeds(config)
    assert [result.run_dir for result in together] == [
        str(tmp_path / "together_seed3"),
        str(tmp_path / "together_seed5"),
    ]
    for seed, result in zip([3, 5], together, strict=True):
        alone = experiments.run_experiment(
            anakin_experiment(640, tmp_path / f"alone{seed}", seed=seed, eval_every=320)
        )
        assert (result.actor_steps, result.learner_steps) == (
            alone.actor_steps,
            alone.learner_steps,
        )
        assert [e["return_mean"] for e in result.evaluations] == pytest.approx(
            [e["return_mean"] for e in alone.evaluations]
        )
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
            experiments.load_policy(result.run_dir).params,
            experiments.load_policy(alone.run_dir).params,
        )
        episodes = pd.read_csv(os.path.join(result.run_dir, "logs", "actor.csv"))
        assert episodes["actor_steps"].iloc[-1] <= result.actor_steps
    # Rerun: each seed resumes from its own checkpoint, already at its budget.
    again = experiments.run_seeds(config)
    assert [result.stop_reason for result in again] == ["already_finished"] * 2
    with pytest.raises(errors.ConfigError, match="run_seeds"):
        experiments.run_experiment(config)


def test_the_cli_trains_seeds_together_and_plot_aggregates_them(tmp_path, capsys):
    from rlkit.cli import main as cli

    base = tmp_path / "sweep"
    argv = ["train", "ppo", "--env", "gymnax:CartPole-v1", "--steps", "400", "--seeds", "0-1"]
    argv += ["--run-dir", str(base), "--set", "rollout_length=16", "--set", "minibatch_size=64"]
    assert cli.main([*argv, "--eval-episodes", "1"]) == 0
    out = capsys.readouterr().out
    assert "over 2 of 2 seeds: evaluation return mean" in out
    for seed in (0, 1):
        run_dir = tmp_path / f"sweep_seed{seed}"
        assert f"seed: {seed}" in (run_dir / "experiment.yaml").read_text()
        assert (run_dir / "logs" / "evaluator.csv").exists()
        assert (run_dir / "policy_best").exists()
    runs = [str(tmp_path / f"sweep_seed{seed}") for seed in (0, 1)]
    assert cli.main(["plot", *runs, "--aggregate", "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").exists()
    assert cli.main([*argv, "--jobs", "2"]) != 0  # In one process: no subprocesses to run.


def test_off_policy_agents_learn_on_the_schedule_the_host_follows(tmp_path):
    from rlkit.agents import registry

    runs = (
        ("dqn", "gymnax:CartPole-v1", 1500, {}),
        ("dqn", "gymnax:CartPole-v1", 600, {"prioritized": True}),  # Priorities written back.
        ("td3", "gymnax:Pendulum-v1", 600, {}),
    )
    for agent, env_id, steps, changes in runs:
        entry = registry.get_agent(agent)
        config = dataclasses.replace(entry.load_config(env_id), **changes)
        config.min_replay_size = min(config.min_replay_size, 200)
        result = experiments.run_experiment(
            experiments.make_experiment_config(
                agent, env_id, config, max_num_actor_steps=steps, loggers=("csv",),
                run_dir=str(tmp_path / f"{agent}{steps}"), eval_every=0, num_eval_episodes=2,
            )
        )  # fmt: skip
        # What the host's Agent starts after `actor_steps` observations (restarts excluded).
        schedule = entry.make_builder(config).learning_schedule()
        expected = schedule.learner_steps_due(result.actor_steps, 0)
        assert result.learner_steps == expected > 0, agent
        learner = pd.read_csv(os.path.join(tmp_path, f"{agent}{steps}", "logs", "learner.csv"))
        assert np.isfinite(learner.drop(columns=["learner_steps"]).to_numpy(float)).all()


def test_continuous_actions_are_rescaled_as_the_host_recipe_does():
    from rlkit import environments

    environment = environments.make_jax_environment("gymnax:Pendulum-v1", "continuous")
    spec = environment.action_spec()
    assert (spec.minimum, spec.maximum) == (-1.0, 1.0) and spec.shape == (1,)
    np.testing.assert_allclose(environment.inner_action(jnp.array([-1.0, 0.0, 1.0])), [-2, 0, 2])
    host = environments.make_environment("Pendulum-v1", recipe="continuous")
    assert host.action_spec() == spec


def test_evaluation_runs_one_whole_episode_in_each_environment():
    from rlkit.jax_environments import make_jax_environment

    def push(params, observation, key):  # Always the same side: CartPole falls in ~10 steps.
        return jnp.asarray(params, jnp.int32), key

    policy = actors.ActorCore(init=lambda key: key, select_action=push, get_extras=lambda k: ())
    for limit, expected in ((500, None), (5, 5)):
        environment = make_jax_environment("gymnax:CartPole-v1", max_episode_steps=limit)
        run = jax.jit(programs.make_evaluation_program(environment, policy, 4))
        returns, lengths = jax.device_get(run(1, jax.random.PRNGKey(0)))
        np.testing.assert_array_equal(returns, lengths)  # Reward 1 per step, first episode only.
        assert (lengths >= 5).all() and (lengths < 20).all()
        if expected is not None:
            assert (lengths == expected).all()  # Truncated at the limit.
