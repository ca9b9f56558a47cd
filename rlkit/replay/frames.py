"""Replay for stacked frames (Atari) that stores each frame once per item, not 8 times.

An observation that stacks the last S frames (channels last, oldest first, as Atari
preprocessing makes them) shares S-1 frames with the previous one, and a transition's next
observation shares most of its frames with its observation. `FrameStackTransitionAdder`
writes blocks of transitions as a `FrameBlock`: the block's distinct frames once, and per
transition the frame slots of its observation and next observation. `decode_frame_blocks`
rebuilds the stacked transitions from a sampled batch (inside the learner's jitted update, so
only the distinct frames travel to the device).

A block of K consecutive transitions of one episode with n-step returns needs K + S + n - 1
frames; the block holds K + 2 (S + n) - 1, room for one episode change inside it. With the
Atari defaults (K = 16, S = 4, n = 3) that is 29 frames of 84x84 for 16 transitions: 12.8 KB
per transition against 56.4 KB for two whole stacks. Both replay backends store it as is.
"""

from __future__ import annotations

import collections
from typing import Any, NamedTuple

import dm_env
import jax.numpy as jnp
import numpy as np
import tree

from rlkit import specs, types
from rlkit.replay import adders, base


class FrameBlock(NamedTuple):
    """A replay item: K transitions whose observations are slots into `frames`."""

    frames: Any  # [F, *frame_shape]: each distinct frame of the block once.
    observation: Any  # [K, S] int32: frame slots of each observation's stack, oldest first.
    action: Any
    reward: Any
    discount: Any
    next_observation: Any  # [K, S] int32.
    extras: Any = ()


def frames_per_block(transitions_per_item: int, stack_size: int, n_step: int) -> int:
    """Frame slots per block: K + S + n - 1 for one episode, plus room for one change."""
    return transitions_per_item + 2 * (stack_size + n_step) - 1


def _check_stacked(observation_spec: Any) -> tuple[tuple[int, ...], int, np.dtype]:
    if not isinstance(observation_spec, dm_env.specs.Array) or len(observation_spec.shape) < 2:
        raise ValueError(
            "Shared-frame replay needs one array observation of stacked frames (frames on the "
            f"last axis), got {observation_spec!r}; store whole observations instead "
            "(frame_storage='stacked')."
        )
    *frame_shape, stack_size = observation_spec.shape
    return tuple(frame_shape), stack_size, np.dtype(observation_spec.dtype)


def frame_block_signature(
    environment_spec: specs.EnvironmentSpec,
    transitions_per_item: int,
    n_step: int,
    extras_spec: types.NestedSpec = (),
) -> FrameBlock:
    """The `FrameBlock` items `FrameStackTransitionAdder` writes."""
    frame_shape, stack_size, dtype = _check_stacked(environment_spec.observations)
    k = transitions_per_item
    num_frames = frames_per_block(k, stack_size, n_step)
    leading = lambda s: dm_env.specs.Array((k, *s.shape), np.dtype(s.dtype))  # noqa: E731
    slots = dm_env.specs.Array((k, stack_size), np.int32)
    return FrameBlock(
        frames=dm_env.specs.Array((num_frames, *frame_shape), dtype),
        observation=slots,
        action=tree.map_structure(leading, environment_spec.actions),
        reward=tree.map_structure(leading, environment_spec.rewards),
        discount=tree.map_structure(leading, environment_spec.discounts),
        next_observation=slots,
        extras=tree.map_structure(leading, extras_spec),
    )


def bytes_per_transition(signature: FrameBlock | types.Transition) -> float:
    """Bytes one stored transition takes in a table with this item signature."""
    total = sum(int(np.prod(s.shape)) * np.dtype(s.dtype).itemsize for s in tree.flatten(signature))
    return total / tree.flatten(signature.action)[0].shape[0]


def decode_frame_blocks(block: FrameBlock, num_items: int) -> types.Transition:
    """Sampled `FrameBlock`s, flattened ([items * F, ...] frames, [items * K, S] slots), as
    transitions with stacked observations [items * K, *frame_shape, S]. Runs under `jit`."""
    num = block.observation.shape[0]
    frames_per_item = block.frames.shape[0] // num_items
    offsets = (jnp.arange(num) // (num // num_items)) * frames_per_item

    def stack(slots):
        return jnp.moveaxis(block.frames[slots + offsets[:, None]], 1, -1)

    return types.Transition(
        stack(block.observation),
        block.action,
        block.reward,
        block.discount,
        stack(block.next_observation),
        block.extras,
    )


class FrameStackTransitionAdder(adders.NStepTransitionAdder):
    """`NStepTransitionAdder` for stacked-frame observations, writing `FrameBlock` items.

    Each observation is checked to be the previous one shifted by one frame (channel j of
    o_t equals channel j+1 of o_t-1); the first of an episode may hold any frames (reset
    padding repeats one, a life-loss episode continues the game's). Raises `ValueError` for
    observations that are not such stacks. A block that runs out of frame slots (more than
    one episode change in it) is completed with copies of its last transition.
    """

    def __init__(
        self,
        client: base.ReplayClient,
        table: str,
        environment_spec: specs.EnvironmentSpec,
        n_step: int = 1,
        discount: float = 0.99,
        transitions_per_item: int = 16,
        extras_spec: types.NestedSpec = (),
        priority: float | str = 1.0,
    ):
        super().__init__(
            client,
            table,
            environment_spec,
            n_step=n_step,
            discount=discount,
            transitions_per_item=transitions_per_item,
            extras_spec=extras_spec,
            priority=priority,
        )
        signature = frame_block_signature(
            environment_spec, transitions_per_item, n_step, extras_spec
        )
        self._item = tree.map_structure(lambda s: np.zeros(s.shape, s.dtype), signature)
        self._item_leaves = tree.flatten(self._item)
        self._stack_size = signature.observation.shape[1]
        self._capacity = signature.frames.shape[0]
        self._slots: dict[int, int] = {}  # Frame id -> its slot in the current block.
        self._frames: dict[int, np.ndarray] = {}  # Live frames by id.
        self._next_frame_id = 0
        self._pending_ids: collections.deque = collections.deque()
        self._current_ids: tuple[int, ...] | None = None

    def _new_frame(self, frame: np.ndarray) -> int:
        frame_id = self._next_frame_id
        self._next_frame_id += 1
        self._frames[frame_id] = np.array(frame)  # A copy: the env may reuse its buffer.
        return frame_id

    def _register(self, observation: Any, first: bool) -> tuple[int, ...]:
        observation = np.asarray(observation)
        channels = [observation[..., j] for j in range(self._stack_size)]
        if first:
            ids = [self._new_frame(channels[0])]
            for previous, channel in zip(channels, channels[1:], strict=False):
                same = np.array_equal(previous, channel)
                ids.append(ids[-1] if same else self._new_frame(channel))
            return tuple(ids)
        previous_ids = self._current_ids
        for j in range(self._stack_size - 1):
            if not np.array_equal(channels[j], self._frames[previous_ids[j + 1]]):
                raise ValueError(
                    "Observations are not frame stacks that shift by one frame per step "
                    "(channel j of o_t should equal channel j+1 of o_t-1, frames on the last "
                    "axis); store whole observations instead (frame_storage='stacked')."
                )
        return (*previous_ids[1:], self._new_frame(channels[-1]))

    def _forget_dead_frames(self) -> None:
        live = set(self._current_ids or ())
        for ids in self._pending_ids:
            live.update(ids)
        for frame_id in [f for f in self._frames if f not in live]:
            del self._frames[frame_id]

    def add_first(self, timestep: dm_env.TimeStep) -> None:
        super().add_first(timestep)  # Emits a cut-short episode's pending steps first.
        self._pending_ids.clear()
        self._current_ids = self._register(timestep.observation, first=True)
        self._forget_dead_frames()

    def add(
        self, action: types.NestedArray, next_timestep: dm_env.TimeStep, extras: Any = ()
    ) -> None:
        if self._current_ids is None:
            raise ValueError("add() called before add_first(): start each episode with add_first.")
        self._pending_ids.append(self._current_ids)
        self._current_ids = self._register(next_timestep.observation, first=False)
        super().add(action, next_timestep, extras)
        if next_timestep.last():
            self._current_ids = None
        self._forget_dead_frames()

    def _slot_rows(self, observation_ids, next_ids) -> tuple[np.ndarray, np.ndarray] | None:
        """The slots of both stacks, adding their frames to the block; None if they don't fit."""
        new = [f for f in dict.fromkeys((*observation_ids, *next_ids)) if f not in self._slots]
        if len(self._slots) + len(new) > self._capacity:
            return None
        for frame_id in new:
            slot = len(self._slots)
            self._item.frames[slot] = self._frames[frame_id]
            self._slots[frame_id] = slot
        rows = [
            np.array([self._slots[f] for f in ids], np.int32) for ids in (observation_ids, next_ids)
        ]
        return rows[0], rows[1]

    def _put(self, transition: types.Transition) -> None:
        observation_ids, next_ids = self._pending_ids.popleft(), self._current_ids
        rows = self._slot_rows(observation_ids, next_ids)
        if rows is None:
            self._complete_with_copies()
            rows = self._slot_rows(observation_ids, next_ids)
        index = self._block_fill
        row = transition._replace(observation=rows[0], next_observation=rows[1])
        fields = FrameBlock(
            self._item.frames, row.observation, row.action, row.reward, row.discount,
            row.next_observation, row.extras,
        )  # fmt: skip
        for position, (buffer, value) in enumerate(
            zip(self._item_leaves, tree.flatten(fields), strict=True)
        ):
            if position:  # Leaf 0 is the frames, filled by _slot_rows.
                buffer[index] = value
        self._block_fill += 1
        if self._block_fill == self._block_size:
            self._write_block()

    def _complete_with_copies(self) -> None:
        last = self._block_fill - 1
        for buffer in self._item_leaves[1:]:
            buffer[last + 1 :] = buffer[last]
        self._block_fill = self._block_size
        self._write_block()

    def _write_block(self) -> None:
        self._writer.append(self._item)
        priority = self._insert_priority(self._item)
        item = tree.map_structure(lambda column: column[-1], self._writer.history)
        self._writer.create_item(self._table, priority, item)
        self._block_fill = 0
        self._slots.clear()
        self.items_written += 1

    def reset(self) -> None:
        super().reset()
        self._pending_ids.clear()
        self._current_ids = None
        self._frames.clear()
