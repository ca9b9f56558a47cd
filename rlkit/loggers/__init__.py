"""Loggers: terminal, CSV, and combinators."""

from rlkit.loggers.base import Dispatcher, Logger, LoggingData, NoOpLogger, TimeFilter
from rlkit.loggers.csv import CSVLogger
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
    "CSVLogger",
    "Dispatcher",
    "Logger",
    "LoggingData",
    "NoOpLogger",
    "TerminalLogger",
    "TimeFilter",
    "make_default_logger",
]
