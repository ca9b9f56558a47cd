"""Damaged run directories: checkpoints checked against their manifests before anything reads
them, damaged ones set aside with a line saying why, and runs resumed from the newest intact
one; replay alone damaged resumes with empty tables; a full disk and SIGKILL during a write
leave a resumable run."""

import errno
import json
import logging
import os
import subprocess
import sys
import textwrap

import orbax.checkpoint as ocp
import pytest

from rlkit import errors, experiments
from tests.test_experiments import make_config


def largest_file(directory):
    paths = [os.path.join(root, name) for root, _, names in os.walk(directory) for name in names]
    return max(paths, key=os.path.getsize)


@pytest.mark.slow
def test_every_checkpoint_has_a_manifest_of_its_files(tmp_path):
    run_dir = str(tmp_path)
    experiments.run_experiment(make_config(run_dir, 800))
    assert sorted(os.listdir(os.path.join(run_dir, "manifests"))) == ["400.json", "800.json"]
    with open(os.path.join(run_dir, "manifests", "800.json")) as file:
        files = json.load(file)["files"]
    assert any(name.startswith("checkpoints/800/") for name in files)
    assert any(name.startswith("replay/800/") for name in files)
    for name, (size, _) in files.items():
        assert os.path.getsize(os.path.join(run_dir, name)) == size


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "delete", "flip"])
def test_a_damaged_checkpoint_is_set_aside_and_the_run_resumes_from_the_one_before(
    tmp_path, caplog, damage
):
    run_dir = str(tmp_path)
    experiments.run_experiment(make_config(run_dir, 800))
    victim = largest_file(os.path.join(run_dir, "checkpoints", "800"))
    if damage == "truncate":
        open(victim, "w").close()
    elif damage == "delete":
        os.remove(victim)
    else:
        with open(victim, "r+b") as file:
            byte = file.read(1)
            file.seek(0)
            file.write(bytes([byte[0] ^ 0xFF]))
    with caplog.at_level(logging.WARNING, logger="rlkit.experiments"):
        result = experiments.run_experiment(make_config(run_dir, 1200))
    assert result.resumed_from == 400 and result.actor_steps == 1200
    (line,) = [r.getMessage() for r in caplog.records if "checkpoint 800" in r.getMessage()]
    assert "skipped" in line and os.path.relpath(victim, run_dir) in line
    assert "damaged/checkpoints-800" in line
    assert os.path.isdir(os.path.join(run_dir, "damaged", "checkpoints-800"))
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == ["1200", "800"]


@pytest.mark.slow
def test_a_damaged_replay_checkpoint_resumes_with_empty_tables(tmp_path, caplog, replay_backend):
    run_dir = str(tmp_path)
    experiments.run_experiment(make_config(run_dir, 800, replay_backend=replay_backend))
    open(largest_file(os.path.join(run_dir, "replay", "800")), "w").close()
    with caplog.at_level(logging.WARNING, logger="rlkit.experiments"):
        result = experiments.run_experiment(
            make_config(run_dir, 1200, replay_backend=replay_backend)
        )
    # The agent state of 800 is whole: the run resumes there and refills its tables.
    assert result.resumed_from == 800 and result.actor_steps == 1200
    (line,) = [r.getMessage() for r in caplog.records if "replay checkpoint 800" in r.getMessage()]
    assert "empty replay tables" in line
    metadata = experiments.checkpointing.Checkpointer(run_dir).read_metadata(1200)
    learner_steps = metadata["counts"]["learner_steps"]
    before = experiments.checkpointing.Checkpointer(run_dir).read_metadata(800)
    # No learner step until 100 new transitions (the warm-up) are in, then the usual ratio.
    assert 0 < learner_steps - before["counts"]["learner_steps"] < 400


@pytest.mark.slow
def test_a_checkpoint_whose_write_did_not_finish_is_set_aside(tmp_path, caplog):
    run_dir = str(tmp_path)
    experiments.run_experiment(make_config(run_dir, 800))
    os.remove(os.path.join(run_dir, "manifests", "800.json"))  # Killed before the commit.
    with caplog.at_level(logging.WARNING, logger="rlkit.experiments"):
        result = experiments.run_experiment(make_config(run_dir, 800))
    assert result.resumed_from == 400 and result.actor_steps == 800
    assert any("did not finish" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_checkpoints_from_before_manifests_are_used_as_they_are(tmp_path):
    run_dir = str(tmp_path)
    experiments.run_experiment(make_config(run_dir, 800))
    for name in os.listdir(os.path.join(run_dir, "manifests")):
        os.remove(os.path.join(run_dir, "manifests", name))
    result = experiments.run_experiment(make_config(run_dir, 1200))
    assert result.resumed_from == 800 and result.actor_steps == 1200


@pytest.mark.slow
def test_a_full_disk_during_a_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    run_dir = str(tmp_path)
    experiments.run_experiment(make_config(run_dir, 400))
    original = ocp.CheckpointManager.save

    def full_disk(self, step, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ocp.CheckpointManager, "save", full_disk)
    with pytest.raises(errors.CheckpointError, match="No space left.*checkpoint 400 is intact"):
        experiments.run_experiment(make_config(run_dir, 800))
    monkeypatch.setattr(ocp.CheckpointManager, "save", original)
    result = experiments.run_experiment(make_config(run_dir, 800))
    assert result.resumed_from == 400 and result.actor_steps == 800


# Where a child process kills itself (SIGKILL) during the write of checkpoint 800.
KILL_POINTS = {
    "before the replay is written": ("LocalLayout", "checkpoint_replay", "before"),
    "after the replay is staged": ("LocalLayout", "checkpoint_replay", "after"),
    "after the replay is in place": ("ocp.CheckpointManager", "save", "before"),
    "after orbax's write": ("ocp.CheckpointManager", "save", "after"),
    "after the manifest": ("checkpointing", "_write_atomically", "after"),
}

CHILD = """
import os, signal, sys
import orbax.checkpoint as ocp
from rlkit import experiments
from rlkit.layouts import local as local_layout
from rlkit.experiments import checkpointing
from tests.test_damaged_checkpoints import make_config

owner_name, attribute, when = sys.argv[2:5]
owner = {
    "ocp.CheckpointManager": ocp.CheckpointManager,
    "checkpointing": checkpointing,
    "LocalLayout": local_layout.LocalLayout,
}[owner_name]
original = getattr(owner, attribute)

def wrapped(*args, **kwargs):
    if owner_name == "ocp.CheckpointManager":
        dying = args[1] == 800
    elif owner_name == "LocalLayout":
        dying = args[0].num_observations >= 800
    else:
        dying = args[0].endswith("800.json")
    if dying and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    result = original(*args, **kwargs)
    if dying and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)
    return result

setattr(owner, attribute, wrapped)
experiments.run_experiment(make_config(sys.argv[1], 1200))
"""


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_a_run_killed_during_a_checkpoint_write_resumes(tmp_path, point):
    run_dir = str(tmp_path)
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), run_dir, *KILL_POINTS[point]],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert child.returncode == -9, child.stderr[-2000:]
    result = experiments.run_experiment(make_config(run_dir, 1200))
    expected = 800 if point == "after the manifest" else 400
    assert result.resumed_from == expected and result.actor_steps == 1200


RLKIT = os.path.join(os.path.dirname(sys.executable), "rlkit")
TRAIN = ["train", "dqn", "--env", "CartPole-v1", "--eval-every", "400", "--eval-episodes", "2"]
TRAIN += ["--checkpoint-every", "400", "--set", "min_replay_size=100"]
TRAIN += ["--set", "hidden_sizes=[32,32]", "--logger", "none"]


def rlkit_command(run_dir, steps):
    return subprocess.run(
        [RLKIT, *TRAIN, "--steps", str(steps), "--run-dir", run_dir],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2"},
    )


@pytest.mark.slow
def test_the_command_line_says_in_one_line_what_it_skipped(tmp_path):
    run_dir = str(tmp_path / "run")
    assert rlkit_command(run_dir, 800).returncode == 0
    open(largest_file(os.path.join(run_dir, "checkpoints", "800")), "w").close()
    rerun = rlkit_command(run_dir, 1200)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    skipped = [line for line in rerun.stderr.splitlines() if "checkpoint 800" in line]
    assert len(skipped) == 1 and "Traceback" not in rerun.stderr
    assert "resumed from the checkpoint at step 400" in rerun.stdout


@pytest.mark.slow
def test_experiment_yaml_edited_or_deleted_between_runs(tmp_path):
    run_dir = str(tmp_path / "run")
    assert rlkit_command(run_dir, 400).returncode == 0
    experiment_yaml = os.path.join(run_dir, "experiment.yaml")
    with open(experiment_yaml, "w") as file:
        file.write("agent: [unclosed\n")
    broken = rlkit_command(run_dir, 800)
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1 and "experiment.yaml" in broken.stderr
    with open(experiment_yaml, "w") as file:
        file.write("agent: sac\n")
    edited = rlkit_command(run_dir, 800)
    assert edited.returncode == 2 and "different agent" in edited.stderr
    os.remove(experiment_yaml)
    deleted = rlkit_command(run_dir, 800)  # The checkpoints still say what the run was.
    assert deleted.returncode == 0, deleted.stderr[-2000:]
    assert "resumed from the checkpoint at step 400" in deleted.stdout
    assert os.path.isfile(experiment_yaml)
