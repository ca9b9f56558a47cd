"""Checking a gymnasium environment id before anything is built from it."""

from __future__ import annotations

import difflib
import sys

import gymnasium

from rlkit import errors
from rlkit.remote.address import is_remote_environment_id, parse_remote_environment_id


def _registered_ids() -> list[str]:
    return sorted(gymnasium.registry.keys())


def check_environment_id(env_id: str) -> None:
    """Raises `UnknownEnvironmentError` (suggesting close ids) unless gymnasium knows `env_id`.

    A served id (`remote://HOST:PORT/ENV_ID`) is checked for its form only (`ConfigError`);
    the server judges the id it serves when the environment is made.
    """
    if is_remote_environment_id(env_id):
        parse_remote_environment_id(env_id)
        return
    if env_id not in gymnasium.registry:
        close = difflib.get_close_matches(env_id, _registered_ids(), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        if env_id.startswith("ALE/") and "ale_py" not in sys.modules:
            hint += (
                " Atari games: rlkit.wrappers.make_atari_environment(env_id) registers ale-py's"
                " ids (pip install 'rlkit-jax[atari]')."
            )
        raise errors.UnknownEnvironmentError(
            f"Unknown environment id {env_id!r}.{hint} "
            "List the registered ids with `gymnasium.pprint_registry()`."
        )
