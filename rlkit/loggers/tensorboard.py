"""A TensorBoard logger (tensorboardX: no TensorFlow graph, no session)."""

from __future__ import annotations

import numbers

from rlkit.loggers.base import Logger, LoggingData, to_python


class TensorBoardLogger(Logger):
    """Writes every numeric value as the scalar `label/key` at step `data[steps_key]`.

    Rows without `steps_key` are numbered by the logger. A resumed run appends a new event
    file to the same directory, with `purge_step` set to the step it resumed after:
    TensorBoard then drops the older events of the whole directory from that step on, so
    redone steps appear once (give each purging logger its own directory).
    """

    def __init__(
        self,
        logdir: str,
        label: str = "",
        steps_key: str = "actor_steps",
        purge_step: int | None = None,
    ):
        from tensorboardX import SummaryWriter

        # Event files are named by the second they were opened in: loggers of several labels
        # opened together in one directory need their own suffix, or they write one file.
        suffix = f".{label}" if label else ""
        self._writer = SummaryWriter(logdir=logdir, purge_step=purge_step, filename_suffix=suffix)
        self._label = label
        self._steps_key = steps_key
        self._rows = 0

    def write(self, data: LoggingData) -> None:
        self._rows += 1
        step = int(to_python(data.get(self._steps_key, self._rows)))
        for key, value in data.items():
            value = to_python(value)
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                tag = f"{self._label}/{key}" if self._label else key
                self._writer.add_scalar(tag, float(value), global_step=step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
