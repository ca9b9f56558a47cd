"""Value heatmaps over a small state space: a discrete state or a 2-D continuous one."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from dm_env import specs as dm_specs

from rlkit import errors
from rlkit.analysis import _figures


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
            low = np.asarray(getattr(observation_spec, "minimum", -np.inf), np.float64)
            high = np.asarray(getattr(observation_spec, "maximum", np.inf), np.float64)
            low, high = np.broadcast_to(low, (2,)), np.broadcast_to(high, (2,))
            if not (np.isfinite(low).all() and np.isfinite(high).all()):
                raise errors.ConfigError(
                    "The observation space is unbounded: pass bounds=(x_min, x_max, y_min, "
                    "y_max) to plot_value_heatmap."
                )
            bounds = (low[0], high[0], low[1], high[1])
        x = np.linspace(bounds[0], bounds[1], resolution)
        y = np.linspace(bounds[2], bounds[3], resolution)
        xx, yy = np.meshgrid(x, y)  # Rows are y (velocity), columns x (position).
        states = np.stack([xx.ravel(), yy.ravel()], axis=-1).astype(observation_spec.dtype)
        return states, (resolution, resolution), tuple(float(b) for b in bounds)
    raise errors.ConfigError(
        "plot_value_heatmap needs a discrete observation or a 2-D continuous one, got "
        f"{observation_spec!r}."
    )


def plot_value_heatmap(
    value_function: Callable[[np.ndarray], np.ndarray],
    observation_spec,
    out: str,
    grid_shape: tuple[int, int] | None = None,
    resolution: int = 60,
    bounds: tuple[float, float, float, float] | None = None,
    action_names: Sequence[str] | None = None,
    axis_labels: tuple[str, str] = ("state dim 0", "state dim 1"),
    size_px: tuple[int, int] = (1000, 450),
) -> str:
    """Heatmaps of the state value max_a Q(s, a) and of the greedy action over all states.

    Args:
      value_function: `observations [B, ...] -> values [B, num_actions]` (e.g.
        `SavedPolicy.value_function`).
      observation_spec: a `DiscreteArray` (FrozenLake, a grid maze: laid out on
        `grid_shape`, square by default) or a 2-D bounded array (MountainCar's position x
        velocity: a `resolution` x `resolution` grid over `bounds`, the spec's by default).
      out: the PNG to write; returned.
    """
    states, shape, extent = _states(observation_spec, grid_shape, resolution, bounds)
    values = np.asarray(value_function(states))
    if values.ndim != 2 or values.shape[0] != len(states):
        raise errors.ConfigError(
            f"value_function must map {len(states)} states to [{len(states)}, num_actions] "
            f"values, got shape {values.shape}."
        )
    state_values = values.max(axis=1).reshape(shape)
    greedy = values.argmax(axis=1).reshape(shape)
    num_actions = values.shape[1]
    names = list(action_names) if action_names else [str(a) for a in range(num_actions)]
    figure, axes = _figures.new_figure(size_px, ncols=2)
    image_kwargs = {"origin": "lower", "aspect": "auto", "extent": extent}
    if extent is None:  # A grid world: row 0 at the top, as it is drawn.
        image_kwargs = {"origin": "upper"}
    left, right = axes[0]
    image = left.imshow(state_values, cmap="viridis", **image_kwargs)
    figure.colorbar(image, ax=left)
    left.set_title("state value max_a Q(s, a)")
    cmap = _figures.plt.get_cmap("tab10", num_actions)
    actions_image = right.imshow(
        greedy, cmap=cmap, vmin=-0.5, vmax=num_actions - 0.5, **image_kwargs
    )
    colorbar = figure.colorbar(actions_image, ax=right, ticks=range(num_actions))
    colorbar.ax.set_yticklabels(names)
    right.set_title("greedy action")
    if extent is None:
        for row in range(shape[0]):
            for column in range(shape[1]):
                left.text(
                    column,
                    row,
                    f"{state_values[row, column]:.2f}",
                    ha="center",
                    va="center",
                    color="white",
                    fontsize=8,
                )
                right.text(
                    column,
                    row,
                    names[greedy[row, column]],
                    ha="center",
                    va="center",
                    color="white",
                    fontsize=8,
                )
        for axis in (left, right):
            axis.set_xticks(range(shape[1]))
            axis.set_yticks(range(shape[0]))
    else:
        for axis in (left, right):
            axis.set_xlabel(axis_labels[0])
            axis.set_ylabel(axis_labels[1])
    figure.tight_layout()
    return _figures.save_figure(figure, out)
