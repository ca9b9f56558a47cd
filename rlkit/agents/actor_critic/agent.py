"""Ready-to-run single-process actor-critic agents (replay tables in this process)."""

from __future__ import annotations

from rlkit.agents.actor_critic import config as config_lib
from rlkit.agents.actor_critic.builder import ActorCriticBuilder, make_networks
from rlkit.layouts.local import ConfiguredAgent


class ActorCritic(ConfiguredAgent):
    """An actor-critic agent that learns while it acts:
    `EnvironmentLoop(env, SAC(spec)).run(num_steps=...)`, where `env` acts in [-1, 1]
    (`rlkit.make_environment(id, recipe="continuous")` or `CanonicalSpecWrapper`).

    `LocalLayout` over `ActorCriticBuilder`; any agent's config works here
    (`ActorCritic(spec, TD3Config())`; another config raises `TypeError`); `DDPG`, `TD3`,
    `SAC` and `D4PG` are this class with their own default config.
    `make_evaluation_actor()` acts with the noise-free policy.
    """

    family_config = config_lib.ActorCriticConfig
    config_class = config_lib.SACConfig
    builder_class = ActorCriticBuilder
    make_networks = staticmethod(make_networks)


class DDPG(ActorCritic):
    """DDPG: deterministic policy gradient with one critic (see `DDPGConfig`)."""

    config_class = config_lib.DDPGConfig


class TD3(ActorCritic):
    """TD3: twin critics, target smoothing, delayed policy updates (see `TD3Config`)."""

    config_class = config_lib.TD3Config


class SAC(ActorCritic):
    """SAC: maximum-entropy actor-critic with a tuned temperature (see `SACConfig`)."""

    config_class = config_lib.SACConfig


class D4PG(ActorCritic):
    """D4PG: DDPG with a categorical critic and n-step returns (see `D4PGConfig`)."""

    config_class = config_lib.D4PGConfig
