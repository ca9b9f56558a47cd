"""The DQN family's losses, one per variant, each `loss_fn(networks, params, target_params,
batch, key) -> (loss, LossExtra)` for `learning.make_update`.

`batch.transitions` are n-step transitions whose `discount` is the whole bootstrap factor
(gamma^n times the environment's discounts); `batch.weights` are importance weights (ones for
uniform replay). Each loss returns per-transition priorities for prioritised replay: |TD| for
scalar losses, the distributional loss itself for C51 and the quantile losses (as in Rainbow).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import rlax

from rlkit.agents.dqn.learning import LearnerBatch, LossExtra, LossFn
from rlkit.agents.dqn.networks import ValueNetworks, ValueOutput


def target_at_next(
    networks: ValueNetworks, target_params, batch: LearnerBatch, key, **options
) -> ValueOutput:
    """The target network at the batch's next observations: the learner's, when it
    evaluated them for the whole learner step (`batch.target_next`), else computed here."""
    if batch.target_next is not None:
        return batch.target_next
    return networks.apply(target_params, batch.transitions.next_observation, key, **options)


def q_learning_loss(huber_delta: float = 1.0, double_q: bool = True) -> LossFn:
    """DQN (Mnih et al. 2015): Huber loss of TD errors; double Q-learning (van Hasselt et al.
    2016) evaluates the online network's greedy next action with the target network."""

    def loss_fn(networks: ValueNetworks, params, target_params, batch: LearnerBatch, key):
        online_key, target_key, selector_key = jax.random.split(key, 3)
        t = batch.transitions
        q_tm1 = networks.q_values(params, t.observation, online_key)
        q_t_value = target_at_next(networks, target_params, batch, target_key).q_values
        if double_q:
            q_t_selector = networks.q_values(params, t.next_observation, selector_key)
            td_errors = jax.vmap(rlax.double_q_learning)(
                q_tm1, t.action, t.reward, t.discount, q_t_value, q_t_selector
            )
        else:
            td_errors = jax.vmap(rlax.q_learning)(q_tm1, t.action, t.reward, t.discount, q_t_value)
        loss = jnp.mean(batch.weights * rlax.huber_loss(td_errors, huber_delta))
        metrics = {"mean_abs_td_error": jnp.mean(jnp.abs(td_errors))}
        return loss, LossExtra(metrics, priorities=jnp.abs(td_errors))

    return loss_fn


def categorical_loss(double_q: bool = True) -> LossFn:
    """C51 (Bellemare et al. 2017): cross-entropy between the predicted return distribution
    and the target's, projected onto the same atoms; double Q picks the next action with the
    online network, as in Rainbow."""

    def loss_fn(networks: ValueNetworks, params, target_params, batch: LearnerBatch, key):
        online_key, target_key, selector_key = jax.random.split(key, 3)
        t = batch.transitions
        online = networks.apply(params, t.observation, online_key)
        target = target_at_next(networks, target_params, batch, target_key)
        if double_q:
            q_t_selector = networks.q_values(params, t.next_observation, selector_key)
        else:
            q_t_selector = target.q_values
        losses = jax.vmap(
            rlax.categorical_double_q_learning, in_axes=(None, 0, 0, 0, 0, None, 0, 0)
        )(
            online.atoms,
            online.logits,
            t.action,
            t.reward,
            t.discount,
            target.atoms,
            target.logits,
            q_t_selector,
        )
        return jnp.mean(batch.weights * losses), LossExtra({}, priorities=losses)

    return loss_fn


def quantile_loss(
    huber_delta: float = 1.0,
    double_q: bool = False,
    num_quantiles: int | None = None,
    num_target_quantiles: int | None = None,
    num_selector_quantiles: int | None = None,
) -> LossFn:
    """Quantile regression (QR-DQN, Dabney et al. 2018a; IQN, 2018b): the quantile Huber loss
    between the predicted quantiles of the taken action and the target's quantiles of the
    next action (the target network's greedy one, or the online network's with double Q).

    The `num_*` counts are passed to IQN's head (sampled fractions per state); QR-DQN's head
    has fixed fractions and takes none.
    """

    def options(count):
        return {} if count is None else {"num_quantiles": count}

    def loss_fn(networks: ValueNetworks, params, target_params, batch: LearnerBatch, key):
        online_key, target_key, selector_key = jax.random.split(key, 3)
        t = batch.transitions
        online = networks.apply(params, t.observation, online_key, **options(num_quantiles))
        target = target_at_next(
            networks, target_params, batch, target_key, **options(num_target_quantiles)
        )
        if double_q:
            selector = networks.apply(
                params, t.next_observation, selector_key, **options(num_selector_quantiles)
            ).quantiles
        else:
            selector = target.quantiles
        losses = jax.vmap(rlax.quantile_q_learning, in_axes=(0, 0, 0, 0, 0, 0, 0, None))(
            online.quantiles,
            online.taus,
            t.action,
            t.reward,
            t.discount,
            selector,
            target.quantiles,
            huber_delta,
        )
        return jnp.mean(batch.weights * losses), LossExtra({}, priorities=losses)

    return loss_fn


def munchausen_loss(
    entropy_temperature: float = 0.03,
    munchausen_coefficient: float = 0.9,
    clip_value_min: float = -1.0,
    huber_delta: float = 1.0,
) -> LossFn:
    """Munchausen DQN (Vieillard et al. 2020), written from the paper (rlax has none).

    With the target network's softmax policy `pi = softmax(q_target / tau)`:
    `y = r + alpha * clip(tau * log pi(a|s), l0, 0)
           + discount * sum_a' pi(a'|s') (q_target(s', a') - tau * log pi(a'|s'))`,
    the Huber loss of `y - Q(s, a)`. With n-step transitions the bonus scores the first action.
    """

    def loss_fn(networks: ValueNetworks, params, target_params, batch: LearnerBatch, key):
        online_key, target_key, next_key = jax.random.split(key, 3)
        t = batch.transitions
        q_tm1 = networks.q_values(params, t.observation, online_key)
        target_q_tm1 = networks.q_values(target_params, t.observation, target_key)
        target_q_t = target_at_next(networks, target_params, batch, next_key).q_values
        # tau * log pi(a|s) = q - tau * logsumexp(q / tau), stable for small tau.
        tau_log_pi_tm1 = target_q_tm1 - entropy_temperature * jax.nn.logsumexp(
            target_q_tm1 / entropy_temperature, axis=-1, keepdims=True
        )
        tau_log_pi_t = target_q_t - entropy_temperature * jax.nn.logsumexp(
            target_q_t / entropy_temperature, axis=-1, keepdims=True
        )
        pi_t = jax.nn.softmax(target_q_t / entropy_temperature, axis=-1)
        taken = jnp.take_along_axis(tau_log_pi_tm1, t.action[:, None], axis=-1)[:, 0]
        bonus = munchausen_coefficient * jnp.clip(taken, clip_value_min, 0.0)
        soft_value_t = jnp.sum(pi_t * (target_q_t - tau_log_pi_t), axis=-1)
        target = jax.lax.stop_gradient(t.reward + bonus + t.discount * soft_value_t)
        td_errors = target - jnp.take_along_axis(q_tm1, t.action[:, None], axis=-1)[:, 0]
        loss = jnp.mean(batch.weights * rlax.huber_loss(td_errors, huber_delta))
        metrics = {
            "mean_abs_td_error": jnp.mean(jnp.abs(td_errors)),
            "munchausen_bonus": jnp.mean(bonus),
        }
        return loss, LossExtra(metrics, priorities=jnp.abs(td_errors))

    return loss_fn
