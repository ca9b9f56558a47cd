"""A logger that prints one aligned line per row."""

from __future__ import annotations

from rich.console import Console

from rlkit.loggers.base import Logger, LoggingData, to_python


def _format(value) -> str:
    value = to_python(value)
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


class TerminalLogger(Logger):
    """Prints `[label] key = value | key = value` lines through rich (plain when piped)."""

    def __init__(self, label: str = "", console: Console | None = None):
        self._label = label
        self._console = console or Console(highlight=False)

    def write(self, data: LoggingData) -> None:
        body = " | ".join(
            f"{key.replace('_', ' ').title()} = {_format(v)}" for key, v in data.items()
        )
        prefix = f"[{self._label.title()}] " if self._label else ""
        self._console.print(prefix + body, markup=False, soft_wrap=True)
