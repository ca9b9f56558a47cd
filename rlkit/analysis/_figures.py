"""Shared figure handling: the Agg backend, a fixed pixel size, atomic PNG writes."""

from __future__ import annotations

import os

import matplotlib

from rlkit import errors

matplotlib.use("Agg")  # Files only: works headless and never opens a window.
import matplotlib.pyplot as plt  # noqa: E402

DPI = 100


def new_figure(size_px: tuple[int, int], ncols: int = 1, nrows: int = 1, sharex: bool = False):
    """A figure of exactly `size_px` (width, height) pixels when saved, and its axes as an
    (nrows, ncols) array."""
    width, height = size_px
    return plt.subplots(
        nrows,
        ncols,
        figsize=(width / DPI, height / DPI),
        dpi=DPI,
        squeeze=False,
        sharex=sharex,
    )


def save_figure(figure, path: str) -> str:
    """Saves `figure` as PNG at its exact size (no tight bbox) and closes it."""
    temporary = f"{path}.tmp.png"
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        figure.savefig(temporary, dpi=DPI, format="png")
        os.replace(temporary, path)
    except OSError as error:
        raise errors.RlkitError(f"Could not write {path!r}: {error}") from None
    finally:
        plt.close(figure)
    return path
