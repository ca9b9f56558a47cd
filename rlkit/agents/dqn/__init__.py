"""The DQN family on one learner: DQN (double, dueling, n-step, prioritised replay, noisy
nets), C51, QR-DQN, IQN, Munchausen DQN and Rainbow. A variant is a config, a network head
and a loss; see the README."""

from typing import TYPE_CHECKING

from rlkit import _lazy
from rlkit.agents import registry

# Imported on first use (see rlkit/_lazy.py): the registry reads the configs without JAX.
_EXPORTS = {
    "DQN": "rlkit.agents.dqn.agent",
    "C51": "rlkit.agents.dqn.agent",
    "QRDQN": "rlkit.agents.dqn.agent",
    "IQN": "rlkit.agents.dqn.agent",
    "MDQN": "rlkit.agents.dqn.agent",
    "Rainbow": "rlkit.agents.dqn.agent",
    "DQNBuilder": "rlkit.agents.dqn.builder",
    "DQNConfig": "rlkit.agents.dqn.config",
    "C51Config": "rlkit.agents.dqn.config",
    "QRDQNConfig": "rlkit.agents.dqn.config",
    "IQNConfig": "rlkit.agents.dqn.config",
    "MDQNConfig": "rlkit.agents.dqn.config",
    "RainbowConfig": "rlkit.agents.dqn.config",
    "DQNLearner": "rlkit.agents.dqn.learning",
    "TrainingState": "rlkit.agents.dqn.learning",
    "LearnerBatch": "rlkit.agents.dqn.learning",
    "LossExtra": "rlkit.agents.dqn.learning",
    "make_update": "rlkit.agents.dqn.learning",
    "make_epsilon_greedy_policy": "rlkit.agents.dqn.acting",
    "ValueNetworks": "rlkit.agents.dqn.networks",
    "ValueOutput": "rlkit.agents.dqn.networks",
    "make_networks": "rlkit.agents.dqn.builder",
    "VARIANTS": "rlkit.agents.dqn.builder",
    "DQNVariant": "rlkit.agents.dqn.builder",
}
_lazy.attach(__name__, _EXPORTS, submodules=("losses",), renamed={"SGDLearner": "DQNLearner"})

_COMMON = dict(
    action_spaces="discrete",
    package="rlkit.agents.dqn",
    builder="rlkit.agents.dqn.builder:DQNBuilder",
    networks="rlkit.agents.dqn.builder:make_networks",
    value_function="rlkit.agents.dqn.networks:q_values",
)
for _name, _config, _description in [
    (
        "dqn",
        "DQNConfig",
        "DQN: double Q, dueling, n-step, prioritised replay, noisy nets (switches)",
    ),
    ("c51", "C51Config", "C51: categorical distributional DQN with double Q"),
    ("qrdqn", "QRDQNConfig", "QR-DQN: quantile regression DQN"),
    ("iqn", "IQNConfig", "IQN: implicit quantile networks"),
    ("mdqn", "MDQNConfig", "Munchausen DQN: soft targets plus a scaled log-policy bonus"),
    ("rainbow", "RainbowConfig", "Rainbow: C51 + dueling + noisy + n-step + prioritised replay"),
]:
    registry.register(
        registry.AgentEntry(
            name=_name,
            description=_description,
            config=f"rlkit.agents.dqn.config:{_config}",
            configs_dir=f"configs/{_name}",
            **_COMMON,
        )
    )

if TYPE_CHECKING:
    from rlkit.agents.dqn import losses
    from rlkit.agents.dqn.acting import make_epsilon_greedy_policy
    from rlkit.agents.dqn.agent import C51, DQN, IQN, MDQN, QRDQN, Rainbow
    from rlkit.agents.dqn.builder import VARIANTS, DQNBuilder, DQNVariant, make_networks
    from rlkit.agents.dqn.config import (
        C51Config,
        DQNConfig,
        IQNConfig,
        MDQNConfig,
        QRDQNConfig,
        RainbowConfig,
    )
    from rlkit.agents.dqn.learning import (
        DQNLearner,
        LearnerBatch,
        LossExtra,
        TrainingState,
        make_update,
    )
    from rlkit.agents.dqn.networks import ValueNetworks, ValueOutput

__all__ = [
    "C51",
    "DQN",
    "IQN",
    "MDQN",
    "QRDQN",
    "VARIANTS",
    "C51Config",
    "DQNBuilder",
    "DQNVariant",
    "DQNConfig",
    "IQNConfig",
    "LearnerBatch",
    "LossExtra",
    "MDQNConfig",
    "QRDQNConfig",
    "Rainbow",
    "RainbowConfig",
    "DQNLearner",
    "TrainingState",
    "ValueNetworks",
    "ValueOutput",
    "losses",
    "make_epsilon_greedy_policy",
    "make_networks",
    "make_update",
]
