"""Asynchronous gradients on Ray (A3C): a parameter server and gradient workers.

The server is a Ray actor running one call at a time, so workers' gradients are applied in
the order they arrive, none waiting for another worker's; each worker (an environment, its
actor, its rollout queue and a learner that sends gradients, as in one process:
`rlkit.layouts.gradients.make_worker`) claims steps from the run's counter as an acting
worker of the replay layout does. No replay server and no learner thread: the server is the
learner, and what the driver saves, restores and evaluates through.
"""

from __future__ import annotations

import functools
from typing import Any

import jax

from rlkit import loggers
from rlkit.layouts.distributed.common import import_ray, spec_and_networks
from rlkit.layouts.distributed.counter import RemoteCounter
from rlkit.layouts.gradients import fetch_server_parameters, make_worker


class ParameterServerWorker:
    """The parameter server as the run's learner: it applies gradients as they arrive and
    serves the parameters; saved and restored by the driver like a learner."""

    def __init__(self, config: Any, counter: Any):
        environment, _, _, networks = spec_and_networks(config, config.seed)
        environment.close()
        self._logger = loggers.BufferLogger()
        # As in one process: the same seed, the same initial parameters.
        server_key = jax.random.split(jax.random.PRNGKey(config.seed))[0]
        self._server = config.builder.make_parameter_server(
            server_key,
            networks,
            counter=RemoteCounter(counter, "learner"),
            logger=self._logger,
            on_host=True,
        )
        # Ray restarted this process after it died: the driver restores it.
        self._restarted = import_ray().get_runtime_context().was_current_actor_reconstructed

    def apply(
        self, gradients: Any, version: int, worker: int, metrics: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        return self._server.apply(gradients, version, worker, metrics)

    def get_variables_after(self, names: list[str], version: int | None) -> tuple[int, Any]:
        return self._server.get_variables_after(names, version)

    def start(self) -> None:
        """Nothing to start: it applies gradients when they come."""

    def stop(self) -> None:
        """Nothing to stop."""

    def poll(self) -> tuple[bool, list[dict[str, Any]]]:
        return self._restarted, self._logger.drain()

    def save(self) -> Any:
        return self._server.save()

    def restore(self, state: Any) -> None:
        if state is not None:
            self._server.restore(state)
        self._restarted = False


class RemoteGradientSink:
    """The server Ray actor as a worker's `GradientSink`."""

    def __init__(self, server: Any):
        self._server = server

    def apply(
        self, gradients: Any, version: int, worker: int, metrics: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        # Host arrays across processes (in one process the server takes them as they are).
        gradients, metrics = jax.device_get((gradients, metrics))
        return import_ray().get(self._server.apply.remote(gradients, version, worker, metrics))

    def get_variables_after(self, names: list[str], version: int | None) -> tuple[int, Any]:
        return import_ray().get(self._server.get_variables_after.remote(names, version))


class GradientWorker:
    """One worker: acts and sends gradients while the current stretch has steps to claim."""

    def __init__(self, config: Any, index: int, server: Any, counter: Any):
        self._counter_handle = counter
        self._counter = RemoteCounter(counter, "actor")
        self._logger = loggers.BufferLogger()
        self._agent, self._loop, self._environment = make_worker(
            config, RemoteGradientSink(server), index, self._counter, self._logger
        )
        self._step_size = config.builder.num_envs or 1

    def act(self) -> None:
        """Acts while the stretch has steps to claim, then waits until the counter has
        every step counted."""
        ray = import_ray()
        claim = functools.partial(self._counter_handle.claim.remote, self._step_size)
        next_chunk = claim()
        fetch_server_parameters(self._agent)
        while chunk := ray.get(next_chunk):
            next_chunk = claim()  # Answered while this chunk is acted.
            self._loop.run(num_steps=chunk)
        self._counter.get_counts()

    def drain(self) -> list[dict[str, Any]]:
        return self._logger.drain()
