"""Value networks of the DQN family: one container, a torso, and a head per variant.

Every variant's network is a `ValueNetworks`: `init(key)`, `apply(params, observation, key)`
returning a `ValueOutput` (Q-values always; logits and atoms for C51, quantiles and their
fractions for QR-DQN and IQN), and `q_values(...)` for acting and value plots. A key makes
the network stochastic where it is (noisy layers, IQN's sampled fractions); without one it
is deterministic (noise-free weights, evenly spaced fractions), which is what greedy
evaluation, `rlkit play` and the value heatmaps use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from dm_env import specs as dm_specs

from rlkit import errors, specs, types
from rlkit.agents import registry
from rlkit.agents.dqn.config import DQNConfig
from rlkit.jax import networks as networks_lib


class ValueOutput(NamedTuple):
    """What a value network computes for a batch of observations."""

    q_values: jax.Array  # [B, A]: expected returns, what acting maximises.
    logits: jax.Array | None = None  # [B, A, num_atoms]: C51's return distribution.
    atoms: jax.Array | None = None  # [num_atoms]: C51's support.
    quantiles: jax.Array | None = None  # [B, N, A]: QR-DQN's / IQN's return quantiles...
    taus: jax.Array | None = None  # [B, N]: ...at these fractions.


class ValueNetworks(NamedTuple):
    """A value network as pure functions.

    `apply(params, observation [B, ...], key=None, **head_options) -> ValueOutput`;
    `stochastic` says whether a key changes the output (noisy layers, sampled fractions), so
    a policy only spends a key where it matters.
    """

    init: Callable[[types.PRNGKey], types.Params]
    apply: Callable[..., ValueOutput]
    stochastic: bool = False

    def q_values(
        self, params: types.Params, observation: types.NestedArray, key: Any = None
    ) -> jax.Array:
        """Q-values [B, A] (expectations for distributional heads)."""
        return self.apply(params, observation, key).q_values


class NoisyLinear(hk.Module):
    """Factorised Gaussian noisy linear layer (Fortunato et al. 2018).

    `w = mu_w + sigma_w * f(eps_in) f(eps_out)^T` with `f(x) = sign(x) sqrt(|x|)`, noise drawn
    from haiku's RNG per call (one draw per batch); with no RNG (`apply(..., key=None)`) the
    layer uses its mean weights.
    """

    def __init__(self, output_size: int, sigma_init: float = 0.5, name: str | None = None):
        super().__init__(name=name)
        self.output_size = output_size
        self.sigma_init = sigma_init

    def __call__(self, inputs: jax.Array) -> jax.Array:
        input_size = inputs.shape[-1]
        bound = 1.0 / math.sqrt(input_size)
        mu_init = hk.initializers.RandomUniform(-bound, bound)
        sigma = hk.initializers.Constant(self.sigma_init * bound)
        w_mu = hk.get_parameter("w_mu", [input_size, self.output_size], init=mu_init)
        b_mu = hk.get_parameter("b_mu", [self.output_size], init=mu_init)
        w_sigma = hk.get_parameter("w_sigma", [input_size, self.output_size], init=sigma)
        b_sigma = hk.get_parameter("b_sigma", [self.output_size], init=sigma)
        outputs = inputs @ w_mu + b_mu
        key = hk.maybe_next_rng_key()
        if key is None:
            return outputs
        # One draw for both factors: on CPU each random op costs more than its few numbers.
        noise = jax.random.normal(key, (input_size + self.output_size,))
        noise = jnp.sign(noise) * jnp.sqrt(jnp.abs(noise))
        eps_in, eps_out = noise[:input_size], noise[input_size:]
        # (x * eps_in) @ sigma_w * eps_out == x @ (sigma_w * outer(eps_in, eps_out)), cheaper.
        return outputs + ((inputs * eps_in) @ w_sigma) * eps_out + b_sigma * eps_out


def linear(size: int, noisy: bool, name: str, sigma_init: float = 0.5) -> hk.Module:
    """A plain or noisy linear layer."""
    if noisy:
        return NoisyLinear(size, sigma_init, name=name)
    init = hk.initializers.VarianceScaling(1.0, "fan_avg", "uniform")
    return hk.Linear(size, w_init=init, name=name)


class HeadConfig(NamedTuple):
    """How the fully connected part of a value network is built."""

    num_actions: int
    hidden_sizes: tuple[int, ...]
    dueling: bool = False
    noisy: bool = False
    noisy_sigma: float = 0.5


def _hidden(features: jax.Array, config: HeadConfig, first_index: int = 0) -> jax.Array:
    for index, size in enumerate(config.hidden_sizes, start=first_index):
        features = jax.nn.relu(
            linear(size, config.noisy, f"hidden_{index}", config.noisy_sigma)(features)
        )
    return features


def _outputs(
    features: jax.Array, config: HeadConfig, per_action: int, first_index: int = 0
) -> jax.Array:
    """The hidden layers, then [B, A, per_action] outputs.

    Dueling (Wang et al. 2016): the layers before the last hidden one are shared; the last
    splits into two streams, each with its own layer of that size, one for the state's value
    V and one for the actions' advantages A, combined as `V + A - mean_a A`. With no hidden
    layers, both streams read the features.
    """
    layer = lambda size, name: linear(size, config.noisy, name, config.noisy_sigma)  # noqa: E731
    batch = features.shape[0]
    if not config.dueling:
        advantages = layer(config.num_actions * per_action, "advantages")(
            _hidden(features, config, first_index)
        )
        return advantages.reshape(batch, config.num_actions, per_action)
    shared = config.hidden_sizes[:-1]
    features = _hidden(features, config._replace(hidden_sizes=shared), first_index)

    def stream(name: str, size: int) -> jax.Array:
        hidden = features
        if config.hidden_sizes:
            index = first_index + len(shared)
            hidden = jax.nn.relu(layer(config.hidden_sizes[-1], f"{name}_hidden_{index}")(hidden))
        return layer(size, name)(hidden)

    advantages = stream("advantages", config.num_actions * per_action)
    advantages = advantages.reshape(batch, config.num_actions, per_action)
    value = stream("value", per_action).reshape(batch, 1, per_action)
    return value + advantages - jnp.mean(advantages, axis=1, keepdims=True)


def q_head(features: jax.Array, config: HeadConfig) -> ValueOutput:
    """DQN: one Q-value per action."""
    return ValueOutput(q_values=_outputs(features, config, 1)[..., 0])


def categorical_head(
    features: jax.Array, config: HeadConfig, num_atoms: int, v_min: float, v_max: float
) -> ValueOutput:
    """C51: a distribution over `num_atoms` evenly spaced returns in [v_min, v_max] per action."""
    logits = _outputs(features, config, num_atoms)
    atoms = jnp.linspace(v_min, v_max, num_atoms)
    q_values = jnp.sum(jax.nn.softmax(logits) * atoms, axis=-1)
    return ValueOutput(q_values=q_values, logits=logits, atoms=atoms)


def quantile_head(features: jax.Array, config: HeadConfig, num_quantiles: int) -> ValueOutput:
    """QR-DQN: the returns at fixed fractions (i + 0.5) / N per action."""
    quantiles = jnp.swapaxes(_outputs(features, config, num_quantiles), 1, 2)
    taus = (jnp.arange(num_quantiles) + 0.5) / num_quantiles
    taus = jnp.broadcast_to(taus, (features.shape[0], num_quantiles))
    return ValueOutput(q_values=jnp.mean(quantiles, axis=1), quantiles=quantiles, taus=taus)


def implicit_quantile_head(
    features: jax.Array, config: HeadConfig, num_quantiles: int, embedding_dim: int
) -> ValueOutput:
    """IQN (Dabney et al. 2018): the returns at `num_quantiles` fractions, sampled when the
    network has a key and evenly spaced otherwise.

    As in the paper's network, the state is encoded once (all hidden layers but the last),
    each fraction's cosine embedding multiplies it, and only the last hidden layer and the
    output run per fraction.
    """
    *state_sizes, last_size = config.hidden_sizes
    state = _hidden(features, config._replace(hidden_sizes=tuple(state_sizes)))
    batch, width = state.shape
    key = hk.maybe_next_rng_key()
    if key is None:
        taus = (jnp.arange(num_quantiles) + 0.5) / num_quantiles
        taus = jnp.broadcast_to(taus, (batch, num_quantiles))
    else:
        taus = jax.random.uniform(key, (batch, num_quantiles))
    cosines = jnp.cos(jnp.pi * jnp.arange(1, embedding_dim + 1) * taus[..., None])  # [B, N, E]
    embedding = linear(width, config.noisy, "tau_embedding", config.noisy_sigma)(cosines)
    mixed = (state[:, None, :] * jax.nn.relu(embedding)).reshape(batch * num_quantiles, width)
    last = config._replace(hidden_sizes=(last_size,))
    quantiles = _outputs(mixed, last, 1, len(state_sizes))
    quantiles = quantiles.reshape(batch, num_quantiles, config.num_actions)
    return ValueOutput(q_values=jnp.mean(quantiles, axis=1), quantiles=quantiles, taus=taus)


def num_discrete_actions(environment_spec: specs.EnvironmentSpec, agent: str = "DQN") -> int:
    """The number of actions; raises for action spaces the DQN family cannot handle."""
    action_spec = environment_spec.actions
    if not isinstance(action_spec, dm_specs.DiscreteArray):
        # Name only what exists: the registered agents, and for actions numbered from
        # another start, the gymnasium wrapper that renumbers them.
        hint = f"Registered agents: {registry.agents_summary()}; `rlkit agents` describes them."
        if np.issubdtype(np.dtype(action_spec.dtype), np.floating):
            # Only the agents that can act there: a list of all of them sends users to try
            # the other discrete ones.
            hint = (
                f"For continuous actions use one of: "
                f"{', '.join(registry.agents_for('continuous'))}; `rlkit agents` describes them."
            )
        integer = np.issubdtype(np.dtype(action_spec.dtype), np.integer)
        if integer and action_spec.shape == ():
            hint = (
                f"Its actions are numbered from {action_spec.minimum}, {agent}'s from 0: in "
                "Python, gymnasium.wrappers.TransformAction can renumber them. " + hint
            )
        raise errors.ConfigError(
            f"{agent} needs a single discrete action space (0..n-1), got {action_spec!r}. {hint}"
        )
    return int(action_spec.num_values)


def make_torso(environment_spec: specs.EnvironmentSpec, torso: str) -> Callable[[Any], jax.Array]:
    """`observations [B, ...] -> features [B, D]`, inside a haiku transform.

    "mlp": discrete observations one-hot, the rest flattened (the MLP is the head's). "nature"
    / "impala": the convolutional torso of `rlkit.jax.networks` on [B, H, W, C] images.
    """
    if torso == "mlp":
        return networks_lib.make_observation_encoder(environment_spec.observations)
    spec = environment_spec.observations
    if not isinstance(spec, dm_specs.Array) or len(spec.shape) != 3:
        raise errors.ConfigError(
            f"torso={torso!r} needs image observations [H, W, C], got {spec!r}; use torso='mlp'."
        )
    conv = {"nature": networks_lib.NatureDQNTorso, "impala": networks_lib.ImpalaTorso}[torso]
    return lambda observation: conv(hidden_size=None)(observation)


def make_value_networks(
    environment_spec: specs.EnvironmentSpec,
    config: DQNConfig,
    make_head: Callable[[HeadConfig], Callable[..., ValueOutput]],
    samples_quantiles: bool = False,
) -> ValueNetworks:
    """The value network of `config` with the variant's head (`make_head(HeadConfig)`)
    over the observation encoder; `samples_quantiles`: the head draws quantile fractions
    from the key (IQN), so acting and the target pass need one.

    The torso encodes observations (`config.torso`); the fully connected layers after it
    (`hidden_sizes`) belong to the head, so noisy nets make all of them noisy.
    """
    num_actions = num_discrete_actions(
        environment_spec, type(config).__name__.removesuffix("Config")
    )
    head_config = HeadConfig(
        num_actions, tuple(config.hidden_sizes), config.dueling, config.noisy, config.noisy_sigma
    )
    head = make_head(head_config)
    encode = make_torso(environment_spec, config.torso)

    def forward(observation, **head_options) -> ValueOutput:
        output = head(encode(observation), **head_options)
        return output._replace(q_values=output.q_values.astype(jnp.float32))

    transformed = hk.transform(forward)
    dummy = networks_lib.zeros_like_spec(environment_spec.observations, batch=1)
    return ValueNetworks(
        init=lambda key: transformed.init(key, dummy),
        apply=lambda params, observation, key=None, **options: transformed.apply(
            params, key, observation, **options
        ),
        stochastic=config.noisy or samples_quantiles,
    )


def q_values(networks: ValueNetworks) -> Callable[[types.Params, types.NestedArray], jax.Array]:
    """`(params, observations [B, ...]) -> Q-values [B, num_actions]`, what value plots read."""
    return lambda params, observation: networks.q_values(params, observation)
