"""Keeps Reverb's C++ INFO lines off the terminal while the `rlkit` command runs.

Reverb logs server start/stop, sampler set-up and checkpoint writes from C++ (`std::clog`) to
file descriptor 2; no environment variable of Reverb 0.14 silences them. Every entry point,
this command included, silences them at their source (`rlkit/_reverb_logs.py`; shown again
with `RLKIT_REVERB_LOGS=1`). Only where that is impossible (no libstdc++ with the expected
layout) does the command route fd 2 through a pipe and a thread that forwards every line but
Reverb's, so Python's own errors, warnings and crash reports still reach the terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

NOISE_PREFIXES = (b"[reverb/cc/",)


def _forward(read_fd: int, write_fd: int) -> None:
    pending = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = [line + b"\n" for line in lines if not line.startswith(NOISE_PREFIXES)]
            if kept:
                os.write(write_fd, b"".join(kept))
    if pending and not pending.startswith(NOISE_PREFIXES):
        os.write(write_fd, pending)


@contextlib.contextmanager
def filtered_stderr():
    """Forwards fd 2 through a filter for the duration of the block (a no-op if Reverb's
    lines are silenced at their source or asked for, or if fd 2 is not a real file
    descriptor, e.g. under some test harnesses)."""
    from rlkit import _reverb_logs

    if _reverb_logs.wanted() or _reverb_logs.quiet():
        yield
        return
    try:
        stderr_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    if stderr_fd != 2:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    thread = threading.Thread(target=_forward, args=(read_fd, saved), daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # Closes the pipe's last write end: the thread sees EOF.
        thread.join(timeout=5)
        os.close(saved)
