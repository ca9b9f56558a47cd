"""MkDocs hook: the command line's option tables, read from `rlkit/cli/main.py`.

A page marker `<!-- cli-options: COMMAND -->` (or `<!-- cli-options: rlkit -->` for the
top-level parser) becomes a table of that command's arguments and options with their help,
as `rlkit COMMAND --help` prints them, defaults included. The argparse definitions are read
from the source with `ast`, not imported: building the docs needs neither rlkit's
dependencies nor JAX. What the reader does not understand (a call it has never seen on a
parser, a help text that is not a literal) is an error, so the build fails instead of
printing a stale or partial table.

Understood, from `_build_parser()` on: `X = _Parser(...)`, `C = X.add_subparsers(...)`,
`[Y =] C.add_parser("name", help=...)`, `Y.add_argument(...)`, `Y.set_defaults(...)`,
`from M import NAME [as A]` / `from P import M [as A]` (to read `choices=` constants), and
calls `[Z =] f(...)` of module-level functions of this file that are passed `C` or a parser
(positionally or by keyword; e.g. `_add_train_parser(commands)`, `_add_set_option(train)`):
their body is read the same way, with those parameters standing for what was passed, and
`Z` is the parser `f` returns, if it returns one. A parser passed to any other function is
an error: the options it adds would be missing from the tables.
"""

from __future__ import annotations

import ast
import html
import logging
import pathlib
import re
from typing import Any

from mkdocs.exceptions import PluginError

log = logging.getLogger("mkdocs.hooks.cli_reference")

MARKER = re.compile(r"<!--\s*cli-options:\s*([\w-]+)\s*-->")
COMMANDS_MARKER = re.compile(r"<!--\s*cli-commands\s*-->")
SOURCE = "rlkit/cli/main.py"


class _Argument:
    def __init__(self, names: list[str], options: dict[str, Any]):
        self.names = names
        self.options = options

    @property
    def positional(self) -> bool:
        return not self.names[0].startswith("-")

    def usage(self) -> str:
        """How `--help` shows it: `--env ENV`, `--logger LOGGER`, `{a,b}`, `run_dirs ...`."""
        options = self.options
        if "choices" in options:
            value = "{" + ",".join(str(choice) for choice in options["choices"]) + "}"
        elif "metavar" in options:
            value = str(options["metavar"])
        elif self.positional:
            value = self.names[0]
        else:
            value = self.names[-1].lstrip("-").replace("-", "_").upper()
        if self.positional:
            return value + (" ..." if options.get("nargs") in ("+", "*") else "")
        action = options.get("action")
        # Flags, and custom actions (`action=_VersionAction`), show no value.
        if action in ("store_true", "store_false", "version") or isinstance(action, _Unreadable):
            return ", ".join(self.names)
        return ", ".join(f"{name} {value}" for name in self.names)

    def help(self) -> str:
        """The help text, with "(default: ...)" appended as `_HelpFormatter` does (and
        "(repeatable)" for `action="append"`, which `--help` leaves unsaid)."""
        text = self.options.get("help") or ""
        if self.options.get("action") == "append" and "repeatable" not in text:
            text += " (repeatable)"
        default = self.options.get("default")
        unset = default is None or default is False or default == []
        if not unset and "default" not in text:
            text += f" (default: {default})"
        if self.options.get("required") or self.positional:
            text += " (required)"
        return text


class _Reader:
    def __init__(self, root: pathlib.Path):
        self.root = root
        self.tree = ast.parse((root / SOURCE).read_text())
        self.functions = {
            node.name: node for node in self.tree.body if isinstance(node, ast.FunctionDef)
        }
        self.commands: dict[str, list[_Argument]] = {}
        self.command_help: dict[str, str] = {}
        self.names: dict[str, tuple[str, str | None]] = {}  # local name -> (module, attribute)

    # -- values ---------------------------------------------------------------------------

    def _module_constant(self, module: str, name: str, node: ast.AST) -> Any:
        path = self.root / (module.replace(".", "/") + ".py")
        if not path.is_file():
            path = self.root / module.replace(".", "/") / "__init__.py"
        for statement in ast.parse(path.read_text()).body:
            targets = (
                statement.targets
                if isinstance(statement, ast.Assign)
                else [statement.target]
                if isinstance(statement, ast.AnnAssign)
                else []
            )
            for target in targets:
                if isinstance(target, ast.Name) and target.id == name and statement.value:
                    return ast.literal_eval(statement.value)
        raise self._error(node, f"cannot find the constant {module}.{name}")

    def value(self, node: ast.AST) -> Any:
        try:
            return ast.literal_eval(node)
        except ValueError:
            pass
        if isinstance(node, ast.Name) and node.id in self.names:
            module, attribute = self.names[node.id]
            if attribute is not None:
                return self._module_constant(module, attribute, node)
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in self.names
            and self.names[node.value.id][1] is None
        ):
            return self._module_constant(self.names[node.value.id][0], node.attr, node)
        return _Unreadable(ast.unparse(node))

    def _error(self, node: ast.AST, message: str) -> PluginError:
        return PluginError(f"{SOURCE}:{getattr(node, 'lineno', '?')}: {message}")

    # -- statements -----------------------------------------------------------------------

    def read(self) -> None:
        build = self.functions.get("_build_parser")
        if build is None:
            raise PluginError(f"{SOURCE}: no _build_parser() to read the options from")
        self._run(build.body, {})

    def _run(self, body: list[ast.stmt], parsers: dict[str, str]) -> str | None:
        """Reads a function body; returns the command of the parser it returns, if any."""
        for statement in body:
            if isinstance(statement, ast.ImportFrom) and statement.module:
                for alias in statement.names:
                    local = alias.asname or alias.name
                    # `from rlkit.replay import base as b` is a module; `from rlkit.devices
                    # import DEVICES` a constant: tell them apart by the file system.
                    module = f"{statement.module}.{alias.name}"
                    if (self.root / (module.replace(".", "/") + ".py")).is_file():
                        self.names[local] = (module, None)
                    else:
                        self.names[local] = (statement.module, alias.name)
            elif isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call):
                target = statement.targets[0]
                if isinstance(target, ast.Name):
                    command = self._call(statement.value, parsers)
                    if command is not None:
                        parsers[target.id] = command
            elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
                self._call(statement.value, parsers)
            elif isinstance(statement, ast.Return) and isinstance(statement.value, ast.Name):
                return parsers.get(statement.value.id)
        return None

    def _helper(self, call: ast.Call, parsers: dict[str, str]) -> str | None:
        """A call `f(...)` that is passed parsers: reads `f`'s body with them bound to its
        parameters; returns the command of the parser `f` returns, if any."""
        passed = [*enumerate(call.args), *((k.arg, k.value) for k in call.keywords if k.arg)]
        passed = [(key, arg.id) for key, arg in passed if getattr(arg, "id", None) in parsers]
        if not passed:
            return None
        name = call.func.id
        helper = self.functions.get(name)
        if helper is None:
            raise self._error(call, f"{name}(...) is passed a parser but is not read")
        positional = [a.arg for a in helper.args.posonlyargs + helper.args.args]
        keywords = set(positional[len(helper.args.posonlyargs) :])
        keywords |= {a.arg for a in helper.args.kwonlyargs}
        scope = {}  # The helper sees its parameters, not the caller's names.
        for key, local in passed:
            if isinstance(key, int):
                parameter = positional[key] if key < len(positional) else None
            else:
                parameter = key if key in keywords else None
            if parameter is None:
                raise self._error(call, f"{name}(...): no parameter for the parser {local}")
            scope[parameter] = parsers[local]
        return self._run(helper.body, scope)

    def _call(self, call: ast.Call, parsers: dict[str, str]) -> str | None:
        """Interprets one call; returns the command a new parser object stands for."""
        func = call.func
        if isinstance(func, ast.Name):
            if func.id == "_Parser":
                self.commands.setdefault("rlkit", [])
                return "rlkit"
            return self._helper(call, parsers)
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            return None
        owner = parsers.get(func.value.id)
        if owner is None:
            return None
        keywords = {k.arg: self.value(k.value) for k in call.keywords if k.arg}
        if func.attr == "add_subparsers":
            return "<commands>"
        if func.attr == "add_parser" and owner == "<commands>":
            name = self.value(call.args[0])
            self.commands.setdefault(name, [])
            self.command_help[name] = keywords.get("help", "")
            return name
        if func.attr == "add_argument" and owner != "<commands>":
            names = [self.value(arg) for arg in call.args]
            if not all(isinstance(name, str) for name in names):
                raise self._error(call, "an argument name that is not a literal")
            help_text = keywords.get("help")
            if help_text is not None and not isinstance(help_text, str):
                raise self._error(call, f"the help of {names[0]} is not a literal string")
            self.commands[owner].append(_Argument(names, keywords))
            return None
        if func.attr in ("set_defaults",):
            return None
        raise self._error(call, f"{func.value.id}.{func.attr}(...) is not understood")


class _Unreadable:
    """A keyword value that is not a literal (e.g. `type=_positive_int`): never shown."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _cell(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|")


def _table(arguments: list[_Argument]) -> str:
    lines = ["| argument | meaning |", "|---|---|"]
    for argument in arguments:
        lines.append(f"| `{_cell(argument.usage())}` | {_cell(argument.help())} |")
    return "\n".join(lines)


_READER: _Reader | None = None


def on_pre_build(config, **kwargs) -> None:
    global _READER
    _READER = _Reader(pathlib.Path(config["config_file_path"]).parent)
    _READER.read()


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    def replace(match: re.Match) -> str:
        command = match.group(1)
        if _READER is None or command not in _READER.commands:
            known = ", ".join(sorted(_READER.commands)) if _READER else "none"
            raise PluginError(
                f"{page.file.src_uri}: no command {command!r} in {SOURCE} (known: {known})"
            )
        return _table(_READER.commands[command])

    def commands(match: re.Match) -> str:
        lines = ["| command | what it does |", "|---|---|"]
        for name, help_text in _READER.command_help.items():
            lines.append(f"| [`rlkit {name}`](#rlkit-{name}) | {_cell(help_text)} |")
        return "\n".join(lines)

    markdown = COMMANDS_MARKER.sub(commands, markdown)
    return MARKER.sub(replace, markdown)
