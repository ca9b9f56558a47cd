"""Analysis: learning curves, value heatmaps, episode plots and videos (matplotlib, imageio)."""

from typing import TYPE_CHECKING

from rlkit import _lazy

# Imported on first use (see rlkit/_lazy.py): matplotlib, pandas and JAX load when needed.
_EXPORTS = {
    "EpisodeRecord": "rlkit.analysis.episodes",
    "load_evaluations": "rlkit.analysis.curves",
    "load_learning_curve": "rlkit.analysis.curves",
    "load_training_episodes": "rlkit.analysis.curves",
    "plot_episode": "rlkit.analysis.episodes",
    "plot_learning_curves": "rlkit.analysis.curves",
    "plot_policy_values": "rlkit.analysis.values",
    "plot_value_heatmap": "rlkit.analysis.values",
    "record_episode": "rlkit.analysis.episodes",
    "write_video": "rlkit.analysis.episodes",
}
_lazy.attach(__name__, _EXPORTS)

if TYPE_CHECKING:
    from rlkit.analysis.curves import (
        load_evaluations,
        load_learning_curve,
        load_training_episodes,
        plot_learning_curves,
    )
    from rlkit.analysis.episodes import EpisodeRecord, plot_episode, record_episode, write_video
    from rlkit.analysis.values import plot_policy_values, plot_value_heatmap

__all__ = [
    "EpisodeRecord",
    "load_evaluations",
    "load_learning_curve",
    "load_training_episodes",
    "plot_episode",
    "plot_learning_curves",
    "plot_policy_values",
    "plot_value_heatmap",
    "record_episode",
    "write_video",
]
