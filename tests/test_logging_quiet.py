"""Reverb's C++ log lines stay off stderr for library users, unless asked for."""

import os
import subprocess
import sys

import pytest

from rlkit import _reverb_logs
from tests.conftest import REPLAY_BACKENDS

# The README's two-line script on the Reverb backend, a few hundred steps.
SCRIPT = """
import rlkit
from rlkit.agents import dqn

env = rlkit.make_environment("CartPole-v1", seed=0)
agent = dqn.DQN(
    rlkit.specs.make_environment_spec(env),
    dqn.DQNConfig(min_replay_size=100),
    seed=0,
    replay_backend="reverb",
)
rlkit.EnvironmentLoop(env, agent).run(num_steps=300)
print("trained on", agent.replay_backend)
"""

REVERB_LINE = "[reverb/cc/"


def run_script(**variables):
    # Without the test environment's TF_CPP_MIN_LOG_LEVEL=2 (users rarely set it) and with no
    # opt-in unless given: what a user's script gets.
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", "RLKIT_REVERB_LOGS")
    }
    environment.update(variables)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "trained on reverb" in result.stdout
    return result.stderr


needs_reverb = pytest.mark.skipif("reverb" not in REPLAY_BACKENDS, reason="needs Reverb")


@needs_reverb
def test_reverb_lines_are_quiet_by_default():
    stderr = run_script()
    assert REVERB_LINE not in stderr, stderr
    # The one line left is rlkit's own warning about the open port.
    assert [line for line in stderr.splitlines() if line.strip()] == [
        line for line in stderr.splitlines() if "gRPC port" in line
    ], stderr


@needs_reverb
def test_reverb_lines_come_back_on_request():
    stderr = run_script(RLKIT_REVERB_LOGS="1")
    assert "Started replay server" in stderr and "Shutting down replay server" in stderr
    assert sum(line.startswith(REVERB_LINE) for line in stderr.splitlines()) >= 4, stderr


@pytest.mark.parametrize(
    "variables, wanted",
    [
        ({}, False),
        ({"TF_CPP_MIN_LOG_LEVEL": "2"}, False),
        ({"TF_CPP_MIN_LOG_LEVEL": "0"}, True),  # The user asked C++ libraries for INFO.
        ({"RLKIT_REVERB_LOGS": "1"}, True),
        ({"RLKIT_REVERB_LOGS": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}, True),
        ({"RLKIT_REVERB_LOGS": "0", "TF_CPP_MIN_LOG_LEVEL": "0"}, False),
    ],
)
def test_opt_in(monkeypatch, variables, wanted):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.delenv("RLKIT_REVERB_LOGS", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert _reverb_logs.wanted() is wanted
