"""Base class for dm_env wrappers."""

from __future__ import annotations

from typing import Any

import dm_env


class EnvironmentWrapper(dm_env.Environment):
    """Delegates everything to the wrapped environment; subclasses override what they change.

    Every rlkit wrapper keeps the `dm_env.Environment` contract: `step` on a fresh environment
    or after a `LAST` step starts a new episode (a `FIRST` step; the action is ignored).
    """

    def __init__(self, environment: dm_env.Environment):
        self._environment = environment

    @property
    def environment(self) -> dm_env.Environment:
        return self._environment

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes this wrapper lacks (render, seeds, the gymnasium env...).
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._environment, name)

    def reset(self, **kwargs) -> dm_env.TimeStep:
        return self._environment.reset(**kwargs)

    def step(self, action) -> dm_env.TimeStep:
        return self._environment.step(action)

    def observation_spec(self):
        return self._environment.observation_spec()

    def action_spec(self):
        return self._environment.action_spec()

    def reward_spec(self):
        return self._environment.reward_spec()

    def discount_spec(self):
        return self._environment.discount_spec()

    def render(self):
        return self._environment.render()

    def close(self) -> None:
        self._environment.close()
