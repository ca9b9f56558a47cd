"""What every layout hands the experiment runner, and what the runner hands a layout.

A layout lays one builder's pieces out: in this process (`rlkit.layouts.local`), or over Ray
(`rlkit.layouts.distributed`). The runner (`rlkit.experiments.run_experiment`) calls a layout
factory `(experiment_config, LayoutContext) -> TrainingLayout` and drives what it gets back
the same way whatever the layout: training stretches, evaluation, checkpoints and export.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import dm_env

from rlkit import builders, errors, specs
from rlkit.utils import counting
from rlkit.wrappers import vector


class TrainingLayout(NamedTuple):
    """What the runner drives: `agent` is saved, restored, checkpointed and exported through
    (`save`, `restore`, `restart_warm_up`, `checkpoint_replay`, `get_variables`) and makes
    the evaluation actor; `train_loop.run(num_steps)` trains until the counter has counted
    that many more actor steps; `counter` is where every count is kept."""

    agent: Any
    train_loop: Any
    counter: Any


class LayoutContext(NamedTuple):
    """What a layout factory gets from the runner: the counts to continue from, the
    loggers, where replay checkpoints go and which one to restore (None: empty tables),
    the replay backend, the run's exit stack, `latest_state(like)` (the agent state of the
    latest checkpoint written or resumed from, in the structure of `like`; None without
    one) for a layout that must bring a restarted process back, where the run's log files
    go (None: nowhere), and the seed of the evaluation policy's randomness."""

    counter: counting.Counter
    loggers: dict[str, Any]
    replay_checkpoint_dir: str | None
    restore_replay_from: str | None
    replay_backend: str
    stack: contextlib.ExitStack
    latest_state: Callable[[Any], Any]
    logs_dir: str | None = None
    evaluation_seed: int = 0


class ExperimentLike(Protocol):
    """The fields of an `rlkit.experiments.ExperimentConfig` a layout reads."""

    builder: builders.ActorLearnerBuilder
    environment_factory: Callable[[int], dm_env.Environment]
    evaluation_environment_factory: Callable[[int], dm_env.Environment] | None
    network_factory: Callable[[specs.EnvironmentSpec], Any]
    seed: int
    learn_in_background: bool
    device: str


LayoutFactory = Callable[[Any, LayoutContext], TrainingLayout]


def acting_environment(
    config: ExperimentLike, seed: int
) -> tuple[dm_env.Environment, specs.EnvironmentSpec, int | None]:
    """An acting environment of the run (seeded `seed`), its spec and its sub-environments
    (None: one environment), which must be what the builder acts in
    (`ActorLearnerBuilder.num_envs`): the config is the one source of `num_envs`."""
    environment = config.environment_factory(seed)
    num_envs = vector.num_envs(environment)
    try:
        builders.check_num_envs(config.builder, num_envs)
    except errors.ConfigError:
        environment.close()
        raise
    return environment, specs.make_environment_spec(environment), num_envs


def training_environment(
    config: ExperimentLike,
) -> tuple[dm_env.Environment, specs.EnvironmentSpec, int | None]:
    """The training environment of `config`, its spec and `num_envs` (None: not batched)."""
    environment, spec, num_envs = acting_environment(config, config.seed)
    if num_envs is not None and config.evaluation_environment_factory is None:
        environment.close()
        raise errors.ConfigError(
            f"environment_factory makes a batched environment ({num_envs} sub-environments), "
            "but the evaluator makes its own single ones: give ExperimentConfig an "
            "evaluation_environment_factory that makes a single environment."
        )
    return environment, spec, num_envs
