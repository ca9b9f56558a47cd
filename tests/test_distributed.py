"""Distributed runs on a local Ray (2 CPUs here): the builder's pieces as Ray actors around a
Reverb server, evaluations from the driver, no process left behind; DQN learns CartPole
(slow)."""

import importlib.util
import os

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
    niceness = {}

    def at_evaluation(steps, evaluation):
        # The run's own workers ("ray::_ActorWorker", ... cut to 15 characters), not Ray's.
        workers = [p for p in ray_processes() if p.name().startswith("ray::_")]
        niceness.update({p.name() + str(p.pid): p.nice() for p in workers})

    experiment = dqn_experiment(3_000, evaluation_callback=at_evaluation)
    result = experiments.make_distributed_experiment(experiment, num_actors=2).run()
    assert result.actor_steps >= 3_000 and result.learner_steps > 0
    # At Ray's default (nice 15) any busy process on the machine starves the workers.
    assert len(niceness) == 5 and set(niceness.values()) == {os.nice(0)}, niceness  # 2 actors
    assert "RAY_worker_niceness" not in os.environ
    assert [e["actor_steps"] >= 1_500 for e in result.evaluations] == [True, True]
    assert all(np.isfinite(e["return_mean"]) for e in result.evaluations)
    assert not ray_processes()


@pytest.mark.parametrize("num_actors, num_envs", [(1, 1), (2, 1), (4, 8), (3, 3)])
def test_stretches_are_claimed_whole_in_chunks_that_shrink_near_the_end(num_actors, num_envs):
    from rlkit.experiments.distributed import ACTING_CHUNK, MIN_ACTING_CHUNK, _CounterWorker

    counter = _CounterWorker({})
    counter.open_stretch(10_001, num_actors)
    chunks = list(iter(lambda: counter.claim(num_envs), 0))
    assert sum(chunks) == 10_001 and counter.claim(num_envs) == 0
    # Whole vector steps except the remainder; capped; smaller towards the end.
    assert all(chunk % num_envs == 0 for chunk in chunks[:-1]), chunks
    assert max(chunks) == -(-ACTING_CHUNK // num_envs) * num_envs
    assert chunks[:-1] == sorted(chunks[:-1], reverse=True), chunks
    assert min(chunks[:-1]) <= max(MIN_ACTING_CHUNK, num_envs) + num_envs
    counter.open_stretch(0)  # Ends a stretch: nothing left to claim.
    assert counter.claim(num_envs) == 0


def test_workers_started_before_a_start_up_failure_are_killed():
    """On a cluster, Ray actors the driver started would otherwise outlive the failed run."""
    from types import SimpleNamespace

    from rlkit.experiments import distributed
    from rlkit.utils import counting

    class FakeRay:
        def __init__(self):
            self.started, self.killed = [], []

        def remote(self, worker_class):
            fake = self

            class Starter:
                def options(self, **options):
                    return self

                def remote(self, *args):
                    if worker_class is distributed._LearnerWorker:
                        raise RuntimeError("no learner")
                    fake.started.append(SimpleNamespace(name=worker_class.__name__))
                    return fake.started[-1]

            return Starter()

        def get_runtime_context(self):
            return SimpleNamespace(get_node_id=lambda: "ab" * 28)  # A node id's form.

        def put(self, value):
            return value

        def kill(self, handle, no_restart):
            self.killed.append(handle)

    ray = FakeRay()
    context = SimpleNamespace(
        loggers={},
        counter=counting.Counter(),
        replay_checkpoint_dir=None,
        restore_replay_from=None,
        latest_state=lambda state: None,
    )
    experiment = experiments.make_distributed_experiment(dqn_experiment(100), num_actors=2)
    with pytest.raises(RuntimeError, match="no learner"):
        distributed._DistributedLayout(experiment, ray, context)
    assert [handle.name for handle in ray.started] == ["_CounterWorker", "_ReplayWorker"]
    assert ray.killed == ray.started


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


def worker_processes(name):
    return [p for p in ray_processes() if (p.info["cmdline"] or [""])[0].startswith(f"ray::{name}")]


def test_losing_the_replay_server_or_the_learner_is_survived_and_said(tmp_path, caplog):
    import logging
    import signal

    killed = []

    def at_evaluation(steps, evaluation):
        victim = {4_000: "_ReplayWorker", 6_000: "_LearnerWorker"}.get(steps)
        if victim is not None:
            (process,) = worker_processes(victim)
            process.send_signal(signal.SIGKILL)
            killed.append(process.pid)

    experiment = dqn_experiment(
        8_000,
        eval_every=2_000,
        checkpoint_every=2_000,
        run_dir=str(tmp_path / "run"),
        evaluation_callback=at_evaluation,
    )
    with caplog.at_level(logging.WARNING, logger="rlkit.experiments"):
        result = experiments.make_distributed_experiment(experiment, num_actors=2).run()
    assert len(killed) == 2 and result.actor_steps == 8_000
    assert [e["actor_steps"] for e in result.evaluations] == [2_000, 4_000, 6_000, 8_000]
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "The replay server's process died; Ray restarted it" in messages, messages
    assert "The learner's process died and Ray restarted it; it goes on from the latest " in (
        messages
    )
    assert not ray_processes()


def test_bad_input_names_the_fix():
    from rlkit.experiments import distributed

    with pytest.raises(errors.ConfigError, match="num_actors must be a positive integer"):
        distributed.run_distributed_experiment(dqn_experiment(1_000), num_actors=0)
    with pytest.raises(errors.ConfigError, match="replay_backend 'local' is for one process"):
        distributed.run_distributed_experiment(
            dqn_experiment(1_000, replay_backend="local"), num_actors=1
        )


def test_a_rerun_resumes_from_the_checkpoint_learner_replay_and_counts(tmp_path):
    run_dir = str(tmp_path / "run")
    settings = dict(run_dir=run_dir, checkpoint_every=1_000, eval_every=1_000, loggers=("csv",))
    first = experiments.make_distributed_experiment(
        dqn_experiment(2_000, **settings), num_actors=2
    ).run()
    assert first.actor_steps == 2_000 and first.learner_steps > 0
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == ["1000", "2000"]
    assert os.path.isdir(os.path.join(run_dir, "replay", "2000"))  # Written by the server.
    saved = experiments.load_policy(run_dir)
    assert saved.description["actor_steps"] == 2_000

    second = experiments.make_distributed_experiment(
        dqn_experiment(3_000, **settings), num_actors=1
    ).run()
    assert second.resumed_from == 2_000 and second.actor_steps == 3_000
    assert second.learner_steps > first.learner_steps  # Counted on from the checkpoint.
    assert second.evaluations[:2] == first.evaluations
    assert [e["actor_steps"] for e in second.evaluations] == [1_000, 2_000, 3_000]
    with open(os.path.join(run_dir, "logs", "evaluator.csv")) as file:
        assert len(file.readlines()) == 4  # Header and one row per evaluation, none twice.
    assert not ray_processes()


def descendants(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_sigterm_checkpoints_stops_every_process_and_the_rerun_resumes(tmp_path):
    import contextlib
    import signal
    import subprocess
    import sys
    import time

    run_dir = str(tmp_path / "run")
    command = [
        sys.executable, "-m", "rlkit.cli.main", "train", "dqn", "--env", "CartPole-v1",
        "--distributed", "--num-actors", "1", "--run-dir", run_dir, "--logger", "none",
        "--checkpoint-every", "1000", "--eval-every", "1000", "--eval-episodes", "1",
        "--set", "min_replay_size=200", "--set", "hidden_sizes=[32,32]",
    ]  # fmt: skip
    # Files, not pipes: nothing reads them while it runs, and a full pipe would stall it.
    output = {name: open(tmp_path / name, "w+") for name in ("stdout", "stderr")}
    process = subprocess.Popen([*command, "--steps", "1000000"], text=True, **output)
    try:
        deadline = time.monotonic() + 240
        manifest = os.path.join(run_dir, "manifests", "1000.json")
        while not os.path.exists(manifest) and process.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.5)
        children = descendants(process.pid)
        assert any("raylet" in child.name() for child in children), children
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    except BaseException:
        for leftover in [*descendants(process.pid), process]:
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()  # Not left running after a failure.
        raise
    finally:
        for file in output.values():
            file.seek(0)
        stdout, stderr = (file.read() for file in output.values())
        for file in output.values():
            file.close()
        print(stdout, stderr, sep="\n")  # Shown by pytest if the test fails.
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "terminated; checkpoint saved at step" in stderr, stderr
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive

    rerun = subprocess.run(
        [*command, "--steps", "3000"], capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed from the checkpoint at step" in rerun.stdout, rerun.stdout
    assert "after 3000 steps" in rerun.stdout, rerun.stdout


@pytest.mark.slow
def test_distributed_dqn_learns_cartpole():
    from rlkit.experiments import distributed

    config = registry.get_agent("dqn").load_config("CartPole-v1")
    experiment = dqn_experiment(30_000, config, eval_every=10_000, num_eval_episodes=5)
    result = distributed.run_distributed_experiment(experiment, num_actors=2)
    # One process reaches 500 by 40k; 2 actors 320-490 at 30k (bench/distributed_scaling).
    assert max(e["return_mean"] for e in result.evaluations) >= 250, result.evaluations
    assert not ray_processes()
