"""Environment recipes: how a run's environment is built, recorded and rebuilt."""

import numpy as np
import pytest

import rlkit
from rlkit import environments
from rlkit.agents import registry
from rlkit.cli import main as cli


def test_auto_picks_atari_for_ale_ids_and_checks_names():
    assert environments.resolve_recipe("ALE/Pong-v5") == "atari"
    assert environments.resolve_recipe("CartPole-v1") == "gymnasium"
    with pytest.raises(rlkit.ConfigError, match="needs an ale-py id"):
        environments.make_environment("CartPole-v1", recipe="atari")
    with pytest.raises(rlkit.ConfigError, match="Unknown environment recipe"):
        environments.resolve_recipe("CartPole-v1", "mujoco")


def test_atari_games_get_the_atari_config_and_a_training_build_clips_rewards():
    config = registry.get_agent("dqn").load_config("ALE/Breakout-v5")
    assert config.torso == "nature" and config.frame_storage == "shared"
    env = environments.make_environment("ALE/SpaceInvaders-v5", seed=0)
    evaluation = environments.make_environment("ALE/SpaceInvaders-v5", seed=0, evaluation=True)
    assert env.observation_spec().shape == (84, 84, 4)
    rng = np.random.default_rng(0)
    trained, true = set(), set()
    for source, seen in ((env, trained), (evaluation, true)):
        source.reset()
        for _ in range(600):
            timestep = source.step(np.int32(rng.integers(source.action_spec().num_values)))
            seen.add(float(timestep.reward or 0.0))
            if timestep.last():
                source.reset()
    assert trained <= {-1.0, 0.0, 1.0} and max(true) > 1.0, (trained, true)


def test_an_atari_recipe_on_another_env_is_one_line(capsys, tmp_path):
    code = cli.main(
        ["train", "dqn", "--env", "CartPole-v1", "--env-recipe", "atari", "--steps", "100",
         "--run-dir", str(tmp_path / "run")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "ale-py id" in err


@pytest.mark.slow
def test_atari_trains_end_to_end_and_the_run_evaluates_and_plays(capsys, tmp_path):
    run_dir = tmp_path / "pong"
    argv = ["train", "dqn", "--env", "ALE/Pong-v5", "--steps", "2000", "--eval-every", "2000",
            "--eval-episodes", "1", "--run-dir", str(run_dir),
            "--set", "min_replay_size=500"]  # fmt: skip
    assert cli.main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "dqn on ALE/Pong-v5: evaluation return" in out
    policy = rlkit.experiments.load_policy(str(run_dir))
    assert policy.env_recipe == "atari" and policy.config.torso == "nature"
    assert cli.main(["eval", str(run_dir), "--episodes", "1"]) == 0
    assert "dqn on ALE/Pong-v5: return" in capsys.readouterr().out
    gif = tmp_path / "pong.gif"
    assert cli.main(["play", str(run_dir), "--episodes", "1", "--video", str(gif)]) == 0
    assert gif.stat().st_size > 0
