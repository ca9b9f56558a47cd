"""The `rlkit` command: every subcommand end to end, one-line errors, resume after SIGKILL."""

import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import rlkit.experiments
from rlkit import configs
from rlkit import errors as rlkit_errors
from rlkit.agents.dqn import DQNConfig
from rlkit.cli import main as cli
from tests.conftest import REPLAY_BACKENDS

RLKIT = str(pathlib.Path(sys.executable).parent / "rlkit")  # Installed by pyproject's scripts.
TINY = ["--set", "min_replay_size=100", "--set", "hidden_sizes=[32,32]"]


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    argv = ["train", "dqn", "--env", "CartPole-v1", "--steps", "1200", "--eval-every", "600"]
    argv += ["--eval-episodes", "2", "--run-dir", str(run_dir), "--logger", "csv,tensorboard"]
    assert cli.main([*argv, *TINY]) == 0
    return run_dir, argv


def test_agents_lists_dqn(capsys):
    code, out, _ = run_cli(capsys, "agents")
    assert code == 0 and "dqn" in out and "(actions: discrete)" in out


@pytest.mark.slow
def test_train_writes_a_complete_run_dir(trained):
    run_dir, _ = trained
    for name in ("experiment.yaml", "config.yaml", "policy/policy.json", "logs/evaluator.csv"):
        assert (run_dir / name).exists(), name
    assert configs.load_config(DQNConfig, [str(run_dir / "config.yaml")]).hidden_sizes == (32, 32)
    assert pd.read_csv(run_dir / "logs" / "evaluator.csv")["actor_steps"].tolist() == [600, 1200]
    tensorboard = run_dir / "logs" / "tensorboard"
    assert sorted(p.name for p in tensorboard.iterdir()) == ["actor", "evaluator", "learner"]
    assert any("tfevents" in p.name for p in (tensorboard / "evaluator").iterdir())


def test_rerun_is_a_no_op_and_more_steps_resume(trained, capsys):
    run_dir, argv = trained
    code, out, _ = run_cli(capsys, *argv, *TINY)
    assert code == 0 and "already finished (1200 steps)" in out
    longer = [a if a != "1200" else "1500" for a in argv]
    code, out, _ = run_cli(capsys, *longer, *TINY)
    assert code == 0 and "resumed from the checkpoint at step 1200" in out
    assert "after 1500 steps" in out


def test_eval_prints_mean_and_std(trained, capsys):
    run_dir, _ = trained
    code, out, _ = run_cli(capsys, "eval", run_dir, "--episodes", "3")
    assert code == 0 and "dqn on CartPole-v1: return" in out and "over 3 episodes" in out


@pytest.mark.parametrize("extension", ["gif", "mp4"])
def test_play_records_a_video(trained, capsys, tmp_path, extension):
    run_dir, _ = trained
    video = tmp_path / f"play.{extension}"
    code, out, _ = run_cli(capsys, "play", run_dir, "--video", video, "--episodes", "2")
    assert code == 0 and video.stat().st_size > 0
    lengths = [int(line.split(", ")[1].split()[0]) for line in out.splitlines() if "steps" in line]
    assert len(lengths) == 2
    # One frame per step plus each episode's reset frame.
    assert f"wrote {sum(lengths) + 2} frames" in out
    if extension == "mp4":
        import imageio.v2 as imageio

        with imageio.get_reader(video) as reader:
            assert reader.count_frames() == sum(lengths) + 2


def test_play_video_leaves_stderr_clean_on_a_headless_machine(trained, tmp_path):
    run_dir, _ = trained
    environment = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    environment.pop("SDL_VIDEODRIVER", None)  # tests/conftest.py sets it; users do not.
    result = subprocess.run(
        [RLKIT, "play", str(run_dir), "--video", "play.gif"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=environment,
    )
    assert result.returncode == 0 and "wrote" in result.stdout
    assert result.stderr == ""


@pytest.mark.slow
def test_train_sac_on_halfcheetah_then_eval_and_play(capsys, tmp_path):
    # MuJoCo end to end: the continuous recipe, learning, evaluation, and a video rendered
    # headless (EGL). 200-step episodes keep it short; the learner starts at step 500.
    run_dir = tmp_path / "sac"
    code, out, _ = run_cli(
        capsys,
        *("train", "sac", "--env", "HalfCheetah-v5", "--steps", "2000", "--seed", "3"),
        *("--eval-every", "1000", "--eval-episodes", "1", "--run-dir", run_dir),
        *("--env-arg", "max_episode_steps=200", "--set", "min_replay_size=500"),
        *("--set", "random_action_steps=500", "--set", "policy_hidden_sizes=[64,64]"),
        *("--set", "critic_hidden_sizes=[64,64]"),
    )
    assert code == 0 and "sac on HalfCheetah-v5: evaluation return" in out
    assert configs.read_yaml(run_dir / "experiment.yaml")["env_recipe"] == "continuous"
    learner = pd.read_csv(run_dir / "logs" / "learner.csv")
    assert learner["learner_steps"].max() > 100 and np.isfinite(learner["critic_loss"]).all()
    code, out, _ = run_cli(capsys, "eval", run_dir, "--episodes", "2")
    assert code == 0 and "sac on HalfCheetah-v5: return" in out and "over 2 episodes" in out
    video = tmp_path / "cheetah.gif"
    code, out, _ = run_cli(capsys, "play", run_dir, "--video", video, "--episodes", "1")
    assert code == 0 and "wrote 201 frames" in out
    frame = np.asarray(Image.open(video).convert("RGB"))
    assert frame.std() > 0  # Rendered, not blank.


def test_plot_writes_a_png(trained, capsys, tmp_path):
    run_dir, _ = trained
    out_png = tmp_path / "curves.png"
    code, out, _ = run_cli(capsys, "plot", run_dir, run_dir, "--out", out_png)
    assert code == 0 and f"wrote {out_png}" in out
    with Image.open(out_png) as image:
        assert image.format == "PNG" and image.size == (800, 500)


def test_run_dir_started_with_another_config_is_refused(trained, capsys):
    run_dir, argv = trained
    code, _, err = run_cli(capsys, *argv, *TINY, "--set", "learning_rate=0.01")
    assert code == 2 and "different agent config (learning_rate)" in err


@pytest.mark.slow
def test_tune_writes_the_best_config(capsys, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}\n")
    best = tmp_path / "best.yaml"
    code, out, _ = run_cli(
        capsys,
        "tune",
        "dqn",
        "--env",
        "CartPole-v1",
        "--trials",
        "2",
        "--steps",
        "400",
        "--eval-every",
        "200",
        "--eval-episodes",
        "2",
        "--space",
        space,
        "--out",
        best,
        *TINY,
    )
    assert code == 0 and "best: trial" in out and f"config written to {best}" in out
    tuned = configs.load_config(DQNConfig, [str(best)])
    assert 1e-4 <= tuned.learning_rate <= 1e-2 and tuned.min_replay_size == 100
    assert (tmp_path / "best_trials.csv").exists()


def test_env_args_reach_the_environment_and_the_saved_policy(capsys, tmp_path):
    run_dir = tmp_path / "run"
    code, out, _ = run_cli(
        capsys,
        "train",
        "dqn",
        "--env",
        "FrozenLake-v1",
        "--env-arg",
        "is_slippery=false",
        "--steps",
        "300",
        "--eval-every",
        "0",
        "--eval-episodes",
        "2",
        "--run-dir",
        run_dir,
        *TINY,
    )
    assert code == 0, out
    from rlkit import experiments

    policy = experiments.load_policy(str(run_dir))
    assert policy.env_kwargs == {"is_slippery": False}
    gym_env = policy.make_environment().environment.environment  # Under the dm_env wrappers.
    assert gym_env.spec.kwargs["is_slippery"] is False
    code, _, err = run_cli(
        capsys,
        "train",
        "dqn",
        "--env",
        "FrozenLake-v1",
        "--steps",
        "300",
        "--run-dir",
        run_dir,
        *TINY,
    )
    assert code == 2 and "different env_kwargs" in err


def test_tune_prunes_trials_that_fall_behind(monkeypatch, tmp_path):
    from rlkit.experiments import ExperimentResult, TrainingRun, tuning
    from rlkit.utils import counting

    def fake_run(config, callbacks):  # Returns grow with the learning rate: low ones pruned.
        score = config.builder.config.learning_rate * 1000
        evaluations = []
        run = TrainingRun(config, evaluations, counting.Counter())
        for step in (100, 200, 300, 400):
            evaluations.append({"actor_steps": step, "return_mean": score})
            for callback in callbacks:
                callback.on_evaluation(run, evaluations[-1])
            if run.stopped:
                break
        return ExperimentResult(step, evaluations, run.stop_reason or "steps", None, None, 0.0)

    monkeypatch.setattr(tuning, "run_experiment", fake_run)
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}\n")
    result = tuning.tune(
        "dqn", "CartPole-v1", 12, str(tmp_path / "b.yaml"), str(space), max_num_actor_steps=400
    )
    assert result.num_pruned >= 1 and result.num_complete >= 2
    assert result.best_config.learning_rate * 1000 == pytest.approx(result.best_value)


def test_tune_without_a_search_space_names_both_ways_to_pass_one(monkeypatch, tmp_path):
    from rlkit.agents import registry
    from rlkit.experiments import tuning

    monkeypatch.setattr(registry.AgentEntry, "tune_space_path", lambda self: None)
    with pytest.raises(rlkit_errors.ConfigError, match=r"space_path=, or --space FILE"):
        tuning.tune("dqn", "CartPole-v1", 1, str(tmp_path / "best.yaml"))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "ppo9", "--env", "CartPole-v1"], "Unknown agent 'ppo9'"),
        (["train", "dqn", "--env", "CartPole-v9"], "Unknown environment id 'CartPole-v9'"),
        (["train", "dqn", "--env", "Pendulum-v1", "--steps", "10"], "discrete action"),
        (["train", "sac", "--env", "CartPole-v1", "--steps", "10"], "continuous (Box) action"),
        (["train", "td3", "--env", "Pendulum-v1", "--env-recipe", "gymnasium"], "[-1, 1]"),
        (["train", "dqn", "--env", "CartPole-v1", "--steps", "-5"], "positive integer"),
        (["train", "dqn"], "--env"),
        (["train", "dqn", "--env", "CartPole-v1", "--set", "lr=1"], "Unknown config key 'lr'"),
        (["train", "dqn", "--env", "CartPole-v1", "--set", "batch_size=x"], "'batch_size'"),
        (["train", "dqn", "--env", "CartPole-v1", "--config", "/no/such.yaml"], "not found"),
        (["train", "dqn", "--env", "CartPole-v1", "--logger", "mlflow"], "unknown logger"),
        (["eval", "/no/such/run"], "does not exist"),
        (["play", "/no/such/run"], "does not exist"),
        (["play", "/no/such/run", "--video", "out.avi"], ".gif or .mp4"),
        (["plot", "/no/such/run"], "does not exist"),
        (["tune", "ppo9", "--env", "CartPole-v1", "--trials", "1"], "Unknown agent 'ppo9'"),
        (["tune", "dqn", "--env", "CartPole-v1", "--trials", "0"], "positive integer"),
        (["train", "dqn", "--env", "CartPole-v1", "--seed", "-1"], "expected a seed"),
        (["train", "dqn", "--env", "CartPole-v1", "--env-arg", "x"], "--env-arg expects"),
        (["train", "dqn", "--env", "FrozenLake-v1", "--env-arg", "size=4"], "keyword arguments"),
        (["train", "dqn", "--env", "CartPole-v1", "--set", "hidden_sizes.0=8"], "hidden_sizes"),
        (["fly"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(capsys, argv, message):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("rlkit: error: ") and not err.startswith("rlkit: error: rlkit")


def test_help_shows_every_default(capsys):
    # Required, repeatable or a flag: no default to show.
    no_default = {"-h", "--env", "--trials", "--set", "--env-arg", "--values", "--distributed"}
    no_default |= {"--continue", "--no-keep-best", "--best"}  # Flags too.
    for command in ("train", "eval", "play", "plot", "tune"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        out = capsys.readouterr().out
        options = out.split("options:")[1]
        # One block per option: its line and the indented lines that continue it.
        blocks = [block.split() for block in re.split(r"\n(?=  -)", options) if block.strip()]
        blocks = [" ".join(words) for words in blocks if words[0].rstrip(",") not in no_default]
        assert blocks, out
        for block in blocks:
            assert "(default: " in block, f"rlkit {command}: {block}"
        if command == "train":
            words = " ".join(out.split())  # Help lines wrap with the terminal's width.
            for default in (
                "(default: 50000)",
                "(default: a tenth of --steps",
                "(default: by wall-clock, every --checkpoint-minutes",
                "(default: 10.0)",
            ):
                assert default in words


def test_distributed_options_without_distributed_and_a_layout_switch_are_one_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "dqn", "--env", "CartPole-v1", "--num-actors", "2")
    assert code == 2 and "--num-actors and --ray-address are for --distributed runs" in err
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "experiment.yaml").write_text("agent: dqn\nenv_id: CartPole-v1\n")
    code, _, err = run_cli(
        capsys, "train", "dqn", "--env", "CartPole-v1", "--distributed", "--run-dir", run_dir
    )
    assert code == 2 and "was started without --distributed" in err
    assert "rerun it without --distributed, or pass a new --run-dir" in err


def test_bad_search_space_is_one_line(capsys, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("gamma: {low: 0.9, high: 0.99}\n")
    code, _, err = run_cli(
        capsys, "tune", "dqn", "--env", "CartPole-v1", "--trials", "1", "--space", space
    )
    assert code == 2 and "Unknown config key 'gamma' in search space" in err
    assert err.count("\n") == 1


def test_empty_run_dir_has_nothing_to_play_or_plot(capsys, tmp_path):
    code, _, err = run_cli(capsys, "play", tmp_path)
    assert code == 2 and "No saved policy" in err
    code, _, err = run_cli(capsys, "plot", tmp_path)
    assert code == 2 and "No learning curve" in err


def test_console_script_bad_input_has_no_traceback(tmp_path):
    result = subprocess.run(
        [RLKIT, "train", "dqn", "--env", "CartPole-v1", "--set", "lr=1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("rlkit: error: Unknown config key 'lr'")
    assert result.stderr.count("\n") == 1


@pytest.mark.slow
def test_readme_commands_take_paths_relative_to_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "my.yaml").write_text("batch_size: 32\n")
    (tmp_path / "space.yaml").write_text("learning_rate: {low: 1.0e-4, high: 1.0e-2}\n")

    def rlkit(*argv):
        result = subprocess.run(
            [RLKIT, *argv], capture_output=True, text=True, timeout=300, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    short = ["--steps", "300", "--eval-every", "150", "--eval-episodes", "1", *TINY]
    rlkit(
        "train", "dqn", "--env", "CartPole-v1", "--config", "my.yaml", "--run-dir", "runs/a", *short
    )
    assert "over 1 episodes" in rlkit("eval", "runs/a", "--episodes", "1")
    assert "wrote" in rlkit("play", "runs/a", "--video", "videos/a.gif")
    assert "wrote" in rlkit("plot", "runs/a", "--out", "plots/curves.png")
    tune = ["tune", "dqn", "--env", "CartPole-v1", "--trials", "1", "--space", "space.yaml"]
    rlkit(*tune, "--out", "tuned/best.yaml", *short)
    for path in ("runs/a/policy/policy.json", "videos/a.gif", "plots/curves.png"):
        assert (tmp_path / path).stat().st_size > 0, path
    assert (tmp_path / "tuned" / "best.yaml").is_file()
    from rlkit import experiments

    monkeypatch.chdir(tmp_path)
    assert experiments.load_policy("runs/a").env_id == "CartPole-v1"


# Seconds to import each; `rlkit agents`, help and argument errors must not wait for them.
HEAVY_MODULES = ("jax", "haiku", "orbax", "optax", "rlax", "reverb", "tensorflow", "pandas")
HEAVY_MODULES += ("matplotlib", "optuna", "pyarrow", "tensorboardX")
IMPORTED_HEAVY = """
import sys
from rlkit.cli.main import main
try:
    code = main(sys.argv[2:])
except SystemExit as exit:
    code = exit.code
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[1].split(",")))
print("exit", code, "heavy", ",".join(heavy))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["agents"],
        [],
        ["--help"],
        ["--version"],
        ["train", "--help"],
        ["train", "nosuchagent", "--env", "CartPole-v1"],
        ["train", "dqn", "--env", "CartPole-v1", "--steps", "-1"],
        ["train", "dqn", "--env", "CartPole-v9"],
        ["train", "dqn", "--env", "CartPole-v1", "--set", "lr=1"],
        ["train", "dqn", "--env", "FrozenLake-v1", "--env-arg", "is_slippery=maybe"],
        ["train", "dqn", "--env", "CartPole-v1", "--seed", "1", "--seeds", "0-2"],
        ["train", "dqn", "--env", "CartPole-v1", "--env-module", "no_such_module_for_rlkit"],
        ["tune", "dqn", "--env", "CartPole-v1", "--trials", "1", "--set", "lr=1"],
        ["eval", "/no/such/run"],
        ["play", "/no/such/run"],
    ],
    ids=lambda argv: " ".join(argv) or "(bare)",
)
def test_listing_help_and_argument_errors_do_not_import_jax(argv):
    result = subprocess.run(
        [sys.executable, "-c", IMPORTED_HEAVY, ",".join(HEAVY_MODULES), *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = result.stdout.splitlines()[-1]
    succeeds = {"agents", "--help", "--version"} & set(argv)
    assert last.startswith("exit 0" if succeeds else "exit 2")
    assert last.endswith("heavy "), f"{last} ({result.stderr[-2000:]})"


def test_lazy_packages_still_export_every_public_name():
    script = """
import importlib, types
import rlkit.experiments.run_experiment  # The module first: the package keeps the function.
for name in ("rlkit", "rlkit.experiments", "rlkit.analysis", "rlkit.agents.dqn"):
    package = importlib.import_module(name)
    for attribute in package.__all__:
        assert getattr(package, attribute) is not None, (name, attribute)
from rlkit import experiments
assert not isinstance(experiments.run_experiment, types.ModuleType)
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout == "ok\n", result.stderr[-3000:]


def _latest_checkpoint(run_dir: pathlib.Path) -> int:
    """The newest committed checkpoint: its manifest, written last, exists (an orbax step
    directory without one is a write that a kill cut short, set aside on resume)."""
    directory = run_dir / "manifests"
    if not directory.is_dir():
        return 0
    steps = [int(p.stem) for p in directory.glob("*.json") if p.stem.isdigit()]
    return max(steps, default=0)


def test_sigkill_mid_training_then_the_same_command_resumes(tmp_path):
    run_dir = tmp_path / "run"
    command = [RLKIT, "train", "dqn", "--env", "CartPole-v1", "--steps", "4000"]
    command += ["--checkpoint-every", "500", "--eval-every", "2000", "--eval-episodes", "2"]
    command += ["--run-dir", str(run_dir), *TINY]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path
    )
    deadline = time.monotonic() + 240
    while _latest_checkpoint(run_dir) < 1000 and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint at step 1000 within 240 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL, "the run finished before the kill"
    killed_at = _latest_checkpoint(run_dir)
    assert 1000 <= killed_at < 4000

    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[reverb/cc/" not in result.stderr  # Reverb's C++ INFO lines are filtered out.
    resumed = int(result.stdout.split("resumed from the checkpoint at step ")[1].split()[0])
    assert resumed >= killed_at  # The newest complete checkpoint, maybe written after the poll.
    assert "after 4000 steps" in result.stdout
    assert _latest_checkpoint(run_dir) == 4000
    evaluations = pd.read_csv(run_dir / "logs" / "evaluator.csv")["actor_steps"].tolist()
    assert evaluations == [2000, 4000]
    history = pd.read_parquet(run_dir / "logs" / "episodes.parquet")
    assert history["actor_steps"].is_monotonic_increasing
    # No half-written leftovers: each replay checkpoint belongs to a kept orbax step.
    assert not list(run_dir.glob("checkpoints/*tmp*"))
    assert os.listdir(run_dir / ".replay-staging") == []
    assert sorted(os.listdir(run_dir / "replay")) == sorted(os.listdir(run_dir / "checkpoints"))


@pytest.mark.slow
def test_sigterm_checkpoints_and_exits_with_one_line(tmp_path):
    run_dir = tmp_path / "run"
    command = [RLKIT, "train", "dqn", "--env", "CartPole-v1", "--steps", "50000"]
    command += ["--checkpoint-every", "500", "--eval-every", "0", "--run-dir", str(run_dir), *TINY]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    deadline = time.monotonic() + 240
    while _latest_checkpoint(run_dir) < 500:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)  # Into the next stretch of training.
    before = _latest_checkpoint(run_dir)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    # The interruption was checkpointed where it stopped (a signal during a periodic
    # checkpoint waits for it and leaves that one as the latest).
    after = _latest_checkpoint(run_dir)
    assert after >= before
    from rlkit.experiments import checkpointing

    counts = checkpointing.Checkpointer(str(run_dir)).read_metadata(after)["counts"]
    assert counts["actor_steps"] == after
    errors = [line for line in stderr.splitlines() if line.startswith("rlkit:")]
    assert errors == [
        f"rlkit: terminated; checkpoint saved at step {after}, rerun the same command to resume"
    ]
    assert "Traceback" not in stderr
    assert (run_dir / "policy" / "policy.json").exists()


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("wandb") is not None, reason="wandb is installed"
)
def test_wandb_logger_without_wandb_is_one_line(capsys, tmp_path):
    code, _, err = run_cli(
        capsys,
        "train",
        "dqn",
        "--env",
        "CartPole-v1",
        "--steps",
        "100",
        "--logger",
        "wandb",
        "--run-dir",
        tmp_path / "run",
        *TINY,
    )
    assert code == 2 and "pip install 'rlkit-jax[wandb]'" in err and err.count("\n") == 1


def test_stderr_filter_drops_only_reverb_info_lines():
    from rlkit.cli import _stderr

    source_read, source_write = os.pipe()
    sink_read, sink_write = os.pipe()
    os.write(source_write, b"[reverb/cc/platform/default/server.cc:71] Started\nkeep me\n")
    os.write(source_write, b"[reverb/cc/client.cc:165] Sampler\nWarning: also kept")
    os.close(source_write)
    _stderr._forward(source_read, sink_write)
    os.close(sink_write)
    with os.fdopen(sink_read, "rb") as sink:
        assert sink.read() == b"keep me\nWarning: also kept"


@pytest.mark.skipif("reverb" in REPLAY_BACKENDS, reason="the Reverb extra is installed here")
def test_reverb_backend_without_the_extra_is_one_line(capsys, tmp_path):
    code, _, err = run_cli(
        capsys, "train", "dqn", "--env", "CartPole-v1", "--steps", "600", *TINY,
        "--run-dir", tmp_path / "run", "--replay-backend", "reverb",
    )  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "'rlkit-jax[reverb]'" in err and "replay_backend='local'" in err


@pytest.mark.skipif("reverb" not in REPLAY_BACKENDS, reason="needs the Reverb extra")
def test_reverb_backend_logs_its_open_port_and_resumes_on_reverb(capsys, tmp_path):
    run_dir = tmp_path / "run"
    argv = ["train", "dqn", "--env", "CartPole-v1", "--steps", "600", "--eval-episodes", "1"]
    argv += [*TINY, "--run-dir", run_dir, "--logger", "none"]
    result = subprocess.run(
        [RLKIT, *map(str, argv), "--replay-backend", "reverb"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    port_lines = [line for line in result.stderr.splitlines() if "open on all interfaces" in line]
    assert len(port_lines) == 1, result.stderr
    longer = [a if a != "600" else "900" for a in argv]
    code, _, err = run_cli(capsys, *longer, "--replay-backend", "local")
    assert code == 2 and "--replay-backend reverb" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run_cli(capsys, *longer)  # auto: the backend the run started on.
    assert code == 0 and "resumed from the checkpoint at step 600" in out


def test_device_gpu_without_a_gpu_is_one_line(capsys, tmp_path):
    import jax

    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("a GPU is visible")
    code, _, err = run_cli(
        capsys, "train", "dqn", "--env", "CartPole-v1", "--steps", "300", *TINY,
        "--run-dir", tmp_path / "run", "--device", "gpu",
    )  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "No GPU is visible to JAX" in err and "--device cpu" in err


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["c51", "qrdqn", "iqn", "mdqn", "rainbow"])
def test_every_variant_trains_evaluates_and_plays_from_the_command_line(capsys, tmp_path, agent):
    run_dir = tmp_path / agent
    code, out, err = run_cli(
        capsys, "train", agent, "--env", "CartPole-v1", "--steps", "400", "--eval-every", "400",
        "--eval-episodes", "1", "--run-dir", run_dir, "--device", "cpu", *TINY,
    )  # fmt: skip
    assert code == 0, err
    assert f"{agent} on CartPole-v1: evaluation return" in out
    code, out, err = run_cli(capsys, "eval", run_dir, "--episodes", "1")
    assert code == 0 and f"{agent} on CartPole-v1: return" in out, err
    code, out, err = run_cli(capsys, "play", run_dir, "--episodes", "1")
    assert code == 0, err
    # Value plots read the deterministic network (noise-free, evenly spaced quantiles).
    values = rlkit.experiments.load_policy(run_dir).value_function
    states = np.zeros((5, 4), np.float32)
    assert np.asarray(values(states)).shape == (5, 2)
    np.testing.assert_array_equal(values(states), values(states))


@pytest.mark.slow
def test_train_ppo_in_batched_environments_then_eval(capsys, tmp_path):
    run_dir = tmp_path / "ppo"
    code, out, _ = run_cli(
        capsys,
        *("train", "ppo", "--env", "CartPole-v1", "--steps", "1000", "--eval-every", "500"),
        *("--eval-episodes", "2", "--run-dir", run_dir, "--set", "num_envs=4"),
        *("--set", "rollout_length=16", "--set", "minibatch_size=32"),
    )
    assert code == 0 and "ppo on CartPole-v1: evaluation return" in out
    learner = pd.read_csv(run_dir / "logs" / "learner.csv")
    assert learner["learner_steps"].max() >= 10 and np.isfinite(learner["policy_loss"]).all()
    code, out, _ = run_cli(capsys, "eval", run_dir, "--episodes", "2")
    assert code == 0 and "ppo on CartPole-v1: return" in out


def test_ppo_rollouts_that_do_not_split_into_minibatches_get_one_line(capsys):
    code, _, err = run_cli(
        capsys, "train", "ppo", "--env", "CartPole-v1", "--set", "minibatch_size=100"
    )
    assert code == 2 and "multiple of minibatch_size" in err and len(err.strip().splitlines()) == 1
