"""`LocalLayout`: any builder's agent in one process, with its Reverb server in-process."""

from __future__ import annotations

from typing import Any

import jax
import reverb

from rlkit import agent as agent_lib
from rlkit import builders, core, loggers, specs
from rlkit.utils import counting


class LocalLayout(agent_lib.Agent):
    """Assembles an agent from its builder: replay server, adder, dataset, learner and actor.

    `EnvironmentLoop(env, LocalLayout(builder, spec, networks)).run(num_steps=...)` trains it.
    `make_evaluation_actor()` gives an actor on the evaluation policy that shares the
    learner's parameters and writes nothing to replay; `save`/`restore` (from `rlkit.Agent`)
    and `checkpoint_replay` are what `rlkit.experiments` checkpoints.

    Args:
      builder: the agent's builder.
      environment_spec: the environment's specs.
      networks: the agent's networks (from its network factory).
      seed: seeds the learner, the acting policy and the evaluation policy.
      counter: a parent counter; the learner counts `learner_steps` in it.
      logger: the learner's logger.
      learn_in_background: run learner steps on a worker thread (see `rlkit.Agent`).
      replay_checkpoint_dir: where `checkpoint_replay()` writes the replay contents (Reverb's
        own checkpoint format). None: replay is not checkpointed.
      restore_replay_from: a Reverb checkpoint (as returned by `checkpoint_replay`) to load the
        tables from when the server starts.
    """

    def __init__(
        self,
        builder: builders.ActorLearnerBuilder,
        environment_spec: specs.EnvironmentSpec,
        networks: Any,
        seed: int = 0,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        learn_in_background: bool = True,
        replay_checkpoint_dir: str | None = None,
        restore_replay_from: str | None = None,
    ):
        self.builder = builder
        self.environment_spec = environment_spec
        self.networks = networks
        learner_key, actor_key, self._evaluation_key = jax.random.split(jax.random.PRNGKey(seed), 3)

        checkpointer = None
        if replay_checkpoint_dir is not None or restore_replay_from is not None:
            checkpointer = reverb.checkpointers.DefaultCheckpointer(
                replay_checkpoint_dir or restore_replay_from,
                fallback_checkpoint_path=restore_replay_from,
            )
        tables = builder.make_replay_tables(environment_spec)
        self._server = reverb.Server(tables, port=None, checkpointer=checkpointer)
        try:
            self.replay_client = reverb.Client(f"localhost:{self._server.port}")
            learner = builder.make_learner(
                learner_key,
                networks,
                builder.make_dataset_iterator(self.replay_client),
                logger=logger,
                environment_spec=environment_spec,
                replay_client=self.replay_client,
                counter=counting.Counter(counter, "learner") if counter else None,
            )
            policy = builder.make_policy(networks, environment_spec)
            self._adder = builder.make_adder(self.replay_client, environment_spec, policy)
            actor = builder.make_actor(actor_key, policy, environment_spec, learner, self._adder)
        except BaseException:
            self._server.stop()
            raise
        schedule = builder.learning_schedule()
        super().__init__(
            actor,
            learner,
            schedule.min_observations,
            schedule.observations_per_learner_step,
            learn_in_background=learn_in_background,
        )

    def make_evaluation_actor(self, seed: int | None = None) -> core.Actor:
        """An actor on the evaluation policy and the learner's current parameters."""
        key = self._evaluation_key if seed is None else jax.random.PRNGKey(seed)
        policy = self.builder.make_policy(self.networks, self.environment_spec, evaluation=True)
        # The agent as variable source: it waits for background learner steps first.
        return self.builder.make_actor(key, policy, self.environment_spec, self)

    def checkpoint_replay(self) -> str:
        """Writes the replay tables to `replay_checkpoint_dir`; returns the checkpoint's path.

        Items still being assembled by the adder (the current episode's last few steps) are
        not in it; a resumed run starts a new episode.
        """
        return self.replay_client.checkpoint()

    def close(self) -> None:
        """Finishes learning, closes the replay writer and stops the replay server."""
        try:
            super().close()
        finally:
            self._adder.close()
            self._server.stop()
