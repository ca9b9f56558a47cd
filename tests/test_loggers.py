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
    assert lines[0] == "[train] steps 250/1000 (25%) | episodes 3 | return 21.0"
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


class FakeClock:
    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now


def test_eta_ignores_the_warm_up_and_waits_for_a_recent_rate():
    out, clock = io.StringIO(), FakeClock()
    console = Console(file=out, force_terminal=False, width=200)
    progress = loggers.ProgressLogger(10_000, console=console, time_delta=0.0, clock=clock)
    clock.now = 120.0  # Two minutes of JIT compilation before the first episode ends.
    progress.write(row(100, 1))
    clock.now = 122.0
    progress.write(row(300, 2))  # Two seconds of rows: too short to tell a rate.
    clock.now = 130.0
    progress.write(row(1100, 3))  # 1000 steps in 10 s: 100 steps/s, 8900 to go.
    progress.close()
    first, second, third = out.getvalue().splitlines()
    assert "ETA" not in first and "steps/s" not in first
    assert "ETA" not in second
    assert third.endswith("| 100 steps/s | ETA 0:01:29")


def test_recent_rate_forgets_rows_older_than_its_window():
    rate = loggers.progress.RecentRate(window=30.0, min_span=5.0)
    rate.add(0.0, 0)
    rate.add(10.0, 100)  # A slow start (a learner compiling)...
    assert rate.rate() == pytest.approx(10.0)
    for second in range(11, 71):
        rate.add(float(second), 100 + 50 * (second - 10))  # ...then 50 steps/s.
    assert rate.rate() == pytest.approx(50.0)


def test_progress_bar_on_a_terminal():
    out, clock = io.StringIO(), FakeClock()
    console = Console(file=out, force_terminal=True, width=150)
    progress = loggers.ProgressLogger(1000, initial_steps=200, console=console, clock=clock)
    progress.write(row(400, 3, 30.0))
    clock.now = 10.0
    progress.write(row(600, 5, 42.0))
    progress.close()
    text = out.getvalue()
    assert "600/1000" in text and "return 42.0" in text and "20/s ETA 0:00:20" in text


@pytest.mark.parametrize("total, steps, episodes", [(200_000, 3315, 120), (10**6, 999_999, 12345)])
def test_progress_bar_fits_80_columns(total, steps, episodes):
    out, clock = io.StringIO(), FakeClock()
    console = Console(file=out, force_terminal=True, width=80, color_system=None)
    progress = loggers.ProgressLogger(total, console=console, clock=clock)
    progress.write(row(steps // 2, episodes // 2, -1234.5))
    clock.now = 36_000.0  # A slow run: a 7-character ETA.
    progress.write(row(steps, episodes, -1234.5))
    progress.close()
    last = [line for line in out.getvalue().replace("\r", "\n").splitlines() if "ETA" in line]
    visible = last[-1].replace("\x1b[2K", "").replace("\x1b[?25h", "").rstrip()
    assert len(visible) <= 80
    assert f"{steps}/{total}" in visible and "return -1234.5" in visible
    assert "ETA " in visible and "\u2026" not in visible  # Nothing cut off with an ellipsis.


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

    with pytest.raises(errors.ConfigError, match=r"pip install 'rlkit-jax\[wandb\]'"):
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


def plain_progress(total, **kwargs):
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    return out, loggers.ProgressLogger(total, console=console, **kwargs)


def test_plain_progress_prints_the_final_line_once():
    # A batched environment's last step (passing the budget) ended two episodes; then the
    # final evaluation's row: one final line, as before the evaluation's own line.
    out, progress = plain_progress(2000, time_delta=0.0)
    progress.write(row(1500, 40, 30.0))
    progress.write(row(2004, 68, 49.0))
    progress.write(row(2004, 69, 50.0))
    progress.write({"actor_steps": 2004, "return_mean": 50.8, "episodes": 5})
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines == [
        "[train] steps 1500/2000 (75%) | episodes 40 | return 30.0",
        "[train] steps 2000/2000 (100%) | episodes 69 | return 50.0",
    ]


def test_plain_progress_without_an_evaluation_prints_the_final_line_on_close():
    out, progress = plain_progress(1000, time_delta=0.0)
    progress.write(row(1000, 9, 55.0))
    progress.write(row(1000, 9, 55.0))
    progress.close()
    assert out.getvalue().splitlines() == [
        "[train] steps 1000/1000 (100%) | episodes 9 | return 55.0"
    ]


def test_progress_shows_no_return_before_an_episode_has_ended():
    out, progress = plain_progress(300, time_delta=0.0)
    progress.write({"actor_steps": 100, "return_mean": -200.0, "episodes": 5})  # Evaluator.
    progress.write(row(300, 1, -200.0))
    progress.close()
    assert out.getvalue().splitlines() == [
        "[train] steps 100/300 (33%) | episodes 0",
        "[train] steps 300/300 (100%) | episodes 1 | return -200.0",
    ]
    out, clock = io.StringIO(), FakeClock()
    console = Console(file=out, force_terminal=True, width=150)
    progress = loggers.ProgressLogger(1000, console=console, clock=clock)
    progress.write({"actor_steps": 100, "return_mean": -200.0, "episodes": 5})
    progress.close()
    assert "nan" not in out.getvalue() and "return" not in out.getvalue()


def test_progress_bar_stops_at_the_budget():
    out, clock = io.StringIO(), FakeClock()
    console = Console(file=out, force_terminal=True, width=150)
    progress = loggers.ProgressLogger(3000, console=console, clock=clock)
    progress.write(row(1500, 20, 30.0))
    clock.now = 10.0
    progress.write(row(3005, 40, 60.0))  # A vector step past the budget.
    progress.close()
    text = out.getvalue()
    assert "3000/3000" in text and "3005" not in text


def test_terminal_logger_prints_summaries_and_a_time_filter_never_drops_them(tmp_path):
    out = io.StringIO()
    terminal = loggers.TerminalLogger("environment_loop", Console(file=out, width=200))
    csv_logger = loggers.CSVLogger(str(tmp_path), "actor")
    filtered = loggers.Dispatcher([loggers.TimeFilter(terminal, time_delta=3600), csv_logger])
    filtered.write({"learner_sgd_steps": 16, "steps": 2})
    filtered.write({"steps": 3})  # Dropped by the time filter: within time_delta.
    filtered.write_summary({"steps": 3, "seconds": 0.5})
    filtered.close()
    with open(tmp_path / "actor.csv") as file:
        assert len(file.read().splitlines()) == 3  # The header and two rows: no summary.
    assert out.getvalue().splitlines() == [
        "[Environment Loop] Learner SGD Steps = 16 | Steps = 2",
        "[Environment Loop] Summary: Steps = 3 | Seconds = 0.500",
    ]
