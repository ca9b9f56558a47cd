"""ACER's update and learner (Wang et al. 2017, "Sample Efficient Actor-Critic with Experience
Replay"), discrete actions, as OpenAI Baselines' `acer`.

The learner gets the same rollouts as every on-policy agent (`Step`s [N, T + 1], the last
step only bootstrapping, episodes running through them), whose extras carry the full
probability vector `mu(.|x)` of the policy that acted. One update:

- the Q-critic regresses on Retrace targets (`retrace_targets`, through `rlax`), with
  `c = min(1, pi/mu)`; the trace stops before a final observation's step, so the step
  before one bootstraps from `V(x_final)` (discount 0 after a termination, 1 after a
  truncation), and that step is masked out of every loss;
- the policy follows the truncated importance-weighted gradient with bias correction
  (`policy_gradient_of_probs`), taken with respect to the probabilities `f = pi(.|x)`;
- each step's gradient is projected onto the linearised KL constraint against an average
  policy network (`trust_region`), then carried to the parameters through the policy
  network (a vector-Jacobian product); the critic's gradient is added unprojected;
- RMSprop after clipping; the average network follows the parameters
  (`optax.incremental_update`).

`ACERLearner` takes that update on each batch of fresh rollouts and then on a
Poisson(`replay_ratio`) number of batches replayed from a uniform table of the same
sequences.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import rlax

from rlkit import loggers, types
from rlkit.agents.on_policy import learning
from rlkit.agents.on_policy.config import ACERConfig
from rlkit.agents.on_policy.networks import PolicyParams, PolicyValueNetworks
from rlkit.jax import learning as jax_learning
from rlkit.utils import counting

# Added to probabilities before a division or a log, as Baselines does.
EPSILON = 1e-6


class ACERState(NamedTuple):
    params: types.Params
    average_params: types.Params  # The average policy network (EMA of `params`).
    opt_state: optax.OptState
    key: types.PRNGKey
    steps: jax.Array  # Learner steps: batches of fresh rollouts learned from.
    replay_steps: jax.Array  # Updates on replayed batches.


def retrace_targets(
    q_taken: jax.Array,
    values: jax.Array,
    rewards: jax.Array,
    discounts: jax.Array,
    ratios: jax.Array,
    mask: jax.Array,
) -> jax.Array:
    """Retrace targets Q^ret [T] of one sequence (lambda 1), from `Q(x_t, a_t)` and
    `V(x_t) = sum_a pi(a|x_t) Q(x_t, a)` [T + 1], rewards and `discounts` (gamma times the
    environment's) [T], the importance ratios `pi(a_t|x_t) / mu(a_t|x_t)` [T + 1] and `mask`
    [T] (0 at a final observation's step):
    `Q^ret_t = r_t + discount_t (V(x_{t+1}) + c_{t+1} (Q^ret_{t+1} - Q(x_{t+1}, a_{t+1})))`
    with `c = min(1, ratio)`, and `c = 0` into a masked step (no trace across episodes)."""
    traces = jnp.minimum(1.0, ratios[1:-1]) * mask[1:]
    return rlax.general_off_policy_returns_from_q_and_v(
        q_taken[1:-1], values[1:], rewards, discounts, traces, stop_target_gradients=True
    )


def policy_gradient_of_probs(
    probs: jax.Array,
    behaviour_probs: jax.Array,
    q_values: jax.Array,
    q_retrace: jax.Array,
    actions: jax.Array,
    mask: jax.Array,
    truncation: float,
    entropy_coefficient: float,
) -> jax.Array:
    """ACER's policy gradient with respect to the probabilities `f = pi(.|x)` [B, A] (to
    ascend), per step: `min(c, rho(a)) (Q^ret - V) grad log f(a)` for the action taken,
    plus the bias correction `sum_b [1 - c / rho(b)]_+ f(b) (Q(b) - V) grad log f(b)`, plus
    the entropy bonus; every coefficient is held constant. `rho = f / mu`; `mask` [B]
    zeroes the rows of steps not taken."""

    def objective(f):
        held = jax.lax.stop_gradient(f)
        ratios = held / (behaviour_probs + EPSILON)
        values = jnp.sum(held * q_values, axis=-1)
        log_f = jnp.log(f + EPSILON)
        taken = lambda x: jnp.take_along_axis(x, actions[:, None], axis=-1)[:, 0]  # noqa: E731
        truncated = jnp.minimum(truncation, taken(ratios)) * (q_retrace - values) * taken(log_f)
        correction_weights = jax.nn.relu(1.0 - truncation / (ratios + EPSILON)) * held
        correction = jnp.sum(correction_weights * (q_values - values[:, None]) * log_f, axis=-1)
        entropy = -jnp.sum(f * log_f, axis=-1)
        return jnp.sum(mask * (truncated + correction + entropy_coefficient * entropy))

    return jax.grad(objective)(probs)


def trust_region(
    gradient: jax.Array, probs: jax.Array, average_probs: jax.Array, delta: float
) -> tuple[jax.Array, jax.Array]:
    """ACER's efficient trust region, per row [B, A]: with `k`, the gradient of
    `KL(f_average || f)` with respect to `f` (`-f_average / f`), the gradient `g` becomes
    `g - max(0, (k.g - delta) / |k|^2) k`, the closest vector with `k.z <= delta`.
    Returns it and whether each row was projected [B]."""
    k = -average_probs / (probs + EPSILON)
    excess = jnp.sum(k * gradient, axis=-1) - delta
    scale = jnp.maximum(0.0, excess / (jnp.sum(k * k, axis=-1) + EPSILON))
    return gradient - scale[:, None] * k, (excess > 0).astype(jnp.float32)


def _flat(x: jax.Array) -> jax.Array:
    return x.reshape((-1,) + x.shape[2:])  # [N, T + 1, ...] -> [N * (T + 1), ...]


def acer_gradients(
    networks: PolicyValueNetworks,
    config: ACERConfig,
    params: types.Params,
    average_params: types.Params,
    data: Any,
) -> tuple[types.Params, dict[str, jax.Array]]:
    """The parameters' gradient (to descend) of one ACER update on sequences `data`
    (`Step`s [N, T + 1]), and its metrics. The policy's part goes through the trust region
    on the probabilities; the critic's is the gradient of
    `value_coefficient * mean(0.5 (Q^ret - Q(x, a))^2)` over the steps taken."""
    num_envs, length = data.reward.shape[:2]
    observations = jax.tree_util.tree_map(_flat, data.observation)
    probabilities = lambda p: jax.nn.softmax(networks.policy_apply(p, observations))  # noqa: E731
    probs, probs_vjp = jax.vjp(probabilities, params)
    q_values, q_vjp = jax.vjp(lambda p: networks.value_apply(p, observations), params)
    average_probs = probabilities(average_params)
    actions = _flat(data.action).astype(jnp.int32)
    behaviour = _flat(data.extras["probs"])
    taken = lambda x: jnp.take_along_axis(x, actions[:, None], axis=-1)[:, 0]  # noqa: E731
    ratios, q_taken = taken(probs) / (taken(behaviour) + EPSILON), taken(q_values)
    values = jnp.sum(probs * q_values, axis=-1)
    sequences = lambda x: x.reshape(num_envs, length)  # noqa: E731
    mask = 1.0 - data.start_of_episode[:, 1:].astype(jnp.float32)  # [N, T]
    q_retrace = jax.vmap(retrace_targets)(
        sequences(q_taken), sequences(values), data.reward[:, :-1],
        config.discount * data.discount[:, :-1], sequences(ratios), mask,
    )  # fmt: skip
    # Every row of the batch, the bootstrap steps' masked too: [N * (T + 1)].
    mask = _flat(jnp.pad(mask, ((0, 0), (0, 1))))
    q_retrace = _flat(jnp.pad(q_retrace, ((0, 0), (0, 1))))
    num_taken = jnp.maximum(jnp.sum(mask), 1.0)
    gradient = policy_gradient_of_probs(
        probs, behaviour, q_values, q_retrace, actions, mask,
        config.truncation, config.entropy_coefficient,
    )  # fmt: skip
    if config.trust_region_delta > 0:
        gradient, projected = trust_region(
            gradient, probs, average_probs, config.trust_region_delta
        )
    else:
        projected = jnp.zeros_like(mask)
    td_error = (q_taken - q_retrace) * mask
    q_gradient = jax.nn.one_hot(actions, q_values.shape[-1]) * td_error[:, None]
    (policy_grads,) = probs_vjp(-gradient / num_taken)
    (critic_grads,) = q_vjp(config.value_coefficient * q_gradient / num_taken)
    masked_mean = lambda x: jnp.sum(x * mask) / num_taken  # noqa: E731
    metrics = {
        "value_loss": 0.5 * masked_mean(td_error**2),
        "entropy": masked_mean(-jnp.sum(probs * jnp.log(probs + EPSILON), axis=-1)),
        "importance_ratio": masked_mean(ratios),
        "q_retrace": masked_mean(q_retrace),
        "trust_region_active": masked_mean(projected),
    }
    return jax.tree_util.tree_map(jnp.add, policy_grads, critic_grads), metrics


def initial_state(
    networks: PolicyValueNetworks, optimizer: optax.GradientTransformation, key: types.PRNGKey
) -> ACERState:
    @jax.jit
    def make(key: types.PRNGKey) -> ACERState:
        init_key, state_key = jax.random.split(key)
        params = networks.init(init_key)
        zero = jnp.zeros((), jnp.int32)
        return ACERState(params, params, optimizer.init(params), state_key, zero, zero)

    return make(key)


def make_update(
    networks: PolicyValueNetworks,
    optimizer: optax.GradientTransformation,
    config: ACERConfig,
    replayed: bool = False,
) -> jax_learning.Update:
    """One ACER update on a batch of sequences, `(state, sequences, probabilities) ->
    (state, metrics, None)`, counted as a learner step, or with `replayed` as a replay
    update: the gradient step, then the average network's move towards the parameters.
    With `anneal_env_steps`, the step shrinks linearly to 0 over that many environment
    steps of fresh rollouts (SB3's linear learning-rate schedule)."""

    def update(state: ACERState, data: Any, probabilities: jax.Array):
        del probabilities  # Uniform replay and the queue need no importance weights.
        grads, metrics = acer_gradients(networks, config, state.params, state.average_params, data)
        remaining = learning.remaining_fraction(config, state.steps)
        params, opt_state = learning.annealed_step(
            optimizer, grads, state.opt_state, state.params, remaining
        )
        average_params = optax.incremental_update(
            params, state.average_params, 1.0 - config.average_decay
        )
        metrics["gradient_norm"] = optax.global_norm(grads)
        metrics["learning_rate"] = config.learning_rate * remaining
        state = state._replace(
            params=params,
            average_params=average_params,
            opt_state=opt_state,
            steps=state.steps + (0 if replayed else 1),
            replay_steps=state.replay_steps + (1 if replayed else 0),
        )
        return state, metrics, None

    return update


class FreshAndReplayedBatches(Iterator[types.Batch]):
    """ACER's dataset: iterating gives the batches of fresh rollouts (the queue's);
    `replayed` gives batches sampled uniformly from the replay table of the same
    sequences."""

    def __init__(self, fresh: Iterator[types.Batch], replayed: Iterator[types.Batch]):
        self.fresh = fresh
        self.replayed = replayed

    def __next__(self) -> types.Batch:
        return next(self.fresh)


class ACERLearner(jax_learning.BatchLearner):
    """Takes ACER's update on each batch of fresh rollouts, then on n ~
    Poisson(`replay_ratio`) replayed batches once `replay_start_steps` environment steps
    have been learned from; serves "policy" (`PolicyParams`).

    The number of replayed batches of learner step i is drawn from a generator seeded by
    the learner's key and i, so a run (and a resumed one) replays as often whatever the
    timing. Logs count `sgd_steps`: updates, fresh and replayed.
    """

    def __init__(
        self,
        config: ACERConfig,
        networks: PolicyValueNetworks,
        random_key: types.PRNGKey,
        iterator: FreshAndReplayedBatches,
        optimizer: optax.GradientTransformation,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        device: jax.Device | None = None,
    ):
        if not isinstance(iterator, FreshAndReplayedBatches):
            raise TypeError(
                "ACERLearner learns from FreshAndReplayedBatches (OnPolicyBuilder's dataset "
                f"for ACER), got {type(iterator).__name__}."
            )
        state_key, replay_key = jax.random.split(random_key)
        super().__init__(
            make_update(networks, optimizer, config),
            initial_state(networks, optimizer, state_key),
            lambda state: {"policy": PolicyParams(state.params)},
            iterator,
            counter=counter,
            logger=logger,
            device=device,
            sgd_steps_per_step=1,
        )
        self._config = config
        self._replayed = iterator.replayed
        self._replay_update = jax.jit(make_update(networks, optimizer, config, replayed=True))
        self._replay_seed = int(jax.random.randint(replay_key, (), 0, 2**31 - 1))
        self._learner_steps = 0  # On the host: how many replayed batches is decided here.

    def replay_count(self, learner_step: int) -> int:
        """How many replayed batches learner step `learner_step` (from 1) takes."""
        config = self._config
        if learner_step * config.steps_per_learner_step < config.replay_start_steps:
            return 0
        generator = np.random.default_rng((self._replay_seed, learner_step))
        return int(generator.poisson(config.replay_ratio))

    def _learn(self, sample: types.Batch) -> dict[str, Any]:
        metrics = super()._learn(sample)
        self._learner_steps += 1
        count = self.replay_count(self._learner_steps)
        for _ in range(count):
            replayed = next(self._replayed)
            probabilities = np.asarray(replayed.probabilities, np.float32)
            self._state, replay_metrics, _ = self._replay_update(
                self._state, replayed.data, probabilities
            )
            metrics = {**metrics, **{f"replay_{k}": v for k, v in replay_metrics.items()}}
        self._increments["sgd_steps"] = 1 + count
        return metrics

    def restore(self, state: Any) -> None:
        super().restore(state)
        self._learner_steps = int(jax.device_get(state.steps))
