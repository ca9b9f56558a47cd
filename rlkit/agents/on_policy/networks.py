"""Policy-value networks of the on-policy agents: a categorical or Gaussian policy and a
state-value function, as separate MLPs (SB3's MlpPolicy: tanh or ReLU, with its orthogonal
initialisation by default: gain sqrt(2) in the torsos, 0.01 on the policy head, 1 on the
value head).

A discrete action spec gets a categorical policy over its values; a continuous one in
[-1, 1] a diagonal Gaussian with a learned, state-independent log standard deviation (the
action sent to the environment is the sample clipped to [-1, 1]; the learner scores the
unclipped sample, as SB3 does).

With observation normalisation, what the agent acts with, serves and exports is
`PolicyParams`: the networks' parameters and the running observation statistics they were
trained under, so that an exported policy normalises as the learner did.
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
from rlkit.agents.on_policy.config import OnPolicyConfig
from rlkit.jax import networks as networks_lib
from rlkit.jax import running_statistics


class PolicyParams(NamedTuple):
    """What on-policy actors act with (the learner's "policy" variables, the exported
    policy): the networks' parameters, and the observation statistics when the agent
    normalises observations (None when it does not)."""

    network: types.Params
    observation_statistics: running_statistics.RunningStatistics | None = None


class PolicyValueNetworks(NamedTuple):
    """The policy and the value function as pure functions of one parameter set.

    `policy_apply(params, observation [B, ...])` gives logits [B, num_actions]
    (`policy_kind="categorical"`) or `(mean [B, A], log_std [A])` ("gaussian"), flat over
    the action's A = prod(shape) dimensions; `value_apply(params, observation)` gives
    state values [B] (`critic="value"`), or one value per action [B, num_actions]
    (`critic="q"`: ACER's Q-critic). `init(key)` makes the parameters of both. With
    `observation_clip` set, observations are normalised by running statistics (starting at
    `initial_observation_statistics`) and clipped to [-observation_clip, observation_clip]
    before either network sees them (`normalize_observation`).
    """

    init: Callable[[types.PRNGKey], types.Params]
    policy_apply: Callable[..., Any]
    value_apply: Callable[..., jax.Array]
    policy_kind: str
    action_size: int
    action_shape: tuple[int, ...] = ()
    observation_clip: float | None = None
    initial_observation_statistics: running_statistics.RunningStatistics | None = None
    critic: str = "value"

    def init_policy(self, key: types.PRNGKey) -> PolicyParams:
        """What acting starts from: fresh parameters and, when normalising, no statistics."""
        return PolicyParams(self.init(key), self.initial_observation_statistics)

    def normalize_observation(
        self,
        statistics: running_statistics.RunningStatistics | None,
        observation: types.NestedArray,
    ) -> types.NestedArray:
        """`observation` as the networks see it: normalised by `statistics` and clipped, or
        unchanged without observation normalisation."""
        if statistics is None:
            return observation
        return running_statistics.normalize(statistics, observation, self.observation_clip)


def split_params(params: types.Params) -> tuple[types.Params, types.Params]:
    """`(policy parameters, value parameters)`: the value torso and head, and the rest."""
    value, policy = hk.data_structures.partition(
        lambda module_name, name, value: module_name.startswith("value"), params
    )
    return policy, value


def _policy_kind(environment_spec: specs.EnvironmentSpec, agent: str) -> tuple[str, int]:
    spec = environment_spec.actions
    if isinstance(spec, dm_specs.DiscreteArray):
        return "categorical", int(spec.num_values)
    if isinstance(spec, dm_specs.BoundedArray) and np.issubdtype(np.dtype(spec.dtype), np.floating):
        if not (np.all(spec.minimum == -1.0) and np.all(spec.maximum == 1.0)):
            raise errors.ConfigError(
                f"{agent}'s Gaussian policy acts in [-1, 1], but the action bounds are "
                f"[{spec.minimum}, {spec.maximum}]: wrap the environment in "
                "rlkit.wrappers.CanonicalSpecWrapper (the 'continuous' environment recipe)."
            )
        return "gaussian", int(np.prod(spec.shape))
    raise errors.ConfigError(
        f"{agent} acts in a Discrete action space (categorical policy) or a bounded Box one "
        f"(Gaussian policy), got {spec!r}."
    )


CRITICS = ("value", "q")


def make_policy_value_networks(
    environment_spec: specs.EnvironmentSpec, config: OnPolicyConfig, critic: str = "value"
) -> PolicyValueNetworks:
    """The agent's policy-value networks for `environment_spec` (`config`: an
    `OnPolicyConfig`): a state-value critic, or with `critic="q"` one value per action
    (discrete actions only)."""
    if critic not in CRITICS:
        raise ValueError(f"critic must be one of {CRITICS}, got {critic!r}.")
    agent = type(config).__name__.removesuffix("Config")
    policy_kind, action_size = _policy_kind(environment_spec, agent)
    if critic == "q" and policy_kind != "categorical":
        raise errors.ConfigError(
            f"{agent} learns a value per action: it acts in a Discrete action space only, "
            f"got {environment_spec.actions!r}."
        )
    encode = networks_lib.make_observation_encoder(environment_spec.observations)
    activation = {"tanh": jnp.tanh, "relu": jax.nn.relu}[config.activation]
    if config.orthogonal_init:
        hidden_init = hk.initializers.Orthogonal(np.sqrt(2.0))
        policy_init, value_init = hk.initializers.Orthogonal(0.01), hk.initializers.Orthogonal()
    else:  # torch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        hidden_init = policy_init = value_init = hk.initializers.VarianceScaling(
            1.0 / 3.0, "fan_in", "uniform"
        )

    def torso(sizes, name):
        return hk.nets.MLP(
            list(sizes), activation=activation, activate_final=True, w_init=hidden_init, name=name
        )

    def make():
        policy_torso = torso(config.policy_hidden_sizes, "policy_torso")
        value_torso = torso(config.value_hidden_sizes, "value_torso")
        head = hk.Linear(action_size, w_init=policy_init, name="policy")
        value_head = hk.Linear(action_size if critic == "q" else 1, w_init=value_init, name="value")

        def policy(observation):
            output = head(policy_torso(encode(observation)))
            if policy_kind == "categorical":
                return output
            log_std = hk.get_parameter(
                "log_std", [action_size], init=hk.initializers.Constant(config.initial_log_std)
            )
            return output, log_std

        def value(observation):
            values = value_head(value_torso(encode(observation)))
            return values if critic == "q" else values[..., 0]

        def init(observation):
            return policy(observation), value(observation)

        return init, (policy, value)

    functions = hk.without_apply_rng(hk.multi_transform(make))
    policy_apply, value_apply = functions.apply
    dummy_observation = networks_lib.zeros_like_spec(environment_spec.observations, batch=1)
    normalize = config.normalize_observations
    return PolicyValueNetworks(
        init=lambda key: functions.init(key, dummy_observation),
        policy_apply=policy_apply,
        value_apply=value_apply,
        policy_kind=policy_kind,
        action_size=action_size,
        action_shape=tuple(environment_spec.actions.shape),
        observation_clip=config.observation_clip if normalize else None,
        initial_observation_statistics=(
            running_statistics.init_state(environment_spec.observations) if normalize else None
        ),
        critic=critic,
    )
