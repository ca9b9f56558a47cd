"""How a family finds a config's variant in its `VARIANTS` table.

Each family's builder keeps a table from config class to what makes that agent (its loss or
SGD step, its network head, its optimiser). A config subclass without a row of its own is
its nearest base class's agent with other defaults (Rainbow is C51's row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

VariantT = TypeVar("VariantT")


def variant_of(variants: Mapping[type, VariantT], config: Any, table: str) -> VariantT:
    """`config`'s row of `variants` (its class's, else its nearest base class's); a
    `TypeError` naming `table` (where to add a row) for a config of no variant."""
    for config_class in type(config).__mro__:
        if config_class in variants:
            return variants[config_class]
    raise TypeError(
        f"{type(config).__name__} names no agent of this family: give it a row of {table} "
        "(or subclass an agent's config)."
    )
