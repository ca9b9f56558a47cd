"""The package's structure, read from its source: layers, no import circles, short functions.

`rlkit/` is built in layers, each importing only from the layers below it (and within
itself, without circles). What the layers are, and why, is `docs/architecture.md`. Imports
inside functions are kept for optional heavy dependencies and for what keeps the command
line's start quick; everything else is imported where a reader looks first, at the top.

    python -m tests.test_structure      # the report: layers, circles, long functions
"""

from __future__ import annotations

import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rlkit"

# Lowest first. A module belongs to the layer of the longest prefix listed here.
LAYERS: list[tuple[str, ...]] = [
    ("rlkit.errors", "rlkit.types", "rlkit._lazy", "rlkit._xla_setup", "rlkit.utils"),
    ("rlkit._ray_logs", "rlkit._reverb_logs", "rlkit.specs", "rlkit.core", "rlkit.configs"),
    # rlkit.remote: the package reads remote ids (address) for recipes; its protocol and
    # client sit with the wrappers; its server builds environments with rlkit.environments.
    ("rlkit.loggers", "rlkit.devices", "rlkit.recipes", "rlkit.remote"),
    # rlkit.jax_environments: JAX environments, whose host adapter checks actions as the
    # wrappers do.
    (
        "rlkit.wrappers",
        "rlkit.replay",
        "rlkit.jax",
        "rlkit.jax_environments",
        "rlkit.remote.protocol",
        "rlkit.remote.client",
    ),
    ("rlkit.environments", "rlkit.environment_loop", "rlkit.builders", "rlkit.remote.server"),
    ("rlkit.agent",),
    ("rlkit.layouts",),
    ("rlkit.agents",),
    ("rlkit.experiments",),
    ("rlkit.analysis",),
    ("rlkit.cli",),
    ("rlkit",),
]

MAX_FUNCTION_LINES = 80

# Modules a function may import inside itself: optional dependencies that are heavy or not
# installed everywhere.
OPTIONAL_OR_HEAVY = (
    "ray",
    "reverb",
    "tensorflow",
    "matplotlib",
    "imageio",
    "wandb",
    "optuna",
    "tensorboardX",
    "pyarrow",
    "ale_py",
    "mujoco",
    "moviepy",
    "minari",
    "gymnax",
    "envpool",
    "rlkit.replay.dataset",  # Reverb's datasets: imports Reverb (and TensorFlow).
)
# Modules that import inside functions to keep start-up quick: the command line and the
# registry answer `rlkit --help` and `rlkit agents` without JAX, OmegaConf or gymnasium;
# `import rlkit` sets XLA's flags before JAX starts (`_xla_setup`), and names the devices
# without starting it (`devices`); `load_policy` checks its path before JAX loads.
FAST_START_MODULES = (
    "rlkit.cli",
    "rlkit.agents.registry",
    "rlkit.experiments.policy",
    "rlkit._xla_setup",
    "rlkit.devices",
)


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, pathlib.Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str, known: dict[str, pathlib.Path]) -> str | None:
    """The rlkit module `name` is, or the package it is a name of (None: not rlkit's)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool):
    """The full dotted names an import statement loads (`from a import b` may be a.b)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = module.split(".")
        anchor = anchor if is_package else anchor[:-1]
        anchor = anchor[: len(anchor) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
    return [f"{base}.{alias.name}" for alias in node.names]


class _ImportVisitor(ast.NodeVisitor):
    """Top-level imports (outside functions and `if TYPE_CHECKING:`) and function-level ones."""

    def __init__(self, module: str, is_package: bool):
        self.module, self.is_package = module, is_package
        self.top: list[tuple[int, str]] = []
        self.inside: list[tuple[int, str, str]] = []  # (line, function, imported)
        self._functions: list[str] = []

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node):
            self.generic_visit(node)
        else:
            for child in node.orelse:
                self.visit(child)

    def _visit_function(self, node) -> None:
        self._functions.append(node.name)
        self.generic_visit(node)
        self._functions.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _visit_function

    def _visit_import(self, node) -> None:
        for name in _imported_names(node, self.module, self.is_package):
            if self._functions:
                self.inside.append((node.lineno, self._functions[-1], name))
            else:
                self.top.append((node.lineno, name))

    visit_Import = visit_ImportFrom = _visit_import


def read_imports():
    """`(graph, inside)`: module -> {imported rlkit module: line} at the top level, and every
    import made inside a function: (module, line, function, imported name)."""
    known = modules()
    graph: dict[str, dict[str, int]] = {}
    inside = []
    for module, path in known.items():
        visitor = _ImportVisitor(module, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(), str(path)))
        edges = graph.setdefault(module, {})
        for line, name in visitor.top:
            target = resolve(name, known) if name.startswith("rlkit") else None
            if target is not None and target != module and not module.startswith(target + "."):
                edges.setdefault(target, line)
        inside += [(module, line, function, name) for line, function, name in visitor.inside]
    return graph, inside


def circles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer(module: str) -> int:
    best, best_length = None, -1
    for number, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = number, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer of tests/test_structure.py's LAYERS")
    return best


def upward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    return [
        f"{module}:{line} imports {target} (layer {layer(target)} > {layer(module)})"
        for module, edges in sorted(graph.items())
        for target, line in sorted(edges.items())
        if layer(target) > layer(module)
    ]


def long_functions() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    where = path.relative_to(ROOT)
                    found.append(f"{where}:{node.lineno} {node.name} ({length} lines)")
    return found


def imports_inside_functions() -> list[str]:
    _, inside = read_imports()
    return [
        f"{module}:{line} {function}() imports {name}"
        for module, line, function, name in inside
        if not name.startswith(OPTIONAL_OR_HEAVY) and not module.startswith(FAST_START_MODULES)
    ]


def test_no_import_circles():
    graph, _ = read_imports()
    assert circles(graph) == []


def test_no_import_runs_up_the_layers():
    graph, _ = read_imports()
    assert upward_imports(graph) == []


def test_no_function_is_longer_than_a_screen():
    assert long_functions() == []


def test_functions_import_only_optional_or_slow_modules():
    assert imports_inside_functions() == []


def test_the_checks_see_what_they_look_for():
    """The checks themselves: a circle, an upward import and a long function are found."""
    assert circles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [
        ["a", "b", "c"]
    ]
    graph = {"rlkit.core": {"rlkit.experiments.config": 3}}
    assert upward_imports(graph) == ["rlkit.core:3 imports rlkit.experiments.config (layer 8 > 1)"]
    source = "def f():\n" + "    x = 1\n" * MAX_FUNCTION_LINES
    (node,) = ast.parse(source).body
    assert node.end_lineno - node.lineno + 1 == MAX_FUNCTION_LINES + 1
    visitor = _ImportVisitor("rlkit.m", False)
    visitor.visit(
        ast.parse("import os\nif TYPE_CHECKING:\n    import jax\ndef g():\n    import ray\n")
    )
    assert visitor.top == [(1, "os")] and visitor.inside == [(5, "g", "ray")]


if __name__ == "__main__":
    graph, _ = read_imports()
    for title, lines in [
        ("import circles", [" -> ".join(c) for c in circles(graph)]),
        ("imports up the layers", upward_imports(graph)),
        (f"functions over {MAX_FUNCTION_LINES} lines", long_functions()),
        ("imports inside functions", imports_inside_functions()),
    ]:
        print(f"{title}: {len(lines)}")
        for line in lines:
            print(f"  {line}")
