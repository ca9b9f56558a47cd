"""The actor-critic SGD steps (TD3 and DDPG, SAC, D4PG) and their learner.

Each agent's `sgd_step(state, batch) -> (state, metrics, priorities)` updates the critic,
then the policy against the updated critic (and SAC's temperature), then moves the target
networks by Polyak averaging, all in one function that `rlkit.jax.learning.scan_sgd_steps`
runs `num_sgd_steps_per_step` times per jitted learner call. The losses are pure functions
of arrays, tested against hand-computed values. `batch.transitions` are n-step transitions
whose `discount` is the whole bootstrap factor (gamma^n times the environment's discounts).
`make_learner_parts` gives the learner as pure pieces (initial state, update, variables), the
very ones `ActorCriticLearner` runs and the Anakin layout runs inside its jitted scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
import rlax

from rlkit import loggers, replay, types
from rlkit.agents import off_policy
from rlkit.agents.actor_critic.config import ActorCriticConfig, SACConfig
from rlkit.agents.actor_critic.networks import ActorCriticNetworks
from rlkit.jax import distributions, optimizers
from rlkit.jax import learning as jax_learning
from rlkit.utils import counting


class ActorCriticState(NamedTuple):
    policy_params: types.Params
    critic_params: types.Params
    target_policy_params: types.Params
    target_critic_params: types.Params
    policy_opt_state: optax.OptState
    critic_opt_state: optax.OptState
    log_temperature: jax.Array  # SAC's log(alpha); unused (0) by the others.
    temperature_opt_state: optax.OptState
    key: types.PRNGKey
    steps: jax.Array  # Critic updates so far.


class Optimizers(NamedTuple):
    policy: optax.GradientTransformation
    critic: optax.GradientTransformation
    temperature: optax.GradientTransformation


def make_optimizers(
    config: ActorCriticConfig, temperature_learning_rate: float | None
) -> Optimizers:
    """Adam for each network (after global-norm clipping when `max_gradient_norm` > 0), and
    for SAC's temperature (None: an agent without one, whose optimiser is never used)."""
    return Optimizers(
        optimizers.make_optimizer(
            config.policy_learning_rate, max_gradient_norm=config.max_gradient_norm
        ),
        optimizers.make_optimizer(
            config.critic_learning_rate, max_gradient_norm=config.max_gradient_norm
        ),
        optimizers.make_optimizer(temperature_learning_rate or config.policy_learning_rate),
    )


def initial_state(
    networks: ActorCriticNetworks,
    optimizers: Optimizers,
    key: types.PRNGKey,
    initial_temperature: float = 1.0,
) -> ActorCriticState:
    """Fresh parameters; the targets start as copies of the online networks. Built in one
    compiled call (eagerly, every small op of the initialisers compiles on its own)."""

    @jax.jit
    def make(key: types.PRNGKey) -> ActorCriticState:
        init_key, state_key = jax.random.split(key)
        params = networks.init(init_key)
        log_temperature = jnp.log(jnp.asarray(initial_temperature, jnp.float32))
        return ActorCriticState(
            policy_params=params["policy"],
            critic_params=params["critic"],
            target_policy_params=params["policy"],
            target_critic_params=params["critic"],
            policy_opt_state=optimizers.policy.init(params["policy"]),
            critic_opt_state=optimizers.critic.init(params["critic"]),
            log_temperature=log_temperature,
            temperature_opt_state=optimizers.temperature.init(log_temperature),
            key=state_key,
            steps=jnp.zeros((), jnp.int32),
        )

    return make(key)


# Losses and targets: pure functions of arrays.


def td_target(
    reward: jax.Array, discount: jax.Array, next_q: jax.Array, entropy_term: Any = 0.0
) -> jax.Array:
    """`r + discount * (min_k next_q[k] - entropy_term)`: the twin (or single, K = 1)
    critics' smaller target value [B], less SAC's `alpha * log pi(a'|s')`; no gradient."""
    return jax.lax.stop_gradient(reward + discount * (jnp.min(next_q, axis=0) - entropy_term))


def smoothed_action(
    action: jax.Array, key: types.PRNGKey, noise_std: float, noise_clip: float
) -> jax.Array:
    """TD3's target policy smoothing: `clip(action + clip(std * N(0, 1), +-c), -1, 1)`."""
    if noise_std == 0.0:
        return action
    noise = jnp.clip(noise_std * jax.random.normal(key, action.shape), -noise_clip, noise_clip)
    return jnp.clip(action + noise, -1.0, 1.0)


def critic_regression_loss(
    q: jax.Array, target: jax.Array, weights: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """`0.5 * sum_k (q[k] - target)^2` per transition [B] (the critics [K, B] regressed on
    one target, as SB3's SAC), and its importance-weighted mean."""
    per_transition = 0.5 * jnp.sum((q - target) ** 2, axis=0)
    return jnp.mean(weights * per_transition), per_transition


def sac_policy_loss(temperature: jax.Array, log_prob: jax.Array, q: jax.Array) -> jax.Array:
    """`mean(alpha * log pi(a|s) - min_k Q_k(s, a))` with `a ~ pi(.|s)` reparameterised."""
    return jnp.mean(temperature * log_prob - jnp.min(q, axis=0))


def temperature_loss(
    log_temperature: jax.Array, log_prob: jax.Array, target_entropy: float
) -> jax.Array:
    """`-log(alpha) * mean(log pi + target_entropy)`: raises alpha while the policy's
    entropy (-log pi) is below the target and lowers it above (SB3's form, on log alpha)."""
    return -log_temperature * jnp.mean(jax.lax.stop_gradient(log_prob) + target_entropy)


def categorical_critic_loss(
    logits: jax.Array,
    reward: jax.Array,
    discount: jax.Array,
    target_logits: jax.Array,
    atoms: jax.Array,
) -> jax.Array:
    """D4PG's critic loss per transition [B]: the cross-entropy between the target return
    distribution (`r + discount * z` under the target critic, projected back onto `atoms`)
    and the critic's (`rlax.categorical_td_learning`)."""
    return jax.vmap(rlax.categorical_td_learning, in_axes=(None, 0, 0, 0, None, 0))(
        atoms, logits, reward, discount, atoms, target_logits
    )


# The SGD steps.


def _apply(optimizer, grads, opt_state, params):
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def _priorities(config: ActorCriticConfig, priorities: jax.Array) -> jax.Array | None:
    """Per-transition priorities for a prioritised table; None (nothing computed or written
    back) for a uniform one."""
    return priorities if config.prioritized else None


def _weights(config: ActorCriticConfig, batch: jax_learning.SGDBatch, steps: jax.Array):
    exponent = off_policy.importance_weight_exponent(config)
    if exponent is None:
        return jnp.ones_like(batch.probabilities)
    return jax_learning.importance_weights(batch.probabilities, exponent(steps))


def _critic_update(networks, optimizer, state, transitions, target, weights):
    """One regression step of the critics toward `target`."""

    def loss_fn(critic_params):
        q = networks.critic_apply(critic_params, transitions.observation, transitions.action)
        return critic_regression_loss(q, target, weights)

    (loss, per_transition), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.critic_params)
    params, opt_state = _apply(optimizer, grads, state.critic_opt_state, state.critic_params)
    return params, opt_state, loss, per_transition


def td3_sgd_step(
    networks: ActorCriticNetworks,
    optimizers: Optimizers,
    config: ActorCriticConfig,
    policy_delay: int,
    target_noise: float,
    target_noise_clip: float,
):
    """TD3: the critics' regression on the smaller target critic's value at the target
    policy's smoothed action (clipped Gaussian noise), and every `policy_delay` critic
    updates the deterministic policy gradient and the Polyak targets. DDPG is TD3 with one
    critic, no smoothing and no delay."""
    delay, tau = policy_delay, config.target_update_rate

    def sgd_step(state: ActorCriticState, batch: jax_learning.SGDBatch):
        t = batch.transitions
        key, noise_key = jax.random.split(state.key)
        next_action = networks.policy_apply(state.target_policy_params, t.next_observation)
        next_action = smoothed_action(next_action, noise_key, target_noise, target_noise_clip)
        next_q = networks.critic_apply(state.target_critic_params, t.next_observation, next_action)
        target = td_target(t.reward, t.discount, next_q)
        critic_params, critic_opt_state, critic_loss, per_transition = _critic_update(
            networks, optimizers.critic, state, t, target, _weights(config, batch, state.steps)
        )

        def policy_loss_fn(policy_params):  # Deterministic policy gradient on critic 1.
            action = networks.policy_apply(policy_params, t.observation)
            return -jnp.mean(networks.q_values(critic_params, t.observation, action))

        def update_policy_and_targets(_):
            policy_loss, grads = jax.value_and_grad(policy_loss_fn)(state.policy_params)
            policy_params, policy_opt_state = _apply(
                optimizers.policy, grads, state.policy_opt_state, state.policy_params
            )
            return (
                policy_params,
                policy_opt_state,
                optax.incremental_update(policy_params, state.target_policy_params, tau),
                optax.incremental_update(critic_params, state.target_critic_params, tau),
                policy_loss,
            )

        def keep_policy_and_targets(_):
            return (
                state.policy_params,
                state.policy_opt_state,
                state.target_policy_params,
                state.target_critic_params,
                jnp.full((), jnp.nan),  # No policy loss this step (averaged over the others).
            )

        steps = state.steps + 1
        policy_params, policy_opt_state, target_policy, target_critic, policy_loss = jax.lax.cond(
            steps % delay == 0, update_policy_and_targets, keep_policy_and_targets, None
        )
        state = state._replace(
            policy_params=policy_params,
            critic_params=critic_params,
            target_policy_params=target_policy,
            target_critic_params=target_critic,
            policy_opt_state=policy_opt_state,
            critic_opt_state=critic_opt_state,
            key=key,
            steps=steps,
        )
        metrics = {"critic_loss": critic_loss, "policy_loss": policy_loss}
        # Priority: the critics' root-mean-square TD error.
        return (
            state,
            metrics,
            _priorities(config, jnp.sqrt(2.0 * per_transition / networks.num_critics)),
        )

    return sgd_step


def sac_sgd_step(
    networks: ActorCriticNetworks,
    optimizers: Optimizers,
    config: SACConfig,
    target_entropy: float,
):
    """SAC: soft TD targets from the twin target critics, the reparameterised policy loss
    against the updated critics, then the temperature toward `target_entropy`."""
    tau = config.target_update_rate

    def sgd_step(state: ActorCriticState, batch: jax_learning.SGDBatch):
        t = batch.transitions
        key, next_key, policy_key = jax.random.split(state.key, 3)
        temperature = jnp.exp(state.log_temperature)
        next_action, next_log_prob = distributions.tanh_gaussian_sample(
            networks.policy_apply(state.policy_params, t.next_observation), next_key
        )
        next_q = networks.critic_apply(state.target_critic_params, t.next_observation, next_action)
        target = td_target(t.reward, t.discount, next_q, temperature * next_log_prob)
        critic_params, critic_opt_state, critic_loss, per_transition = _critic_update(
            networks, optimizers.critic, state, t, target, _weights(config, batch, state.steps)
        )

        def policy_loss_fn(policy_params):
            action, log_prob = distributions.tanh_gaussian_sample(
                networks.policy_apply(policy_params, t.observation), policy_key
            )
            q = networks.critic_apply(critic_params, t.observation, action)
            return sac_policy_loss(temperature, log_prob, q), log_prob

        (policy_loss, log_prob), grads = jax.value_and_grad(policy_loss_fn, has_aux=True)(
            state.policy_params
        )
        policy_params, policy_opt_state = _apply(
            optimizers.policy, grads, state.policy_opt_state, state.policy_params
        )
        log_temperature, temperature_opt_state = state.log_temperature, state.temperature_opt_state
        if config.learn_temperature:
            grad = jax.grad(temperature_loss)(log_temperature, log_prob, target_entropy)
            log_temperature, temperature_opt_state = _apply(
                optimizers.temperature, grad, temperature_opt_state, log_temperature
            )
        state = ActorCriticState(
            policy_params=policy_params,
            critic_params=critic_params,
            target_policy_params=policy_params,  # SAC has no target policy.
            target_critic_params=optax.incremental_update(
                critic_params, state.target_critic_params, tau
            ),
            policy_opt_state=policy_opt_state,
            critic_opt_state=critic_opt_state,
            log_temperature=log_temperature,
            temperature_opt_state=temperature_opt_state,
            key=key,
            steps=state.steps + 1,
        )
        metrics = {
            "critic_loss": critic_loss,
            "policy_loss": policy_loss,
            "temperature": temperature,
            "entropy": -jnp.mean(log_prob),
        }
        # Priority: the critics' root-mean-square TD error.
        return (
            state,
            metrics,
            _priorities(config, jnp.sqrt(2.0 * per_transition / networks.num_critics)),
        )

    return sgd_step


def d4pg_sgd_step(networks: ActorCriticNetworks, optimizers: Optimizers, config: ActorCriticConfig):
    """D4PG: the categorical critic's projected cross-entropy (the transition's priority),
    then the deterministic policy gradient of its expected value."""
    tau, atoms = config.target_update_rate, networks.atoms

    def sgd_step(state: ActorCriticState, batch: jax_learning.SGDBatch):
        t = batch.transitions
        weights = _weights(config, batch, state.steps)
        next_action = networks.policy_apply(state.target_policy_params, t.next_observation)
        target_logits = networks.critic_apply(
            state.target_critic_params, t.next_observation, next_action
        )

        def critic_loss_fn(critic_params):
            logits = networks.critic_apply(critic_params, t.observation, t.action)
            per_transition = categorical_critic_loss(
                logits, t.reward, t.discount, target_logits, atoms
            )
            return jnp.mean(weights * per_transition), per_transition

        (critic_loss, per_transition), grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(
            state.critic_params
        )
        critic_params, critic_opt_state = _apply(
            optimizers.critic, grads, state.critic_opt_state, state.critic_params
        )

        def policy_loss_fn(policy_params):
            action = networks.policy_apply(policy_params, t.observation)
            return -jnp.mean(networks.q_values(critic_params, t.observation, action))

        policy_loss, grads = jax.value_and_grad(policy_loss_fn)(state.policy_params)
        policy_params, policy_opt_state = _apply(
            optimizers.policy, grads, state.policy_opt_state, state.policy_params
        )
        state = state._replace(
            policy_params=policy_params,
            critic_params=critic_params,
            target_policy_params=optax.incremental_update(
                policy_params, state.target_policy_params, tau
            ),
            target_critic_params=optax.incremental_update(
                critic_params, state.target_critic_params, tau
            ),
            policy_opt_state=policy_opt_state,
            critic_opt_state=critic_opt_state,
            steps=state.steps + 1,
        )
        metrics = {"critic_loss": critic_loss, "policy_loss": policy_loss}
        return state, metrics, _priorities(config, per_transition)

    return sgd_step


def make_update(sgd_step: jax_learning.SGDStep, batch_size: int) -> jax_learning.Update:
    """A learner step: `sgd_step` over the sample's shuffled batches in one `lax.scan`."""
    return jax_learning.scanned_update(sgd_step, batch_size)


def make_learner_parts(
    config: ActorCriticConfig,
    networks: ActorCriticNetworks,
    sgd_step: jax_learning.SGDStep,
    optimizers: Optimizers,
    initial_temperature: float = 1.0,
) -> jax_learning.LearnerParts:
    """An actor-critic learner as pure pieces, which every layout runs: `sgd_step` (the
    agent's, on `optimizers`) over each sample in batches of `config.batch_size`
    (`make_update`), the initial `ActorCriticState` with SAC's temperature at
    `initial_temperature`, and "policy" (the policy's parameters) and "params" (`{"policy":
    ..., "critic": ...}`) served."""
    return jax_learning.LearnerParts(
        initial_state=lambda key: initial_state(networks, optimizers, key, initial_temperature),
        update=make_update(sgd_step, config.batch_size),
        variables=_variables,
        sgd_steps_per_step=config.num_sgd_steps_per_step,
    )


def _variables(state: ActorCriticState) -> dict[str, types.Params]:
    return {
        "policy": state.policy_params,
        "params": {"policy": state.policy_params, "critic": state.critic_params},
    }


class ActorCriticLearner(jax_learning.BatchLearner):
    """The actor-critic agents' learner: `make_learner_parts` on a `BatchLearner`.

    `sgd_step` is the agent's (e.g. `sac_sgd_step(networks, optimizers, config, ...)`) on
    `optimizers`; the state starts with SAC's temperature at `initial_temperature`. Serves
    "policy" (the policy's parameters: what actors act with and what is exported) and
    "params" (`{"policy": ..., "critic": ...}`).
    """

    def __init__(
        self,
        config: ActorCriticConfig,
        networks: ActorCriticNetworks,
        random_key: types.PRNGKey,
        iterator: Iterator[types.Batch],
        sgd_step: jax_learning.SGDStep,
        optimizers: Optimizers,
        initial_temperature: float,
        replay_client: replay.ReplayClient | None = None,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        device: jax.Device | None = None,
    ):
        parts = make_learner_parts(config, networks, sgd_step, optimizers, initial_temperature)
        super().__init__(
            parts.update,
            parts.initial_state(random_key),
            parts.variables,
            iterator,
            replay_client=replay_client,
            priority_table=priority_table(config),
            counter=counter,
            logger=logger,
            device=device,
            sgd_steps_per_step=parts.sgd_steps_per_step,
        )


def priority_table(config: ActorCriticConfig) -> str | None:
    """The table the learner writes priorities to: the agent's, when prioritised."""
    return config.replay_table_name if config.prioritized else None
