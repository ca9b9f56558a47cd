"""Learning curves of runs: evaluation return, and optionally training-episode return, against
environment steps.

By default each run directory is drawn as itself, one curve labelled with the run's name (the
directory's name, with as many parent folders as it takes to tell two runs apart). With
`aggregate=True`, runs of one agent, environment and config (seeds aside) are one curve: the
mean over the runs with a shaded band from their minimum to their maximum. Runs of a group that
end at different steps are not cut to the shortest: at each step the mean and band are over the
runs that reached it, the line is dashed where fewer than all of them did, and a note says so.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rlkit import configs, errors
from rlkit.analysis import _figures

_log = logging.getLogger("rlkit.analysis")

# "x_seed3", "x-seed-3", "x_s3": the name of one seed of a config.
_SEED_SUFFIX = re.compile(r"[_\-.]?(?:seed|s)[_\-=]?\d+$", re.IGNORECASE)
_MAX_CONFIG_KEYS = 3  # Config keys named in an aggregate's label to tell groups apart.


def load_learning_curve(run_dir: str) -> pd.DataFrame:
    """`actor_steps` and `episode_return` of a run, sorted by step: its evaluations if it has
    any, else its training episodes (from the parquet history or actor.csv)."""
    _check_exists(run_dir)
    curve = load_evaluations(run_dir)
    if curve is None:
        curve = load_training_episodes(run_dir)
    if curve is None:
        raise errors.CheckpointError(
            f"No learning curve in {run_dir!r}: expected logs/evaluator.csv, episodes.parquet "
            "or actor.csv (train with `rlkit train ... --run-dir DIR`)."
        )
    return curve


def load_evaluations(run_dir: str) -> pd.DataFrame | None:
    """`actor_steps` and `episode_return` (the evaluation's mean return) of each evaluation in
    `logs/evaluator.csv`, sorted by step, the later row of a step written twice winning (as a
    crash and a resume can leave them); None if the run has no evaluation."""
    path = os.path.join(run_dir, "logs", "evaluator.csv")
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return None
    frame = _read_table(path, pd.read_csv, ("actor_steps", "return_mean"))
    frame = frame.rename(columns={"return_mean": "episode_return"})
    frame = frame.sort_values("actor_steps", kind="stable")
    frame = frame.drop_duplicates("actor_steps", keep="last").reset_index(drop=True)
    return frame if len(frame) else None


def load_training_episodes(run_dir: str) -> pd.DataFrame | None:
    """`actor_steps` (at the episode's end) and `episode_return` of each training episode, from
    `logs/episodes.parquet` (else `logs/actor.csv`), sorted by step (`episode_length` too when
    logged); None if the run has no training episode."""
    for name, reader in (("episodes.parquet", pd.read_parquet), ("actor.csv", pd.read_csv)):
        path = os.path.join(run_dir, "logs", name)
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            frame = _read_table(path, reader, ("actor_steps", "episode_return"))
            if "episode_length" in frame.columns:
                frame["episode_length"] = pd.to_numeric(frame["episode_length"], errors="coerce")
            frame = frame.sort_values("actor_steps", kind="stable").reset_index(drop=True)
            if len(frame):
                return frame
    return None


def _read_table(path: str, reader: Callable[[str], pd.DataFrame], columns: tuple[str, ...]):
    """The rows of `path` with numbers in `columns` (rows without are dropped)."""
    try:
        frame = reader(path)
    except (OSError, ValueError) as error:  # Parser and Arrow errors are ValueErrors.
        message = " ".join(str(error).split())
        raise errors.CheckpointError(f"Could not read {path!r}: {message}") from None
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise errors.CheckpointError(f"{path!r} has no {', '.join(missing)} column.")
    kept = [*columns, *(["episode_length"] if "episode_length" in frame.columns else [])]
    frame = frame[kept].copy()
    for column in columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame.dropna(subset=list(columns))


def _check_exists(run_dir: str) -> None:
    if not os.path.isdir(run_dir):
        raise errors.CheckpointError(f"Run directory {run_dir!r} does not exist.")


@dataclasses.dataclass
class _Run:
    path: str
    name: str
    experiment: dict[str, Any] | None
    evaluations: pd.DataFrame | None
    episodes: pd.DataFrame | None


@dataclasses.dataclass
class _Group:
    """Runs drawn as one curve: one run, or (aggregating) one config's seeds."""

    label: str
    runs: list[_Run]


def _run_names(run_dirs: Sequence[str]) -> list[str]:
    """Each run's name: its directory's name, with as many parent folders as it takes to tell
    runs of the same name apart (`a/seed0`, `b/seed0`)."""
    parts = [os.path.abspath(run_dir).split(os.sep) for run_dir in run_dirs]
    depths = [1] * len(parts)
    while True:
        names = ["/".join(p[-d:]) for p, d in zip(parts, depths, strict=True)]
        seen: dict[str, list[int]] = {}
        for index, name in enumerate(names):
            seen.setdefault(name, []).append(index)
        clashes = [indices for indices in seen.values() if len(indices) > 1]
        grown = False
        for indices in clashes:
            for index in indices:
                if depths[index] < len(parts[index]):
                    depths[index] += 1
                    grown = True
        if not grown:
            return names


def _load_runs(run_dirs: Sequence[str], episodes: bool, note: Callable[[str], None]) -> list[_Run]:
    unique: dict[str, str] = {}
    for run_dir in run_dirs:
        _check_exists(run_dir)
        real = os.path.realpath(run_dir)
        if real in unique:
            again = "" if run_dir == unique[real] else f" (as {unique[real]})"
            note(f"{run_dir} is given twice{again}; it is plotted once.")
        else:
            unique[real] = run_dir
    kept = list(unique.values())
    runs = []
    for run_dir, name in zip(kept, _run_names(kept), strict=True):
        path = os.path.join(run_dir, "experiment.yaml")
        experiment = configs.read_yaml(path) if os.path.isfile(path) else None
        evaluations = load_evaluations(run_dir)
        history = load_training_episodes(run_dir) if episodes else None
        if episodes and history is None:
            raise errors.CheckpointError(
                f"No training episodes to plot in {run_dir!r}: logs/episodes.parquet (or "
                "actor.csv) is missing or empty."
            )
        if evaluations is None and not episodes:
            raise errors.CheckpointError(
                f"No learning curve in {run_dir!r}: no evaluations in logs/evaluator.csv "
                "(train with --eval-every; or pass --episodes to plot its training-episode "
                "returns from logs/episodes.parquet)."
            )
        runs.append(_Run(run_dir, name, experiment, evaluations, history))
    without = [run.name for run in runs if run.evaluations is None]
    if without:
        have = "has" if len(without) == 1 else "have"
        note(f"{', '.join(without)} {have} no evaluations: training episodes only.")
    return runs


def _config_key(run: _Run) -> str:
    """Runs with the same key are seeds of one config (the agent, the environment and its
    arguments and recipe, the agent config); a run without experiment.yaml is its own."""
    if run.experiment is None:
        return f"path:{os.path.realpath(run.path)}"
    fields = ("agent", "env_id", "env_kwargs", "env_recipe", "agent_config")
    return json.dumps({k: run.experiment.get(k) for k in fields}, sort_keys=True, default=str)


def _title(run: _Run) -> str | None:
    if run.experiment is None:
        return None
    return f"{run.experiment.get('agent', '?')} on {run.experiment.get('env_id', '?')}"


def _stem(names: Sequence[str]) -> str:
    """What the names of one config's seeds share: `cp_seed0`, `cp_seed1` -> `cp`."""
    if len(names) == 1:
        return names[0]
    stems = [_SEED_SUFFIX.sub("", name) for name in names]
    if len(set(stems)) == 1:
        return stems[0]
    return os.path.commonprefix(stems).rstrip("0123456789").rstrip("_-./ ")


def _flat(mapping: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(mapping, dict):
        return {}
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _settings(run: _Run) -> dict[str, Any]:
    """A run's settings as flat `key: value` pairs, to name what tells two configs apart."""
    experiment = run.experiment or {}
    settings = _flat(experiment.get("agent_config"))
    settings.update(_flat(experiment.get("env_kwargs"), "env."))
    settings["env_recipe"] = experiment.get("env_recipe")
    return settings


def _groups(runs: list[_Run], aggregate: bool) -> list[_Group]:
    if not aggregate:
        return [_Group(run.name, [run]) for run in runs]
    by_key: dict[str, list[_Run]] = {}
    for run in runs:
        by_key.setdefault(_config_key(run), []).append(run)
    groups = []
    for members in by_key.values():
        basenames = [os.path.basename(os.path.abspath(run.path)) for run in members]
        stem = _stem(basenames) or _stem([run.name for run in members])  # runs/x/seed0
        title = _title(members[0])
        label = ": ".join(part for part in (title, stem) if part)
        groups.append(_Group(label or members[0].name, members))
    # Two configs of one agent on one environment: name the settings in which they differ.
    by_title: dict[str | None, list[_Group]] = {}
    for group in groups:
        by_title.setdefault(_title(group.runs[0]), []).append(group)
    for title, alike in by_title.items():
        if title is None or len(alike) < 2:
            continue
        settings = [_settings(group.runs[0]) for group in alike]
        keys = sorted(set().union(*settings))
        differ = [k for k in keys if len({json.dumps(s.get(k), default=str) for s in settings}) > 1]
        for group, values in zip(alike, settings, strict=True):
            shown = [f"{k}={values.get(k)}" for k in differ[:_MAX_CONFIG_KEYS]]
            if len(differ) > _MAX_CONFIG_KEYS:
                shown.append(f"+{len(differ) - _MAX_CONFIG_KEYS} more")
            if shown:
                group.label += f" ({', '.join(shown)})"
    for group in groups:
        group.label += f" [{len(group.runs)} run{'s' if len(group.runs) > 1 else ''}]"
    return groups


@dataclasses.dataclass
class _Aggregate:
    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    count: np.ndarray  # How many runs reached each step.


def _aggregate(curves: Sequence[tuple[np.ndarray, np.ndarray]], num_points: int) -> _Aggregate:
    """Mean, minimum and maximum at each step over the runs whose curve covers it (from their
    first to their last step, linearly interpolated between their points). The steps are every
    run's own steps, or `num_points` spread evenly plus each run's first and last if more."""
    starts = [x[0] for x, _ in curves]
    ends = [x[-1] for x, _ in curves]
    steps = np.unique(np.concatenate([x for x, _ in curves]))
    if len(steps) > num_points:
        spread = np.linspace(min(starts), max(ends), num_points)
        steps = np.unique(np.concatenate([spread, starts, ends]))
    values = np.full((len(curves), len(steps)), np.nan)
    for row, (x, y) in enumerate(curves):
        inside = (steps >= x[0]) & (steps <= x[-1])
        values[row, inside] = np.interp(steps[inside], x, y)
    count = np.sum(~np.isnan(values), axis=0)
    return _Aggregate(
        steps,
        np.nanmean(values, axis=0),
        np.nanmin(values, axis=0),
        np.nanmax(values, axis=0),
        count,
    )


def _steps(frame: pd.DataFrame) -> np.ndarray:
    return frame["actor_steps"].to_numpy(np.float64)


def _returns(frame: pd.DataFrame) -> np.ndarray:
    return frame["episode_return"].to_numpy(np.float64)


def _smooth(returns: np.ndarray, window: int) -> np.ndarray:
    """Trailing rolling mean over `window` episodes (over fewer at the start)."""
    return pd.Series(returns).rolling(window, min_periods=1).mean().to_numpy(np.float64)


def _draw_run(axis, x: np.ndarray, y: np.ndarray, color, label: str, markers: bool) -> None:
    if len(x) == 1:  # A one-point line is invisible: a marker.
        axis.plot(x, y, linestyle="none", marker="o", markersize=7, color=color, label=label)
        return
    marker = "o" if markers and len(x) <= 100 else None
    axis.plot(x, y, color=color, label=label, marker=marker, markersize=3)


def _draw_aggregate(axis, result: _Aggregate, runs: int, color, label: str, markers: bool):
    """The mean (solid where every run contributes, dashed where fewer do) and a min-max band.
    Returns whether any step had fewer runs."""
    steps, mean = result.steps, result.mean
    if len(steps) == 1:  # One step: a marker, with the band as an error bar.
        error = [[mean[0] - result.low[0]], [result.high[0] - mean[0]]]
        axis.errorbar(steps, mean, yerr=error, fmt="none", capsize=4, color=color)
        axis.plot(steps, mean, linestyle="none", marker="o", markersize=7, color=color, label=label)
        return bool(result.count[0] < runs)
    axis.fill_between(steps, result.low, result.high, alpha=0.2, color=color, linewidth=0)
    full = result.count == runs
    partial = ~full
    # Dashed stretches reach the neighbouring full steps so the curve stays connected.
    dashed = partial | np.r_[partial[1:], False] | np.r_[False, partial[:-1]]
    marker = "o" if markers and len(steps) <= 100 else None
    if full.any():
        axis.plot(
            steps, np.where(full, mean, np.nan), color=color, label=label, marker=marker, ms=3
        )
    if partial.any():
        axis.plot(
            steps,
            np.where(dashed, mean, np.nan),
            color=color,
            linestyle="--",
            label="_nolegend_" if full.any() else label,
            marker=marker,
            ms=3,
        )
    return bool(partial.any())


def _length_note(group: _Group, evaluations: bool) -> str | None:
    """One line if the runs of an aggregate end at different steps: their last evaluation
    (else their last training episode, whose end differs by up to an episode anyway)."""
    if evaluations and all(run.evaluations is not None for run in group.runs):
        ends = [int(run.evaluations["actor_steps"].iloc[-1]) for run in group.runs]
        slack = 0
    elif all(run.episodes is not None for run in group.runs):
        ends = [int(run.episodes["actor_steps"].iloc[-1]) for run in group.runs]
        lengths = [run.episodes.get("episode_length") for run in group.runs]
        longest = [length.max() for length in lengths if length is not None]
        slack = int(max((n for n in longest if pd.notna(n)), default=0))
    else:
        return None
    if max(ends) - min(ends) <= slack:
        return None
    shown = ", ".join(f"{run.name} {end:,}" for run, end in zip(group.runs, ends, strict=True))
    return (
        f"the runs of {group.label} end at different steps ({shown}); beyond step "
        f"{min(ends):,} the mean and band are over the runs that reached each step (dashed)."
    )


def _note_differing_lengths(
    groups: Sequence[_Group], evaluations: bool, note: Callable[[str], None]
) -> None:
    for group in groups:
        if len(group.runs) > 1 and (line := _length_note(group, evaluations)):
            note(line)


def _panels(runs: Sequence[_Run], episodes: bool) -> list[str]:
    """The panels to draw, top to bottom: evaluations (if any run has them), training episodes."""
    panels = []
    if any(run.evaluations is not None for run in runs):
        panels.append("evaluations")
    if episodes:
        panels.append("episodes")
    return panels


def _evaluation_curves(group: _Group) -> list[tuple[np.ndarray, np.ndarray]]:
    frames = [run.evaluations for run in group.runs if run.evaluations is not None]
    return [(_steps(frame), _returns(frame)) for frame in frames]


def _episode_curves(
    axis, group: _Group, color: str, smoothing_window: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Draws each training episode's return as a faint dot; returns the runs' rolling means."""
    curves = []
    for run in group.runs:
        steps, returns = _steps(run.episodes), _returns(run.episodes)
        axis.plot(
            steps,
            returns,
            linestyle="none",
            marker=".",
            markersize=3,
            alpha=0.2,
            color=color,
            label="_nolegend_",
            zorder=1,  # Under every curve.
        )
        curves.append((steps, _smooth(returns, smoothing_window)))
    return curves


def _draw_panel(
    axis,
    panel: str,
    groups: Sequence[_Group],
    aggregate: bool,
    num_points: int,
    smoothing_window: int,
) -> bool:
    """Draws one curve per group in a panel; returns whether an aggregate had steps that not
    all of its runs reached."""
    fewer = False
    for index, group in enumerate(groups):
        color = f"C{index % 10}"
        if panel == "evaluations":
            curves = _evaluation_curves(group)
        else:
            curves = _episode_curves(axis, group, color, smoothing_window)
        if not curves:
            continue
        markers = panel == "evaluations"
        if aggregate:
            result = _aggregate(curves, num_points)
            fewer |= _draw_aggregate(axis, result, len(curves), color, group.label, markers)
        else:
            _draw_run(axis, *curves[0], color, group.label, markers)
    return fewer


def _panel_title(panel: str, smoothing_window: int, aggregate: bool, fewer: bool) -> str:
    if panel == "evaluations":
        title = "Evaluation return"
    else:
        title = f"Training episode return (line: rolling mean of {smoothing_window} episodes)"
    if aggregate:
        title += "\nmean over runs, band from their min to max" + (
            "; dashed: not all runs reached these steps" * fewer
        )
    return title


def plot_learning_curves(
    run_dirs: Sequence[str],
    out: str,
    size_px: tuple[int, int] | None = None,
    num_points: int = 200,
    aggregate: bool = False,
    episodes: bool = False,
    smoothing_window: int = 20,
    on_note: Callable[[str], None] | None = None,
) -> str:
    """Plots evaluation return against environment steps and writes it to `out` (PNG).

    Args:
      run_dirs: run directories written by `rlkit train`. Each is one curve labelled with its
        name (the directory's name, with parent folders where two share it); a directory
        given twice is drawn once.
      out: the PNG to write; returned.
      size_px: the figure's size in pixels (default 800x500, 800x800 with two panels).
      num_points: an aggregate is computed at every run's own steps, or at this many evenly
        spread steps when there are more (training episodes).
      aggregate: draw runs of one agent, environment and config (seeds aside, as in
        experiment.yaml) as one curve: their mean, and a band from their minimum to their
        maximum, labelled `agent on env: stem (differing settings) [N runs]`. Runs of a group
        that end at different steps are not cut to the shortest: at each step the mean and
        band are over the runs that reached it, the line is dashed where fewer than all did,
        and a note says which runs end where.
      episodes: also plot training-episode returns (`logs/episodes.parquet`), in a panel
        below, sharing the step axis: each episode as a faint dot at the step it ended, and
        a trailing rolling mean over `smoothing_window` episodes (the aggregate: the mean
        and min-max band of the runs' rolling means). A run without evaluations is then
        drawn in this panel alone.
      smoothing_window: episodes in the rolling mean of training returns.
      on_note: called with each note (runs of differing lengths, a run given twice, a run
        with no evaluations); default: a warning on the `rlkit.analysis` logger.

    A run with a single evaluation is drawn as a marker. Raises `CheckpointError` for a
    missing run directory, a run without evaluations (unless `episodes`), and with `episodes`
    a run without training episodes.
    """
    if not run_dirs:
        raise errors.ConfigError("plot_learning_curves needs at least one run directory.")
    if smoothing_window < 1:
        raise errors.ConfigError(f"smoothing_window must be >= 1, got {smoothing_window}.")
    note = on_note or _log.warning
    runs = _load_runs(run_dirs, episodes, note)
    groups = _groups(runs, aggregate)
    panels = _panels(runs, episodes)
    if size_px is None:
        size_px = (800, 500) if len(panels) == 1 else (800, 800)
    figure, axes = _figures.new_figure(size_px, nrows=len(panels), sharex=True)
    for panel, axis in zip(panels, axes[:, 0], strict=True):
        fewer = _draw_panel(axis, panel, groups, aggregate, num_points, smoothing_window)
        axis.set_title(_panel_title(panel, smoothing_window, aggregate, fewer), fontsize="medium")
        axis.set_ylabel("return")
        axis.grid(alpha=0.3)
        axis.legend(loc="best", fontsize="small")
    titles = {_title(run) for run in runs}
    if not aggregate and len(titles) == 1 and None not in titles:
        figure.suptitle(titles.pop())
    axes[-1, 0].set_xlabel("environment steps")
    if aggregate:
        _note_differing_lengths(groups, "evaluations" in panels, note)
    figure.tight_layout()
    return _figures.save_figure(figure, out)
