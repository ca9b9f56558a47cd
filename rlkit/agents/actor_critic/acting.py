"""Acting policies of the actor-critic agents: exploration noise, warm-up, evaluation.

A deterministic policy (DDPG, TD3, D4PG) explores by adding Gaussian noise or an
Ornstein-Uhlenbeck process to its action; SAC samples its tanh-squashed Gaussian. For the
first `random_action_steps` actor steps every agent acts uniformly at random in [-1, 1],
as SB3 does before `learning_starts`. Evaluation policies are noise-free (`tanh(mean)` for
SAC). Actions stay in [-1, 1]; the environment recipe rescales them.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlkit import types
from rlkit.agents.actor_critic.networks import ActorCriticNetworks
from rlkit.jax import actors, distributions
from rlkit.jax import networks as networks_lib


class ActionNoise(NamedTuple):
    """A deterministic policy's exploration: "gaussian" noise of standard deviation `std`,
    or "ou", an Ornstein-Uhlenbeck process (`theta`, `dt`) that carries over between steps."""

    kind: str
    std: float
    theta: float = 0.15
    dt: float = 1e-2


class ActingState(NamedTuple):
    key: types.PRNGKey
    steps: jax.Array  # Actor steps so far (the warm-up counts them).
    noise: jax.Array  # The Ornstein-Uhlenbeck process's value [A] (zeros for other noise).


def gaussian_noise(key: types.PRNGKey, shape: tuple[int, ...], std: float) -> jax.Array:
    return std * jax.random.normal(key, shape)


def ornstein_uhlenbeck_step(
    noise: jax.Array, key: types.PRNGKey, std: float, theta: float, dt: float
) -> jax.Array:
    """One Euler step of `dx = -theta x dt + std sqrt(dt) dW` (mean 0), as SB3's."""
    return noise - theta * noise * dt + std * jnp.sqrt(dt) * jax.random.normal(key, noise.shape)


def make_policy(
    networks: ActorCriticNetworks,
    action_shape: tuple[int, ...],
    random_action_steps: int,
    noise: ActionNoise | None = None,
    evaluation: bool = False,
) -> actors.ActorCore:
    """The acting policy of an actor-critic agent (or, `evaluation`, its noise-free one):
    uniformly random for the first `random_action_steps` steps, then a tanh-Gaussian
    policy's sample, or a deterministic policy's action plus `noise`. `action_shape`: the
    environment's action shape; the networks act on its flattened A dimensions and the
    action is reshaped to it last."""
    stochastic = networks.policy_kind == "tanh_gaussian"
    noise_kind = None if noise is None else noise.kind
    warm_up = 0 if evaluation else random_action_steps

    def init(key: types.PRNGKey) -> ActingState:
        noise = jnp.zeros((networks.action_size,), jnp.float32)
        return ActingState(key, jnp.zeros((), jnp.int32), noise)

    def episode_start(state: ActingState) -> ActingState:
        return state._replace(noise=jnp.zeros_like(state.noise))  # OU restarts at 0 (SB3).

    def select_action(params, observation, state: ActingState):
        key, noise_key, random_key = jax.random.split(state.key, 3)
        output = networks.policy_apply(params, networks_lib.add_batch_dim(observation))
        output = jax.tree_util.tree_map(lambda x: x[0], output)
        exploration = state.noise
        if stochastic:
            if evaluation:
                action = distributions.tanh_gaussian_mode(output)
            else:
                action, _ = distributions.tanh_gaussian_sample(output, noise_key)
        elif evaluation or noise is None:
            action = output
        else:
            if noise_kind == "ou":
                exploration = ornstein_uhlenbeck_step(
                    exploration, noise_key, noise.std, noise.theta, noise.dt
                )
            else:
                exploration = gaussian_noise(noise_key, output.shape, noise.std)
            action = jnp.clip(output + exploration, -1.0, 1.0)
        if warm_up:
            uniform = jax.random.uniform(random_key, action.shape, minval=-1.0, maxval=1.0)
            action = jnp.where(state.steps < warm_up, uniform, action)
        carried = exploration if noise_kind == "ou" else state.noise
        state = ActingState(key, state.steps + 1, carried)
        return action.reshape(action_shape).astype(jnp.float32), state

    return actors.ActorCore(
        init=init,
        select_action=select_action,
        get_extras=lambda _: (),
        episode_start=episode_start if noise_kind == "ou" and not evaluation else None,
    )
