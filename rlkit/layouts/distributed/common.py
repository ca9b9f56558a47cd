"""What the Ray layout's workers share: Ray itself, the acting environment, buffered logs."""

from __future__ import annotations

from typing import Any

from rlkit import errors
from rlkit.layouts import base

# Seeds of actor i's environment and PRNG: far apart from each other and from evaluation's
# (as in single-process runs).
ACTOR_SEED_STRIDE = 10_007


def import_ray() -> Any:
    """The `ray` module; `ConfigError` naming the extra to install without it."""
    try:
        import ray
    except ImportError:
        raise errors.ConfigError(
            "Distributed runs need Ray: pip install 'rlkit-jax[distributed]' "
            "(with constraints.txt)."
        ) from None
    return ray


def spec_and_networks(config: base.ExperimentLike, seed: int):
    """An acting environment of the run, its spec, its sub-environments (None: one) and
    the networks."""
    environment, spec, num_envs = base.acting_environment(config, seed)
    return environment, spec, num_envs, config.network_factory(spec)
