"""OnPolicyBuilder: the pieces of the on-policy agents, assembled the same way in one
process or many.

Each sub-environment's adder writes rollouts of `rollout_length + 1` steps (consecutive ones
share their last step, which only bootstraps), or whole padded episodes (REINFORCE), into a
replay queue whose signature comes from the policy's extras; a learner step takes
`num_envs` items and learns from them once. In one process the agent learns as soon as they
are in and acts on the new parameters from the next step (`RolloutSchedule`), except
IMPALA, whose actor fetches them every `actor_update_period` learner steps. An agent is a
config class, a loss, an optimiser and an advantage estimator: one row of `VARIANTS`.

A row may also replay its rollouts (ACER): the adder then writes each sequence, with the
behaviour policy's full probabilities in its extras, into the queue and into a uniform
replay table, the dataset gives batches of both (`acer.FreshAndReplayedBatches`), and the
row's learner steps on the fresh batch and then on replayed ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from rlkit import builders, core, errors, loggers, replay, specs, types
from rlkit.agents import variants
from rlkit.agents.on_policy import acer, acting, learning
from rlkit.agents.on_policy import networks as networks_lib
from rlkit.agents.on_policy.config import (
    A2CConfig,
    ACERConfig,
    IMPALAConfig,
    OnPolicyConfig,
    PPOConfig,
    REINFORCEConfig,
    TRPOConfig,
)
from rlkit.agents.on_policy.networks import PolicyValueNetworks
from rlkit.jax import actors
from rlkit.jax import learning as jax_learning
from rlkit.utils import counting


class OnPolicyVariant(NamedTuple):
    """What makes an on-policy agent, from its config class: its loss
    (`learning.LossFn`), a step on the whole batch before the loss's epochs (TRPO's), its
    optimiser ("adam" or "rmsprop", as `learning.make_optimizer` sets them up), its
    advantages ("gae", or "vtrace" for actors whose policy lags the learner's, which then
    fetch parameters every `actor_update_period` learner steps instead of after each), and
    whether replay items are whole episodes (REINFORCE) rather than rollouts.

    An agent that also learns from replayed rollouts (ACER) sets `replayed`: its policy
    records the full probability vector it acted with, each sequence also goes to a
    uniform replay table (the config's `replay_buffer_items`, `replay_buffer_table_name`),
    and its `learner`, `(config, networks, key, dataset, optimizer, counter=, logger=,
    device=)`, replaces `OnPolicyLearner` (and the loss). `critic` is "value" (V(s)) or "q"
    (one value per action)."""

    loss: learning.LossFn | None = None
    policy_step: learning.PolicyStep | None = None
    optimizer: str = "adam"
    advantages: str = "gae"
    whole_episodes: bool = False
    critic: str = "value"
    replayed: bool = False
    learner: Callable[..., jax_learning.BatchLearner] | None = None


# A config class's agent is its own row, else its nearest base class's.
VARIANTS: dict[type[OnPolicyConfig], OnPolicyVariant] = {
    PPOConfig: OnPolicyVariant(learning.ppo_loss),
    A2CConfig: OnPolicyVariant(learning.a2c_loss, optimizer="rmsprop"),
    REINFORCEConfig: OnPolicyVariant(learning.a2c_loss, whole_episodes=True),
    TRPOConfig: OnPolicyVariant(learning.trpo_value_loss, policy_step=learning.trpo_policy_step),
    IMPALAConfig: OnPolicyVariant(learning.a2c_loss, optimizer="rmsprop", advantages="vtrace"),
    ACERConfig: OnPolicyVariant(
        optimizer="rmsprop", critic="q", replayed=True, learner=acer.ACERLearner
    ),
}


def variant_of(config: OnPolicyConfig) -> OnPolicyVariant:
    """`config`'s row of `VARIANTS` (its class's, else its nearest base class's)."""
    return variants.variant_of(VARIANTS, config, "rlkit.agents.on_policy.builder.VARIANTS")


class RolloutSchedule(builders.LearningSchedule):
    """Learns as soon as the adder has written `items_per_learner_step` more items (a
    rollout from every sub-environment, or as many whole episodes), one learner step at a
    time on the acting thread; with `fetch_after_learning` the actor acts on the new
    parameters from its next step, so no step is taken with a stale policy (IMPALA's actors
    fetch on their own period instead, and lag). Counted by the adder, not read from the
    table, whose size can hide items Reverb's dataset has already fetched; the adder is
    flushed before learning, as a Reverb writer sends items in the background."""

    runs_in_background = False

    def __init__(self, items_per_learner_step: int, fetch_after_learning: bool):
        # No replay ratio to hold: every method of the ratio schedule is replaced.
        self.items_per_learner_step = items_per_learner_step
        self.fetch_after_learning = fetch_after_learning
        self._adder: Any = None
        self._learned = 0  # Learner steps started since this adder began writing.

    def __repr__(self) -> str:
        return (
            f"RolloutSchedule(items_per_learner_step={self.items_per_learner_step}, "
            f"fetch_after_learning={self.fetch_after_learning})"
        )

    def attach(self, adder: replay.Adder) -> None:
        if not hasattr(adder, "items_written"):
            raise ValueError(
                f"On-policy learning counts the items its adder writes; {type(adder).__name__} "
                "has no items_written count."
            )
        self._adder, self._learned = adder, 0

    def learner_steps_due(self, num_observations: int, learner_steps_started: int) -> int:
        due = self._adder.items_written // self.items_per_learner_step - self._learned
        if due <= 0:
            return 0
        self._adder.flush()
        self._learned += due
        return due

    def warm_up_again(self, num_observations: int, learner_steps_done: int) -> int:
        return learner_steps_done  # Nothing to wait for: rollouts start again.


def make_networks(
    environment_spec: specs.EnvironmentSpec, config: OnPolicyConfig
) -> PolicyValueNetworks:
    """`config`'s policy and value networks for `environment_spec` (every on-policy agent's
    are alike: a categorical or Gaussian policy and a value MLP, of one value per action
    for a row whose `critic` is "q")."""
    return networks_lib.make_policy_value_networks(
        environment_spec, config, variant_of(config).critic
    )


def _extras_spec(policy: actors.ActorCore | None) -> types.NestedSpec:
    if policy is None:
        raise ValueError("OnPolicyBuilder needs the policy: its extras are in the table.")
    return actors.extras_spec(policy)


class OnPolicyBuilder(builders.ActorLearnerBuilder):
    """Acme-style builder of an on-policy agent (PPO, A2C, REINFORCE, TRPO, IMPALA, ACER).

    Args:
      config: an `OnPolicyConfig` (e.g. `PPOConfig`).

    Its queue holds two rounds of rollouts; a full queue holds actors back. A replaying
    row's (ACER's) replay table never holds them back: the queue paces the run.
    """

    def __init__(self, config: OnPolicyConfig):
        self._variant = variant_of(config)  # A config of no agent fails here, not mid-run.
        self._config = config

    @property
    def config(self) -> OnPolicyConfig:
        return self._config

    @property
    def num_envs(self) -> int:
        return self._config.num_envs  # Rollouts come from a batched environment, even of one.

    def make_replay_tables(
        self, environment_spec: specs.EnvironmentSpec, policy: actors.ActorCore | None = None
    ) -> list[replay.TableConfig]:
        cfg = self._config
        signature = replay.step_signature(
            environment_spec, cfg.rollout_length + 1, _extras_spec(policy)
        )
        # Room for two rounds of rollouts: one being learned from, one being written.
        tables = [replay.queue_table(cfg.replay_table_name, 2 * cfg.num_envs, signature)]
        if self._variant.replayed:
            # The queue paces learning; the learner keeps the replay ratio itself and
            # samples only once a batch of sequences is in (`replay_start_steps`).
            tables.append(
                replay.uniform_table(
                    cfg.replay_buffer_table_name,
                    cfg.replay_buffer_items,
                    replay.min_size_limiter(1),
                    signature,
                )
            )
        return tables

    def _tables(self) -> tuple[str, ...]:
        """The tables each rollout goes to."""
        cfg = self._config
        if self._variant.replayed:
            return (cfg.replay_table_name, cfg.replay_buffer_table_name)
        return (cfg.replay_table_name,)

    def make_dataset_iterator(self, replay_client: replay.ReplayClient) -> Iterator[types.Batch]:
        cfg = self._config
        fresh = replay_client.dataset(cfg.replay_table_name, cfg.num_envs, flatten_blocks=False)
        if not self._variant.replayed:
            return fresh
        replayed = replay_client.dataset(
            cfg.replay_buffer_table_name, cfg.num_envs, flatten_blocks=False
        )
        return acer.FreshAndReplayedBatches(fresh, replayed)

    def make_adder(
        self,
        replay_client: replay.ReplayClient,
        environment_spec: specs.EnvironmentSpec,
        policy: actors.ActorCore | None = None,
    ) -> replay.Adder:
        cfg = self._config
        if self._variant.whole_episodes:
            return replay.EpisodeAdder(
                replay_client,
                cfg.replay_table_name,
                environment_spec,
                max_sequence_length=cfg.rollout_length + 1,
                extras_spec=_extras_spec(policy),
            )
        return replay.SequenceAdder(
            replay_client,
            self._tables(),
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
        if self._variant.whole_episodes:
            return super().make_batched_adder(replay_client, environment_spec, policy, num_envs)
        return replay.BatchedSequenceAdder(
            replay_client,
            self._tables(),
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
    ) -> jax_learning.BatchLearner:
        del environment_spec, replay_client
        variant = self._variant
        optimizer = learning.make_optimizer(self._config, variant.optimizer)
        if variant.learner is not None:
            return variant.learner(
                self._config, networks, random_key, dataset, optimizer,
                counter=counter, logger=logger, device=device,
            )  # fmt: skip
        parts = learning.make_learner_parts(
            networks, optimizer, self._config, variant.loss, variant.advantages,
            variant.policy_step,
        )  # fmt: skip
        return jax_learning.BatchLearner.from_parts(
            parts, random_key, dataset, counter=counter, logger=logger, device=device
        )

    def make_learner_parts(
        self, networks: PolicyValueNetworks, environment_spec: specs.EnvironmentSpec
    ) -> jax_learning.LearnerParts:
        del environment_spec
        self.device_experience()  # Refuses an agent the jitted layout cannot run.
        variant = self._variant
        optimizer = learning.make_optimizer(self._config, variant.optimizer)
        return learning.make_learner_parts(
            networks, optimizer, self._config, variant.loss, variant.advantages,
            variant.policy_step,
        )  # fmt: skip

    def device_experience(self) -> builders.Rollouts:
        variant, name = self._variant, type(self._config).__name__
        why = None
        if variant.learner is not None or variant.replayed:
            why = "its learner replays rollouts from a table"
        elif variant.whole_episodes:
            why = "it learns from whole episodes, not fixed-length rollouts"
        elif variant.advantages == "vtrace":
            why = "its actors lag the learner by design (V-trace corrects for it)"
        if why is not None:
            raise errors.ConfigError(
                f"{name}'s agent cannot run in the Anakin layout: {why}. Train it in the "
                "local layout (--layout local) on a gymnasium environment, or use ppo or a2c."
            )
        return builders.Rollouts(self._config.rollout_length)

    def learning_schedule(self) -> RolloutSchedule:
        cfg = self._config
        return RolloutSchedule(
            cfg.num_envs,
            # V-trace's actors fetch on their own period and lag; the others act current.
            fetch_after_learning=self._variant.advantages != "vtrace",
        )

    def make_policy(
        self,
        networks: PolicyValueNetworks,
        environment_spec: specs.EnvironmentSpec,
        evaluation: bool = False,
    ) -> actors.ActorCore:
        del environment_spec
        return acting.make_policy(networks, evaluation, record_probs=self._variant.replayed)

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
        lagging = self._variant.advantages == "vtrace"  # V-trace's actors fetch on a period.
        period = self._config.actor_update_period if lagging else 1
        return actors.make_actor(policy, random_key, variable_source, adder, period, True, num_envs)
