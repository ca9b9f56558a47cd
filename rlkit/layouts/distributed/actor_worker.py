"""An environment actor on Ray: its own environment, policy, adder and variable client."""

from __future__ import annotations

import functools
from typing import Any

import jax

from rlkit import builders, environment_loop, loggers
from rlkit.layouts.distributed.common import (
    ACTOR_SEED_STRIDE,
    import_ray,
    spec_and_networks,
)
from rlkit.layouts.distributed.counter import RemoteCounter
from rlkit.layouts.distributed.learner_worker import RemoteVariableSource
from rlkit.layouts.distributed.replay_worker import ReplayConnection


class ActorWorker:
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
        seed = config.seed + (index + 1) * ACTOR_SEED_STRIDE
        environment, spec, self._num_envs, networks = spec_and_networks(config, seed)
        policy = config.builder.make_actor_policy(networks, spec, index, num_actors)
        self._replay = ReplayConnection(replay)
        self._counter_handle = counter
        self._counter = RemoteCounter(counter, "actor")
        self._logger = loggers.BufferLogger()

        def make_loop():
            self._adder, self._actor = builders.make_acting(
                config.builder,
                self._replay.client(),
                spec,
                policy,
                jax.random.PRNGKey(seed),
                RemoteVariableSource(learner),
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
        ray = import_ray()
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
