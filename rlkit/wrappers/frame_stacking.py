"""Stacks the last N observations along a new trailing axis."""

from __future__ import annotations

import collections

import dm_env
import numpy as np
import tree
from dm_env import specs

from rlkit.wrappers.base import EnvironmentWrapper


class FrameStackingWrapper(EnvironmentWrapper):
    """Observations become the last `num_frames` observations, stacked on a trailing axis.

    At the start of an episode the stack is filled with copies of the first observation (as
    gymnasium's `FrameStackObservation` does by default). With `flatten=True` the frames are
    merged into the last axis instead (`[..., C] -> [..., C * num_frames]`), as for Atari.
    """

    def __init__(self, environment: dm_env.Environment, num_frames: int = 4, flatten: bool = False):
        super().__init__(environment)
        if num_frames < 1:
            raise ValueError(f"num_frames must be a positive integer, got {num_frames}.")
        self._num_frames = num_frames
        self._flatten = flatten
        self._stacks = None
        self._observation_spec = tree.map_structure(
            self._stacked_spec, environment.observation_spec()
        )

    def _stacked_spec(self, spec):
        if self._flatten and not spec.shape:
            raise ValueError(
                f"flatten=True merges frames into the last axis, but observation {spec!r} is a "
                "scalar; use flatten=False to stack scalars into a vector."
            )
        if self._flatten:
            shape = spec.shape[:-1] + (spec.shape[-1] * self._num_frames,)
        else:
            shape = spec.shape + (self._num_frames,)
        if isinstance(spec, specs.BoundedArray) and spec.minimum.ndim == spec.maximum.ndim == 0:
            # Uniform bounds (pixels in [0, 255]) stay scalars: small specs, fast validation.
            return specs.BoundedArray(shape, spec.dtype, spec.minimum, spec.maximum, name=spec.name)
        if isinstance(spec, specs.BoundedArray):
            minimum = np.broadcast_to(spec.minimum, spec.shape)
            maximum = np.broadcast_to(spec.maximum, spec.shape)
            stack = self._stack_frames
            return specs.BoundedArray(
                shape,
                spec.dtype,
                stack([minimum] * self._num_frames),
                stack([maximum] * self._num_frames),
                name=spec.name,
            )
        return specs.Array(shape, spec.dtype, name=spec.name)

    def _stack_frames(self, frames):
        if self._flatten:
            return np.concatenate(frames, axis=-1)
        return np.stack(frames, axis=-1)

    def _process(self, timestep: dm_env.TimeStep) -> dm_env.TimeStep:
        leaves = tree.flatten(timestep.observation)
        if timestep.first() or self._stacks is None:
            self._stacks = [
                collections.deque([leaf] * self._num_frames, maxlen=self._num_frames)
                for leaf in leaves
            ]
        else:
            for stack, leaf in zip(self._stacks, leaves, strict=True):
                stack.append(leaf)
        stacked = [self._stack_frames(list(stack)) for stack in self._stacks]
        return timestep._replace(observation=tree.unflatten_as(timestep.observation, stacked))

    def reset(self, **kwargs) -> dm_env.TimeStep:
        return self._process(self._environment.reset(**kwargs))

    def step(self, action) -> dm_env.TimeStep:
        return self._process(self._environment.step(action))

    def observation_spec(self):
        return self._observation_spec
