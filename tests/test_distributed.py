"""Distributed runs on a local Ray (2 CPUs here): the builder's pieces as Ray actors around a
Reverb server, evaluations from the driver, no process left behind; DQN learns CartPole
(slow)."""

import contextlib
import importlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time

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


def assert_nothing_left_behind():
    """Every Ray process ends with the run: at once, or (the workers, once Ray's raylet is
    gone) soon after on a loaded machine."""
    deadline = time.monotonic() + 60
    while left := ray_processes():
        assert time.monotonic() < deadline, f"left behind: {left}"
        time.sleep(0.2)


def wait_for(condition, timeout, what):
    """Polls until `condition()` holds: a deadline, not a wait of its own (a loaded machine
    only makes it later)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.2)


def dqn_experiment(steps, config=None, **kwargs):
    config = config or DQNConfig(min_replay_size=200, hidden_sizes=(32, 32))
    settings = dict(eval_every=steps // 2, num_eval_episodes=2, run_dir=None, loggers=())
    return experiments.make_experiment_config(
        "dqn", "CartPole-v1", config, max_num_actor_steps=steps, **{**settings, **kwargs}
    )


def test_two_actors_fill_replay_the_learner_learns_and_nothing_is_left_behind():
    niceness = {}

    def at_evaluation(steps, evaluation):
        # The run's own workers ("ray::ActorWorker", ... cut to 15 characters), not Ray's.
        names = ("ray::ActorWorke", "ray::CounterWor", "ray::ReplayWork", "ray::LearnerWor")
        workers = [p for p in ray_processes() if p.name().startswith(names)]
        niceness.update({p.name() + str(p.pid): p.nice() for p in workers})

    experiment = dqn_experiment(3_000, evaluation_callback=at_evaluation)
    result = experiments.make_distributed_experiment(experiment, num_actors=2).run()
    assert result.actor_steps >= 3_000 and result.learner_steps > 0
    # At Ray's default (nice 15) any busy process on the machine starves the workers.
    assert len(niceness) == 5 and set(niceness.values()) == {os.nice(0)}, niceness  # 2 actors
    assert "RAY_worker_niceness" not in os.environ
    assert [e["actor_steps"] >= 1_500 for e in result.evaluations] == [True, True]
    assert all(np.isfinite(e["return_mean"]) for e in result.evaluations)
    assert_nothing_left_behind()


@pytest.mark.parametrize("num_actors, num_envs", [(1, 1), (2, 1), (4, 8), (3, 3)])
def test_stretches_are_claimed_whole_in_chunks_that_shrink_near_the_end(num_actors, num_envs):
    from rlkit.layouts.distributed.counter import ACTING_CHUNK, MIN_ACTING_CHUNK, CounterWorker

    counter = CounterWorker({})
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

    from rlkit.layouts.distributed import layout
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
                    if worker_class is layout.LearnerWorker:
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
        evaluation_seed=0,
    )
    options = layout.RayLayout(num_actors=2)
    with pytest.raises(RuntimeError, match="no learner"):
        layout.DistributedLayout(options, dqn_experiment(100), ray, context)
    assert [handle.name for handle in ray.started] == ["CounterWorker", "ReplayWorker"]
    assert ray.killed == ray.started


def actor_processes():
    return [p for p in ray_processes() if "ActorWorker" in " ".join(p.info["cmdline"] or [])]


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
    assert_nothing_left_behind()


def worker_processes(name):
    return [p for p in ray_processes() if (p.info["cmdline"] or [""])[0].startswith(f"ray::{name}")]


def test_losing_the_replay_server_or_the_learner_is_survived_and_said(tmp_path, caplog):
    import logging
    import signal

    killed = []

    def at_evaluation(steps, evaluation):
        victim = {4_000: "ReplayWorker", 6_000: "LearnerWorker"}.get(steps)
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
    assert_nothing_left_behind()


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
    assert_nothing_left_behind()


def descendants(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


TRAIN = [
    sys.executable, "-m", "rlkit.cli.main", "train", "dqn", "--env", "CartPole-v1",
    "--distributed", "--num-actors", "1", "--logger", "none", "--eval-episodes", "1",
    "--set", "min_replay_size=200", "--set", "hidden_sizes=[32,32]",
]  # fmt: skip


@contextlib.contextmanager
def training(tmp_path, *args):
    """`rlkit train` in a subprocess; yields it and `output()`, its stdout and stderr so far.
    Files, not pipes: nothing reads them while it runs, and a full pipe would stall it. A
    failure kills it and its processes."""
    output = {name: open(tmp_path / name, "w+") for name in ("stdout", "stderr")}
    process = subprocess.Popen([*TRAIN, *args], text=True, **output)

    def read():
        return tuple((tmp_path / name).read_text() for name in output)

    try:
        yield process, read
    except BaseException:
        for leftover in [*descendants(process.pid), process]:
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()  # Not left running after a failure.
        raise
    finally:
        for file in output.values():
            file.close()
        print(*read(), sep="\n")  # Shown by pytest if the test fails.


def assert_rays_lines_only_in_the_run_log(run_dir, *terminal):
    """Ray's start-up message and its C++ core's lines are in the run's log, not the output."""
    from rlkit import _ray_logs

    for text in terminal:
        assert "Token authentication" not in text, text
        assert not any(_ray_logs.CXX_LINE.match(line.encode()) for line in text.splitlines())
    with open(os.path.join(run_dir, "logs", "ray.log")) as file:
        ray_log = file.read()
    assert "Token authentication is enabled" in ray_log, ray_log
    assert any(_ray_logs.CXX_LINE.match(line.encode()) for line in ray_log.splitlines())


def test_sigterm_checkpoints_stops_every_process_and_the_rerun_resumes(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)  # Ray then says it enabled tokens.
    monkeypatch.delenv("RLKIT_RAY_LOGS", raising=False)
    run_dir = str(tmp_path / "run")
    args = ["--run-dir", run_dir, "--checkpoint-every", "1000", "--eval-every", "1000"]
    with training(tmp_path, *args, "--steps", "1000000") as (process, output):
        manifest = os.path.join(run_dir, "manifests", "1000.json")
        wait_for(lambda: os.path.exists(manifest) or process.poll() is not None, 900, "step 1000")
        assert process.poll() is None, output()
        children = descendants(process.pid)
        assert any("raylet" in child.name() for child in children), children
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=900)  # Checkpoints, stops the actors and Ray, then exits.
    stdout, stderr = output()
    # A scheduler's preemption, not a Ctrl-C (which Ray's calls made of it under load).
    assert process.returncode == 128 + signal.SIGTERM, stderr
    saved = re.search(r"rlkit: terminated; checkpoint saved at step (\d+)", stderr)
    assert saved and "interrupted" not in stderr, stderr
    _, alive = psutil.wait_procs(children, timeout=120)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive
    step = int(saved.group(1))
    assert step >= 1000 and os.path.exists(os.path.join(run_dir, "manifests", f"{step}.json"))

    # On from the step it stopped at, however far it got.
    rerun = subprocess.run(
        [*TRAIN, *args, "--steps", str(step + 500)], capture_output=True, text=True, timeout=900
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"resumed from the checkpoint at step {step}" in rerun.stdout, rerun.stdout
    assert f"after {step + 500} steps" in rerun.stdout, rerun.stdout
    assert_rays_lines_only_in_the_run_log(run_dir, stdout, stderr, rerun.stdout, rerun.stderr)


def test_a_sigterm_while_ray_starts_exits_as_a_termination_and_leaves_nothing(tmp_path):
    """`ray.init` installs a SIGTERM handler of its own (`sys.exit(15)`): it must not be the
    one that takes a SIGTERM, then or later."""
    run_dir = str(tmp_path / "run")
    with training(tmp_path, "--run-dir", run_dir, "--steps", "1000000") as (process, output):

        def ray_started():
            return process.poll() is not None or any(
                "raylet" in child.name() for child in descendants(process.pid)
            )

        wait_for(ray_started, 900, "Ray's start")
        assert process.poll() is None, output()
        children = descendants(process.pid)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=900)
    _, stderr = output()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "rlkit: terminated" in stderr, stderr
    _, alive = psutil.wait_procs(children, timeout=120)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive


def fake_layout(train):
    """A layout factory for `run_with_layout` whose training is `train(num_steps)`."""
    from types import SimpleNamespace

    run_module = importlib.import_module("rlkit.experiments.run_experiment")

    def make_layout(config, context):
        agent = SimpleNamespace(
            make_evaluation_actor=lambda num_envs: SimpleNamespace(num_envs=num_envs)
        )
        return run_module.TrainingLayout(agent, SimpleNamespace(run=train), context.counter)

    return make_layout


@contextlib.contextmanager
def python_sigterm_handling():
    """The runner's guard takes over Python-level handlers only: start from the default."""
    outer = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, outer if outer is not None else signal.SIG_DFL)


def test_a_sigterm_a_ray_call_reports_as_a_keyboard_interrupt_is_still_a_termination():
    """Ray's blocking calls run the signal handlers themselves and raise a plain
    KeyboardInterrupt in place of what the handler raised (`check_signals`, `check_status`
    in Ray's `_raylet.pyx`): the runner's SIGTERM came out as a Ctrl-C (exit 130)."""
    run_module = importlib.import_module("rlkit.experiments.run_experiment")

    def like_a_ray_call(num_steps):
        try:
            signal.raise_signal(signal.SIGTERM)  # The runner's handler raises.
        except KeyboardInterrupt:
            raise KeyboardInterrupt() from None

    with python_sigterm_handling(), pytest.raises(run_module.ExperimentInterrupted) as raised:
        run_module.run_with_layout(dqn_experiment(1_000), fake_layout(like_a_ray_call))
    assert raised.value.signal == signal.SIGTERM


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # Ray starts processes.
def test_a_sigterm_while_the_driver_waits_on_ray_is_a_termination():
    import ray

    run_module = importlib.import_module("rlkit.experiments.run_experiment")

    @ray.remote(num_cpus=0)
    def terminate(pid):
        os.kill(pid, signal.SIGTERM)
        threading.Event().wait()  # The driver waits on this until the signal stops it.

    def wait_on_ray(num_steps):
        ray.get(terminate.remote(os.getpid()))

    with python_sigterm_handling():
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
        try:
            with pytest.raises(run_module.ExperimentInterrupted) as raised:
                run_module.run_with_layout(dqn_experiment(1_000), fake_layout(wait_on_ray))
        finally:
            ray.shutdown()
    assert raised.value.signal == signal.SIGTERM
    assert_nothing_left_behind()


def test_rays_log_lines_go_to_the_run_log_and_the_rest_of_stderr_stays(
    tmp_path, capfd, monkeypatch
):
    import logging

    from rlkit import _ray_logs

    path = tmp_path / "ray.log"
    ray_line = b"[2026-01-01 00:00:00,000 E 12 34] core_worker.cc:2465: Actor with class name\n"
    for shown in ("0", "1"):
        monkeypatch.setenv("RLKIT_RAY_LOGS", shown)
        with _ray_logs.diverted(str(path)) as ray_log:
            os.write(2, ray_line + b"Traceback: an error of the driver's\n" + ray_line[:20])
            logging.getLogger("ray.anything").warning("Token authentication is enabled")
            ray_log.note("a line of rlkit's")
        err = capfd.readouterr().err
        assert "an error of the driver's" in err and err.endswith(ray_line[:20].decode()), err
        assert ("core_worker.cc" in err) == (shown == "1"), err
    ray_log = path.read_text()  # Appended to, whether the lines are shown or not.
    assert ray_log.count("core_worker.cc:2465") == 1 and "rlkit: a line of rlkit's" in ray_log
    assert "Token authentication is enabled" in ray_log and "driver's" not in ray_log


@pytest.mark.parametrize("shown", ["0", "1"], ids=["quiet", "RLKIT_RAY_LOGS=1"])
def test_rays_own_lines_are_in_the_run_log_not_the_terminal_unless_asked(tmp_path, shown):
    run_dir = str(tmp_path / "run")
    environment = {**os.environ, "RLKIT_RAY_LOGS": shown}
    environment.pop("RAY_AUTH_MODE", None)  # Ray then says it enabled token authentication.
    run = subprocess.run(
        [*TRAIN, "--run-dir", run_dir, "--steps", "300", "--eval-every", "300"],
        capture_output=True,
        text=True,
        timeout=900,
        env=environment,
    )
    assert run.returncode == 0, run.stderr
    assert "after 300 steps" in run.stdout, run.stdout
    if shown == "1":
        assert "Token authentication is enabled" in run.stderr, run.stderr
        assert "core_worker.cc" in run.stderr, run.stderr
    else:
        assert_rays_lines_only_in_the_run_log(run_dir, run.stdout, run.stderr)


@pytest.mark.slow
def test_distributed_dqn_learns_cartpole():
    from rlkit.experiments import distributed

    config = registry.get_agent("dqn").load_config("CartPole-v1")
    experiment = dqn_experiment(30_000, config, eval_every=10_000, num_eval_episodes=5)
    result = distributed.run_distributed_experiment(experiment, num_actors=2)
    # One process reaches 500 by 40k; 2 actors 320-490 at 30k (bench/distributed_scaling).
    assert max(e["return_mean"] for e in result.evaluations) >= 250, result.evaluations
    assert_nothing_left_behind()
