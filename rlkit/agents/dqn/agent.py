"""Ready-to-run single-process agents of the DQN family (replay tables in this process)."""

from __future__ import annotations

from rlkit.agents.dqn import config as config_lib
from rlkit.agents.dqn.builder import DQNBuilder, make_networks
from rlkit.layouts.local import ConfiguredAgent


class DQN(ConfiguredAgent):
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

    family_config = config_lib.DQNConfig
    config_class = config_lib.DQNConfig
    builder_class = DQNBuilder
    make_networks = staticmethod(make_networks)


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
