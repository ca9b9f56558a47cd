"""Environment wrappers: gymnasium <-> dm_env, and dm_env -> dm_env transformations."""

from rlkit.wrappers.action_repeat import ActionRepeatWrapper
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

__all__ = [
    "ActionRepeatWrapper",
    "CanonicalSpecWrapper",
    "EnvironmentWrapper",
    "FrameStackingWrapper",
    "GymWrapper",
    "GymnasiumWrapper",
    "SinglePrecisionWrapper",
    "StepLimitWrapper",
    "UnsupportedSpaceError",
    "space_to_spec",
    "spec_to_space",
]
