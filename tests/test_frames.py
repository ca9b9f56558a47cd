"""Shared-frame replay: decoded items equal the plain adder's transitions, on both backends."""

import dm_env
import numpy as np
import pytest
from dm_env import specs as dm_specs

from rlkit import replay, specs
from rlkit.replay import frames

FRAME_SHAPE = (2, 3)
STACK = 4
SPEC = specs.EnvironmentSpec(
    observations=dm_specs.Array((*FRAME_SHAPE, STACK), np.uint8),
    actions=dm_specs.DiscreteArray(3),
    rewards=dm_specs.Array((), np.float32),
    discounts=dm_specs.BoundedArray((), np.float32, 0.0, 1.0),
)


class FrameCounter:
    """Frames numbered 1, 2, 3, ... (each frame filled with its number mod 251)."""

    def __init__(self):
        self.count = 0

    def __call__(self):
        self.count += 1
        return np.full(FRAME_SHAPE, self.count % 251, np.uint8)


def episode(new_frame, length, end="terminal", padded=True):
    """Timesteps of one episode whose observations stack the last STACK frames."""
    if padded:  # Reset padding repeats the first frame.
        stack = [new_frame()] * STACK
    else:  # E.g. after a life loss: the game's frames go on.
        stack = [new_frame() for _ in range(STACK)]
    observe = lambda: np.stack(stack, axis=-1)  # noqa: E731
    steps = [dm_env.restart(observe())]
    for t in range(length):
        stack = [*stack[1:], new_frame()]
        reward = np.float32(t)
        if t < length - 1:
            steps.append(dm_env.transition(reward, observe(), np.float32(1.0)))
        elif end == "terminal":
            steps.append(dm_env.termination(reward, observe()))
        else:
            steps.append(dm_env.truncation(reward, observe(), np.float32(1.0)))
    return steps


def feed(adder, episodes, seed=0):
    rng = np.random.default_rng(seed)
    for steps in episodes:
        adder.add_first(steps[0])
        for timestep in steps[1:]:
            adder.add(np.int32(rng.integers(3)), timestep)
    adder.flush()


def read_all(client, table):
    count = client.table_size(table)
    return next(client.dataset(table, count, flatten_blocks=True, check_finite=False)).data


def run_both(replay_backend, episodes, transitions_per_item=4, n_step=3):
    plain_signature = replay.transition_signature(SPEC, transitions_per_item)
    frame_signature = frames.frame_block_signature(SPEC, transitions_per_item, n_step)
    server = replay.make_server(
        [
            replay.queue_table("plain", 1000, plain_signature),
            replay.queue_table("frames", 1000, frame_signature),
        ],
        replay_backend,
    )
    client = server.client()
    kwargs = dict(n_step=n_step, discount=0.9, transitions_per_item=transitions_per_item)
    feed(replay.NStepTransitionAdder(client, "plain", SPEC, **kwargs), episodes)
    feed(frames.FrameStackTransitionAdder(client, "frames", SPEC, **kwargs), episodes)
    plain = read_all(client, "plain")
    blocks = read_all(client, "frames")
    server.stop()
    num_items = blocks.observation.shape[0] // transitions_per_item
    decoded = frames.decode_frame_blocks(blocks, num_items)
    return plain, decoded


def test_decoded_blocks_are_the_plain_adders_transitions(replay_backend):
    new_frame = FrameCounter()
    episodes = [
        episode(new_frame, 30),
        episode(new_frame, 7, end="truncated"),
        episode(new_frame, 25, padded=False),
        episode(new_frame, 12),
    ]
    plain, decoded = run_both(replay_backend, episodes)
    assert plain.reward.shape[0] == decoded.reward.shape[0] == 72  # 74 transitions, 2 unwritten.
    for field in plain._fields[:5]:
        np.testing.assert_array_equal(
            np.asarray(getattr(decoded, field)), getattr(plain, field), err_msg=field
        )


def test_a_block_out_of_frame_slots_is_completed_with_real_transitions():
    new_frame = FrameCounter()
    # One-step episodes with distinct frames: every transition needs 2 * STACK new slots.
    episodes = [episode(new_frame, 1, padded=False) for _ in range(12)]
    plain, decoded = run_both("local", episodes, transitions_per_item=8)
    real = {
        (o.tobytes(), n.tobytes())
        for o, n in zip(plain.observation, plain.next_observation, strict=True)
    }
    got = [
        (np.asarray(o).tobytes(), np.asarray(n).tobytes())
        for o, n in zip(decoded.observation, decoded.next_observation, strict=True)
    ]
    assert set(got) <= real and len(set(got)) >= 8


def test_observations_that_are_not_shifted_stacks_are_refused():
    server = replay.make_server(
        [replay.queue_table("frames", 10, frames.frame_block_signature(SPEC, 4, 1))], "local"
    )
    adder = frames.FrameStackTransitionAdder(server.client(), "frames", SPEC, n_step=1)
    new_frame = FrameCounter()
    steps = episode(new_frame, 5)
    adder.add_first(steps[0])
    shuffled = steps[1]._replace(observation=steps[1].observation[..., ::-1].copy())
    with pytest.raises(ValueError, match="frame_storage='stacked'"):
        adder.add(np.int32(0), shuffled)
    server.stop()


def test_atari_sized_transitions_take_under_two_frames():
    atari = SPEC._replace(observations=dm_specs.Array((84, 84, 4), np.uint8))
    frame_bytes = 84 * 84
    shared = frames.bytes_per_transition(frames.frame_block_signature(atari, 16, 3))
    whole = frames.bytes_per_transition(replay.transition_signature(atari, 16))
    assert whole > 8 * frame_bytes
    assert shared <= 2 * frame_bytes, shared / frame_bytes
