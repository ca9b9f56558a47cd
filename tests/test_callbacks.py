"""Training callbacks: each hook, stopping cleanly (checkpointed, exported, resumable), the
run's schedule changed from a callback, state kept across a resume, the built-ins
(EarlyStopping, BestPolicy, OptunaPruning), the CLI's options, and the Ray layout."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from rlkit import errors, experiments
from rlkit.agents.dqn import DQNConfig
from rlkit.experiments import callbacks as callbacks_lib
from rlkit.experiments import checkpointing
from rlkit.utils import counting

SMALL = DQNConfig(min_replay_size=100, hidden_sizes=(32, 32))


def make_config(run_dir, steps, agent_config=SMALL, **kwargs):
    settings = dict(eval_every=400, checkpoint_every=400, num_eval_episodes=2, loggers=("csv",))
    settings.update(kwargs)
    return experiments.make_experiment_config(
        "dqn", "CartPole-v1", agent_config, max_num_actor_steps=steps, run_dir=run_dir, **settings
    )


class Recorder(experiments.Callback):
    """Every hook, in order, with what it was given."""

    step_interval = 250

    def __init__(self):
        self.events = []

    def on_train_begin(self, run):
        self.events.append(("begin", run.actor_steps))

    def on_step(self, run):
        self.events.append(("step", run.actor_steps))

    def on_episode_end(self, run, episode):
        self.events.append(("episode", episode["episode_return"], episode["actor_steps"]))

    def on_evaluation(self, run, evaluation):
        self.events.append(("evaluation", evaluation["actor_steps"], len(run.evaluations)))

    def on_checkpoint(self, run, step, final):
        self.events.append(("checkpoint", step, final))

    def on_train_end(self, run, result):
        self.events.append(("end", None if result is None else result.stop_reason))

    def kinds(self, kind):
        return [event[1:] for event in self.events if event[0] == kind]


class StopAt(experiments.Callback):
    """Stops the run from `on_step` once it has taken `steps`."""

    step_interval = 100

    def __init__(self, steps, reason="enough"):
        self.steps, self.reason = steps, reason

    def on_step(self, run):
        if run.actor_steps >= self.steps:
            run.stop(self.reason)


# The dispatch itself, without a run.


def test_only_the_hooks_a_callback_overrides_are_called_and_steps_are_counted_per_callback():
    class Evaluations(experiments.Callback):
        def __init__(self):
            self.seen = []

        def on_evaluation(self, run, evaluation):
            self.seen.append(evaluation)

    every_100, every_300, evaluations = StopAt(10**9), Recorder(), Evaluations()
    every_300.step_interval = 300
    hooks = callbacks_lib.CallbackList([every_100, evaluations, every_300])
    # Checked on a grid every callback's interval lies on; none without steps or episodes.
    assert hooks.check_every == 100 and not callbacks_lib.CallbackList([evaluations]).check_every
    assert callbacks_lib.CallbackList([every_300, Recorder()]).check_every == 50
    run = experiments.TrainingRun(make_config(None, 1000, loggers=()), [], counting.Counter())
    hooks.start_steps(0)
    calls = []
    every_300.on_step = lambda run: calls.append(run.actor_steps)
    for steps in (100, 250, 300, 350, 700, 1000):
        run._stretch_start, run._steps_in_stretch = 0, lambda steps=steps: steps
        hooks.steps_taken(run, steps)
    # Due at 300, 600, 900: a check late by 100 keeps the grid (700 -> next 900).
    assert calls == [300, 700, 1000]
    hooks.call("on_evaluation", run, {"return_mean": 1.0, "actor_steps": 1000})
    assert evaluations.seen == [{"return_mean": 1.0, "actor_steps": 1000}]
    assert every_300.events == [("evaluation", 1000, 0)]


@pytest.mark.parametrize(
    "callbacks, message",
    [
        ([object()], "subclass rlkit.experiments.Callback"),
        ([type("Bad", (experiments.Callback,), {"step_interval": 0})()], "step_interval"),
        ([type("Bad", (experiments.Callback,), {"step_interval": 1.5})()], "step_interval"),
    ],
)
def test_bad_callbacks_are_refused_before_anything_runs(tmp_path, callbacks, message):
    with pytest.raises(errors.ConfigError, match=message):
        experiments.run_experiment(make_config(str(tmp_path), 200), callbacks)
    assert not os.path.exists(tmp_path / "checkpoints")


def test_a_state_that_is_not_json_names_its_callback():
    class Unsaveable(experiments.Callback):
        def state_dict(self):
            return {"array": np.zeros(3)}

    with pytest.raises(errors.ConfigError, match=r"Unsaveable.state_dict\(\) must return JSON"):
        callbacks_lib.CallbackList([Recorder(), Unsaveable()]).state_dicts()


def test_the_run_schedule_and_stop_reasons_are_checked():
    run = experiments.TrainingRun(make_config(None, 1000, loggers=()), [], counting.Counter())
    for name, value in [("eval_every", -1), ("max_num_actor_steps", 0), ("eval_every", 1.5)]:
        with pytest.raises(errors.ConfigError, match=name):
            setattr(run, name, value)
    with pytest.raises(errors.ConfigError, match="stop reason"):
        run.stop("")
    run.stop("first")
    run.stop("second")
    assert run.stop_reason == "first"


def test_early_stopping_by_target_by_patience_and_across_a_resume():
    run = experiments.TrainingRun(make_config(None, 1000, loggers=()), [], counting.Counter())

    def feed(callback, returns):
        run.stop_reason = None
        for index, value in enumerate(returns):
            callback.on_evaluation(run, {"return_mean": value, "actor_steps": index})
            if run.stopped:
                return index
        return None

    assert feed(experiments.EarlyStopping(target_return=10.0), [1, 9.9, 10.0, 12]) == 2
    assert run.stop_reason == "target_return"
    # Patience counts evaluations that do not beat the best by more than min_delta; a NaN
    # never improves. 5 (best), 5.05 (no: < 0.1 better), nan, 4 -> the third in a row stops.
    early = experiments.EarlyStopping(patience=3, min_delta=0.1)
    assert feed(early, [5.0, 5.05, math.nan, 4.0, 100.0]) == 3
    assert run.stop_reason == "no_improvement"
    resumed = experiments.EarlyStopping(patience=3, min_delta=0.1)
    resumed.load_state_dict(json.loads(json.dumps(early.state_dict())))
    assert (resumed.best, resumed.waited) == (5.0, 3)
    # min_evaluations: the first ones do not count against patience.
    assert feed(experiments.EarlyStopping(patience=1, min_evaluations=2), [3, 2, 1, 0]) == 2
    for bad in [dict(), dict(patience=0), dict(target_return="high")]:
        with pytest.raises(errors.ConfigError):
            experiments.EarlyStopping(**bad)


def test_optuna_pruning_reports_every_evaluation_and_stops_a_pruned_trial():
    class Trial:
        def __init__(self):
            self.reports = []

        def report(self, value, step):
            self.reports.append((step, value))

        def should_prune(self):
            return len(self.reports) >= 2

    trial = Trial()
    run = experiments.TrainingRun(make_config(None, 1000, loggers=()), [], counting.Counter())
    pruning = experiments.OptunaPruning(trial)
    pruning.on_evaluation(run, {"return_mean": 3.0, "actor_steps": 100})
    assert not run.stopped
    pruning.on_evaluation(run, {"return_mean": 4.0, "actor_steps": 200})
    assert trial.reports == [(100, 3.0), (200, 4.0)] and run.stop_reason == "pruned"


# In a run (one process).


def test_every_hook_in_a_run_in_order(tmp_path):
    recorder = Recorder()
    result = experiments.run_experiment(make_config(str(tmp_path), 800), [recorder])
    events = recorder.events
    assert events[0] == ("begin", 0) and events[-1] == ("end", "steps")
    steps = [s for (s,) in recorder.kinds("step")]
    assert steps == [250, 500, 750]  # One-environment loop: exactly on the interval.
    episodes = recorder.kinds("episode")
    assert len(episodes) >= 8 and all(r >= 8 for r, _ in episodes)  # CartPole's shortest.
    assert [s for _, s in episodes] == sorted(s for _, s in episodes)
    assert recorder.kinds("evaluation") == [(400, 1), (800, 2)]
    assert recorder.kinds("checkpoint") == [(400, False), (800, True)]
    # The evaluation at a checkpoint comes before the checkpoint that holds it.
    order = [e[0] for e in events if e[0] in ("evaluation", "checkpoint")]
    assert order == ["evaluation", "checkpoint", "evaluation", "checkpoint"]
    assert result.stop_reason == "steps"


def test_a_callback_stops_the_run_cleanly_and_the_run_can_go_on(tmp_path):
    run_dir = str(tmp_path)
    result = experiments.run_experiment(make_config(run_dir, 1200), [StopAt(500)])
    assert result.stop_reason == "enough"
    assert result.actor_steps == 500  # Stopped at the check, not at the next evaluation.
    assert [e["actor_steps"] for e in result.evaluations] == [400, 500]  # Evaluated at 500.
    checkpointer = checkpointing.Checkpointer(run_dir)
    assert checkpointer.latest_step() == 500
    assert checkpointer.read_metadata(500)["stop_reason"] == "enough"
    checkpointer.close()
    assert experiments.load_policy(run_dir).description["actor_steps"] == 500
    # Run again: it is finished. With continue_stopped it trains on to the budget.
    again = experiments.run_experiment(make_config(run_dir, 1200), [StopAt(500)])
    assert again.stop_reason == "already_finished" and again.actor_steps == 500
    more = experiments.run_experiment(make_config(run_dir, 1200), continue_stopped=True)
    assert (more.stop_reason, more.resumed_from, more.actor_steps) == ("steps", 500, 1200)


def test_a_stop_from_an_episode_end_in_a_batched_loop_ends_the_stretch(tmp_path):
    class StopOnEpisode(experiments.Callback):
        def __init__(self):
            self.episodes = 0

        def on_episode_end(self, run, episode):
            self.episodes += 1
            if self.episodes == 10:
                run.stop("ten_episodes")

    stopper = StopOnEpisode()
    config = make_config(
        str(tmp_path), 5000, DQNConfig(min_replay_size=100, hidden_sizes=(32, 32), num_envs=4),
        eval_every=5000, checkpoint_every=5000,
    )  # fmt: skip
    result = experiments.run_experiment(config, [stopper])
    assert result.stop_reason == "ten_episodes"
    # Checked every 1,000 steps (the default when only episodes are watched): the run ends
    # at the first check after the tenth episode (~200 steps in), at the vector step that
    # reaches 1,000 (4 sub-environments), not at its 5,000-step budget.
    assert 1000 <= result.actor_steps < 1000 + 4
    assert result.evaluations[-1]["actor_steps"] == result.actor_steps


def test_a_callback_changes_the_schedule_logs_and_keeps_state_across_a_resume(tmp_path):
    class Schedule(experiments.Callback):
        def __init__(self):
            self.loaded = None
            self.evaluations = 0

        def on_train_begin(self, run):
            run.eval_every = 300  # Instead of the config's 400.
            run.max_num_actor_steps = 900 if self.loaded is None else 1500

        def on_evaluation(self, run, evaluation):
            self.evaluations += 1
            run.log({"evaluations_seen": self.evaluations})

        def state_dict(self):
            return {"evaluations": self.evaluations}

        def load_state_dict(self, state):
            self.loaded = dict(state)
            self.evaluations = state["evaluations"]

    run_dir = str(tmp_path)
    first = Schedule()
    result = experiments.run_experiment(make_config(run_dir, 600), [first])
    assert [e["actor_steps"] for e in result.evaluations] == [300, 600, 900]
    assert result.actor_steps == 900
    second = Schedule()
    result = experiments.run_experiment(make_config(run_dir, 1200), [second])
    assert second.loaded == {"evaluations": 3}
    assert [e["actor_steps"] for e in result.evaluations][3:] == [1200, 1500]
    logged = pd.read_csv(os.path.join(run_dir, "logs", "callbacks.csv"))
    assert list(logged["evaluations_seen"]) == [1, 2, 3, 4, 5]
    assert list(logged["actor_steps"]) == [300, 600, 900, 1200, 1500]


def test_the_best_policy_is_the_evaluated_one_and_eval_best_loads_it(tmp_path):
    class Params(experiments.Callback):
        def __init__(self):
            self.by_step = {}

        def on_evaluation(self, run, evaluation):
            self.by_step[evaluation["actor_steps"]] = run.evaluated_params

    run_dir = str(tmp_path)
    params = Params()
    result = experiments.run_experiment(
        make_config(run_dir, 1600), [params, experiments.BestPolicy()]
    )
    returns = [e["return_mean"] for e in result.evaluations]
    best_index = int(np.argmax(returns))  # The first of equal bests: a later tie is no gain.
    best_step = result.evaluations[best_index]["actor_steps"]
    best = experiments.load_policy(run_dir, best=True)
    assert best.description["evaluation_return"] == returns[best_index]
    assert best.description["actor_steps"] == best_step
    import jax

    for saved, evaluated in zip(
        jax.tree.leaves(best.params), jax.tree.leaves(params.by_step[best_step]), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(evaluated))
    assert experiments.load_policy(run_dir).description["actor_steps"] == 1600


def test_no_best_policy_is_a_clear_error(tmp_path):
    experiments.run_experiment(make_config(str(tmp_path), 200, eval_every=0))
    with pytest.raises(errors.CheckpointError, match="No best policy.*without --best"):
        experiments.load_policy(str(tmp_path), best=True)


def test_on_train_end_hears_of_an_interruption_and_the_checkpoint_is_written(tmp_path):
    class Interrupt(experiments.Callback):
        step_interval = 300

        def on_step(self, run):
            raise KeyboardInterrupt

    recorder = Recorder()
    with pytest.raises(experiments.ExperimentInterrupted) as raised:
        experiments.run_experiment(make_config(str(tmp_path), 1200), [recorder, Interrupt()])
    assert raised.value.checkpoint_step == 300
    assert recorder.events[-1] == ("end", None)
    assert recorder.kinds("checkpoint") == [(300, False)]


def test_a_stop_survives_a_signal_during_the_closing_evaluation(tmp_path, monkeypatch):
    from rlkit.experiments import evaluator as evaluator_module

    evaluate = evaluator_module.Evaluator.evaluate
    calls = []

    def interrupted_once_stopped(self):
        calls.append(1)
        if len(calls) == 2:  # The closing evaluation, after the stop at 500.
            raise KeyboardInterrupt
        return evaluate(self)

    monkeypatch.setattr(evaluator_module.Evaluator, "evaluate", interrupted_once_stopped)
    with pytest.raises(experiments.ExperimentInterrupted):
        experiments.run_experiment(make_config(str(tmp_path), 1200), [StopAt(500)])
    monkeypatch.setattr(evaluator_module.Evaluator, "evaluate", evaluate)
    # The rerun ends as the stopped run would have: evaluated at 500, not trained on.
    result = experiments.run_experiment(make_config(str(tmp_path), 1200))
    assert (result.stop_reason, result.actor_steps) == ("enough", 500)
    assert result.evaluations[-1]["actor_steps"] == 500


def test_the_best_policy_kept_is_the_better_of_the_checkpoints_and_the_exported_one(tmp_path):
    os.makedirs(tmp_path / "policy_best")
    (tmp_path / "policy_best" / "policy.json").write_text(json.dumps({"evaluation_return": 200}))
    run = experiments.TrainingRun(make_config(str(tmp_path), 1000), [], counting.Counter())
    exported = []
    run.export_policy = lambda dirname, evaluation: exported.append(evaluation["return_mean"])
    best = experiments.BestPolicy()
    best.load_state_dict({"best": 100.0})  # An older checkpoint's.
    best.on_train_begin(run)
    best.on_evaluation(run, {"return_mean": 150.0, "actor_steps": 10})
    best.on_evaluation(run, {"return_mean": 250.0, "actor_steps": 20})
    assert exported == [250.0]


def test_the_config_target_return_is_early_stopping(tmp_path):
    config = make_config(str(tmp_path), 1200, target_return=-1.0)  # Any return reaches it.
    recorder = Recorder()
    result = experiments.run_experiment(config, [recorder])
    assert (result.stop_reason, result.actor_steps) == ("target_return", 400)
    assert recorder.events[-1] == ("end", "target_return")
    again = experiments.run_experiment(make_config(str(tmp_path), 1200, target_return=-1.0))
    assert again.stop_reason == "already_finished"


# The command line.


def rlkit(*argv, check=True):
    completed = subprocess.run(
        [sys.executable, "-m", "rlkit.cli.main", *argv], capture_output=True, text=True
    )
    if check:
        assert completed.returncode == 0, completed.stderr
    return completed


@pytest.mark.slow
def test_cli_patience_best_policy_and_continue(tmp_path):
    run_dir = str(tmp_path / "run")
    common = ["train", "dqn", "--env", "CartPole-v1", "--run-dir", run_dir]
    small = ["--set", "min_replay_size=100", "--set", "hidden_sizes=[32,32]"]
    args = [*common, *small, "--steps", "3000", "--eval-every", "300", "--eval-episodes", "1"]
    trained = rlkit(*args, "--patience", "1")
    stopped = [line for line in trained.stdout.splitlines() if "--patience" in line]
    assert stopped and "no better evaluation return in 1 evaluations" in stopped[0]
    best = json.load(open(os.path.join(run_dir, "policy_best", "policy.json")))
    evaluated = pd.read_csv(os.path.join(run_dir, "logs", "evaluator.csv"))
    assert best["evaluation_return"] == evaluated["return_mean"].max()
    assert "return" in rlkit("eval", run_dir, "--best", "--episodes", "1").stdout
    assert "already finished" in rlkit(*args, "--patience", "1").stdout
    on = rlkit(*args, "--continue", "--eval-every", "1500", "--no-keep-best")
    assert "after 3000 steps" in on.stdout


def test_cli_eval_best_without_one_is_one_line(tmp_path):
    run_dir = str(tmp_path / "run")
    rlkit("train", "dqn", "--env", "CartPole-v1", "--run-dir", run_dir, "--steps", "200",
          "--eval-every", "0", "--eval-episodes", "1", "--no-keep-best",
          "--set", "min_replay_size=100", "--set", "hidden_sizes=[32,32]")  # fmt: skip
    assert not os.path.exists(os.path.join(run_dir, "policy_best"))
    failed = rlkit("eval", run_dir, "--best", check=False)
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1 and "No best policy" in failed.stderr


# The Ray layout.


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None or importlib.util.find_spec("reverb") is None,
    reason="needs the distributed and reverb extras",
)
def test_callbacks_in_the_ray_layout_run_in_the_driver_and_stop_it(tmp_path):
    recorder = Recorder()
    recorder.step_interval = 200
    config = make_config(
        str(tmp_path), 4000, DQNConfig(min_replay_size=200, hidden_sizes=(32, 32)),
        eval_every=4000, checkpoint_every=0,
    )  # fmt: skip
    pid = os.getpid()

    class Driver(experiments.Callback):
        def on_episode_end(self, run, episode):
            assert os.getpid() == pid

    experiment = experiments.make_distributed_experiment(
        config, num_actors=2, callbacks=[recorder, Driver(), StopAt(1000, "ray_stop")]
    )
    result = experiment.run()
    assert result.stop_reason == "ray_stop"
    assert 1000 <= result.actor_steps < 4000
    assert recorder.kinds("episode") and recorder.kinds("step")
    assert recorder.kinds("evaluation") == [(result.actor_steps, 1)]
    assert recorder.kinds("checkpoint") == [(result.actor_steps, True)]
    assert recorder.events[-1] == ("end", "ray_stop")
