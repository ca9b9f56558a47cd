"""Truncates episodes after a fixed number of steps (a bootstrapping `LAST`)."""

from __future__ import annotations

import dm_env

from rlkit.wrappers.base import EnvironmentWrapper


class StepLimitWrapper(EnvironmentWrapper):
    """Ends each episode after `step_limit` steps as a truncation: `LAST` with the discount
    the environment gave (not 0), so learners bootstrap through the cut."""

    def __init__(self, environment: dm_env.Environment, step_limit: int):
        super().__init__(environment)
        if step_limit < 1:
            raise ValueError(f"step_limit must be a positive integer, got {step_limit}.")
        self._step_limit = step_limit
        self._elapsed_steps = 0
        self._needs_reset = True

    def reset(self, **kwargs) -> dm_env.TimeStep:
        self._elapsed_steps = 0
        self._needs_reset = False
        return self._environment.reset(**kwargs)

    def step(self, action) -> dm_env.TimeStep:
        if self._needs_reset:
            return self.reset()
        timestep = self._environment.step(action)
        self._elapsed_steps += 1
        if self._elapsed_steps >= self._step_limit and not timestep.last():
            timestep = timestep._replace(step_type=dm_env.StepType.LAST)
        self._needs_reset = timestep.last()
        return timestep
