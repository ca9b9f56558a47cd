"""Ready-to-run single-process on-policy agents (rollout queue in this process)."""

from __future__ import annotations

from rlkit import local_layout
from rlkit.agents.on_policy import config as config_lib
from rlkit.agents.on_policy import networks as on_policy_networks
from rlkit.agents.on_policy.builder import OnPolicyBuilder


class PPO(local_layout.ConfiguredAgent):
    """PPO that learns while it acts in a batched environment of `config.num_envs`
    sub-environments: `EnvironmentLoop(make_vector_environment(id, config.num_envs),
    PPO(spec, config)).run(num_steps=...)`.

    `LocalLayout` over `OnPolicyBuilder`; `make_evaluation_actor()` acts greedily in one
    environment.
    """

    family_config = config_lib.OnPolicyConfig
    config_class = config_lib.PPOConfig
    builder_class = OnPolicyBuilder
    make_networks = staticmethod(on_policy_networks.make_networks)


class A2C(PPO):
    """A2C in a batched environment of `config.num_envs` sub-environments (see `A2CConfig`):
    PPO's layout with A2C's config, loss and optimiser."""

    config_class = config_lib.A2CConfig


class REINFORCE(PPO):
    """REINFORCE with a learned baseline over whole episodes (see `REINFORCEConfig`)."""

    config_class = config_lib.REINFORCEConfig


class TRPO(PPO):
    """TRPO: a natural-gradient policy step in a KL trust region per batch of rollouts, then
    the critic's regression (see `TRPOConfig`)."""

    config_class = config_lib.TRPOConfig


class IMPALA(PPO):
    """IMPALA: actors that lag the learner, corrected by V-trace (see `IMPALAConfig`)."""

    config_class = config_lib.IMPALAConfig
