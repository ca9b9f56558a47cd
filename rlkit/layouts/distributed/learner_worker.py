"""The learner on Ray: it steps on a thread of its own and is the actors' variable source."""

from __future__ import annotations

import threading
from typing import Any

import jax

from rlkit import devices, loggers
from rlkit.layouts.distributed.common import import_ray, spec_and_networks
from rlkit.layouts.distributed.counter import RemoteCounter
from rlkit.layouts.distributed.replay_worker import ReplayConnection


class LearnerWorker:
    """The learner, stepping on a background thread once started; the variable source."""

    def __init__(self, config: Any, replay: Any, counter: Any):
        environment, spec, _, networks = spec_and_networks(config, config.seed)
        environment.close()
        self._replay = ReplayConnection(replay)
        self._logger = loggers.BufferLogger()
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
        self._restarted = import_ray().get_runtime_context().was_current_actor_reconstructed

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
        current = self._steps
        if step == current:
            return current, None
        return current, jax.device_get(self._learner.get_variables(names))

    def save(self) -> Any:
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
        ray = import_ray()
        names = list(names)
        have = self._step if names == self._names else None
        step, values = ray.get(self._learner.get_variables_after.remote(names, have))
        if values is not None:
            self._names, self._step, self._values = names, step, values
        return self._values
