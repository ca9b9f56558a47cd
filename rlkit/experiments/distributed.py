"""Distributed training on Ray: the same builder as a single-process run, split into roles.

`run_distributed_experiment(config, num_actors)` starts, as Ray actors:
- a replay server (a Reverb server, tables exactly as the builder makes them: the
  sample-to-insert limiter keeps the replay ratio between processes, a queue holds
  on-policy rollouts); its address is handed to the others;
- a learner, which samples over gRPC, steps in a background thread and is the variable
  source the actors pull parameters from;
- `num_actors` environment actors, each with its own environment (seeded apart), policy,
  adder writing over gRPC and variable client;
- a counter all of them report to.
The driver evaluates the learner's parameters every `eval_every` actor steps in its own
environment, stops everything at the step budget, and leaves no Ray actor behind (Ctrl-C
included). `ray.init()` starts a local Ray unless one is running or `ray_address` names a
cluster. Ray is imported only here (`pip install rlkit[distributed]`).

An environment actor whose process dies is restarted by Ray (`max_restarts`) and goes back
to writing. Not yet: checkpoints and resume (a dead learner ends the run), exploration read
from the shared counter. See the README's distributed section.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from typing import Any

import numpy as np

from rlkit import errors

# Seeds of actor i's environment and PRNG: far apart from each other and from evaluation's
# (`config.EVALUATION_SEED_OFFSET`, as in single-process runs).
ACTOR_SEED_STRIDE = 10_007


def _import_ray():
    try:
        import ray
    except ImportError:
        raise errors.ConfigError(
            "Distributed runs need Ray: pip install 'rlkit[distributed]' (with constraints.txt)."
        ) from None
    return ray


@dataclasses.dataclass
class DistributedResult:
    """What a distributed run reached: counts, evaluations (as `run_experiment`'s) and the
    wall-clock seconds from the first actor's start."""

    actor_steps: int
    learner_steps: int
    evaluations: list[dict[str, Any]]
    seconds: float

    @property
    def final_return(self) -> float | None:
        return self.evaluations[-1]["return_mean"] if self.evaluations else None


class RemoteCounter:
    """A `counting.Counter` over a counter Ray actor: increments are sent without waiting
    (Ray runs one caller's calls in order); the tally returned is the last one read,
    refreshed at most every `refresh_s` seconds."""

    def __init__(self, handle: Any, prefix: str = "", refresh_s: float = 1.0):
        self._handle = handle
        self._prefix = prefix
        self._refresh_s = refresh_s
        self._last_read = -float("inf")
        self._counts: dict[str, float] = {}

    def increment(self, **counts: float) -> dict[str, float]:
        prefixed = {f"{self._prefix}_{k}" if self._prefix else k: v for k, v in counts.items()}
        self._handle.increment.remote(**prefixed)
        if time.monotonic() - self._last_read >= self._refresh_s:
            return self.get_counts()
        return dict(self._counts)

    def get_counts(self) -> dict[str, float]:
        ray = _import_ray()
        self._counts = ray.get(self._handle.get_counts.remote())
        self._last_read = time.monotonic()
        return dict(self._counts)


class RemoteVariableSource:
    """The learner Ray actor as a `VariableSource` (parameters come back as numpy)."""

    def __init__(self, learner: Any):
        self._learner = learner

    def get_variables(self, names):
        ray = _import_ray()
        return ray.get(self._learner.get_variables.remote(list(names)))


def _spec_and_policy(config: Any, seed: int):
    """An environment of the run, its spec, the networks and the acting policy."""
    from rlkit import specs

    environment = config.environment_factory(seed)
    spec = specs.make_environment_spec(environment)
    networks = config.network_factory(spec)
    policy = config.builder.make_policy(networks, spec)
    return environment, spec, networks, policy


class _CounterWorker:
    def __init__(self):
        from rlkit.utils import counting

        self._counter = counting.Counter()

    def increment(self, **counts: float) -> dict[str, float]:
        return self._counter.increment(**counts)

    def get_counts(self) -> dict[str, float]:
        return self._counter.get_counts()


class _ReplayWorker:
    """Owns the Reverb server; its tables are the builder's, unchanged."""

    def __init__(self, config: Any):
        from rlkit.replay import reverb_backend

        environment, spec, _, policy = _spec_and_policy(config, config.seed)
        environment.close()
        self._server = reverb_backend.ReverbReplayServer(
            config.builder.make_replay_tables(spec, policy)
        )
        ray = _import_ray()
        self._address = f"{ray.util.get_node_ip_address()}:{self._server.port}"

    def address(self) -> str:
        return self._address

    def stop(self) -> None:
        self._server.stop()


class _LearnerWorker:
    """The learner, stepping on a background thread; the actors' variable source."""

    def __init__(self, config: Any, replay_address: str, counter: Any):
        import jax

        from rlkit import devices
        from rlkit.replay import reverb_backend

        environment, spec, networks, _ = _spec_and_policy(config, config.seed)
        environment.close()
        client = reverb_backend.ReverbReplayClient(replay_address, can_checkpoint=False)
        self._learner = config.builder.make_learner(
            jax.random.PRNGKey(config.seed),
            networks,
            config.builder.make_dataset_iterator(client),  # Waits for actors, never fails.
            environment_spec=spec,
            replay_client=client,
            counter=RemoteCounter(counter, "learner"),
            device=devices.learner_device(config.device),
        )
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rlkit-learner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._learner.step()
        except BaseException as error:  # Reported by `check`.
            self._error = error

    def check(self) -> None:
        """Raises the learner thread's error, if it had one."""
        if self._error is not None:
            raise self._error

    def get_variables(self, names: list[str]) -> list[Any]:
        import jax

        return jax.device_get(self._learner.get_variables(names))

    def stop(self) -> None:
        self._stop.set()


class _ActorWorker:
    """One environment, its actor and adder, acting in a background thread."""

    def __init__(self, config: Any, index: int, replay_address: str, learner: Any, counter: Any):
        import jax

        from rlkit import builders, environment_loop, loggers
        from rlkit.replay import reverb_backend
        from rlkit.wrappers import vector

        seed = config.seed + (index + 1) * ACTOR_SEED_STRIDE
        environment, spec, _, policy = _spec_and_policy(config, seed)
        _, actor = builders.make_acting(
            config.builder,
            reverb_backend.ReverbReplayClient(replay_address, can_checkpoint=False),
            spec,
            policy,
            jax.random.PRNGKey(seed),
            RemoteVariableSource(learner),
            vector.num_envs(environment),
        )
        self._loop = environment_loop.EnvironmentLoop(
            environment,
            actor,
            counter=RemoteCounter(counter, "actor"),
            logger=loggers.NoOpLogger(),
            label="actor",
        )
        self._stop = threading.Event()
        self._error: BaseException | None = None
        # Acting starts here, so that an actor Ray restarts after its process died (its
        # constructor runs again) goes back to writing without being told to.
        threading.Thread(target=self._run, name="rlkit-actor", daemon=True).start()

    def ready(self) -> None:
        """Returns once the actor is built (and acting)."""

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._loop.run(num_steps=1_000)
        except BaseException as error:
            self._error = error

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        self._stop.set()


@dataclasses.dataclass
class DistributedExperiment:
    """An `ExperimentConfig` laid out on Ray with `num_actors` actors; `run()` trains it.

    Resource requests: `actor_cpus` per actor, `learner_cpus` and `learner_gpus` for the
    learner; the replay server and the counter ask for none. Without a running Ray,
    `ray_address` joins a cluster, or a local Ray is started with enough CPUs for them
    (oversubscribing a small machine rather than refusing to run) and stopped at the end.
    """

    config: Any
    num_actors: int
    ray_address: str | None = None
    actor_cpus: float = 1.0
    learner_cpus: float = 1.0
    learner_gpus: float = 0.0

    def __post_init__(self):
        num_actors = self.num_actors
        if not isinstance(num_actors, int) or isinstance(num_actors, bool) or num_actors < 1:
            raise errors.ConfigError(f"num_actors must be a positive integer, got {num_actors!r}.")
        if self.config.run_dir is not None:
            raise errors.ConfigError(
                "Distributed runs do not checkpoint yet: set run_dir=None, or run in one process."
            )

    def run(self) -> DistributedResult:
        ray = _import_ray()
        started_ray = not ray.is_initialized()
        if started_ray and self.ray_address is None:
            needed = int(np.ceil(self.num_actors * self.actor_cpus + self.learner_cpus))
            ray.init(
                num_cpus=max(os.cpu_count() or 1, needed),
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        elif started_ray:
            ray.init(address=self.ray_address, log_to_driver=False)
        handles: list[Any] = []
        try:
            return self._run(ray, handles)
        finally:
            for handle in handles:
                try:
                    ray.kill(handle, no_restart=True)
                except Exception:  # noqa: BLE001  Already gone.
                    pass
            if started_ray:
                ray.shutdown()

    def _run(self, ray: Any, handles: list[Any]) -> DistributedResult:
        import jax

        from rlkit import specs
        from rlkit.experiments import config as config_lib
        from rlkit.experiments.evaluator import Evaluator

        config = self.config
        counter = ray.remote(num_cpus=0)(_CounterWorker).remote()
        handles.append(counter)
        server = ray.remote(num_cpus=0)(_ReplayWorker).remote(config)
        handles.append(server)
        address = ray.get(server.address.remote())
        learner = (
            ray.remote(_LearnerWorker)
            .options(num_cpus=self.learner_cpus, num_gpus=self.learner_gpus)
            .remote(config, address, counter)
        )
        handles.append(learner)
        # A dead actor process is restarted (its calls wait for it meanwhile); a dead learner,
        # whose state is not checkpointed yet, ends the run.
        actors = [
            ray.remote(_ActorWorker)
            .options(num_cpus=self.actor_cpus, max_restarts=-1, max_task_retries=-1)
            .remote(config, index, address, learner, counter)
            for index in range(self.num_actors)
        ]
        handles.extend(actors)
        ray.get([learner.start.remote(), *(actor.ready.remote() for actor in actors)])
        start = time.monotonic()

        evaluation_factory = config.evaluation_environment_factory or config.environment_factory
        environment = evaluation_factory(config.seed + config_lib.EVALUATION_SEED_OFFSET)
        spec = specs.make_environment_spec(environment)
        networks = config.network_factory(spec)
        policy = config.builder.make_policy(networks, spec, evaluation=True)
        evaluation_actor = config.builder.make_actor(
            jax.random.PRNGKey(config.seed + config_lib.EVALUATION_SEED_OFFSET),
            policy,
            spec,
            RemoteVariableSource(learner),
        )
        driver_counter = RemoteCounter(counter)
        evaluator = Evaluator(
            environment, evaluation_actor, config.num_eval_episodes, driver_counter
        )
        evaluations: list[dict[str, Any]] = []
        next_evaluation = config.eval_every or config.max_num_actor_steps
        try:
            while True:
                time.sleep(0.5)
                ray.get([learner.check.remote(), *(actor.check.remote() for actor in actors)])
                steps = int(driver_counter.get_counts().get("actor_steps", 0))
                done = steps >= config.max_num_actor_steps
                if steps >= next_evaluation or done:
                    evaluations.append(evaluator.evaluate())
                    if config.evaluation_callback is not None:
                        config.evaluation_callback(steps, evaluations[-1])
                    while next_evaluation <= steps:
                        next_evaluation += config.eval_every or config.max_num_actor_steps
                if done:
                    break
        finally:
            evaluator.close()
            ray.get([worker.stop.remote() for worker in (learner, *actors)])
        counts = driver_counter.get_counts()
        return DistributedResult(
            actor_steps=int(counts.get("actor_steps", 0)),
            learner_steps=int(counts.get("learner_steps", 0)),
            evaluations=evaluations,
            seconds=time.monotonic() - start,
        )


def make_distributed_experiment(
    config: Any, num_actors: int, **options: Any
) -> DistributedExperiment:
    """`config` (an `ExperimentConfig`, e.g. from `make_experiment_config`) with `num_actors`
    actors on Ray; `options` are `DistributedExperiment`'s fields."""
    return DistributedExperiment(config, num_actors, **options)


def run_distributed_experiment(config: Any, num_actors: int, **options: Any) -> DistributedResult:
    """`make_distributed_experiment(config, num_actors, **options).run()`."""
    return make_distributed_experiment(config, num_actors, **options).run()
