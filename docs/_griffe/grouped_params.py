"""A Griffe extension for the docs build: `a, b: description` in an `Args:` section.

Some rlkit docstrings document two parameters that go together on one line
(`replay_client, priority_table: where new priorities are written ...`). Griffe's Google
parser reads that as one parameter named "replay_client, priority_table", which is not in the
signature, and warns (an error under `mkdocs build --strict`). This extension rewrites such
an entry into one entry per name, each with the same description (prefixed "(with `b`)"),
before the docstring is parsed; a name that is not in the signature still gets Griffe's warning.
Loaded by mkdocs.yml (`plugins.mkdocstrings.handlers.python.options.extensions`).
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension

_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Params):\s*$")
_GROUPED = re.compile(r"^(\s+)([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)+):(.*)$")


def _split_grouped(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    section_indent: int | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        heading = _SECTION.match(line)
        if heading:
            section_indent = len(heading.group(1))
            out.append(line)
            index += 1
            continue
        stripped = line.strip()
        indent_of_line = len(line) - len(line.lstrip())
        if section_indent is not None and stripped and indent_of_line <= section_indent:
            section_indent = None  # The section ended.
        match = _GROUPED.match(line) if section_indent is not None else None
        if not match:
            out.append(line)
            index += 1
            continue
        indent, names, first = match.group(1), match.group(2), match.group(3)
        # The entry's continuation lines: indented deeper than its name.
        block = [first]
        index += 1
        while (
            index < len(lines)
            and lines[index].strip()
            and len(lines[index]) - len(lines[index].lstrip()) > len(indent)
        ):
            block.append("\n" + lines[index])
            index += 1
        group = [n.strip() for n in names.split(",")]
        for name in group:
            others = ", ".join(f"`{other}`" for other in group if other != name)
            out.append(f"{indent}{name}: (with {others}){''.join(block)}")
    return "\n".join(out)


class GroupedParameters(Extension):
    """Splits `a, b: description` entries of `Args:` sections into one entry per name."""

    def on_object(self, *, obj: Any, **kwargs: Any) -> None:
        docstring = getattr(obj, "docstring", None)
        if docstring is None or "," not in docstring.value:
            return
        docstring.value = _split_grouped(docstring.value)
