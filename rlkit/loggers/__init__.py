"""Loggers: terminal, progress bar, CSV, TensorBoard, parquet history, W&B, and combinators."""

from rlkit.loggers.base import (
    BufferLogger,
    Dispatcher,
    Logger,
    LoggingData,
    NoOpLogger,
    TimeFilter,
)
from rlkit.loggers.csv import CSVLogger
from rlkit.loggers.history import EpisodeHistoryLogger, read_history
from rlkit.loggers.progress import ProgressLogger
from rlkit.loggers.tensorboard import TensorBoardLogger
from rlkit.loggers.terminal import TerminalLogger


def make_default_logger(
    label: str, time_delta: float = 1.0, directory: str | None = None
) -> Logger:
    """A terminal logger (at most one line per `time_delta` s), plus CSV under `directory`."""
    terminal = TimeFilter(TerminalLogger(label), time_delta)
    if directory is None:
        return terminal
    return Dispatcher([terminal, CSVLogger(directory, label)])


__all__ = [
    "BufferLogger",
    "CSVLogger",
    "Dispatcher",
    "EpisodeHistoryLogger",
    "Logger",
    "LoggingData",
    "NoOpLogger",
    "ProgressLogger",
    "TensorBoardLogger",
    "TerminalLogger",
    "TimeFilter",
    "make_default_logger",
    "read_history",
]
