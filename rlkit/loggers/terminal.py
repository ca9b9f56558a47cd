"""A logger that prints one aligned line per row."""

from __future__ import annotations

from rich.console import Console

from rlkit.loggers.base import Logger, LoggingData, to_python


def _format(value) -> str:
    value = to_python(value)
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


_ACRONYMS = {"sgd": "SGD", "td": "TD", "kl": "KL"}


def _title(name: str) -> str:
    """`learner_sgd_steps` -> `Learner SGD Steps`."""
    return " ".join(_ACRONYMS.get(word, word.title()) for word in name.split("_") if word)


class TerminalLogger(Logger):
    """Prints `[Label] Key = value | Key = value` lines through rich (plain when piped), and
    summaries as `[Label] Summary: Key = value | ...`."""

    def __init__(self, label: str = "", console: Console | None = None):
        self._label = label
        self._console = console or Console(highlight=False)

    def _print(self, data: LoggingData, heading: str = "") -> None:
        body = " | ".join(f"{_title(key)} = {_format(v)}" for key, v in data.items())
        prefix = f"[{_title(self._label)}] " if self._label else ""
        self._console.print(prefix + heading + body, markup=False, soft_wrap=True)

    def write(self, data: LoggingData) -> None:
        self._print(data)

    def write_summary(self, data: LoggingData) -> None:
        self._print(data, "Summary: ")
