"""Weights & Biases logging, an optional extra: `pip install 'rlkit-jax[wandb]'`."""

from __future__ import annotations

from typing import Any

from rlkit import errors
from rlkit.loggers.base import Logger, LoggingData, to_python


class WandbLogger(Logger):
    """Logs rows to a W&B run as `label/key`; the run is resumed when `run_id` is reused."""

    def __init__(
        self,
        label: str,
        project: str = "rlkit",
        run_id: str | None = None,
        directory: str | None = None,
        config: dict[str, Any] | None = None,
    ):
        try:
            import wandb
        except ImportError as error:
            raise errors.ConfigError(
                "The wandb logger needs the wandb package: pip install 'rlkit-jax[wandb]' "
                "(or drop 'wandb' from the loggers)."
            ) from error
        self._wandb = wandb
        self._label = label
        if wandb.run is None:
            wandb.init(project=project, id=run_id, dir=directory, config=config, resume="allow")

    def write(self, data: LoggingData) -> None:
        self._wandb.log({f"{self._label}/{key}": to_python(v) for key, v in data.items()})

    def close(self) -> None:
        if self._wandb.run is not None:
            self._wandb.finish()
