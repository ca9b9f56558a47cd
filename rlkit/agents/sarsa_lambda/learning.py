"""Online linear learning with eligibility traces: true online TD(λ) and Sarsa(λ) (dutch
traces), and TD(λ) / Sarsa(λ) with accumulating or replacing traces (Sutton & Barto 2018,
ch. 12), as pure functions of a `TraceState` and one transition.

For a value `v = wᵀx` (x: the features of a state, or of a state and action), one step
from x with reward R, discount γ' (the agent's γ times the environment's: 0 at a terminal
step) and next value v' (`wᵀx'` under the weights before this step, x' the next state's
features, or the next state-action's) is, with z the trace, α the step size per weight and
d = γλ of the transition that led to x (0 at the start of an episode, where z and v_old are
0):

    δ = R + γ' v' − v
    dutch (S&B p. 300, 307):  z ← d z + (1 − α d zᵀx) x
                              w ← w + α(δ + v − v_old) z − α(v − v_old) x
    accumulating (p. 305):    z ← d z + x;                           w ← w + α δ z
    replacing (p. 305):       z_i ← x_i where x_i > 0, else d z_i;   w ← w + α δ z

and then v_old ← v', d ← γ'λ. The learner sees a stream of replay items in the order they
happened, one transition each (`SarsaAdder`'s); their `start_of_episode` resets the trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rlkit import loggers, types
from rlkit.agents.sarsa_lambda.config import SarsaLambdaConfig, TDLambdaConfig
from rlkit.agents.sarsa_lambda.networks import TileCodedValues
from rlkit.jax import learning
from rlkit.utils import counting


class TraceState(NamedTuple):
    """The learner's state: weights w, trace z, the last step's next value under the weights
    before its update (S&B's Q_old / V_old), the trace's decay into the current step (γλ of
    the transition that led to it), and the learner steps taken (transitions learned from)."""

    weights: jax.Array
    trace: jax.Array
    old_value: jax.Array
    trace_decay: jax.Array
    steps: jax.Array


def initial_state(num_features: int) -> TraceState:
    """Zero weights and trace, before any episode."""
    zeros = jnp.zeros(num_features, jnp.float32)
    scalar = jnp.zeros((), jnp.float32)
    return TraceState(zeros, zeros, scalar, scalar, jnp.zeros((), jnp.int32))


class TraceStep(NamedTuple):
    """One transition as the trace update sees it: features x [F], reward R, discount γ'
    (the agent's γ times the environment's), the next value v' (computed with the weights
    before the update) and whether x starts an episode."""

    features: jax.Array
    reward: jax.Array
    discount: jax.Array
    next_value: jax.Array
    start_of_episode: jax.Array


def trace_update(
    state: TraceState, step: TraceStep, step_size: float, lambda_: float, trace: str
) -> tuple[TraceState, jax.Array]:
    """One online update with eligibility traces (see the module's docstring); returns the
    new state and the TD error δ. `trace`: "dutch", "accumulating" or "replacing"."""
    fresh = step.start_of_episode
    z = jnp.where(fresh, 0.0, state.trace)
    old_value = jnp.where(fresh, 0.0, state.old_value)
    decay = jnp.where(fresh, 0.0, state.trace_decay)
    x, w, alpha = step.features, state.weights, step_size
    value = jnp.dot(w, x)
    td_error = step.reward + step.discount * step.next_value - value
    if trace == "dutch":
        z = decay * z + (1.0 - alpha * decay * jnp.dot(z, x)) * x
        w = w + alpha * (td_error + value - old_value) * z - alpha * (value - old_value) * x
    elif trace == "accumulating":
        z = decay * z + x
        w = w + alpha * td_error * z
    elif trace == "replacing":
        z = jnp.where(x > 0, x, decay * z)
        w = w + alpha * td_error * z
    else:
        raise ValueError(f"Unknown trace {trace!r}; choose dutch, accumulating or replacing.")
    new_state = TraceState(w, z, step.next_value, step.discount * lambda_, state.steps + 1)
    return new_state, td_error


# `(networks, weights, transition) -> TraceStep`: what one agent learns from a transition.
StepOf = Callable[[TileCodedValues, jax.Array, types.Transition], TraceStep]


def sarsa_step(config: SarsaLambdaConfig) -> StepOf:
    """Sarsa(λ)'s step: x = x(S, A), v' = q(S', A') for the action taken next; where none was
    (S' ended the episode: a truncation, or a terminal step whose discount is 0 anyway) the
    expected value of the ε-greedy policy at S'."""
    epsilon = config.epsilon

    def step_of(networks, weights, transition):
        extras = transition.extras
        params = {"weights": weights}
        next_q = networks.action_values(params, transition.next_observation)
        expected = (1.0 - epsilon) * jnp.max(next_q) + epsilon * jnp.mean(next_q)
        taken = next_q[extras["next_action"]]
        return TraceStep(
            features=networks.features(transition.observation, transition.action),
            reward=transition.reward,
            discount=config.discount * transition.discount,
            next_value=jnp.where(extras["next_action_taken"], taken, expected),
            start_of_episode=extras["start_of_episode"],
        )

    return step_of


def td_step(config: TDLambdaConfig) -> StepOf:
    """TD(λ)'s step for the policy that acted: x = x(S), v' = v(S')."""

    def step_of(networks, weights, transition):
        return TraceStep(
            features=networks.features(transition.observation),
            reward=transition.reward,
            discount=config.discount * transition.discount,
            next_value=networks.value({"weights": weights}, transition.next_observation),
            start_of_episode=transition.extras["start_of_episode"],
        )

    return step_of


def make_update(
    networks: TileCodedValues, config: TDLambdaConfig, step_of: StepOf
) -> learning.Update:
    """A learner step over a sample of consecutive transitions [N, ...], in order (one
    `lax.scan`), for `BatchLearner`: metrics are the mean TD error, its mean magnitude and
    the mean value before each update."""
    alpha = config.step_size_per_weight

    def one_transition(state: TraceState, transition: types.Transition):
        step = step_of(networks, state.weights, transition)
        value = jnp.dot(state.weights, step.features)
        state, td_error = trace_update(state, step, alpha, config.lambda_, config.trace)
        return state, (td_error, value)

    def update(state: TraceState, data: types.Transition, probabilities: jax.Array):
        del probabilities  # A queue: every item once, in order.
        state, (td_errors, values) = jax.lax.scan(one_transition, state, data)
        metrics = {
            "td_error": jnp.mean(td_errors),
            "abs_td_error": jnp.mean(jnp.abs(td_errors)),
            "value": jnp.mean(values),
        }
        return state, metrics, None

    return update


class TraceLearner(learning.BatchLearner):
    """Learns online from each transition once, in order, with an eligibility trace: the
    learner of true online Sarsa(λ) and TD(λ) on `rlkit.jax.learning.BatchLearner`. Serves
    `{"weights": w}` as "policy"; its state is a `TraceState`, saved and restored whole (a
    resumed run goes on with the weights; its next episode starts a fresh trace)."""

    def __init__(
        self,
        networks: TileCodedValues,
        config: TDLambdaConfig,
        step_of: StepOf,
        iterator: Iterator[types.Batch],
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        device: Any = None,
    ):
        super().__init__(
            make_update(networks, config, step_of),
            initial_state(networks.num_features),
            lambda state: {"policy": {"weights": state.weights}},
            iterator,
            counter=counter,
            logger=logger,
            device=device,
        )
