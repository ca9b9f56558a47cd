"""Starting Ray for a run: a local Ray or a cluster's, its workers at normal priority, the
run's signals kept through its start, its log lines in the run's log."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import warnings
from typing import Any

from rlkit import _ray_logs

# Read by a Ray node's raylet when it starts: the niceness of the worker processes.
WORKER_NICENESS_VARIABLE = "RAY_worker_niceness"


def start_ray(
    ray: Any,
    stack: contextlib.ExitStack,
    logs_dir: str | None,
    ray_address: str | None,
    num_cpus: int,
) -> None:
    """Starts a local Ray with at least `num_cpus` CPUs, or joins `ray_address` (unless Ray
    is running already), with Ray's log lines diverted to `logs_dir/ray.log` until it is
    stopped (`rlkit/_ray_logs.py`); both ends go on `stack`."""
    path = None
    if logs_dir is not None:
        os.makedirs(logs_dir, exist_ok=True)
        path = os.path.join(logs_dir, _ray_logs.LOG_NAME)
    ray_log = stack.enter_context(_ray_logs.diverted(path))
    if ray.is_initialized():
        return
    stack.callback(ray.shutdown)  # Also after a start cut short.
    # Ray's logging configured (`configure_logging`) keeps the `ray` logger's handlers:
    # unconfigured, it drops them, and its messages reach stderr through Python's last
    # resort. The workers' output stays in Ray's logs (`log_to_driver`): their errors
    # reach the driver as exceptions.
    options: dict[str, Any] = dict(log_to_driver=False, configure_logging=True)
    with (
        warnings.catch_warnings(),
        workers_at_normal_priority(),
        signals_held_over_ray_start(ray),
    ):
        # Ray starts its processes with fork + exec: nothing of JAX's runs in the child.
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
        if ray_address is None:
            ray.init(
                num_cpus=max(os.cpu_count() or 1, num_cpus), include_dashboard=False, **options
            )
        else:
            ray.init(address=ray_address, **options)
    with contextlib.suppress(Exception):  # A private attribute: the note is optional.
        logs = ray._private.worker.global_worker.node.get_logs_dir_path()
        ray_log.note(f"Ray's own logs, every Ray process's (this node's): {logs}")


@contextlib.contextmanager
def workers_at_normal_priority():
    """Has a Ray started meanwhile run its workers at normal priority (nice 0). Ray's
    default (nice 15) suits workers beside a busy driver; here the workers are the training,
    and at nice 15 any other busy process on the machine starves them (on 2 shared cores,
    minutes to start). `RAY_worker_niceness` set by the user wins."""
    previous = os.environ.get(WORKER_NICENESS_VARIABLE)
    os.environ.setdefault(WORKER_NICENESS_VARIABLE, "0")
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(WORKER_NICENESS_VARIABLE, None)


@contextlib.contextmanager
def signals_held_over_ray_start(ray: Any):
    """Holds Ctrl-C and SIGTERM while Ray starts (`ray.init`), then hands the one that came
    (SIGTERM first) to this process's handlers: the runner's, which end the run. Ray's start
    cut short leaves processes of Ray's behind (its agents) and stalls the driver's exit by a
    minute; a second signal is not held: it cuts the start short. `ray.init` installs a
    SIGTERM handler of its own (`sys.exit(15)`: no checkpoint, exit status 15); it is kept
    out, and this process's handler stays."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python lets only the main thread handle signals: nothing is installed.
        return
    kept = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    kept = {number: handler for number, handler in kept.items() if callable(handler)}
    held: list[int] = []

    def hold(number: int, frame: Any) -> None:
        if held:
            kept[number](number, frame)  # The second: raised now.
        held.append(number)

    utils = getattr(getattr(ray, "_private", None), "utils", None)
    set_sigterm_handler = getattr(utils, "set_sigterm_handler", None)
    if set_sigterm_handler is not None:
        utils.set_sigterm_handler = lambda handler: None
    try:
        for number in kept:
            signal.signal(number, hold)
        yield
    except SystemExit as exit_:  # Ray's handler all the same: the signal's number its status.
        if exit_.code != signal.SIGTERM or signal.SIGTERM not in kept:
            raise
        held.append(signal.SIGTERM)
    finally:
        if set_sigterm_handler is not None:
            utils.set_sigterm_handler = set_sigterm_handler
        for number, handler in kept.items():
            signal.signal(number, handler)
        if held:  # Raises the runner's interruption (over an error of Ray's start, if any).
            number = signal.SIGTERM if signal.SIGTERM in held else signal.SIGINT
            kept[number](number, None)


def free_port() -> int:
    """A TCP port free on this machine now."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]
