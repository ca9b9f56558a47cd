"""On-policy agents over batched environments: PPO, A2C, REINFORCE, TRPO and IMPALA
(categorical and Gaussian policies), and ACER (categorical; it also replays its rollouts).

Rollouts from every sub-environment go through a replay queue to a learner that computes
GAE and runs epochs of minibatch SGD in one jitted call; the actor acts on the newest
parameters. See the README.
"""

from typing import TYPE_CHECKING

from rlkit import _lazy
from rlkit.agents import registry

# Imported on first use (see rlkit/_lazy.py): the registry reads the configs without JAX.
_EXPORTS = {
    "A3CBuilder": "rlkit.agents.on_policy.a3c",
    "A3CConfig": "rlkit.agents.on_policy.config",
    "ACER": "rlkit.agents.on_policy.agent",
    "ACERConfig": "rlkit.agents.on_policy.config",
    "ACERLearner": "rlkit.agents.on_policy.acer",
    "OnPolicyAgent": "rlkit.agents.on_policy.agent",
    "PPO": "rlkit.agents.on_policy.agent",
    "A2C": "rlkit.agents.on_policy.agent",
    "IMPALA": "rlkit.agents.on_policy.agent",
    "REINFORCE": "rlkit.agents.on_policy.agent",
    "TRPO": "rlkit.agents.on_policy.agent",
    "A2CConfig": "rlkit.agents.on_policy.config",
    "IMPALAConfig": "rlkit.agents.on_policy.config",
    "REINFORCEConfig": "rlkit.agents.on_policy.config",
    "TRPOConfig": "rlkit.agents.on_policy.config",
    "PolicyParams": "rlkit.agents.on_policy.networks",
    "OnPolicyBuilder": "rlkit.agents.on_policy.builder",
    "OnPolicyVariant": "rlkit.agents.on_policy.builder",
    "RolloutSchedule": "rlkit.agents.on_policy.builder",
    "VARIANTS": "rlkit.agents.on_policy.builder",
    "OnPolicyConfig": "rlkit.agents.on_policy.config",
    "PPOConfig": "rlkit.agents.on_policy.config",
    "OnPolicyLearner": "rlkit.agents.on_policy.learning",
    "OnPolicyState": "rlkit.agents.on_policy.learning",
    "PolicyValueNetworks": "rlkit.agents.on_policy.networks",
    "make_networks": "rlkit.agents.on_policy.builder",
    "make_policy": "rlkit.agents.on_policy.acting",
}
_lazy.attach(__name__, _EXPORTS, submodules=("learning", "acting", "networks", "acer"))

for _name, _config, _description in [
    ("ppo", "PPOConfig", "PPO: clipped surrogate, GAE, minibatch epochs over vectorised envs"),
    ("a2c", "A2CConfig", "A2C: synchronous advantage actor-critic, GAE, RMSprop"),
    ("reinforce", "REINFORCEConfig", "REINFORCE with a learned baseline on whole episodes"),
    ("trpo", "TRPOConfig", "TRPO: natural gradient by conjugate gradient, KL line search"),
    ("impala", "IMPALAConfig", "IMPALA: V-trace correction for actors lagging the learner"),
]:
    registry.register(
        registry.AgentEntry(
            name=_name,
            description=_description,
            action_spaces="discrete or continuous",
            package="rlkit.agents.on_policy",
            config=f"rlkit.agents.on_policy.config:{_config}",
            builder="rlkit.agents.on_policy.builder:OnPolicyBuilder",
            networks="rlkit.agents.on_policy.builder:make_networks",
            configs_dir=f"configs/{_name}",
            # Box actions in [-1, 1] for the Gaussian policy; a no-op on Discrete ones.
            env_recipe="continuous",
        )
    )

registry.register(
    registry.AgentEntry(
        name="acer",
        description="ACER: Retrace Q-critic, truncated IS with bias correction, trust region",
        action_spaces="discrete",
        package="rlkit.agents.on_policy",
        config="rlkit.agents.on_policy.config:ACERConfig",
        builder="rlkit.agents.on_policy.builder:OnPolicyBuilder",
        networks="rlkit.agents.on_policy.builder:make_networks",
        configs_dir="configs/acer",
    )
)

registry.register(
    registry.AgentEntry(
        name="a3c",
        description="A3C: workers' A2C gradients applied asynchronously by a parameter server",
        action_spaces="discrete or continuous",
        package="rlkit.agents.on_policy",
        config="rlkit.agents.on_policy.config:A3CConfig",
        builder="rlkit.agents.on_policy.a3c:A3CBuilder",
        networks="rlkit.agents.on_policy.builder:make_networks",
        configs_dir="configs/a3c",
        env_recipe="continuous",
    )
)

if TYPE_CHECKING:
    from rlkit.agents.on_policy import acer, acting, learning, networks
    from rlkit.agents.on_policy.a3c import A3CBuilder
    from rlkit.agents.on_policy.acer import ACERLearner
    from rlkit.agents.on_policy.acting import make_policy
    from rlkit.agents.on_policy.agent import (
        A2C,
        ACER,
        IMPALA,
        PPO,
        REINFORCE,
        TRPO,
        OnPolicyAgent,
    )
    from rlkit.agents.on_policy.builder import (
        VARIANTS,
        OnPolicyBuilder,
        OnPolicyVariant,
        RolloutSchedule,
        make_networks,
    )
    from rlkit.agents.on_policy.config import (
        A2CConfig,
        A3CConfig,
        ACERConfig,
        IMPALAConfig,
        OnPolicyConfig,
        PPOConfig,
        REINFORCEConfig,
        TRPOConfig,
    )
    from rlkit.agents.on_policy.learning import OnPolicyLearner, OnPolicyState
    from rlkit.agents.on_policy.networks import PolicyParams, PolicyValueNetworks

__all__ = [
    "A2C",
    "A3CBuilder",
    "A3CConfig",
    "ACER",
    "ACERConfig",
    "ACERLearner",
    "acer",
    "IMPALA",
    "PPO",
    "REINFORCE",
    "TRPO",
    "VARIANTS",
    "A2CConfig",
    "IMPALAConfig",
    "REINFORCEConfig",
    "TRPOConfig",
    "PolicyParams",
    "OnPolicyAgent",
    "OnPolicyBuilder",
    "OnPolicyVariant",
    "RolloutSchedule",
    "OnPolicyConfig",
    "OnPolicyLearner",
    "OnPolicyState",
    "PPOConfig",
    "PolicyValueNetworks",
    "acting",
    "learning",
    "make_networks",
    "make_policy",
    "networks",
]
