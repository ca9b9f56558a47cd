"""On-device replay (`rlkit.replay.device`) against the host's adders and tables."""

import functools

import chex
import dm_env
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dm_env import specs as dm_specs
from scipy import stats

from rlkit import replay, specs, types
from rlkit.jax import learning
from rlkit.replay import device

SPEC = specs.EnvironmentSpec(
    observations=dm_specs.Array((2,), np.float32),
    actions=dm_specs.DiscreteArray(5, dtype=np.int32),
    rewards=dm_specs.Array((), np.float32),
    discounts=dm_specs.BoundedArray((), np.float32, 0.0, 1.0),
)
EXTRAS_SPEC = {"log_prob": dm_specs.Array((), np.float32)}
FIRST, MID, LAST = (int(t) for t in dm_env.StepType)

# Each sub-environment's episodes, (steps, ending): "terminate" (LAST, discount 0),
# "truncate" (LAST, discount 1), "cut" (no LAST: a FIRST follows, as when a loop restarts
# an unfinished episode), None (runs to the end of the stream, its last steps unwritten).
EPISODES = (
    ((5, "terminate"), (2, "truncate"), (1, "terminate"), (6, "truncate"), (40, None)),
    ((2, "truncate"), (7, "terminate"), (3, "cut"), (1, "truncate"), (40, None)),
    ((1, "truncate"), (1, "terminate"), (3, "truncate"), (4, "terminate"), (40, None)),
)
NUM_STEPS = 24  # Vector steps after the reset.


def step_types(episodes, num_steps):
    """(step_type, discount) of one sub-environment's steps, the reset's included; a MID
    step's discount is NaN, to be drawn."""
    steps = [(FIRST, 1.0)]
    for length, ending in episodes:
        steps += [(MID, np.nan)] * (length - 1)
        steps.append({"terminate": (LAST, 0.0), "truncate": (LAST, 1.0)}.get(ending, (MID, np.nan)))
        steps.append((FIRST, 1.0))  # The auto-reset step (or the restart of a cut episode).
    return steps[: num_steps + 1]


def trajectory(seed, episodes=EPISODES, num_steps=NUM_STEPS):
    """A batched stream as `VectorGymWrapper` gives it: timesteps [T + 1, N] (the reset's
    first), actions and extras [T, N]. A FIRST step has reward 0 and discount 1; a MID
    step's discount is sometimes below 1, so n-step discounts multiply them."""
    rng = np.random.default_rng(seed)
    num_envs = len(episodes)
    scripts = np.array([step_types(e, num_steps) for e in episodes]).transpose(1, 0, 2)
    step_type = scripts[..., 0].astype(np.int8)  # [T + 1, N]
    mid_discount = rng.choice([1.0, 1.0, 0.8], size=step_type.shape)
    discount = np.where(np.isnan(scripts[..., 1]), mid_discount, scripts[..., 1])
    reward = rng.normal(size=step_type.shape).astype(np.float32)
    reward[step_type == FIRST] = 0.0
    observation = rng.normal(size=step_type.shape + (2,)).astype(np.float32)
    timesteps = dm_env.TimeStep(step_type, reward, discount.astype(np.float32), observation)
    actions = rng.integers(0, 5, size=(num_steps, num_envs)).astype(np.int32)
    extras = {"log_prob": rng.normal(size=(num_steps, num_envs)).astype(np.float32)}
    return timesteps, actions, extras


def timestep_at(timesteps, t):
    return jax.tree_util.tree_map(lambda x: x[t], timesteps)


def host_items(config, timesteps, actions, extras):
    """Every item `BatchedAdder` over N `NStepTransitionAdder`s writes, in insertion order."""
    signature = replay.transition_signature(SPEC, config.transitions_per_item, EXTRAS_SPEC)
    server = replay.make_server([replay.queue_table("queue", 10_000, signature)], "local")
    client = server.client()
    num_envs = actions.shape[1]
    adder = replay.BatchedAdder(
        [
            replay.NStepTransitionAdder(
                client,
                "queue",
                SPEC,
                config.n_step,
                config.discount,
                config.transitions_per_item,
                EXTRAS_SPEC,
            )  # fmt: skip
            for _ in range(num_envs)
        ]
    )
    adder.add_first(timestep_at(timesteps, 0))
    for t in range(actions.shape[0]):
        adder.add(actions[t], timestep_at(timesteps, t + 1), {"log_prob": extras["log_prob"][t]})
    count = client.table_size("queue")
    batch = next(client.dataset("queue", count, flatten_blocks=False, check_finite=False))
    server.stop()
    return batch.data


def run_device(config, timesteps, actions, extras, capacity=10_000):
    """The device writer and buffer in one `lax.scan`, as the Anakin layout runs them: the
    reset's FIRST step first, then each step with the observation it acted at."""
    num_envs = actions.shape[1]
    writer = device.init_writer(config, SPEC, num_envs, EXTRAS_SPEC)
    buffer = device.init_buffer(device.item_signature(config, SPEC, EXTRAS_SPEC), capacity)
    zeros = (jnp.zeros_like(timesteps.observation[0]), jnp.zeros_like(actions[0]))
    zero_extras = jax.tree_util.tree_map(lambda x: jnp.zeros_like(x[0]), extras)
    writer, written = device.write(config, writer, *zeros, timestep_at(timesteps, 0), zero_extras)
    buffer = device.insert(buffer, written.items, written.valid)

    def step(carry, inputs):
        writer, buffer = carry
        observation, action, next_timestep, extra = inputs
        writer, written = device.write(config, writer, observation, action, next_timestep, extra)
        return (writer, device.insert(buffer, written.items, written.valid)), written.valid.sum()

    rest = jax.tree_util.tree_map(lambda x: x[1:], timesteps)
    inputs = (timesteps.observation[:-1], actions, rest, extras)
    (writer, buffer), _ = jax.lax.scan(step, (writer, buffer), inputs)
    return writer, buffer


CONFIGS = [
    device.NStepConfig(n_step=1, discount=0.9),
    device.NStepConfig(n_step=3, discount=0.9),
    device.NStepConfig(n_step=3, discount=0.9, transitions_per_item=4),
    device.NStepConfig(n_step=1, discount=0.99, transitions_per_item=2),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"n{c.n_step}-block{c[2]}")
def test_writer_matches_host_adders(config):
    timesteps, actions, extras = trajectory(seed=0)
    expected = host_items(config, timesteps, actions, extras)
    _, buffer = jax.jit(functools.partial(run_device, config))(timesteps, actions, extras)
    count = expected.action.shape[0]
    assert int(device.size(buffer)) == count > 5
    got = jax.tree_util.tree_map(lambda column: column[:count], buffer.items)
    chex.assert_trees_all_close(got, expected, rtol=1e-5, atol=1e-6)
    assert {int(x) for x in np.unique(expected.discount)} >= {0}  # Terminations written.


def test_writer_holds_back_unfinished_steps():
    """Steps still short of n (and transitions short of an item) stay in the state."""
    config = device.NStepConfig(n_step=3, discount=0.5, transitions_per_item=4)
    timesteps, actions, extras = trajectory(seed=1)
    writer, buffer = jax.jit(functools.partial(run_device, config))(timesteps, actions, extras)
    # The last episodes run on: each sub-environment holds n - 1 steps back.
    np.testing.assert_array_equal(writer.pending, [2, 2, 2])
    assert writer.staged_count.shape == (3,) and (np.asarray(writer.staged_count) < 4).all()


def test_truncation_bootstraps_and_termination_does_not():
    config = device.NStepConfig(n_step=3, discount=0.5)
    episodes = (((2, "terminate"), (9, None)), ((2, "truncate"), (9, None)))
    timesteps, actions, extras = trajectory(seed=2, episodes=episodes, num_steps=3)
    _, buffer = jax.jit(functools.partial(run_device, config))(timesteps, actions, extras)
    assert int(device.size(buffer)) == 4
    reward, discount = timesteps.reward, timesteps.discount  # [T + 1, N]
    r1, r2, d1 = reward[1], reward[2], discount[1]
    # Sub-environment 0's transitions, then 1's (each writes two at its LAST).
    np.testing.assert_allclose(buffer.items.reward[:4, 0], [
        r1[0] + 0.5 * d1[0] * r2[0], r2[0], r1[1] + 0.5 * d1[1] * r2[1], r2[1]
    ], rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(
        buffer.items.discount[:4, 0], [0.0, 0.0, 0.25 * d1[1], 0.5], rtol=1e-6
    )


# The buffer's functions as a jitted loop calls them.
insert = jax.jit(device.insert)
set_priorities = jax.jit(device.set_priorities)


def ints(values):
    return {"x": jnp.asarray(values, jnp.int32)}


def int_buffer(capacity):
    return device.init_buffer({"x": jax.ShapeDtypeStruct((), jnp.int32)}, capacity)


def test_fifo_overwrite_of_valid_rows():
    state = int_buffer(5)
    state = insert(state, ints([0, 1, 2, 3]), jnp.array([True, False, True, True]))
    assert int(device.size(state)) == 3 and int(state.inserted) == 3
    np.testing.assert_array_equal(state.items["x"][:3], [0, 2, 3])
    state = insert(state, ints([10, 11, 12, 13]), jnp.ones(4, bool))
    np.testing.assert_array_equal(state.items["x"], [12, 13, 3, 10, 11])  # keys 5, 6, 2, 3, 4
    assert int(device.size(state)) == 5 and int(state.inserted) == 7
    # A batch longer than the buffer keeps its newest rows.
    state = insert(state, ints(np.arange(20, 28)), jnp.arange(8) != 6)
    assert int(state.inserted) == 14
    np.testing.assert_array_equal(state.items["x"], [23, 24, 25, 27, 22])
    batch = device.sample_uniform(state, jax.random.key(0), 200, flatten_blocks=False)
    value_of_key = {9: 22, 10: 23, 11: 24, 12: 25, 13: 27}
    assert {
        int(k): int(x) for k, x in zip(batch.keys, batch.data["x"], strict=True)
    } == value_of_key


def test_uniform_samples_only_filled_slots_evenly():
    state = insert(int_buffer(10), ints(np.arange(7) + 100), jnp.ones(7, bool))
    assert not device.can_sample(state, 8) and device.can_sample(state, 7)
    assert not device.can_sample(int_buffer(3), 0)  # Nothing to sample from.
    sample = jax.jit(device.sample_uniform, static_argnums=(2, 3))
    batch = sample(state, jax.random.key(1), 70_000, False)
    counts = np.bincount(np.asarray(batch.data["x"]) - 100, minlength=10)
    assert counts[7:].sum() == 0
    assert stats.chisquare(counts[:7]).pvalue > 1e-3
    np.testing.assert_array_equal(np.asarray(batch.keys), np.asarray(batch.data["x"]) - 100)
    np.testing.assert_allclose(batch.probabilities, np.full(70_000, 1 / 7), rtol=1e-6)


def test_prioritized_frequencies_follow_priority_to_the_exponent():
    priorities = np.array([1.0, 2.0, 3.0, 4.0, 0.5], np.float32)
    state = insert(int_buffer(8), ints(np.arange(5)), jnp.ones(5, bool), priorities)
    sample = jax.jit(device.sample_prioritized, static_argnums=(2, 4))
    batch = sample(state, jax.random.key(2), 100_000, 0.6, False)
    expected = priorities.astype(np.float64) ** 0.6 / (priorities.astype(np.float64) ** 0.6).sum()
    counts = np.bincount(np.asarray(batch.data["x"]), minlength=8)
    assert counts[5:].sum() == 0
    assert stats.chisquare(counts[:5], expected * counts.sum()).pvalue > 1e-3
    np.testing.assert_allclose(batch.probabilities, expected[batch.data["x"]], rtol=1e-5)


def test_new_items_enter_at_the_largest_priority_given():
    state = insert(int_buffer(6), ints([0, 1, 2]), jnp.ones(3, bool))
    np.testing.assert_array_equal(state.priorities[:3], [1.0, 1.0, 1.0])
    state = set_priorities(state, jnp.array([0, 1]), jnp.array([5.0, 0.2]))
    state = set_priorities(state, jnp.array([0]), jnp.array([0.3]))
    assert float(state.max_priority) == 5.0  # The largest ever given, though since lowered.
    state = insert(state, ints([3, 4]), jnp.ones(2, bool))
    np.testing.assert_allclose(state.priorities[:5], [0.3, 0.2, 1.0, 5.0, 5.0])
    state = insert(state, ints([5]), jnp.ones(1, bool), priorities=7.0)
    assert float(state.max_priority) == 7.0


def test_max_priority_follows_the_host_table():
    table = replay.prioritized_table("p", 4, replay.min_size_limiter(1), 0.6)
    server = replay.make_server([table], "local")
    client, host = server.client(), server.tables["p"]
    state = int_buffer(4)
    updates = [([0], [3.0]), ([1, 2], [0.5, 9.0]), ([0], [20.0]), ([6, 7], [4.0, 30.0])]
    for k, (keys, values) in enumerate(updates):
        for _ in range(2):
            host.insert({"x": np.int32(k)}, client.max_priority("p"))
        state = insert(state, ints([k, k]), jnp.ones(2, bool))
        # Host keys count from 1, device keys from 0; the third round's key is evicted.
        client.update_priorities("p", np.array(keys) + 1, np.array(values))
        host.sample(1)  # The host table applies updates before its next sample.
        state = set_priorities(state, jnp.array(keys), jnp.array(values))
        assert float(state.max_priority) == client.max_priority("p")
    server.stop()


def test_set_priorities_floors_and_ignores_what_it_must():
    state = insert(int_buffer(3), ints([0, 1, 2, 3]), jnp.ones(4, bool))  # Key 0 gone.
    assert device.MIN_PRIORITY == learning.MIN_PRIORITY
    state = set_priorities(state, jnp.array([1, 2, 3, 0]), jnp.array([0.0, -1.0, jnp.nan, 50.0]))
    # Slots hold keys 3, 1, 2: key 3's NaN is ignored, evicted key 0 too.
    np.testing.assert_allclose(state.priorities, [1.0, 1e-6, 1e-6])
    assert float(state.max_priority) == 1.0
    state = set_priorities(state, jnp.array([2, 1, 2]), jnp.array([4.0, 2.0, 3.0]))
    np.testing.assert_allclose(state.priorities, [1.0, 2.0, 3.0])  # Key 2's last value.
    assert float(state.max_priority) == 4.0


def test_prioritized_with_zero_priorities_samples_uniformly():
    state = insert(int_buffer(4), ints([0, 1, 2]), jnp.ones(3, bool), priorities=0.0)
    batch = device.sample_prioritized(state, jax.random.key(3), 3000, 0.6, False)
    counts = np.bincount(np.asarray(batch.data["x"]), minlength=4)
    assert counts[3] == 0 and (counts[:3] > 900).all()
    np.testing.assert_allclose(batch.probabilities, 1 / 3, rtol=1e-6)


def test_samples_feed_the_learners_update():
    """A sample is what `scan_sgd_steps` takes: transitions [items * per_item], probabilities
    [items]; its item priorities go back with `set_priorities`."""
    config = device.NStepConfig(n_step=3, discount=0.9, transitions_per_item=4)
    timesteps, actions, extras = trajectory(seed=3)
    run = jax.jit(functools.partial(run_device, config, capacity=8))
    _, state = run(timesteps, actions, extras)
    batch = device.sample_prioritized(state, jax.random.key(4), 6, 0.6)
    assert batch.data.reward.shape == (24,) and batch.probabilities.shape == (6,)

    def sgd_step(train_state, sgd_batch):
        weights = learning.importance_weights(sgd_batch.probabilities, 0.4)
        return train_state, {"w": weights.mean()}, jnp.abs(sgd_batch.transitions.reward)

    _, _, priorities = learning.scan_sgd_steps(
        sgd_step, None, batch.data, batch.probabilities, 8, jax.random.key(5)
    )
    state = set_priorities(state, batch.keys, priorities)
    slots = np.asarray(batch.keys) % 8
    rewards = np.abs(np.asarray(state.items.reward[slots])).max(axis=1)
    np.testing.assert_allclose(state.priorities[slots], np.maximum(rewards, 1e-6), rtol=1e-6)


def row(nest, i):
    return jax.tree_util.tree_map(lambda x: x[i], nest)


def test_vmap_over_seeds_equals_each_run_alone():
    config = device.NStepConfig(n_step=3, discount=0.9, transitions_per_item=2)
    runs = [trajectory(10), trajectory(11, episodes=EPISODES[::-1])]
    stacked = jax.tree_util.tree_map(lambda *x: np.stack(x), *runs)
    run = functools.partial(run_device, config, capacity=16)
    together = jax.jit(jax.vmap(run))(*stacked)
    for i, inputs in enumerate(runs):
        alone = jax.jit(run)(*inputs)
        chex.assert_trees_all_close(row(together, i), alone)

    def learn_step(state, key):
        batch = device.sample_prioritized(state, key, 5, 0.6)
        state = device.set_priorities(state, batch.keys, batch.data.reward[::2] ** 2)
        return state, batch, device.sample_uniform(state, key, 3)

    buffers = together[1]
    keys = jax.random.split(jax.random.key(6), 2)
    result = jax.jit(jax.vmap(learn_step))(buffers, keys)
    for i in range(2):
        alone = jax.jit(learn_step)(row(buffers, i), keys[i])
        chex.assert_trees_all_close(row(result, i), alone)
        assert isinstance(alone[1], types.Batch)


LONG_EPISODES = (
    ((30, "terminate"), (25, "truncate"), (3, "terminate"), (80, None)),
    ((7, "truncate"), (40, "terminate"), (80, None)),
)


@pytest.mark.parametrize("n_step, per_item", [(5, 16), (3, 16), (5, 4)])
def test_writer_matches_host_adders_on_long_episodes_and_blocks(n_step, per_item):
    """DQN's shipped settings (5-step returns, items of 16 transitions) over episodes longer
    than a block, blocks spanning episode ends."""
    config = device.NStepConfig(n_step=n_step, discount=0.99, transitions_per_item=per_item)
    timesteps, actions, extras = trajectory(seed=3, episodes=LONG_EPISODES, num_steps=110)
    expected = host_items(config, timesteps, actions, extras)
    _, buffer = jax.jit(functools.partial(run_device, config))(timesteps, actions, extras)
    count = expected.action.shape[0]
    assert int(device.size(buffer)) == count >= 6
    got = jax.tree_util.tree_map(lambda column: column[:count], buffer.items)
    chex.assert_trees_all_close(got, expected, rtol=1e-5, atol=1e-6)
