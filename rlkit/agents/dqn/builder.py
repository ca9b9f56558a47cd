"""DQNBuilder: the pieces of any DQN-family agent, assembled the same way in one process or
many. The variant (its config) chooses the network head and the loss; the rest is shared."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import optax

from rlkit import builders, core, loggers, replay, specs, types
from rlkit.agents import off_policy
from rlkit.agents.dqn import acting, learning
from rlkit.agents.dqn import networks as dqn_networks
from rlkit.agents.dqn.config import DQNConfig
from rlkit.jax import actors
from rlkit.replay import frames
from rlkit.utils import counting


class DQNBuilder(builders.ActorLearnerBuilder):
    """Acme-style builder: replay tables, adder, dataset, learner, actor and policy.

    Args:
      config: the hyperparameters; a `DQNConfig` or a variant's subclass (`C51Config`,
        `QRDQNConfig`, `IQNConfig`, `MDQNConfig`, `RainbowConfig`).

    Its table keeps the replay ratio with Reverb's sample-to-insert limiter, as actors and
    learner in separate processes need; a layout that runs them in one process relaxes it
    (`replay.for_one_process`).
    """

    def __init__(self, config: DQNConfig):
        self._config = config

    @property
    def config(self) -> DQNConfig:
        return self._config

    def make_replay_tables(
        self, environment_spec: specs.EnvironmentSpec, policy: actors.ActorCore | None = None
    ) -> list[replay.TableConfig]:
        del policy
        cfg = self._config
        if cfg.frame_storage == "shared":
            signature = frames.frame_block_signature(
                environment_spec, cfg.transitions_per_item, cfg.n_step
            )
        else:
            signature = replay.transition_signature(environment_spec, cfg.transitions_per_item)
        return off_policy.replay_tables(cfg, signature)

    def make_dataset_iterator(self, replay_client: replay.ReplayClient) -> Iterator[types.Batch]:
        return off_policy.dataset_iterator(self._config, replay_client)

    def make_adder(
        self,
        replay_client: replay.ReplayClient,
        environment_spec: specs.EnvironmentSpec,
        policy: actors.ActorCore | None = None,
    ) -> replay.Adder:
        del policy
        cfg = self._config
        adder_class = (
            frames.FrameStackTransitionAdder
            if cfg.frame_storage == "shared"
            else replay.NStepTransitionAdder
        )
        return off_policy.transition_adder(
            cfg, replay_client, environment_spec, cfg.n_step, cfg.discount, adder_class
        )

    def make_learner(
        self,
        random_key: types.PRNGKey,
        networks: dqn_networks.ValueNetworks,
        dataset: Iterator[types.Batch],
        logger: loggers.Logger | None = None,
        environment_spec: specs.EnvironmentSpec | None = None,
        replay_client: replay.ReplayClient | None = None,
        counter: counting.Counter | None = None,
        device: Any = None,
    ) -> learning.SGDLearner:
        del environment_spec
        cfg = self._config
        off_policy.check_prioritized_table(cfg, replay_client)
        learning_rate = cfg.learning_rate
        if cfg.learning_rate_decay_steps:
            learning_rate = optax.linear_schedule(
                cfg.learning_rate, 0.0, cfg.learning_rate_decay_steps
            )
        optimizer = optax.chain(
            optax.clip_by_global_norm(cfg.max_gradient_norm),
            optax.adam(learning_rate, eps=cfg.adam_eps),
        )
        beta = None
        if cfg.prioritized:
            beta = optax.linear_schedule(
                cfg.importance_sampling_exponent, 1.0, cfg.importance_sampling_anneal_steps
            )
        return learning.SGDLearner(
            networks=networks,
            loss_fn=cfg.make_loss(),
            optimizer=optimizer,
            random_key=random_key,
            iterator=dataset,
            batch_size=cfg.batch_size,
            target_update_period=cfg.target_update_period,
            target_update_rate=cfg.target_update_rate,
            target_options=cfg.target_network_options(),
            importance_sampling_exponent=beta,
            replay_client=replay_client,
            priority_table=cfg.replay_table_name if cfg.prioritized else None,
            counter=counter,
            logger=logger,
            decode=frames.decode_frame_blocks if cfg.frame_storage == "shared" else None,
            unroll=cfg.torso != "mlp",
            device=device,
            sgd_steps_per_step=cfg.num_sgd_steps_per_step,
        )

    def learning_schedule(self) -> builders.LearningSchedule:
        return off_policy.learning_schedule(self._config, adder_lag=self._config.n_step)

    def make_policy(
        self,
        networks: dqn_networks.ValueNetworks,
        environment_spec: specs.EnvironmentSpec,
        evaluation: bool = False,
    ) -> actors.ActorCore:
        cfg = self._config
        num_actions = dqn_networks.num_discrete_actions(environment_spec)
        if evaluation:  # The deterministic network: noise-free, evenly spaced quantiles.
            return acting.make_epsilon_greedy_policy(networks, cfg.evaluation_epsilon, num_actions)
        decay = optax.linear_schedule(
            cfg.epsilon_init, cfg.epsilon_final, max(cfg.epsilon_decay_steps, 1)
        )
        # Each sub-environment's policy state counts its own steps; they step together, so
        # the environment steps taken are that count times num_envs.
        schedule = decay if cfg.num_envs == 1 else lambda steps: decay(steps * cfg.num_envs)
        return acting.make_epsilon_greedy_policy(
            networks, schedule, num_actions, sample_network=networks.stochastic
        )

    def make_actor_policy(
        self,
        networks: dqn_networks.ValueNetworks,
        environment_spec: specs.EnvironmentSpec,
        actor_index: int,
        num_actors: int,
    ) -> actors.ActorCore:
        cfg = self._config
        if not cfg.distributed_epsilon:
            return self.make_policy(networks, environment_spec)
        exponent = 1 + cfg.distributed_epsilon_alpha * actor_index / max(num_actors - 1, 1)
        return acting.make_epsilon_greedy_policy(
            networks,
            cfg.distributed_epsilon**exponent,
            dqn_networks.num_discrete_actions(environment_spec),
            sample_network=networks.stochastic,
        )

    def make_actor(
        self,
        random_key: types.PRNGKey,
        policy: actors.ActorCore,
        environment_spec: specs.EnvironmentSpec,
        variable_source: core.VariableSource | None = None,
        adder: replay.Adder | None = None,
        num_envs: int | None = None,
    ) -> actors.GenericActor:
        del environment_spec
        return off_policy.make_actor(
            self._config, random_key, policy, variable_source, adder, num_envs=num_envs
        )
