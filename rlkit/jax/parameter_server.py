"""Asynchronous gradients (A3C's shared model, Mnih et al. 2016): workers compute gradients on
their own rollouts and send them to a parameter server, which applies each as it arrives
with its optimiser, in arrival order and without waiting for the other workers.

`ParameterServer` holds the learner state and applies gradients under a lock (worker threads
in one process) or one call at a time (a Ray actor). `GradientLearner` is a worker's
learner: a step takes its next rollout batch, computes the gradients at the parameters it
last received, sends them, and keeps the parameters the server sends back (A3C's "θ' ← θ"),
which its actor then acts with.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import jax

from rlkit import core, loggers, types
from rlkit.utils import counting

# `apply(state, gradients) -> (state, metrics)`: the optimiser step on the server's state.
ApplyFn = Callable[[Any, Any], tuple[Any, dict[str, Any]]]
# `gradients(variables, batch) -> (gradients, metrics)`: a worker's gradients on one batch
# at the variables (`{"policy": ...}` as the server serves them) it acts with.
GradientFn = Callable[[dict[str, Any], types.Batch], tuple[Any, dict[str, Any]]]


class GradientSink(Protocol):
    """Where a worker sends its gradients: a `ParameterServer`, or a handle to one in another
    process."""

    def apply(
        self, gradients: Any, version: int, worker: int, metrics: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]: ...

    def get_variables_after(self, names: list[str], version: int | None) -> tuple[int, Any]: ...


class ParameterServer(core.VariableSource):
    """The parameters (and optimiser state) that workers' gradients are applied to.

    Args:
      state: the learner state (parameters, optimiser state, ...).
      apply_fn: the optimiser step, `(state, gradients) -> (state, metrics)` (jitted here).
      variables_fn: `state -> {name: value}`, what actors and workers fetch ("policy").
      counter: counts `learner_steps` (gradients applied).
      logger: a row per gradient applied: the worker's metrics (its loss's), the step's,
        `staleness` (how many other workers' gradients were applied between the worker's
        fetch and its push) and the pushing `worker`.
      on_host: hand out variables as numpy arrays (for another process).
    """

    def __init__(
        self,
        state: Any,
        apply_fn: ApplyFn,
        variables_fn: Callable[[Any], dict[str, Any]],
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        on_host: bool = False,
    ):
        self._state = state
        self._apply = jax.jit(apply_fn)
        self._variables_fn = variables_fn
        self._counter = counter or counting.Counter()
        self._logger = logger or loggers.NoOpLogger()
        self._on_host = on_host
        self._lock = threading.Lock()
        self._version = 0  # Gradients applied since this process started (or restored).
        self.applied_by_worker: dict[int, int] = {}

    def _served(self) -> dict[str, Any]:
        variables = self._variables_fn(self._state)
        return jax.device_get(variables) if self._on_host else variables

    def apply(
        self, gradients: Any, version: int, worker: int, metrics: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Applies one worker's `gradients` (computed at `version`'s parameters; `metrics`
        are the worker's, logged with the step); returns the new version and every
        variable."""
        with self._lock:
            self._state, applied = self._apply(self._state, gradients)
            staleness = self._version - version
            self._version += 1
            self.applied_by_worker[worker] = self.applied_by_worker.get(worker, 0) + 1
            counts = self._counter.increment(steps=1)
            row = {**(metrics or {}), **applied, "staleness": staleness, "worker": worker}
            self._logger.write({**row, **counts})
            return self._version, self._served()

    def get_variables_after(self, names: list[str], version: int | None) -> tuple[int, Any]:
        """`(version, [values of names])`; values None if they are still those of `version`."""
        with self._lock:
            if version == self._version:
                return self._version, None
            served = self._served()
            return self._version, [served[name] for name in names]

    def get_variables(self, names):
        return self.get_variables_after(list(names), None)[1]

    def save(self) -> Any:
        with self._lock:
            return jax.device_get(self._state)

    def restore(self, state: Any) -> None:
        with self._lock:
            self._state = jax.tree.map(
                lambda like, value: jax.numpy.asarray(value, like.dtype), self._state, state
            )
            self._version += 1  # New parameters: every fetch gets them.


class GradientLearner(core.Learner, core.VariableSource):
    """A worker's learner: each step computes gradients on the next batch at the parameters
    it holds, sends them (with its metrics, which the server logs) and takes the parameters
    the server answers with. It is its actor's variable source, so the actor acts on them
    from its next step."""

    def __init__(
        self,
        gradient_fn: GradientFn,
        iterator: Iterator[types.Batch],
        server: GradientSink,
        worker: int = 0,
    ):
        self._gradients = jax.jit(gradient_fn)
        self._iterator = iterator
        self._server = server
        self._worker = worker
        self.fetch()

    def fetch(self) -> None:
        """Takes the server's current parameters (a worker does at the start of each stretch:
        a resumed run's server was restored after the worker was built)."""
        self._version, (values,) = self._server.get_variables_after(["policy"], None)
        self._variables = {"policy": values}

    def step(self) -> None:
        batch = next(self._iterator)
        gradients, metrics = self._gradients(self._variables, batch.data)
        self._version, self._variables = self._server.apply(
            gradients, self._version, self._worker, metrics
        )

    def get_variables(self, names):
        return [self._variables[name] for name in names]

    def save(self) -> Any:
        return {"version": self._version}  # The state is the server's.

    def restore(self, state: Any) -> None:
        del state  # The state is the server's: take its parameters.
        self.fetch()
