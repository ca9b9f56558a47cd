"""On-device replay for the Anakin layout: n-step writing and a replay buffer as pure JAX.

When environment, acting, replay and learning all run inside one jitted `lax.scan`, replay
has to be a value of the scan's carry rather than a table in another thread. This module
gives the semantics of `rlkit.replay` in that form: every function is pure, every state is
a NamedTuple of arrays with static shapes, and each works under `jax.jit` and `jax.vmap`
(e.g. over a leading axis of seeds on the whole state).

- The writer (`init_writer`, `write`) does what `BatchedAdder` over one
  `NStepTransitionAdder` per sub-environment does: n-step transitions of N sub-environments
  stepping in lockstep, with rlkit's batched semantics (the step after a `LAST` is a `FIRST`
  whose action is ignored), packed `transitions_per_item` to an item. Each call returns a
  fixed number of item slots with a validity mask, in the order the host adders would
  insert them.
- The buffer (`init_buffer`, `insert`, `sample_uniform`, `sample_prioritized`,
  `set_priorities`) is a FIFO-evicting table: sampled uniformly with replacement, or in
  proportion to `priority ** exponent` with new items at the largest priority given so far
  (the host's `MAX_PRIORITY`). An item's key is its insertion index; a priority update for
  a key that has since been evicted is ignored, as on the host.

Why not flashbax: its n-step support has no notion of episodes, so it cannot end an
episode's last transitions early with the exact terminal / truncation discounts.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import dm_env
import jax
import jax.numpy as jnp

from rlkit import specs, types
from rlkit.replay import tables

# `rlkit.jax.learning.MIN_PRIORITY` (a layer above replay, so not imported): an item is never
# given priority 0, which would keep it from ever being sampled again.
MIN_PRIORITY = 1e-6
_FIRST = int(dm_env.StepType.FIRST)
_LAST = int(dm_env.StepType.LAST)


class NStepConfig(NamedTuple):
    """The writer's static settings, `NStepTransitionAdder`'s arguments of the same names."""

    n_step: int = 1
    discount: float = 0.99
    transitions_per_item: int = 1


class NStepWriterState(NamedTuple):
    """Each sub-environment's steps still waiting for their n-step return, oldest first
    (leaves [N, n_step, ...]; row i holds `pending[i]` of them), and the transitions waiting
    to fill an item (`staged`, leaves [N, transitions_per_item - 1 + n_step, ...]; row i
    holds `staged_count[i]`; unused when items hold one transition)."""

    observations: types.NestedArray
    actions: types.NestedArray
    extras: types.NestedArray
    rewards: jax.Array
    discounts: jax.Array
    pending: jax.Array
    staged: types.Transition
    staged_count: jax.Array


class WrittenItems(NamedTuple):
    """What one `write` produced: item slots [N * max_items_per_step, transitions_per_item,
    ...] and which of them hold an item (`valid`), sub-environment by sub-environment, each
    one's items oldest first (the order `BatchedAdder` inserts them in)."""

    items: types.Transition
    valid: jax.Array


class ReplayBufferState(NamedTuple):
    """A FIFO ring of `capacity` items (leaves [capacity, ...]). The item with key k (its
    insertion index) lives in slot `k % capacity` until `capacity` more have come in.
    `priorities` are as given (the exponent is applied when sampling); `max_priority` is the
    largest ever given (1.0 before any), where new items enter by default."""

    items: types.NestedArray
    priorities: jax.Array
    inserted: jax.Array
    max_priority: jax.Array


def _dtype(spec: Any) -> Any:
    # A float64 spec (gymnasium's Box default) would warn and become float32 anyway.
    return jax.dtypes.canonicalize_dtype(spec.dtype)


def _zeros(spec_nest: Any, leading: tuple[int, ...]) -> Any:
    return jax.tree_util.tree_map(
        lambda s: jnp.zeros(leading + tuple(s.shape), _dtype(s)), spec_nest
    )


def _staging_size(config: NStepConfig) -> int:
    # A step emits at most n_step transitions onto at most transitions_per_item - 1 waiting.
    if config.transitions_per_item == 1:
        return 1  # Unused, but not empty: checkpoints (orbax) cannot hold zero-size arrays.
    return config.transitions_per_item - 1 + config.n_step


def item_signature(
    config: NStepConfig,
    environment_spec: specs.EnvironmentSpec,
    extras_spec: types.NestedSpec = (),
) -> types.Transition:
    """The writer's item: `transitions_per_item` transitions stacked on axis 0, the host's
    `transition_signature` (for `init_buffer`)."""
    return tables.transition_signature(environment_spec, config.transitions_per_item, extras_spec)


def init_writer(
    config: NStepConfig,
    environment_spec: specs.EnvironmentSpec,
    num_envs: int,
    extras_spec: types.NestedSpec = (),
) -> NStepWriterState:
    """An empty writer for `num_envs` sub-environments (specs describe one of them)."""
    if config.n_step < 1:
        raise ValueError(f"n_step must be a positive integer, got {config.n_step}.")
    if config.transitions_per_item < 1:
        raise ValueError(
            f"transitions_per_item must be positive, got {config.transitions_per_item}."
        )
    window = (num_envs, config.n_step)
    spec = environment_spec
    staged = types.Transition(
        *(_zeros(s, (num_envs, _staging_size(config))) for s in _transition_specs(spec)),
        extras=_zeros(extras_spec, (num_envs, _staging_size(config))),
    )
    return NStepWriterState(
        observations=_zeros(spec.observations, window),
        actions=_zeros(spec.actions, window),
        extras=_zeros(extras_spec, window),
        rewards=_zeros(spec.rewards, window),
        discounts=_zeros(spec.discounts, window),
        pending=jnp.zeros(num_envs, jnp.int32),
        staged=staged,
        staged_count=jnp.zeros(num_envs, jnp.int32),
    )


def _transition_specs(spec: specs.EnvironmentSpec) -> tuple[Any, ...]:
    """A transition's fields but extras, as specs."""
    return (spec.observations, spec.actions, spec.rewards, spec.discounts, spec.observations)


def _rows(mask: jax.Array, value: jax.Array) -> jax.Array:
    """`mask` ([N] or [N, n]) shaped to broadcast against `value` ([N, (n,) ...])."""
    return mask.reshape(mask.shape + (1,) * (value.ndim - mask.ndim))


def _tree_where(mask: jax.Array, if_true: Any, otherwise: Any) -> Any:
    return jax.tree_util.tree_map(lambda t, o: jnp.where(_rows(mask, o), t, o), if_true, otherwise)


_WINDOW_FIELDS = ("observations", "actions", "extras", "rewards", "discounts")


def _append(state: NStepWriterState, put: jax.Array, step: tuple) -> tuple:
    """The windows with `step` ([N, ...] leaves) written at the slots where `put` [N, n]."""
    windows = tuple(getattr(state, field) for field in _WINDOW_FIELDS)
    return jax.tree_util.tree_map(
        lambda w, x: jnp.where(_rows(put, w), jnp.asarray(x, w.dtype)[:, None], w),
        windows,
        step,
    )


def _n_step_sums(
    config: NStepConfig, rewards: jax.Array, discounts: jax.Array, length: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """For each window slot j, the return and discount from step j to the window's end
    (`length` steps), accumulated forwards in the host adder's order."""
    slot = jnp.arange(config.n_step)
    start = _rows(slot[None, :], rewards)  # [1, n, 1...]
    ret = jnp.zeros_like(rewards)
    total = jnp.ones_like(discounts)
    for i in range(config.n_step):
        active = (start <= i) & _rows(i < length, rewards)
        reward_i = rewards[:, i : i + 1]
        discount_i = discounts[:, i : i + 1]
        ret = jnp.where(active, ret + total * reward_i, ret)
        total = jnp.where(active, total * config.discount * discount_i, total)
    return ret, total


def _n_step_transitions(
    config: NStepConfig,
    state: NStepWriterState,
    observation: types.NestedArray,
    action: types.NestedArray,
    next_timestep: dm_env.TimeStep,
    extras: types.NestedArray,
) -> tuple[NStepWriterState, types.Transition, jax.Array]:
    """One step of `NStepTransitionAdder` per sub-environment: the window slots' transitions
    [N, n, ...], which of them are emitted [N, n] (always a prefix), and the new windows."""
    n = config.n_step
    step_type = jnp.asarray(next_timestep.step_type)
    first, last = step_type == _FIRST, step_type == _LAST
    slot = jnp.arange(n)[None, :]
    # A FIRST step (an auto-reset) appends nothing: its action was ignored by the
    # environment and its reward and discount are stand-ins.
    put = (slot == state.pending[:, None]) & ~first[:, None]
    step = (observation, action, extras, next_timestep.reward, next_timestep.discount)
    observations, actions, extras_w, rewards, discounts = _append(state, put, step)
    length = state.pending + (~first).astype(jnp.int32)
    # An episode's end (its LAST, or a FIRST that cut it short) writes every pending step;
    # otherwise a full window writes its oldest.
    emit_all = first | last
    emit_oldest = length == n
    emitted = (slot < length[:, None]) & (emit_all[:, None] | ((slot == 0) & emit_oldest[:, None]))
    ret, total = _n_step_sums(config, rewards, discounts, length)
    # A cut-short episode bootstraps from the last observation seen (the host's add_first).
    final = _tree_where(first, observation, next_timestep.observation)
    transitions = types.Transition(
        observation=observations,
        action=actions,
        reward=ret,
        discount=total,
        next_observation=jax.tree_util.tree_map(
            lambda x, o: jnp.broadcast_to(jnp.asarray(x, o.dtype)[:, None], o.shape),
            final,
            observations,
        ),
        extras=extras_w,
    )
    shift = emit_oldest & ~emit_all
    windows = jax.tree_util.tree_map(
        lambda w: jnp.where(_rows(shift, w), jnp.roll(w, -1, axis=1), w),
        (observations, actions, extras_w, rewards, discounts),
    )
    pending = jnp.where(emit_all, 0, length - shift.astype(jnp.int32))
    state = state._replace(**dict(zip(_WINDOW_FIELDS, windows, strict=True)), pending=pending)
    return state, transitions, emitted


def _gather_rows(values: Any, index: jax.Array) -> Any:
    """Row `index[i, s]` of `values[i]` at [i, s], on every leaf ([N, L, ...] -> [N, S, ...])."""
    return jax.tree_util.tree_map(lambda x: jax.vmap(lambda row, i: row[i])(x, index), values)


def _pack_items(
    config: NStepConfig,
    state: NStepWriterState,
    transitions: types.Transition,
    emitted: jax.Array,
) -> tuple[NStepWriterState, WrittenItems]:
    """Appends each sub-environment's emitted transitions to its staging area and cuts
    the full items off its front, as the host adder's block does across episodes."""
    per_item = config.transitions_per_item
    num_envs = emitted.shape[0]
    if per_item == 1:  # Every transition is an item: nothing waits.
        items = jax.tree_util.tree_map(lambda x: x.reshape((-1, 1) + x.shape[2:]), transitions)
        return state, WrittenItems(items, emitted.reshape(-1))
    size = _staging_size(config)
    position = jnp.arange(size)[None, :]
    count = emitted.sum(axis=1, dtype=jnp.int32)
    source = position - state.staged_count[:, None]
    take = (source >= 0) & (source < count[:, None])
    incoming = _gather_rows(transitions, jnp.clip(source, 0, config.n_step - 1))
    staged = _tree_where(take, incoming, state.staged)
    filled = state.staged_count + count
    complete = filled // per_item
    max_items = size // per_item
    items = jax.tree_util.tree_map(
        lambda x: x[:, : max_items * per_item].reshape(
            (num_envs * max_items, per_item) + x.shape[2:]
        ),
        staged,
    )
    valid = jnp.arange(max_items)[None, :] < complete[:, None]
    # What is left (fewer than an item) moves to the front; rows past it are stale.
    rest = jnp.clip(position + (complete * per_item)[:, None], 0, size - 1)
    state = state._replace(
        staged=_gather_rows(staged, rest), staged_count=filled - complete * per_item
    )
    return state, WrittenItems(items, valid.reshape(-1))


def write(
    config: NStepConfig,
    state: NStepWriterState,
    observation: types.NestedArray,
    action: types.NestedArray,
    next_timestep: dm_env.TimeStep,
    extras: types.NestedArray = (),
) -> tuple[NStepWriterState, WrittenItems]:
    """One step of N sub-environments: `action` [N, ...] taken at `observation` [N, ...] led
    to `next_timestep` (leaves [N, ...], `step_type` included). Returns the new state and the
    items completed by this step.

    As `BatchedAdder`'s adders: a `LAST` step writes its episode's remaining transitions
    (discount 0 when terminated, gamma^m when truncated); a `FIRST` step (an auto-reset, or
    the first reset) appends nothing, and if it cuts an episode short (no `LAST` before it)
    writes that episode's transitions bootstrapping from `observation`.
    """
    state, transitions, emitted = _n_step_transitions(
        config, state, observation, action, next_timestep, extras
    )
    return _pack_items(config, state, transitions, emitted)


def init_buffer(item_spec: types.NestedSpec, capacity: int) -> ReplayBufferState:
    """An empty buffer of `capacity` items shaped as `item_spec` (a nest of anything with
    `shape` and `dtype`: specs, `jax.ShapeDtypeStruct`s, arrays), e.g. `item_signature(...)`."""
    if capacity < 1:
        raise ValueError(f"capacity must be positive, got {capacity}.")
    return ReplayBufferState(
        items=_zeros(item_spec, (capacity,)),
        priorities=jnp.zeros(capacity, jnp.float32),
        inserted=jnp.zeros((), jnp.int32),
        max_priority=jnp.ones((), jnp.float32),
    )


def _capacity(state: ReplayBufferState) -> int:
    return state.priorities.shape[0]


def size(state: ReplayBufferState) -> jax.Array:
    """How many items the buffer holds."""
    return jnp.minimum(state.inserted, _capacity(state))


def can_sample(state: ReplayBufferState, min_size: int | jax.Array = 1) -> jax.Array:
    """Whether the buffer holds `min_size` items (and at least one), the host rate
    limiter's `min_size_to_sample` condition."""
    return size(state) >= jnp.maximum(min_size, 1)


def insert(
    state: ReplayBufferState,
    items: types.NestedArray,
    valid: jax.Array,
    priorities: jax.Array | float | None = None,
) -> ReplayBufferState:
    """Inserts the `valid` rows of `items` (leaves [M, ...]) in row order, each evicting the
    oldest item of a full buffer. `priorities` ([M] or a scalar) as given, or by default the
    largest priority so far (the host's `MAX_PRIORITY`)."""
    capacity = _capacity(state)
    valid = jnp.asarray(valid, bool)
    rank = jnp.cumsum(valid, dtype=jnp.int32) - 1
    count = valid.sum(dtype=jnp.int32)
    # Rows that a later row of the same batch would evict are skipped, so no two rows land
    # in one slot (a scatter of duplicates keeps an arbitrary one).
    kept = valid & (rank >= count - capacity)
    slots = jnp.where(kept, (state.inserted + rank) % capacity, capacity)  # Out of range: dropped.
    stored = jax.tree_util.tree_map(
        lambda column, x: column.at[slots].set(jnp.asarray(x, column.dtype), mode="drop"),
        state.items,
        items,
    )
    max_priority = state.max_priority
    if priorities is None:
        values = jnp.broadcast_to(max_priority, valid.shape)
    else:
        values = jnp.broadcast_to(jnp.asarray(priorities, jnp.float32), valid.shape)
        # As the host: every item inserted counts, even one the same batch evicts again.
        max_priority = jnp.maximum(max_priority, jnp.max(jnp.where(valid, values, 0.0)))
    return ReplayBufferState(
        items=stored,
        priorities=state.priorities.at[slots].set(values, mode="drop"),
        inserted=state.inserted + count,
        max_priority=max_priority,
    )


def _keys_of(state: ReplayBufferState, slots: jax.Array) -> jax.Array:
    """The key of the item in each (filled) slot: the latest insertion index landing there."""
    newest = state.inserted - 1
    return newest - (newest - slots) % _capacity(state)


def _batch(
    state: ReplayBufferState, slots: jax.Array, probabilities: jax.Array, flatten_blocks: bool
) -> types.Batch:
    data = jax.tree_util.tree_map(lambda column: column[slots], state.items)
    if flatten_blocks:
        data = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), data)
    return types.Batch(data=data, keys=_keys_of(state, slots), probabilities=probabilities)


def _uniform_slots(state: ReplayBufferState, key: jax.Array, batch_size: int) -> jax.Array:
    # Keys run from 0, so until the buffer is full its items fill slots 0..size-1.
    return jax.random.randint(key, (batch_size,), 0, jnp.maximum(size(state), 1))


def sample_uniform(
    state: ReplayBufferState, key: jax.Array, batch_size: int, flatten_blocks: bool = True
) -> types.Batch:
    """`batch_size` items drawn uniformly with replacement, as the host's uniform table:
    `Batch(data, keys, probabilities)`, `data` flattened [batch_size * per_item, ...] as the
    host dataset's (`flatten_blocks`), `probabilities` [batch_size] all `1 / size`.
    Meaningless on an empty buffer: check `can_sample` first."""
    slots = _uniform_slots(state, key, batch_size)
    probabilities = jnp.full(batch_size, 1.0, jnp.float32) / jnp.maximum(size(state), 1)
    return _batch(state, slots, probabilities, flatten_blocks)


def sample_prioritized(
    state: ReplayBufferState,
    key: jax.Array,
    batch_size: int,
    priority_exponent: float | jax.Array,
    flatten_blocks: bool = True,
) -> types.Batch:
    """`batch_size` items drawn with replacement with probability proportional to
    `priority ** priority_exponent` (Schaul et al. 2016), as the host's prioritised table;
    `probabilities` are those probabilities, what `importance_weights` expects. All-zero
    priorities sample uniformly, as the host does."""
    capacity = _capacity(state)
    weights = jnp.where(
        jnp.arange(capacity) < size(state), state.priorities**priority_exponent, 0.0
    )
    cumulative = jnp.cumsum(weights)
    total = cumulative[-1]
    draw_key, uniform_key = jax.random.split(key)
    targets = jax.random.uniform(draw_key, (batch_size,)) * total
    slots = jnp.searchsorted(cumulative, targets, side="right")
    # A target rounded up to `total` falls past the end (the host redraws it): it goes to the
    # last item that can be sampled, never to an empty or zero-weight slot.
    last_positive = capacity - 1 - jnp.argmax(weights[::-1] > 0)
    slots = jnp.minimum(slots, last_positive)
    probabilities = weights[slots] / jnp.where(total > 0, total, 1.0)
    uniform = total <= 0
    slots = jnp.where(uniform, _uniform_slots(state, uniform_key, batch_size), slots)
    probabilities = jnp.where(uniform, 1.0 / jnp.maximum(size(state), 1), probabilities)
    return _batch(state, slots, probabilities.astype(jnp.float32), flatten_blocks)


def _last_occurrences(keys: jax.Array) -> jax.Array:
    """Whether each entry is its key's last in `keys` (the one a numpy assignment keeps)."""
    order = jnp.argsort(keys, stable=True)
    ordered = keys[order]
    last = jnp.append(ordered[1:] != ordered[:-1], True)
    return jnp.zeros(keys.shape, bool).at[order].set(last)


def set_priorities(
    state: ReplayBufferState, keys: jax.Array, priorities: jax.Array
) -> ReplayBufferState:
    """Sets the priorities of sampled items, floored at `MIN_PRIORITY` (what `BatchLearner`
    sends the host table). Keys no longer in the buffer are ignored, as on the host; a key
    given twice takes its last priority. A non-finite priority leaves its item's priority
    unchanged (the host raises `InvalidBatchError`; a jitted function cannot)."""
    capacity = _capacity(state)
    keys = jnp.asarray(keys, jnp.int32).reshape(-1)
    values = jnp.maximum(jnp.asarray(priorities, jnp.float32).reshape(-1), MIN_PRIORITY)
    live = (keys >= state.inserted - capacity) & (keys < state.inserted) & jnp.isfinite(values)
    written = live & _last_occurrences(keys)
    slots = jnp.where(written, keys % capacity, capacity)  # Out of range: dropped.
    return state._replace(
        priorities=state.priorities.at[slots].set(values, mode="drop"),
        max_priority=jnp.maximum(state.max_priority, jnp.max(jnp.where(live, values, 0.0))),
    )
