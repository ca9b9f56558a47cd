"""Repeats each action several times, accumulating discounted rewards."""

from __future__ import annotations

import dm_env
import numpy as np

from rlkit.wrappers.base import EnvironmentWrapper


class ActionRepeatWrapper(EnvironmentWrapper):
    """Applies each action `num_repeats` times (fewer if the episode ends).

    The reward is `r1 + d1 r2 + d1 d2 r3 + ...` and the discount the product of discounts, so
    that a terminal inside the repeat zeroes the discount as it would without repetition.
    """

    def __init__(self, environment: dm_env.Environment, num_repeats: int = 1):
        super().__init__(environment)
        if num_repeats < 1:
            raise ValueError(f"num_repeats must be a positive integer, got {num_repeats}.")
        self._num_repeats = num_repeats

    def step(self, action) -> dm_env.TimeStep:
        reward = 0.0
        discount = 1.0
        for _ in range(self._num_repeats):
            timestep = self._environment.step(action)
            if timestep.first():  # The previous call ended an episode: this was a reset.
                return timestep
            reward += discount * timestep.reward
            discount *= timestep.discount
            if timestep.last():
                break
        return timestep._replace(
            reward=np.asarray(reward, self.reward_spec().dtype),
            discount=np.asarray(discount, self.discount_spec().dtype),
        )
