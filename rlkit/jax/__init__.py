"""JAX building blocks: actors, variable clients, networks."""

from rlkit import _xla_setup

_xla_setup.prefer_inline_cpu_dispatch()  # Before any of rlkit's JAX code starts the backend.
_xla_setup.use_persistent_compilation_cache()

# ruff: noqa: E402

from rlkit.jax.actors import ActorCore, GenericActor
from rlkit.jax.networks import (
    MLP,
    FeedForwardNetwork,
    add_batch_dim,
    batch_flatten,
    zeros_like_spec,
)
from rlkit.jax.variable_utils import VariableClient

__all__ = [
    "MLP",
    "ActorCore",
    "FeedForwardNetwork",
    "GenericActor",
    "VariableClient",
    "add_batch_dim",
    "batch_flatten",
    "zeros_like_spec",
]
