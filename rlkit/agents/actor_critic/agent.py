"""Ready-to-run single-process actor-critic agents (replay tables in this process)."""

from __future__ import annotations

from typing import ClassVar

from rlkit import local_layout, loggers, specs
from rlkit.agents.actor_critic import config as config_lib
from rlkit.agents.actor_critic import networks as ac_networks
from rlkit.agents.actor_critic.builder import ActorCriticBuilder
from rlkit.utils import counting


class ActorCritic(local_layout.LocalLayout):
    """An actor-critic agent that learns while it acts:
    `EnvironmentLoop(env, SAC(spec)).run(num_steps=...)`, where `env` acts in [-1, 1]
    (`rlkit.make_environment(id, recipe="continuous")` or `CanonicalSpecWrapper`).

    `LocalLayout` over `ActorCriticBuilder`; any agent's config works here
    (`ActorCritic(spec, TD3Config())`); `DDPG`, `TD3`, `SAC` and `D4PG` are this class with
    their own default config. `make_evaluation_actor()` acts with the noise-free policy.
    """

    config_class: ClassVar[type[config_lib.ActorCriticConfig]] = config_lib.SACConfig

    def __init__(
        self,
        environment_spec: specs.EnvironmentSpec,
        config: config_lib.ActorCriticConfig | None = None,
        seed: int = 0,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        learn_in_background: bool = True,
        **layout_kwargs,
    ):
        config = config if config is not None else self.config_class()
        if not isinstance(config, config_lib.ActorCriticConfig):
            raise TypeError(
                "config must be a DDPGConfig, TD3Config, SACConfig or D4PGConfig, got "
                f"{type(config).__name__}."
            )
        self.config = config
        super().__init__(
            ActorCriticBuilder(config, block_inserts=False),
            environment_spec,
            ac_networks.make_networks(environment_spec, config),
            seed=seed,
            counter=counter,
            logger=logger,
            learn_in_background=learn_in_background,
            **layout_kwargs,
        )


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
