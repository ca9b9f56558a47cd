"""Gymnasium vector environments as one batched dm_env environment.

`VectorGymWrapper` presents a `gymnasium.vector.VectorEnv` of N sub-environments as a
dm_env environment whose timesteps carry a leading axis of N on every field, `step_type`
included. Each sub-environment keeps the dm_env contract exactly, as `GymWrapper` does for
one environment:

- a `terminated` step is `LAST` with discount 0, a `truncated` one `LAST` with discount 1,
  and both carry the episode's true final observation (so a truncation bootstraps from it);
- the step after a sub-environment's `LAST` is its `FIRST`: gymnasium's `NEXT_STEP`
  auto-reset resets it there, its action on that step is ignored, and its reward and
  discount are 0 and 1 (the batched stand-ins for dm_env's `None`);
- the other sub-environments step on as usual meanwhile.

Specs (`observation_spec()`, `action_spec()`, ...) describe one sub-environment, so agents
build their networks as for a single environment; `num_envs` says how many there are.
"""

from __future__ import annotations

from typing import Any

import dm_env
import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode

from rlkit import errors
from rlkit import specs as specs_lib
from rlkit.wrappers import gym_wrapper

FIRST, MID, LAST = (np.int8(step_type) for step_type in dm_env.StepType)


def num_envs(environment: dm_env.Environment) -> int | None:
    """How many sub-environments a batched environment steps at once; None for a single one.

    Wrappers pass the attribute through (`EnvironmentWrapper` delegates what it lacks).
    """
    count = getattr(environment, "num_envs", None)
    return None if count is None else int(count)


def _to_gym_action_leaf(space: gymnasium.spaces.Space):
    dtype = space.dtype
    return lambda action: np.asarray(action, dtype=dtype)


class VectorGymWrapper(gym_wrapper.GymnasiumEnvironment):
    """Presents a `gymnasium.vector.VectorEnv` as a batched `dm_env.Environment`.

    Timesteps are `dm_env.TimeStep`s of arrays with a leading axis of `num_envs`:
    `step_type` (int8 `dm_env.StepType` values), `reward`, `discount` and `observation`.
    `step(actions)` takes actions stacked on that axis, each within the sub-environment's
    action spec (else `InvalidActionError`). `step` on a fresh wrapper resets every
    sub-environment and ignores the actions, as `dm_env` asks.

    Args:
      environment: a vector environment whose `autoreset_mode` is `NEXT_STEP` (gymnasium's
        default for `SyncVectorEnv` and `AsyncVectorEnv`).
      seed: seeds the first `reset` (sub-environment i gets `seed + i`, gymnasium's rule).
    """

    def __init__(self, environment: gymnasium.vector.VectorEnv, seed: int | None = None):
        mode = environment.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if AutoresetMode(mode) is not AutoresetMode.NEXT_STEP:
            raise errors.ConfigError(
                f"VectorGymWrapper needs a vector environment with autoreset_mode=NEXT_STEP "
                f"(each sub-environment's FIRST step follows its LAST one), got {mode}. Make "
                "it with gymnasium.vector.SyncVectorEnv(..., autoreset_mode="
                "gymnasium.vector.AutoresetMode.NEXT_STEP) or AsyncVectorEnv likewise."
            )
        self._environment = environment
        self.num_envs = int(environment.num_envs)
        self._pending_seed = seed
        self._observation_spec = gym_wrapper.space_to_spec(
            environment.single_observation_space, "observation"
        )
        self._action_spec = gym_wrapper.space_to_spec(environment.single_action_space, "action")
        self._convert_observation = specs_lib.make_caster(self._observation_spec)
        self._validate_actions = gym_wrapper.make_action_validator(
            self._action_spec, "actions", batch_shape=(self.num_envs,)
        )
        self._to_gym_actions = gym_wrapper._space_converter(
            environment.single_action_space, _to_gym_action_leaf
        )
        self._ended = np.zeros(self.num_envs, bool)  # Sub-environments whose last step was LAST.
        self._needs_reset = True
        self.last_info: dict[str, Any] = {}

    def reset(self, seed: int | None = None) -> dm_env.TimeStep:
        """Starts a new episode in every sub-environment; `seed` (or the constructor's seed,
        once) reseeds them."""
        if seed is None:
            seed, self._pending_seed = self._pending_seed, None
        observation, self.last_info = self._environment.reset(seed=seed)
        self._ended[:] = False
        self._needs_reset = False
        return dm_env.TimeStep(
            np.full(self.num_envs, FIRST),
            np.zeros(self.num_envs),
            np.ones(self.num_envs),
            self._convert_observation(observation),
        )

    def step(self, actions) -> dm_env.TimeStep:
        if self._needs_reset:
            return self.reset()
        self._validate_actions(actions)
        observation, reward, terminated, truncated, self.last_info = self._environment.step(
            self._to_gym_actions(actions)
        )
        terminated = np.asarray(terminated)
        ended = terminated | np.asarray(truncated)
        restarted = self._ended  # NEXT_STEP: these were reset by this step, their action unused.
        if restarted.any():
            ended &= ~restarted
            terminated = terminated & ~restarted
            step_type = np.where(restarted, FIRST, np.where(ended, LAST, MID))
            reward = np.where(restarted, 0.0, np.asarray(reward, np.float64))
        else:  # Most steps: no restarts, fewer array operations.
            step_type = np.where(ended, LAST, MID)
            reward = np.asarray(reward, np.float64)
        self._ended = ended
        discount = 1.0 - terminated  # Terminated: 0; truncated or running: 1.
        return dm_env.TimeStep(step_type, reward, discount, self._convert_observation(observation))
