"""Continuous control on one actor-critic toolkit: DDPG, TD3, SAC (automatic entropy
tuning) and D4PG. An agent is a config, a policy head, a critic and an SGD step; replay,
acting, the learner and checkpoints are shared. See the README."""

from typing import TYPE_CHECKING

from rlkit import _lazy
from rlkit.agents import registry

# Imported on first use (see rlkit/_lazy.py): the registry reads the configs without JAX.
_EXPORTS = {
    "ActorCritic": "rlkit.agents.actor_critic.agent",
    "DDPG": "rlkit.agents.actor_critic.agent",
    "TD3": "rlkit.agents.actor_critic.agent",
    "SAC": "rlkit.agents.actor_critic.agent",
    "D4PG": "rlkit.agents.actor_critic.agent",
    "ActorCriticBuilder": "rlkit.agents.actor_critic.builder",
    "ActorCriticConfig": "rlkit.agents.actor_critic.config",
    "DDPGConfig": "rlkit.agents.actor_critic.config",
    "TD3Config": "rlkit.agents.actor_critic.config",
    "SACConfig": "rlkit.agents.actor_critic.config",
    "D4PGConfig": "rlkit.agents.actor_critic.config",
    "ActorCriticLearner": "rlkit.agents.actor_critic.learning",
    "ActorCriticState": "rlkit.agents.actor_critic.learning",
    "ActorCriticNetworks": "rlkit.agents.actor_critic.networks",
    "make_networks": "rlkit.agents.actor_critic.builder",
    "VARIANTS": "rlkit.agents.actor_critic.builder",
    "ActorCriticVariant": "rlkit.agents.actor_critic.builder",
    "make_policy": "rlkit.agents.actor_critic.acting",
}
_lazy.attach(__name__, _EXPORTS, submodules=("learning", "acting", "networks"))

for _name, _config, _description in [
    ("ddpg", "DDPGConfig", "DDPG: deterministic policy gradient, one critic"),
    ("td3", "TD3Config", "TD3: twin critics, target smoothing, delayed policy updates"),
    ("sac", "SACConfig", "SAC: maximum entropy, twin critics, automatic temperature"),
    ("d4pg", "D4PGConfig", "D4PG: categorical critic, n-step returns, optional PER"),
]:
    registry.register(
        registry.AgentEntry(
            name=_name,
            description=_description,
            action_spaces="continuous",
            package="rlkit.agents.actor_critic",
            config=f"rlkit.agents.actor_critic.config:{_config}",
            builder="rlkit.agents.actor_critic.builder:ActorCriticBuilder",
            networks="rlkit.agents.actor_critic.builder:make_networks",
            configs_dir=f"configs/{_name}",
            env_recipe="continuous",
        )
    )

if TYPE_CHECKING:
    from rlkit.agents.actor_critic import acting, learning, networks
    from rlkit.agents.actor_critic.acting import make_policy
    from rlkit.agents.actor_critic.agent import D4PG, DDPG, SAC, TD3, ActorCritic
    from rlkit.agents.actor_critic.builder import (
        VARIANTS,
        ActorCriticBuilder,
        ActorCriticVariant,
        make_networks,
    )
    from rlkit.agents.actor_critic.config import (
        ActorCriticConfig,
        D4PGConfig,
        DDPGConfig,
        SACConfig,
        TD3Config,
    )
    from rlkit.agents.actor_critic.learning import ActorCriticLearner, ActorCriticState
    from rlkit.agents.actor_critic.networks import ActorCriticNetworks

__all__ = [
    "D4PG",
    "DDPG",
    "SAC",
    "TD3",
    "VARIANTS",
    "ActorCritic",
    "ActorCriticBuilder",
    "ActorCriticVariant",
    "ActorCriticConfig",
    "ActorCriticLearner",
    "ActorCriticNetworks",
    "ActorCriticState",
    "D4PGConfig",
    "DDPGConfig",
    "SACConfig",
    "TD3Config",
    "acting",
    "learning",
    "make_networks",
    "make_policy",
    "networks",
]
