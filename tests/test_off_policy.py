"""The off-policy builder pieces every agent makes from its `ReplayConfig`."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from rlkit import replay, types
from rlkit.agents import off_policy
from rlkit.agents.replay_config import ReplayConfig
from rlkit.jax import learning as jax_learning


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
    (table,) = off_policy.replay_tables(config, signature=None)
    assert table.name == "t"
    assert table.sampler == ("prioritized" if prioritized else "uniform")
    if prioritized:
        assert table.priority_exponent == 0.5
    assert table.max_size == 1_000 // 8  # Items, not transitions.
    # A one-process layout relaxes the ratio: only the minimum size, ceil(100 / 8) items,
    # holds sampling back; the rest of the table is as the builder made it.
    one_process = replay.for_one_process(table)
    assert one_process.rate_limiter == replay.min_size_limiter(13)
    assert one_process == dataclasses.replace(table, rate_limiter=one_process.rate_limiter)


def test_replay_tables_keep_the_ratio_across_processes():
    config = _config()
    (table,) = off_policy.replay_tables(config, signature=None)
    limiter = table.rate_limiter
    assert limiter.samples_per_insert == 16.0
    assert limiter.min_size_to_sample == 13
    # A learner step's items (32 * 4 / 8 = 16) twice, plus two inserts' worth of samples.
    assert limiter.max_diff - limiter.min_diff == pytest.approx(2 * (2 * 16 + 2 * 16.0))


def test_a_table_is_never_smaller_than_its_minimum():
    config = _config(min_replay_size=1_000, max_replay_size=1_000, transitions_per_item=16)
    (table,) = off_policy.replay_tables(config, signature=None)
    assert table.max_size == 63 == config.min_replay_items  # ceil(1000 / 16) > 1000 // 16.


def test_a_queue_is_left_as_it_is_in_one_process():
    queue = replay.queue_table("rollouts", 4)
    assert replay.for_one_process(queue) is queue


def test_the_one_process_timeout_applies_only_where_the_caller_names_none():
    class Client:
        def dataset(self, table, items_per_batch, **kwargs):
            return kwargs["rate_limiter_timeout_s"]

        def table_size(self, table):
            return 7

    client = replay.SampleTimeoutClient(Client(), 60.0)
    assert client.dataset("t", 1) == 60.0
    assert client.dataset("t", 1, rate_limiter_timeout_s=5.0) == 5.0
    assert client.table_size("t") == 7


def test_learning_schedule_waits_for_a_complete_first_item_and_the_adder_lag():
    schedule = off_policy.learning_schedule(_config(), adder_lag=3)
    assert schedule.min_observations == 13 * 8 + 8 + 3
    # 32 * 4 transitions per learner step at 16 samples per insert: one step every 8 env steps.
    assert schedule.observations_per_learner_step == 8.0


def test_a_learner_serves_the_very_same_variables_until_it_steps():
    # Clients tell new parameters by identity: a container built per pull (on-policy's
    # PolicyParams) made every evaluation step move the parameters to the device again.
    def update(state, batch, probabilities):
        del batch, probabilities
        return state + 1.0, {}, None

    batches = iter(lambda: types.Batch(data=np.zeros(1), keys=None, probabilities=np.ones(1)), 0)
    learner = jax_learning.BatchLearner(
        update, jnp.zeros(()), lambda state: {"policy": (state,)}, batches
    )
    (first,) = learner.get_variables(["policy"])
    (again,) = learner.get_variables(["policy"])
    assert again is first
    learner.step()
    (stepped,) = learner.get_variables(["policy"])
    assert stepped is not first and float(stepped[0]) == 1.0
    learner.restore(jnp.zeros(()))
    (restored,) = learner.get_variables(["policy"])
    assert restored is not stepped and float(restored[0]) == 0.0
