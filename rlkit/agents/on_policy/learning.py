"""The on-policy learner step: GAE over each rollout, then epochs of minibatch SGD on the
agent's loss (PPO's clipped objective, A2C's policy gradient), all in one jitted call.

A learner step gets one rollout per sub-environment from the replay queue: `Step`s
[num_envs, rollout_length + 1] (the last step only bootstraps). Rollouts run across
episodes; a final observation has a step of its own (zero action, reward and discount), and
step t is one exactly when step t + 1 starts an episode. Such steps are masked out of every
loss and stop the advantage recursion, while the step before one bootstraps from the final
observation's value (discount 1 after a truncation, 0 after a termination).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import optax
import rlax

from rlkit import loggers, types
from rlkit.agents.on_policy import networks as networks_lib
from rlkit.agents.on_policy.config import IMPALAConfig, OnPolicyConfig, PPOConfig, TRPOConfig
from rlkit.agents.on_policy.networks import PolicyValueNetworks
from rlkit.jax import distributions, optimizers, running_statistics
from rlkit.jax import learning as jax_learning
from rlkit.utils import counting


class OnPolicyState(NamedTuple):
    params: types.Params
    opt_state: optax.OptState
    key: types.PRNGKey
    steps: jax.Array  # Learner steps (rollouts learned from) so far.
    # With `normalize_observations` (else None): the statistics actors normalise with.
    observation_statistics: running_statistics.RunningStatistics | None = None
    # With `normalize_rewards` (else None): the discounted returns' statistics, and each
    # sub-environment's discounted return so far in its current episode [num_envs].
    return_statistics: running_statistics.RunningStatistics | None = None
    discounted_returns: jax.Array | None = None


class Minibatch(NamedTuple):
    """Flattened rollout steps [B, ...] and what the loss needs of them."""

    observation: types.NestedArray
    action: jax.Array  # Category indices [B], or a Gaussian's unclipped samples [B, A].
    log_prob: jax.Array  # Under the policy that acted.
    advantage: jax.Array
    value_target: jax.Array
    value: jax.Array  # Before this learner step's updates (for value clipping).
    mask: jax.Array  # 1 for a step taken, 0 for a final observation's step.


# `loss(networks, config, params, minibatch, remaining) -> (loss, metrics)`: an agent's loss
# on a minibatch of rollout steps; `remaining` is the fraction of the run left (1 without
# annealing), for schedules of the loss's own (PPO's clip range).
LossFn = Callable[
    [PolicyValueNetworks, Any, types.Params, Minibatch, jax.Array],
    tuple[jax.Array, dict[str, jax.Array]],
]
# `policy_step(networks, config, params, batch) -> (params, metrics)`: a step on the whole
# batch before the epochs of the loss (TRPO's trust-region step).
PolicyStep = Callable[
    [PolicyValueNetworks, Any, types.Params, Minibatch], tuple[types.Params, dict[str, jax.Array]]
]


def make_optimizer(config: OnPolicyConfig, kind: str) -> optax.GradientTransformation:
    """`kind` as SB3 sets it up (Adam with eps 1e-5; RMSprop with decay 0.99 and eps 1e-5
    outside the square root, as torch's), after global-norm clipping when asked."""
    return optimizers.make_optimizer(config.learning_rate, kind, 1e-5, config.max_gradient_norm)


def initial_state(
    networks: PolicyValueNetworks,
    optimizer: optax.GradientTransformation,
    key: types.PRNGKey,
    config: OnPolicyConfig,
) -> OnPolicyState:

    # One compiled call: run eagerly, every small op of the initialisers compiles on its own
    # (seconds of start-up before the first environment step).
    @jax.jit
    def make(key: types.PRNGKey) -> OnPolicyState:
        init_key, state_key = jax.random.split(key)
        params = networks.init(init_key)
        state = OnPolicyState(params, optimizer.init(params), state_key, jnp.zeros((), jnp.int32))
        if config.normalize_rewards:
            state = state._replace(
                return_statistics=running_statistics.init_state(jnp.zeros(())),
                discounted_returns=jnp.zeros((config.num_envs,), jnp.float32),
            )
        return state._replace(observation_statistics=networks.initial_observation_statistics)

    return make(key)


def discounted_returns(
    rewards: jax.Array, mask: jax.Array, discount: float, carried: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Each sub-environment's discounted return after every step of its rollout,
    `G_t = discount * G_{t-1} + r_t`, from `carried` [N] (the return before the rollout)
    and rewards and `mask` [N, T]; a masked step (a final observation's) ends the episode:
    G = 0. Returns `(G [N, T], G after the rollout [N])`, what VecNormalize tracks."""

    def step(returns, inputs):
        reward, taken = inputs
        returns = (discount * returns + reward) * taken
        return returns, returns

    final, returns = jax.lax.scan(step, carried, (rewards.T, mask.T))
    return returns.T, final


def normalize_rollouts(
    networks: PolicyValueNetworks, config: OnPolicyConfig, state: OnPolicyState, data: Any
) -> tuple[Any, OnPolicyState]:
    """The rollouts `data` as the loss sees them (observations normalised by the actor's
    statistics, rewards scaled by the updated return statistics), and `state` with this
    batch folded into both statistics."""
    observations = data.observation
    if state.observation_statistics is not None:
        normalized = networks.normalize_observation(state.observation_statistics, observations)
        # Every step once: a rollout's last step is the first of the next one.
        taken = jax.tree_util.tree_map(lambda x: x[:, :-1], observations)
        statistics = running_statistics.update(state.observation_statistics, taken)
        data = data._replace(observation=normalized)
        state = state._replace(observation_statistics=statistics)
    if state.return_statistics is not None:
        mask = 1.0 - data.start_of_episode[:, 1:].astype(jnp.float32)
        returns, carried = discounted_returns(
            data.reward[:, :-1], mask, config.discount, state.discounted_returns
        )
        statistics = running_statistics.update(state.return_statistics, returns, mask)
        rewards = running_statistics.scale(statistics, data.reward, config.reward_clip)
        data = data._replace(reward=rewards)
        state = state._replace(return_statistics=statistics, discounted_returns=carried)
    return data, state


def _trace_lambdas(mask: jax.Array, trace_lambda: float) -> jax.Array:
    """Per-step lambdas [T] that stop a trace before a final observation's step (where
    `mask` [T] is 0): step t's trace continues only into a step that is taken."""
    return trace_lambda * jnp.concatenate([mask[1:], jnp.ones_like(mask[:1])])


def rollout_advantages(
    values: jax.Array,
    rewards: jax.Array,
    discounts: jax.Array,
    mask: jax.Array,
    gae_lambda: float,
) -> tuple[jax.Array, jax.Array]:
    """GAE advantages and value targets [T] of one rollout (`rlax`), from values [T + 1],
    rewards and `discounts` (gamma times the environment's) [T], and `mask` [T] (0 at a
    final observation's step): a masked step gets advantage 0 and stops the recursion."""
    advantages = rlax.truncated_generalized_advantage_estimation(
        rewards, discounts, _trace_lambdas(mask, gae_lambda), values, stop_target_gradients=True
    )
    return advantages * mask, advantages + values[:-1]


def _masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def _normalized(advantage: jax.Array, mask: jax.Array) -> jax.Array:
    mean = _masked_mean(advantage, mask)
    std = jnp.sqrt(_masked_mean((advantage - mean) ** 2, mask))
    return (advantage - mean) / (std + 1e-8)


def _value_loss(
    networks: PolicyValueNetworks,
    params: types.Params,
    batch: Minibatch,
    value_clip_epsilon: float = 0.0,
    value_clip_form: str = "sb3",
) -> jax.Array:
    """The value regression on the steps taken, optionally clipped around the values before
    the update (PPO's `value_clip_epsilon`; 0: not clipped): "sb3" regresses the clipped
    prediction (SB3's `clip_range_vf`, no gradient once outside the range); "ppo2" takes
    the larger of the clipped and unclipped errors (OpenAI Baselines' PPO2, CleanRL,
    PureJaxRL), which still pulls a value that moved too far back towards its target."""
    value = networks.value_apply(params, batch.observation)
    if value_clip_epsilon <= 0:
        return _masked_mean((batch.value_target - value) ** 2, batch.mask)
    eps = value_clip_epsilon
    clipped = batch.value + jnp.clip(value - batch.value, -eps, eps)
    loss = (batch.value_target - clipped) ** 2
    if value_clip_form == "ppo2":
        loss = jnp.maximum(loss, (batch.value_target - value) ** 2)
    return _masked_mean(loss, batch.mask)


def _loss(
    networks: PolicyValueNetworks,
    config: OnPolicyConfig,
    params: types.Params,
    batch: Minibatch,
    policy_term: Any,
    value_clip_epsilon: float = 0.0,
    value_clip_form: str = "sb3",
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """`policy_term(log_prob, advantage) -> (policy loss, metrics)` plus what every
    on-policy loss shares: the value regression and the entropy bonus, each a mean over the
    steps taken."""
    mask = batch.mask
    output = networks.policy_apply(params, batch.observation)
    log_prob = distributions.log_prob(networks.policy_kind, output, batch.action)
    advantage = batch.advantage
    if config.normalize_advantages:
        advantage = _normalized(advantage, mask)
    policy_loss, metrics = policy_term(log_prob, advantage * mask)
    value_loss = _value_loss(networks, params, batch, value_clip_epsilon, value_clip_form)
    entropy = _masked_mean(distributions.entropy(networks.policy_kind, output), mask)
    loss = (
        policy_loss + config.value_coefficient * value_loss - config.entropy_coefficient * entropy
    )
    log_ratio = log_prob - batch.log_prob
    metrics = {
        "loss": loss,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": _masked_mean(jnp.exp(log_ratio) - 1 - log_ratio, mask),
        **metrics,
    }
    return loss, metrics


def ppo_loss(
    networks: PolicyValueNetworks,
    config: PPOConfig,
    params: types.Params,
    batch: Minibatch,
    remaining: jax.Array,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """PPO's loss on a minibatch: the clipped surrogate (rlax), its clip range annealed with
    the run when `anneal_clip_epsilon`, with the shared value (clipped by
    `value_clip_epsilon` > 0) and entropy terms."""
    clip_epsilon = config.clip_epsilon * (remaining if config.anneal_clip_epsilon else 1.0)
    mask = batch.mask
    # rlax averages over the whole minibatch: masked steps add 0, the factor rescales.
    taken_fraction = jnp.maximum(jnp.mean(mask), 1.0 / mask.shape[0])

    def clipped_surrogate(log_prob, advantage):
        ratio = jnp.exp(log_prob - batch.log_prob)
        loss = rlax.clipped_surrogate_pg_loss(ratio, advantage, clip_epsilon) / taken_fraction
        clipped = (jnp.abs(ratio - 1) > clip_epsilon).astype(jnp.float32)
        return loss, {"clip_fraction": _masked_mean(clipped, mask)}

    return _loss(
        networks, config, params, batch, clipped_surrogate,
        config.value_clip_epsilon, config.value_clip_form,
    )  # fmt: skip


def a2c_loss(
    networks: PolicyValueNetworks,
    config: OnPolicyConfig,
    params: types.Params,
    batch: Minibatch,
    remaining: jax.Array,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The policy gradient `-mean(A * log pi(a|s))` with the shared value and entropy terms:
    A2C's loss, REINFORCE's (A = G - V on whole episodes) and IMPALA's (A = V-trace's
    policy-gradient advantage)."""
    del remaining

    def policy_gradient(log_prob, advantage):
        return -_masked_mean(jax.lax.stop_gradient(advantage) * log_prob, batch.mask), {}

    return _loss(networks, config, params, batch, policy_gradient)


def trpo_value_loss(
    networks: PolicyValueNetworks,
    config: TRPOConfig,
    params: types.Params,
    batch: Minibatch,
    remaining: jax.Array,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """TRPO's critic loss (its policy takes `trpo_policy_step` instead of SGD)."""
    del config, remaining
    value_loss = _value_loss(networks, params, batch)
    return value_loss, {"value_loss": value_loss}


def _tree_vdot(a: Any, b: Any) -> jax.Array:
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def natural_gradient(fisher_vector_product: Any, gradient: Any, max_steps: int) -> Any:
    """`F^-1 g` by at most `max_steps` conjugate-gradient iterations (`jax.scipy`), from the
    products `v -> F v` alone: F, the Fisher information (the KL's Hessian), is never
    formed. Exact after as many iterations as parameters, in exact arithmetic."""
    direction, _ = jax.scipy.sparse.linalg.cg(
        fisher_vector_product, gradient, tol=1e-10, maxiter=max_steps
    )
    return direction


def trpo_policy_step(
    networks: PolicyValueNetworks, config: TRPOConfig, params: types.Params, batch: Minibatch
) -> tuple[types.Params, dict[str, jax.Array]]:
    """TRPO's policy update (Schulman et al. 2015), as Stable-Baselines3-contrib's: the
    natural gradient of the surrogate `mean(pi/mu * A)` by conjugate gradient on
    Fisher-vector products (damped by `cg_damping`), scaled to the KL radius `target_kl`,
    then a backtracking line search (`line_search_shrink`, `line_search_steps` tries) that
    keeps the first step with mean KL below `target_kl` and a better surrogate; none: no
    change. The value parameters are untouched."""
    policy_params, value_params = networks_lib.split_params(params)
    merged = lambda policy: hk.data_structures.merge(policy, value_params)  # noqa: E731
    mask, observation = batch.mask, batch.observation
    advantage = batch.advantage
    if config.normalize_advantages:
        advantage = _normalized(advantage, mask)
    old_output = jax.lax.stop_gradient(networks.policy_apply(params, observation))

    def surrogate(policy):
        output = networks.policy_apply(merged(policy), observation)
        log_prob = distributions.log_prob(networks.policy_kind, output, batch.action)
        return _masked_mean(jnp.exp(log_prob - batch.log_prob) * advantage, mask)

    def mean_kl(policy):
        output = networks.policy_apply(merged(policy), observation)
        return _masked_mean(
            distributions.kl_divergence(networks.policy_kind, old_output, output), mask
        )

    def fisher_vector_product(vector):
        product = jax.jvp(jax.grad(mean_kl), (policy_params,), (vector,))[1]
        return jax.tree.map(lambda p, v: p + config.cg_damping * v, product, vector)

    old_objective, gradient = jax.value_and_grad(surrogate)(policy_params)
    direction = natural_gradient(fisher_vector_product, gradient, config.cg_max_steps)
    curvature = _tree_vdot(direction, fisher_vector_product(direction))
    full_step = jnp.sqrt(2.0 * config.target_kl / jnp.maximum(curvature, 1e-12))
    fractions = full_step * config.line_search_shrink ** jnp.arange(config.line_search_steps)
    candidates = jax.vmap(
        lambda fraction: jax.tree.map(lambda p, d: p + fraction * d, policy_params, direction)
    )(fractions)
    objectives, kls = jax.vmap(lambda policy: (surrogate(policy), mean_kl(policy)))(candidates)
    acceptable = (kls < config.target_kl) & (objectives > old_objective)
    first = jnp.argmax(acceptable)
    accepted = jnp.any(acceptable)
    new_policy = jax.tree.map(
        lambda old, new: jnp.where(accepted, new[first], old), policy_params, candidates
    )
    metrics = {
        "policy_improvement": jnp.where(accepted, objectives[first] - old_objective, 0.0),
        "kl": jnp.where(accepted, kls[first], 0.0),
        "line_search_accepted": accepted.astype(jnp.float32),
    }
    return merged(new_policy), metrics


def vtrace_advantages(
    values: jax.Array,
    rewards: jax.Array,
    discounts: jax.Array,
    mask: jax.Array,
    log_rhos: jax.Array,
    config: IMPALAConfig,
) -> tuple[jax.Array, jax.Array]:
    """V-trace (Espeholt et al. 2018, `rlax`) for one rollout: policy-gradient advantages
    and value targets [T] from values [T + 1], rewards and `discounts` [T], `mask` [T] and
    the log importance ratios `log pi(a|s) - log mu(a|s)` [T] of the learner's policy pi
    over the actor's mu. As in GAE, the trace stops before a final observation's step."""
    output = rlax.vtrace_td_error_and_advantage(
        values[:-1],
        values[1:],
        rewards,
        discounts,
        jnp.exp(log_rhos),
        lambda_=_trace_lambdas(mask, config.gae_lambda),
        clip_rho_threshold=config.clip_rho_threshold,
        clip_pg_rho_threshold=config.clip_pg_rho_threshold,
    )
    return output.pg_advantage * mask, output.errors + values[:-1]


def rollout_minibatch(
    networks: PolicyValueNetworks,
    config: OnPolicyConfig,
    params: types.Params,
    data: Any,
    advantages: str,
) -> Minibatch:
    """The rollouts `data` (`Step`s [N, T + 1]) as one flat batch of N * T steps, with
    advantages and value targets under `params`: "gae", or "vtrace" when the actors' policy
    may lag (IMPALA)."""
    num_envs, length = data.reward.shape[:2]
    flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731  [N, L, ...] -> [N * L, ...]
    observations = jax.tree_util.tree_map(flat, data.observation)
    values = networks.value_apply(params, observations).reshape(num_envs, length)
    mask = 1.0 - data.start_of_episode[:, 1:].astype(jnp.float32)
    discounts = config.discount * data.discount[:, :-1]
    if networks.policy_kind == "categorical":
        actions = data.action
    else:
        actions = data.extras["raw_action"]  # The sample scored, not the clipped action.
    taken = lambda x: flat(x[:, :-1])  # noqa: E731
    log_prob = taken(data.extras["log_prob"])
    taken_observations = jax.tree_util.tree_map(taken, data.observation)
    if advantages == "vtrace":
        output = networks.policy_apply(params, taken_observations)
        target_log_prob = distributions.log_prob(networks.policy_kind, output, taken(actions))
        log_rhos = (target_log_prob - log_prob).reshape(num_envs, length - 1)
        advantages, targets = jax.vmap(vtrace_advantages, in_axes=(0, 0, 0, 0, 0, None))(
            values, data.reward[:, :-1], discounts, mask, log_rhos, config
        )
    else:
        advantages, targets = jax.vmap(rollout_advantages, in_axes=(0, 0, 0, 0, None))(
            values, data.reward[:, :-1], discounts, mask, config.gae_lambda
        )
    return Minibatch(
        observation=taken_observations,
        action=taken(actions),
        log_prob=log_prob,
        advantage=jax.lax.stop_gradient(flat(advantages)),
        value_target=jax.lax.stop_gradient(flat(targets)),
        value=flat(values[:, :-1]),
        mask=flat(mask),
    )


def remaining_fraction(config: OnPolicyConfig, learner_steps: jax.Array) -> jax.Array:
    """The fraction of the run left after learner step `learner_steps + 1`, for SB3's linear
    schedules (the learning rate, PPO's clip range): 1 without `anneal_env_steps`."""
    anneal_steps = config.anneal_env_steps / config.steps_per_learner_step
    if anneal_steps <= 0:
        return jnp.asarray(1.0)
    return jnp.maximum(1.0 - (learner_steps + 1) / anneal_steps, 0.0)


def annealed_step(
    optimizer: optax.GradientTransformation,
    gradients: Any,
    opt_state: optax.OptState,
    params: types.Params,
    remaining: jax.Array,
) -> tuple[types.Params, optax.OptState]:
    """One optimiser step, its size scaled by `remaining` (the annealed learning rate)."""
    updates, opt_state = optimizer.update(gradients, opt_state, params)
    updates = jax.tree_util.tree_map(lambda u: u * remaining, updates)
    return optax.apply_updates(params, updates), opt_state


def make_update(
    networks: PolicyValueNetworks,
    optimizer: optax.GradientTransformation,
    config: OnPolicyConfig,
    loss_fn: LossFn,
    advantages: str,
    policy_step: PolicyStep | None,
) -> jax_learning.Update:
    """One learner step: `(state, rollouts, probabilities) -> (state, metrics, None)`:
    advantages over the rollouts (`advantages`: "gae" or "vtrace"), `policy_step` on the
    whole batch if given (TRPO's), then epochs of minibatch SGD on `loss_fn` (PPO's clipped
    surrogate; the policy gradient of A2C, REINFORCE and IMPALA; TRPO's critic)."""

    def update(state: OnPolicyState, data: Any, probabilities: jax.Array):
        del probabilities  # A queue's items are each sampled once, in order.
        data, state = normalize_rollouts(networks, config, state, data)
        batch = rollout_minibatch(networks, config, state.params, data, advantages)
        remaining = remaining_fraction(config, state.steps)

        def minibatch_step(carry, minibatch: Minibatch):
            params, opt_state = carry
            grads, metrics = jax.grad(
                lambda p: loss_fn(networks, config, p, minibatch, remaining), has_aux=True
            )(params)
            return annealed_step(optimizer, grads, opt_state, params, remaining), metrics

        def epoch(carry, epoch_key):
            order = jax.random.permutation(epoch_key, batch.mask.shape[0])
            minibatches = jax.tree_util.tree_map(
                lambda x: x[order].reshape((config.num_minibatches, -1) + x.shape[1:]), batch
            )
            return jax.lax.scan(minibatch_step, carry, minibatches)

        params, policy_metrics = state.params, {}
        if policy_step is not None:  # E.g. TRPO's policy step; the epochs fit the critic.
            params, policy_metrics = policy_step(networks, config, params, batch)
        key, *epoch_keys = jax.random.split(state.key, config.num_epochs + 1)
        carry = (params, state.opt_state)
        (params, opt_state), metrics = jax.lax.scan(epoch, carry, jnp.stack(epoch_keys))
        metrics = {**jax.tree_util.tree_map(jnp.mean, metrics), **policy_metrics}
        metrics["learning_rate"] = config.learning_rate * remaining
        state = state._replace(params=params, opt_state=opt_state, key=key, steps=state.steps + 1)
        return state, metrics, None

    return update


def make_learner_parts(
    networks: PolicyValueNetworks,
    optimizer: optax.GradientTransformation,
    config: OnPolicyConfig,
    loss_fn: LossFn,
    advantages: str,
    policy_step: PolicyStep | None,
) -> jax_learning.LearnerParts:
    """An on-policy learner's pure pieces: `make_update` on the agent's loss, its initial
    state, and "policy" served as `PolicyParams` (the parameters and the observation
    statistics)."""
    return jax_learning.LearnerParts(
        initial_state=lambda key: initial_state(networks, optimizer, key, config),
        update=make_update(networks, optimizer, config, loss_fn, advantages, policy_step),
        variables=lambda state: {
            "policy": networks_lib.PolicyParams(state.params, state.observation_statistics)
        },
        # Minibatch SGD steps (TRPO's policy step, one more update, is not among them).
        sgd_steps_per_step=config.num_epochs * config.num_minibatches,
    )


class OnPolicyLearner(jax_learning.BatchLearner):
    """Learns from each batch of rollouts once (`make_update`, on the agent's loss and
    optimizer), serving "policy" (`PolicyParams`: the parameters and the observation
    statistics)."""

    def __init__(
        self,
        config: OnPolicyConfig,
        networks: PolicyValueNetworks,
        random_key: types.PRNGKey,
        iterator: Iterator[types.Batch],
        loss_fn: LossFn,
        optimizer: optax.GradientTransformation,
        advantages: str,
        policy_step: PolicyStep | None,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        device: jax.Device | None = None,
    ):
        parts = make_learner_parts(networks, optimizer, config, loss_fn, advantages, policy_step)
        super().__init__(
            parts.update,
            parts.initial_state(random_key),
            parts.variables,
            iterator,
            counter=counter,
            logger=logger,
            device=device,
            sgd_steps_per_step=parts.sgd_steps_per_step,
        )
