"""A Griffe extension for the docs build: a dataclass field's comments become its docstring.

rlkit's config dataclasses document their fields with comments (a comment block right above
a field, or a comment at the end of its line), not with docstrings. Griffe reads source
statically and ignores comments, so without this the config-key pages would list each key's
type and default with no description. Fields that already have a docstring are left alone.
Loaded by mkdocs.yml (`plugins.mkdocstrings.handlers.python.options.extensions`).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from typing import Any

from griffe import Attribute, Docstring, Extension

# Comments that are directives to tools, not prose.
_DIRECTIVES = ("noqa", "type:", "pragma", "ruff:", "fmt:", "pyright:", "mypy:")
# A heading over a group of fields ("# Loss.", "# Network and optimiser."): a sentence of at
# most three words, which says nothing about the one field it sits above.
_GROUP_HEADING = re.compile(r"^[A-Z][A-Za-z-]*(?: [A-Za-z-]+){0,2}\.(?:\s+|$)")


def _is_dataclass(cls: Any) -> bool:
    """Whether a Griffe class is decorated with `dataclass` / `dataclasses.dataclass(...)`."""
    for decorator in getattr(cls, "decorators", ()):
        text = str(decorator.value).split("(")[0]
        if text.rsplit(".", 1)[-1] == "dataclass":
            return True
    return False


def _trailing_comment(line: str) -> str | None:
    """The comment at the end of a line of code, if any (a `#` inside a string is not one)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    for token in tokens:
        if token.type == tokenize.COMMENT:
            return token.string.lstrip("#").strip()
    return None


def _comment_block_above(lines: list[str], index: int) -> list[str]:
    """The full-line comments directly above `lines[index]` (0-based), top to bottom."""
    block = []
    index -= 1
    while index >= 0 and lines[index].strip().startswith("#"):
        block.append(lines[index].strip().lstrip("#").strip())
        index -= 1
    return block[::-1]


class FieldComments(Extension):
    """Sets a dataclass field's docstring from the comments around it."""

    def on_attribute_instance(
        self, *, node: Any, attr: Attribute, agent: Any, **kwargs: Any
    ) -> None:
        if attr.docstring is not None or not isinstance(node, ast.AST):
            return
        if attr.parent is None or not attr.parent.is_class or not _is_dataclass(attr.parent):
            return
        if attr.lineno is None or not hasattr(agent, "code"):
            return
        lines = agent.code.split("\n")
        start, end = attr.lineno - 1, (attr.endlineno or attr.lineno) - 1
        parts = _comment_block_above(lines, start)
        trailing = _trailing_comment(lines[end])
        if trailing is not None:
            parts.append(trailing)
        parts = [p for p in parts if p and not p.lower().startswith(_DIRECTIVES)]
        text = _GROUP_HEADING.sub("", " ".join(parts), count=1).strip()
        if not text:
            return
        if text[0] in ">#-+*=|":  # "> 0: ..." would otherwise be Markdown, not prose.
            text = "\\" + text
        attr.docstring = Docstring(
            text,
            lineno=attr.lineno,
            endlineno=attr.endlineno,
            parent=attr,
            parser=agent.docstring_parser,
            parser_options=agent.docstring_options,
        )
