"""ActorCriticBuilder: the pieces of DDPG, TD3, SAC and D4PG, assembled the same way in one
process or many. The agent's config chooses the policy head, the critic and the SGD step;
the replay table, adder, dataset and schedule are every off-policy agent's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rlkit import builders, core, loggers, replay, specs, types
from rlkit.agents import off_policy
from rlkit.agents.actor_critic import acting, learning
from rlkit.agents.actor_critic.config import ActorCriticConfig
from rlkit.agents.actor_critic.networks import ActorCriticNetworks
from rlkit.jax import actors
from rlkit.utils import counting


class ActorCriticBuilder(builders.ActorLearnerBuilder):
    """Acme-style builder of a continuous-control actor-critic agent.

    Args:
      config: a `DDPGConfig`, `TD3Config`, `SACConfig` or `D4PGConfig`.

    Its table keeps the replay ratio (relaxed by a one-process layout, as `DQNBuilder`'s).
    """

    def __init__(self, config: ActorCriticConfig):
        self._config = config

    @property
    def config(self) -> ActorCriticConfig:
        return self._config

    def make_replay_tables(
        self, environment_spec: specs.EnvironmentSpec, policy: actors.ActorCore | None = None
    ) -> list[replay.TableConfig]:
        del policy
        signature = replay.transition_signature(environment_spec, self._config.transitions_per_item)
        return off_policy.replay_tables(self._config, signature)

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
        return off_policy.transition_adder(
            cfg, replay_client, environment_spec, cfg.n_step, cfg.discount
        )

    def make_learner(
        self,
        random_key: types.PRNGKey,
        networks: ActorCriticNetworks,
        dataset: Iterator[types.Batch],
        logger: loggers.Logger | None = None,
        environment_spec: specs.EnvironmentSpec | None = None,
        replay_client: replay.ReplayClient | None = None,
        counter: counting.Counter | None = None,
        device: Any = None,
    ) -> learning.ActorCriticLearner:
        del environment_spec
        cfg = self._config
        off_policy.check_prioritized_table(cfg, replay_client)
        return learning.ActorCriticLearner(
            cfg,
            networks,
            random_key,
            dataset,
            replay_client=replay_client,
            counter=counter,
            logger=logger,
            device=device,
        )

    def learning_schedule(self) -> builders.LearningSchedule:
        return off_policy.learning_schedule(self._config, adder_lag=self._config.n_step)

    def make_policy(
        self,
        networks: ActorCriticNetworks,
        environment_spec: specs.EnvironmentSpec,
        evaluation: bool = False,
    ) -> actors.ActorCore:
        action_shape = tuple(environment_spec.actions.shape)
        return acting.make_policy(networks, self._config, action_shape, evaluation)

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
            self._config, random_key, policy, variable_source, adder, True, num_envs
        )
