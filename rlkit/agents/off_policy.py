"""What every off-policy agent's builder makes the same way from its `ReplayConfig`.

The replay table (uniform or prioritised, its size in items, its rate limiter), the n-step
transition adder, the dataset iterator a learner step pulls from, the single-process
learning schedule and the actor depend only on the replay fields (and the agent's n and
discount): `OffPolicyBuilder` makes them, and a family's builder adds its networks,
learner and policies, and may change the item signature (e.g. shared frame storage) and
the adder. The same fields set up the Anakin layout's on-device replay (`device_replay`),
for a config that needs nothing of the host's (`OffPolicyBuilder.device_refusal`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import optax

from rlkit import builders, core, errors, replay, specs, types
from rlkit.agents.replay_config import ReplayConfig
from rlkit.jax import actors


def replay_tables(config: ReplayConfig, signature: Any) -> list[replay.TableConfig]:
    """The one table an off-policy agent samples, holding items of `signature`, whose rate
    limiter keeps the replay ratio (`samples_per_insert`) between processes. A one-process
    layout relaxes it to wait for `min_replay_size` alone (`replay.for_one_process`)."""
    limiter = replay.sample_to_insert_limiter(
        samples_per_insert=config.samples_per_insert,
        min_size_to_sample=config.min_replay_items,
        error_buffer=2 * config.items_per_learner_step + 2 * config.samples_per_insert,
    )
    max_items = table_capacity(config)
    name = config.replay_table_name
    if config.prioritized:
        return [
            replay.prioritized_table(name, max_items, limiter, config.priority_exponent, signature)
        ]
    return [replay.uniform_table(name, max_items, limiter, signature)]


def table_capacity(config: ReplayConfig) -> int:
    """The table's size in items: `max_replay_size` transitions, never fewer items than
    the warm-up needs (`min_replay_items`)."""
    return max(config.max_replay_size // config.transitions_per_item, config.min_replay_items)


def device_replay(config: Any) -> builders.DeviceReplay:
    """The on-device replay (the Anakin layout's) of a config with the `ReplayConfig`
    fields, `n_step` and `discount`: what `replay_tables`, `OffPolicyBuilder.make_adder`
    and its dataset iterator set up on the host."""
    return builders.DeviceReplay(
        n_step=config.n_step,
        discount=config.discount,
        transitions_per_item=config.transitions_per_item,
        capacity=table_capacity(config),
        items_per_sample=config.items_per_learner_step,
        priority_exponent=config.priority_exponent if config.prioritized else None,
    )


def importance_weight_exponent(config: ReplayConfig) -> optax.Schedule | None:
    """Prioritised replay's importance-weight exponent beta over SGD steps, annealed linearly
    from `importance_sampling_exponent` to 1 over `importance_sampling_anneal_steps`
    (Schaul et al. 2016); None for uniform replay (no weights)."""
    if not config.prioritized:
        return None
    return optax.linear_schedule(
        config.importance_sampling_exponent, 1.0, config.importance_sampling_anneal_steps
    )


def check_prioritized_table(config: ReplayConfig, replay_client: replay.ReplayClient | None):
    """Raises `ConfigError` if a prioritised agent would learn from a table that is not."""
    if not config.prioritized or replay_client is None:
        return
    sampler = replay_client.sampler(config.replay_table_name)
    if sampler != "prioritized":
        raise errors.ConfigError(
            f"{type(config).__name__}.prioritized is true but replay table "
            f"{config.replay_table_name!r} is sampled {sampler}: give the learner a "
            "prioritized table (replay.prioritized_table; a run resumed from a uniform "
            "table's checkpoint cannot switch), or set prioritized=false."
        )


def learning_schedule(
    config: ReplayConfig, adder_lag: int, num_envs: int = 1
) -> builders.LearningSchedule:
    """Learn once the table can serve a sample, then at the replay ratio.

    The first item must be complete, so the agent waits for one more item's worth of
    transitions plus `adder_lag`, the steps an adder holds back (n-step returns: n), for each
    of the `num_envs` sub-environments' adders.
    """
    min_observations = config.min_replay_items * config.transitions_per_item + num_envs * (
        config.transitions_per_item + adder_lag
    )
    return builders.LearningSchedule(min_observations, config.observations_per_learner_step)


class OffPolicyBuilder(builders.ActorLearnerBuilder):
    """The replay side of an off-policy agent's builder: tables, n-step transition adder,
    dataset, learning schedule and actor, from a config with the `ReplayConfig` fields,
    `n_step` and `discount`.

    Its table keeps the replay ratio with Reverb's sample-to-insert limiter, as actors and
    learner in separate processes need; a layout that runs them in one process relaxes it
    (`replay.for_one_process`). Subclasses make the networks, the learner and the policies,
    and may override `item_signature` and `adder_class`; `check_finite_actions` refuses a
    non-finite action with the step that produced it.
    """

    check_finite_actions: bool = False

    def __init__(self, config: Any):
        self._config = config

    @property
    def num_envs(self) -> int | None:
        return None if self._config.num_envs == 1 else self._config.num_envs

    def item_signature(self, environment_spec: specs.EnvironmentSpec) -> Any:
        """What a replay item holds: `transitions_per_item` transitions."""
        return replay.transition_signature(environment_spec, self._config.transitions_per_item)

    @property
    def adder_class(self) -> type[replay.NStepTransitionAdder]:
        return replay.NStepTransitionAdder

    def make_replay_tables(
        self, environment_spec: specs.EnvironmentSpec, policy: actors.ActorCore | None = None
    ) -> list[replay.TableConfig]:
        del policy
        return replay_tables(self._config, self.item_signature(environment_spec))

    def make_dataset_iterator(self, replay_client: replay.ReplayClient) -> Iterator[types.Batch]:
        """One learner step's items per batch from the agent's table (how long a sample may
        wait is the layout's: see `replay.SampleTimeoutClient`)."""
        cfg = self._config
        return replay_client.dataset(cfg.replay_table_name, cfg.items_per_learner_step)

    def make_adder(
        self,
        replay_client: replay.ReplayClient,
        environment_spec: specs.EnvironmentSpec,
        policy: actors.ActorCore | None = None,
    ) -> replay.Adder:
        """Writes `n_step`-step transitions, `transitions_per_item` per item, to the table.
        Under prioritised replay new items enter at the largest priority so far, so each is
        sampled soon at least once."""
        del policy
        cfg = self._config
        return self.adder_class(
            replay_client,
            cfg.replay_table_name,
            environment_spec,
            n_step=cfg.n_step,
            discount=cfg.discount,
            transitions_per_item=cfg.transitions_per_item,
            priority=replay.MAX_PRIORITY if cfg.prioritized else 1.0,
        )

    def learning_schedule(self) -> builders.LearningSchedule:
        return learning_schedule(self._config, self._config.n_step, self.num_envs or 1)

    def device_experience(self) -> builders.DeviceReplay:
        """The host replay's settings for the device buffer (`device_replay`); raises
        `ConfigError` with `device_refusal`'s reason for a config it cannot hold."""
        why = self.device_refusal()
        if why is not None:
            raise errors.ConfigError(
                f"{type(self._config).__name__} cannot run in the Anakin layout: {why}. Train "
                "it in the local layout (--layout local) on a gymnasium environment."
            )
        return device_replay(self._config)

    def device_refusal(self) -> str | None:
        """Why the Anakin layout cannot run this config (None: it can). A subclass adds its
        own reasons and then asks this one."""
        cfg = self._config
        if self.adder_class is not replay.NStepTransitionAdder:
            return (
                f"its adder ({self.adder_class.__name__}) writes items the device replay's "
                "n-step writer does not"
            )
        if cfg.variable_update_period != 1:
            # The jitted layout acts on the learner's current parameters at every step; the
            # host's actors would act on ones up to this many learner steps old.
            return (
                f"its actors fetch parameters every {cfg.variable_update_period} learner steps "
                "(variable_update_period), where that layout acts on the learner's current "
                "ones (set variable_update_period: 1 to run it there)"
            )
        return None

    def make_actor(
        self,
        random_key: types.PRNGKey,
        policy: actors.ActorCore,
        environment_spec: specs.EnvironmentSpec,
        variable_source: core.VariableSource | None = None,
        adder: replay.Adder | None = None,
        num_envs: int | None = None,
    ) -> actors.GenericActor:
        """A `GenericActor` on `policy`, fetching "policy" every `variable_update_period`
        learner steps from `variable_source` (none: the policy acts without parameters)."""
        del environment_spec
        period = self._config.variable_update_period
        return actors.make_actor(
            policy, random_key, variable_source, adder, period, self.check_finite_actions, num_envs
        )
