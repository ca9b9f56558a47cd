"""`ExperimentConfig`: everything `run_experiment` needs, agent-agnostic."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import dm_env

from rlkit import builders, devices, errors, specs
from rlkit.layouts import LAYOUTS
from rlkit.replay import servers

LOGGER_KINDS = ("terminal", "csv", "tensorboard", "history", "wandb")
# The evaluator's environments and PRNG are seeded this far from the run's seed; its
# environment i (episodes run side by side) i strides further.
EVALUATION_SEED_OFFSET = 10_000
EVALUATION_SEED_STRIDE = 1_000
# Kinds that write under the run directory.
FILE_LOGGER_KINDS = ("csv", "tensorboard", "history")
# With checkpoints by wall-clock (checkpoint_every=None), the run looks at the clock this often
# (in environment steps): training stops to checkpoint only at such a boundary.
CHECKPOINT_CHECK_STEPS = 10_000
# Evaluations in a run whose eval_every is left to its default: with 5 greedy episodes each,
# a curve of 10 points costs a few percent of training (10 of 10 episodes every 5,000 steps
# used to double a CartPole PPO run).
EVALUATIONS_PER_RUN = 10


@dataclasses.dataclass
class ExperimentConfig:
    """One single-process experiment: an agent (its builder) on an environment.

    Attributes:
      builder: the agent's builder (e.g. `DQNBuilder(config)`).
      environment_factory: `seed -> dm_env environment`; called once for acting and, unless
        `evaluation_environment_factory` is given, for each of the evaluator's environments
        (one per evaluation episode, up to 16, run side by side), each with another seed.
      network_factory: `environment_spec -> networks`.
      max_num_actor_steps: the training budget in environment steps.
      seed: seeds the agent and the environments.
      eval_every: evaluate the evaluation policy every this many steps (0: only at the end;
        None: `EVALUATIONS_PER_RUN` evaluations spread over `max_num_actor_steps`, so that
        evaluation stays a small share of any run, as RL-Zoo's defaults do).
      num_eval_episodes: episodes per evaluation.
      target_return: stop once an evaluation's mean return reaches it.
      run_dir: where checkpoints, logs and the exported policy go; None keeps nothing.
        Running again with the same run_dir resumes from its last checkpoint.
      checkpoint_every: checkpoint every this many steps (0: only at the end; None: by
        wall-clock, every `checkpoint_minutes`, as Acme's checkpointer does). Needs run_dir.
        Whatever the schedule, a run also checkpoints at its end and on Ctrl-C or SIGTERM.
      checkpoint_minutes: with `checkpoint_every=None`, the minutes between checkpoints
        (looked at every `CHECKPOINT_CHECK_STEPS` steps): what a crash can cost at most.
      max_checkpoints_to_keep: older checkpoints are deleted.
      loggers: any of terminal, csv, tensorboard, history (parquet episodes), wandb.
      learn_in_background: run learner steps on a worker thread (see `rlkit.Agent`).
      replay_backend: "auto" (the in-process `local` tables in this single-process runner),
        "local", or "reverb" (a Reverb server in this process: needs `rlkit-jax[reverb]`, and
        its port is open on all interfaces, which is logged).
      device: where the learner runs: "auto" (a GPU when JAX sees one, else the CPU), "cpu"
        or "gpu". Actors act on the CPU.
      evaluation_environment_factory: `seed -> environment` for evaluation (e.g. Atari without
        reward clipping); None: `environment_factory`.
      description: what the run is, by name: `{"agent": ..., "env_id": ..., "env_kwargs": ...,
        "agent_config": {...}}`. Written with the policy so that `rlkit play`/`eval` and
        `rlkit.experiments.load_policy` can rebuild it. `make_experiment_config` fills it in.
      run_dir_files: YAML files (name -> mapping) written into `run_dir` once this run holds
        it, e.g. the command line's record of what was run.
      evaluation_callback: called as `callback(actor_steps, evaluation)` after every
        evaluation (e.g. to report to an optuna trial and prune it by raising).
      jax_environment_factory: `() -> rlkit.jax_environments.JaxEnvironment`, for an
        environment written in JAX (e.g. "gymnax:CartPole-v1"); the Anakin layout trains on
        it, compiled together with the agent. `make_experiment_config` sets it for such ids.
      layout: how the agent is laid out in this process: "auto" (the Anakin layout when there
        is a `jax_environment_factory`, else the local one), "local" (Python steps the
        environment, also a JAX one) or "anakin".
      seeds: several runs of this experiment, one per seed, for
        `rlkit.experiments.run_seeds` (in the Anakin layout all at once, vmapped); `seed`
        is then unused.
    """

    builder: builders.ActorLearnerBuilder
    environment_factory: Callable[[int], dm_env.Environment]
    network_factory: Callable[[specs.EnvironmentSpec], Any]
    max_num_actor_steps: int
    seed: int = 0
    eval_every: int | None = None
    num_eval_episodes: int = 5
    target_return: float | None = None
    run_dir: str | None = None
    checkpoint_every: int | None = None
    checkpoint_minutes: float = 10.0
    max_checkpoints_to_keep: int = 2
    loggers: Sequence[str] = ("terminal", "csv", "history")
    learn_in_background: bool = True
    replay_backend: str = "auto"
    device: str = "auto"
    description: dict[str, Any] | None = None
    evaluation_environment_factory: Callable[[int], dm_env.Environment] | None = None
    run_dir_files: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    evaluation_callback: Callable[[int, dict[str, Any]], None] | None = None
    jax_environment_factory: Callable[[], Any] | None = None
    layout: str = "auto"
    seeds: Sequence[int] | None = None

    def __post_init__(self):
        if self.eval_every is None and isinstance(self.max_num_actor_steps, int):
            self.eval_every = max(1, -(-self.max_num_actor_steps // EVALUATIONS_PER_RUN))
        for name in ("max_num_actor_steps", "num_eval_episodes", "max_checkpoints_to_keep"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise errors.ConfigError(f"{name} must be a positive integer, got {value!r}.")
        for name in ("eval_every", "checkpoint_every"):
            value = getattr(self, name)
            if value is None and name == "checkpoint_every":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise errors.ConfigError(
                    f"{name} must be a non-negative integer (0: only at the end), got {value!r}."
                )
        minutes = self.checkpoint_minutes
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, int | float)
            or not (0 < minutes < float("inf"))
        ):
            raise errors.ConfigError(
                f"checkpoint_minutes must be a positive number of minutes, got {minutes!r}."
            )
        if self.seeds is not None:
            self.seeds = [int(seed) for seed in self.seeds]
            if not self.seeds or len(set(self.seeds)) != len(self.seeds):
                raise errors.ConfigError(f"seeds must be distinct and at least one: {self.seeds}")
        if self.layout not in LAYOUTS:
            raise errors.ConfigError(
                f"Unknown layout {self.layout!r}; choose from: {', '.join(LAYOUTS)}."
            )
        if self.layout == "anakin" and self.jax_environment_factory is None:
            raise errors.ConfigError(
                "The Anakin layout needs an environment written in JAX (a gymnax id such as "
                "'gymnax:CartPole-v1'); use layout='local' for a gymnasium environment."
            )
        servers.resolve_backend(self.replay_backend)  # An unknown name fails here.
        devices.check_device_name(self.device)
        self.loggers = tuple(self.loggers)
        unknown = [kind for kind in self.loggers if kind not in LOGGER_KINDS]
        if unknown:
            raise errors.ConfigError(
                f"Unknown logger {unknown[0]!r}; choose from: {', '.join(LOGGER_KINDS)}."
            )
        if self.run_dir is None and any(k in FILE_LOGGER_KINDS for k in self.loggers):
            self.loggers = tuple(k for k in self.loggers if k not in FILE_LOGGER_KINDS)
