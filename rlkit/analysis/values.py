"""Value heatmaps over a small state space: a discrete state or a 2-D continuous one.

`plot_value_heatmap` draws any `observations -> Q-values` function; `plot_policy_values`
draws a saved policy (what `rlkit plot RUN --values` runs) with what its environment knows:
the map of a grid world (FrozenLake's holes and goal, CliffWalking's cliff), the names of
the actions, the axes of a 2-D observation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import gymnasium
import numpy as np
from dm_env import specs as dm_specs

from rlkit import errors
from rlkit.analysis import _figures

if TYPE_CHECKING:
    from rlkit.experiments.policy import SavedPolicy

# What each action of known gymnasium environments does, keyed by env id prefix (the
# namespace, as in "tabular/CliffWalking-v0", is ignored). Atari environments name their
# actions themselves (`get_action_meanings`).
ACTION_MEANINGS: dict[str, tuple[str, ...]] = {
    "FrozenLake": ("Left", "Down", "Right", "Up"),
    "CliffWalking": ("Up", "Right", "Down", "Left"),
    "Taxi": ("South", "North", "East", "West", "Pickup", "Drop off"),
    # "MountainCar-" leaves out MountainCarContinuous (continuous actions).
    "MountainCar-": ("Accelerate left", "Don't accelerate", "Accelerate right"),
    "Acrobot": ("Torque -1", "Torque 0", "Torque +1"),
    "CartPole": ("Push left", "Push right"),
    "LunarLander": ("Do nothing", "Fire left engine", "Fire main engine", "Fire right engine"),
    "Blackjack": ("Stick", "Hit"),
}

# The axes of known 2-D observations, keyed like ACTION_MEANINGS.
OBSERVATION_AXES: dict[str, tuple[str, str]] = {
    "MountainCar": ("position", "velocity"),
}

# Grid-world map characters drawn as cells of their own (gymnasium's `desc` letters).
_BLOCKED = {"H": "hole", "C": "cliff"}  # Never occupied: black, hatched.
_GOAL = "G"
_START = "S"
_MARK_NAMES = {**_BLOCKED, _GOAL: "goal", _START: "start"}

# Direction-like action names drawn as arrows in grid cells.
_ARROWS = {
    "left": "\u2190",
    "up": "\u2191",
    "right": "\u2192",
    "down": "\u2193",
    "west": "\u2190",
    "north": "\u2191",
    "east": "\u2192",
    "south": "\u2193",
}

# Above this many cells a grid gets no per-cell text (it would not be readable).
_MAX_ANNOTATED_CELLS = 200


def _env_name(env_id: str) -> str:
    return env_id.rsplit("/", 1)[-1]


def _by_prefix(table: dict[str, Any], env_id: str) -> Any:
    name = _env_name(env_id)
    matches = [prefix for prefix in table if name.startswith(prefix)]
    return table[max(matches, key=len)] if matches else None


def action_names(env_id: str, environment: Any, num_actions: int) -> list[str]:
    """Names of the actions `0..num_actions-1` of a gymnasium environment.

    The environment's own `get_action_meanings()` (Atari) if it has one, else the
    `ACTION_MEANINGS` entry for `env_id`, else "action 0", "action 1", ...
    """
    unwrapped = getattr(environment, "unwrapped", environment)
    meanings = getattr(unwrapped, "get_action_meanings", None)
    if callable(meanings):
        try:
            names = [str(name) for name in meanings()]
        except Exception:  # A name lookup must never stop a plot.
            names = []
        if len(names) == num_actions:
            return names
    known = _by_prefix(ACTION_MEANINGS, env_id)
    if known is not None and len(known) == num_actions:
        return list(known)
    return [f"action {action}" for action in range(num_actions)]


def grid_world_map(environment: Any, num_states: int) -> list[str] | None:
    """The rows of a grid world's map, one character per state, or None if it has none.

    FrozenLake's `desc` as it is (S start, F frozen, H hole, G goal); CliffWalking's cliff
    as C, its start S and goal G. A `desc` that is not one cell per state (Taxi's walls) is
    not a map of the states.
    """
    unwrapped = getattr(environment, "unwrapped", environment)
    desc = getattr(unwrapped, "desc", None)
    if desc is not None:
        desc = np.asarray(desc)
        if desc.ndim == 2 and desc.size == num_states:
            return [
                "".join(c.decode() if isinstance(c, bytes) else str(c) for c in row) for row in desc
            ]
    cliff = getattr(unwrapped, "_cliff", None)
    shape = getattr(unwrapped, "shape", None)
    if cliff is not None and shape is not None and int(np.prod(shape)) == num_states:
        rows = np.where(np.asarray(cliff, bool), "C", ".").astype("<U1")
        start = getattr(unwrapped, "start_state_index", None)
        if start is not None:
            rows[np.unravel_index(int(start), tuple(shape))] = _START
        rows[-1, -1] = _GOAL  # gymnasium's CliffWalking ends in the bottom-right corner.
        return ["".join(row) for row in rows]
    return None


def _states(
    observation_spec, grid_shape, resolution, bounds
) -> tuple[np.ndarray, tuple[int, int], tuple[float, float, float, float] | None]:
    """The states to evaluate, the grid they form, and its extent for continuous states."""
    if isinstance(observation_spec, dm_specs.DiscreteArray):
        count = observation_spec.num_values
        if grid_shape is None:
            side = math.isqrt(count)
            grid_shape = (side, side) if side * side == count else (1, count)
        if grid_shape[0] * grid_shape[1] != count:
            raise errors.ConfigError(f"grid_shape {grid_shape} does not hold {count} states.")
        return np.arange(count, dtype=observation_spec.dtype), tuple(grid_shape), None
    if observation_spec.shape == (2,):
        if bounds is None:
            bounds = _bounds(observation_spec)
            if bounds is None:
                raise errors.ConfigError(
                    "The observation space is unbounded: pass bounds=(x_min, x_max, y_min, "
                    "y_max) to plot_value_heatmap."
                )
        x = np.linspace(bounds[0], bounds[1], resolution)
        y = np.linspace(bounds[2], bounds[3], resolution)
        xx, yy = np.meshgrid(x, y)  # Rows are y (velocity), columns x (position).
        states = np.stack([xx.ravel(), yy.ravel()], axis=-1).astype(observation_spec.dtype)
        return states, (resolution, resolution), tuple(float(b) for b in bounds)
    raise errors.ConfigError(
        "plot_value_heatmap needs a discrete observation or a 2-D continuous one, got "
        f"{observation_spec!r}."
    )


def _bounds(observation_spec) -> tuple[float, float, float, float] | None:
    """(x_min, x_max, y_min, y_max) of a 2-D spec, or None if a bound is infinite."""
    low = np.asarray(getattr(observation_spec, "minimum", -np.inf), np.float64)
    high = np.asarray(getattr(observation_spec, "maximum", np.inf), np.float64)
    low, high = np.broadcast_to(low, (2,)), np.broadcast_to(high, (2,))
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        return None
    return (float(low[0]), float(high[0]), float(low[1]), float(high[1]))


def _cell_text(
    axis, column: float, row: float, text: str, fontsize: float, background, **placement: str
) -> None:
    """Text in a cell, black or white, whichever reads better on its `background` colour."""
    red, green, blue = background[:3]
    light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.5
    axis.text(
        column,
        row,
        text,
        color="black" if light else "white",
        fontsize=fontsize,
        **{"ha": "center", "va": "center", **placement},
    )


def _draw_map_cell(axis, column: int, row: int, mark: str, fontsize: float) -> None:
    """A hole / cliff (black, hatched) or goal (gold) cell, labelled with its letter."""
    from matplotlib.patches import Rectangle

    blocked = mark in _BLOCKED
    axis.add_patch(
        Rectangle(
            (column - 0.5, row - 0.5),
            1,
            1,
            facecolor="black" if blocked else "gold",
            edgecolor="0.45" if blocked else "darkgoldenrod",
            hatch="//" if blocked else None,
            linewidth=0.8,
            label=_MARK_NAMES[mark],
        )
    )
    axis.text(
        column,
        row,
        mark,
        ha="center",
        va="center",
        color="white" if blocked else "black",
        fontsize=fontsize + 2,
        fontweight="bold",
    )


def _format_value(value: float) -> str:
    """A value in at most about five characters: 0.62, -28.8, 153."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if magnitude >= 10 else f"{value:.2f}"


@dataclasses.dataclass
class _Maps:
    """What the two heatmaps show, laid out on the grid of states."""

    shape: tuple[int, int]
    extent: tuple[float, float, float, float] | None  # None: a grid world's cells.
    marks: np.ndarray  # Each cell's map character ("" without a map).
    state_values: np.ma.MaskedArray
    greedy: np.ma.MaskedArray
    names: list[str]
    arrows: list[str]  # An arrow per direction-like action name, else "".


def _evaluate_maps(
    value_function: Callable[[np.ndarray], np.ndarray],
    observation_spec,
    grid_shape: tuple[int, int] | None,
    resolution: int,
    bounds: tuple[float, float, float, float] | None,
    action_names: Sequence[str] | None,
    grid_map: Sequence[str] | None,
) -> _Maps:
    """The value and greedy action of every state, and the map and names drawn with them."""
    states, shape, extent = _states(observation_spec, grid_shape, resolution, bounds)
    values = np.asarray(value_function(states))
    if values.ndim != 2 or values.shape[0] != len(states):
        raise errors.ConfigError(
            f"value_function must map {len(states)} states to [{len(states)}, num_actions] "
            f"values, got shape {values.shape}."
        )
    marks = _grid_marks(grid_map, shape, extent)
    special = np.isin(marks, [*_BLOCKED, _GOAL])  # Terminal or never occupied: no value.
    num_actions = values.shape[1]
    names = list(action_names) if action_names else [str(a) for a in range(num_actions)]
    if len(names) != num_actions:
        raise errors.ConfigError(f"{len(names)} action names for {num_actions} actions: {names}.")
    return _Maps(
        shape=shape,
        extent=extent,
        marks=marks,
        state_values=np.ma.masked_array(values.max(axis=1).reshape(shape), special),
        greedy=np.ma.masked_array(values.argmax(axis=1).reshape(shape), special),
        names=names,
        arrows=[_ARROWS.get(name.lower(), "") for name in names],
    )


def _grid_marks(
    grid_map: Sequence[str] | None,
    shape: tuple[int, int],
    extent: tuple[float, float, float, float] | None,
) -> np.ndarray:
    """Each cell's map character, checked against the grid; "" everywhere without a map."""
    if grid_map is None:
        return np.full(shape, "", dtype="<U1")
    if extent is not None:
        raise errors.ConfigError("grid_map is for discrete states, not a continuous grid.")
    widths = {len(row) for row in grid_map}
    if len(grid_map) != shape[0] or widths != {shape[1]}:
        raise errors.ConfigError(
            f"grid_map has {len(grid_map)} rows of {sorted(widths)} characters but the "
            f"states form a {shape[0]}x{shape[1]} grid."
        )
    return np.array([list(row) for row in grid_map], dtype="<U1")


def _new_maps_figure(size_px: tuple[int, int], stacked: bool):
    """A figure and its two axes (values, actions): side by side, or one above the other."""
    if stacked:
        figure, axes = _figures.plt.subplots(
            2, 1, figsize=(size_px[0] / _figures.DPI, size_px[1] / _figures.DPI), dpi=_figures.DPI
        )
        return figure, tuple(axes)
    figure, axes = _figures.new_figure(size_px, ncols=2)
    return figure, tuple(axes[0])


def _image_options(maps: _Maps, stacked: bool) -> dict[str, Any]:
    if maps.extent is not None:
        return {"origin": "lower", "aspect": "auto", "extent": maps.extent}
    # A grid world: row 0 at the top, as it is drawn; square cells. A table (Taxi) or
    # stacked maps fill their axes (equal aspect would leave gaps that tight_layout does
    # not see).
    large = maps.shape[0] * maps.shape[1] > _MAX_ANNOTATED_CELLS
    return {"origin": "upper", "aspect": "auto" if large or stacked else "equal"}


def _draw_maps(figure, axes, maps: _Maps, image_options: dict[str, Any]):
    """The state-value and greedy-action heatmaps with their colour bars; returns both images."""
    left, right = axes
    image = left.imshow(maps.state_values, cmap="viridis", **image_options)
    figure.colorbar(image, ax=left)
    left.set_title("state value max_a Q(s, a)")
    num_actions = len(maps.names)
    cmap = _figures.plt.get_cmap("tab10", num_actions)
    actions_image = right.imshow(
        maps.greedy, cmap=cmap, vmin=-0.5, vmax=num_actions - 0.5, **image_options
    )
    colorbar = figure.colorbar(actions_image, ax=right, ticks=range(num_actions))
    colorbar.ax.set_yticklabels(
        [
            f"{arrow} {name}" if arrow else name
            for arrow, name in zip(maps.arrows, maps.names, strict=True)
        ]
    )
    right.set_title("greedy action")
    return image, actions_image


def _grid_fontsizes(maps: _Maps, size_px: tuple[int, int], stacked: bool) -> tuple[float, float]:
    """The font sizes of a grid's text and of its values, scaled to the cells: about a
    quarter of a cell's side (in points at 100 dpi)."""
    rows, columns = maps.shape
    if stacked:
        cell_px = min(0.8 * size_px[0] / columns, 0.35 * size_px[1] / rows)
    else:
        cell_px = min(0.36 * size_px[0] / columns, 0.7 * size_px[1] / rows)
    fontsize = float(np.clip(cell_px / 4.5, 6, 12))
    # Values as wide as "-28.8" get smaller type so that they stay inside their cells.
    widest = max((len(_format_value(v)) for v in maps.state_values.compressed()), default=4)
    return fontsize, min(fontsize, cell_px / max(widest, 4))


def _annotate_grid(axes, images, maps: _Maps, fontsize: float, value_fontsize: float) -> None:
    """Marks the map's holes, cliffs and goal on both maps and, on a grid small enough to
    read, writes each cell's value and greedy action."""
    annotated = maps.shape[0] * maps.shape[1] <= _MAX_ANNOTATED_CELLS
    for row in range(maps.shape[0]):
        for column in range(maps.shape[1]):
            mark = maps.marks[row, column]
            if mark in _MARK_NAMES and mark != _START:
                for axis in axes:
                    _draw_map_cell(axis, column, row, mark, fontsize)
            elif annotated:
                _annotate_cell(axes, images, maps, row, column, fontsize, value_fontsize)


def _annotate_cell(
    axes, images, maps: _Maps, row: int, column: int, fontsize: float, value_fontsize: float
) -> None:
    """A cell's value, its greedy action (an arrow if it has one), and S on the start."""
    left, right = axes
    action = int(maps.greedy[row, column])
    value = maps.state_values[row, column]
    backgrounds = (images[0].to_rgba(value), images[1].to_rgba(action))
    glyph = maps.arrows[action]
    _cell_text(left, column, row, _format_value(value), value_fontsize, backgrounds[0])
    _cell_text(
        right,
        column,
        row,
        glyph or maps.names[action],
        fontsize * 1.6 if glyph else fontsize,
        backgrounds[1],
    )
    mark = maps.marks[row, column]
    if mark == _START:  # A letter in the cell's top-left corner.
        for axis, background in zip(axes, backgrounds, strict=True):
            _cell_text(
                axis,
                column - 0.45,
                row - 0.45,
                mark,
                fontsize,
                background,
                ha="left",
                va="top",
                fontweight="bold",
            )


def _label_axes(
    axes,
    maps: _Maps,
    tick_labels: tuple[Sequence[str], Sequence[str]] | None,
    axis_labels: tuple[str, str] | None,
) -> None:
    if maps.extent is not None:
        for axis in axes:
            axis.set_xlabel(axis_labels[0] if axis_labels else "state dim 0")
            axis.set_ylabel(axis_labels[1] if axis_labels else "state dim 1")
        return
    rows, columns = maps.shape
    for axis in axes:
        if tick_labels is not None:
            axis.set_xticks(range(columns), tick_labels[0], rotation=90, fontsize=6)
            axis.set_yticks(range(rows), tick_labels[1], fontsize=6)
        elif rows * columns <= _MAX_ANNOTATED_CELLS:
            axis.set_xticks(range(columns))
            axis.set_yticks(range(rows))
        if axis_labels is not None:
            axis.set_xlabel(axis_labels[0])
            axis.set_ylabel(axis_labels[1])


def _mark_legend(figure, marks: np.ndarray, size_px: tuple[int, int]) -> float:
    """A legend of the map's characters under the maps; returns the figure's height it takes
    (as a fraction), 0 without a map."""
    present = [mark for mark in _MARK_NAMES if (marks == mark).any()]
    if not present:
        return 0.0
    from matplotlib.patches import Patch

    handles = []
    for mark in present:
        if mark in _BLOCKED:
            style = {"facecolor": "black", "edgecolor": "0.45", "hatch": "//"}
        elif mark == _GOAL:
            style = {"facecolor": "gold", "edgecolor": "darkgoldenrod"}
        else:
            style = {"facecolor": "none", "edgecolor": "none"}
        handles.append(Patch(label=f"{mark}: {_MARK_NAMES[mark]}", **style))
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    return 40 / size_px[1]


def _draw(
    value_function: Callable[[np.ndarray], np.ndarray],
    observation_spec,
    *,
    size_px: tuple[int, int],
    grid_shape: tuple[int, int] | None = None,
    resolution: int = 60,
    bounds: tuple[float, float, float, float] | None = None,
    action_names: Sequence[str] | None = None,
    axis_labels: tuple[str, str] | None = None,
    grid_map: Sequence[str] | None = None,
    tick_labels: tuple[Sequence[str], Sequence[str]] | None = None,
    title: str | None = None,
):
    """The figure of `plot_value_heatmap`, and its (values, actions) axes; not saved."""
    maps = _evaluate_maps(
        value_function, observation_spec, grid_shape, resolution, bounds, action_names, grid_map
    )
    # A wide grid (CliffWalking's 4x12) stacks its two maps so each spans the figure.
    stacked = maps.extent is None and maps.shape[1] >= 2 * maps.shape[0]
    figure, axes = _new_maps_figure(size_px, stacked)
    images = _draw_maps(figure, axes, maps, _image_options(maps, stacked))
    if maps.extent is None:
        _annotate_grid(axes, images, maps, *_grid_fontsizes(maps, size_px, stacked))
    _label_axes(axes, maps, tick_labels, axis_labels)
    bottom = _mark_legend(figure, maps.marks, size_px)
    top = 1.0
    if title:
        figure.suptitle(title)
        top = 1 - 30 / size_px[1]
    figure.tight_layout(rect=(0, bottom, 1, top))
    return figure, axes


def plot_value_heatmap(
    value_function: Callable[[np.ndarray], np.ndarray],
    observation_spec,
    out: str,
    grid_shape: tuple[int, int] | None = None,
    resolution: int = 60,
    bounds: tuple[float, float, float, float] | None = None,
    action_names: Sequence[str] | None = None,
    axis_labels: tuple[str, str] | None = None,
    size_px: tuple[int, int] = (1000, 450),
    grid_map: Sequence[str] | None = None,
    tick_labels: tuple[Sequence[str], Sequence[str]] | None = None,
    title: str | None = None,
) -> str:
    """Heatmaps of the state value max_a Q(s, a) and of the greedy action over all states.

    Args:
      value_function: `observations [B, ...] -> values [B, num_actions]` (e.g.
        `SavedPolicy.value_function`).
      observation_spec: a `DiscreteArray` (FrozenLake, a grid maze: laid out on
        `grid_shape`, square by default) or a 2-D bounded array (MountainCar's position x
        velocity: a `resolution` x `resolution` grid over `bounds`, the spec's by default).
      out: the PNG to write; returned.
      action_names: one per action, for the legend (direction names such as "Left" are
        drawn as arrows in grid cells).
      axis_labels: (x, y) axis labels.
      size_px: (width, height) of the PNG in pixels.
      grid_map: for a discrete state, the rows of its grid world's map, one character per
        state (gymnasium's `desc`: H hole, G goal, S start; C cliff): holes, cliffs and the
        goal are drawn as marked cells (out of the colour scale), the start is labelled.
      tick_labels: (x, y) tick labels for the columns and rows of a discrete grid.
      title: a title above both maps.
    """
    figure, _ = _draw(
        value_function,
        observation_spec,
        size_px=size_px,
        grid_shape=grid_shape,
        resolution=resolution,
        bounds=bounds,
        action_names=action_names,
        axis_labels=axis_labels,
        grid_map=grid_map,
        tick_labels=tick_labels,
        title=title,
    )
    return _figures.save_figure(figure, out)


def _gymnasium_environment(environment: Any) -> Any:
    """The gymnasium environment under rlkit's dm_env wrappers (each has `.environment`)."""
    seen = 0
    while not isinstance(environment, gymnasium.Env) and seen < 32:
        inner = getattr(environment, "environment", None)
        if inner is None or inner is environment:
            return None
        environment, seen = inner, seen + 1
    return environment if isinstance(environment, gymnasium.Env) else None


SUPPORTED = (
    "a discrete observation (e.g. FrozenLake-v1, CliffWalking-v1, Taxi-v4) or a bounded 2-D "
    "continuous one (e.g. MountainCar-v0)"
)


def _describe(spec) -> str:
    shape = "x".join(str(d) for d in spec.shape) or "scalar"
    return f"a {np.dtype(spec.dtype).name} observation of shape {shape}"


def plot_policy_values(
    policy: SavedPolicy,
    out: str,
    resolution: int = 60,
    bounds: tuple[float, float, float, float] | None = None,
    size_px: tuple[int, int] | None = None,
) -> str:
    """Greedy state values and actions of a saved policy over its environment's states.

    The environment supplies the layout: a grid world's map (FrozenLake's holes, goal and
    start; CliffWalking's cliff), Taxi's (taxi cell) x (passenger, destination) table, the
    names of the actions and the axes of MountainCar's position x velocity grid.

    Args:
      policy: a `SavedPolicy` (`rlkit.experiments.load_policy(run_dir)`).
      out: the PNG to write; returned.
      resolution: points per axis of a 2-D continuous observation.
      bounds: (x_min, x_max, y_min, y_max) of a 2-D observation; the spec's by default.
      size_px: (width, height) in pixels; chosen from the grid's shape by default.

    Raises:
      ConfigError: the policy has no value function, or its observation is neither
        discrete nor 2-D and bounded.
    """
    value_function = policy.value_function
    discrete = _check_plottable(policy, value_function, bounds)
    names, options, goal = _environment_layout(policy, discrete, resolution, bounds)
    if size_px is None:
        size_px = _default_size(options.get("grid_shape"))
    figure, axes = _draw(
        value_function,
        policy.environment_spec.observations,
        size_px=size_px,
        action_names=names,
        **options,
    )
    mountain_car = _env_name(policy.env_id).startswith("MountainCar")
    if not discrete and mountain_car and isinstance(goal, int | float):
        _draw_goal_line(axes, float(goal))
    return _figures.save_figure(figure, out)


def _check_plottable(
    policy: SavedPolicy,
    value_function: Callable[[np.ndarray], np.ndarray] | None,
    bounds: tuple[float, float, float, float] | None,
) -> bool:
    """Raises `ConfigError` unless the policy's values can be drawn; returns whether its
    observation is discrete (else it is 2-D)."""
    if value_function is None:
        raise errors.ConfigError(
            f"The {policy.agent} agent has no state-action values to plot (value heatmaps "
            "need an agent with a Q-function, e.g. dqn)."
        )
    spec = policy.environment_spec.observations
    discrete = isinstance(spec, dm_specs.DiscreteArray)
    two_d = not discrete and getattr(spec, "shape", None) == (2,)
    if not (discrete or two_d):
        what = _describe(spec) if hasattr(spec, "shape") else "a structured observation"
        raise errors.ConfigError(f"Value heatmaps need {SUPPORTED}; {policy.env_id} has {what}.")
    if two_d and bounds is None and _bounds(spec) is None:
        raise errors.ConfigError(
            f"{policy.env_id}'s 2-D observation is unbounded, so there is no grid of states "
            "to draw (in Python, pass bounds=(x_min, x_max, y_min, y_max))."
        )
    action_spec = policy.environment_spec.actions
    if not isinstance(action_spec, dm_specs.DiscreteArray):
        raise errors.ConfigError(
            f"Value heatmaps draw one value per discrete action; {policy.env_id}'s actions are "
            f"{action_spec!r}."
        )
    return discrete


def _environment_layout(
    policy: SavedPolicy,
    discrete: bool,
    resolution: int,
    bounds: tuple[float, float, float, float] | None,
) -> tuple[list[str], dict[str, Any], Any]:
    """What the policy's environment tells about its heatmaps: the action names, the
    options of `_draw`, and MountainCar's goal position (None if it has none)."""
    spec = policy.environment_spec.observations
    num_actions = int(policy.environment_spec.actions.num_values)
    environment = policy.make_environment()
    try:
        gym_environment = _gymnasium_environment(environment)
        names = action_names(policy.env_id, gym_environment, num_actions)
        options: dict[str, Any] = {"title": f"{policy.agent} on {policy.env_id}"}
        if discrete:
            options.update(_discrete_layout(policy.env_id, gym_environment, spec.num_values))
        else:
            axes = _by_prefix(OBSERVATION_AXES, policy.env_id)
            options["axis_labels"] = axes or ("observation[0]", "observation[1]")
            options["resolution"] = resolution
            options["bounds"] = bounds
        goal = getattr(getattr(gym_environment, "unwrapped", None), "goal_position", None)
    finally:
        environment.close()
    return names, options, goal


def _draw_goal_line(axes, goal: float) -> None:
    """MountainCar's flag, on both maps: the episode ends past it."""
    from matplotlib import patheffects

    outline = [patheffects.withStroke(linewidth=2, foreground="black")]
    for axis in axes:
        axis.axvline(goal, color="white", linestyle="--", linewidth=1)
        axis.text(
            goal,
            axis.get_ylim()[1],
            "goal ",
            color="white",
            ha="right",
            va="top",
            path_effects=outline,
        )


def _discrete_layout(env_id: str, environment: Any, num_states: int) -> dict[str, Any]:
    """Grid shape, map, tick and axis labels of a discrete observation's heatmap."""
    grid_map = grid_world_map(environment, num_states) if environment is not None else None
    if grid_map is not None:
        return {
            "grid_shape": (len(grid_map), len(grid_map[0])),
            "grid_map": grid_map,
            "axis_labels": ("column", "row"),
        }
    if _env_name(env_id).startswith("Taxi") and num_states == 500:
        # state = ((taxi_row * 5 + taxi_col) * 5 + passenger) * 4 + destination.
        places = "RGYB"
        return {
            "grid_shape": (25, 20),
            "tick_labels": (
                [f"{p}>{d}" for p in (*places, "taxi") for d in places],
                [f"({row},{column})" for row in range(5) for column in range(5)],
            ),
            "axis_labels": ("passenger > destination", "taxi (row, column)"),
        }
    return {}


def _default_size(grid_shape: tuple[int, int] | None) -> tuple[int, int]:
    """A figure size that keeps grid cells roughly square: wide grids get a wide figure."""
    if grid_shape is None:
        return (1000, 450)
    rows, columns = grid_shape
    if columns >= 2 * rows:  # CliffWalking's 4x12: the maps are stacked.
        return (1000, 720)
    if rows >= 20:  # Taxi's 25x20 table.
        return (1200, 650)
    return (1000, 450)
