"""Ready-to-run single-process agents of the DQN family (replay tables in this process)."""

from __future__ import annotations

from typing import ClassVar

from rlkit import local_layout, loggers, specs
from rlkit.agents.dqn import config as config_lib
from rlkit.agents.dqn import networks as dqn_networks
from rlkit.agents.dqn.builder import DQNBuilder
from rlkit.utils import counting


class DQN(local_layout.LocalLayout):
    """DQN that learns while it acts: `EnvironmentLoop(env, DQN(spec)).run(num_steps=...)`.

    `LocalLayout` over `DQNBuilder`: the replay table lives in this process (the `local`
    backend by default; `replay_backend="reverb"` serves it from a Reverb server).
    `make_evaluation_actor()` returns a greedy actor that shares the learner's parameters and
    writes nothing to replay. Any variant's config works here (`DQN(spec, C51Config())`);
    `C51`, `QRDQN`, `IQN`, `MDQN` and `Rainbow` are this class with their own default config.

    By default learner steps run on a background thread while the actor acts on the
    parameters from before them (see `rlkit.Agent`); `learn_in_background=False` runs them
    inline.
    """

    config_class: ClassVar[type[config_lib.DQNConfig]] = config_lib.DQNConfig

    def __init__(
        self,
        environment_spec: specs.EnvironmentSpec,
        config: config_lib.DQNConfig | None = None,
        seed: int = 0,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        learn_in_background: bool = True,
        **layout_kwargs,
    ):
        config = config if config is not None else self.config_class()
        if not isinstance(config, config_lib.DQNConfig):
            raise TypeError(
                f"config must be a DQNConfig or a variant's config, got {type(config).__name__}."
            )
        self.config = config
        super().__init__(
            DQNBuilder(config, block_inserts=False),
            environment_spec,
            dqn_networks.make_networks(environment_spec, config),
            seed=seed,
            counter=counter,
            logger=logger,
            learn_in_background=learn_in_background,
            **layout_kwargs,
        )


class C51(DQN):
    """C51: categorical distributional DQN (see `C51Config`)."""

    config_class = config_lib.C51Config


class QRDQN(DQN):
    """QR-DQN: quantile regression DQN (see `QRDQNConfig`)."""

    config_class = config_lib.QRDQNConfig


class IQN(DQN):
    """IQN: implicit quantile networks (see `IQNConfig`)."""

    config_class = config_lib.IQNConfig


class MDQN(DQN):
    """Munchausen DQN (see `MDQNConfig`)."""

    config_class = config_lib.MDQNConfig


class Rainbow(DQN):
    """Rainbow: C51 + double Q + dueling + noisy nets + n-step + prioritised replay."""

    config_class = config_lib.RainbowConfig
