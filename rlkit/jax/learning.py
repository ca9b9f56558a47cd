"""What every family's JAX learner shares: the learner base and the scanned SGD steps.

`BatchLearner` is the learner of every family: it pulls one batch from its dataset (a
learner step's worth of replay items, or of rollouts), runs the agent's jitted `update` on
it, and owns what is not the agent's: the state's device, priorities written back,
counting, metrics fetched from the device only when a row is logged, and save/restore.
Off-policy agents build their update with `scanned_update`: it turns a sample into
`num_sgd_steps_per_step` SGD steps, shuffling the sample's transitions, splitting them into
batches and running the agent's `sgd_step` over them under one `lax.scan`
(`scan_sgd_steps`), and hands back the items' new priorities in sampling order. An agent
supplies only its `sgd_step` (or update) and its initial state.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rlkit import core, loggers, replay, types
from rlkit.utils import counting

# Items are never given priority 0 (they would never be sampled again).
MIN_PRIORITY = 1e-6


class SGDBatch(NamedTuple):
    """One SGD step's share of a learner step: transitions [B, ...], their sampling
    probabilities [B], and whatever `prepare` computed for them beforehand (None)."""

    transitions: types.Transition
    probabilities: jax.Array
    prepared: Any = None


# `sgd_step(state, batch) -> (state, metrics, priorities [B] or None)`.
SGDStep = Callable[[Any, SGDBatch], tuple[Any, dict[str, jax.Array], jax.Array | None]]


def importance_weights(probabilities: jax.Array, exponent: jax.Array) -> jax.Array:
    """Prioritised replay's correction (Schaul et al. 2016): `(N * P(i))^-beta`, normalised by
    the batch's largest weight (which also cancels N)."""
    weights = (1.0 / probabilities) ** exponent
    return weights / jnp.max(weights)


def scan_sgd_steps(
    sgd_step: SGDStep,
    state: Any,
    transitions: types.Transition,
    probabilities: jax.Array,
    batch_size: int,
    shuffle_key: types.PRNGKey,
    unroll: bool = False,
    prepare: Callable[[types.Transition], Any] | None = None,
) -> tuple[Any, dict[str, jax.Array], jax.Array | None]:
    """Runs `sgd_step` over a learner step's transitions; returns `(state, metrics, priorities)`.

    `transitions` are the sample's items flattened ([num_items * per_item, ...]) and
    `probabilities` [num_items] their sampling probabilities. The transitions are shuffled
    with `shuffle_key` and split into batches of `batch_size`, each used by exactly one SGD
    step, so consecutive transitions of one item land in different batches. `prepare`, if
    given, sees all batches at once ([num_batches, batch_size, ...]) before the first step
    (e.g. one target-network pass for a whole learner step) and its result is split over
    the steps as `SGDBatch.prepared`. Metrics are averaged over the steps that report them
    (a step reports NaN for a metric it did not compute, e.g. TD3's delayed policy loss).
    Per-transition priorities come back one per item, in sampling order: an item is as
    important as its most surprising transition. `unroll` unrolls the scan (convolutions on
    XLA:CPU run far slower inside a loop; MLPs run as fast either way and compile faster
    scanned).
    """
    num = jax.tree_util.tree_leaves(transitions)[0].shape[0]
    per_item = num // probabilities.shape[0]
    probabilities = jnp.repeat(probabilities, per_item, total_repeat_length=num)
    order = jax.random.permutation(shuffle_key, num)
    num_batches = num // batch_size
    transitions, probabilities = jax.tree_util.tree_map(
        lambda x: x[order].reshape((num_batches, batch_size) + x.shape[1:]),
        (transitions, probabilities),
    )
    prepared = None if prepare is None else prepare(transitions)

    def step(state, batch):
        state, metrics, priorities = sgd_step(state, SGDBatch(*batch))
        return state, (metrics, priorities)

    state, (metrics, priorities) = jax.lax.scan(
        step, state, (transitions, probabilities, prepared), unroll=unroll
    )
    if priorities is not None:
        unshuffled = jnp.zeros(num, priorities.dtype).at[order].set(priorities.reshape(-1))
        priorities = jnp.max(unshuffled.reshape(-1, per_item), axis=1)
    return state, jax.tree_util.tree_map(jnp.nanmean, metrics), priorities


# `update(state, data, probabilities [num_items]) -> (state, metrics, item priorities or None)`.
Update = Callable[[Any, Any, jax.Array], tuple[Any, dict[str, jax.Array], jax.Array | None]]


def scanned_update(
    sgd_step: SGDStep,
    batch_size: int,
    unroll: bool = False,
    decode: Callable[[Any, int], types.Transition] | None = None,
    prepare: Callable[[Any, types.Transition], Any] | None = None,
) -> Update:
    """A learner step of SGD steps: `sgd_step` over the sample's shuffled batches of
    `batch_size` in one `lax.scan` (`scan_sgd_steps`), with a fresh shuffle key from the
    state's (`state.key`). `decode(data, num_items)`, if given, turns the sampled items into
    transitions first (e.g. `replay.frames.decode_frame_blocks`); `prepare(state, batches)`
    sees all batches at once before the first step (None from it: nothing prepared)."""

    def update(state: Any, data: Any, probabilities: jax.Array):
        transitions = data if decode is None else decode(data, probabilities.shape[0])
        key, shuffle_key = jax.random.split(state.key)
        before = None if prepare is None else functools.partial(prepare, state)
        return scan_sgd_steps(
            sgd_step,
            state._replace(key=key),
            transitions,
            probabilities,
            batch_size,
            shuffle_key,
            unroll=unroll,
            prepare=before,
        )

    return update


class LearnerParts(NamedTuple):
    """A learner's pure pieces, which every layout runs unchanged: `BatchLearner` around a
    dataset in one process or on Ray, and the Anakin layout inside its jitted scan.

    Attributes:
      initial_state: `key -> training state` (a pytree).
      update: one learner step (see `Update`).
      variables: `state -> {name: params}`; "policy" is what actors act with.
      sgd_steps_per_step: the SGD steps one learner step takes (None: not counted).
    """

    initial_state: Callable[[types.PRNGKey], Any]
    update: Update
    variables: Callable[[Any], dict[str, types.Params]]
    sgd_steps_per_step: int | None = None


class BatchLearner(core.Learner):
    """The learner base of every family: pulls a batch, runs the jitted update, writes
    priorities, counts, logs and serves the parameters.

    Args:
      update: one learner step (see `Update`), e.g. built on `scan_sgd_steps`; jitted here.
      initial_state: the training state (a pytree), moved to `device`.
      variables: `state -> {name: params}`: what `get_variables` serves; "policy" is what
        actors act with and what is exported.
      iterator: replay samples (`types.Batch`), one learner step's worth each.
      replay_client, priority_table: where new priorities are written (the table sampled
        from); None: no priorities are written.
      counter, logger, log_every: counts `steps` (learner steps: jitted calls of `update`)
        and, given `sgd_steps_per_step`, `sgd_steps` (the SGD steps they took); metrics are
        logged at most every `log_every` seconds. Without a counter the learner counts in its
        own, named as in an experiment's logs: `learner_steps` and `learner_sgd_steps`.
      sgd_steps_per_step: the SGD steps one learner step takes (e.g. the config's
        `num_sgd_steps_per_step`), so that logs tell them from learner steps; None: not
        counted.
      device: the `jax.Device` the training state lives on, so the update runs there (None:
        JAX's default device, a GPU when there is one).
    """

    def __init__(
        self,
        update: Update,
        initial_state: Any,
        variables: Callable[[Any], dict[str, types.Params]],
        iterator: Iterator[types.Batch],
        replay_client: replay.ReplayClient | None = None,
        priority_table: str | None = None,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        log_every: float = 1.0,
        device: jax.Device | None = None,
        sgd_steps_per_step: int | None = None,
    ):
        self._iterator = iterator
        # A learner step is one call of `update`, often of several SGD steps: rows say which
        # (`learner_steps`, `learner_sgd_steps`), never a bare `steps` read as env steps.
        self._counter = counter or counting.Counter(counting.Counter(), "learner")
        self._increments = {"steps": 1}
        if sgd_steps_per_step is not None:
            self._increments["sgd_steps"] = sgd_steps_per_step
        self._logger = logger or loggers.make_default_logger("learner", time_delta=log_every)
        self._update = jax.jit(update)
        self._variables = variables
        # A committed state decides where the jitted update runs; batches follow it there.
        self._device = device if device is not None else jax.devices()[0]
        self._state = jax.device_put(initial_state, self._device)
        self._replay_client = replay_client if priority_table else None
        self._priority_table = priority_table
        self._log_every = log_every
        self._last_log = time.monotonic()
        self._unlogged: dict[str, Any] | None = None  # The latest step's row, if not written.
        self._served: tuple[Any, dict[str, types.Params]] | None = None  # (state, variables)

    @classmethod
    def from_parts(
        cls,
        parts: LearnerParts,
        random_key: types.PRNGKey,
        iterator: Iterator[types.Batch],
        **kwargs: Any,
    ) -> BatchLearner:
        """A `cls` learner of `parts`, its state from `random_key`; `kwargs` as
        `BatchLearner.__init__`'s (replay_client, priority_table, counter, ...). Set up as a
        `BatchLearner` whatever arguments the subclass's own constructor takes (a family's
        learner class builds its parts from a config there)."""
        learner = cls.__new__(cls)
        BatchLearner.__init__(
            learner,
            parts.update,
            parts.initial_state(random_key),
            parts.variables,
            iterator,
            sgd_steps_per_step=parts.sgd_steps_per_step,
            **kwargs,
        )
        return learner

    def step(self) -> None:
        metrics = self._learn(next(self._iterator))
        counts = self._counter.increment(**self._increments)
        # Metrics stay on device; they are only pulled to the host when a row is logged.
        self._unlogged = {**counts, **metrics}
        now = time.monotonic()
        if now - self._last_log >= self._log_every:
            self._last_log = now
            self._write_metrics()

    def _learn(self, sample: types.Batch) -> dict[str, Any]:
        """Runs the update on `sample` and writes its priorities; returns the metrics (on
        device). A learner that takes more updates per step (ACER's replayed batches)
        extends this, and sets `_increments["sgd_steps"]` to what the step took."""
        self._state, metrics, priorities = self._update(
            self._state, sample.data, np.asarray(sample.probabilities, np.float32)
        )
        if self._replay_client is not None and priorities is not None:
            values = np.maximum(np.asarray(priorities, np.float64), MIN_PRIORITY)
            self._replay_client.update_priorities(self._priority_table, sample.keys, values)
        return metrics

    def _write_metrics(self) -> None:
        self._logger.write(jax.device_get(self._unlogged))
        self._unlogged = None

    def close(self) -> None:
        """Logs the last step's metrics if `log_every` held them back: logs end where
        training did."""
        if self._unlogged is not None:
            self._write_metrics()

    def get_variables(self, names: Sequence[str]) -> list[types.Params]:
        # The very same objects while the state is unchanged (VariableSource's contract): a
        # `variables` that builds a container (e.g. on-policy's PolicyParams) would otherwise
        # make every pull look new and every actor move the parameters again, per step.
        if self._served is None or self._served[0] is not self._state:
            self._served = (self._state, self._variables(self._state))
        variables = self._served[1]
        return [variables[name] for name in names]

    @property
    def state(self) -> Any:
        return self._state

    def save(self) -> Any:
        return self._state

    def restore(self, state: Any) -> None:
        self._state = jax.device_put(state, self._device)
