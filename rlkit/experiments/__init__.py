"""Experiments: run an agent with evaluation, checkpoints, logging and policy export."""

from typing import TYPE_CHECKING

from rlkit import _lazy

# Imported on first use (see rlkit/_lazy.py): `load_policy` checks its path before JAX loads.
_EXPORTS = {
    "BestPolicy": "rlkit.experiments.callbacks",
    "Callback": "rlkit.experiments.callbacks",
    "EarlyStopping": "rlkit.experiments.callbacks",
    "OptunaPruning": "rlkit.experiments.callbacks",
    "TrainingRun": "rlkit.experiments.callbacks",
    "LOGGER_KINDS": "rlkit.experiments.config",
    "Checkpointer": "rlkit.experiments.checkpointing",
    "DistributedExperiment": "rlkit.experiments.distributed",
    "make_distributed_experiment": "rlkit.experiments.distributed",
    "run_distributed_experiment": "rlkit.experiments.distributed",
    "Evaluator": "rlkit.experiments.evaluator",
    "ExperimentConfig": "rlkit.experiments.config",
    "ExperimentInterrupted": "rlkit.experiments.run_experiment",
    "ExperimentResult": "rlkit.experiments.run_experiment",
    "SavedPolicy": "rlkit.experiments.policy",
    "export_policy": "rlkit.experiments.policy",
    "load_policy": "rlkit.experiments.policy",
    "make_experiment_config": "rlkit.experiments.make",
    "policy_description": "rlkit.experiments.policy",
    "run_experiment": "rlkit.experiments.run_experiment",
    "run_seeds": "rlkit.experiments.run_experiment",
}
_lazy.attach(__name__, _EXPORTS)

if TYPE_CHECKING:
    from rlkit.experiments.callbacks import (
        BestPolicy,
        Callback,
        EarlyStopping,
        OptunaPruning,
        TrainingRun,
    )
    from rlkit.experiments.checkpointing import Checkpointer
    from rlkit.experiments.config import LOGGER_KINDS, ExperimentConfig
    from rlkit.experiments.distributed import (
        DistributedExperiment,
        make_distributed_experiment,
        run_distributed_experiment,
    )
    from rlkit.experiments.evaluator import Evaluator
    from rlkit.experiments.make import make_experiment_config
    from rlkit.experiments.policy import (
        SavedPolicy,
        export_policy,
        load_policy,
        policy_description,
    )
    from rlkit.experiments.run_experiment import (
        ExperimentInterrupted,
        ExperimentResult,
        run_experiment,
        run_seeds,
    )

__all__ = [
    "LOGGER_KINDS",
    "BestPolicy",
    "Callback",
    "EarlyStopping",
    "OptunaPruning",
    "TrainingRun",
    "Checkpointer",
    "DistributedExperiment",
    "Evaluator",
    "ExperimentConfig",
    "ExperimentInterrupted",
    "ExperimentResult",
    "SavedPolicy",
    "export_policy",
    "load_policy",
    "make_distributed_experiment",
    "make_experiment_config",
    "policy_description",
    "run_distributed_experiment",
    "run_experiment",
    "run_seeds",
]
