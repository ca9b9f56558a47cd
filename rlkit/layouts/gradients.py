"""Asynchronous gradients in one process (A3C): worker threads around a parameter server.

Each worker is a one-process agent of its own (`LocalLayout`: its environment, actor, rollout
queue and a `GradientLearner` bound to the server) stepped by an `EnvironmentLoop` on a
thread; the workers claim the stretch's steps a chunk at a time, so a faster worker takes
more. The server applies each worker's gradients as they arrive, under its lock. JAX releases
the interpreter's lock inside compiled calls, so workers overlap their gradient computations;
environment steps in Python do not overlap (more workers than cores buys no speed, only the
decorrelation of A3C's many streams).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import jax

from rlkit import builders, environment_loop, loggers
from rlkit.layouts import base
from rlkit.layouts.local import LocalLayout
from rlkit.utils import counting

# Steps a worker claims at a time: at most this many, and near a stretch's end a share of
# what is left (at least the smallest), so that every worker gets part of a short stretch.
CHUNK_STEPS = 200
MIN_CHUNK_STEPS = 20
# Worker i's environment and actor are seeded (i + 1) times this far from the run's seed: far
# from the evaluation's seeds (10,000 on) whatever the number of workers, as the replay
# layout's actors.
WORKER_SEED_STRIDE = 10_007
# How often the driver looks at the workers' progress (and callbacks) while they act.
POLL_S = 0.1


class _Claims:
    """The steps of the current stretch not yet claimed by a worker."""

    def __init__(self, num_workers: int):
        self._lock = threading.Lock()
        self._left = 0
        self._num_workers = num_workers

    def open(self, num_steps: int) -> None:
        with self._lock:
            self._left = num_steps

    def claim(self, step_size: int) -> int:
        with self._lock:
            share = max(MIN_CHUNK_STEPS, self._left // (2 * self._num_workers))
            chunk = min(self._left, -(-min(CHUNK_STEPS, share) // step_size) * step_size)
            self._left -= chunk
            return chunk


def fetch_server_parameters(agent: LocalLayout) -> None:
    """Has a worker take the server's current parameters before it acts: at the start of a
    stretch, as a resumed run's server is restored after its workers were built."""
    agent.learner.fetch()
    agent.actor.update(wait=True)


def make_worker(
    config: base.ExperimentLike,
    server: Any,
    index: int,
    counter: counting.Counter,
    logger: loggers.Logger,
) -> tuple[LocalLayout, environment_loop.EnvironmentLoop, Any]:
    """Worker `index`: its agent (learning by gradients sent to `server`), its loop and its
    environment (the caller closes both). In one process and in a Ray actor alike."""
    seed = config.seed + (index + 1) * WORKER_SEED_STRIDE
    environment, spec, _ = base.acting_environment(config, seed)
    try:
        agent = LocalLayout(
            config.builder.bind(server, index),
            spec,
            config.network_factory(spec),
            seed=seed,
            learn_in_background=False,  # Its learner step is a push: the actor waits for it.
            replay_backend="local",  # Its own rollouts, in this process only.
        )
    except BaseException:
        environment.close()
        raise
    loop = environment_loop.EnvironmentLoop(
        environment, agent, counter=counter, logger=logger, label="actor"
    )
    return agent, loop, environment


class GradientThreads:
    """The driver's side of asynchronous-gradient training in one process: to the runner it
    is the agent (saved, restored and evaluated through the parameter server) and the
    training loop (`run`)."""

    def __init__(self, config: base.ExperimentLike, context: base.LayoutContext):
        builder = config.builder
        environment, self._spec, _ = base.training_environment(config)
        environment.close()
        self._builder, self._networks = builder, config.network_factory(self._spec)
        server_key, self._evaluation_key = jax.random.split(jax.random.PRNGKey(config.seed))
        # Rows the workers and the server (on the workers' threads) log, written to the run's
        # loggers by the driver's thread, as the Ray layout forwards its workers': so
        # callbacks' episode hooks run there, never beside the driver's own hooks.
        self._buffers = {"learner": loggers.BufferLogger(), "actor": loggers.BufferLogger()}
        self._loggers = context.loggers
        self.server = builder.make_parameter_server(
            server_key,
            self._networks,
            counter=counting.Counter(context.counter, "learner"),
            logger=self._buffers["learner"],
        )
        self.counter = context.counter
        acting_counter = counting.Counter(context.counter, "actor")
        self._workers = []
        for index in range(builder.num_workers):
            agent, loop, environment = make_worker(
                config, self.server, index, acting_counter, self._buffers["actor"]
            )
            context.stack.callback(environment.close)
            context.stack.callback(agent.close)
            self._workers.append((agent, loop))
        self._step_size = builder.num_envs or 1
        self._claims = _Claims(len(self._workers))

    # The agent's side.
    def save(self) -> dict[str, Any]:
        self._forward_logs()  # Logs reach the run's loggers before the checkpoint.
        return {"server": self.server.save()}

    def restore(self, state: dict[str, Any]) -> None:
        self.server.restore(state["server"])

    def restart_warm_up(self) -> None:
        pass  # No replay to refill: workers write new rollouts at once.

    def checkpoint_replay(self) -> None:
        return None  # Rollouts in flight are not kept: a resumed run starts new ones.

    def get_variables(self, names):
        return self.server.get_variables(names)

    def make_evaluation_actor(self, num_envs: int | None = None) -> Any:
        builder, spec = self._builder, self._spec
        policy = builder.make_policy(self._networks, spec, evaluation=True)
        return builder.make_actor(
            self._evaluation_key, policy, spec, self.server, num_envs=num_envs
        )

    # The training loop's side.
    def run(
        self,
        num_steps: int,
        *,
        should_stop: Callable[[int], bool] | None = None,
        check_every: int = 1_000,
        first_check: int | None = None,
    ) -> None:
        """Has the workers take `num_steps` environment steps between them, a chunk at a
        time; `should_stop(steps)` is asked once `first_check` and then every `check_every`
        more steps are counted (looked at every `POLL_S`), and True ends the stretch once the
        chunks in hand are done. A worker's error stops the others and is raised here."""
        self._claims.open(num_steps)
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=self._act, args=(worker, errors), name=f"rlkit-worker-{i}")
            for i, worker in enumerate(self._workers)
        ]
        start = self._steps()
        check = None
        if should_stop is not None:
            check = environment_loop.StopCheck(should_stop, check_every, first_check or check_every)
        for thread in threads:
            thread.start()
        try:
            while alive := [thread for thread in threads if thread.is_alive()]:
                alive[0].join(POLL_S)
                self._forward_logs()
                steps = self._steps() - start
                if check is not None and check.due(steps) and check.stop(steps):
                    check = None  # Asked once: the workers finish their chunks.
                    self._claims.open(0)
        except BaseException:
            self._claims.open(0)  # Ctrl-C: the workers finish their chunks, then stop.
            for thread in threads:
                thread.join()
            raise
        finally:
            self._forward_logs()
        if errors:
            raise errors[0]

    def _forward_logs(self) -> None:
        for label, buffer in self._buffers.items():
            for row in buffer.drain():
                self._loggers[label].write(row)

    def _act(
        self,
        worker: tuple[LocalLayout, environment_loop.EnvironmentLoop],
        errors: list[BaseException],
    ) -> None:
        agent, loop = worker
        try:
            fetch_server_parameters(agent)
            while chunk := self._claims.claim(self._step_size):
                loop.run(num_steps=chunk)
        except BaseException as error:  # Raised by `run`, on the driver's thread.
            errors.append(error)
            self._claims.open(0)

    def _steps(self) -> int:
        return int(self.counter.get_counts().get("actor_steps", 0))


def make_gradient_layout(
    config: base.ExperimentLike, context: base.LayoutContext
) -> base.TrainingLayout:
    """The single-process layout of a builder that learns by asynchronous gradients
    (`builders.AsynchronousGradientBuilder`): its workers as threads around one server."""
    if not isinstance(config.builder, builders.AsynchronousGradientBuilder):
        raise TypeError(f"{type(config.builder).__name__} does not learn by gradients.")
    workers = GradientThreads(config, context)
    return base.TrainingLayout(workers, workers, context.counter)
