"""The driver's side of the Ray layout: the layout factory, and what the runner drives."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from rlkit import builders, environment_loop, errors
from rlkit.layouts import base
from rlkit.layouts.distributed.actor_worker import ActorWorker
from rlkit.layouts.distributed.common import import_ray
from rlkit.layouts.distributed.counter import CounterWorker, RemoteCounter
from rlkit.layouts.distributed.gradient_workers import GradientWorker, ParameterServerWorker
from rlkit.layouts.distributed.learner_worker import LearnerWorker, RemoteVariableSource
from rlkit.layouts.distributed.ray_runtime import free_port, start_ray
from rlkit.layouts.distributed.replay_worker import ReplayWorker

_log = logging.getLogger("rlkit.experiments")

# The driver's poll period: actor and learner logs are forwarded, errors surface.
POLL_S = 0.5


@dataclasses.dataclass
class RayLayout:
    """A layout factory (`(experiment_config, LayoutContext) -> TrainingLayout`) that lays
    the builder out on Ray with `num_actors` environment actors.

    Resource requests: `actor_cpus` per actor, `learner_cpus` and `learner_gpus` for the
    learner; the replay server and the counter ask for none. `learner_paused` measures
    collection alone: the learner never steps (evaluations see its initial parameters) and
    the tables never block (full, they drop their oldest items). Without a running Ray,
    `ray_address` joins a cluster, or a local Ray is started with enough CPUs for them
    (oversubscribing a small machine rather than refusing to run) and stopped at the end.
    """

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

    @staticmethod
    def check(config: Any) -> None:
        """Raises `ConfigError` before anything is written if `config` cannot run on Ray:
        the builder cannot be laid out over processes, Ray is not installed, or its replay
        backend is one process's."""
        config.builder.check_distributed()  # Said even where Ray is not installed.
        import_ray()
        if config.replay_backend not in ("auto", "reverb"):
            raise errors.ConfigError(
                f"Distributed runs keep replay in a Reverb server; replay_backend "
                f"{config.replay_backend!r} is for one process: use 'auto' or 'reverb'."
            )

    def __call__(self, config: Any, context: base.LayoutContext) -> base.TrainingLayout:
        self.check(config)
        ray = import_ray()
        # Here, not before: the runner holds the run directory (its logs cleared or
        # truncated), and its signal handling covers Ray's start and, as the run's teardown
        # (held signals), the actors' end and Ray's.
        needed = int(np.ceil(self.num_actors * self.actor_cpus + self.learner_cpus))
        start_ray(ray, context.stack, context.logs_dir, self.ray_address, needed)
        if isinstance(config.builder, builders.AsynchronousGradientBuilder):  # A3C.
            layout: DistributedLayout = GradientDistributedLayout(self, config, ray, context)
        else:
            layout = DistributedLayout(self, config, ray, context)
        context.stack.callback(layout.kill)
        return base.TrainingLayout(layout, layout, layout.counter)


class DistributedLayout:
    """The driver's side of a distributed run: to the runner it is the agent (saved,
    restored, checkpointed and evaluated through) and the training loop (`run`)."""

    def __init__(self, options: RayLayout, config: Any, ray: Any, context: base.LayoutContext):
        self._ray = ray
        self._loggers = context.loggers
        self._evaluation_seed = context.evaluation_seed
        self.config = config
        environment, self._spec, _ = base.training_environment(config)
        environment.close()
        self._handles: list[Any] = []
        try:
            self._start_workers(options, context)
        except BaseException:  # Those started already would outlive the run on a cluster.
            self.kill()
            raise

    def _start_workers(self, options: RayLayout, context: base.LayoutContext) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray = self._ray
        counter = self._start(CounterWorker, context.counter.get_counts(), num_cpus=0)
        self._counter_handle = counter
        self.counter = RemoteCounter(counter, refresh_s=0.0)
        # On the driver's node: its checkpoints land in the run directory, and a restarted
        # server comes back at the same address (a port free here, kept).
        node = ray.get_runtime_context().get_node_id()
        # One copy in Ray's object store for every worker (Ray passes it by value); held
        # here for the run, as a worker Ray restarts reads it again.
        config_reference = self._config_reference = ray.put(self.config)
        restarted = dict(max_restarts=-1, max_task_retries=-1)
        self._replay = self._start(
            ReplayWorker,
            config_reference,
            *(free_port(), context.replay_checkpoint_dir, context.restore_replay_from),
            options.learner_paused,
            num_cpus=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
            **restarted,
        )
        # A dead learner process is restarted; the driver then restores it (`poll`).
        self._learner = self._start(
            LearnerWorker,
            *(config_reference, self._replay, counter),
            num_cpus=options.learner_cpus,
            num_gpus=options.learner_gpus,
            **restarted,
        )
        self._latest_state = context.latest_state
        # A dead actor process is restarted, and the stretch it was acting is run again.
        self._actors = [
            self._start(
                ActorWorker,
                *(config_reference, index, options.num_actors, self._replay, self._learner),
                counter,
                num_cpus=options.actor_cpus,
                max_concurrency=2,  # `drain` runs while `act` does.
                **restarted,
            )
            for index in range(options.num_actors)
        ]
        # Asked only now: the learner and actors start (import, build, compile) while the
        # replay server does, and wait for its address in their own processes.
        self._replay_pid = ray.get(self._replay.pid.remote())
        self._variables = RemoteVariableSource(self._learner)
        self._learner_paused = options.learner_paused

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

    def checkpoint_replay(self) -> str | None:
        if self._replay is None:
            return None  # Nothing replayed: rollouts in flight are not kept.
        return self._ray.get(self._replay.checkpoint.remote())

    def get_variables(self, names):
        return self._variables.get_variables(names)

    def make_evaluation_actor(self, num_envs: int | None = None) -> Any:
        builder = self.config.builder
        networks = self.config.network_factory(self._spec)
        policy = builder.make_policy(networks, self._spec, evaluation=True)
        key = jax.random.PRNGKey(self._evaluation_seed)
        return builder.make_actor(key, policy, self._spec, self._variables, num_envs=num_envs)

    # The training loop's side.
    def run(
        self,
        num_steps: int,
        *,
        should_stop: Callable[[int], bool] | None = None,
        check_every: int = 1_000,
        first_check: int | None = None,
    ) -> None:
        """Has the actors take `num_steps` environment steps between them (claimed a chunk
        at a time), forwarding their logs and the learner's meanwhile. `should_stop(steps)`,
        if given, is asked once `first_check` (default `check_every`) and then every
        `check_every` more steps are counted (looked at every `POLL_S` seconds); True ends
        the stretch once the actors' chunks in hand are done."""
        ray = self._ray
        if not self._learner_paused:
            self._learner.start.remote()
        ray.get(self._counter_handle.open_stretch.remote(num_steps, len(self._actors)))
        pending = [actor.act.remote() for actor in self._actors]
        check, start = None, 0
        if should_stop is not None:
            check = environment_loop.StopCheck(should_stop, check_every, first_check or check_every)
            start = self._steps()
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_S)
                ray.get(done)
                self._forward_logs()
                if check is None or not pending:
                    continue
                steps = self._steps() - start
                if check.due(steps) and check.stop(steps):
                    check = None  # Asked once: the actors finish their chunks.
                    self._counter_handle.open_stretch.remote(0)
        except ray.exceptions.RayTaskError as error:  # An actor's or the learner's own error.
            raise error.as_instanceof_cause() from None
        except KeyboardInterrupt:
            self._counter_handle.open_stretch.remote(0)  # Checkpoint once they are still.
            ray.get(pending)
            raise
        finally:
            self._forward_logs()

    def _steps(self) -> int:
        return int(self.counter.get_counts().get("actor_steps", 0))

    def _forward_logs(self) -> None:
        ray = self._ray
        replay_pid = None if self._replay is None else ray.get(self._replay.pid.remote())
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


class GradientDistributedLayout(DistributedLayout):
    """The driver's side of asynchronous-gradient training on Ray (A3C): a parameter server
    (the run's learner: saved, restored, evaluated through, restored from the latest
    checkpoint if Ray restarts it) and `num_actors` gradient workers, each claiming steps
    from the counter; no replay server."""

    def _start_workers(self, options: RayLayout, context: base.LayoutContext) -> None:
        ray = self._ray
        counter = self._start(CounterWorker, context.counter.get_counts(), num_cpus=0)
        self._counter_handle = counter
        self.counter = RemoteCounter(counter, refresh_s=0.0)
        config_reference = self._config_reference = ray.put(self.config)
        restarted = dict(max_restarts=-1, max_task_retries=-1)
        self._replay, self._replay_pid = None, None
        self._learner = self._start(
            ParameterServerWorker,
            config_reference,
            counter,
            num_cpus=options.learner_cpus,
            num_gpus=options.learner_gpus,
            **restarted,
        )
        self._latest_state = context.latest_state
        # A dead worker's process is restarted (from the server's parameters), and the task
        # it was running is run again.
        self._actors = [
            self._start(
                GradientWorker,
                *(config_reference, index, self._learner, counter),
                num_cpus=options.actor_cpus,
                max_concurrency=2,  # `drain` runs while `act` does.
                **restarted,
            )
            for index in range(options.num_actors)
        ]
        self._variables = RemoteVariableSource(self._learner)
        self._learner_paused = options.learner_paused
