"""Adders against hand-built trajectories, read back from a real table on each backend."""

import dm_env
import numpy as np
import pytest
import tree
from dm_env import specs as dm_specs

import rlkit
from rlkit import replay, specs, types
from tests.conftest import REPLAY_BACKENDS

SPEC = specs.EnvironmentSpec(
    observations=dm_specs.Array((1,), np.float32),
    actions=dm_specs.DiscreteArray(3, dtype=np.int32),
    rewards=dm_specs.Array((), np.float32),
    discounts=dm_specs.BoundedArray((), np.float32, 0.0, 1.0),
)


def obs(value):
    return np.array([value], np.float32)


def episode(rewards, final_discount):
    """FIRST at obs 0, then one step per reward; the last is LAST with `final_discount`."""
    steps = [dm_env.restart(obs(0))]
    for t, reward in enumerate(rewards, start=1):
        if t < len(rewards):
            steps.append(dm_env.transition(np.float32(reward), obs(t)))
        else:
            steps.append(
                dm_env.TimeStep(
                    dm_env.StepType.LAST, np.float32(reward), np.float32(final_discount), obs(t)
                )
            )
    return steps


def feed(adder, steps, first_action=0):
    adder.add_first(steps[0])
    for t, timestep in enumerate(steps[1:]):
        adder.add(np.int32(first_action + t), timestep)


def read_all(client, count):
    """Every item of the queue table, in insertion order; the queue is then empty."""
    batch = next(client.dataset("queue", count, flatten_blocks=False, check_finite=False))
    assert client.table_size("queue") == 0
    return [tree.map_structure(lambda x, i=i: x[i], batch.data) for i in range(count)]


@pytest.fixture
def make_server(replay_backend):
    servers = []

    def make(signature, backend=replay_backend):
        server = replay.make_server([replay.queue_table("queue", 1000, signature)], backend)
        servers.append(server)
        return server, server.client()

    yield make
    for server in servers:
        server.stop()


def transitions_of(items):
    """Concatenates item blocks into one list of (obs, action, reward, discount, next_obs)."""
    rows = []
    for item in items:
        for i in range(item.action.shape[0]):
            rows.append(
                (
                    float(item.observation[i][0]),
                    int(item.action[i]),
                    float(item.reward[i]),
                    float(item.discount[i]),
                    float(item.next_observation[i][0]),
                )
            )
    return rows


def test_n_step_returns_across_termination(make_server):
    signature = replay.transition_signature(SPEC, 1)
    _, client = make_server(signature)
    adder = replay.NStepTransitionAdder(client, "queue", SPEC, n_step=3, discount=0.5)
    feed(adder, episode([1.0, 2.0, 4.0, 8.0], final_discount=0.0))
    adder.flush()
    got = transitions_of(read_all(client, 4))
    g = 0.5
    expected = [
        # (s, a, R, discount, s'): R = r1 + g r2 + g^2 r3, discount = g^3 (no terminal inside).
        (0.0, 0, 1 + g * 2 + g * g * 4, g**3, 3.0),
        (1.0, 1, 2 + g * 4 + g * g * 8, 0.0, 4.0),  # Reaches the terminal: no bootstrap.
        (2.0, 2, 4 + g * 8, 0.0, 4.0),
        (3.0, 3, 8.0, 0.0, 4.0),
    ]
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=1e-6)


def test_n_step_returns_across_truncation_bootstrap(make_server):
    signature = replay.transition_signature(SPEC, 1)
    _, client = make_server(signature)
    adder = replay.NStepTransitionAdder(client, "queue", SPEC, n_step=2, discount=0.9)
    feed(adder, episode([1.0, 1.0, 1.0], final_discount=1.0))
    adder.flush()
    got = transitions_of(read_all(client, 3))
    expected = [
        (0.0, 0, 1.9, 0.81, 2.0),
        (1.0, 1, 1.9, 0.81, 3.0),
        (2.0, 2, 1.0, 0.9, 3.0),  # Truncated: one step left, bootstraps with gamma^1.
    ]
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=1e-6)


def test_blocks_pack_transitions_across_episodes(make_server):
    signature = replay.transition_signature(SPEC, 4)
    _, client = make_server(signature)
    adder = replay.NStepTransitionAdder(
        client, "queue", SPEC, n_step=1, discount=1.0, transitions_per_item=4
    )
    feed(adder, episode([1.0, 2.0, 3.0], final_discount=0.0))
    feed(adder, episode([10.0, 20.0, 30.0], final_discount=1.0), first_action=1)
    adder.flush()
    assert adder.items_written == 1  # 6 transitions: one full block, 2 waiting.
    (item,) = read_all(client, 1)
    assert item.observation.shape == (4, 1)
    np.testing.assert_array_equal(item.reward, [1.0, 2.0, 3.0, 10.0])
    np.testing.assert_array_equal(item.discount, [1.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(item.action, [0, 1, 2, 1])
    np.testing.assert_array_equal(item.next_observation[:, 0], [1.0, 2.0, 3.0, 1.0])


def test_episode_cut_short_is_written_as_truncated(make_server):
    signature = replay.transition_signature(SPEC, 1)
    _, client = make_server(signature)
    adder = replay.NStepTransitionAdder(client, "queue", SPEC, n_step=3, discount=0.5)
    steps = episode([1.0, 2.0, 4.0, 8.0], final_discount=0.0)[:3]  # Stopped after 2 steps.
    feed(adder, steps)
    adder.add_first(dm_env.restart(obs(100)))
    adder.flush()
    got = transitions_of(read_all(client, 2))
    np.testing.assert_allclose(got, [(0, 0, 2.0, 0.25, 2), (1, 1, 2.0, 0.5, 2)])


def step_rows(item):
    return [
        (float(o[0]), int(a), float(r), float(d), bool(s))
        for o, a, r, d, s in zip(
            item.observation,
            item.action,
            item.reward,
            item.discount,
            item.start_of_episode,
            strict=True,
        )
    ]


def test_sequence_adder_overlap_and_final_step(make_server):
    signature = replay.step_signature(SPEC, 3)
    _, client = make_server(signature)
    adder = replay.SequenceAdder(client, "queue", SPEC, sequence_length=3, period=2)
    feed(adder, episode([1.0, 2.0, 3.0, 4.0], final_discount=0.0))
    adder.flush()
    first, second = read_all(client, 2)
    assert step_rows(first) == [
        (0.0, 0, 1.0, 1.0, True),
        (1.0, 1, 2.0, 1.0, False),
        (2.0, 2, 3.0, 1.0, False),
    ]
    # Overlaps the first by sequence_length - period = 1 step; ends with the final step.
    assert step_rows(second) == [
        (2.0, 2, 3.0, 1.0, False),
        (3.0, 3, 4.0, 0.0, False),
        (4.0, 0, 0.0, 0.0, False),
    ]


def test_a_continuous_sequence_adder_runs_across_episodes(make_server):
    """break_end_of_episode=False: items span episodes; each final observation's step comes
    when the next episode starts (also for an episode cut short without LAST)."""
    signature = replay.step_signature(SPEC, 3)
    _, client = make_server(signature)
    adder = replay.SequenceAdder(
        client, "queue", SPEC, sequence_length=3, period=2, break_end_of_episode=False
    )
    feed(adder, episode([1.0, 2.0, 3.0], final_discount=0.0))
    feed(adder, episode([4.0, 5.0], final_discount=1.0))
    feed(adder, episode([6.0, 7.0], final_discount=0.0)[:2])  # Cut short after one step.
    adder.add_first(dm_env.restart(obs(0)))
    adder.flush()
    items = [step_rows(item) for item in read_all(client, 4)]
    final = (0, 0.0, 0.0, False)  # A final observation's step: no action, reward, discount.
    assert items == [
        [(0.0, 0, 1.0, 1.0, True), (1.0, 1, 2.0, 1.0, False), (2.0, 2, 3.0, 0.0, False)],
        [(2.0, 2, 3.0, 0.0, False), (3.0, *final), (0.0, 0, 4.0, 1.0, True)],
        [(0.0, 0, 4.0, 1.0, True), (1.0, 1, 5.0, 1.0, False), (2.0, *final)],
        [(2.0, *final), (0.0, 0, 6.0, 1.0, True), (1.0, *final)],
    ]


def test_sequence_adder_pads_short_episodes(make_server):
    signature = replay.step_signature(SPEC, 4)
    _, client = make_server(signature)
    adder = replay.SequenceAdder(client, "queue", SPEC, sequence_length=4, period=4)
    feed(adder, episode([5.0], final_discount=1.0))
    feed(adder, episode([6.0, 7.0], final_discount=0.0))
    adder.flush()
    first, second = read_all(client, 2)
    zero = (0.0, 0, 0.0, 0.0, False)
    assert step_rows(first) == [(0.0, 0, 5.0, 1.0, True), (1.0, 0, 0.0, 0.0, False), zero, zero]
    assert step_rows(second) == [
        (0.0, 0, 6.0, 1.0, True),
        (1.0, 1, 7.0, 0.0, False),
        (2.0, 0, 0.0, 0.0, False),
        zero,
    ]


def test_sequence_adder_without_padding_drops_short_episodes(make_server):
    signature = replay.step_signature(SPEC, 3)
    _, client = make_server(signature)
    adder = replay.SequenceAdder(
        client, "queue", SPEC, sequence_length=3, period=3, pad_end_of_episode=False
    )
    feed(adder, episode([1.0], final_discount=0.0))  # 2 steps: too short.
    feed(adder, episode([1.0, 2.0, 3.0], final_discount=0.0))  # 4 steps: items end at 3, 4.
    adder.flush()
    assert adder.items_written == 2
    first, second = read_all(client, 2)
    assert [row[0] for row in step_rows(first)] == [0.0, 1.0, 2.0]
    assert [row[0] for row in step_rows(second)] == [1.0, 2.0, 3.0]


def test_episode_adder_pads_whole_episode(make_server):
    signature = replay.step_signature(SPEC, 5)
    _, client = make_server(signature)
    adder = replay.EpisodeAdder(client, "queue", SPEC, max_sequence_length=5)
    feed(adder, episode([1.0, 2.0], final_discount=0.0))
    adder.flush()
    (item,) = read_all(client, 1)
    zero = (0.0, 0, 0.0, 0.0, True)  # Padding: empty episodes.
    assert step_rows(item) == [
        (0.0, 0, 1.0, 1.0, True),
        (1.0, 1, 2.0, 0.0, False),
        (2.0, 0, 0.0, 0.0, False),
        zero,
        zero,
    ]
    with pytest.raises(ValueError, match="max_sequence_length"):
        feed(adder, episode([1.0] * 6, final_discount=0.0))


def _uniform_server(backend, signature, limiter):
    return replay.make_server([replay.uniform_table("replay", 100, limiter, signature)], backend)


def test_dataset_flattens_blocks_and_rejects_nan(replay_backend):
    signature = replay.transition_signature(SPEC, 2)
    server = _uniform_server(replay_backend, signature, replay.min_size_limiter(1))
    client = server.client()
    adder = replay.NStepTransitionAdder(
        client, "replay", SPEC, n_step=1, discount=0.9, transitions_per_item=2
    )
    feed(adder, episode([1.0, 2.0], final_discount=0.0))
    adder.flush()
    iterator = client.dataset("replay", items_per_batch=3)
    batch = next(iterator)
    assert isinstance(batch.data, types.Transition)
    assert batch.data.observation.shape == (6, 1) and batch.data.action.shape == (6,)
    assert batch.keys.shape == (3,) and batch.probabilities.shape == (3,)
    np.testing.assert_allclose(batch.probabilities, 1.0)
    server.stop()

    server = _uniform_server(replay_backend, signature, replay.min_size_limiter(1))
    adder = replay.NStepTransitionAdder(
        server.client(), "replay", SPEC, n_step=1, discount=0.9, transitions_per_item=2
    )
    feed(adder, episode([np.nan, 2.0], final_discount=0.0))
    adder.flush()
    with pytest.raises(rlkit.InvalidBatchError, match="'reward' contains NaN"):
        next(server.client().dataset("replay", items_per_batch=1))
    server.stop()


def test_dataset_times_out_instead_of_hanging(replay_backend):
    signature = replay.transition_signature(SPEC, 1)
    limiter = replay.sample_to_insert_limiter(1.0, 1, error_buffer=1.0, block_inserts=False)
    server = _uniform_server(replay_backend, signature, limiter)
    client = server.client()
    adder = replay.NStepTransitionAdder(client, "replay", SPEC, n_step=1, discount=0.9)
    feed(adder, episode([1.0, 2.0], final_discount=0.0))  # 2 inserts allow 2 + 1 samples.
    adder.flush()
    iterator = client.dataset("replay", items_per_batch=2, rate_limiter_timeout_s=0.5)
    next(iterator)
    with pytest.raises(rlkit.ReplayTimeoutError, match="samples_per_insert"):
        next(iterator)
    server.stop()


def _random_episodes(seed, count=4):
    """Episodes of random length and rewards, ending in termination or truncation."""
    rng = np.random.default_rng(seed)
    return [
        episode(rng.normal(size=rng.integers(1, 9)).tolist(), float(rng.integers(2)))
        for _ in range(count)
    ]


ADDERS = {
    "n_step": (
        lambda client: replay.NStepTransitionAdder(
            client, "queue", SPEC, n_step=3, discount=0.9, transitions_per_item=2
        ),
        replay.transition_signature(SPEC, 2),
    ),
    "sequence": (
        lambda client: replay.SequenceAdder(client, "queue", SPEC, sequence_length=4, period=3),
        replay.step_signature(SPEC, 4),
    ),
    "episode": (
        lambda client: replay.EpisodeAdder(client, "queue", SPEC, max_sequence_length=10),
        replay.step_signature(SPEC, 10),
    ),
}


@pytest.mark.skipif("reverb" not in REPLAY_BACKENDS, reason="compares with the Reverb extra")
@pytest.mark.parametrize("adder_name", sorted(ADDERS))
def test_backends_write_the_same_items(make_server, adder_name):
    make_adder, signature = ADDERS[adder_name]
    items = {}
    for backend in ("local", "reverb"):
        _, client = make_server(signature, backend)
        adder = make_adder(client)
        for steps in _random_episodes(seed=7):
            feed(adder, steps)
        adder.flush()
        items[backend] = read_all(client, adder.items_written)
    assert len(items["local"]) == len(items["reverb"]) > 1
    for local_item, reverb_item in zip(items["local"], items["reverb"], strict=True):
        assert type(local_item) is type(reverb_item)
        tree.map_structure(np.testing.assert_array_equal, local_item, reverb_item)


def batched_stream(streams):
    """Stacks per-sub-environment timestep streams into batched timesteps (a FIRST slot has
    reward 0 and discount 1, as `VectorGymWrapper` gives it)."""
    batched = []
    for timesteps in zip(*streams, strict=False):
        batched.append(
            dm_env.TimeStep(
                np.array([ts.step_type for ts in timesteps], np.int8),
                np.array([0.0 if ts.first() else ts.reward for ts in timesteps], np.float32),
                np.array([1.0 if ts.first() else ts.discount for ts in timesteps], np.float32),
                np.stack([ts.observation for ts in timesteps]),
            )
        )
    return batched


def shifted(steps, offset):
    return [ts._replace(observation=ts.observation + offset) for ts in steps]


@pytest.mark.parametrize(
    "adder_name", ["sequence", "continuous_sequence", "n_step", "batched_sequence"]
)
def test_batched_adder_keeps_each_sub_environment_s_items_apart(make_server, adder_name):
    """Two sub-environments with different episode lengths, each auto-reset on the step after
    its LAST: each one's items equal those of an adder fed its stream alone."""
    extras_spec = dm_specs.Array((), np.float32)
    streams = [
        episode([1.0, 2.0, 3.0], 0.0) + episode([4.0, 5.0, 6.0], 1.0) + episode([7.0], 0.0),
        shifted(episode([10.0, 20.0], 1.0) * 3 + episode([30.0], 0.0), 100.0),
    ]
    if adder_name.endswith("sequence"):
        signature = replay.step_signature(SPEC, 3, extras_spec)

        def make_adder(client):
            return replay.SequenceAdder(
                client, "queue", SPEC, sequence_length=3, period=2, extras_spec=extras_spec,
                break_end_of_episode=adder_name == "sequence",
            )  # fmt: skip

        def make_batched(client):
            if adder_name != "batched_sequence":
                return replay.BatchedAdder([make_adder(client), make_adder(client)])
            return replay.BatchedSequenceAdder(
                client, "queue", SPEC, 2, sequence_length=3, period=2, extras_spec=extras_spec
            )
    else:
        signature = replay.transition_signature(SPEC, 2, extras_spec)

        def make_batched(client):
            return replay.BatchedAdder([make_adder(client), make_adder(client)])

        def make_adder(client):
            return replay.NStepTransitionAdder(
                client, "queue", SPEC, n_step=2, discount=0.5, transitions_per_item=2,
                extras_spec=extras_spec,
            )  # fmt: skip

    _, client = make_server(signature)
    adder = make_batched(client)
    batched = batched_stream(streams)
    adder.add_first(batched[0])
    for k, timestep in enumerate(batched[1:]):
        actions = np.array([k % 3, (k + 1) % 3], np.int32)
        extras = np.array([k, 100 + k], np.float32)  # Tells whose extras landed where.
        adder.add(actions, timestep, extras)
    restart = [dm_env.restart(obs(0)), dm_env.restart(obs(100))]
    adder.add_first(batched_stream([[restart[0]], [restart[1]]])[0])  # Cuts episodes short.
    adder.flush()
    items = read_all(client, client.table_size("queue"))

    for index, stream in enumerate(streams):
        _, single_client = make_server(signature)
        single = make_adder(single_client)
        for k, timestep in enumerate(stream[: len(batched)]):
            if timestep.first():
                single.add_first(timestep)
            else:
                action = np.int32((k - 1 + index) % 3)
                single.add(action, timestep, np.float32(100 * index + k - 1))
        single.add_first(restart[index])
        single.flush()
        expected = read_all(single_client, single_client.table_size("queue"))
        mine = [item for item in items if (item.observation[0, 0] >= 100) == bool(index)]
        assert len(mine) == len(expected) > 0
        for got, want in zip(mine, expected, strict=True):
            tree.map_structure(np.testing.assert_array_equal, got, want)


def test_batched_sequence_writer_of_the_local_backend_writes_what_per_stream_writers_do():
    """The local backend's array-backed writer against `BatchedSequenceWriter` over one
    trajectory writer per stream (Reverb's way): streams that skip steps (so their ring slots
    differ), items due on some streams only, a wrap of the ring, and `end_episodes`."""
    signature = {
        "obs": dm_specs.Array((3, 2), np.float32),
        "nested": (dm_specs.Array((), np.int32), dm_specs.Array((), bool)),
    }
    length, keep, num_streams = 3, 4, 3
    item_signature = tree.map_structure(
        lambda s: dm_specs.Array((length, *s.shape), s.dtype), signature
    )
    written = []
    for batched in (True, False):
        server = replay.make_server([replay.queue_table("queue", 1000, item_signature)], "local")
        client = server.client()
        if batched:
            writer = client.batched_sequence_writer(num_streams, keep)
            assert type(writer) is not replay.BatchedSequenceWriter
        else:
            writer = replay.BatchedSequenceWriter(
                [client.trajectory_writer(keep) for _ in range(num_streams)]
            )
        rng = np.random.default_rng(7)
        counts = np.zeros(num_streams, int)
        for step in range(23):
            streams = np.flatnonzero(rng.random(num_streams) < 0.7)
            steps = {
                "obs": rng.normal(size=(num_streams, 3, 2)).astype(np.float32),
                "nested": (
                    np.arange(num_streams, dtype=np.int32) * 100 + step,
                    rng.random(num_streams) < 0.5,
                ),
            }
            writer.append(steps, streams)
            steps["obs"][:] = np.nan  # The writer copied what it keeps.
            counts[streams] += 1
            due = np.flatnonzero(counts >= length)[: 1 + step % 2]
            writer.create_items("queue", 1.0, due, length)
            if step == 15:
                writer.end_episodes()
                counts[:] = 0
        written.append(read_all(client, client.table_size("queue")))
        server.stop()
    server = replay.make_server([replay.queue_table("queue", 10, item_signature)], "local")
    writer = server.client().batched_sequence_writer(num_streams, keep)
    writer.append(steps, np.arange(num_streams))
    with pytest.raises(ValueError, match=r"Items of 3 steps from streams holding \[1\] steps"):
        writer.create_items("queue", 1.0, np.array([1]), length)
    server.stop()
    assert len(written[0]) == len(written[1]) > 20
    for got, want in zip(*written, strict=True):
        tree.map_structure(np.testing.assert_array_equal, got, want)
