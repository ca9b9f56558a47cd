"""The loggers of an experiment, and trimming them back to a checkpoint on resume."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil

from rich.console import Console

from rlkit import loggers as loggers_lib
from rlkit.loggers import history
from rlkit.loggers.wandb import WandbLogger

LABELS = ("actor", "learner", "evaluator")
EVALUATOR_KEYS = ("actor_steps", "return_mean", "return_std", "episode_length_mean")


class _SelectKeys(loggers_lib.Logger):
    """Passes on only `keys` (for a readable terminal line)."""

    def __init__(self, logger: loggers_lib.Logger, keys: tuple[str, ...]):
        self._logger, self._keys = logger, keys

    def write(self, data: loggers_lib.LoggingData) -> None:
        self._logger.write({key: data[key] for key in self._keys if key in data})

    def flush(self) -> None:
        self._logger.flush()

    def close(self) -> None:
        self._logger.close()


def logs_directory(run_dir: str) -> str:
    return os.path.join(run_dir, "logs")


def make_experiment_loggers(
    kinds: tuple[str, ...],
    run_dir: str | None,
    total_steps: int,
    initial_steps: int = 0,
    wandb_config: dict | None = None,
    purge_step: int | None = None,
    resumed_from: int | None = None,
    labels: tuple[str, ...] = LABELS,
) -> dict[str, loggers_lib.Logger]:
    """One logger per label (actor, learner, evaluator; and callbacks, for a run with
    callbacks of one's own) writing to every kind asked for.

    `purge_step`: on resume, TensorBoard hides the old events from this step on (they are
    redone), as the CSV and parquet logs are truncated. `resumed_from`: the checkpoint step
    a resumed run starts from, which the terminal says first.
    """
    wandb_loggers = {}
    if "wandb" in kinds:  # First: a missing package must fail before the progress bar starts.
        # One W&B run per run directory, resumed with it.
        run_id = None
        if run_dir:
            digest = hashlib.sha1(os.path.abspath(run_dir).encode()).hexdigest()[:10]
            run_id = f"{os.path.basename(os.path.abspath(run_dir))}-{digest}"
        wandb_loggers = {
            label: WandbLogger(label, run_id=run_id, directory=run_dir, config=wandb_config)
            for label in labels
        }
    per_label: dict[str, list[loggers_lib.Logger]] = {label: [] for label in labels}
    if "terminal" in kinds:
        console = Console(highlight=False)
        if resumed_from is not None:  # Said when it happens, above the progress.
            console.print(f"resumed from the checkpoint at step {resumed_from}", markup=False)
        progress = loggers_lib.ProgressLogger(total_steps, initial_steps, console=console)
        per_label["actor"].append(progress)
        per_label["evaluator"].append(progress)  # The final evaluation completes the bar.
        terminal = loggers_lib.TerminalLogger("evaluator", console=progress.console)
        per_label["evaluator"].append(_SelectKeys(terminal, EVALUATOR_KEYS))
    if run_dir is not None:
        directory = logs_directory(run_dir)
        if "csv" in kinds:
            for label in labels:
                per_label[label].append(loggers_lib.CSVLogger(directory, label))
        if "tensorboard" in kinds:
            for label in labels:
                # One TensorBoard run per label: a resumed writer's purge covers its whole
                # directory and must not drop the other labels' new events.
                tensorboard_dir = os.path.join(directory, "tensorboard", label)
                per_label[label].append(
                    loggers_lib.TensorBoardLogger(tensorboard_dir, label, purge_step=purge_step)
                )
        if "history" in kinds:
            path = os.path.join(directory, "episodes.parquet")
            per_label["actor"].append(loggers_lib.EpisodeHistoryLogger(path))
    for label, logger in wandb_loggers.items():
        per_label[label].append(logger)
    return {label: loggers_lib.Dispatcher(items) for label, items in per_label.items()}


def clear_logs(run_dir: str) -> None:
    """Deletes the logs of a run that left no checkpoint: a fresh start redoes all of them."""
    shutil.rmtree(logs_directory(run_dir), ignore_errors=True)


def truncate_logs(run_dir: str, max_actor_steps: int) -> None:
    """Drops log rows written after the checkpoint a run resumes from (they are redone)."""
    directory = logs_directory(run_dir)
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if name.endswith(".csv"):
            with open(path, newline="") as file:
                rows = list(csv.DictReader(file))
                fieldnames = list(rows[0].keys()) if rows else None
            if fieldnames is None or "actor_steps" not in fieldnames:
                continue
            kept = [row for row in rows if float(row["actor_steps"] or 0) <= max_actor_steps]
            temporary = f"{path}.tmp"
            with open(temporary, "w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames)
                writer.writeheader()
                writer.writerows(kept)
            os.replace(temporary, path)
        elif name.endswith(".parquet"):
            rows = history.read_history(path)
            history.write_history(path, [r for r in rows if r["actor_steps"] <= max_actor_steps])
