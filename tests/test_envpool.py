"""make_vector_environment(..., backend="envpool"): envpool behind the batched dm_env contract."""

import os
import subprocess
import sys

import dm_env
import numpy as np
import pytest

import rlkit
from rlkit import errors, wrappers
from rlkit.agents.on_policy import PPO, PPOConfig
from rlkit.wrappers import envpool_wrapper
from tests.dm_env_contract import random_action

# Through rlkit's import, which keeps envpool from setting MPLBACKEND for this process (and
# for the notebook kernel a later test starts from it).
try:
    envpool_wrapper.import_envpool()
except errors.ConfigError:
    pytest.skip(
        "envpool is not installed (pip install 'rlkit-jax[envpool]')", allow_module_level=True
    )


def test_importing_envpool_leaves_the_matplotlib_backend_alone():
    script = (
        "import os\n"
        "from rlkit.wrappers import envpool_wrapper\n"
        "envpool_wrapper.import_envpool()\n"
        "print(os.environ.get('MPLBACKEND'))\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=environment
    )
    assert out.stdout.strip() == "None"


FIRST, MID, LAST = (int(step_type) for step_type in dm_env.StepType)


def envpool_env(env_id="CartPole-v1", num_envs=2, **kwargs):
    return rlkit.make_vector_environment(env_id, num_envs, backend="envpool", **kwargs)


def run(env, actions):
    """The reset timestep and one timestep per batch of actions."""
    return [env.reset()] + [env.step(np.asarray(a, np.int32)) for a in actions]


def stream(timesteps, i):
    return [(int(t.step_type[i]), float(t.reward[i]), float(t.discount[i])) for t in timesteps]


def test_truncation_is_last_with_discount_1_and_the_true_final_observation():
    env = envpool_env(seed=0, max_episode_steps=4)
    timesteps = run(env, [[0, 1]] * 7)
    for i in range(2):  # Pushing the cart one way for 4 steps keeps the pole up.
        assert stream(timesteps, i) == [
            (FIRST, 0, 1), (MID, 1, 1), (MID, 1, 1), (MID, 1, 1), (LAST, 1, 1),
            (FIRST, 0, 1), (MID, 1, 1), (MID, 1, 1),
        ]  # fmt: skip
    # The LAST step's observation is the 4th of the episode (as a longer episode with the
    # same seed and actions shows), not the next episode's first.
    longer = run(envpool_env(seed=0, max_episode_steps=100), [[0, 1]] * 4)
    np.testing.assert_array_equal(timesteps[4].observation, longer[4].observation)
    assert not np.array_equal(timesteps[4].observation, timesteps[5].observation)
    # The FIRST step starts where a fresh episode starts: the cart near the centre.
    assert np.all(np.abs(timesteps[5].observation) < 0.05)
    env.close()


def test_termination_is_last_with_discount_0_then_first_and_the_action_is_ignored():
    def trajectory(restart_action):
        env = envpool_env(seed=1, num_envs=1)
        timesteps = [env.reset()]
        while not timesteps[-1].step_type[0] == LAST:  # Pushing left topples the pole.
            timesteps.append(env.step(np.array([0], np.int32)))
        timesteps.append(env.step(np.array([restart_action], np.int32)))
        timesteps.append(env.step(np.array([1], np.int32)))
        env.close()
        return timesteps

    timesteps = trajectory(restart_action=0)
    steps = stream(timesteps, 0)
    assert steps[-4:] == [(MID, 1, 1), (LAST, 1, 0), (FIRST, 0, 1), (MID, 1, 1)]
    assert 5 < len(steps) < 30
    assert abs(timesteps[-3].observation[0, 2]) > 0.2  # The final observation: pole down.
    # The action of the step that restarts the episode never reaches it.
    other = trajectory(restart_action=1)
    np.testing.assert_array_equal(timesteps[-1].observation, other[-1].observation)


def test_step_on_a_fresh_environment_resets():
    env = envpool_env(seed=0)
    timestep = env.step(np.array([1, 1], np.int32))
    assert list(timestep.step_type) == [FIRST, FIRST]
    assert list(timestep.reward) == [0, 0] and list(timestep.discount) == [1, 1]
    env.close()


@pytest.mark.parametrize(
    "env_id, recipe",
    [("CartPole-v1", "auto"), ("Pendulum-v1", "auto"), ("Pendulum-v1", "continuous")],
)
def test_specs_dtypes_and_shapes_are_the_gymnasium_backend_s(env_id, recipe):
    env = envpool_env(env_id, 3, seed=0, recipe=recipe)
    reference = rlkit.make_vector_environment(env_id, 3, seed=0, recipe=recipe)
    assert wrappers.num_envs(env) == 3
    for name in ("observation_spec", "action_spec", "reward_spec", "discount_spec"):
        spec, expected = getattr(env, name)(), getattr(reference, name)()
        assert type(spec) is type(expected) and repr(spec) == repr(expected), name
    rng = np.random.default_rng(0)
    timesteps = [env.reset()]
    for _ in range(5):
        actions = [random_action(env.action_spec(), rng) for _ in range(3)]
        timesteps.append(env.step(np.stack(actions)))
    for timestep in timesteps:
        assert timestep.step_type.dtype == np.int8 and timestep.step_type.shape == (3,)
        assert timestep.observation.dtype == np.float32
        assert timestep.observation.shape == (3, *env.observation_spec().shape)
        assert timestep.reward.dtype == timestep.discount.dtype == np.float32
    env.close()
    reference.close()


def test_seeds_reproduce_runs_and_each_sub_environment_has_its_own():
    def observations(seed, num_envs=2):
        env = envpool_env(seed=seed, num_envs=num_envs)
        result = [t.observation for t in run(env, [[0, 1][:num_envs]] * 30)]
        env.close()
        return np.stack(result)

    np.testing.assert_array_equal(observations(3), observations(3))
    assert not np.array_equal(observations(3), observations(4))
    first = observations(3)[0]
    assert not np.array_equal(first[0], first[1])
    # Sub-environment i is seeded seed + i, as gymnasium's vector environments are.
    np.testing.assert_array_equal(first[1], observations(4, num_envs=1)[0, 0])


def test_reset_with_a_seed_reseeds():
    env = envpool_env(seed=0)
    run(env, [[0, 1]] * 5)
    reseeded = env.reset(seed=7).observation
    np.testing.assert_array_equal(reseeded, envpool_env(seed=7).reset().observation)
    with pytest.raises(errors.ConfigError, match="32-bit"):
        env.reset(seed=2**31)
    env.step(np.array([0, 1], np.int32))  # The old pool is still there after the refusal.
    env.close()


def test_actions_outside_the_spec_raise_invalid_action_error():
    env = envpool_env(seed=0)
    env.reset()
    with pytest.raises(errors.InvalidActionError, match="outside the bounds"):
        env.step(np.array([0, 2], np.int32))
    with pytest.raises(errors.InvalidActionError, match="shape"):
        env.step(np.array([0, 1, 1], np.int32))
    env.close()


def test_ppo_runs_through_an_envpool_environment():
    config = PPOConfig(num_envs=4, rollout_length=16, minibatch_size=32, num_epochs=2)
    env = envpool_env(num_envs=config.num_envs, seed=0)
    agent = PPO(rlkit.make_environment_spec(env), config, seed=0)
    loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
    episodes = loop.run(num_steps=2000)
    assert len(episodes) >= 20
    assert int(agent.learner.state.steps) >= 2000 // (4 * 16) - 1
    agent.close()
    env.close()


def _pong_available() -> bool:
    try:
        envpool_env("ALE/Pong-v5", 1, seed=0).close()
    except Exception:  # No ROM in this envpool build.
        return False
    return True


atari = pytest.mark.skipif(not _pong_available(), reason="envpool has no Pong ROM here")


@atari
def test_atari_observations_and_specs_are_the_atari_recipe_s():
    pytest.importorskip("ale_py")
    env = envpool_env("ALE/Pong-v5", 2, seed=0)
    reference = rlkit.make_environment("ALE/Pong-v5", seed=0)
    for name in ("observation_spec", "action_spec", "reward_spec", "discount_spec"):
        assert repr(getattr(env, name)()) == repr(getattr(reference, name)()), name
    first = env.reset().observation
    assert first.shape == (2, 84, 84, 4) and first.dtype == np.uint8
    # Same grayscale, area resize and channels-last stacking: Pong's first screen matches.
    np.testing.assert_array_equal(first[0], reference.reset().observation)
    rng = np.random.default_rng(0)
    for _ in range(50):
        timestep = env.step(rng.integers(0, 6, 2).astype(np.int32))
        assert set(np.unique(timestep.reward)) <= {-1.0, 0.0, 1.0}  # Clipped.
    env.close()
    reference.close()


@atari
def test_atari_episode_limit_counts_frames_and_truncates():
    env = envpool_env("ALE/Pong-v5", 1, seed=0, max_episode_steps=40)  # 10 agent steps.
    steps = stream(run(env, [[0]] * 12), 0)
    assert [s[0] for s in steps] == [FIRST] + [MID] * 9 + [LAST, FIRST, MID]
    assert steps[10][2] == 1.0  # Truncated: bootstrap.
    env.close()


@atari
def test_atari_game_over_on_the_time_limit_step_is_terminated():
    """envpool reports a game that ends on the limit's step as truncated only; the wrapper
    knows the game is over and gives discount 0."""

    def play(max_episode_steps):
        env = envpool_env("ALE/Breakout-v5", 1, seed=0, max_episode_steps=max_episode_steps)
        rng = np.random.default_rng(0)
        timesteps = [env.reset()]
        while timesteps[-1].step_type[0] != LAST:
            timesteps.append(env.step(rng.integers(0, 4, 1).astype(np.int32)))
        env.close()
        return stream(timesteps, 0)

    game = play(None)  # Random play loses Breakout's 5 lives in a few hundred steps.
    assert game[-1] == (LAST, 0.0, 0.0)
    assert play(4 * (len(game) - 1)) == game  # The limit falls on the game's last step.
    cut = play(4 * (len(game) - 2))  # One step earlier: truncated.
    assert cut[-1][::2] == (LAST, 1.0) and len(cut) == len(game) - 1


@atari
def test_atari_life_loss_gives_discount_0_on_a_mid_step():
    env = envpool_env("ALE/Breakout-v5", 2, seed=0, terminal_on_life_loss=True)
    inner = env.environment  # SinglePrecisionWrapper -> EnvpoolWrapper.
    rng = np.random.default_rng(0)
    env.reset()
    lives, zero_discount_mids = inner.last_info["lives"], 0
    for _ in range(300):
        timestep = env.step(rng.integers(0, 4, 2).astype(np.int32))
        lost = (inner.last_info["lives"] < lives) & (timestep.step_type != FIRST)
        assert np.all(timestep.discount[lost] == 0)
        assert np.all(timestep.discount[~lost & (timestep.step_type == MID)] == 1)
        zero_discount_mids += int(np.sum(lost & (timestep.step_type == MID)))
        lives = inner.last_info["lives"]
    assert zero_discount_mids >= 2
    env.close()


@atari
def test_atari_keywords_are_the_recipe_s():
    with pytest.raises(errors.ConfigError, match="takes no keyword argument 'stack_num'"):
        envpool_env("ALE/Pong-v5", 1, stack_num=2)
    with pytest.raises(errors.ConfigError, match="at least one NOOP"):
        envpool_env("ALE/Pong-v5", 1, noop_max=0)
    env = envpool_env("ALE/Pong-v5", 1, seed=0, frame_stack=2, screen_size=64)
    assert env.observation_spec().shape == (64, 64, 2)
    env.close()


def test_envpool_missing_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "envpool", None)  # `import envpool` raises ImportError.
    with pytest.raises(errors.ConfigError, match=r"pip install 'rlkit-jax\[envpool\]'"):
        envpool_env()


@pytest.mark.parametrize(
    "env_id, error, message",
    [
        ("Hopper-v2", errors.UnknownEnvironmentError, "backend='gymnasium'"),
        ("CartPol-v1", errors.UnknownEnvironmentError, "Did you mean: CartPole-v1"),
        ("ALE/NotAGame-v5", errors.UnknownEnvironmentError, "no Atari game"),
        ("Pong-v5", errors.UnknownEnvironmentError, "'ALE/Pong-v5'"),
        ("CheetahRun-v1", errors.UnknownEnvironmentError, "without a gymnasium counterpart"),
        ("remote://localhost:1/CartPole-v1", errors.ConfigError, "local environments only"),
    ],
)
def test_ids_envpool_cannot_build_get_specific_errors(env_id, error, message):
    with pytest.raises(error, match=message):
        envpool_env(env_id)


def test_bad_backends_options_and_seeds_get_config_errors():
    with pytest.raises(errors.ConfigError, match="choose one of: gymnasium, envpool"):
        rlkit.make_vector_environment("CartPole-v1", 2, backend="jax")
    with pytest.raises(errors.ConfigError, match="num_threads"):
        envpool_env(asynchronous=True)
    with pytest.raises(errors.ConfigError, match="takes no keyword argument 'max_episode_step'"):
        envpool_env(max_episode_step=10)
    with pytest.raises(errors.ConfigError, match="32-bit"):
        envpool_env(seed=-1)
    with pytest.raises(errors.ConfigError, match="atari"):
        envpool_env("ALE/Pong-v5", recipe="gymnasium")


def test_the_wrapper_is_a_vector_gym_wrapper():
    env = envpool_env(seed=0)
    assert isinstance(env.environment, envpool_wrapper.EnvpoolWrapper)
    assert isinstance(env.environment, wrappers.VectorGymWrapper)
    env.close()


def test_the_cli_trains_a_batched_agent_on_envpool(tmp_path, capsys):
    from rlkit.cli import main as cli

    run_dir = tmp_path / "run"
    argv = ["train", "ppo", "--env", "CartPole-v1", "--vector-backend", "envpool"]
    argv += ["--steps", "600", "--eval-episodes", "1", "--run-dir", str(run_dir)]
    assert cli.main(argv) == 0
    assert "vector_backend: envpool" in (run_dir / "experiment.yaml").read_text()
    capsys.readouterr()
    bad = ["train", "dqn", "--env", "CartPole-v1", "--vector-backend", "envpool"]
    assert cli.main([*bad, "--run-dir", str(tmp_path / "bad")]) == 2
    assert "num_envs" in capsys.readouterr().err
