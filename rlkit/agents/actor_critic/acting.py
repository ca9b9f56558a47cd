"""Acting policies of the actor-critic agents: exploration noise, warm-up, evaluation.

A deterministic policy (DDPG, TD3, D4PG) explores by adding Gaussian noise or an
Ornstein-Uhlenbeck process to its action; SAC samples its tanh-squashed Gaussian. For the
first `random_action_steps` actor steps every agent acts uniformly at random in [-1, 1],
as SB3 does before `learning_starts`. Evaluation policies are noise-free (`tanh(mean)` for
SAC). Actions stay in [-1, 1]; the environment recipe rescales them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rlkit import types
from rlkit.agents.actor_critic.networks import ActorCriticNetworks
from rlkit.jax import actors, distributions
from rlkit.jax import networks as networks_lib


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
    config: Any,
    action_shape: tuple[int, ...],
    evaluation: bool = False,
) -> actors.ActorCore:
    """The acting policy of an `ActorCriticConfig` agent (or, `evaluation`, its noise-free
    one). `action_shape`: the environment's action shape; the networks act on its flattened
    A dimensions and the action is reshaped to it last."""
    stochastic = networks.policy_kind == "tanh_gaussian"
    noise_kind = getattr(config, "exploration_noise", None)
    warm_up = 0 if evaluation else config.random_action_steps

    def init(key: types.PRNGKey) -> ActingState:
        noise = jnp.zeros((networks.action_size,), jnp.float32)
        return ActingState(key, jnp.zeros((), jnp.int32), noise)

    def episode_start(state: ActingState) -> ActingState:
        return state._replace(noise=jnp.zeros_like(state.noise))  # OU restarts at 0 (SB3).

    def select_action(params, observation, state: ActingState):
        key, noise_key, random_key = jax.random.split(state.key, 3)
        output = networks.policy_apply(params, networks_lib.add_batch_dim(observation))
        output = jax.tree_util.tree_map(lambda x: x[0], output)
        noise = state.noise
        if stochastic:
            if evaluation:
                action = distributions.tanh_gaussian_mode(output)
            else:
                action, _ = distributions.tanh_gaussian_sample(output, noise_key)
        elif evaluation:
            action = output
        else:
            if noise_kind == "ou":
                noise = ornstein_uhlenbeck_step(
                    noise, noise_key, config.exploration_noise_std, config.ou_theta, config.ou_dt
                )
            else:
                noise = gaussian_noise(noise_key, output.shape, config.exploration_noise_std)
            action = jnp.clip(output + noise, -1.0, 1.0)
        if warm_up:
            uniform = jax.random.uniform(random_key, action.shape, minval=-1.0, maxval=1.0)
            action = jnp.where(state.steps < warm_up, uniform, action)
        state = ActingState(key, state.steps + 1, noise if noise_kind == "ou" else state.noise)
        return action.reshape(action_shape).astype(jnp.float32), state

    return actors.ActorCore(
        init=init,
        select_action=select_action,
        get_extras=lambda _: (),
        episode_start=episode_start if noise_kind == "ou" and not evaluation else None,
    )
