"""`make_environment`: a gymnasium id to a ready dm_env environment."""

from __future__ import annotations

import difflib
import sys

import dm_env
import gymnasium

from rlkit import errors, wrappers


def _registered_ids() -> list[str]:
    return sorted(gymnasium.registry.keys())


def check_environment_id(env_id: str) -> None:
    """Raises `UnknownEnvironmentError` (suggesting close ids) unless gymnasium knows `env_id`."""
    if env_id not in gymnasium.registry:
        close = difflib.get_close_matches(env_id, _registered_ids(), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        if env_id.startswith("ALE/") and "ale_py" not in sys.modules:
            hint += (
                " Atari games: rlkit.wrappers.make_atari_environment(env_id) registers ale-py's"
                " ids (pip install 'rlkit[atari]')."
            )
        raise errors.UnknownEnvironmentError(
            f"Unknown environment id {env_id!r}.{hint} "
            "List the registered ids with `gymnasium.pprint_registry()`."
        )


def make_environment(env_id: str, *, seed: int | None = None, **kwargs) -> dm_env.Environment:
    """`gymnasium.make(env_id, **kwargs)`, as a single-precision dm_env environment.

    Args:
      env_id: a registered gymnasium id, e.g. "CartPole-v1".
      seed: seeds the first `reset`; the same seed reproduces the same episodes.
      **kwargs: passed to `gymnasium.make` (e.g. `render_mode="rgb_array"`).

    Raises:
      UnknownEnvironmentError: `env_id` is not registered; the message suggests close ids.
      ConfigError: a keyword argument the environment does not take.
    """
    check_environment_id(env_id)
    try:
        environment = gymnasium.make(env_id, **kwargs)
    except gymnasium.error.DeprecatedEnv as error:
        raise errors.UnknownEnvironmentError(f"{error} (asked for {env_id!r}).") from error
    except TypeError as error:
        if not kwargs:
            raise
        raise errors.ConfigError(
            f"gymnasium.make({env_id!r}, {', '.join(f'{k}={v!r}' for k, v in kwargs.items())}) "
            f"failed: {error}. Check the environment's keyword arguments."
        ) from None
    try:
        return wrappers.SinglePrecisionWrapper(wrappers.GymWrapper(environment, seed=seed))
    except Exception:
        environment.close()
        raise
