"""`DQN`: a ready-to-run single-process DQN agent (Reverb server in this process)."""

from __future__ import annotations

import jax
import reverb

from rlkit import agent as agent_lib
from rlkit import core, loggers, specs
from rlkit.agents.dqn import networks as dqn_networks
from rlkit.agents.dqn.builder import DQNBuilder
from rlkit.agents.dqn.config import DQNConfig
from rlkit.jax import actors
from rlkit.utils import counting


class DQN(agent_lib.Agent):
    """DQN that learns while it acts: `EnvironmentLoop(env, DQN(spec)).run(num_steps=...)`.

    Starts an in-process Reverb server holding the replay table, and wires actor, adder,
    dataset and learner from `DQNBuilder`. `make_evaluation_actor()` returns a greedy actor
    that shares the learner's parameters and writes nothing to replay.

    By default learner steps run on a background thread while the actor acts on the
    parameters from before them (see `rlkit.Agent`); `learn_in_background=False` runs them
    inline.
    """

    def __init__(
        self,
        environment_spec: specs.EnvironmentSpec,
        config: DQNConfig | None = None,
        seed: int = 0,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        learn_in_background: bool = True,
    ):
        config = config if config is not None else DQNConfig()
        if not isinstance(config, DQNConfig):
            raise TypeError(f"config must be a DQNConfig, got {type(config).__name__}.")
        self.config = config
        self.environment_spec = environment_spec
        self.builder = DQNBuilder(config, block_inserts=False)
        self.networks = dqn_networks.make_networks(environment_spec, config)
        learner_key, actor_key, self._evaluation_key = jax.random.split(jax.random.PRNGKey(seed), 3)

        self._server = reverb.Server(self.builder.make_replay_tables(environment_spec), port=None)
        self.replay_client = reverb.Client(f"localhost:{self._server.port}")
        learner = self.builder.make_learner(
            learner_key,
            self.networks,
            self.builder.make_dataset_iterator(self.replay_client),
            logger=logger,
            counter=counting.Counter(counter, "learner") if counter else None,
        )
        policy = self.builder.make_policy(self.networks, environment_spec)
        adder = self._adder = self.builder.make_adder(self.replay_client, environment_spec)
        actor = self.builder.make_actor(actor_key, policy, environment_spec, learner, adder)
        # Start learning once the table can serve samples; the first block must have been
        # completed, so wait for one more item's worth of transitions plus the n-step lag.
        min_observations = (
            config.min_replay_items * config.transitions_per_item
            + config.transitions_per_item
            + config.n_step
        )
        super().__init__(
            actor,
            learner,
            min_observations,
            config.observations_per_learner_step,
            learn_in_background=learn_in_background,
        )

    def make_evaluation_actor(self, seed: int | None = None) -> core.Actor:
        """A greedy actor (epsilon = `config.evaluation_epsilon`) on the current params."""
        key = self._evaluation_key if seed is None else jax.random.PRNGKey(seed)
        policy: actors.ActorCore = self.builder.make_policy(
            self.networks, self.environment_spec, evaluation=True
        )
        # The agent as variable source: it waits for background learner steps first.
        return self.builder.make_actor(key, policy, self.environment_spec, self)

    def close(self) -> None:
        """Finishes learning, closes the replay writer and stops the replay server."""
        try:
            super().close()
        finally:
            self._adder.close()
            self._server.stop()
