"""A live progress bar for training, with plain lines when the output is not a terminal."""

from __future__ import annotations

import datetime
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rlkit.loggers.base import Logger, LoggingData, to_python


class ProgressLogger(Logger):
    """Shows steps of `total_steps`, episodes, the last return, steps/s and the ETA.

    Fed the actor loop's per-episode rows (they carry `steps_key`, `episodes` or
    `actor_episodes`, and `episode_return`), and optionally the evaluator's rows, which move
    the bar to the step they were taken at (the budget, at the end). On a terminal this is a
    rich progress bar that other output on the same `console` prints above; elsewhere (a
    pipe, a CI log, a file) it prints one plain line at most every `time_delta` seconds.
    """

    def __init__(
        self,
        total_steps: int,
        initial_steps: int = 0,
        console: Console | None = None,
        time_delta: float = 10.0,
        steps_key: str = "actor_steps",
        description: str = "train",
    ):
        self.console = console or Console(highlight=False)
        self._total = total_steps
        self._initial = initial_steps
        self._steps_key = steps_key
        self._time_delta = time_delta
        self._description = description
        self._start = time.monotonic()
        self._last_print = -float("inf")
        self._progress: Progress | None = None
        self._pending: LoggingData | None = None
        self._episodes, self._return = 0, float("nan")
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn(f"[bold]{description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._task = self._progress.add_task(
                description, total=total_steps, completed=initial_steps, info=""
            )
            self._progress.start()

    def write(self, data: LoggingData) -> None:
        """An episode row updates everything; another row (an evaluation) only the steps."""
        steps = int(to_python(data.get(self._steps_key, 0)))
        if "episode_return" in data:
            self._episodes = to_python(data.get("actor_episodes", data.get("episodes", 0)))
            self._return = to_python(data["episode_return"])
        now = time.monotonic()
        speed = (steps - self._initial) / max(now - self._start, 1e-9)
        info = f"episodes {self._episodes} | return {self._return:.1f} | {speed:.0f} steps/s"
        if self._progress is not None:
            self._progress.update(self._task, completed=steps, info=info)
            return
        self._pending = data
        if now - self._last_print >= self._time_delta or steps >= self._total:
            self._last_print = now
            remaining = max(self._total - steps, 0) / max(speed, 1e-9)
            eta = datetime.timedelta(seconds=round(remaining))
            percent = 100.0 * steps / max(self._total, 1)
            self._pending = None
            self.console.print(
                f"[{self._description}] steps {steps}/{self._total} ({percent:.0f}%) | {info} | "
                f"ETA {eta}",
                markup=False,
                soft_wrap=True,
            )

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        elif self._pending is not None:  # The latest row was held back by time_delta.
            self._last_print = -float("inf")
            self.write(self._pending)
