"""Adders: turn the actor's stream of timesteps into replay items (on either backend).

Every adder reads `discount`, never a "done" flag: a terminal step (discount 0) stops
bootstrapping, a time-limit truncation (LAST with discount 1) keeps it.
"""

from __future__ import annotations

import abc
import collections
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import dm_env
import numpy as np
import tree

from rlkit import specs, types
from rlkit.replay import base


class Step(NamedTuple):
    """One step of a sequence / episode item: `reward` and `discount` follow `action`."""

    observation: types.NestedArray
    action: types.NestedArray
    reward: types.NestedArray
    discount: types.NestedArray
    start_of_episode: types.NestedArray
    extras: types.NestedArray = ()


class Adder(abc.ABC):
    """Receives the actor's experience and writes it to replay."""

    @abc.abstractmethod
    def add_first(self, timestep: dm_env.TimeStep) -> None:
        """Starts an episode with its `FIRST` timestep."""

    @abc.abstractmethod
    def add(
        self, action: types.NestedArray, next_timestep: dm_env.TimeStep, extras: Any = ()
    ) -> None:
        """Records `action` (taken at the last observation) and the timestep it led to."""

    def reset(self) -> None:
        """Drops any partial episode state."""

    def flush(self) -> None:
        """Blocks until everything written so far has reached the server."""


def _zeros_like_spec(spec_nest, leading: tuple[int, ...] = ()):
    return tree.map_structure(lambda s: np.zeros(leading + tuple(s.shape), s.dtype), spec_nest)


class NStepTransitionAdder(Adder):
    """Writes n-step transitions `(s_t, a_t, R, discount, s_{t+m})`, several per item.

    With `m = min(n, steps left in the episode)`, `R = sum_k gamma^k (prod_{j<k} d_j) r_k` and
    `discount = gamma^m prod_{j<m} d_j`, where `r_k, d_k` are the reward and environment
    discount after the k-th action. A terminal step has d = 0 (no bootstrap), a truncated one
    d = 1, so the learner's target is always `R + discount * V(s_{t+m})`.

    Transitions are independent of one another, so `transitions_per_item` of them are packed
    into one replay item (a block, stacked on axis 0) regardless of episode boundaries: one
    insert and one sample then move a block instead of a single transition, which is what
    makes Reverb fast enough for DQN's replay ratio. `transitions_per_item=1` gives classic
    one-transition items (exact per-transition priorities).

    Each item is inserted at `priority`, or at the table's largest priority so far with
    `priority=replay.MAX_PRIORITY` (prioritised replay), or at `priority_fn(block)`.
    """

    def __init__(
        self,
        client: base.ReplayClient,
        table: str,
        environment_spec: specs.EnvironmentSpec,
        n_step: int = 1,
        discount: float = 0.99,
        transitions_per_item: int = 1,
        extras_spec: types.NestedSpec = (),
        priority_fn: Callable[[types.Transition], float] | None = None,
        priority: float | str = 1.0,
    ):
        if n_step < 1:
            raise ValueError(f"n_step must be a positive integer, got {n_step}.")
        if transitions_per_item < 1:
            raise ValueError(f"transitions_per_item must be positive, got {transitions_per_item}.")
        self._client = client
        self._table = table
        self._n_step = n_step
        self._discount = float(discount)
        self._block_size = transitions_per_item
        self._priority_fn = priority_fn
        self._priority = priority
        self._writer = client.trajectory_writer(num_keep_alive_refs=1)
        spec = environment_spec
        self._block = types.Transition(
            observation=_zeros_like_spec(spec.observations, (transitions_per_item,)),
            action=_zeros_like_spec(spec.actions, (transitions_per_item,)),
            reward=_zeros_like_spec(spec.rewards, (transitions_per_item,)),
            discount=_zeros_like_spec(spec.discounts, (transitions_per_item,)),
            next_observation=_zeros_like_spec(spec.observations, (transitions_per_item,)),
            extras=_zeros_like_spec(extras_spec, (transitions_per_item,)),
        )
        self._block_leaves = tree.flatten(self._block)
        self._block_fill = 0
        self._observation = None
        # Steps still waiting for their n-step return: (observation, action, extras).
        self._pending: collections.deque = collections.deque()
        self._rewards: collections.deque = collections.deque()
        self._discounts: collections.deque = collections.deque()
        self.items_written = 0

    def add_first(self, timestep: dm_env.TimeStep) -> None:
        if not timestep.first():
            raise ValueError(f"add_first needs a FIRST timestep, got {timestep.step_type}.")
        # An episode cut short (e.g. the loop's step budget ran out) is a truncation: its
        # pending steps bootstrap from the last observation seen.
        self._emit_all_pending()
        self._observation = timestep.observation

    def add(
        self, action: types.NestedArray, next_timestep: dm_env.TimeStep, extras: Any = ()
    ) -> None:
        if self._observation is None:
            raise ValueError("add() called before add_first(): start each episode with add_first.")
        self._pending.append((self._observation, action, extras))
        self._rewards.append(next_timestep.reward)
        self._discounts.append(next_timestep.discount)
        self._observation = next_timestep.observation
        if len(self._pending) == self._n_step:
            self._emit_oldest()
        if next_timestep.last():
            self._emit_all_pending()
            self._observation = None

    def _emit_all_pending(self) -> None:
        while self._pending:
            self._emit_oldest()

    def _emit_oldest(self) -> None:
        """Writes the transition of the oldest pending step and forgets that step."""
        n_step_return = 0.0
        total_discount = 1.0
        for reward, discount in zip(self._rewards, self._discounts, strict=True):
            n_step_return = n_step_return + total_discount * reward
            total_discount = total_discount * self._discount * discount
        observation, action, extras = self._pending.popleft()
        self._rewards.popleft()
        self._discounts.popleft()
        self._put(
            types.Transition(
                observation, action, n_step_return, total_discount, self._observation, extras
            )
        )

    def _put(self, transition: types.Transition) -> None:
        index = self._block_fill
        for buffer, value in zip(self._block_leaves, tree.flatten(transition), strict=True):
            buffer[index] = value
        self._block_fill += 1
        if self._block_fill == self._block_size:
            self._write_block()

    def _write_block(self) -> None:
        self._writer.append(self._block)
        priority = self._insert_priority(self._block)
        item = tree.map_structure(lambda column: column[-1], self._writer.history)
        self._writer.create_item(self._table, priority, item)
        self._block_fill = 0
        self.items_written += 1

    def _insert_priority(self, block: Any) -> float:
        if self._priority_fn is not None:
            return float(self._priority_fn(block))
        if self._priority == base.MAX_PRIORITY:
            return self._client.max_priority(self._table)
        return float(self._priority)

    def reset(self) -> None:
        self._pending.clear()
        self._rewards.clear()
        self._discounts.clear()
        self._observation = None

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.end_episode()
        self._writer.close()


def _step_caster(environment_spec: specs.EnvironmentSpec, extras_spec: types.NestedSpec):
    """Casts a `Step`'s fields to the spec's dtypes."""
    return specs.make_caster(
        Step(
            environment_spec.observations,
            environment_spec.actions,
            environment_spec.rewards,
            environment_spec.discounts,
            dm_env.specs.Array((), bool),
            extras_spec,
        )
    )


def _table_names(table: str | Sequence[str]) -> tuple[str, ...]:
    """One table name, or several that each get every item (e.g. ACER's rollout queue and
    its replay of the same sequences)."""
    names = (table,) if isinstance(table, str) else tuple(table)
    if not names:
        raise ValueError("An adder needs at least one table to write to.")
    return names


class _StepWriter(Adder):
    """Shared logic of the sequence and episode adders: one `Step` appended per env step,
    each item written to every one of `table`'s tables (one name, or several)."""

    def __init__(
        self,
        client: base.ReplayClient,
        table: str | Sequence[str],
        environment_spec: specs.EnvironmentSpec,
        keep_alive: int,
        extras_spec: types.NestedSpec = (),
        priority: float = 1.0,
    ):
        self._client = client
        self._tables = _table_names(table)
        self._priority = priority
        self._writer = client.trajectory_writer(num_keep_alive_refs=keep_alive)
        self._zero_step = Step(
            observation=_zeros_like_spec(environment_spec.observations),
            action=_zeros_like_spec(environment_spec.actions),
            reward=_zeros_like_spec(environment_spec.rewards),
            discount=_zeros_like_spec(environment_spec.discounts),
            start_of_episode=np.asarray(False),
            extras=_zeros_like_spec(extras_spec),
        )
        self._cast = _step_caster(environment_spec, extras_spec)
        self._observation = None
        self._final_extras = self._zero_step.extras
        self._start_of_episode = False
        self._continuous = False  # Episodes flow into one stream (SequenceAdder's option).
        self.episode_steps = 0
        self.stream_steps = 0  # Steps appended since the adder started (all episodes).
        self.items_written = 0

    def add_first(self, timestep: dm_env.TimeStep) -> None:
        if not timestep.first():
            raise ValueError(f"add_first needs a FIRST timestep, got {timestep.step_type}.")
        if self._continuous:
            self._append_final_step()
        elif self.episode_steps:
            self._writer.end_episode(clear_buffers=True)
        self._observation = timestep.observation
        self._start_of_episode = True
        self.episode_steps = 0

    def add(
        self, action: types.NestedArray, next_timestep: dm_env.TimeStep, extras: Any = ()
    ) -> None:
        if self._observation is None:
            raise ValueError("add() called before add_first(): start each episode with add_first.")
        self._append(
            Step(
                self._observation,
                action,
                next_timestep.reward,
                next_timestep.discount,
                np.asarray(self._start_of_episode),
                extras,
            )
        )
        self._start_of_episode = False
        self._observation = next_timestep.observation
        self._final_extras = extras
        self._after_step()
        if next_timestep.last() and not self._continuous:
            # The final observation gets a step of its own with zero action/reward/discount.
            self._append(
                self._zero_step._replace(observation=next_timestep.observation, extras=extras)
            )
            self._end_episode()
            self._writer.end_episode(clear_buffers=False)
            self._observation = None
            self.episode_steps = 0

    def _append_final_step(self) -> None:
        """Continuous streams: the last episode's final observation gets its step (zero
        action, reward and discount) when the next episode starts, taking the place of the
        step that reset the environment. An episode cut short (no LAST) ends the same way,
        so its last step bootstraps from the last observation seen."""
        if self._observation is None or not self.episode_steps:
            return
        self._append(
            self._zero_step._replace(observation=self._observation, extras=self._final_extras)
        )
        self._after_step()

    def _append(self, step: Step) -> None:
        self._writer.append(Step(*self._cast(step)))
        self.episode_steps += 1
        self.stream_steps += 1

    def _create_item(self, length: int) -> None:
        trajectory = tree.map_structure(lambda column: column[-length:], self._writer.history)
        for table in self._tables:
            self._writer.create_item(table, self._priority, trajectory)
        self.items_written += 1  # Sequences, whatever the number of tables they went to.

    def _after_step(self) -> None:
        """Called after each step taken (not after the final observation's step)."""

    @abc.abstractmethod
    def _end_episode(self) -> None:
        """Called after the final step has been appended."""

    def reset(self) -> None:
        self._writer.end_episode(clear_buffers=True)
        self._observation = None
        self.episode_steps = 0
        self.stream_steps = 0  # A continuous stream starts over: no item spans the reset.

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class SequenceAdder(_StepWriter):
    """Writes fixed-length sequences of `Step`s every `period` steps (overlapping when
    `period < sequence_length`).

    Items end at steps `L, L + p, L + 2p, ...` of an episode. At the end of an episode the
    final observation is appended as a step with zero action, reward and discount; then, with
    `pad_end_of_episode`, zero steps are appended up to the next item boundary and that last
    item is written, so no experience is dropped. Without padding, the last item is the one
    that ends at the final step (it may overlap its predecessor more than usual); episodes
    shorter than `sequence_length` then produce no item.

    With `break_end_of_episode=False` (on-policy rollouts, as Acme's `CONTINUE`), episodes
    flow into one stream and items end at steps `L, L + p, ...` of the stream, across episode
    boundaries: the final observation's step (zero action, reward and discount) is appended
    when the next episode starts, so a batched environment's sub-environment, whose auto-reset
    takes one step, appends exactly one step per vector step. In an item, step k is the final
    observation's step exactly when step k + 1 has `start_of_episode`; the learner masks it.

    `table` may name several tables: each gets every item (ACER learns from its rollouts
    through a queue and replays the same sequences from a uniform table); `items_written`
    counts sequences.
    """

    def __init__(
        self,
        client: base.ReplayClient,
        table: str | Sequence[str],
        environment_spec: specs.EnvironmentSpec,
        sequence_length: int,
        period: int,
        pad_end_of_episode: bool = True,
        extras_spec: types.NestedSpec = (),
        priority: float = 1.0,
        break_end_of_episode: bool = True,
    ):
        if sequence_length < 1 or period < 1:
            raise ValueError(
                f"sequence_length and period must be positive, got {sequence_length}, {period}."
            )
        super().__init__(client, table, environment_spec, sequence_length, extras_spec, priority)
        self._length = sequence_length
        self._period = period
        self._pad = pad_end_of_episode
        self._continuous = not break_end_of_episode

    def _after_step(self) -> None:
        steps = self.stream_steps if self._continuous else self.episode_steps
        if steps >= self._length and (steps - self._length) % self._period == 0:
            self._create_item(self._length)

    def _end_episode(self) -> None:
        steps = self.episode_steps
        if self._pad:
            to_boundary = (
                self._length - steps
                if steps < self._length
                else (-(steps - self._length)) % self._period
            )
            for _ in range(to_boundary):
                self._writer.append(self._zero_step)
            self._create_item(self._length)
        elif steps >= self._length:
            self._create_item(self._length)


class EpisodeAdder(_StepWriter):
    """Writes each whole episode as one item, zero-padded to `max_sequence_length` steps.

    The item has the episode's steps (final observation included as a zero-action step)
    followed by padding: zero steps with `start_of_episode` True, each an empty episode. So
    the rule of continuous rollouts holds here too: step k is one taken in the environment
    exactly when step k + 1 exists and does not start an episode.
    """

    def __init__(
        self,
        client: base.ReplayClient,
        table: str | Sequence[str],
        environment_spec: specs.EnvironmentSpec,
        max_sequence_length: int,
        extras_spec: types.NestedSpec = (),
        priority: float = 1.0,
    ):
        super().__init__(
            client, table, environment_spec, max_sequence_length, extras_spec, priority
        )
        self._max_length = max_sequence_length

    def _after_step(self) -> None:
        if self.episode_steps >= self._max_length:
            raise ValueError(
                f"An episode exceeded max_sequence_length={self._max_length} steps; raise it "
                "or limit episodes with StepLimitWrapper."
            )

    def _end_episode(self) -> None:
        steps = self.episode_steps
        if steps > self._max_length:
            raise ValueError(
                f"An episode of {steps} steps exceeded max_sequence_length={self._max_length}; "
                "raise it or limit episodes with StepLimitWrapper."
            )
        padding = self._zero_step._replace(start_of_episode=np.asarray(True))
        for _ in range(self._max_length - steps):
            self._writer.append(padding)
        self._create_item(self._max_length)


_index = base.index_nest


def _sub_timestep(timestep: dm_env.TimeStep, index: int) -> dm_env.TimeStep:
    """Sub-environment `index`'s timestep of a batched one (a FIRST one as dm_env has it:
    no reward, no discount)."""
    step_type = dm_env.StepType(int(timestep.step_type[index]))
    observation = _index(timestep.observation, index)
    if step_type == dm_env.StepType.FIRST:
        return dm_env.TimeStep(step_type, None, None, observation)
    return dm_env.TimeStep(step_type, timestep.reward[index], timestep.discount[index], observation)


class BatchedAdder(Adder):
    """One adder per sub-environment of a batched environment, fed from the batched stream.

    Each adder has its own trajectory writer, so an item never mixes sub-environments:
    `add_first(timestep)` starts every sub-environment's episode, and `add(actions,
    next_timestep, extras)` gives sub-environment i its action, timestep and extras (leading
    axis N on each), or, where its step is `FIRST` (an auto-reset), starts its next episode.
    """

    def __init__(self, adders: list[Adder]):
        if not adders:
            raise ValueError("BatchedAdder needs one adder per sub-environment, got none.")
        self.adders = list(adders)

    def add_first(self, timestep: dm_env.TimeStep) -> None:
        for index, adder in enumerate(self.adders):
            adder.add_first(_sub_timestep(timestep, index))

    def add(
        self, action: types.NestedArray, next_timestep: dm_env.TimeStep, extras: Any = ()
    ) -> None:
        actions = tree.map_structure(np.asarray, action)
        extras = tree.map_structure(np.asarray, extras)
        for index, adder in enumerate(self.adders):
            timestep = _sub_timestep(next_timestep, index)
            if timestep.first():
                adder.add_first(timestep)
            else:
                adder.add(_index(actions, index), timestep, _index(extras, index))

    @property
    def items_written(self) -> int:
        """Items the sub-environments' adders have written, together."""
        return sum(adder.items_written for adder in self.adders)

    def reset(self) -> None:
        for adder in self.adders:
            adder.reset()

    def flush(self) -> None:
        for adder in self.adders:
            adder.flush()

    def close(self) -> None:
        for adder in self.adders:
            adder.close()


class BatchedSequenceAdder(Adder):
    """Continuous sequences (`SequenceAdder(..., break_end_of_episode=False)`) for the N
    sub-environments of a batched environment, with the per-step work done on the batch.

    It writes exactly the items N such adders would (one trajectory writer per
    sub-environment, so no item mixes them), but casts, masks and selects each step's
    fields once for all N sub-environments, leaving only the writers' appends per
    sub-environment: on-policy agents append every step of every sub-environment. As there,
    `table` may name several tables, each of which gets every item.
    """

    def __init__(
        self,
        client: base.ReplayClient,
        table: str | Sequence[str],
        environment_spec: specs.EnvironmentSpec,
        num_envs: int,
        sequence_length: int,
        period: int,
        extras_spec: types.NestedSpec = (),
        priority: float = 1.0,
    ):
        if sequence_length < 1 or period < 1 or num_envs < 1:
            raise ValueError(
                "num_envs, sequence_length and period must be positive, got "
                f"{num_envs}, {sequence_length}, {period}."
            )
        self._tables = _table_names(table)
        self._priority = priority
        self._length = sequence_length
        self._period = period
        self._writer = client.batched_sequence_writer(num_envs, sequence_length)
        self._all_streams = np.arange(num_envs)
        self._cast = _step_caster(environment_spec, extras_spec)
        self._zero_actions = _zeros_like_spec(environment_spec.actions, (num_envs,))
        self._zeros = np.zeros(num_envs, np.float32)
        self._observation: Any = None  # The observations the next actions are taken at [N].
        self._last_extras = _zeros_like_spec(extras_spec, (num_envs,))
        self._episode_steps = np.zeros(num_envs, np.int64)  # 0: the next step starts one.
        self.stream_steps = np.zeros(num_envs, np.int64)
        self.items_written = 0

    def add_first(self, timestep: dm_env.TimeStep) -> None:
        if not np.all(np.asarray(timestep.step_type) == dm_env.StepType.FIRST):
            raise ValueError("add_first needs a batch of FIRST steps (a reset).")
        if self._observation is not None:
            # Episodes cut short: each gets its final observation's step, as a restart would.
            final = Step(self._observation, self._zero_actions, self._zeros, self._zeros,
                         self._zeros.astype(bool), self._last_extras)  # fmt: skip
            self._append(final, self._episode_steps > 0)
        self._observation = timestep.observation
        self._episode_steps[:] = 0

    def add(
        self, action: types.NestedArray, next_timestep: dm_env.TimeStep, extras: Any = ()
    ) -> None:
        if self._observation is None:
            raise ValueError("add() called before add_first(): start with add_first.")
        restarting = np.asarray(next_timestep.step_type) == dm_env.StepType.FIRST
        step_action, step_extras = action, extras
        reward, discount = next_timestep.reward, next_timestep.discount
        if restarting.any():
            # A restarting sub-environment appends its final observation's step (zero action,
            # reward and discount; the last step's extras), as `SequenceAdder` does on restart.
            step_action = _where_nest(restarting, self._zero_actions, action)
            step_extras = _where_nest(restarting, self._last_extras, extras)
            reward, discount = np.where(restarting, 0, reward), np.where(restarting, 0, discount)
        step = Step(
            self._observation,
            step_action,
            reward,
            discount,
            (self._episode_steps == 0) & ~restarting,
            step_extras,
        )
        self._append(step, ~restarting | (self._episode_steps > 0))
        self._observation = next_timestep.observation
        self._last_extras = extras
        self._episode_steps = np.where(restarting, 0, self._episode_steps + 1)

    def _append(self, step: Step, appending: np.ndarray) -> None:
        """Appends row i of the batched `step` to stream i where `appending`; writes the
        items that then end."""
        streams = self._all_streams if appending.all() else np.flatnonzero(appending)
        self._writer.append(Step(*self._cast(step)), streams)
        self.stream_steps += appending
        steps = self.stream_steps
        due = appending & (steps >= self._length) & ((steps - self._length) % self._period == 0)
        if due.any():
            due = np.flatnonzero(due)
            for table in self._tables:
                self._writer.create_items(table, self._priority, due, self._length)
            self.items_written += len(due)

    def reset(self) -> None:
        self._writer.end_episodes()
        self._observation = None
        self.stream_steps[:] = 0
        self._episode_steps[:] = 0

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def _where_nest(mask: np.ndarray, if_true: Any, otherwise: Any) -> Any:
    """Row i of `if_true` where `mask[i]`, else of `otherwise`, on every leaf of two nests of
    the same structure ([N, ...] leaves); without dm-tree's general machinery, as this runs
    on every step of a batched environment."""
    if isinstance(otherwise, dict):
        return {key: _where_nest(mask, if_true[key], value) for key, value in otherwise.items()}
    if isinstance(otherwise, tuple) and hasattr(otherwise, "_fields"):
        return type(otherwise)(
            *(_where_nest(mask, t, o) for t, o in zip(if_true, otherwise, strict=True))
        )
    if isinstance(otherwise, tuple | list):
        return type(otherwise)(
            _where_nest(mask, t, o) for t, o in zip(if_true, otherwise, strict=True)
        )
    otherwise = np.asarray(otherwise)
    return np.where(_batch_mask(mask, otherwise), if_true, otherwise)


def _batch_mask(mask: np.ndarray, value: np.ndarray) -> np.ndarray:
    """`mask` [N] shaped to broadcast against `value` [N, ...]."""
    return mask.reshape(mask.shape + (1,) * (np.ndim(value) - 1))
