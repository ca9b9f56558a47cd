"""Distributed training on Ray: the same builder as a single-process run, split into roles.

`make_distributed_experiment(config, num_actors).run()` starts, as Ray actors:
- a replay server (a Reverb server, tables exactly as the builder makes them: the
  sample-to-insert limiter keeps the replay ratio between processes, a queue holds
  on-policy rollouts); its address is handed to the others;
- a learner, which samples over gRPC, steps in a background thread and is the variable
  source the actors pull parameters from (on a background thread of theirs);
- `num_actors` environment actors, each with its own environment (seeded apart), policy,
  adder writing over gRPC and variable client;
- a counter all of them report to.
The driver runs `run_experiment`'s runner over them (`run_with_layout`): it hands the
actors their share of each stretch of steps, evaluates in its own environments, writes
checkpoints (the learner's state over Ray, the replay tables by the Reverb server itself)
and exports the policy, with the same run directory, logs, progress and resume as a
single-process run. `ray.init()` starts a local Ray (its workers at normal priority)
unless one is running or `ray_address` names a cluster; every Ray actor is killed at the
end, on Ctrl-C and on SIGTERM (which checkpoint first, and exit as a single-process run
does). Ray's own log lines (its start-up messages, its C++ core's lines) go to the run's
`logs/ray.log` rather than the terminal (`RLKIT_RAY_LOGS=1` shows them: `rlkit/_ray_logs.py`).
Ray is imported only here (`rlkit-jax[distributed]`).

Faults: Ray restarts a worker whose process died (`max_restarts`) and reruns the calls it
was serving (`max_task_retries`). An environment actor goes back to claiming steps. The
replay server comes back at the same address (it runs on the driver's node, on a port
chosen there) with empty tables that the actors refill; actors and learner remake their
streams to it. The learner is restored from the latest checkpoint (fresh without one)
before it steps again. The last two are said in the log. Exploration schedules follow the
run's step count (the shared counter), so a restarted actor does not explore from
scratch. The replay checkpoints the server writes land in the driver's run directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import signal
import socket
import threading
import time
import warnings
from typing import Any

import numpy as np

from rlkit import errors, loggers

_log = logging.getLogger("rlkit.experiments")

# Seeds of actor i's environment and PRNG: far apart from each other and from evaluation's
# (`config.EVALUATION_SEED_OFFSET`, as in single-process runs).
ACTOR_SEED_STRIDE = 10_007
# Actors claim a stretch's steps at most this many at a time; between chunks an actor
# re-reads the run's step count for its exploration schedule (so the schedule may lag the
# run by up to two chunks of each other actor's steps). A claim is a Ray call (about half a
# millisecond of CPU on each side): at 200 steps, claims took ~5% of the CPU of fast acting.
# Near a stretch's end chunks shrink (to a share of what is left, down to MIN_ACTING_CHUNK)
# so that actors finish together rather than one waiting for another's.
ACTING_CHUNK = 500
MIN_ACTING_CHUNK = 25
# The driver's poll period: actor and learner logs are forwarded, errors surface.
POLL_S = 0.5
# Read by a Ray node's raylet when it starts: the niceness of the worker processes.
WORKER_NICENESS_VARIABLE = "RAY_worker_niceness"


def _import_ray():
    try:
        import ray
    except ImportError:
        raise errors.ConfigError(
            "Distributed runs need Ray: pip install 'rlkit-jax[distributed]' "
            "(with constraints.txt)."
        ) from None
    return ray


class RemoteCounter:
    """A `counting.Counter` over a counter Ray actor. Increments are summed here and sent
    at most every `refresh_s` seconds (a Ray call costs the counter's process about a
    millisecond: one per episode would keep it busy), and always before a read; the tally
    returned is the last one read plus what is not sent yet (0: send and read every call).
    Ray runs one caller's calls in order, so a read sees every increment sent before it."""

    def __init__(self, handle: Any, prefix: str = "", refresh_s: float = 1.0):
        self._handle = handle
        self._prefix = prefix
        self._refresh_s = refresh_s
        self._last_read = -float("inf")
        self._counts: dict[str, float] = {}
        self._unsent: dict[str, float] = {}

    def increment(self, **counts: float) -> dict[str, float]:
        for key, value in counts.items():
            key = f"{self._prefix}_{key}" if self._prefix else key
            self._unsent[key] = self._unsent.get(key, 0) + value
        return self.cached_counts()

    def get_counts(self) -> dict[str, float]:
        """The counts now, after every increment made here."""
        ray = _import_ray()
        if self._unsent:
            self._handle.increment.remote(**self._unsent)
            self._unsent = {}
        self._counts = ray.get(self._handle.get_counts.remote())
        self._last_read = time.monotonic()
        return dict(self._counts)

    def cached_counts(self) -> dict[str, float]:
        """The counts as last read (sending and reading again once `refresh_s` has passed),
        with the increments not sent yet."""
        if time.monotonic() - self._last_read >= self._refresh_s:
            return self.get_counts()
        counts = dict(self._counts)
        for key, value in self._unsent.items():
            counts[key] = counts.get(key, 0) + value
        return counts

    def save(self) -> dict[str, Any]:
        return {"counts": self.get_counts()}


class RemoteVariableSource:
    """The learner Ray actor as a `VariableSource` (parameters come back as numpy). It is
    remote: variable clients pull from it in the background, one pull in flight at a time
    and at most one every 20 ms (fresh within a few learner steps, which DQN-like learning
    needs), backing off to one every 0.5 s while the learner has nothing newer. A pull
    names the learner step it has; the learner sends the parameters only once they are
    newer (else the same objects come back)."""

    remote = True
    min_pull_interval_s = 0.02  # Measured: no interval cost acting 10-15% in Ray calls.
    # While the learner waits (warm-up, the rate limiter) or is paused; the price: after
    # such a spell actors may see its first new parameters up to this late.
    max_pull_interval_s = 0.5

    def __init__(self, learner: Any):
        self._learner = learner
        self._names: list[str] | None = None
        self._step: int | None = None
        self._values: list[Any] = []

    def get_variables(self, names):
        ray = _import_ray()
        names = list(names)
        have = self._step if names == self._names else None
        step, values = ray.get(self._learner.get_variables_after.remote(names, have))
        if values is not None:
            self._names, self._step, self._values = names, step, values
        return self._values


class _BufferLogger(loggers.Logger):
    """Keeps rows until the driver drains them into the run's loggers (the newest
    `max_rows` if it falls behind)."""

    def __init__(self, max_rows: int = 10_000):
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._max_rows = max_rows

    def write(self, data: loggers.LoggingData) -> None:
        with self._lock:
            self._rows.append(dict(data))
            del self._rows[: -self._max_rows]

    def drain(self) -> list[dict[str, Any]]:
        with self._lock:
            rows, self._rows = self._rows, []
        return rows


@contextlib.contextmanager
def _workers_at_normal_priority():
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
def _signals_held_over_ray_start(ray: Any):
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


def _free_port() -> int:
    """A TCP port free on this machine now."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def _spec_and_networks(config: Any, seed: int):
    """An environment of the run, its spec and the networks."""
    from rlkit import specs

    environment = config.environment_factory(seed)
    spec = specs.make_environment_spec(environment)
    return environment, spec, config.network_factory(spec)


class _CounterWorker:
    """The run's counts, and the steps of the current stretch not yet claimed by an actor."""

    def __init__(self, counts: dict[str, float]):
        from rlkit.utils import counting

        self._counter = counting.Counter()
        self._counter.restore({"counts": counts})
        self._unclaimed = 0
        self._num_actors = 1

    def open_stretch(self, num_steps: int, num_actors: int = 1) -> None:
        """Offers `num_steps` steps to `num_actors` actors (0 ends the current stretch)."""
        self._unclaimed = num_steps
        self._num_actors = num_actors

    def claim(self, num_envs: int = 1) -> int:
        """The caller's next chunk of the stretch's unclaimed steps (0: none left), a
        multiple of its `num_envs` (one vector step takes that many) unless it is the last.
        Each actor holds up to two chunks (one acted, one claimed ahead), so near the end a
        chunk is a quarter of each actor's share of what is left."""
        share = self._unclaimed // (4 * self._num_actors)
        chunk = min(ACTING_CHUNK, max(MIN_ACTING_CHUNK, share))
        claimed = min(self._unclaimed, -(-chunk // num_envs) * num_envs)
        self._unclaimed -= claimed
        return claimed

    def increment(self, **counts: float) -> dict[str, float]:
        return self._counter.increment(**counts)

    def get_counts(self) -> dict[str, float]:
        return self._counter.get_counts()


class _ReplayWorker:
    """Owns the Reverb server, on `port`; its tables are the builder's, unchanged.
    Checkpoints go to `checkpoint_dir` (written by the server itself) and it starts from
    `restore_from`. Restarted by Ray after its process died, it serves empty tables on the
    same port, which the actors refill."""

    def __init__(
        self,
        config: Any,
        port: int,
        checkpoint_dir: str | None,
        restore_from: str | None,
        learner_paused: bool = False,
    ):
        from rlkit import replay
        from rlkit.replay import reverb_backend

        ray = _import_ray()
        if ray.get_runtime_context().was_current_actor_reconstructed:
            restore_from = None  # Possibly deleted since; the tables are refilled instead.

        environment, spec, networks = _spec_and_networks(config, config.seed)
        environment.close()
        tables = config.builder.make_replay_tables(spec, config.builder.make_policy(networks, spec))
        if learner_paused:  # Nothing samples: a ratio or queue limiter would block actors.
            limiter = replay.min_size_limiter(1)  # Full tables drop their oldest items.
            tables = [dataclasses.replace(table, rate_limiter=limiter) for table in tables]
        self._server = reverb_backend.ReverbReplayServer(
            tables, port=port, checkpoint_dir=checkpoint_dir, restore_from=restore_from
        )
        self._address = f"{ray.util.get_node_ip_address()}:{self._server.port}"

    def address(self) -> str:
        return self._address

    def pid(self) -> int:
        """The serving process: another one after a restart."""
        return os.getpid()

    def checkpoint(self) -> str:
        """Writes the tables (Reverb's checkpoint call); returns the checkpoint's path."""
        return self._server.client().checkpoint()

    def stop(self) -> None:
        self._server.stop()


class _ReplayConnection:
    """The replay server's address, and whether Ray restarted its process since the last
    look (the streams to the old one then fail, and are made again)."""

    def __init__(self, handle: Any):
        ray = _import_ray()
        self._handle = handle
        self.address, self._pid = ray.get([handle.address.remote(), handle.pid.remote()])

    def client(self) -> Any:
        from rlkit.replay import reverb_backend

        return reverb_backend.ReverbReplayClient(self.address, can_checkpoint=False)

    def restarted(self) -> bool:
        """Waits for a restart in progress; True if the server is another process now."""
        pid = _import_ray().get(self._handle.pid.remote())
        restarted, self._pid = pid != self._pid, pid
        return restarted


class _LearnerWorker:
    """The learner, stepping on a background thread once started; the variable source."""

    def __init__(self, config: Any, replay: Any, counter: Any):
        import jax

        from rlkit import devices

        environment, spec, networks = _spec_and_networks(config, config.seed)
        environment.close()
        self._replay = _ReplayConnection(replay)
        self._logger = _BufferLogger()
        learner_key = jax.random.split(jax.random.PRNGKey(config.seed), 3)[0]

        def make_learner():
            client = self._replay.client()
            return config.builder.make_learner(
                learner_key,  # As LocalLayout's: the same seed, the same initial parameters.
                networks,
                config.builder.make_dataset_iterator(client),  # Waits for actors.
                logger=self._logger,
                environment_spec=spec,
                replay_client=client,
                counter=RemoteCounter(counter, "learner"),
                device=devices.learner_device(config.device),
            )

        self._make_learner = make_learner
        self._learner = make_learner()
        self._steps = 0  # Learner steps taken in this process: the parameters' version.
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        # Ray restarted this process after it died: the driver restores it before it steps.
        self._restarted = _import_ray().get_runtime_context().was_current_actor_reconstructed

    def start(self) -> None:
        if self._restarted:
            return  # Waits for `restore`: it must not learn from fresh parameters.
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rlkit-learner", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._learner.step()
                    self._steps += 1
                except Exception:
                    if not self._replay.restarted():
                        raise
                    # Its sample stream went with the old server: the same state, new streams.
                    state = self._learner.save()
                    self._learner = self._make_learner()
                    self._learner.restore(state)
        except BaseException as error:  # Reported by `poll`.
            self._error = error

    def poll(self) -> tuple[bool, list[dict[str, Any]]]:
        """Whether it was restarted and waits for a state, and its log rows since the last
        poll; raises its thread's error, if any."""
        if self._error is not None:
            raise self._error
        return self._restarted, self._logger.drain()

    def get_variables_after(self, names: list[str], step: int | None) -> tuple[int, Any]:
        """`(learner step, values)`; values None if they are still those of `step`."""
        import jax

        current = self._steps
        if step == current:
            return current, None
        return current, jax.device_get(self._learner.get_variables(names))

    def save(self) -> Any:
        import jax

        return jax.device_get(self._learner.save())  # One state object: a consistent copy.

    def restore(self, state: Any) -> None:
        if self._thread is not None:
            raise RuntimeError("The learner is restored before it starts stepping.")
        if state is not None:
            self._learner.restore(state)
            self._steps += 1  # New parameters: pulls fetch them.
        self._restarted = False

    def stop(self) -> None:
        self._stop.set()


class _ActorWorker:
    """One environment, its actor and adder; acts when given steps (`act`)."""

    def __init__(
        self,
        config: Any,
        index: int,
        num_actors: int,
        replay: Any,
        learner: Any,
        counter: Any,
    ):
        import jax

        from rlkit import builders, environment_loop
        from rlkit.wrappers import vector

        seed = config.seed + (index + 1) * ACTOR_SEED_STRIDE
        environment, spec, networks = _spec_and_networks(config, seed)
        policy = config.builder.make_actor_policy(networks, spec, index, num_actors)
        self._num_envs = vector.num_envs(environment)
        self._replay = _ReplayConnection(replay)
        self._counter_handle = counter
        self._counter = RemoteCounter(counter, "actor")
        self._logger = _BufferLogger()

        def make_loop():
            self._adder, self._actor = builders.make_acting(
                config.builder,
                self._replay.client(),
                spec,
                policy,
                jax.random.PRNGKey(seed),
                RemoteVariableSource(learner),
                self._num_envs,
            )
            self._loop = environment_loop.EnvironmentLoop(
                environment, self._actor, counter=self._counter, logger=self._logger, label="actor"
            )

        self._make_loop = make_loop
        make_loop()

    def act(self) -> None:
        """Acts while the current stretch has steps to claim (a chunk at a time: a faster
        actor takes more of them), then flushes the adder and waits until the counter has
        every step counted."""
        ray = _import_ray()
        steps_per_call = self._num_envs or 1  # Environment steps per policy call.
        claim = functools.partial(self._counter_handle.claim.remote, steps_per_call)
        next_chunk = claim()
        while chunk := ray.get(next_chunk):
            next_chunk = claim()  # Answered while this chunk is acted.
            # Exploration follows the run's count, not this process's (a restart keeps it).
            run_steps = self._counter.cached_counts().get("actor_steps", 0)
            self._actor.count_steps_from(int(run_steps) // steps_per_call)
            try:
                self._loop.run(num_steps=chunk)
            except Exception:
                if not self._replay.restarted():
                    raise
                self._make_loop()  # Its writer went with the old server; a new episode.
        self._adder.flush()
        self._counter.get_counts()  # Returns after this actor's increments are in.

    def drain(self) -> list[dict[str, Any]]:
        return self._logger.drain()


@dataclasses.dataclass
class DistributedExperiment:
    """An `ExperimentConfig` laid out on Ray with `num_actors` actors; `run()` trains it.

    Resource requests: `actor_cpus` per actor, `learner_cpus` and `learner_gpus` for the
    learner; the replay server and the counter ask for none. `learner_paused` measures
    collection alone: the learner never steps (evaluations see its initial parameters) and
    the tables never block (full, they drop their oldest items). Without a running Ray,
    `ray_address` joins a cluster, or a local Ray is started with enough CPUs for them
    (oversubscribing a small machine rather than refusing to run) and stopped at the end.
    """

    config: Any
    num_actors: int
    ray_address: str | None = None
    actor_cpus: float = 1.0
    learner_cpus: float = 1.0
    learner_gpus: float = 0.0
    learner_paused: bool = False

    def __post_init__(self):
        num_actors = self.num_actors
        if not isinstance(num_actors, int) or isinstance(num_actors, bool) or num_actors < 1:
            raise errors.ConfigError(f"num_actors must be a positive integer, got {num_actors!r}.")
        if self.config.replay_backend not in ("auto", "reverb"):
            raise errors.ConfigError(
                f"Distributed runs keep replay in a Reverb server; replay_backend "
                f"{self.config.replay_backend!r} is for one process: use 'auto' or 'reverb'."
            )

    def run(self):
        """Trains (resuming from `config.run_dir`'s last checkpoint, if any); returns the
        `ExperimentResult`. Ctrl-C and SIGTERM checkpoint, stop every Ray actor and raise
        `ExperimentInterrupted`, as in a single-process run."""
        from rlkit.experiments.run_experiment import TrainingLayout, run_with_layout

        ray = _import_ray()

        def make_layout(config, context):
            # Here, not before: the runner holds the run directory (its logs cleared or
            # truncated), and its signal handling covers Ray's start and, as the run's
            # teardown (held signals), the actors' end and Ray's.
            self._start_ray(ray, context)
            layout = _DistributedLayout(self, ray, context)
            context.stack.callback(layout.kill)
            return TrainingLayout(layout, layout, layout.counter)

        return run_with_layout(self.config, make_layout)

    def _start_ray(self, ray: Any, context: Any) -> None:
        """Starts a local Ray or joins `ray_address` (unless Ray is running already), with
        Ray's log lines diverted to the run's `logs/ray.log` until it is stopped
        (`rlkit/_ray_logs.py`); both ends go on `context.stack`."""
        from rlkit import _ray_logs
        from rlkit.experiments import logging as experiment_logging

        run_dir = self.config.run_dir
        path = None
        if run_dir is not None:
            os.makedirs(experiment_logging.logs_directory(run_dir), exist_ok=True)
            path = os.path.join(experiment_logging.logs_directory(run_dir), _ray_logs.LOG_NAME)
        ray_log = context.stack.enter_context(_ray_logs.diverted(path))
        if ray.is_initialized():
            return
        context.stack.callback(ray.shutdown)  # Also after a start cut short.
        # Ray's logging configured (`configure_logging`) keeps the `ray` logger's handlers:
        # unconfigured, it drops them, and its messages reach stderr through Python's last
        # resort. The workers' output stays in Ray's logs (`log_to_driver`): their errors
        # reach the driver as exceptions.
        options: dict[str, Any] = dict(log_to_driver=False, configure_logging=True)
        with (
            warnings.catch_warnings(),
            _workers_at_normal_priority(),
            _signals_held_over_ray_start(ray),
        ):
            # Ray starts its processes with fork + exec: nothing of JAX's runs in the child.
            warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
            if self.ray_address is None:
                needed = int(np.ceil(self.num_actors * self.actor_cpus + self.learner_cpus))
                cpus = max(os.cpu_count() or 1, needed)
                ray.init(num_cpus=cpus, include_dashboard=False, **options)
            else:
                ray.init(address=self.ray_address, **options)
        with contextlib.suppress(Exception):  # A private attribute: the note is optional.
            logs = ray._private.worker.global_worker.node.get_logs_dir_path()
            ray_log.note(f"Ray's own logs, every Ray process's (this node's): {logs}")


class _DistributedLayout:
    """The driver's side of a distributed run: to the runner it is the agent (saved,
    restored, checkpointed and evaluated through) and the training loop (`run`)."""

    def __init__(self, experiment: DistributedExperiment, ray: Any, context: Any):
        from rlkit.experiments.run_experiment import training_environment

        self._ray = ray
        self._loggers = context.loggers
        config = self.config = experiment.config
        environment, self._spec, _ = training_environment(config)
        environment.close()
        self._handles: list[Any] = []
        try:
            self._start_workers(experiment, context)
        except BaseException:  # Those started already would outlive the run on a cluster.
            self.kill()
            raise

    def _start_workers(self, experiment: DistributedExperiment, context: Any) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray, config = self._ray, self.config
        counter = self._start(_CounterWorker, context.counter.get_counts(), num_cpus=0)
        self._counter_handle = counter
        self.counter = RemoteCounter(counter, refresh_s=0.0)
        # On the driver's node: its checkpoints land in the run directory, and a restarted
        # server comes back at the same address (a port free here, kept).
        node = ray.get_runtime_context().get_node_id()
        # One copy in Ray's object store for every worker (Ray passes it by value); held
        # here for the run, as a worker Ray restarts reads it again.
        config_reference = self._config_reference = ray.put(config)
        self._replay = self._start(
            _ReplayWorker,
            config_reference,
            *(_free_port(), context.replay_checkpoint_dir, context.restore_replay_from),
            experiment.learner_paused,
            num_cpus=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
            max_restarts=-1,
            max_task_retries=-1,
        )
        # A dead learner process is restarted; the driver then restores it (`poll`).
        self._learner = self._start(
            _LearnerWorker,
            config_reference,
            self._replay,
            counter,
            num_cpus=experiment.learner_cpus,
            num_gpus=experiment.learner_gpus,
            max_restarts=-1,
            max_task_retries=-1,
        )
        self._latest_state = context.latest_state
        # A dead actor process is restarted, and the stretch it was acting is run again.
        self._actors = [
            self._start(
                _ActorWorker,
                *(config_reference, index, experiment.num_actors, self._replay, self._learner),
                counter,
                num_cpus=experiment.actor_cpus,
                max_restarts=-1,
                max_task_retries=-1,
                max_concurrency=2,  # `drain` runs while `act` does.
            )
            for index in range(experiment.num_actors)
        ]
        # Asked only now: the learner and actors start (import, build, compile) while the
        # replay server does, and wait for its address in their own processes.
        self._replay_pid = ray.get(self._replay.pid.remote())
        self._variables = RemoteVariableSource(self._learner)
        self._learner_paused = experiment.learner_paused

    def _start(self, worker_class: type, *args: Any, **options: Any) -> Any:
        """A Ray actor of `worker_class` made with `args`; `kill` kills it."""
        handle = self._ray.remote(worker_class).options(**options).remote(*args)
        self._handles.append(handle)
        return handle

    # The agent's side.
    def save(self) -> dict[str, Any]:
        self._forward_logs()  # A learner restarted meanwhile is restored first.
        return {"learner": self._ray.get(self._learner.save.remote())}

    def restore(self, state: dict[str, Any]) -> None:
        self._ray.get(self._learner.restore.remote(state["learner"]))

    def restart_warm_up(self) -> None:
        """Nothing to do: the emptied table's limiter holds the learner until it refills."""

    def checkpoint_replay(self) -> str:
        return self._ray.get(self._replay.checkpoint.remote())

    def get_variables(self, names):
        return self._variables.get_variables(names)

    def make_evaluation_actor(self, num_envs: int | None = None) -> Any:
        import jax

        from rlkit.experiments.config import EVALUATION_SEED_OFFSET

        builder, config = self.config.builder, self.config
        networks = config.network_factory(self._spec)
        policy = builder.make_policy(networks, self._spec, evaluation=True)
        key = jax.random.PRNGKey(config.seed + EVALUATION_SEED_OFFSET)
        return builder.make_actor(key, policy, self._spec, self._variables, num_envs=num_envs)

    # The training loop's side.
    def run(self, num_steps: int) -> None:
        """Has the actors take `num_steps` environment steps between them (claimed a chunk
        at a time), forwarding their logs and the learner's meanwhile."""
        ray = self._ray
        if not self._learner_paused:
            self._learner.start.remote()
        ray.get(self._counter_handle.open_stretch.remote(num_steps, len(self._actors)))
        pending = [actor.act.remote() for actor in self._actors]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_S)
                ray.get(done)
                self._forward_logs()
        except ray.exceptions.RayTaskError as error:  # An actor's or the learner's own error.
            raise error.as_instanceof_cause() from None
        except KeyboardInterrupt:
            self._counter_handle.open_stretch.remote(0)  # Checkpoint once they are still.
            ray.get(pending)
            raise
        finally:
            self._forward_logs()

    def _forward_logs(self) -> None:
        ray = self._ray
        replay_pid = ray.get(self._replay.pid.remote())
        if replay_pid != self._replay_pid:
            self._replay_pid = replay_pid
            _log.warning(
                "The replay server's process died; Ray restarted it at the same address with "
                "empty tables. The actors refill them, and the learner goes on once they hold "
                "enough (the tables' rate limiter)."
            )
        restarted, rows = ray.get(self._learner.poll.remote())
        for row in rows:
            self._loggers["learner"].write(row)
        if restarted:
            self._restore_restarted_learner()
        for rows in ray.get([actor.drain.remote() for actor in self._actors]):
            for row in rows:
                self._loggers["actor"].write(row)

    def _restore_restarted_learner(self) -> None:
        """Brings a learner Ray restarted back to the latest checkpoint, and restarts it."""
        ray = self._ray
        state = self._latest_state({"learner": ray.get(self._learner.save.remote())})
        if state is None:
            _log.warning(
                "The learner's process died and Ray restarted it; with no checkpoint to "
                "restore, it starts again from fresh parameters."
            )
        else:
            _log.warning(
                "The learner's process died and Ray restarted it; it goes on from the "
                "latest checkpoint's state (the learning since then is redone)."
            )
        ray.get(self._learner.restore.remote(None if state is None else state["learner"]))
        if not self._learner_paused:
            ray.get(self._learner.start.remote())

    def kill(self) -> None:
        """Stops the learner thread and kills every Ray actor of the run."""
        try:
            self._ray.get(self._learner.stop.remote(), timeout=10)
        except Exception:  # noqa: BLE001  Gone already: killed below either way.
            pass
        for handle in self._handles:
            try:
                self._ray.kill(handle, no_restart=True)
            except Exception:  # noqa: BLE001  Already gone.
                pass


def make_distributed_experiment(
    config: Any, num_actors: int, **options: Any
) -> DistributedExperiment:
    """`config` (an `ExperimentConfig`, e.g. from `make_experiment_config`) with `num_actors`
    actors on Ray; `options` are `DistributedExperiment`'s fields."""
    return DistributedExperiment(config, num_actors, **options)


def run_distributed_experiment(config: Any, num_actors: int, **options: Any):
    """`make_distributed_experiment(config, num_actors, **options).run()`."""
    return make_distributed_experiment(config, num_actors, **options).run()
