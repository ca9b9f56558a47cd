"""Replay tables on each backend: sampling distributions, priorities, queues, checkpoints."""

import importlib.util
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tree
from dm_env import specs as dm_specs
from scipy import stats

import rlkit
from rlkit import replay
from rlkit.replay import local

SIGNATURE = {"x": dm_specs.Array((2,), np.float32), "i": dm_specs.Array((), np.int64)}
# A wrong sampler fails these by a wide margin; a right one, about once in 10^6 runs.
P_VALUE_FLOOR = 1e-6


def item(i):
    return {"x": np.full((2,), i, np.float32), "i": np.int64(i)}


def fill(client, table, count, priorities=None):
    writer = client.trajectory_writer(num_keep_alive_refs=1)
    for i in range(count):
        writer.append(item(i))
        priority = 1.0 if priorities is None else float(priorities[i])
        writer.create_item(table, priority, tree.map_structure(lambda c: c[-1], writer.history))
    writer.flush()


def draw(client, table, batches, items_per_batch=100):
    dataset = client.dataset(table, items_per_batch, flatten_blocks=False)
    drawn = [next(dataset) for _ in range(batches)]
    indices = np.concatenate([batch.data["i"] for batch in drawn])
    keys = np.concatenate([batch.keys for batch in drawn])
    probabilities = np.concatenate([batch.probabilities for batch in drawn])
    return indices, keys, probabilities


@pytest.fixture
def start(replay_backend):
    servers = []

    def make(*tables, **kwargs):
        server = replay.make_server(list(tables), replay_backend, **kwargs)
        servers.append(server)
        return server.client()

    yield make
    for server in servers:
        server.stop()


def test_uniform_sampling_frequencies(start):
    client = start(replay.uniform_table("t", 100, replay.min_size_limiter(1), SIGNATURE))
    fill(client, "t", 10)
    indices, _, probabilities = draw(client, "t", 50)
    counts = np.bincount(indices, minlength=10)
    assert stats.chisquare(counts).pvalue > P_VALUE_FLOOR, counts
    np.testing.assert_allclose(probabilities, 0.1, rtol=1e-6)


def test_prioritized_sampling_frequencies_and_probabilities(start):
    exponent = 0.6
    table = replay.prioritized_table("t", 100, replay.min_size_limiter(1), exponent, SIGNATURE)
    client = start(table)
    priorities = np.arange(1.0, 11.0)
    fill(client, "t", 10, priorities)
    expected = priorities**exponent / np.sum(priorities**exponent)
    indices, _, probabilities = draw(client, "t", 100)
    counts = np.bincount(indices, minlength=10)
    assert stats.chisquare(counts, expected * counts.sum()).pvalue > P_VALUE_FLOOR, counts
    np.testing.assert_allclose(probabilities, expected[indices], rtol=1e-5)


def test_priority_updates_land_on_the_sampled_keys(start):
    client = start(replay.prioritized_table("t", 100, replay.min_size_limiter(1), 1.0, SIGNATURE))
    fill(client, "t", 10)
    indices, keys, _ = draw(client, "t", 1, items_per_batch=5)
    chosen_index, chosen_key = indices[0], keys[0]
    everyone_else = [key for key, index in zip(keys, indices, strict=True) if index != chosen_index]
    all_keys = np.unique(draw(client, "t", 20)[1])
    others = [key for key in all_keys if key != chosen_key]
    assert set(everyone_else) <= set(others)
    client.update_priorities("t", np.array(others), np.zeros(len(others)))
    client.update_priorities("t", np.array([chosen_key]), np.array([3.0]))
    client.wait_for_priority_updates()  # Reverb's land in the background, in order.
    indices, keys, probabilities = draw(client, "t", 2)
    assert set(indices) == {chosen_index} and set(keys) == {chosen_key}
    np.testing.assert_allclose(probabilities, 1.0)


def test_priorities_must_be_finite_and_non_negative(start):
    client = start(replay.prioritized_table("t", 10, replay.min_size_limiter(1), 1.0, SIGNATURE))
    fill(client, "t", 2)
    _, keys, _ = draw(client, "t", 1, items_per_batch=2)
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(rlkit.InvalidBatchError, match="non-negative and finite"):
            client.update_priorities("t", keys[:1], np.array([bad]))


def test_queue_is_fifo_and_hands_out_each_item_once(start):
    client = start(replay.queue_table("q", 100, SIGNATURE))
    fill(client, "q", 6)
    dataset = client.dataset("q", 2, flatten_blocks=False)
    assert [next(dataset).data["i"].tolist() for _ in range(3)] == [[0, 1], [2, 3], [4, 5]]
    assert client.table_size("q") == 0


def test_full_table_evicts_the_oldest(start):
    client = start(replay.uniform_table("t", 4, replay.min_size_limiter(1), SIGNATURE))
    fill(client, "t", 7)
    assert client.table_size("t") == 4
    assert set(draw(client, "t", 10)[0]) == {3, 4, 5, 6}


def test_checkpoint_restores_the_tables(start, tmp_path):
    tables = [
        replay.prioritized_table("p", 8, replay.min_size_limiter(1), 0.5, SIGNATURE),
        replay.uniform_table("u", 8, replay.min_size_limiter(1), SIGNATURE),
    ]
    client = start(*tables, seed=3, checkpoint_dir=str(tmp_path / "staging"))
    fill(client, "p", 11, priorities=np.arange(1.0, 12.0))  # Evicts 3: a wrapped ring.
    fill(client, "u", 5)
    _, keys, _ = draw(client, "p", 1, items_per_batch=3)
    client.update_priorities("p", keys, np.array([0.0, 7.0, 2.5])[: len(keys)])
    path = client.checkpoint()
    restored = start(*tables, seed=99, restore_from=path)
    for name in ("p", "u"):
        assert restored.table_size(name) == client.table_size(name)
        before = draw(client, name, 40)
        after = draw(restored, name, 40)
        if client.backend == "local":  # Same items, keys and sampler state: the same draws.
            for old, new in zip(before, after, strict=True):
                np.testing.assert_array_equal(old, new)
        else:  # Reverb's sampler is not seedable: the same contents and probabilities.
            assert set(before[0]) == set(after[0]) and set(before[1]) == set(after[1])
            by_key = dict(zip(before[1], before[2], strict=True))
            np.testing.assert_allclose([by_key[k] for k in after[1]], after[2], rtol=1e-6)


def test_local_sampling_is_seeded():
    tables = [replay.prioritized_table("p", 50, replay.min_size_limiter(1), 0.6, SIGNATURE)]
    runs = []
    for seed in (1, 1, 2):
        server = replay.make_server(tables, "local", seed=seed)
        fill(server.client(), "p", 30, priorities=np.arange(1.0, 31.0))
        runs.append(draw(server.client(), "p", 3)[0])
        server.stop()
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_local_update_for_an_evicted_key_is_ignored():
    server = replay.make_server(
        [replay.prioritized_table("p", 2, replay.min_size_limiter(1), 1.0, SIGNATURE)], "local"
    )
    client = server.client()
    fill(client, "p", 2)
    _, keys, _ = draw(client, "p", 1, items_per_batch=50)
    oldest = keys.min()
    fill(client, "p", 1)  # Evicts the oldest; its slot now holds a new item with a new key.
    client.update_priorities("p", np.array([oldest]), np.array([1000.0]))
    _, _, probabilities = draw(client, "p", 1, items_per_batch=50)
    np.testing.assert_allclose(probabilities, 0.5)


def test_local_table_checks_items_against_the_signature():
    server = replay.make_server([replay.queue_table("q", 4, SIGNATURE)], "local")
    writer = server.client().trajectory_writer(1)
    writer.append({"x": np.zeros((3,), np.float32), "i": np.int64(0)})
    with pytest.raises(ValueError, match=r"float32\[3\]; the table's signature says float32\[2\]"):
        writer.create_item("q", 1.0, tree.map_structure(lambda c: c[-1], writer.history))


def test_local_sum_tree_matches_prefix_sums():
    rng = np.random.default_rng(0)
    sum_tree = local.SumTree(13)
    values = rng.uniform(0, 5, 13)
    values[[2, 7]] = 0.0
    sum_tree.set(np.arange(13), values)
    assert sum_tree.total == pytest.approx(values.sum())
    targets = rng.uniform(0, values.sum(), 1000)
    expected = np.searchsorted(np.cumsum(values), targets, side="right")
    np.testing.assert_array_equal(sum_tree.find(targets), expected)


def test_local_sum_tree_single_slot_writes_match_batch_writes():
    rng = np.random.default_rng(1)
    one_at_a_time, batched = local.SumTree(13), local.SumTree(13)
    values = np.zeros(13)
    for _ in range(5):
        slots = rng.choice(13, size=6, replace=False)
        new = rng.uniform(0, 5, 6)
        for slot, value in zip(slots, new, strict=True):
            one_at_a_time.set(np.array([slot]), np.array([value]))
        batched.set(slots, new)
        values[slots] = new
        assert one_at_a_time.total == pytest.approx(values.sum())
        np.testing.assert_allclose(one_at_a_time._nodes, batched._nodes)


def test_checkpoint_of_the_other_backend_is_a_clear_error(tmp_path):
    server = replay.make_server(
        [replay.queue_table("q", 4, SIGNATURE)], "local", checkpoint_dir=str(tmp_path)
    )
    path = server.client().checkpoint()
    with pytest.raises(rlkit.CheckpointError, match="written by the 'local' replay backend"):
        replay.make_server([replay.queue_table("q", 4, SIGNATURE)], "reverb", restore_from=path)


def test_unknown_backend_is_a_config_error():
    with pytest.raises(rlkit.ConfigError, match="choose from: auto, local, reverb"):
        replay.make_server([], "redis")


def test_import_without_reverb_and_asking_for_it():
    """rlkit imports where Reverb is missing; asking for it names the extra, in one line."""
    script = (
        "import sys; sys.modules['reverb'] = None; sys.modules['tensorflow'] = None\n"
        "import rlkit\n"
        "from rlkit import replay\n"
        "from rlkit.agents import dqn\n"
        "try:\n"
        "    replay.make_server([], 'reverb')\n"
        "except rlkit.ConfigError as error:\n"
        "    print(error)\n"
    )
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and "pip install -c constraints.txt 'rlkit-jax[reverb]'" in lines[0]


def _writer_thread(client, table, count, delay_s=0.002):
    def write():
        writer = client.trajectory_writer(num_keep_alive_refs=1)
        for i in range(count):
            writer.append(item(i))
            writer.create_item(table, 1.0, tree.map_structure(lambda c: c[-1], writer.history))
            writer.flush()
            time.sleep(delay_s)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_rate_limiter_is_asked_per_item_not_per_batch(start):
    """A batch wider than the limiter's band is served as inserts allow (Reverb's rule)."""
    limiter = replay.sample_to_insert_limiter(1.0, 2, error_buffer=2.0)
    client = start(replay.uniform_table("t", 100, limiter, SIGNATURE))
    # 40 samples let the writer through 44 inserts (error_buffer 2 above min size 2).
    thread = _writer_thread(client, "t", 44)
    dataset = client.dataset("t", 8, flatten_blocks=False, rate_limiter_timeout_s=20.0)
    batches = [next(dataset) for _ in range(5)]
    assert all(batch.keys.shape == (8,) for batch in batches)
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_queue_batches_larger_than_the_queue_are_served_in_order(start):
    client = start(replay.queue_table("q", 4, SIGNATURE))
    thread = _writer_thread(client, "q", 18)
    dataset = client.dataset("q", 6, flatten_blocks=False, rate_limiter_timeout_s=20.0)
    assert [next(dataset).data["i"].tolist() for _ in range(3)] == [
        list(range(0, 6)),
        list(range(6, 12)),
        list(range(12, 18)),
    ]
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_fifo_sampler_without_removal_returns_the_oldest(start):
    limiter = replay.min_size_limiter(1)
    client = start(replay.TableConfig("f", "fifo", 10, limiter, SIGNATURE))
    fill(client, "f", 3)
    indices, keys, _ = draw(client, "f", 1, items_per_batch=5)
    assert indices.tolist() == [0] * 5 and len(set(keys.tolist())) == 1


def test_restoring_without_a_checkpoint_dir_keeps_the_source_and_refuses_to_save(start, tmp_path):
    table = replay.uniform_table("t", 10, replay.min_size_limiter(1), SIGNATURE)
    client = start(table, checkpoint_dir=str(tmp_path / "staging"))
    fill(client, "t", 4)
    path = client.checkpoint()
    contents = sorted(os.listdir(path))
    restored = start(table, restore_from=path)
    assert restored.table_size("t") == 4
    with pytest.raises(rlkit.CheckpointError, match="no checkpoint directory"):
        restored.checkpoint()
    assert sorted(os.listdir(path)) == contents


def test_missing_or_incomplete_checkpoint_is_a_clear_error(replay_backend, tmp_path):
    table = replay.uniform_table("t", 10, replay.min_size_limiter(1), SIGNATURE)
    with pytest.raises(rlkit.CheckpointError, match="does not exist"):
        replay.make_server([table], replay_backend, restore_from=str(tmp_path / "nothing"))
    server = replay.make_server([table], replay_backend, checkpoint_dir=str(tmp_path / "c"))
    path = server.client().checkpoint()
    server.stop()
    marker = "DONE" if replay_backend == "reverb" else "t.npz"
    os.remove(os.path.join(path, marker))
    with pytest.raises(rlkit.CheckpointError, match="incomplete|no readable table"):
        replay.make_server([table], replay_backend, restore_from=path)


def test_non_finite_insert_priority_is_rejected():
    server = replay.make_server(
        [replay.prioritized_table("p", 4, replay.min_size_limiter(1), 1.0, SIGNATURE)], "local"
    )
    with pytest.raises(rlkit.InvalidBatchError, match="non-negative and finite"):
        fill(server.client(), "p", 1, priorities=[np.inf])


def test_local_checkpoints_prune_only_their_own_kind(tmp_path):
    (tmp_path / "my_policy").mkdir()
    server = replay.make_server(
        [replay.queue_table("q", 4, SIGNATURE)], "local", checkpoint_dir=str(tmp_path)
    )
    first = server.client().checkpoint()
    second = server.client().checkpoint()
    assert sorted(os.listdir(tmp_path)) == sorted(["my_policy", os.path.basename(second)])
    assert first != second


def test_a_local_table_without_signature_keeps_the_item_structure():
    """(Reverb's datasets need a signature; the local backend takes the first item's.)"""
    server = replay.make_server([replay.uniform_table("t", 10, replay.min_size_limiter(1))])
    client = server.client()
    fill(client, "t", 3)
    (batch,) = [next(client.dataset("t", 4, flatten_blocks=False))]
    assert set(batch.data) == {"x", "i"}
    assert batch.data["x"].shape == (4, 2) and batch.data["i"].shape == (4,)


def test_table_names_are_checked():
    with pytest.raises(ValueError, match="letters, digits"):
        replay.queue_table("a/b", 4)


@pytest.mark.skipif(importlib.util.find_spec("reverb") is None, reason="needs the reverb extra")
def test_a_reverb_writer_waits_while_the_rate_limiter_holds_inserts_back():
    """Reverb's own writer queues rate-limited items without bound; rlkit's waits until at
    most `MAX_IN_FLIGHT_ITEMS` are unconfirmed, so an actor cannot run ahead of its learner."""
    from rlkit.replay.reverb_backend import MAX_IN_FLIGHT_ITEMS

    server = replay.make_server([replay.queue_table("q", 2, SIGNATURE)], "reverb")
    client = server.client()
    created = []

    def write():
        writer = client.trajectory_writer(num_keep_alive_refs=1)
        for i in range(40):
            writer.append(item(i))
            writer.create_item("q", 1.0, tree.map_structure(lambda c: c[-1], writer.history))
            created.append(i)
        writer.flush()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    time.sleep(2.0)
    assert thread.is_alive()  # Held back by the full queue...
    assert 2 <= len(created) <= 2 + 2 * MAX_IN_FLIGHT_ITEMS, created
    dataset = client.dataset("q", 1, flatten_blocks=False)
    drawn = [int(next(dataset).data["i"][0]) for _ in range(40)]
    thread.join(timeout=10)
    assert not thread.is_alive() and drawn == list(range(40))  # ... and released by samples.
    server.stop()


@pytest.mark.skipif(importlib.util.find_spec("reverb") is None, reason="needs the reverb extra")
def test_a_reverb_server_left_running_is_stopped_at_exit_and_stop_is_idempotent():
    from rlkit.replay import reverb_backend

    server = replay.make_server([replay.queue_table("q", 2, SIGNATURE)], "reverb")
    assert server in reverb_backend._RUNNING  # What the exit hook stops.
    server.stop()
    server.stop()
    assert server not in reverb_backend._RUNNING
