"""`LocalLayout`: any builder's agent in one process, with its replay in-process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import jax

from rlkit import agent as agent_lib
from rlkit import builders, core, devices, environment_loop, loggers, replay, specs
from rlkit.layouts import base
from rlkit.utils import counting


class LocalLayout(agent_lib.Agent):
    """Assembles an agent from its builder: replay tables, adder, dataset, learner and actor.

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
      replay_checkpoint_dir: where `checkpoint_replay()` writes the replay contents (the
        backend's own format). None: replay is not checkpointed.
      restore_replay_from: a replay checkpoint (as returned by `checkpoint_replay`) to load
        the tables from when they start.
      learner_device: "auto" (a GPU when JAX sees one, else the CPU), "cpu" or "gpu": where
        the learner's update runs. The actor acts on the CPU.
      num_envs: the sub-environments of the environment it will act in, if the caller
        knows them: checked against the config's (`builder.num_envs`, the one source:
        batched actor and adders are made for it). None: not checked.
      replay_backend: "auto" (the in-process `local` tables: one process needs no server),
        "local", or "reverb" (an in-process Reverb server; its port is open to the network,
        which is logged).

    With the local backend, a background round's batches are drawn on the acting thread
    just before the round starts, one per learner step, so the same seed gives the same run
    (a learner that draws more per step, or a builder that wraps the local dataset, samples
    on the learner thread instead, and the run then depends on timing).
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
        replay_backend: str = "auto",
        learner_device: str = "auto",
        num_envs: int | None = None,
    ):
        if num_envs is not None:
            builders.check_num_envs(builder, num_envs)
        self.builder = builder
        self.environment_spec = environment_spec
        self.networks = networks
        learner_key, actor_key, self._evaluation_key = jax.random.split(jax.random.PRNGKey(seed), 3)

        # The policy first: its extras (e.g. log-probabilities) are part of what the tables hold.
        policy = builder.make_policy(networks, environment_spec)
        # Actor and learner share this thread: the layout, not the builder, says how tables
        # and samples wait (`replay.for_one_process`, `replay.SampleTimeoutClient`).
        tables = [
            replay.for_one_process(table)
            for table in builder.make_replay_tables(environment_spec, policy)
        ]
        self._server = replay.make_server(
            tables,
            replay_backend,
            seed=seed,
            checkpoint_dir=replay_checkpoint_dir,
            restore_from=restore_replay_from,
        )
        self.replay_backend = self._server.backend
        try:
            self.replay_client = self._server.client()
            dataset = builder.make_dataset_iterator(
                replay.SampleTimeoutClient(self.replay_client, replay.ONE_PROCESS_SAMPLE_TIMEOUT_S)
            )
            learner = builder.make_learner(
                learner_key,
                networks,
                dataset,
                logger=logger,
                environment_spec=environment_spec,
                replay_client=self.replay_client,
                counter=counting.Counter(counter, "learner") if counter else None,
                device=devices.learner_device(learner_device),
            )
            self._adder, actor = builders.make_acting(
                builder, self.replay_client, environment_spec, policy, actor_key, learner
            )
            schedule = builder.learning_schedule()
            schedule.attach(self._adder)
        except BaseException:
            self._server.stop()
            raise
        super().__init__(
            actor,
            learner,
            learn_in_background=learn_in_background,
            # A local dataset draws a round's batches when asked, on the acting thread.
            before_background_round=getattr(dataset, "prefetch", None),
            schedule=schedule,
        )

    @property
    def num_envs(self) -> int | None:
        """The sub-environments the actor acts in (the config's, through the builder)."""
        return self.builder.num_envs

    def make_evaluation_actor(
        self, seed: int | None = None, num_envs: int | None = None
    ) -> core.Actor:
        """An actor on the evaluation policy and the learner's current parameters; with
        `num_envs`, batched over that many environments (episodes side by side)."""
        key = self._evaluation_key if seed is None else jax.random.PRNGKey(seed)
        policy = self.builder.make_policy(self.networks, self.environment_spec, evaluation=True)
        # The agent as variable source: it waits for background learner steps first.
        return self.builder.make_actor(key, policy, self.environment_spec, self, num_envs=num_envs)

    def checkpoint_replay(self) -> str:
        """Writes the replay tables to `replay_checkpoint_dir`; returns the checkpoint's path.

        Items still being assembled by the adder (the current episode's last few steps) are
        not in it; a resumed run starts a new episode. Items the adder has written are: it is
        flushed first, as a Reverb writer sends them to the server asynchronously.
        """
        self._adder.flush()
        return self.replay_client.checkpoint()

    def close(self) -> None:
        """Finishes learning, closes the replay writer and stops the replay server."""
        try:
            super().close()
        finally:
            self._adder.close()
            self._server.stop()


class ConfiguredAgent(LocalLayout):
    """A `LocalLayout` of one agent family, made from an environment spec and a config.

    Subclasses name the family's config base (`family_config`, what `config` must be an
    instance of), the default config (`config_class`), the builder and the network factory
    (`make_networks(environment_spec, config)`); `config` is then optional and kept as
    `self.config`.
    """

    family_config: ClassVar[type]
    config_class: ClassVar[type]
    builder_class: ClassVar[type[builders.ActorLearnerBuilder]]
    make_networks: ClassVar[Callable[[specs.EnvironmentSpec, Any], Any]]

    def __init__(
        self,
        environment_spec: specs.EnvironmentSpec,
        config: Any = None,
        seed: int = 0,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        learn_in_background: bool = True,
        **layout_kwargs,
    ):
        config = config if config is not None else self.config_class()
        if not isinstance(config, self.family_config):
            raise TypeError(
                f"config must be a {self.family_config.__name__} (or a subclass's), got "
                f"{type(config).__name__}."
            )
        self.config = config
        super().__init__(
            self.builder_class(config),
            environment_spec,
            type(self).make_networks(environment_spec, config),
            seed=seed,
            counter=counter,
            logger=logger,
            learn_in_background=learn_in_background,
            **layout_kwargs,
        )


def make_local_layout(
    config: base.ExperimentLike, context: base.LayoutContext
) -> base.TrainingLayout:
    """The single-process layout factory of the experiment runner: a `LocalLayout`
    stepped by an `EnvironmentLoop`."""
    environment, environment_spec, _ = base.training_environment(config)
    context.stack.callback(environment.close)
    agent = LocalLayout(
        config.builder,
        environment_spec,
        config.network_factory(environment_spec),
        seed=config.seed,
        counter=context.counter,
        logger=context.loggers["learner"],
        learn_in_background=config.learn_in_background,
        replay_checkpoint_dir=context.replay_checkpoint_dir,
        restore_replay_from=context.restore_replay_from,
        replay_backend=context.replay_backend,
        learner_device=config.device,
    )
    context.stack.callback(agent.close)
    train_loop = environment_loop.EnvironmentLoop(
        environment,
        agent,
        counter=counting.Counter(context.counter, "actor"),
        logger=context.loggers["actor"],
        label="actor",
    )
    return base.TrainingLayout(agent, train_loop, context.counter)
