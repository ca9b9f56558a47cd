"""Lazy package attributes (PEP 562), so that `import rlkit` does not import JAX.

JAX, Haiku, orbax, TensorFlow (through Reverb) and friends take seconds to import; a
command such as `rlkit agents` or a mistyped argument should not wait for them. A package
lists where each public name lives and imports the module on first attribute access.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Collection, Mapping


def attach(
    package: str,
    exports: Mapping[str, str],
    submodules: Collection[str] = (),
    renamed: Mapping[str, str] | None = None,
) -> None:
    """Makes `package` export `name -> module` and its `submodules`, imported on first use.

    `exports` maps a public name to the module that defines it; `submodules` are names of
    the package's own modules that it exposes as attributes (`rlkit.loggers`); `renamed`
    maps an old public name to its new one, whose use raises an `AttributeError` naming it.
    """
    renamed = dict(renamed or {})

    class LazyPackage(types.ModuleType):
        def __getattr__(self, name: str):  # Only called for names not yet bound.
            if name in submodules:
                return importlib.import_module(f"{package}.{name}")
            module_name = exports.get(name)
            if module_name is None and name in renamed:
                raise AttributeError(
                    f"{package}.{name} is now {package}.{renamed[name]} (renamed; "
                    "docs/architecture.md lists what moved)."
                )
            if module_name is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            value = getattr(importlib.import_module(module_name), name)
            setattr(self, name, value)  # The next access is a plain attribute lookup.
            return value

        def __setattr__(self, name: str, value) -> None:
            # Importing a submodule binds it on its package: `rlkit.experiments.run_experiment`
            # (the module) would replace the function of that name the package exports.
            if isinstance(value, types.ModuleType) and exports.get(name) == value.__name__:
                value = getattr(value, name)
            super().__setattr__(name, value)

        def __dir__(self) -> list[str]:
            return sorted({*super().__dir__(), *exports, *submodules})

    sys.modules[package].__class__ = LazyPackage
