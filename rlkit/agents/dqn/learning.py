"""DQN learner: double Q-learning with a Huber loss and a periodically synced target."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
import rlax

from rlkit import core, loggers, types
from rlkit.jax import networks as networks_lib
from rlkit.utils import counting


class TrainingState(NamedTuple):
    params: types.Params
    target_params: types.Params
    opt_state: optax.OptState
    key: types.PRNGKey
    steps: jax.Array  # Gradient updates so far.


def dqn_loss(
    network: networks_lib.FeedForwardNetwork,
    params: types.Params,
    target_params: types.Params,
    batch: types.Transition,
    huber_delta: float,
) -> tuple[jax.Array, jax.Array]:
    """Mean Huber loss of double-Q TD errors; also returns the TD errors (for priorities).

    `batch.discount` is the full bootstrap factor (gamma^n times the environment's
    discounts), as the n-step adder writes it.
    """
    q_tm1 = network.apply(params, batch.observation)
    q_t_selector = network.apply(params, batch.next_observation)
    q_t_value = network.apply(target_params, batch.next_observation)
    td_errors = jax.vmap(rlax.double_q_learning)(
        q_tm1, batch.action, batch.reward, batch.discount, q_t_value, q_t_selector
    )
    return jnp.mean(rlax.huber_loss(td_errors, huber_delta)), td_errors


def make_update(
    network: networks_lib.FeedForwardNetwork,
    optimizer: optax.GradientTransformation,
    batch_size: int,
    huber_delta: float,
    target_update_period: int,
):
    """`update(state, transitions) -> (state, metrics)`: several SGD steps in one call.

    The transitions (a whole number of batches, drawn as replay blocks) are shuffled, split
    into batches, and consumed by a `lax.scan`, so one jitted call does all the updates that
    one learner step owes and nothing is transferred back per update.
    """

    def sgd_step(state: TrainingState, batch: types.Transition):
        grad_fn = jax.value_and_grad(dqn_loss, argnums=1, has_aux=True)
        (loss, td_errors), grads = grad_fn(
            network, state.params, state.target_params, batch, huber_delta
        )
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        steps = state.steps + 1
        target_params = optax.periodic_update(
            params, state.target_params, steps, target_update_period
        )
        metrics = {"loss": loss, "mean_abs_td_error": jnp.mean(jnp.abs(td_errors))}
        return TrainingState(params, target_params, opt_state, state.key, steps), metrics

    def update(state: TrainingState, transitions: types.Transition):
        key, shuffle_key = jax.random.split(state.key)
        num = jax.tree_util.tree_leaves(transitions)[0].shape[0]
        order = jax.random.permutation(shuffle_key, num)
        batches = jax.tree_util.tree_map(
            lambda x: x[order].reshape((num // batch_size, batch_size) + x.shape[1:]),
            transitions,
        )
        state, metrics = jax.lax.scan(sgd_step, state._replace(key=key), batches)
        return state, jax.tree_util.tree_map(jnp.mean, metrics)

    return update


class DQNLearner(core.Learner):
    """Pulls replay batches, runs the jitted update, serves the online params."""

    def __init__(
        self,
        network: networks_lib.FeedForwardNetwork,
        optimizer: optax.GradientTransformation,
        random_key: types.PRNGKey,
        iterator: Iterator[types.Batch],
        batch_size: int,
        huber_delta: float = 1.0,
        target_update_period: int = 100,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        log_every: float = 1.0,
    ):
        self._iterator = iterator
        self._counter = counter or counting.Counter()
        self._logger = logger or loggers.make_default_logger("learner", time_delta=log_every)
        self._update = jax.jit(
            make_update(network, optimizer, batch_size, huber_delta, target_update_period)
        )
        init_key, state_key = jax.random.split(random_key)
        params = network.init(init_key)
        self._state = TrainingState(
            params=params,
            target_params=params,
            opt_state=optimizer.init(params),
            key=state_key,
            steps=jnp.zeros((), jnp.int32),
        )
        self._log_every = log_every
        self._last_log = time.monotonic()

    def step(self) -> None:
        batch = next(self._iterator)
        self._state, metrics = self._update(self._state, batch.data)
        counts = self._counter.increment(steps=1)
        # Metrics stay on device; they are only pulled to the host when a row is logged.
        now = time.monotonic()
        if now - self._last_log >= self._log_every:
            self._last_log = now
            self._logger.write({**counts, **jax.device_get(metrics)})

    def get_variables(self, names: Sequence[str]) -> list[types.Params]:
        variables = {"policy": self._state.params, "params": self._state.params}
        return [variables[name] for name in names]

    @property
    def state(self) -> TrainingState:
        return self._state

    def save(self) -> TrainingState:
        return self._state

    def restore(self, state: TrainingState) -> None:
        self._state = state
