"""The actor-critic toolkit's networks: policy heads, critics and their container.

Policies map observations to actions in [-1, 1]: a deterministic head (`tanh` of an MLP;
DDPG, TD3, D4PG) or a tanh-squashed Gaussian (SAC), whose sampling and log-probabilities
are in `rlkit.jax.distributions`. Critics map (observation, action) to values: `num_critics`
independent MLPs ([num_critics, B]; two for TD3's and SAC's twin minimum), or a categorical
critic's logits over a fixed support of atoms ([B, num_atoms]; D4PG).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from dm_env import specs as dm_specs

from rlkit import errors, specs, types
from rlkit.agents import registry
from rlkit.agents.actor_critic.config import ActorCriticConfig
from rlkit.jax import networks as networks_lib
from rlkit.jax.distributions import GaussianParams


class ActorCriticNetworks(NamedTuple):
    """A policy and a critic as pure functions.

    `policy_apply(params, observation [B, ...])` gives actions [B, A] in [-1, 1]
    (`policy_kind="deterministic"`) or `GaussianParams` ("tanh_gaussian"), flat over the
    action's A = prod(shape) dimensions whatever the action spec's shape (so a
    log-probability sums over all of them); the acting policy reshapes to the spec.
    `critic_apply(params, observation, action)` gives values [num_critics, B], or logits
    [B, num_atoms] on `atoms` for a categorical critic. `init(key)` makes both networks'
    parameters, `{"policy": ..., "critic": ...}`; `init_policy(key)` the policy's alone
    (what an exported policy holds).
    """

    policy_init: Callable[[types.PRNGKey], types.Params]
    policy_apply: Callable[..., Any]
    critic_init: Callable[[types.PRNGKey], types.Params]
    critic_apply: Callable[..., jax.Array]
    policy_kind: str
    action_size: int
    num_critics: int = 1
    atoms: jax.Array | None = None

    def init(self, key: types.PRNGKey) -> dict[str, types.Params]:
        policy_key, critic_key = jax.random.split(key)
        return {"policy": self.policy_init(policy_key), "critic": self.critic_init(critic_key)}

    def init_policy(self, key: types.PRNGKey) -> types.Params:
        return self.init(key)["policy"]

    def q_values(self, critic_params, observation, action) -> jax.Array:
        """Expected returns [B]: the first critic, or the categorical critic's mean."""
        if self.atoms is None:
            # The critics' parameters are stacked on axis 0: evaluate the first one alone.
            first = jax.tree_util.tree_map(lambda x: x[:1], critic_params)
            return self.critic_apply(first, observation, action, members=1)[0]
        logits = self.critic_apply(critic_params, observation, action)
        return jnp.sum(jax.nn.softmax(logits, axis=-1) * self.atoms, axis=-1)


def continuous_action_size(environment_spec: specs.EnvironmentSpec, agent: str) -> int:
    """The number of action dimensions; raises for spaces the actor-critic agents cannot act
    in: discrete ones (naming the discrete agents), unbounded ones (naming the wrapper that
    gives bounds), and bounded ones not in [-1, 1] (naming `CanonicalSpecWrapper`)."""
    spec = environment_spec.actions
    if isinstance(spec, dm_specs.DiscreteArray) or (
        isinstance(spec, dm_specs.Array) and np.issubdtype(np.dtype(spec.dtype), np.integer)
    ):
        raise errors.ConfigError(
            f"{agent} acts in continuous (Box) action spaces, got the discrete {spec!r}. For "
            f"discrete actions use one of: {', '.join(registry.agents_for('discrete'))}."
        )
    if not isinstance(spec, dm_specs.Array) or not np.issubdtype(np.dtype(spec.dtype), np.floating):
        raise errors.ConfigError(f"{agent} needs one continuous (Box) action array, got {spec!r}.")
    if not isinstance(spec, dm_specs.BoundedArray) or not (
        np.all(np.isfinite(spec.minimum)) and np.all(np.isfinite(spec.maximum))
    ):
        raise errors.ConfigError(
            f"{agent} needs finite action bounds, got {spec!r}: its policy acts in [-1, 1] "
            "and rlkit maps that onto the bounds. Give the gymnasium action space finite "
            "low/high (e.g. a gymnasium.ActionWrapper whose action_space is a bounded Box), "
            "then use the 'continuous' environment recipe."
        )
    if not (np.all(spec.minimum == -1.0) and np.all(spec.maximum == 1.0)):
        raise errors.ConfigError(
            f"{agent} acts in [-1, 1], but the action bounds are [{spec.minimum}, "
            f"{spec.maximum}]: wrap the environment in rlkit.wrappers.CanonicalSpecWrapper "
            "(the 'continuous' environment recipe does)."
        )
    return int(np.prod(spec.shape))


class EnsembleMLP(hk.Module):
    """`num_members` independent MLPs on the same inputs, as one stacked computation.

    Weights are stacked [K, in, out], so each layer is one batched matmul instead of K
    small ones (the twin critics' update runs faster that way on CPU). Each member is
    initialised as `networks_lib.MLP` initialises one; ReLU between layers, none after the
    last. `[B, D] -> [K, B, sizes[-1]]`.
    """

    def __init__(self, sizes, num_members: int, name: str | None = None):
        super().__init__(name=name)
        self._sizes = tuple(sizes)
        self._num_members = num_members

    def __call__(self, inputs: jax.Array) -> jax.Array:
        w_init = hk.initializers.VarianceScaling(1.0, "fan_avg", "uniform")
        x = inputs
        for i, size in enumerate(self._sizes):
            fan_in = x.shape[-1]
            # Each member's [in, out] slice is drawn as one layer's weights would be.
            w = hk.get_parameter(
                f"w_{i}", [self._num_members, fan_in, size], init=_member_init(w_init)
            )
            b = hk.get_parameter(f"b_{i}", [self._num_members, 1, size], init=jnp.zeros)
            equation = "bi,kio->kbo" if i == 0 else "kbi,kio->kbo"
            x = jnp.einsum(equation, x, w) + b
            if i < len(self._sizes) - 1:
                x = jax.nn.relu(x)
        return x


def _member_init(init):
    """An initialiser of stacked [K, in, out] weights that draws each [in, out] member as
    `init` would draw a single layer's weights."""

    def stacked(shape, dtype):
        members = [init(shape[1:], dtype) for _ in range(shape[0])]
        return jnp.stack(members)

    return stacked


def _mlp(sizes, name: str | None = None, activate_final: bool = False) -> networks_lib.MLP:
    return networks_lib.MLP(sizes, activate_final=activate_final, name=name)


def make_actor_critic_networks(
    environment_spec: specs.EnvironmentSpec,
    config: ActorCriticConfig,
    policy_kind: str = "deterministic",
    num_critics: int = 2,
    categorical_critic: bool = False,
) -> ActorCriticNetworks:
    """The policy and critics of `config` (an `ActorCriticConfig`) for `environment_spec`:
    a "deterministic" policy (tanh of an MLP) or a "tanh_gaussian" one (a Gaussian squashed
    by tanh, its log standard deviation clipped to the config's range), and `num_critics`
    independent critics, or one categorical critic on `num_atoms` atoms in [v_min, v_max].

    The policy's last layer starts small (uniform in +-3e-3, as DDPG's paper initialises
    it), so early actions sit near the middle of the range rather than at tanh's edges.
    """
    agent = type(config).__name__.removesuffix("Config")
    action_size = continuous_action_size(environment_spec, agent)
    encode = networks_lib.make_observation_encoder(environment_spec.observations)
    final_init = hk.initializers.RandomUniform(-3e-3, 3e-3)
    num_atoms = config.num_atoms if categorical_critic else None

    def policy(observation):
        features = _mlp(config.policy_hidden_sizes, "torso", activate_final=True)(
            encode(observation)
        )
        if policy_kind == "deterministic":
            return jnp.tanh(hk.Linear(action_size, w_init=final_init, name="action")(features))
        mean = hk.Linear(action_size, w_init=final_init, name="mean")(features)
        log_std = hk.Linear(action_size, w_init=final_init, name="log_std")(features)
        return GaussianParams(mean, jnp.clip(log_std, config.log_std_min, config.log_std_max))

    def critic(observation, action, members: int = num_critics):
        inputs = jnp.concatenate(
            [encode(observation), jnp.reshape(action, (action.shape[0], -1))], axis=-1
        )
        if num_atoms is not None:
            return _mlp((*config.critic_hidden_sizes, num_atoms), "critic")(inputs)
        return EnsembleMLP((*config.critic_hidden_sizes, 1), members, "critics")(inputs)[..., 0]

    policy_fn = hk.without_apply_rng(hk.transform(policy))
    critic_fn = hk.without_apply_rng(hk.transform(critic))
    dummy_observation = networks_lib.zeros_like_spec(environment_spec.observations, batch=1)
    dummy_action = networks_lib.zeros_like_spec(environment_spec.actions, batch=1)
    atoms = None
    if num_atoms is not None:
        atoms = jnp.linspace(config.v_min, config.v_max, num_atoms, dtype=jnp.float32)
    return ActorCriticNetworks(
        policy_init=lambda key: policy_fn.init(key, dummy_observation),
        policy_apply=policy_fn.apply,
        critic_init=lambda key: critic_fn.init(key, dummy_observation, dummy_action),
        critic_apply=critic_fn.apply,
        policy_kind=policy_kind,
        action_size=action_size,
        num_critics=num_critics,
        atoms=atoms,
    )
