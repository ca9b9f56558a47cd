"""Experiments: run an agent with evaluation, checkpoints, logging and policy export."""

from rlkit.experiments.checkpointing import Checkpointer
from rlkit.experiments.config import LOGGER_KINDS, ExperimentConfig
from rlkit.experiments.evaluator import Evaluator
from rlkit.experiments.make import make_experiment_config
from rlkit.experiments.policy import SavedPolicy, export_policy, load_policy, policy_description
from rlkit.experiments.run_experiment import (
    ExperimentInterrupted,
    ExperimentResult,
    run_experiment,
)

__all__ = [
    "LOGGER_KINDS",
    "Checkpointer",
    "Evaluator",
    "ExperimentConfig",
    "ExperimentInterrupted",
    "ExperimentResult",
    "SavedPolicy",
    "export_policy",
    "load_policy",
    "make_experiment_config",
    "policy_description",
    "run_experiment",
]
