"""OnPolicyBuilder: the pieces of the on-policy agents, assembled the same way in one
process or many.

Each sub-environment's adder writes rollouts of `rollout_length + 1` steps (consecutive ones
share their last step, which only bootstraps), or whole padded episodes (REINFORCE), into a
replay queue whose signature comes from the policy's extras; a learner step takes
`num_envs` items and learns from them once. In one process the agent learns as soon as they
are in and acts on the new parameters from the next step (`LearningSchedule.on_policy_items`),
except IMPALA, whose actor fetches them every `actor_update_period` learner steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rlkit import builders, core, loggers, replay, specs, types
from rlkit.agents.on_policy import acting, learning
from rlkit.agents.on_policy.config import OnPolicyConfig
from rlkit.agents.on_policy.networks import PolicyValueNetworks
from rlkit.jax import actors, variable_utils
from rlkit.utils import counting


def _extras_spec(policy: actors.ActorCore | None) -> types.NestedSpec:
    if policy is None:
        raise ValueError("OnPolicyBuilder needs the policy: its extras are in the table.")
    return actors.extras_spec(policy)


class OnPolicyBuilder(builders.ActorLearnerBuilder):
    """Acme-style builder of an on-policy agent (PPO, A2C, REINFORCE, TRPO, IMPALA).

    Args:
      config: an `OnPolicyConfig` (e.g. `PPOConfig`).

    Its queue holds two rounds of rollouts; a full queue holds actors back.
    """

    def __init__(self, config: OnPolicyConfig):
        self._config = config

    @property
    def config(self) -> OnPolicyConfig:
        return self._config

    def make_replay_tables(
        self, environment_spec: specs.EnvironmentSpec, policy: actors.ActorCore | None = None
    ) -> list[replay.TableConfig]:
        cfg = self._config
        signature = replay.step_signature(
            environment_spec, cfg.rollout_length + 1, _extras_spec(policy)
        )
        # Room for two rounds of rollouts: one being learned from, one being written.
        return [replay.queue_table(cfg.replay_table_name, 2 * cfg.num_envs, signature)]

    def make_dataset_iterator(self, replay_client: replay.ReplayClient) -> Iterator[types.Batch]:
        return replay_client.dataset(
            self._config.replay_table_name, self._config.num_envs, flatten_blocks=False
        )

    def make_adder(
        self,
        replay_client: replay.ReplayClient,
        environment_spec: specs.EnvironmentSpec,
        policy: actors.ActorCore | None = None,
    ) -> replay.Adder:
        cfg = self._config
        if cfg.whole_episodes:
            return replay.EpisodeAdder(
                replay_client,
                cfg.replay_table_name,
                environment_spec,
                max_sequence_length=cfg.rollout_length + 1,
                extras_spec=_extras_spec(policy),
            )
        return replay.SequenceAdder(
            replay_client,
            cfg.replay_table_name,
            environment_spec,
            sequence_length=cfg.rollout_length + 1,
            period=cfg.rollout_length,
            pad_end_of_episode=False,
            extras_spec=_extras_spec(policy),
            break_end_of_episode=False,
        )

    def make_batched_adder(
        self,
        replay_client: replay.ReplayClient,
        environment_spec: specs.EnvironmentSpec,
        policy: actors.ActorCore | None,
        num_envs: int,
    ) -> replay.Adder:
        """`make_adder`'s sequences for every sub-environment, with each step's work done on
        the whole batch (`replay.BatchedSequenceAdder`); whole episodes: one `EpisodeAdder`
        per sub-environment."""
        cfg = self._config
        if cfg.whole_episodes:
            return super().make_batched_adder(replay_client, environment_spec, policy, num_envs)
        return replay.BatchedSequenceAdder(
            replay_client,
            cfg.replay_table_name,
            environment_spec,
            num_envs,
            sequence_length=cfg.rollout_length + 1,
            period=cfg.rollout_length,
            extras_spec=_extras_spec(policy),
        )

    def make_learner(
        self,
        random_key: types.PRNGKey,
        networks: PolicyValueNetworks,
        dataset: Iterator[types.Batch],
        logger: loggers.Logger | None = None,
        environment_spec: specs.EnvironmentSpec | None = None,
        replay_client: replay.ReplayClient | None = None,
        counter: counting.Counter | None = None,
        device: Any = None,
    ) -> learning.OnPolicyLearner:
        del environment_spec, replay_client
        return learning.OnPolicyLearner(
            self._config, networks, random_key, dataset, counter=counter, logger=logger,
            device=device,
        )  # fmt: skip

    def learning_schedule(self) -> builders.LearningSchedule:
        cfg = self._config
        return builders.LearningSchedule(
            min_observations=0,
            observations_per_learner_step=float(cfg.steps_per_learner_step),
            on_policy_items=cfg.num_envs,
            # IMPALA's actors fetch on their own period and lag; the others act current.
            fetch_after_learning=cfg.advantage_estimator != "vtrace",
        )

    def make_policy(
        self,
        networks: PolicyValueNetworks,
        environment_spec: specs.EnvironmentSpec,
        evaluation: bool = False,
    ) -> actors.ActorCore:
        del environment_spec
        return acting.make_policy(networks, evaluation)

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
        client = None
        if variable_source is not None:
            period = getattr(self._config, "actor_update_period", 1)
            client = variable_utils.VariableClient(variable_source, "policy", period)
        return actors.GenericActor(
            policy, random_key, client, adder, check_finite=True, num_envs=num_envs
        )
