"""The `rlkit` command: listing, training end to end, one-line errors."""

import pathlib
import subprocess
import sys

import pytest

from rlkit.cli import main as cli


def test_agents_lists_dqn(capsys):
    assert cli.main(["agents"]) == 0
    assert "dqn" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "ppo9", "--env", "CartPole-v1"], "unknown agent 'ppo9'"),
        (["train", "dqn", "--env", "CartPole-v9"], "Unknown environment id 'CartPole-v9'"),
        (["train", "dqn", "--env", "Pendulum-v1", "--steps", "10"], "discrete action"),
        (["train", "dqn", "--env", "CartPole-v1", "--steps", "-5"], "positive"),
        (["train", "dqn"], "--env"),
        (["fly"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(capsys, argv, message):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_console_script_trains_end_to_end():
    script = pathlib.Path(sys.executable).parent / "rlkit"  # Installed by pyproject's scripts.
    assert script.exists(), "pip install -e . did not install the rlkit console script"
    command = [str(script), "train", "dqn", "--env", "CartPole-v1", "--steps", "1500"]
    result = subprocess.run(
        [*command, "--eval-episodes", "2"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "dqn on CartPole-v1: evaluation return" in result.stdout
