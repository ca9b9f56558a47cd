"""Shared figure handling: the Agg backend, a fixed pixel size, atomic PNG writes."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # Files only: works headless and never opens a window.
import matplotlib.pyplot as plt  # noqa: E402

DPI = 100


def new_figure(size_px: tuple[int, int], ncols: int = 1):
    """A figure of exactly `size_px` (width, height) pixels when saved."""
    width, height = size_px
    return plt.subplots(1, ncols, figsize=(width / DPI, height / DPI), dpi=DPI, squeeze=False)


def save_figure(figure, path: str) -> str:
    """Saves `figure` as PNG at its exact size (no tight bbox) and closes it."""
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    temporary = f"{path}.tmp.png"
    figure.savefig(temporary, dpi=DPI, format="png")
    plt.close(figure)
    os.replace(temporary, path)
    return path
