"""Learning curves of one or more runs: evaluation return against environment steps."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from rlkit import configs, errors
from rlkit.analysis import _figures


def load_learning_curve(run_dir: str) -> pd.DataFrame:
    """`actor_steps` and `episode_return` of a run, sorted by step: its evaluations if it has
    any, else its training episodes (from the parquet history or actor.csv)."""
    frame = _read_curve(run_dir)
    return frame.sort_values("actor_steps", kind="stable").drop_duplicates(
        "actor_steps", keep="last"
    )


def _read_curve(run_dir: str) -> pd.DataFrame:
    logs = os.path.join(run_dir, "logs")
    if not os.path.isdir(run_dir):
        raise errors.CheckpointError(f"Run directory {run_dir!r} does not exist.")
    evaluator = os.path.join(logs, "evaluator.csv")
    if os.path.isfile(evaluator) and os.path.getsize(evaluator) > 0:
        frame = pd.read_csv(evaluator)
        if len(frame):
            return frame.rename(columns={"return_mean": "episode_return"})[
                ["actor_steps", "episode_return"]
            ]
    for name, reader in (("episodes.parquet", pd.read_parquet), ("actor.csv", pd.read_csv)):
        path = os.path.join(logs, name)
        if os.path.isfile(path):
            frame = reader(path)
            if len(frame):
                return frame[["actor_steps", "episode_return"]]
    raise errors.CheckpointError(
        f"No learning curve in {run_dir!r}: expected logs/evaluator.csv, episodes.parquet or "
        "actor.csv (train with `rlkit train ... --run-dir DIR`)."
    )


def _group(run_dir: str) -> tuple[str, str]:
    """(label, key): runs of one agent, environment and config (seeds aside) share a key."""
    path = os.path.join(run_dir, "experiment.yaml")
    if os.path.isfile(path):
        experiment = configs.read_yaml(path)
        label = f"{experiment.get('agent', '?')} on {experiment.get('env_id', '?')}"
        return label, f"{label} {experiment.get('agent_config')}"
    name = os.path.basename(os.path.normpath(run_dir))
    return name, name


def _number_duplicates(labels: dict[str, str]) -> dict[str, str]:
    """Two configs of the same agent on the same environment: number them apart."""
    per_label = Counter(labels.values())
    numbered: defaultdict[str, int] = defaultdict(int)
    result = {}
    for key, label in labels.items():
        if per_label[label] > 1:
            numbered[label] += 1
            label = f"{label}, config {numbered[label]}"
        result[key] = label
    return result


def plot_learning_curves(
    run_dirs: Sequence[str],
    out: str,
    size_px: tuple[int, int] = (800, 500),
    num_points: int = 100,
) -> str:
    """Plots return vs env steps; runs of the same agent, environment and config (e.g.
    seeds) are one curve, their mean with a band of +/- one standard deviation, over the steps
    all of them reached. Returns `out`."""
    if not run_dirs:
        raise errors.ConfigError("plot_learning_curves needs at least one run directory.")
    groups: dict[str, list[pd.DataFrame]] = defaultdict(list)
    labels: dict[str, str] = {}
    for run_dir in run_dirs:
        label, key = _group(run_dir)
        groups[key].append(load_learning_curve(run_dir))
        labels[key] = label
    labels = _number_duplicates(labels)
    figure, axes = _figures.new_figure(size_px)
    axis = axes[0, 0]
    for key, curves in groups.items():
        label = labels[key]
        end = min(curve["actor_steps"].max() for curve in curves)
        start = max(curve["actor_steps"].min() for curve in curves)
        grid = np.linspace(start, end, num_points) if end > start else np.array([end])
        values = np.stack([np.interp(grid, c["actor_steps"], c["episode_return"]) for c in curves])
        mean, std = values.mean(axis=0), values.std(axis=0)
        (line,) = axis.plot(grid, mean, label=f"{label} ({len(curves)} run(s))")
        axis.fill_between(grid, mean - std, mean + std, alpha=0.25, color=line.get_color())
    axis.set_xlabel("environment steps")
    axis.set_ylabel("return")
    axis.set_title("Learning curves")
    axis.grid(alpha=0.3)
    axis.legend(loc="best")
    figure.tight_layout()
    return _figures.save_figure(figure, out)
