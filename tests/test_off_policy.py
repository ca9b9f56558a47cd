"""The off-policy builder pieces every agent makes from its `ReplayConfig`."""

from __future__ import annotations

import pytest

from rlkit import replay
from rlkit.agents import off_policy
from rlkit.agents.replay_config import ReplayConfig


def _config(**overrides) -> ReplayConfig:
    values = dict(
        batch_size=32,
        num_sgd_steps_per_step=4,
        transitions_per_item=8,
        min_replay_size=100,
        max_replay_size=1_000,
        samples_per_insert=16.0,
    )
    return ReplayConfig(**{**values, **overrides})


@pytest.mark.parametrize("prioritized", [False, True])
def test_replay_tables_size_sampler_and_limiter(prioritized):
    config = _config(prioritized=prioritized, priority_exponent=0.5, replay_table_name="t")
    (table,) = off_policy.replay_tables(config, signature=None, block_inserts=False)
    assert table.name == "t"
    assert table.sampler == ("prioritized" if prioritized else "uniform")
    if prioritized:
        assert table.priority_exponent == 0.5
    assert table.max_size == 1_000 // 8  # Items, not transitions.
    # In one process only the minimum size holds sampling back: ceil(100 / 8) items.
    assert table.rate_limiter == replay.min_size_limiter(13)


def test_replay_tables_keep_the_ratio_across_processes():
    config = _config()
    (table,) = off_policy.replay_tables(config, signature=None, block_inserts=True)
    limiter = table.rate_limiter
    assert limiter.samples_per_insert == 16.0
    assert limiter.min_size_to_sample == 13
    # A learner step's items (32 * 4 / 8 = 16) twice, plus two inserts' worth of samples.
    assert limiter.max_diff - limiter.min_diff == pytest.approx(2 * (2 * 16 + 2 * 16.0))


def test_a_table_is_never_smaller_than_its_minimum():
    config = _config(min_replay_size=1_000, max_replay_size=1_000, transitions_per_item=16)
    (table,) = off_policy.replay_tables(config, signature=None, block_inserts=False)
    assert table.max_size == 63 == config.min_replay_items  # ceil(1000 / 16) > 1000 // 16.


def test_learning_schedule_waits_for_a_complete_first_item_and_the_adder_lag():
    schedule = off_policy.learning_schedule(_config(), adder_lag=3)
    assert schedule.min_observations == 13 * 8 + 8 + 3
    # 32 * 4 transitions per learner step at 16 samples per insert: one step every 8 env steps.
    assert schedule.observations_per_learner_step == 8.0
