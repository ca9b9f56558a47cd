"""Environment wrappers: gymnasium <-> dm_env, dm_env -> dm_env transformations, Atari."""

from rlkit.wrappers.action_repeat import ActionRepeatWrapper
from rlkit.wrappers.atari import AtariWrapper, make_atari_environment
from rlkit.wrappers.base import EnvironmentWrapper
from rlkit.wrappers.canonical_spec import CanonicalSpecWrapper
from rlkit.wrappers.frame_stacking import FrameStackingWrapper
from rlkit.wrappers.gym_wrapper import (
    GymnasiumWrapper,
    GymWrapper,
    UnsupportedSpaceError,
    space_to_spec,
    spec_to_space,
)
from rlkit.wrappers.single_precision import SinglePrecisionWrapper
from rlkit.wrappers.step_limit import StepLimitWrapper
from rlkit.wrappers.vector import VectorGymWrapper, num_envs

__all__ = [
    "ActionRepeatWrapper",
    "AtariWrapper",
    "CanonicalSpecWrapper",
    "EnvironmentWrapper",
    "FrameStackingWrapper",
    "GymWrapper",
    "GymnasiumWrapper",
    "SinglePrecisionWrapper",
    "StepLimitWrapper",
    "UnsupportedSpaceError",
    "VectorGymWrapper",
    "make_atari_environment",
    "num_envs",
    "space_to_spec",
    "spec_to_space",
]
