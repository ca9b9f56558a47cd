"""Loggers: progress bar (TTY and plain), TensorBoard, parquet history, W&B gating."""

import importlib.util
import io
import os

import pytest
from rich.console import Console

from rlkit import errors, loggers


def row(steps, episodes, episode_return=10.0):
    return {"actor_steps": steps, "actor_episodes": episodes, "episode_return": episode_return}


def test_progress_without_a_terminal_prints_plain_lines():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    progress = loggers.ProgressLogger(1000, console=console, time_delta=0.0)
    progress.write(row(250, 3, 21.0))
    progress.write(row(1000, 9, 55.0))
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[train] steps 250/1000 (25%) | episodes 3 | return 21.0 |")
    assert "steps/s | ETA" in lines[0]
    assert lines[1].startswith("[train] steps 1000/1000 (100%) | episodes 9 | return 55.0")
    assert "\x1b[" not in out.getvalue()  # No escape codes in a log file.


def test_progress_throttles_plain_lines_but_prints_the_last_row_on_close():
    out = io.StringIO()
    progress = loggers.ProgressLogger(
        1000, console=Console(file=out, force_terminal=False, width=200), time_delta=3600
    )
    for steps in (100, 200, 300):
        progress.write(row(steps, steps // 100))
    assert len(out.getvalue().splitlines()) == 1
    progress.close()
    assert out.getvalue().splitlines()[-1].startswith("[train] steps 300/1000")


def test_progress_bar_on_a_terminal():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=150)
    progress = loggers.ProgressLogger(1000, initial_steps=200, console=console)
    progress.write(row(600, 5, 42.0))
    progress.close()
    text = out.getvalue()
    assert "600/1000" in text and "return 42.0" in text and "ETA" in text


def test_tensorboard_logger_writes_scalars(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    logger = loggers.TensorBoardLogger(str(tmp_path), "actor")
    logger.write({"actor_steps": 10, "episode_return": 5.0, "name": "text is skipped"})
    logger.write({"actor_steps": 20, "episode_return": 7.0})
    logger.close()
    events = event_accumulator.EventAccumulator(str(tmp_path))
    events.Reload()
    scalars = events.Scalars("actor/episode_return")
    assert [(s.step, s.value) for s in scalars] == [(10, 5.0), (20, 7.0)]
    assert "actor/name" not in events.Tags()["scalars"]


def test_history_is_written_atomically_and_continued(tmp_path):
    path = str(tmp_path / "episodes.parquet")
    history = loggers.EpisodeHistoryLogger(path, flush_every=3600)
    history.write({"actor_steps": 20, "episode_return": 20.0, "episode_length": 20})
    history.write({"actor_steps": 5, "loss": 1.0})  # Not an episode row: ignored.
    assert not os.path.exists(path)  # Not yet flushed.
    history.close()
    resumed = loggers.EpisodeHistoryLogger(path)
    resumed.write({"actor_steps": 45, "episode_return": 25.0, "episode_length": 25})
    resumed.close()
    rows = loggers.read_history(path)
    assert [(r["actor_steps"], r["episode_return"]) for r in rows] == [(20, 20.0), (45, 25.0)]
    assert all(r["wall_time"] > 1e9 for r in rows)
    assert os.listdir(tmp_path) == ["episodes.parquet"]


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed")
def test_wandb_is_optional():
    from rlkit.loggers.wandb import WandbLogger

    with pytest.raises(errors.ConfigError, match=r"pip install 'rlkit\[wandb\]'"):
        WandbLogger("actor")


def test_progress_rows_without_a_return_only_move_the_steps():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    progress = loggers.ProgressLogger(1000, console=console, time_delta=0.0)
    progress.write(row(900, 7, 33.0))
    progress.write({"actor_steps": 1000, "return_mean": 99.0, "episodes": 10})  # Evaluator.
    progress.close()
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("[train] steps 1000/1000 (100%) | episodes 7 | return 33.0")


def test_tensorboard_loggers_of_several_labels_share_a_directory(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    actor = loggers.TensorBoardLogger(str(tmp_path), "actor")
    evaluator = loggers.TensorBoardLogger(str(tmp_path), "evaluator")
    actor.write({"actor_steps": 10, "episode_return": 5.0})
    evaluator.write({"actor_steps": 10, "return_mean": 9.0})
    actor.close()
    evaluator.close()
    events = event_accumulator.EventAccumulator(str(tmp_path))
    events.Reload()
    assert [s.value for s in events.Scalars("actor/episode_return")] == [5.0]
    assert [s.value for s in events.Scalars("evaluator/return_mean")] == [9.0]
