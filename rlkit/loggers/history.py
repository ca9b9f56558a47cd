"""A parquet history of training episodes: step, wall time, return and length."""

from __future__ import annotations

import os
import time

import pyarrow as pa
import pyarrow.parquet as pq

from rlkit.loggers.base import Logger, LoggingData, to_python

HISTORY_COLUMNS = ("actor_steps", "wall_time", "episode_return", "episode_length")


class EpisodeHistoryLogger(Logger):
    """Keeps one row per episode and rewrites `path` (atomically) every `flush_every` s.

    An existing history is loaded and continued, so a resumed run keeps one file. Read it with
    `pandas.read_parquet(path)`; `wall_time` is seconds since the epoch.
    """

    def __init__(self, path: str, flush_every: float = 30.0, steps_key: str = "actor_steps"):
        self.path = path
        self._flush_every = flush_every
        self._steps_key = steps_key
        self._rows = read_history(path) if os.path.exists(path) else []
        self._last_flush = time.monotonic()
        self._dirty = False

    def write(self, data: LoggingData) -> None:
        if "episode_return" not in data:
            return
        self._rows.append(
            {
                "actor_steps": int(to_python(data.get(self._steps_key, 0))),
                "wall_time": time.time(),
                "episode_return": float(to_python(data["episode_return"])),
                "episode_length": int(to_python(data.get("episode_length", 0))),
            }
        )
        self._dirty = True
        if time.monotonic() - self._last_flush >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        if not self._dirty:
            return
        write_history(self.path, self._rows)
        self._dirty = False
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()


def read_history(path: str) -> list[dict]:
    """The rows of a history file, oldest first."""
    return pq.read_table(path).to_pylist()


def write_history(path: str, rows: list[dict]) -> None:
    """Writes `rows` to `path` through a temporary file, so a crash never leaves half a file."""
    schema = pa.schema(
        [
            ("actor_steps", pa.int64()),
            ("wall_time", pa.float64()),
            ("episode_return", pa.float64()),
            ("episode_length", pa.int64()),
        ]
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f"{path}.tmp"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), temporary)
    os.replace(temporary, path)
