"""Distributed runs on a local Ray (2 CPUs here): the builder's pieces as Ray actors around a
Reverb server, evaluations from the driver, no process left behind; DQN learns CartPole
(slow)."""

import importlib.util

import numpy as np
import psutil
import pytest

from rlkit import errors, experiments
from rlkit.agents import registry
from rlkit.agents.dqn import DQNConfig

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None or importlib.util.find_spec("reverb") is None,
    reason="needs the distributed and reverb extras",
)


def ray_processes():
    return [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if "raylet" in (p.info["name"] or "") or "ray::" in " ".join(p.info["cmdline"] or [])
    ]


def dqn_experiment(steps, config=None, **kwargs):
    config = config or DQNConfig(min_replay_size=200, hidden_sizes=(32, 32))
    settings = dict(eval_every=steps // 2, num_eval_episodes=2, run_dir=None, loggers=())
    return experiments.make_experiment_config(
        "dqn", "CartPole-v1", config, max_num_actor_steps=steps, **{**settings, **kwargs}
    )


def test_two_actors_fill_replay_the_learner_learns_and_nothing_is_left_behind():
    result = experiments.make_distributed_experiment(dqn_experiment(3_000), num_actors=2).run()
    assert result.actor_steps >= 3_000 and result.learner_steps > 0
    assert [e["actor_steps"] >= 1_500 for e in result.evaluations] == [True, True]
    assert all(np.isfinite(e["return_mean"]) for e in result.evaluations)
    assert not ray_processes()


def actor_processes():
    return [p for p in ray_processes() if "_ActorWorker" in " ".join(p.info["cmdline"] or [])]


def test_a_killed_actor_process_comes_back_and_training_goes_on():
    import signal

    seen = []

    def at_evaluation(steps, evaluation):
        pids = sorted(p.pid for p in actor_processes())
        seen.append(pids)
        if len(seen) == 1:
            assert len(pids) == 2, pids
            psutil.Process(pids[0]).send_signal(signal.SIGKILL)

    experiment = dqn_experiment(6_000, eval_every=2_000, evaluation_callback=at_evaluation)
    result = experiments.make_distributed_experiment(experiment, num_actors=2).run()
    assert result.actor_steps >= 6_000 and result.learner_steps > 0
    # By the last evaluation the killed actor is back: two actors again, one of them new.
    assert len(seen[-1]) == 2 and seen[-1] != seen[0], seen
    assert not ray_processes()


def test_bad_input_names_the_fix():
    from rlkit.experiments import distributed

    with pytest.raises(errors.ConfigError, match="num_actors must be a positive integer"):
        distributed.run_distributed_experiment(dqn_experiment(1_000), num_actors=0)
    with pytest.raises(errors.ConfigError, match="do not checkpoint yet"):
        distributed.run_distributed_experiment(
            dqn_experiment(1_000, run_dir="/tmp/unused"), num_actors=1
        )


@pytest.mark.slow
def test_distributed_dqn_learns_cartpole():
    from rlkit.experiments import distributed

    config = registry.get_agent("dqn").load_config("CartPole-v1")
    experiment = dqn_experiment(30_000, config, eval_every=10_000, num_eval_episodes=5)
    result = distributed.run_distributed_experiment(experiment, num_actors=2)
    # The single-process run of this config reaches 500 within 50k steps (bench/dqn_*).
    assert max(e["return_mean"] for e in result.evaluations) >= 150, result.evaluations
    assert not ray_processes()
