"""Writes a benchmark's section of BENCHMARKS.md (between markers, replacing the old one)."""

from __future__ import annotations

import pathlib
import re

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def _section_pattern(name: str) -> tuple[str, str, re.Pattern[str]]:
    """The start and end markers of section `name` and a pattern matching it, markers included."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    return start, end, re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)


def write_section(name: str, body: str, path: pathlib.Path = BENCHMARKS) -> None:
    """Replaces section `name` of `path` (BENCHMARKS.md) with `body`, or appends it."""
    start, end, pattern = _section_pattern(name)
    section = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else (text.rstrip() + "\n\n" + section + "\n")
    )
    path.write_text(text)


def read_section(name: str, text: str) -> str | None:
    """The body of section `name` in `text` (between its markers, stripped); None without one."""
    start, end, pattern = _section_pattern(name)
    match = pattern.search(text)
    return match.group(0)[len(start) : -len(end)].strip() if match else None


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
