"""`run_experiment`: train, evaluate, checkpoint and export in one process; resume on rerun."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import inspect
import json
import logging
import os
import signal
import threading
import time
from typing import Any, NamedTuple

from rlkit import configs, errors, replay
from rlkit.experiments import checkpointing, policy
from rlkit.experiments import logging as experiment_logging
from rlkit.experiments.config import (
    CHECKPOINT_CHECK_STEPS,
    EVALUATION_SEED_OFFSET,
    EVALUATION_SEED_STRIDE,
    ExperimentConfig,
)
from rlkit.experiments.evaluator import MAX_PARALLEL_EVALUATION_EPISODES, Evaluator
from rlkit.layouts import local as local_layout
from rlkit.layouts.base import LayoutContext, LayoutFactory, TrainingLayout
from rlkit.replay import local as local_replay
from rlkit.utils import counting

_log = logging.getLogger("rlkit.experiments")


@dataclasses.dataclass
class ExperimentResult:
    """What a run reached.

    Attributes:
      actor_steps: environment steps trained (including those before a resume).
      evaluations: every evaluation row, oldest first (`actor_steps`, `return_mean`, ...).
      stop_reason: "steps" (budget spent), "target_return", or "already_finished" (a rerun
        of a finished run did nothing).
      resumed_from: the checkpoint step it resumed from, or None.
      run_dir: where checkpoints, logs and the policy are.
      wall_time: seconds this call took.
      learner_steps: learner steps taken (including those before a resume).
      training_seconds: seconds of this call spent training (evaluations, checkpoints and
        start-up excluded): actor steps per second are the steps trained now over it.
      evaluation_seconds: seconds of this call spent in evaluations.
    """

    actor_steps: int
    evaluations: list[dict[str, Any]]
    stop_reason: str
    resumed_from: int | None
    run_dir: str | None
    wall_time: float
    learner_steps: int = 0
    training_seconds: float = 0.0
    evaluation_seconds: float = 0.0

    @property
    def final_return(self) -> float:
        return self.evaluations[-1]["return_mean"] if self.evaluations else float("nan")


class ExperimentInterrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM (a scheduler's preemption, `kill`) stopped a run.

    `checkpoint_step` is the step of the checkpoint written on the way out (None without a
    run directory); `signal` is the signal's number.
    """

    def __init__(self, checkpoint_step: int | None, signal_number: int):
        super().__init__(f"interrupted by signal {signal_number}; checkpoint {checkpoint_step}")
        self.checkpoint_step = checkpoint_step
        self.signal = signal_number


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the run checkpoints on the way out."""


def _signal_number(interruption: KeyboardInterrupt, guard: _SignalGuard) -> int:
    """The signal behind `interruption`. Ray's blocking calls (`ray.get`, `ray.wait`) run
    pending signal handlers themselves and raise a plain KeyboardInterrupt in place of what
    the handler raised (`check_signals` in Ray's `_raylet.pyx`): a SIGTERM would pass for a
    Ctrl-C, so the guard's own record of the signals it raised decides."""
    if isinstance(interruption, _Terminated) or guard.raised == signal.SIGTERM:
        return signal.SIGTERM
    return signal.SIGINT


class _SignalGuard:
    """Turns SIGINT/SIGTERM into interruptions, held back while a checkpoint is written.

    A signal that arrives inside `protect()` (or after `hold()`, during teardown) is raised
    when the block ends (or at `release()`), so a checkpoint is never cut short. Installed
    only in the main thread (where Python delivers signals) and only over Python-level
    handlers (an ignored signal stays ignored); the previous handlers come back on exit.
    """

    def __init__(self):
        self._depth = 0
        self._pending: int | None = None
        self.raised: int | None = None  # The signal last raised (SIGTERM outranks SIGINT).
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for signal_number in (signal.SIGINT, signal.SIGTERM):
                previous = signal.getsignal(signal_number)
                if previous is signal.SIG_IGN or previous is None:
                    continue
                self._previous[signal_number] = signal.signal(signal_number, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signal_number, handler in self._previous.items():
            signal.signal(signal_number, handler)

    def _handle(self, signal_number: int, frame) -> None:
        if self._depth:
            if self._pending != signal.SIGTERM:  # A termination outranks a Ctrl-C.
                self._pending = signal_number
            return
        if self.raised != signal.SIGTERM:
            self.raised = signal_number
        raise _Terminated() if signal_number == signal.SIGTERM else KeyboardInterrupt()

    def hold(self) -> None:
        """Holds every further signal until `release()`."""
        self._depth += 1

    def release(self) -> None:
        """Ends `hold()`/`protect()`; raises the signal held meanwhile, if any."""
        self._depth -= 1
        if not self._depth and self._pending is not None:
            pending, self._pending = self._pending, None
            self._handle(pending, None)

    @contextlib.contextmanager
    def protect(self):
        self.hold()
        try:
            yield
        finally:
            self.release()


@contextlib.contextmanager
def _exclusive(run_dir: str):
    """Holds `run_dir/.lock` so that two processes never write one run directory."""
    with open(os.path.join(run_dir, ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise errors.CheckpointError(
                f"Run directory {run_dir} is in use by another rlkit process; wait for it to "
                "finish, or use another run directory."
            ) from None
        yield  # The lock goes with the file (and with the process, if it is killed).


def _next_multiple(steps: int, every: int, limit: int) -> int:
    return limit if every <= 0 else min((steps // every + 1) * every, limit)


def _make_evaluator(config: ExperimentConfig, agent: Any, counter, logger) -> Evaluator:
    """The evaluator: its episodes side by side, in up to `MAX_PARALLEL_EVALUATION_EPISODES`
    environments of their own (each seeded apart from training's and from each other)."""
    count = min(config.num_eval_episodes, MAX_PARALLEL_EVALUATION_EPISODES)
    factory = config.evaluation_environment_factory or config.environment_factory
    seeds = [
        config.seed + EVALUATION_SEED_OFFSET + i * EVALUATION_SEED_STRIDE for i in range(count)
    ]
    batched = "num_envs" in inspect.signature(agent.make_evaluation_actor).parameters
    if not batched:  # A layout of one's own whose evaluation actor acts in one environment.
        seeds = seeds[:1]
    with contextlib.ExitStack() as closing:
        environments = []
        for seed in seeds:
            environments.append(factory(seed))
            closing.callback(environments[-1].close)
        actor = agent.make_evaluation_actor(num_envs=count) if batched else (
            agent.make_evaluation_actor()
        )  # fmt: skip
        evaluator = Evaluator(environments, actor, config.num_eval_episodes, counter, logger)
        closing.pop_all()  # The evaluator closes them now.
    return evaluator


def _reached(target_return: float | None, evaluations: list[dict[str, Any]]) -> bool:
    """Whether the latest evaluation reached the target return."""
    return target_return is not None and evaluations[-1]["return_mean"] >= target_return


def _exported_policy_steps(run_dir: str) -> int | None:
    path = os.path.join(run_dir, policy.POLICY_DIR, "policy.json")
    try:
        with open(path) as file:
            return json.load(file).get("actor_steps")
    except (OSError, ValueError, AttributeError):
        return None


def run_experiment(config: ExperimentConfig) -> ExperimentResult:
    """Trains `config`'s agent for `config.max_num_actor_steps` environment steps.

    Every `eval_every` steps the evaluator runs the evaluation policy on its own environments;
    training stops early once an evaluation reaches `target_return`. With a `run_dir`, the
    agent, counters and replay are checkpointed every `checkpoint_every` steps (by default
    every `checkpoint_minutes` of wall-clock) and at the end (also on SIGINT/Ctrl-C or
    SIGTERM, which raise `ExperimentInterrupted` once that checkpoint is written; a signal
    during a checkpoint waits for it), and the policy is exported to `run_dir/policy` after
    each evaluation and with each checkpoint. Calling it again with the same `run_dir`
    resumes from the last checkpoint; the step count continues. A run directory without a
    checkpoint starts afresh (its logs are cleared).
    """
    return run_with_layout(config, local_layout.make_local_layout)


def run_with_layout(config: ExperimentConfig, make_layout: LayoutFactory) -> ExperimentResult:
    """`run_experiment` with the agent laid out by `make_layout` (see `TrainingLayout`):
    resume, evaluation, checkpoints, export and signals are the same for every layout."""
    latest_checkpoint: list[int | None] = [None]
    with _SignalGuard() as guard:
        try:
            result = _run_experiment(config, guard, latest_checkpoint, make_layout)
            guard.release()  # A signal during teardown, held until now.
        except ExperimentInterrupted:
            raise
        except KeyboardInterrupt as interruption:
            raise ExperimentInterrupted(
                latest_checkpoint[0], _signal_number(interruption, guard)
            ) from None
    return result


def _run_experiment(
    config: ExperimentConfig,
    guard: _SignalGuard,
    latest_checkpoint: list[int | None],
    make_layout: LayoutFactory,
) -> ExperimentResult:
    with contextlib.ExitStack() as stack:
        try:
            return _train(config, guard, latest_checkpoint, stack, make_layout)
        finally:
            guard.hold()  # Teardown (closing agent, loggers, envs) is not interrupted.


class _RunDirectory(NamedTuple):
    """What a run directory holds at the start: its checkpointer (None without a directory),
    the checkpoint resumed from and its metadata, the replay checkpoint to restore, the
    replay backend to use and the counts to continue from."""

    checkpointer: checkpointing.Checkpointer | None
    resumed_from: int | None
    metadata: dict[str, Any]
    replay_path: str | None
    replay_backend: str
    counter: counting.Counter


def _open_run_directory(config: ExperimentConfig, stack: contextlib.ExitStack) -> _RunDirectory:
    """Locks the run directory, writes its files, and reads what a resume starts from (a
    fresh directory has its logs cleared; a resumed one's are truncated to its checkpoint)."""
    replay_backend = replay.resolve_backend(config.replay_backend)
    counter = counting.Counter()
    if config.run_dir is None:
        return _RunDirectory(None, None, {}, None, replay_backend, counter)
    os.makedirs(config.run_dir, exist_ok=True)
    stack.enter_context(_exclusive(config.run_dir))
    for name, content in config.run_dir_files.items():
        configs.write_yaml(os.path.join(config.run_dir, name), content)
    checkpointer = checkpointing.Checkpointer(config.run_dir, config.max_checkpoints_to_keep)
    stack.callback(checkpointer.close)
    for line in checkpointer.skipped:  # Damaged checkpoints, set aside: a line each.
        _log.warning(line)
    resumed_from = checkpointer.latest_step()
    if resumed_from is None:
        experiment_logging.clear_logs(config.run_dir)
        return _RunDirectory(checkpointer, None, {}, None, replay_backend, counter)
    metadata = checkpointer.read_metadata(resumed_from)
    replay_path = checkpointer.replay_path_for_restore(metadata)
    if replay_path is not None and config.replay_backend == "auto":
        # A run resumes on the backend it started on; naming the other one is an error
        # from the replay server (`check_checkpoint_backend`).
        replay_backend = local_replay.checkpoint_backend(replay_path)
    counter.restore({"counts": metadata["counts"]})
    experiment_logging.truncate_logs(config.run_dir, resumed_from)
    return _RunDirectory(checkpointer, resumed_from, metadata, replay_path, replay_backend, counter)


def _train(
    config: ExperimentConfig,
    guard: _SignalGuard,
    latest_checkpoint: list[int | None],
    stack: contextlib.ExitStack,
    make_layout: LayoutFactory,
) -> ExperimentResult:
    start = time.monotonic()
    directory = _open_run_directory(config, stack)
    latest_checkpoint[0] = directory.resumed_from
    steps = int(directory.counter.get_counts().get("actor_steps", 0))
    evaluations: list[dict[str, Any]] = list(directory.metadata.get("evaluations", []))
    if directory.resumed_from is not None and _finished(config, steps, evaluations):
        return ExperimentResult(
            steps, evaluations, "already_finished", directory.resumed_from, config.run_dir, 0.0
        )
    loggers = experiment_logging.make_experiment_loggers(
        config.loggers,
        config.run_dir,
        config.max_num_actor_steps,
        initial_steps=steps,
        wandb_config=config.description,
        purge_step=None if directory.resumed_from is None else directory.resumed_from + 1,
        resumed_from=directory.resumed_from,
    )
    for logger in loggers.values():
        stack.callback(logger.close)
    run = _Run(config, guard, latest_checkpoint, directory.checkpointer, loggers, evaluations)
    layout = make_layout(config, run.layout_context(directory, stack))
    run.start(layout, directory, stack, steps)
    stop_reason = run.train()
    return ExperimentResult(
        run.steps,
        evaluations,
        stop_reason,
        directory.resumed_from,
        config.run_dir,
        time.monotonic() - start,
        int(run.counter.get_counts().get("learner_steps", 0)),
        run.training_seconds,
        run.evaluator.seconds,
    )


def _finished(config: ExperimentConfig, steps: int, evaluations: list[dict[str, Any]]) -> bool:
    """Whether a resumed run has nothing left to do: evaluated and exported at its last
    step, which spent the budget or reached the target."""
    evaluated_now = bool(evaluations) and evaluations[-1]["actor_steps"] == steps
    policy_current = (
        config.run_dir is None
        or config.description is None
        or _exported_policy_steps(config.run_dir) == steps
    )
    if not (evaluated_now and policy_current):
        return False
    return steps >= config.max_num_actor_steps or _reached(config.target_return, evaluations)


class _Run:
    """One call's training: stretches of steps between evaluations and checkpoints, the
    checkpoints (held against signals) and the policy exported with them."""

    def __init__(
        self,
        config: ExperimentConfig,
        guard: _SignalGuard,
        latest_checkpoint: list[int | None],
        checkpointer: checkpointing.Checkpointer | None,
        loggers: dict[str, Any],
        evaluations: list[dict[str, Any]],
    ):
        self.config, self.guard, self.checkpointer = config, guard, checkpointer
        self.latest_checkpoint, self.loggers, self.evaluations = (
            latest_checkpoint,
            loggers,
            evaluations,
        )
        self.training_seconds = 0.0

    def layout_context(
        self, directory: _RunDirectory, stack: contextlib.ExitStack
    ) -> LayoutContext:
        config = self.config

        def latest_state(like: Any) -> Any:
            if self.checkpointer is None or self.latest_checkpoint[0] is None:
                return None
            return self.checkpointer.restore_state(self.latest_checkpoint[0], like)

        return LayoutContext(
            directory.counter,
            self.loggers,
            self.checkpointer.replay_staging_directory if self.checkpointer else None,
            directory.replay_path,
            directory.replay_backend,
            stack,
            latest_state,
            logs_dir=config.run_dir and experiment_logging.logs_directory(config.run_dir),
            evaluation_seed=config.seed + EVALUATION_SEED_OFFSET,
        )

    def start(
        self,
        layout: TrainingLayout,
        directory: _RunDirectory,
        stack: contextlib.ExitStack,
        steps: int,
    ) -> None:
        """Takes the layout's agent, loop and counter, restores a resumed run's state, and
        makes the evaluator."""
        self.agent, self.train_loop, self.counter = layout
        self.steps = steps
        if directory.resumed_from is not None:
            checkpointer = self.checkpointer
            self.agent.restore(
                checkpointer.restore_state(directory.resumed_from, self.agent.save())
            )
            if checkpointer.replay_was_set_aside(directory.resumed_from):
                self.agent.restart_warm_up()
        self.evaluator = _make_evaluator(
            self.config, self.agent, self.counter, self.loggers["evaluator"]
        )
        stack.callback(self.evaluator.close)

    def train(self) -> str:
        """Trains to the budget (or the target return); returns the stop reason. Ctrl-C and
        SIGTERM checkpoint and raise `ExperimentInterrupted`."""
        config, evaluations = self.config, self.evaluations
        evaluated_now = bool(evaluations) and evaluations[-1]["actor_steps"] == self.steps
        reached_target = evaluated_now and _reached(config.target_return, evaluations)
        try:
            reached_target = self._train_stretches(evaluated_now, reached_target)
            # A resumed run whose last evaluation was interrupted evaluates here.
            if not evaluations or evaluations[-1]["actor_steps"] != self.steps:
                evaluations.append(self.evaluator.evaluate())
        except KeyboardInterrupt as interruption:
            self.steps = int(self.counter.get_counts().get("actor_steps", self.steps))
            with contextlib.suppress(KeyboardInterrupt):  # A second signal: already stopping.
                self.save_checkpoint()
            raise ExperimentInterrupted(
                self.latest_checkpoint[0], _signal_number(interruption, self.guard)
            ) from None
        self.save_checkpoint(final=True)
        return "target_return" if reached_target else "steps"

    def _train_stretches(self, evaluated_now: bool, reached_target: bool) -> bool:
        """Trains stretch after stretch, each ending at an evaluation or a checkpoint;
        returns whether an evaluation reached the target return."""
        config, steps = self.config, self.steps
        limit = config.max_num_actor_steps
        next_evaluation = _next_multiple(steps, config.eval_every, limit)
        if config.eval_every and steps and steps % config.eval_every == 0 and not evaluated_now:
            next_evaluation = steps  # The evaluation due here was interrupted: redo it first.
        checkpoint_steps = config.checkpoint_every
        if checkpoint_steps is None:  # By wall-clock: the clock is looked at on these steps.
            checkpoint_steps = CHECKPOINT_CHECK_STEPS
        next_checkpoint = _next_multiple(steps, checkpoint_steps, limit)
        last_checkpoint_time = time.monotonic()
        while self.steps < limit and not reached_target:
            until = min(next_evaluation, next_checkpoint)
            started = time.monotonic()
            self.train_loop.run(num_steps=until - self.steps)
            self.training_seconds += time.monotonic() - started
            # A batched environment may step past `until` (by fewer than num_envs steps).
            self.steps = max(until, int(self.counter.get_counts().get("actor_steps", until)))
            if self.steps >= next_evaluation:
                reached_target = self._evaluate()
                next_evaluation = _next_multiple(self.steps, config.eval_every, limit)
            if next_checkpoint <= self.steps < limit:
                next_checkpoint = _next_multiple(self.steps, checkpoint_steps, limit)
                minutes = (time.monotonic() - last_checkpoint_time) / 60
                if config.checkpoint_every is not None or minutes >= config.checkpoint_minutes:
                    self.save_checkpoint()
                    last_checkpoint_time = time.monotonic()
        return reached_target

    def _evaluate(self) -> bool:
        """Evaluates, reports the evaluation, exports the policy with its return; returns
        whether it reached the target return."""
        self.evaluations.append(self.evaluator.evaluate())
        if self.config.evaluation_callback is not None:
            self.config.evaluation_callback(self.steps, self.evaluations[-1])
        if self.checkpointer is not None:  # `rlkit play` works while training goes on.
            with self.guard.protect():  # A signal held here stops the run after it.
                self.export_policy_if_stale(force=True)  # With this evaluation's return.
        return _reached(self.config.target_return, self.evaluations)

    def save_checkpoint(self, final: bool = False) -> None:
        if self.checkpointer is None:
            return
        with self.guard.protect():
            self._write_checkpoint(final)

    def _write_checkpoint(self, final: bool) -> None:
        """Checkpoints step `steps` (the final one replaces a copy missing its evaluation)."""
        checkpointer, steps = self.checkpointer, self.steps
        if checkpointer.has_step(steps):
            saved_evaluations = checkpointer.read_metadata(steps).get("evaluations") or []
            evaluated = bool(saved_evaluations) and saved_evaluations[-1]["actor_steps"] == steps
            if not final or evaluated or not checkpointer.delete_step(steps):
                self.export_policy_if_stale()
                return
        state = self.agent.save()  # Joins background learner steps first.
        for logger in self.loggers.values():
            logger.flush()  # Logs reach disk no later than the checkpoint they lead to.
        meta = {"counts": self.counter.save()["counts"], "evaluations": self.evaluations}
        checkpointer.save(steps, state, meta, self.agent.checkpoint_replay())
        self.latest_checkpoint[0] = steps
        self.export_policy_if_stale(force=True)

    def export_policy_if_stale(self, force: bool = False) -> None:
        """Exports the current policy, after each evaluation and with each checkpoint."""
        config = self.config
        if config.description is None:
            return
        if not force and _exported_policy_steps(config.run_dir) == self.steps:
            return
        (params,) = self.agent.get_variables(["policy"])
        last = self.evaluations[-1]["return_mean"] if self.evaluations else None
        description = {**config.description, "actor_steps": self.steps, "evaluation_return": last}
        policy.export_policy(config.run_dir, params, description)
