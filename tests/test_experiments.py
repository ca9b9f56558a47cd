"""run_experiment: evaluation, checkpoints, resume, policy export, loggers."""

import importlib
import os
import shutil
import time

import numpy as np
import pandas as pd
import pytest

from rlkit import errors, experiments
from rlkit.agents.dqn import DQNConfig
from rlkit.experiments import checkpointing

SMALL = DQNConfig(min_replay_size=100, hidden_sizes=(32, 32))


def make_config(run_dir, steps, **kwargs):
    settings = dict(eval_every=400, checkpoint_every=400, num_eval_episodes=2, loggers=("csv",))
    settings.update(kwargs)
    return experiments.make_experiment_config(
        "dqn", "CartPole-v1", SMALL, max_num_actor_steps=steps, run_dir=run_dir, **settings
    )


def files_under(directory):
    for root, _, names in os.walk(directory):
        for name in names:
            yield os.path.join(root, name)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("run"))
    config = make_config(run_dir, 1200, loggers=("csv", "history", "tensorboard"))
    return run_dir, experiments.run_experiment(config)


def test_evaluates_checkpoints_and_exports_the_policy(finished_run):
    run_dir, result = finished_run
    assert result.stop_reason == "steps" and result.actor_steps == 1200
    assert [e["actor_steps"] for e in result.evaluations] == [400, 800, 1200]
    assert all(e["episodes"] == 2 for e in result.evaluations)
    checkpointer = checkpointing.Checkpointer(run_dir)
    assert checkpointer.latest_step() == 1200
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == ["1200", "800"]
    assert sorted(os.listdir(os.path.join(run_dir, "replay"))) == ["1200", "800"]
    metadata = checkpointer.read_metadata(1200)
    assert metadata["counts"]["actor_steps"] == 1200 and metadata["counts"]["learner_steps"] > 0
    checkpointer.close()

    policy = experiments.load_policy(run_dir)
    assert (policy.agent, policy.env_id) == ("dqn", "CartPole-v1")
    assert policy.config == SMALL and policy.description["actor_steps"] == 1200
    environment = policy.make_environment(seed=3)
    actor = policy.make_actor()
    timestep = environment.reset()
    action = actor.select_action(timestep.observation)
    assert int(action) in (0, 1)
    values = policy.value_function(np.zeros((5, 4), np.float32))
    assert values.shape == (5, 2)


def test_a_trained_policy_acts_in_the_gymnasium_environment_itself(finished_run):
    import gymnasium

    run_dir, _ = finished_run
    policy = experiments.load_policy(run_dir)
    assert repr(policy) == (
        "SavedPolicy(agent='dqn', env_id='CartPole-v1', recipe='gymnasium', "
        "observations=float32[4], actions=discrete(2), exported_at_step=1200, "
        f"evaluation_return={policy.description['evaluation_return']:.1f})"
    )
    env = gymnasium.make("CartPole-v1")  # What a Gymnasium user has: no rlkit wrappers.
    actor = policy.make_actor()
    observations = []
    observation, _ = env.reset(seed=0)
    for _ in range(100):
        action = policy.predict(observation)
        assert action.shape == () and action.dtype == np.int64 and env.action_space.contains(action)
        assert int(action) == int(actor.select_action(observation))  # Greedy, as `rlkit eval`.
        observations.append(observation)
        observation, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            observation, _ = env.reset()
    batch = np.stack(observations)
    actions = policy.predict(batch)
    assert actions.shape == (len(batch),) and actions.dtype == np.int64
    assert actions.tolist() == [int(policy.predict(o)) for o in batch]
    with pytest.raises(ValueError, match=r"shape \(2,\); expected \(4,\)"):
        policy.predict(np.zeros(2))
    with pytest.raises(ValueError, match="deterministic"):
        policy.predict(observation, deterministic=False)  # Greedy: nothing to sample.
    env.close()


def test_checkpoints_are_not_pickles(finished_run):
    run_dir, _ = finished_run
    for path in files_under(run_dir):
        assert not path.endswith((".pkl", ".pickle")), path
        with open(path, "rb") as file:
            head = file.read(2)
        assert not (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")), (
            f"{path} looks like a pickle"
        )


def test_logs_are_written(finished_run):
    run_dir, _ = finished_run
    logs = os.path.join(run_dir, "logs")
    evaluator = pd.read_csv(os.path.join(logs, "evaluator.csv"))
    assert evaluator["actor_steps"].tolist() == [400, 800, 1200]
    history = pd.read_parquet(os.path.join(logs, "episodes.parquet"))
    assert list(history.columns) == ["actor_steps", "wall_time", "episode_return", "episode_length"]
    assert history["actor_steps"].is_monotonic_increasing and history["actor_steps"].max() <= 1200
    assert (history["episode_return"] == history["episode_length"]).all()  # CartPole: +1/step.
    assert len(pd.read_csv(os.path.join(logs, "learner.csv"))) >= 1
    for label in ("actor", "learner", "evaluator"):
        assert any("tfevents" in n for n in os.listdir(os.path.join(logs, "tensorboard", label)))


def test_resume_continues_the_step_count(tmp_path, replay_backend):
    run_dir = str(tmp_path)
    first = experiments.run_experiment(make_config(run_dir, 800, replay_backend=replay_backend))
    assert first.resumed_from is None
    learner_steps_before = checkpointing.Checkpointer(run_dir).read_metadata(800)["counts"][
        "learner_steps"
    ]
    second = experiments.run_experiment(make_config(run_dir, 1200, replay_backend=replay_backend))
    assert second.resumed_from == 800 and second.actor_steps == 1200
    assert [e["actor_steps"] for e in second.evaluations] == [400, 800, 1200]
    counts = checkpointing.Checkpointer(run_dir).read_metadata(1200)["counts"]
    assert counts["actor_steps"] == 1200 and counts["learner_steps"] > learner_steps_before
    # The step column continues; no rows from before the checkpoint are repeated.
    steps = pd.read_csv(os.path.join(run_dir, "logs", "evaluator.csv"))["actor_steps"].tolist()
    assert steps == [400, 800, 1200]

    again = experiments.run_experiment(make_config(run_dir, 1200, replay_backend=replay_backend))
    assert again.stop_reason == "already_finished" and again.actor_steps == 1200


@pytest.mark.slow
def test_a_resumed_run_says_so_when_it_resumes(tmp_path, capsys):
    run_dir = str(tmp_path)
    experiments.run_experiment(make_config(run_dir, 400, loggers=("terminal",)))
    assert "resumed" not in capsys.readouterr().out
    experiments.run_experiment(make_config(run_dir, 800, loggers=("terminal",)))
    lines = capsys.readouterr().out.splitlines()
    # First, before training and evaluation go on: not after the run, as it was.
    assert lines[0] == "resumed from the checkpoint at step 400"
    assert any(line.startswith("[train] steps 800/800") for line in lines[1:])
    assert sum("resumed" in line for line in lines) == 1


def test_leftovers_of_an_interrupted_write_are_ignored(tmp_path):
    run_dir = str(tmp_path)
    experiments.run_experiment(make_config(run_dir, 400))
    # What a crash mid-checkpoint at step 800 could leave behind.
    os.makedirs(os.path.join(run_dir, "checkpoints", "800.orbax-checkpoint-tmp-1234", "state"))
    shutil.copytree(os.path.join(run_dir, "replay", "400"), os.path.join(run_dir, "replay", "800"))
    os.makedirs(os.path.join(run_dir, ".replay-staging", "2026-01-01T00:00:00"))
    result = experiments.run_experiment(make_config(run_dir, 800))
    assert result.resumed_from == 400 and result.actor_steps == 800
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == ["400", "800"]


@pytest.mark.slow
def test_missing_replay_checkpoint_resumes_with_empty_tables_or_is_a_clear_error(tmp_path):
    run_dir = str(tmp_path)
    experiments.run_experiment(make_config(run_dir, 400))
    shutil.rmtree(os.path.join(run_dir, "replay", "400"))
    # Its manifest says it is gone: the run resumes and refills (tests/test_damaged_...).
    result = experiments.run_experiment(make_config(run_dir, 800))
    assert result.resumed_from == 400 and result.actor_steps == 800
    # A checkpoint from before manifests cannot be checked: its missing replay is an error.
    shutil.rmtree(os.path.join(run_dir, "replay", "800"))
    shutil.rmtree(os.path.join(run_dir, "manifests"))
    with pytest.raises(errors.CheckpointError, match="replay data .* is missing"):
        experiments.run_experiment(make_config(run_dir, 1200))


@pytest.mark.slow
def test_target_return_stops_early(tmp_path):
    result = experiments.run_experiment(make_config(str(tmp_path), 4000, target_return=-1.0))
    assert result.stop_reason == "target_return" and result.actor_steps == 400


@pytest.mark.slow
def test_without_run_dir_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen = []
    config = make_config(None, 800, evaluation_callback=lambda step, row: seen.append(step))
    result = experiments.run_experiment(config)
    assert seen == [400, 800] and result.final_return == result.evaluations[-1]["return_mean"]
    assert os.listdir(tmp_path) == []


def test_experiment_config_errors():
    with pytest.raises(errors.ConfigError, match="Unknown logger 'mlflow'"):
        make_config(None, 100, loggers=("mlflow",))
    with pytest.raises(errors.ConfigError, match="max_num_actor_steps must be a positive"):
        make_config(None, 0)
    with pytest.raises(errors.ConfigError, match="discrete"):
        experiments.make_experiment_config("dqn", "Pendulum-v1", max_num_actor_steps=10)
    with pytest.raises(errors.UnknownEnvironmentError):
        experiments.make_experiment_config("dqn", "CartPole-v9", max_num_actor_steps=10)


def test_load_policy_errors(tmp_path):
    with pytest.raises(errors.CheckpointError, match="does not exist"):
        experiments.load_policy(str(tmp_path / "nowhere"))
    with pytest.raises(errors.CheckpointError, match="No saved policy"):
        experiments.load_policy(str(tmp_path))


@pytest.mark.slow
def test_interrupted_final_evaluation_is_redone_on_rerun(tmp_path, monkeypatch):

    # The module, not the function `experiments.run_experiment`.
    run_module = importlib.import_module("rlkit.experiments.run_experiment")
    run_dir = str(tmp_path)
    original = run_module.Evaluator.evaluate
    calls = []

    def interrupted_at_the_end(self):
        calls.append(1)
        if len(calls) == 2:  # The evaluation at step 800, the last one.
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(run_module.Evaluator, "evaluate", interrupted_at_the_end)
    with pytest.raises(experiments.ExperimentInterrupted) as raised:
        experiments.run_experiment(make_config(run_dir, 800))
    assert raised.value.checkpoint_step == 800
    monkeypatch.setattr(run_module.Evaluator, "evaluate", original)

    result = experiments.run_experiment(make_config(run_dir, 800))
    assert result.stop_reason == "steps" and result.resumed_from == 800
    assert [e["actor_steps"] for e in result.evaluations] == [400, 800]
    assert experiments.load_policy(run_dir).description["evaluation_return"] is not None
    again = experiments.run_experiment(make_config(run_dir, 800))
    assert again.stop_reason == "already_finished" and len(again.evaluations) == 2


@pytest.mark.slow
def test_a_run_dir_without_checkpoints_starts_afresh(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "evaluator.csv").write_text("actor_steps,return_mean\n99999,1.0\n")
    experiments.run_experiment(make_config(str(tmp_path), 400))
    steps = pd.read_csv(logs / "evaluator.csv")["actor_steps"].tolist()
    assert steps == [400]


def test_a_run_dir_in_use_is_refused(tmp_path):
    import fcntl

    with open(tmp_path / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(errors.CheckpointError, match="in use by another rlkit process"):
            experiments.run_experiment(make_config(str(tmp_path), 400))


def _wait_for(delivered, timeout=10.0):
    # The kernel may hand a process-directed signal to any thread, and Python runs the handler
    # in the main thread at its next check: poll (every loop turn checks) instead of sleeping
    # for a fixed time.
    deadline = time.monotonic() + timeout
    while not delivered() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_signals_wait_for_a_checkpoint_being_written():
    import signal

    run_module = importlib.import_module("rlkit.experiments.run_experiment")
    # The guard leaves ignored and C-level handlers alone, and a library that an earlier test
    # loaded may have installed one: start from Python's own handlers, put back afterwards.
    outer = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    written = []
    try:
        with run_module._SignalGuard() as guard:
            with pytest.raises(KeyboardInterrupt) as raised:
                with guard.protect():
                    os.kill(os.getpid(), signal.SIGTERM)
                    _wait_for(lambda: guard._pending == signal.SIGTERM)  # Held back.
                    written.append("checkpoint")
            assert written == ["checkpoint"] and isinstance(raised.value, run_module._Terminated)
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
                _wait_for(lambda: False)  # The handler raises as soon as it runs.
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        for number, handler in outer.items():
            if handler is not None:
                signal.signal(number, handler)


@pytest.mark.slow
def test_an_interrupted_mid_run_evaluation_is_redone_first(tmp_path, monkeypatch):

    run_module = importlib.import_module("rlkit.experiments.run_experiment")
    original = run_module.Evaluator.evaluate
    calls = []

    def interrupted_first(self):
        calls.append(1)
        if len(calls) == 1:  # The evaluation at step 400 (of 800).
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(run_module.Evaluator, "evaluate", interrupted_first)
    with pytest.raises(experiments.ExperimentInterrupted) as raised:
        experiments.run_experiment(make_config(str(tmp_path), 800))
    assert raised.value.checkpoint_step == 400 and raised.value.signal == 2
    monkeypatch.setattr(run_module.Evaluator, "evaluate", original)
    seen = []
    result = experiments.run_experiment(
        make_config(str(tmp_path), 800, evaluation_callback=lambda step, row: seen.append(step))
    )
    assert result.resumed_from == 400 and seen == [400, 800]
    assert [e["actor_steps"] for e in result.evaluations] == [400, 800]


@pytest.mark.slow
def test_resume_after_a_crash_redoes_logs_once(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    run_dir = str(tmp_path)
    loggers = ("csv", "history", "tensorboard")
    experiments.run_experiment(make_config(run_dir, 1200, loggers=loggers))
    # As if the process died after logging up to 1200 but before its last checkpoint.
    for folder in ("checkpoints", "replay"):
        shutil.rmtree(os.path.join(run_dir, folder, "1200"))
    result = experiments.run_experiment(make_config(run_dir, 1200, loggers=loggers))
    assert result.resumed_from == 800
    logs = os.path.join(run_dir, "logs")
    assert pd.read_csv(os.path.join(logs, "evaluator.csv"))["actor_steps"].tolist() == [
        400,
        800,
        1200,
    ]
    history = pd.read_parquet(os.path.join(logs, "episodes.parquet"))
    assert history["actor_steps"].is_monotonic_increasing
    events = event_accumulator.EventAccumulator(os.path.join(logs, "tensorboard", "evaluator"))
    events.Reload()
    steps = [event.step for event in events.Scalars("evaluator/return_mean")]
    assert steps == [400, 800, 1200]  # The first 1200 was purged by the resumed writer.


@pytest.mark.parametrize("minutes, written", [(60.0, ["600"]), (1e-9, ["200", "400", "600"])])
def test_checkpoints_by_wall_clock_by_default(tmp_path, monkeypatch, minutes, written):
    """`checkpoint_every=None` (the default): at each `CHECKPOINT_CHECK_STEPS` boundary a
    checkpoint is written only once `checkpoint_minutes` have passed since the last one;
    the end of the run always checkpoints."""
    run_module = importlib.import_module("rlkit.experiments.run_experiment")
    monkeypatch.setattr(run_module, "CHECKPOINT_CHECK_STEPS", 200)
    config = make_config(
        str(tmp_path), 600, checkpoint_every=None, checkpoint_minutes=minutes, eval_every=0,
        max_checkpoints_to_keep=5,
    )  # fmt: skip
    assert experiments.ExperimentConfig.checkpoint_every is None  # The default.
    experiments.run_experiment(config)
    assert sorted(os.listdir(tmp_path / "checkpoints"), key=int) == written


@pytest.mark.parametrize("minutes", [0, -1.0, float("nan"), float("inf"), "10", True])
def test_checkpoint_minutes_must_be_a_positive_number(tmp_path, minutes):
    with pytest.raises(errors.ConfigError, match="checkpoint_minutes must be a positive"):
        make_config(str(tmp_path), 600, checkpoint_every=None, checkpoint_minutes=minutes)


def test_the_policy_is_exported_after_every_evaluation_between_checkpoints(tmp_path, monkeypatch):
    """With checkpoints far apart (by wall-clock), `rlkit play` still gets the policy of
    the latest evaluation, with that evaluation's return."""
    from rlkit.experiments import policy as policy_module

    exported, evaluated = [], []
    export = policy_module.export_policy

    def recording(run_dir, params, description, **options):
        exported.append((description["actor_steps"], description["evaluation_return"]))
        return export(run_dir, params, description, **options)

    monkeypatch.setattr(policy_module, "export_policy", recording)
    config = make_config(
        str(tmp_path), 600, checkpoint_every=None, checkpoint_minutes=60.0, eval_every=200,
        evaluation_callback=lambda steps, row: evaluated.append((steps, row["return_mean"])),
    )  # fmt: skip
    experiments.run_experiment(config)
    assert [(200, evaluated[0][1]), (400, evaluated[1][1]), (600, evaluated[2][1])] == [
        e for e in exported if e[0] in (200, 400, 600)
    ][:3]
    assert experiments.load_policy(str(tmp_path)).description["actor_steps"] == 600
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["600"]
