"""Keeps Ray's own log lines off the terminal during a distributed run, in the run's log.

A distributed run's driver prints Ray's start-up messages (e.g. "Token authentication is
enabled for this Ray cluster ...", through the `ray` Python logger, which Ray gives its own
stderr handler when it is imported) and the ERROR lines of Ray's C++ core worker, which Ray
writes to the driver's file descriptor 2 besides its own log file, e.g.
`[2026-01-01 00:00:00,000 E 123 123] core_worker.cc:2465: Actor with class name ...`, which
reads like a failure but is not one. No Ray option or environment variable keeps those C++
lines off stderr alone (`RAY_BACKEND_LOG_LEVEL` drops them from Ray's own log file too, and
prints a line of its own).

`diverted(path)`, around a distributed run (`rlkit.experiments.distributed`), appends both to
`path`, the run's `logs/ray.log` (nowhere without a run directory: Ray keeps its C++ lines in
its own logs, under its session directory, which `ray.log` names): the `ray` logger's
handlers are swapped for one writing there (Ray must then be started with
`configure_logging=True`: without it, `ray.init` drops the `ray` logger's handlers, and its
messages reach stderr through Python's last resort), and fd 2 goes through a pipe and a
thread that passes on every line but Ray's C++ log lines, so Python's own errors, warnings
and tracebacks (rlkit's log lines, a worker's error raised in the driver) still reach the
terminal. Ray's FATAL lines (a crash of Ray itself) stay on the terminal as well.

Set `RLKIT_RAY_LOGS=1` to leave Ray's lines on the terminal (as `RLKIT_REVERB_LOGS=1` does
Reverb's, see `rlkit/_reverb_logs.py`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator

VARIABLE = "RLKIT_RAY_LOGS"
LOG_NAME = "ray.log"  # In the run's logs directory.
# Ray's C++ log lines (spdlog, `src/ray/util/logging.cc`): date, time, severity (Debug, Info,
# Warning, Error; Fatal ones are left alone), process and thread ids.
CXX_LINE = re.compile(rb"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [DIWE] \d+ \d+\] \S+\.(cc|h):\d+: ")


def wanted() -> bool:
    """Whether the user asked for Ray's log lines on the terminal (`RLKIT_RAY_LOGS`)."""
    setting = os.environ.get(VARIABLE, "").strip().lower()
    return bool(setting) and setting not in ("0", "false", "no", "off")


class _Sink:
    """Appends lines to a file (or drops them), from any thread; `note` adds rlkit's own."""

    def __init__(self, path: str | None):
        self._file = None if path is None else open(path, "ab", buffering=0)  # noqa: SIM115
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        if self._file is None:
            return
        with self._lock:
            with contextlib.suppress(OSError, ValueError):  # A full disk, or closed: dropped.
                self._file.write(data)

    def note(self, line: str) -> None:
        self.write(f"rlkit: {line.rstrip()}\n".encode(errors="replace"))

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()


class _SinkHandler(logging.Handler):
    def __init__(self, sink: _Sink):
        super().__init__()
        self._sink = sink
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._sink.write(f"{self.format(record)}\n".encode(errors="replace"))
        except Exception:  # noqa: BLE001  As logging's handlers do.
            self.handleError(record)


@contextlib.contextmanager
def _ray_logger_to(sink: _Sink) -> Iterator[None]:
    """Records of the `ray` logger (and those under it) go to `sink` for the block."""
    logger = logging.getLogger("ray")
    handlers, level = logger.handlers[:], logger.level
    logger.handlers = [_SinkHandler(sink)]
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.handlers = handlers
        logger.setLevel(level)


def _forward(read_fd: int, write_fd: int, sink: _Sink) -> None:
    """Passes the pipe's lines on to `write_fd`, but Ray's C++ log lines to `sink`."""

    def route(lines: list[bytes]) -> None:
        kept = []
        for line in lines:
            if CXX_LINE.match(line):
                sink.write(line)
            else:
                kept.append(line)
        data = memoryview(b"".join(kept))
        with contextlib.suppress(OSError):  # The terminal gone: the pipe is still drained.
            while data:
                data = data[os.write(write_fd, data) :]

    pending = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            route([line + b"\n" for line in lines])
    if pending:
        route([pending])


@contextlib.contextmanager
def _cxx_lines_to(sink: _Sink) -> Iterator[None]:
    """Ray's C++ log lines written to fd 2 go to `sink` for the block (a no-op if fd 2 is
    not open)."""
    try:
        os.fstat(2)
    except OSError:
        yield
        return
    with contextlib.suppress(Exception):  # Python's own lines first, in order.
        sys.stderr.flush()
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    thread = threading.Thread(
        target=_forward, args=(read_fd, saved, sink), name="rlkit-ray-logs", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)  # Closes the pipe's last write end here: the thread sees its end.
        thread.join(timeout=10)
        if not thread.is_alive():  # Else a process of Ray's still holds the pipe open.
            os.close(saved)


@contextlib.contextmanager
def diverted(path: str | None) -> Iterator[_Sink]:
    """Ray's log lines in this process go to `path` (appended; None: nowhere) for the block,
    unless `wanted()`; yields the file, for lines of rlkit's own (`note`). See the module
    docstring."""
    sink = _Sink(path)
    try:
        if wanted():
            yield sink
        else:
            with _ray_logger_to(sink), _cxx_lines_to(sink):
                yield sink
    finally:
        sink.close()
