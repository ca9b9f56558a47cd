"""Ready-to-run single-process on-policy agents (rollout queue in this process)."""

from __future__ import annotations

from rlkit.agents.on_policy import config as config_lib
from rlkit.agents.on_policy.builder import OnPolicyBuilder, make_networks
from rlkit.layouts.local import ConfiguredAgent


class OnPolicyAgent(ConfiguredAgent):
    """An on-policy agent that learns while it acts in a batched environment of
    `config.num_envs` sub-environments: `EnvironmentLoop(make_vector_environment(id,
    config.num_envs), PPO(spec, config)).run(num_steps=...)`.

    `LocalLayout` over `OnPolicyBuilder`; any agent's config works here
    (`OnPolicyAgent(spec, A2CConfig())`); `PPO`, `A2C`, `REINFORCE`, `TRPO`, `IMPALA`
    and `ACER` are this class with their own default config. `make_evaluation_actor()`
    acts greedily.
    """

    family_config = config_lib.OnPolicyConfig
    config_class = config_lib.PPOConfig
    builder_class = OnPolicyBuilder
    make_networks = staticmethod(make_networks)


class PPO(OnPolicyAgent):
    """PPO: the clipped surrogate objective over epochs of minibatches (see `PPOConfig`)."""

    config_class = config_lib.PPOConfig


class A2C(OnPolicyAgent):
    """A2C: synchronous advantage actor-critic, one RMSprop step per batch of rollouts (see
    `A2CConfig`)."""

    config_class = config_lib.A2CConfig


class REINFORCE(OnPolicyAgent):
    """REINFORCE with a learned baseline over whole episodes (see `REINFORCEConfig`)."""

    config_class = config_lib.REINFORCEConfig


class TRPO(OnPolicyAgent):
    """TRPO: a natural-gradient policy step in a KL trust region per batch of rollouts, then
    the critic's regression (see `TRPOConfig`)."""

    config_class = config_lib.TRPOConfig


class IMPALA(OnPolicyAgent):
    """IMPALA: actors that lag the learner, corrected by V-trace (see `IMPALAConfig`)."""

    config_class = config_lib.IMPALAConfig


class ACER(OnPolicyAgent):
    """ACER: Retrace Q-critic, truncated importance weights with bias correction and a trust
    region against an average policy, on fresh and replayed rollouts (see `ACERConfig`)."""

    config_class = config_lib.ACERConfig
