"""A live progress bar for training, with plain lines when the output is not a terminal."""

from __future__ import annotations

import collections
import datetime
import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Column

from rlkit.loggers.base import Logger, LoggingData, to_python


class RecentRate:
    """Steps per second over the rows of the last `window` seconds.

    Measured between rows only, never from the logger's creation: the first episode's row
    comes after JIT compilation, which would make a short run's ETA look like hours. The
    rate is None until the rows span `min_span` seconds, and a window that slides keeps
    later compilations (the learner's first update) from skewing it for long.
    """

    def __init__(self, window: float = 30.0, min_span: float = 5.0):
        self._window = window
        self._min_span = min_span
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, now: float, steps: int) -> None:
        """Records that `steps` had been taken at time `now`."""
        self._samples.append((now, steps))
        # Keep the newest sample that is at least `window` old, and everything after it.
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window:
            self._samples.popleft()

    def rate(self) -> float | None:
        """Steps per second, or None while too little time has been measured."""
        if len(self._samples) < 2:
            return None
        (start, first), (end, last) = self._samples[0], self._samples[-1]
        if end - start < self._min_span or last <= first:
            return None
        return (last - first) / (end - start)


class ProgressLogger(Logger):
    """Shows steps of `total_steps`, episodes, the last return, steps/s and the ETA.

    Fed the actor loop's per-episode rows (they carry `steps_key`, `episodes` or
    `actor_episodes`, and `episode_return`), and optionally the evaluator's rows, which move
    the bar to the step they were taken at (the budget, at the end). On a terminal this is a
    rich progress bar that fits 80 columns and that other output on the same `console`
    prints above; elsewhere (a pipe, a CI log, a file) it prints one plain line at most every
    `time_delta` seconds, and the final one once: at the first row past the budget that is
    not an episode's (the final evaluation), else on `close`. Steps/s and the ETA come from
    the recent rate (see `RecentRate`) and are left out until there is one; the return until
    an episode has ended.

    The steps shown stop at `total_steps`: a batched environment steps all its
    sub-environments at once, so its last step may pass the budget by fewer than `num_envs`
    steps (the run's summary and the rows themselves keep the true count).
    """

    def __init__(
        self,
        total_steps: int,
        initial_steps: int = 0,
        console: Console | None = None,
        time_delta: float = 10.0,
        steps_key: str = "actor_steps",
        description: str = "train",
        clock: Callable[[], float] = time.monotonic,
    ):
        self.console = console or Console(highlight=False)
        self._total = total_steps
        self._steps_key = steps_key
        self._time_delta = time_delta
        self._description = description
        self._clock = clock
        self._rate = RecentRate()
        self._last_print = -float("inf")
        self._progress: Progress | None = None
        self._pending: int | None = None  # Steps of a row not printed yet.
        self._printed: tuple | None = None  # What the last plain line showed.
        self._episodes, self._return = 0, None  # No return until an episode has ended.
        if self.console.is_terminal:
            # The bar takes what the text leaves; counts and ETA are never cut (at 80
            # columns the text needs at most ~70, e.g. "999999/1000000 ep 12345 | ...").
            self._progress = Progress(
                TextColumn(f"[bold]{description}"),
                BarColumn(bar_width=None, table_column=Column(ratio=1)),
                MofNCompleteColumn(table_column=Column(no_wrap=True)),
                TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True)),
                TextColumn("{task.fields[eta]}", table_column=Column(no_wrap=True)),
                console=self.console,
                expand=True,
            )
            self._task = self._progress.add_task(
                description, total=total_steps, completed=initial_steps, info="", eta=""
            )
            self._progress.start()

    def _eta(self, steps: int, rate: float | None) -> str:
        if rate is None:
            return ""
        remaining = max(self._total - steps, 0) / rate
        return f"ETA {datetime.timedelta(seconds=round(remaining))}"

    def _return_text(self) -> str | None:
        if self._return is None:
            return None
        try:
            return f"return {float(self._return):.1f}"
        except (TypeError, ValueError):  # A structured reward: no single number to show.
            return None

    def write(self, data: LoggingData) -> None:
        """An episode row updates everything; another row (an evaluation) only the steps."""
        steps = int(to_python(data.get(self._steps_key, 0)))
        episode = "episode_return" in data
        if episode:
            self._episodes = to_python(data.get("actor_episodes", data.get("episodes", 0)))
            self._return = to_python(data["episode_return"])
        now = self._clock()
        self._rate.add(now, steps)
        shown = min(steps, self._total)
        if self._progress is not None:
            rate = self._rate.rate()
            info = " | ".join(
                field
                for field in (f"ep {self._episodes}", self._return_text())
                if field is not None
            )
            info += f" | {rate:.0f}/s" if rate is not None else ""
            eta = self._eta(steps, rate)
            self._progress.update(self._task, completed=shown, info=info, eta=eta)
        elif steps >= self._total:
            # The end: printed once, by the final evaluation's row (after every episode
            # row of the last step: a batched environment ends several), else by `close`.
            if episode:
                self._pending = steps
            else:
                self._print_line(steps, now)
        elif now - self._last_print >= self._time_delta:
            self._print_line(steps, now)
        else:
            self._pending = steps

    def _print_line(self, steps: int, now: float) -> None:
        self._last_print, self._pending = now, None
        shown = min(steps, self._total)
        state = (shown, self._episodes, self._return)
        if state == self._printed:
            return  # Nothing new since the last line.
        self._printed = state
        percent = 100.0 * shown / max(self._total, 1)
        fields = [
            f"[{self._description}] steps {shown}/{self._total} ({percent:.0f}%)",
            f"episodes {self._episodes}",
        ]
        if (text := self._return_text()) is not None:
            fields.append(text)
        rate = self._rate.rate()
        if rate is not None:
            fields.append(f"{rate:.0f} steps/s")
            if shown < self._total:
                fields.append(self._eta(steps, rate))
        self.console.print(" | ".join(fields), markup=False, soft_wrap=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        elif self._pending is not None:  # The latest row was held back.
            self._print_line(self._pending, self._clock())
