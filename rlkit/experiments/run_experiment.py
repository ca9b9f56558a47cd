"""`run_experiment`: train, evaluate, checkpoint and export in one process; resume on rerun."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import inspect
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from rlkit import builders, configs, errors, replay
from rlkit import loggers as loggers_lib
from rlkit.experiments import callbacks as callbacks_lib
from rlkit.experiments import checkpointing, policy
from rlkit.experiments import logging as experiment_logging
from rlkit.experiments.config import (
    CHECKPOINT_CHECK_STEPS,
    EVALUATION_SEED_OFFSET,
    EVALUATION_SEED_STRIDE,
    ExperimentConfig,
)
from rlkit.experiments.evaluator import (
    MAX_PARALLEL_EVALUATION_EPISODES,
    EpisodesEvaluator,
    Evaluator,
)
from rlkit.layouts import anakin as anakin_layout
from rlkit.layouts import gradients as gradient_layout
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
      stop_reason: "steps" (budget spent), "target_return", "already_finished" (a rerun
        of a finished run did nothing), or the reason a callback stopped it with
        (`TrainingRun.stop`: "no_improvement", "pruned", ...).
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


def _make_evaluator(
    config: ExperimentConfig, agent: Any, counter, logger
) -> Evaluator | EpisodesEvaluator:
    """The evaluator: its episodes side by side, in up to `MAX_PARALLEL_EVALUATION_EPISODES`
    environments of their own (each seeded apart from training's and from each other)."""
    if hasattr(agent, "evaluation_episodes"):  # A layout that runs its episodes itself.
        run_episodes = agent.evaluation_episodes(config.num_eval_episodes)
        return EpisodesEvaluator(run_episodes, counter, logger)
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


def run_experiment(
    config: ExperimentConfig,
    callbacks: Sequence[callbacks_lib.Callback] = (),
    *,
    continue_stopped: bool = False,
) -> ExperimentResult:
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

    `callbacks` (`rlkit.experiments.Callback`s) run at the run's points: they can log, change
    the run's schedule, or stop it, which ends it as at its budget (evaluated, checkpointed,
    exported). Their state is saved with each checkpoint. A run that a callback stopped (or
    that reached `target_return`) counts as finished when run again, unless
    `continue_stopped`, which trains on towards the budget.
    """
    if config.seeds is not None:
        raise errors.ConfigError(
            "This experiment has several seeds (seeds=...): train them with "
            "rlkit.experiments.run_seeds(config)."
        )
    make_layout = local_layout.make_local_layout
    if _jitted(config):
        make_layout = anakin_layout.make_anakin_layout
    elif isinstance(config.builder, builders.AsynchronousGradientBuilder):  # A3C: threads.
        make_layout = gradient_layout.make_gradient_layout
    return run_with_layout(config, make_layout, callbacks, continue_stopped=continue_stopped)


def _jitted(config: ExperimentConfig) -> bool:
    """Whether `config` trains in the Anakin layout."""
    automatic = config.layout == "auto" and config.jax_environment_factory is not None
    return config.layout == "anakin" or automatic


def run_seeds(
    config: ExperimentConfig,
    seeds: Sequence[int] | None = None,
    *,
    run_dirs: Sequence[str | None] | None = None,
    make_callbacks: Callable[[int], Sequence[callbacks_lib.Callback]] | None = None,
    configure: Callable[[ExperimentConfig], ExperimentConfig] | None = None,
    continue_stopped: bool = False,
) -> list[ExperimentResult]:
    """`config` trained once per seed (`seeds`, else `config.seeds`), each run as
    `run_experiment` trains one: its own run directory (`run_dirs`, else `config.run_dir`
    + "_seedS", or none), logs, evaluations, checkpoints (rerun to resume) and exported
    policy; `make_callbacks(seed)` gives each run its callbacks, and `configure(config)`
    may change each seed's config (e.g. the files written into its run directory). In the
    Anakin layout the
    seeds train together, one program vmapped over them; in the others one after another.
    Returns the runs' results in the order of `seeds`."""
    seeds = list(config.seeds if seeds is None else seeds)
    if run_dirs is None:
        run_dirs = [config.run_dir and f"{config.run_dir}_seed{seed}" for seed in seeds]
    runs = [
        dataclasses.replace(config, seed=seed, run_dir=run_dir, seeds=None)
        for seed, run_dir in zip(seeds, run_dirs, strict=True)
    ]
    if configure is not None:
        runs = [configure(one) for one in runs]
    callbacks = [() if make_callbacks is None else make_callbacks(seed) for seed in seeds]
    if not _jitted(runs[0]):
        return [
            run_experiment(one, hooks, continue_stopped=continue_stopped)
            for one, hooks in zip(runs, callbacks, strict=True)
        ]
    shared = anakin_layout.VmappedSeeds(runs[0], seeds)
    outcomes: list[Any] = [None] * len(seeds)

    def train(index: int) -> None:
        try:
            factory = functools.partial(shared.view, index)
            outcomes[index] = run_with_layout(
                runs[index], factory, callbacks[index], continue_stopped=continue_stopped
            )
        except BaseException as error:  # Raised in the caller's thread, below.
            outcomes[index] = error
        finally:
            shared.leave(index)

    threads = [threading.Thread(target=train, args=(i,), daemon=True) for i in range(len(seeds))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except KeyboardInterrupt:
        shared.interrupt()  # Each run checkpoints, then ends with ExperimentInterrupted.
        for thread in threads:
            thread.join()
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes


def run_with_layout(
    config: ExperimentConfig,
    make_layout: LayoutFactory,
    callbacks: Sequence[callbacks_lib.Callback] = (),
    *,
    continue_stopped: bool = False,
) -> ExperimentResult:
    """`run_experiment` with the agent laid out by `make_layout` (see `TrainingLayout`):
    resume, evaluation, checkpoints, export, callbacks and signals are the same for every
    layout."""
    latest_checkpoint: list[int | None] = [None]
    hooks = callbacks_lib.CallbackList([*callbacks_lib.config_callbacks(config), *callbacks])
    with _SignalGuard() as guard:
        try:
            run = _Training(config, guard, latest_checkpoint, make_layout, hooks, continue_stopped)
            result = _run_experiment(run)
            guard.release()  # A signal during teardown, held until now.
        except ExperimentInterrupted:
            raise
        except KeyboardInterrupt as interruption:
            raise ExperimentInterrupted(
                latest_checkpoint[0], _signal_number(interruption, guard)
            ) from None
    return result


class _Training(NamedTuple):
    """What one call trains: the config, its signal guard, the latest checkpoint's step
    (kept current for the interruption raised at the end), the layout and callbacks."""

    config: ExperimentConfig
    guard: _SignalGuard
    latest_checkpoint: list[int | None]
    make_layout: LayoutFactory
    callbacks: callbacks_lib.CallbackList
    continue_stopped: bool


def _run_experiment(training: _Training) -> ExperimentResult:
    with contextlib.ExitStack() as stack:
        try:
            return _train(training, stack)
        finally:
            training.guard.hold()  # Teardown (closing agent, loggers, envs) is not interrupted.


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


def _train(training: _Training, stack: contextlib.ExitStack) -> ExperimentResult:
    start = time.monotonic()
    config, callbacks = training.config, training.callbacks
    directory = _open_run_directory(config, stack)
    training.latest_checkpoint[0] = directory.resumed_from
    steps = int(directory.counter.get_counts().get("actor_steps", 0))
    evaluations: list[dict[str, Any]] = list(directory.metadata.get("evaluations", []))
    if directory.resumed_from is not None and _finished(
        config, steps, evaluations, directory.metadata, training.continue_stopped
    ):
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

    def callbacks_logger() -> loggers_lib.Logger:  # At a callback's first `run.log`.
        logger = experiment_logging.make_experiment_loggers(
            tuple(kind for kind in config.loggers if kind in ("csv", "tensorboard", "wandb")),
            config.run_dir,
            config.max_num_actor_steps,
            wandb_config=config.description,
            purge_step=None if directory.resumed_from is None else directory.resumed_from + 1,
            labels=("callbacks",),
        )["callbacks"]
        stack.callback(logger.close)
        run.loggers["callbacks"] = logger  # Flushed with the others before each checkpoint.
        return logger

    facade = callbacks_lib.TrainingRun(config, evaluations, directory.counter, callbacks_logger)
    if callbacks.watches_episodes:  # Every layout logs its training episodes here.
        loggers = {
            **loggers,
            "actor": loggers_lib.Dispatcher([loggers["actor"], callbacks.episode_logger(facade)]),
        }
    run = _Run(training, directory.checkpointer, loggers, evaluations, facade)
    layout = training.make_layout(config, run.layout_context(directory, stack))
    run.start(layout, directory, stack, steps)
    try:
        stop_reason = run.train()
    except BaseException:
        callbacks.call("on_train_end", facade, None)
        raise
    result = ExperimentResult(
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
    callbacks.call("on_train_end", facade, result)
    return result


def _finished(
    config: ExperimentConfig,
    steps: int,
    evaluations: list[dict[str, Any]],
    metadata: dict[str, Any] | None = None,
    continue_stopped: bool = False,
) -> bool:
    """Whether a resumed run has nothing left to do: evaluated and exported at its last
    step, which spent the budget or reached the target, or where a callback stopped it
    (unless `continue_stopped`)."""
    evaluated_now = bool(evaluations) and evaluations[-1]["actor_steps"] == steps
    policy_current = (
        config.run_dir is None
        or config.description is None
        or _exported_policy_steps(config.run_dir) == steps
    )
    if not (evaluated_now and policy_current):
        return False
    if steps >= config.max_num_actor_steps:
        return True
    if continue_stopped:
        return False
    stopped = bool((metadata or {}).get("stop_reason"))
    return stopped or _reached(config.target_return, evaluations)


class _Run:
    """One call's training: stretches of steps between evaluations and checkpoints, the
    checkpoints (held against signals), the policy exported with them, and the callbacks
    (`facade` is the run they see)."""

    def __init__(
        self,
        training: _Training,
        checkpointer: checkpointing.Checkpointer | None,
        loggers: dict[str, Any],
        evaluations: list[dict[str, Any]],
        facade: callbacks_lib.TrainingRun,
    ):
        self.config, self.guard = training.config, training.guard
        self.latest_checkpoint, self.callbacks = training.latest_checkpoint, training.callbacks
        self.continue_stopped = training.continue_stopped
        self.checkpointer, self.loggers, self.evaluations = checkpointer, loggers, evaluations
        self.facade = facade
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
        """Takes the layout's agent, loop and counter, restores a resumed run's state (the
        callbacks' too), makes the evaluator, and begins the callbacks."""
        self.agent, self.train_loop, self.counter = layout
        self.steps = steps
        if directory.resumed_from is not None:
            checkpointer = self.checkpointer
            self.agent.restore(
                checkpointer.restore_state(directory.resumed_from, self.agent.save())
            )
            if checkpointer.replay_was_set_aside(directory.resumed_from):
                self.agent.restart_warm_up()
            self.callbacks.load_state_dicts(directory.metadata.get("callbacks") or {})
        self.evaluator = _make_evaluator(
            self.config, self.agent, self.counter, self.loggers["evaluator"]
        )
        stack.callback(self.evaluator.close)
        self.facade.attach(self.counter, self.agent, self._export)
        if directory.resumed_from is not None and not self.continue_stopped:
            # Stopped at this step before, its evaluation, export or final checkpoint cut
            # short (by a signal): it ends as it would have.
            reason = directory.metadata.get("stop_reason")
            evaluations = self.evaluations
            evaluated = bool(evaluations) and evaluations[-1]["actor_steps"] == steps
            if reason is None and evaluated and _reached(self.config.target_return, evaluations):
                reason = "target_return"
            if reason is not None:
                self.facade.stop(reason)
        self.callbacks.start_steps(steps)
        self.callbacks.call("on_train_begin", self.facade)

    def train(self) -> str:
        """Trains to the budget (or until a callback stops it); returns the stop reason.
        Ctrl-C and SIGTERM checkpoint and raise `ExperimentInterrupted`."""
        evaluations, facade = self.evaluations, self.facade
        try:
            self._train_stretches()
            # A resumed run whose last evaluation was interrupted evaluates here.
            if not evaluations or evaluations[-1]["actor_steps"] != self.steps:
                self._record_evaluation()
        except KeyboardInterrupt as interruption:
            self.steps = int(self.counter.get_counts().get("actor_steps", self.steps))
            with contextlib.suppress(KeyboardInterrupt):  # A second signal: already stopping.
                self.save_checkpoint()
            raise ExperimentInterrupted(
                self.latest_checkpoint[0], _signal_number(interruption, self.guard)
            ) from None
        self.save_checkpoint(final=True)
        return facade.stop_reason or "steps"

    def _train_stretches(self) -> None:
        """Trains stretch after stretch, each ending at an evaluation or a checkpoint, until
        the budget is spent or a callback stops the run."""
        config, facade = self.config, self.facade
        evaluated_now = bool(self.evaluations) and self.evaluations[-1]["actor_steps"] == self.steps
        next_evaluation = _next_multiple(self.steps, facade.eval_every, facade.max_num_actor_steps)
        if facade.eval_every and self.steps and self.steps % facade.eval_every == 0:
            if not evaluated_now:
                next_evaluation = self.steps  # The evaluation due here was interrupted.
        checkpoint_steps = config.checkpoint_every
        if checkpoint_steps is None:  # By wall-clock: the clock is looked at on these steps.
            checkpoint_steps = CHECKPOINT_CHECK_STEPS
        next_checkpoint = _next_multiple(self.steps, checkpoint_steps, facade.max_num_actor_steps)
        last_checkpoint_time = time.monotonic()
        while self.steps < facade.max_num_actor_steps and not facade.stopped:
            until = min(next_evaluation, next_checkpoint, facade.max_num_actor_steps)
            started = time.monotonic()
            self._run_stretch(until - self.steps)
            self.training_seconds += time.monotonic() - started
            counted = int(self.counter.get_counts().get("actor_steps", until))
            # A batched environment may step past `until` (by fewer than num_envs steps).
            self.steps = counted if facade.stopped else max(until, counted)
            if self.steps >= next_evaluation:
                self._record_evaluation()  # A stop mid-stretch evaluates in `train`.
            # The schedule as it is now: a callback may have changed it.
            limit = facade.max_num_actor_steps
            next_evaluation = _next_multiple(self.steps, facade.eval_every, limit)
            if next_checkpoint <= self.steps < limit and not facade.stopped:
                next_checkpoint = _next_multiple(self.steps, checkpoint_steps, limit)
                minutes = (time.monotonic() - last_checkpoint_time) / 60
                if config.checkpoint_every is not None or minutes >= config.checkpoint_minutes:
                    self.save_checkpoint()
                    last_checkpoint_time = time.monotonic()
            next_checkpoint = min(next_checkpoint, limit)

    def _run_stretch(self, num_steps: int) -> None:
        """Trains `num_steps` steps; with callbacks that watch steps or episodes, asks them
        every `check_every` steps whether to go on."""
        check_every = self.callbacks.check_every
        if check_every is None:
            self.train_loop.run(num_steps=num_steps)
            return
        facade, stretch_start = self.facade, self.steps

        def should_stop(steps: int) -> bool:
            self.callbacks.steps_taken(facade, stretch_start + steps)
            return facade.stopped

        facade._stretch_start, taken = stretch_start, [0]
        facade._steps_in_stretch = lambda: taken[0]
        try:
            if "should_stop" in inspect.signature(self.train_loop.run).parameters:

                def check(steps: int) -> bool:
                    taken[0] = steps
                    return should_stop(steps)

                self.train_loop.run(
                    num_steps=num_steps,
                    should_stop=check,
                    check_every=check_every,
                    first_check=self.callbacks.next_check(stretch_start),
                )
                return
            while taken[0] < num_steps:  # A loop of one's own: stretches of `check_every`.
                self.train_loop.run(num_steps=min(check_every, num_steps - taken[0]))
                taken[0] = int(self.counter.get_counts().get("actor_steps", 0)) - stretch_start
                if should_stop(taken[0]):
                    return
        finally:
            facade._steps_in_stretch = None

    def _record_evaluation(self) -> None:
        """Evaluates, shows the evaluation to the callbacks, and exports the policy with its
        return (so that `rlkit play` works while training goes on)."""
        self.evaluations.append(self.evaluator.evaluate())
        self.facade.evaluated_params = self.evaluator.evaluated_params
        self.callbacks.call("on_evaluation", self.facade, self.evaluations[-1])
        if self.checkpointer is not None:
            with self.guard.protect():  # A signal held here stops the run after it.
                self.export_policy_if_stale(force=True)  # With this evaluation's return.

    def save_checkpoint(self, final: bool = False) -> None:
        if self.checkpointer is None:
            return
        with self.guard.protect():
            written = self._write_checkpoint(final)
        if written:
            self.callbacks.call("on_checkpoint", self.facade, self.steps, final)

    def _write_checkpoint(self, final: bool) -> bool:
        """Checkpoints step `steps` (the final one replaces a copy missing its evaluation);
        returns whether it wrote one."""
        checkpointer, steps = self.checkpointer, self.steps
        if checkpointer.has_step(steps):
            saved = checkpointer.read_metadata(steps)
            saved_evaluations = saved.get("evaluations") or []
            evaluated = bool(saved_evaluations) and saved_evaluations[-1]["actor_steps"] == steps
            stop_recorded = saved.get("stop_reason") == self.facade.stop_reason
            if not final or (evaluated and stop_recorded) or not checkpointer.delete_step(steps):
                self.export_policy_if_stale()
                return False
        state = self.agent.save()  # Joins background learner steps first.
        for logger in self.loggers.values():
            logger.flush()  # Logs reach disk no later than the checkpoint they lead to.
        meta = {
            "counts": self.counter.save()["counts"],
            "evaluations": self.evaluations,
            "callbacks": self.callbacks.state_dicts(),
        }
        if self.facade.stop_reason is not None:  # Also a signal's, after a callback's stop.
            meta["stop_reason"] = self.facade.stop_reason
        checkpointer.save(steps, state, meta, self.agent.checkpoint_replay())
        self.latest_checkpoint[0] = steps
        self.export_policy_if_stale(force=True)
        return True

    def export_policy_if_stale(self, force: bool = False) -> None:
        """Exports the current policy, after each evaluation and with each checkpoint."""
        if self.config.description is None:
            return
        if not force and _exported_policy_steps(self.config.run_dir) == self.steps:
            return
        self._export(policy.POLICY_DIR, self.evaluations[-1] if self.evaluations else None)

    def _export(self, dirname: str, evaluation: dict[str, Any] | None) -> str | None:
        """Exports to `run_dir/dirname` the parameters `evaluation` acted with (if it is the
        latest and the evaluator knows them), else the agent's current ones."""
        config = self.config
        if config.description is None or config.run_dir is None:
            return None
        params = None
        if evaluation is not None and self.evaluations and evaluation is self.evaluations[-1]:
            params = self.facade.evaluated_params
        if params is None or evaluation is None or evaluation["actor_steps"] != self.steps:
            (params,) = self.agent.get_variables(["policy"])
        last = None if evaluation is None else evaluation["return_mean"]
        description = {**config.description, "actor_steps": self.steps, "evaluation_return": last}
        return policy.export_policy(config.run_dir, params, description, dirname=dirname)
