"""How a family finds a config's variant in its `VARIANTS` table.

Each family's builder keeps a table from config class to what makes that agent (its loss or
SGD step, its network head, its optimiser). A config subclass without a row of its own is
its nearest base class's agent with other defaults (Rainbow is C51's row).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from rlkit import errors

VariantT = TypeVar("VariantT")

# What configs used to define to choose their variant, before the builders' tables: a config
# class that still defines one would be silently ignored, so it is refused.
LEGACY_HOOKS = (
    "make_head",
    "make_loss",
    "target_network_options",
    "samples_quantiles",
    "make_sgd_step",
    "td3_options",
    "policy_kind",
    "num_critics",
    "critic_kind",
    "loss",
    "optimizer",
    "advantage_estimator",
    "whole_episodes",
    "always_batched",
)


def variant_of(variants: Mapping[type, VariantT], config: Any, table: str) -> VariantT:
    """`config`'s row of `variants` (its class's, else its nearest base class's).

    Raises:
      ConfigError: a config of no variant, or one whose class still chooses its variant
        the old way (e.g. a `make_loss` method): both name `table`, where a row goes.
    """
    fields = {field.name for field in dataclasses.fields(config)}
    for config_class in type(config).__mro__:
        hooks = [name for name in LEGACY_HOOKS if name in vars(config_class) and name not in fields]
        if hooks:
            raise errors.ConfigError(
                f"{config_class.__name__} defines {', '.join(hooks)}: a config is plain data "
                f"now, and its agent's pieces are a row of {table} (docs/architecture.md "
                "shows one)."
            )
        if config_class in variants:
            return variants[config_class]
    raise errors.ConfigError(
        f"{type(config).__name__} names no agent of this family: give it a row of {table} "
        "(or subclass an agent's config)."
    )
