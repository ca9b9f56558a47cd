"""Training callbacks: code of one's own at the points of a run, in every layout.

`run_experiment(config, callbacks=[...])` (and `DistributedExperiment(..., callbacks=...)`)
calls each callback's hooks as the run goes: `on_train_begin`, `on_step` (every
`step_interval` environment steps, not every step), `on_episode_end`, `on_evaluation`,
`on_checkpoint` and `on_train_end`. A hook a callback does not override costs nothing: with
no `on_step` or `on_episode_end` anywhere, the training loop runs exactly as without
callbacks. Through the `TrainingRun` it is given, a callback reads the counts and the
evaluations, logs (`run.log`), changes the run's schedule (`run.eval_every`,
`run.max_num_actor_steps`) or stops training (`run.stop(reason)`): a stopped run ends as at
its budget, evaluated, checkpointed and exported.

Stopping is a flag, not an exception: every callback still sees the event that stopped the
run (a best-policy saver sees the evaluation that reached the target), and the run ends at
its next check (the end of the current `step_interval` of steps, or at once after an
evaluation). Hooks run in the driver's process, never pickled: in the Ray layout too, where
`on_episode_end` sees the actors' episodes as the driver forwards their logs (up to half a
second late, and in no fixed order across actors).

The built-ins are written as callbacks: `EarlyStopping` (what `target_return` does),
`BestPolicy` (the best evaluated policy exported beside the final one, `rlkit eval --best`)
and `OptunaPruning` (what `rlkit tune` reports to optuna).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rlkit import errors
from rlkit import loggers as loggers_lib
from rlkit.experiments.policy import BEST_POLICY_DIR

if TYPE_CHECKING:
    from rlkit.experiments.config import ExperimentConfig

DEFAULT_STEP_INTERVAL = 1_000
HOOKS = (
    "on_train_begin",
    "on_step",
    "on_episode_end",
    "on_evaluation",
    "on_checkpoint",
    "on_train_end",
)


class Callback:
    """Code run at the points of a training run; override the hooks you need.

    Every hook gets the `TrainingRun` first. `on_step` runs once at least `step_interval`
    environment steps have passed since its last call (the steps of all sub-environments
    and actors count). `on_evaluation` runs after each evaluation is recorded, before the
    policy is exported and before the run checks whether a callback stopped it.
    `on_checkpoint` runs after a checkpoint is written (`final` for the run's last).
    `on_train_end` gets the `ExperimentResult`, or None when the run ended by an error or
    a signal.

    A callback that keeps state across a resume returns it from `state_dict()` (JSON data);
    it is saved with every checkpoint, under `state_key`, and handed to `load_state_dict`
    when the run resumes, before `on_train_begin`.
    """

    step_interval: int = DEFAULT_STEP_INTERVAL

    def on_train_begin(self, run: TrainingRun) -> None:
        """The run starts (after a resumed run's state is restored)."""

    def on_step(self, run: TrainingRun) -> None:
        """`step_interval` more environment steps were taken (`run.actor_steps` counts them)."""

    def on_episode_end(self, run: TrainingRun, episode: Mapping[str, Any]) -> None:
        """A training episode ended; `episode` is its log row (`episode_return`,
        `episode_length` and the counts)."""

    def on_evaluation(self, run: TrainingRun, evaluation: Mapping[str, Any]) -> None:
        """An evaluation ended; `evaluation` is its row (`return_mean`, `actor_steps`, ...)."""

    def on_checkpoint(self, run: TrainingRun, step: int, final: bool) -> None:
        """A checkpoint of step `step` was written."""

    def on_train_end(self, run: TrainingRun, result: Any | None) -> None:
        """The run ended: `result` is its `ExperimentResult` (None: an error or a signal)."""

    def state_dict(self) -> dict[str, Any]:
        """What to keep across a resume (JSON data)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Takes back what `state_dict` returned, when a run resumes."""
        del state

    @property
    def state_key(self) -> str:
        """The name its state is saved under (the class's; numbered for repeats)."""
        return type(self).__qualname__


class TrainingRun:
    """A training run as its callbacks see it: counts, evaluations, schedule, and stopping.

    Attributes:
      config: the run's `ExperimentConfig`.
      evaluations: every evaluation row so far, oldest first (do not change it).
      eval_every: environment steps between evaluations (settable: takes effect from the
        next evaluation; 0 evaluates only at the end).
      max_num_actor_steps: the training budget (settable: a run can be extended or cut
        short). Both hold for this call: a resumed run starts from its config's schedule
        again (a callback that changes them keeps what it needs in `state_dict`).
      stop_reason: why a callback stopped the run (None: it was not stopped).
    """

    def __init__(
        self,
        config: ExperimentConfig,
        evaluations: list[dict[str, Any]],
        counter: Any,
        make_logger: Callable[[], loggers_lib.Logger] | None = None,
    ):
        self.config = config
        self.evaluations = evaluations
        self.eval_every = config.eval_every
        self.max_num_actor_steps = config.max_num_actor_steps
        self.stop_reason: str | None = None
        self._counter = counter
        # Made at the first row: a run whose callbacks log nothing has no "callbacks" logs.
        self._make_logger = make_logger or loggers_lib.NoOpLogger
        self._logger: loggers_lib.Logger | None = None
        self._steps_in_stretch: Callable[[], int] | None = None
        self._stretch_start = 0
        self.agent: Any = None  # The layout's agent, once it is built.
        self.evaluated_params: Any = None  # What the latest evaluation acted with.
        self._exporter: Callable[[str, Mapping[str, Any] | None], str | None] | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("eval_every", "max_num_actor_steps"):
            positive = name == "max_num_actor_steps"
            if not isinstance(value, int) or isinstance(value, bool) or value < int(positive):
                kind = "a positive" if positive else "a non-negative"
                raise errors.ConfigError(f"{name} must be {kind} integer, got {value!r}.")
        super().__setattr__(name, value)

    def attach(
        self,
        counter: Any,
        agent: Any,
        exporter: Callable[[str, Mapping[str, Any] | None], str | None] | None,
    ) -> None:
        """The layout's counter and agent, and the runner's policy export: set by the runner
        once the layout is built."""
        self._counter, self.agent, self._exporter = counter, agent, exporter

    @property
    def run_dir(self) -> str | None:
        """Where checkpoints, logs and exported policies go (None: nowhere)."""
        return self.config.run_dir

    @property
    def actor_steps(self) -> int:
        """Environment steps trained so far (including those before a resume)."""
        counted = int(self._counter.get_counts().get("actor_steps", 0))
        if self._steps_in_stretch is not None:  # Steps a batched loop has not counted yet.
            return max(counted, self._stretch_start + self._steps_in_stretch())
        return counted

    @property
    def learner_steps(self) -> int:
        """Learner steps taken so far."""
        return int(self._counter.get_counts().get("learner_steps", 0))

    @property
    def stopped(self) -> bool:
        return self.stop_reason is not None

    def stop(self, reason: str = "callback") -> None:
        """Ends training at the run's next check; the first reason given is kept."""
        if not isinstance(reason, str) or not reason:
            raise errors.ConfigError(f"A stop reason is a non-empty string, got {reason!r}.")
        if self.stop_reason is None:
            self.stop_reason = reason

    def log(self, row: Mapping[str, Any]) -> None:
        """Writes `row` (with `actor_steps`) to the run's "callbacks" logs (CSV, TensorBoard,
        W&B, as the run logs)."""
        if self._logger is None:
            self._logger = self._make_logger()
        self._logger.write({"actor_steps": self.actor_steps, **row})

    def export_policy(
        self, dirname: str, evaluation: Mapping[str, Any] | None = None
    ) -> str | None:
        """Exports the policy the latest evaluation acted with to `run_dir/dirname` (loadable
        by `rlkit.experiments.load_policy`), described with `evaluation`'s return; returns
        the directory (None in a run without a run directory or description)."""
        if self._exporter is None:
            return None
        return self._exporter(dirname, evaluation)


def _overrides(callback: Callback, hook: str) -> bool:
    return getattr(type(callback), hook) is not getattr(Callback, hook)


class CallbackList:
    """The run's callbacks, called hook by hook in the order given; each hook only on the
    callbacks that override it."""

    def __init__(self, callbacks: Sequence[Callback] = ()):
        callbacks = list(callbacks)
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise errors.ConfigError(
                    f"Callbacks subclass rlkit.experiments.Callback; got {callback!r} "
                    f"({type(callback).__name__})."
                )
            interval = callback.step_interval
            if not isinstance(interval, int) or isinstance(interval, bool) or interval <= 0:
                raise errors.ConfigError(
                    f"{type(callback).__name__}.step_interval must be a positive integer, "
                    f"got {interval!r}."
                )
        self.callbacks = callbacks
        self._with = {hook: [c for c in callbacks if _overrides(c, hook)] for hook in HOOKS}
        self._next_step: dict[int, int] = {}
        keys = [callback.state_key for callback in callbacks]
        self._keys = [
            key if keys[:index].count(key) == 0 else f"{key}#{keys[:index].count(key) + 1}"
            for index, key in enumerate(keys)
        ]

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def call(self, hook: str, run: TrainingRun, *args: Any) -> None:
        for callback in self._with[hook]:
            getattr(callback, hook)(run, *args)

    @property
    def watches_episodes(self) -> bool:
        return bool(self._with["on_episode_end"])

    @property
    def check_every(self) -> int | None:
        """How often (in environment steps) training stops to call `on_step` and to see
        whether a callback stopped it: None when no callback needs it (no `on_step` and no
        `on_episode_end`; other hooks run between stretches of training)."""
        stepping = self._with["on_step"]
        if stepping:  # Every callback's due steps lie on this grid.
            return math.gcd(*(callback.step_interval for callback in stepping))
        return DEFAULT_STEP_INTERVAL if self.watches_episodes else None

    def next_check(self, steps: int) -> int:
        """Steps from `steps` to the next `on_step` due (or to the next multiple of
        `check_every` when only episodes are watched)."""
        dues = [self._next_step[id(c)] for c in self._with["on_step"] if id(c) in self._next_step]
        if dues:
            return max(1, min(dues) - steps)
        every = self.check_every or DEFAULT_STEP_INTERVAL
        return every - steps % every

    def start_steps(self, steps: int) -> None:
        """Counts each callback's `step_interval` from `steps` (the run's start)."""
        self._next_step = {id(c): steps + c.step_interval for c in self._with["on_step"]}

    def steps_taken(self, run: TrainingRun, steps: int) -> None:
        """Calls `on_step` on every callback whose interval has passed at `steps`."""
        for callback in self._with["on_step"]:
            due = self._next_step.get(id(callback), 0)
            if steps >= due:
                interval = callback.step_interval
                self._next_step[id(callback)] = steps + interval - (steps - due) % interval
                callback.on_step(run)

    def episode_logger(self, run: TrainingRun) -> loggers_lib.Logger:
        """A logger that calls `on_episode_end` with every episode row written to it."""
        return _EpisodeHook(self, run)

    def state_dicts(self) -> dict[str, Any]:
        """Every callback's `state_dict()`, by `state_key`; a state that is not JSON data is
        a `ConfigError` naming its callback (before any checkpoint file is written)."""
        states = {}
        for key, callback in zip(self._keys, self.callbacks, strict=True):
            state = callback.state_dict()
            try:
                json.dumps(state, allow_nan=True)
            except (TypeError, ValueError) as error:
                raise errors.ConfigError(
                    f"{type(callback).__name__}.state_dict() must return JSON data (dicts, "
                    f"lists, strings, numbers); it returned {state!r} ({error})."
                ) from None
            states[key] = state
        return states

    def load_state_dicts(self, states: Mapping[str, Any]) -> None:
        for key, callback in zip(self._keys, self.callbacks, strict=True):
            if key in states:
                callback.load_state_dict(states[key])


class _EpisodeHook(loggers_lib.Logger):
    """Episode rows, as the training loop logs them, to `on_episode_end`."""

    def __init__(self, callbacks: CallbackList, run: TrainingRun):
        self._callbacks, self._run = callbacks, run

    def write(self, data: loggers_lib.LoggingData) -> None:
        if "episode_return" in data:
            self._callbacks.call("on_episode_end", self._run, data)


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class EarlyStopping(Callback):
    """Stops training once evaluations reach `target_return`, or once `patience`
    evaluations in a row have not improved on the best by more than `min_delta`.

    Args:
      target_return: stop when an evaluation's `monitor` reaches it (stop reason
        "target_return", what `ExperimentConfig.target_return` and `--target-return` do).
      patience: stop after this many evaluations without improvement (stop reason
        "no_improvement"); None: never for that reason. A NaN is never an improvement.
      min_delta: how much better than the best an evaluation must be to count.
      min_evaluations: evaluations to wait before patience starts counting.
      monitor: the evaluation row's key watched (higher is better).
    """

    def __init__(
        self,
        target_return: float | None = None,
        patience: int | None = None,
        min_delta: float = 0.0,
        min_evaluations: int = 0,
        monitor: str = "return_mean",
    ):
        if target_return is None and patience is None:
            raise errors.ConfigError("EarlyStopping needs target_return, patience, or both.")
        if patience is not None and (not isinstance(patience, int) or patience < 1):
            raise errors.ConfigError(f"patience must be a positive integer, got {patience!r}.")
        if target_return is not None and _finite(target_return) is None:
            raise errors.ConfigError(f"target_return must be a number, got {target_return!r}.")
        self.target_return = target_return
        self.patience = patience
        self.min_delta = float(min_delta)
        self.min_evaluations = min_evaluations
        self.monitor = monitor
        self.best: float | None = None
        self.waited = 0
        self.evaluations_seen = 0

    def on_evaluation(self, run: TrainingRun, evaluation: Mapping[str, Any]) -> None:
        value = _finite(evaluation.get(self.monitor))
        self.evaluations_seen += 1
        if self.target_return is not None and value is not None and value >= self.target_return:
            run.stop("target_return")
            return
        if self.patience is None:
            return
        if value is not None and (self.best is None or value - self.min_delta > self.best):
            self.best, self.waited = value, 0
        elif self.evaluations_seen > self.min_evaluations:
            self.waited += 1
            if self.waited >= self.patience:
                run.stop("no_improvement")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "waited": self.waited, "seen": self.evaluations_seen}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = state.get("best")
        self.waited = int(state.get("waited", 0))
        self.evaluations_seen = int(state.get("seen", 0))


class BestPolicy(Callback):
    """Keeps the best evaluated policy: after each evaluation whose `monitor` beats every
    earlier one (by more than `min_delta`), exports the parameters that evaluation acted
    with to `run_dir/dirname` (`policy_best/`), beside the final `policy/`.

    `rlkit eval --best RUN_DIR` and `rlkit play --best` load it, as does
    `load_policy(RUN_DIR, best=True)`. A resumed run starts from the best exported before.
    """

    def __init__(
        self, monitor: str = "return_mean", min_delta: float = 0.0, dirname: str = BEST_POLICY_DIR
    ):
        self.monitor, self.min_delta, self.dirname = monitor, float(min_delta), dirname
        self.best: float | None = None

    def on_train_begin(self, run: TrainingRun) -> None:
        # The checkpoint's best can be older than the last export (evaluations come more
        # often than checkpoints; a crash writes none): the better of the two stands.
        if run.run_dir is not None:
            exported = _exported_return(os.path.join(run.run_dir, self.dirname))
            known = [value for value in (self.best, exported) if value is not None]
            self.best = max(known) if known else None

    def on_evaluation(self, run: TrainingRun, evaluation: Mapping[str, Any]) -> None:
        value = _finite(evaluation.get(self.monitor))
        if value is None or (self.best is not None and value - self.min_delta <= self.best):
            return
        self.best = value
        run.export_policy(self.dirname, evaluation)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = _finite(state.get("best"))


def _exported_return(directory: str) -> float | None:
    try:
        with open(os.path.join(directory, "policy.json")) as file:
            return _finite(json.load(file).get("evaluation_return"))
    except (OSError, ValueError, AttributeError):
        return None


class OptunaPruning(Callback):
    """Reports each evaluation's `monitor` to an optuna `trial` and stops the run (reason
    "pruned") when the trial's pruner says so: what `rlkit tune` does for every trial."""

    def __init__(self, trial: Any, monitor: str = "return_mean"):
        self.trial, self.monitor = trial, monitor

    def on_evaluation(self, run: TrainingRun, evaluation: Mapping[str, Any]) -> None:
        self.trial.report(evaluation[self.monitor], step=int(evaluation["actor_steps"]))
        if self.trial.should_prune():
            run.stop("pruned")


class EvaluationFunction(Callback):
    """`function(actor_steps, evaluation)` after each evaluation: what
    `ExperimentConfig.evaluation_callback` takes."""

    def __init__(self, function: Callable[[int, dict[str, Any]], None]):
        self.function = function

    def on_evaluation(self, run: TrainingRun, evaluation: Mapping[str, Any]) -> None:
        self.function(int(evaluation["actor_steps"]), dict(evaluation))


def config_callbacks(config: ExperimentConfig) -> list[Callback]:
    """The callbacks an `ExperimentConfig`'s own fields stand for: `target_return` and
    `evaluation_callback`."""
    callbacks: list[Callback] = []
    if config.target_return is not None:
        callbacks.append(EarlyStopping(target_return=config.target_return))
    if config.evaluation_callback is not None:
        callbacks.append(EvaluationFunction(config.evaluation_callback))
    return callbacks


__all__ = [
    "BEST_POLICY_DIR",
    "BestPolicy",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "OptunaPruning",
    "TrainingRun",
]
