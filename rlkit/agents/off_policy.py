"""Builder pieces every off-policy agent makes the same way from its `ReplayConfig`.

The replay table (uniform or prioritised, its size in items, its rate limiter), the n-step
transition adder, the dataset iterator a learner step pulls from, and the single-process
learning schedule depend only on the replay fields (and the agent's n and discount), so a
builder calls these instead of repeating them; what it chooses itself is the item
signature (e.g. shared frame storage) and any adder of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import optax

from rlkit import builders, core, errors, replay, specs, types
from rlkit.agents.replay_config import ReplayConfig
from rlkit.jax import actors, variable_utils


def replay_tables(config: ReplayConfig, signature: Any) -> list[replay.TableConfig]:
    """The one table an off-policy agent samples, holding items of `signature`, whose rate
    limiter keeps the replay ratio (`samples_per_insert`) between processes. A one-process
    layout relaxes it to wait for `min_replay_size` alone (`replay.for_one_process`)."""
    limiter = replay.sample_to_insert_limiter(
        samples_per_insert=config.samples_per_insert,
        min_size_to_sample=config.min_replay_items,
        error_buffer=2 * config.items_per_learner_step + 2 * config.samples_per_insert,
    )
    max_items = max(config.max_replay_size // config.transitions_per_item, config.min_replay_items)
    name = config.replay_table_name
    if config.prioritized:
        return [
            replay.prioritized_table(name, max_items, limiter, config.priority_exponent, signature)
        ]
    return [replay.uniform_table(name, max_items, limiter, signature)]


def transition_adder(
    config: ReplayConfig,
    replay_client: replay.ReplayClient,
    environment_spec: specs.EnvironmentSpec,
    n_step: int,
    discount: float,
    adder_class: type[replay.NStepTransitionAdder] = replay.NStepTransitionAdder,
) -> replay.NStepTransitionAdder:
    """Writes `n_step`-step transitions, `transitions_per_item` per item, to the table.

    Under prioritised replay new items enter at the largest priority so far, so each is
    sampled soon at least once.
    """
    return adder_class(
        replay_client,
        config.replay_table_name,
        environment_spec,
        n_step=n_step,
        discount=discount,
        transitions_per_item=config.transitions_per_item,
        priority=replay.MAX_PRIORITY if config.prioritized else 1.0,
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


def make_actor(
    config: ReplayConfig,
    random_key: types.PRNGKey,
    policy: actors.ActorCore,
    variable_source: core.VariableSource | None = None,
    adder: replay.Adder | None = None,
    check_finite: bool = False,
    num_envs: int | None = None,
) -> actors.GenericActor:
    """A `GenericActor` on `policy`, fetching "policy" every `variable_update_period` learner
    steps from `variable_source` (none: the policy acts without parameters); batched over
    `num_envs` sub-environments when given."""
    client = None
    if variable_source is not None:
        client = variable_utils.VariableClient(
            variable_source, "policy", config.variable_update_period
        )
    return actors.GenericActor(
        policy, random_key, client, adder, check_finite=check_finite, num_envs=num_envs
    )


def dataset_iterator(
    config: ReplayConfig, replay_client: replay.ReplayClient
) -> Iterator[types.Batch]:
    """One learner step's items per batch from the agent's table (how long a sample may
    wait is the layout's: see `replay.SampleTimeoutClient`)."""
    return replay_client.dataset(config.replay_table_name, config.items_per_learner_step)


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
