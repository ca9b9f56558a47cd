"""A logger that appends rows to a CSV file."""

from __future__ import annotations

import csv
import os

from rlkit.loggers.base import Logger, LoggingData, to_python


class CSVLogger(Logger):
    """Appends each row to `directory/label.csv`; the first row fixes the columns.

    An existing file is appended to (a resumed run continues its log); columns are read back
    from its header.
    """

    def __init__(self, directory: str, label: str = "logs"):
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, f"{label}.csv")
        self._fieldnames: list[str] | None = None
        if os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            with open(self.path, newline="") as existing:
                self._fieldnames = next(csv.reader(existing))
        self._file = open(self.path, "a", newline="")  # noqa: SIM115 - closed in close().
        self._writer = None

    def write(self, data: LoggingData) -> None:
        row = {key: to_python(value) for key, value in data.items()}
        if self._writer is None:
            new_file = self._fieldnames is None
            self._fieldnames = self._fieldnames or list(row)
            self._writer = csv.DictWriter(self._file, self._fieldnames, extrasaction="ignore")
            if new_file:
                self._writer.writeheader()
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()
