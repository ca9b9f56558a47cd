"""Analysis: learning curves, value heatmaps, episode plots and videos (matplotlib, imageio)."""

from rlkit.analysis.curves import load_learning_curve, plot_learning_curves
from rlkit.analysis.episodes import EpisodeRecord, plot_episode, record_episode, write_video
from rlkit.analysis.values import plot_value_heatmap

__all__ = [
    "EpisodeRecord",
    "load_learning_curve",
    "plot_episode",
    "plot_learning_curves",
    "plot_value_heatmap",
    "record_episode",
    "write_video",
]
