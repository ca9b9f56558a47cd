"""Distributed training on Ray: an experiment run by the runner in the Ray layout.

The layout itself (its replay server, learner, actors and counter, and the driver's side)
is `rlkit.layouts.distributed`; here it meets the experiment runner, so that a distributed
run has the run directory, logs, progress, evaluation, checkpoints, export and resume of a
single-process one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rlkit.experiments.callbacks import Callback
from rlkit.experiments.config import ExperimentConfig
from rlkit.experiments.run_experiment import ExperimentResult, run_with_layout
from rlkit.layouts.distributed import RayLayout


class DistributedExperiment:
    """An `ExperimentConfig` laid out on Ray with `num_actors` actors; `run()` trains it,
    with `callbacks` (see `rlkit.experiments.callbacks`).

    `options` are the fields of the layout (`rlkit.layouts.distributed.RayLayout`, kept as
    `layout`): resource requests (`actor_cpus` per actor, `learner_cpus` and
    `learner_gpus`), `ray_address` (a cluster to join; None: a running Ray, or a local one
    started for the run) and `learner_paused` (collection alone, measured without learning).
    """

    def __init__(
        self,
        config: ExperimentConfig,
        num_actors: int,
        callbacks: Sequence[Callback] = (),
        **options: Any,
    ):
        self.config = config
        self.callbacks = list(callbacks)
        self.layout = RayLayout(num_actors, **options)

    def run(self, continue_stopped: bool = False) -> ExperimentResult:
        """Trains (resuming from `config.run_dir`'s last checkpoint, if any); returns the
        `ExperimentResult`. Ctrl-C and SIGTERM checkpoint, stop every Ray actor and raise
        `ExperimentInterrupted`, as in a single-process run. The callbacks run in this
        (the driver's) process, as `run_experiment`'s do."""
        self.layout.check(self.config)  # Before the run directory is touched.
        return run_with_layout(
            self.config, self.layout, self.callbacks, continue_stopped=continue_stopped
        )


def make_distributed_experiment(
    config: ExperimentConfig, num_actors: int, **options: Any
) -> DistributedExperiment:
    """`config` (an `ExperimentConfig`, e.g. from `make_experiment_config`) with `num_actors`
    actors on Ray; `options` are `rlkit.layouts.distributed.RayLayout`'s fields."""
    return DistributedExperiment(config, num_actors, **options)


def run_distributed_experiment(
    config: ExperimentConfig, num_actors: int, **options: Any
) -> ExperimentResult:
    """`make_distributed_experiment(config, num_actors, **options).run()`."""
    return make_distributed_experiment(config, num_actors, **options).run()
