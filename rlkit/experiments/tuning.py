"""Hyperparameter search with optuna: TPE sampling, median pruning on evaluation returns."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from rlkit import configs, errors
from rlkit.agents import registry
from rlkit.experiments.callbacks import OptunaPruning
from rlkit.experiments.make import make_experiment_config
from rlkit.experiments.run_experiment import run_experiment


def load_search_space(path: str, config_class: type) -> dict[str, dict[str, Any]]:
    """Reads a search space YAML: `key: {low, high[, log]}` or `key: {choices: [...]}`.

    Raises:
      ConfigError: an unknown config key or a malformed entry (one line, naming it).
    """
    space = configs.read_yaml(path)
    fields = [field.name for field in dataclasses.fields(config_class)]
    if not space:
        raise errors.ConfigError(f"Search space {path!r} is empty.")
    for key, entry in space.items():
        if key not in fields:
            raise errors.ConfigError(
                f"Unknown config key {key!r} in search space {path!r}; valid keys: "
                f"{', '.join(fields)}."
            )
        valid = isinstance(entry, dict) and (
            (set(entry) == {"choices"} and isinstance(entry["choices"], list) and entry["choices"])
            or (
                set(entry) in ({"low", "high"}, {"low", "high", "log"})
                and all(isinstance(entry[b], int | float) for b in ("low", "high"))
                and entry["low"] < entry["high"]
            )
        )
        if not valid:
            raise errors.ConfigError(
                f"Search space entry {key!r} in {path!r} must be {{low: L, high: H[, log: "
                f"true]}} with L < H, or {{choices: [...]}}; got {entry!r}."
            )
    return space


def _suggest(trial, key: str, entry: dict[str, Any]) -> Any:
    if "choices" in entry:
        index = trial.suggest_categorical(f"{key}_index", list(range(len(entry["choices"]))))
        return entry["choices"][index]
    log = bool(entry.get("log", False))
    if isinstance(entry["low"], int) and isinstance(entry["high"], int):
        return trial.suggest_int(key, entry["low"], entry["high"], log=log)
    return trial.suggest_float(key, float(entry["low"]), float(entry["high"]), log=log)


@dataclasses.dataclass
class TuneResult:
    best_config: Any
    best_value: float
    best_trial: int
    config_path: str
    num_complete: int
    num_pruned: int
    num_failed: int


def tune(
    agent: str,
    env_id: str,
    num_trials: int,
    out: str,
    space_path: str | None = None,
    base_config: Any | None = None,
    max_num_actor_steps: int = 20_000,
    eval_every: int = 2_000,
    num_eval_episodes: int = 5,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    prune_after_steps: int | None = None,
    on_trial: Callable[[int, str, float | None, dict[str, Any]], None] | None = None,
) -> TuneResult:
    """Searches `agent`'s config on `env_id`; writes the best config to `out` (YAML).

    A trial's score is its mean evaluation return over the run (rewarding agents that learn
    early and stay good); each evaluation is reported to optuna so that the median pruner
    stops trials that fall behind, once they have trained `prune_after_steps` steps (default:
    a quarter of the budget, as early returns say little about a config). Configs the agent
    rejects (e.g. a batch size that does not divide into replay items) and trials that fail
    with an rlkit error count as failed trials. The best config so far is rewritten to `out`
    after every completed trial, so an interrupted search keeps what it found.
    """
    import optuna

    entry = registry.get_agent(agent)
    space_path = space_path or entry.tune_space_path()
    if space_path is None:
        raise errors.ConfigError(
            f"Agent {agent!r} ships no search space: pass one (space_path=, or --space FILE)."
        )
    space = load_search_space(space_path, entry.config_class)
    if base_config is None:
        base_config = entry.load_config(env_id)
    # Validates the names and the action space before any trial runs.
    make_experiment_config(agent, env_id, base_config, env_kwargs, max_num_actor_steps=1)
    settings = dict(
        max_num_actor_steps=max_num_actor_steps,
        eval_every=eval_every,
        num_eval_episodes=num_eval_episodes,
        seed=seed,
    )
    report = on_trial or (lambda *_: None)
    search = _Search(agent, env_id, space, base_config, settings, env_kwargs, report, out)
    # Every trial is reported through `on_trial`; optuna's own warnings carry tracebacks.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warm_up = max_num_actor_steps // 4 if prune_after_steps is None else prune_after_steps
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=warm_up),
    )
    study.optimize(
        search.objective,
        n_trials=num_trials,
        catch=(errors.RlkitError,),
        callbacks=[search.write_best],
    )
    states = [trial.state for trial in study.trials]
    complete = states.count(optuna.trial.TrialState.COMPLETE)
    if not complete:
        raise errors.RlkitError(
            f"None of the {num_trials} trials completed (pruned or rejected configs); run "
            "more trials or widen the search space."
        )
    best, best_config = search.best(study)
    return TuneResult(
        best_config=best_config,
        best_value=float(best.value),
        best_trial=best.number,
        config_path=out,
        num_complete=complete,
        num_pruned=states.count(optuna.trial.TrialState.PRUNED),
        num_failed=states.count(optuna.trial.TrialState.FAIL),
    )


@dataclasses.dataclass
class _Search:
    """One search: its trials' objective, and the best config found, written after each."""

    agent: str
    env_id: str
    space: dict[str, dict[str, Any]]
    base_config: Any
    run_settings: dict[str, Any]  # max_num_actor_steps, eval_every, num_eval_episodes, seed.
    env_kwargs: dict[str, Any] | None
    on_trial: Callable[[int, str, float | None, dict[str, Any]], None]
    out: str

    def objective(self, trial) -> float:
        import optuna

        values = {key: _suggest(trial, key, spec) for key, spec in self.space.items()}
        try:
            config = dataclasses.replace(self.base_config, **values)  # Runs its checks.
        except errors.ConfigError as error:
            self.on_trial(trial.number, f"rejected ({error})", None, values)
            raise

        experiment = make_experiment_config(
            self.agent, self.env_id, config, self.env_kwargs, loggers=(), **self.run_settings
        )
        try:
            result = run_experiment(experiment, [OptunaPruning(trial)])
        except errors.RlkitError as error:
            self.on_trial(trial.number, f"failed ({error})", None, values)
            raise
        if result.stop_reason == "pruned":
            self.on_trial(trial.number, "pruned", None, values)
            raise optuna.TrialPruned()
        score = float(np.mean([e["return_mean"] for e in result.evaluations]))
        self.on_trial(trial.number, "complete", score, values)
        return score

    def best(self, study) -> tuple[Any, Any]:
        """The best trial and its config."""
        best = study.best_trial
        best_values = {
            key: spec["choices"][best.params[f"{key}_index"]]
            if "choices" in spec
            else best.params[key]
            for key, spec in self.space.items()
        }
        return best, dataclasses.replace(self.base_config, **best_values)

    def write_best(self, study, _trial) -> None:
        """Writes the best config so far to `out` (and every trial to a CSV beside it)."""
        import optuna

        if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
            return
        best, best_config = self.best(study)
        header = (
            f"Best of {len(study.trials)} optuna trials of {self.agent} on {self.env_id} "
            f"(trial {best.number}): mean evaluation return {best.value:.2f} over "
            f"{self.run_settings['max_num_actor_steps']} steps, seed "
            f"{self.run_settings['seed']}."
        )
        configs.save_config(best_config, self.out, header=header)
        trials = os.path.splitext(self.out)[0] + "_trials.csv"
        study.trials_dataframe().to_csv(trials, index=False)
