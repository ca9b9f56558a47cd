"""Logger interface and simple combinators."""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

LoggingData = Mapping[str, Any]


def to_python(value: Any) -> Any:
    """Turns numpy / JAX scalars into Python numbers (for printing and CSV)."""
    if hasattr(value, "shape") and getattr(value, "shape", None) == ():
        return np.asarray(value).item()
    return value


class Logger(abc.ABC):
    """Writes dicts of named values somewhere (terminal, CSV, TensorBoard...)."""

    @abc.abstractmethod
    def write(self, data: LoggingData) -> None:
        """Writes one row."""

    def write_summary(self, data: LoggingData) -> None:
        """Writes a closing summary (e.g. `EnvironmentLoop.run`'s: steps, episodes, time,
        returns). Loggers that print show it (`TerminalLogger`); logs of rows (CSV,
        TensorBoard, history, the progress bar) ignore it, as this default does."""
        del data

    def flush(self) -> None:
        """Writes buffered rows out (before a checkpoint)."""

    def close(self) -> None:
        """Flushes and releases resources."""


class NoOpLogger(Logger):
    """Discards everything."""

    def write(self, data: LoggingData) -> None:
        del data


class Dispatcher(Logger):
    """Writes every row to several loggers."""

    def __init__(self, loggers: Sequence[Logger]):
        self._loggers = list(loggers)

    def write(self, data: LoggingData) -> None:
        for logger in self._loggers:
            logger.write(data)

    def write_summary(self, data: LoggingData) -> None:
        for logger in self._loggers:
            logger.write_summary(data)

    def flush(self) -> None:
        for logger in self._loggers:
            logger.flush()

    def close(self) -> None:
        """Closes every logger, even if one fails; re-raises the first failure."""
        failure = None
        for logger in self._loggers:
            try:
                logger.close()
            except Exception as error:
                failure = failure or error
        if failure is not None:
            raise failure


class TimeFilter(Logger):
    """Passes at most one row every `time_delta` seconds to the wrapped logger (and every
    summary)."""

    def __init__(self, logger: Logger, time_delta: float):
        self._logger = logger
        self._time_delta = time_delta
        self._last_write = -float("inf")

    def write(self, data: LoggingData) -> None:
        now = time.monotonic()
        if now - self._last_write >= self._time_delta:
            self._logger.write(data)
            self._last_write = now

    def write_summary(self, data: LoggingData) -> None:
        self._logger.write_summary(data)  # A summary is never filtered out.

    def flush(self) -> None:
        self._logger.flush()

    def close(self) -> None:
        self._logger.close()


class BufferLogger(Logger):
    """Keeps rows until the driver drains them into the run's loggers (the newest
    `max_rows` if it falls behind): what workers in other threads or processes log."""

    def __init__(self, max_rows: int = 10_000):
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._max_rows = max_rows

    def write(self, data: LoggingData) -> None:
        with self._lock:
            self._rows.append(dict(data))
            del self._rows[: -self._max_rows]

    def drain(self) -> list[dict[str, Any]]:
        with self._lock:
            rows, self._rows = self._rows, []
        return rows
