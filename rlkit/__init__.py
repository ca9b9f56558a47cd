"""rlkit: reinforcement learning in the style of Acme, on JAX, with in-process or Reverb replay."""

# First: sets XLA's CPU flags before anything can start the backend (see rlkit/_xla_setup.py).
from rlkit import _xla_setup  # noqa: F401, I001

from typing import TYPE_CHECKING

from rlkit import _lazy
from rlkit.errors import (
    CheckpointError,
    ConfigError,
    InvalidActionError,
    InvalidBatchError,
    RemoteEnvironmentError,
    ReplayTimeoutError,
    ResetRequiredError,
    RlkitError,
    UnknownEnvironmentError,
)

__version__ = "0.1.0"

# Imported on first use (see rlkit/_lazy.py): the command line and a bare `import rlkit`
# stay quick, as most of these import JAX.
_EXPORTS = {
    "Actor": "rlkit.core",
    "ActorLearnerBuilder": "rlkit.builders",
    "Agent": "rlkit.agent",
    "EnvironmentLoop": "rlkit.environment_loop",
    "EnvironmentSpec": "rlkit.specs",
    "Learner": "rlkit.core",
    "LearningSchedule": "rlkit.builders",
    "LocalLayout": "rlkit.layouts.local",
    "Saveable": "rlkit.core",
    "VariableSource": "rlkit.core",
    "Worker": "rlkit.core",
    "make_environment": "rlkit.environments",
    "make_environment_spec": "rlkit.specs",
    "make_vector_environment": "rlkit.environments",
}
_lazy.attach(
    __name__, _EXPORTS, submodules=("loggers", "remote", "replay", "specs", "types", "wrappers")
)

if TYPE_CHECKING:
    from rlkit import loggers, remote, replay, specs, types, wrappers
    from rlkit.agent import Agent
    from rlkit.builders import ActorLearnerBuilder, LearningSchedule
    from rlkit.core import Actor, Learner, Saveable, VariableSource, Worker
    from rlkit.environment_loop import EnvironmentLoop
    from rlkit.environments import make_environment, make_vector_environment
    from rlkit.layouts.local import LocalLayout
    from rlkit.specs import EnvironmentSpec, make_environment_spec

__all__ = [
    "Actor",
    "ActorLearnerBuilder",
    "Agent",
    "CheckpointError",
    "ConfigError",
    "EnvironmentLoop",
    "EnvironmentSpec",
    "InvalidActionError",
    "InvalidBatchError",
    "RemoteEnvironmentError",
    "ReplayTimeoutError",
    "Learner",
    "LearningSchedule",
    "LocalLayout",
    "ResetRequiredError",
    "RlkitError",
    "Saveable",
    "UnknownEnvironmentError",
    "VariableSource",
    "Worker",
    "make_environment",
    "make_environment_spec",
    "make_vector_environment",
    "loggers",
    "remote",
    "replay",
    "specs",
    "types",
    "wrappers",
]
