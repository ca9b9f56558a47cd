"""DQN (Mnih et al. 2015) with double Q-learning (van Hasselt et al. 2016) and n-step returns."""

from typing import TYPE_CHECKING

from rlkit import _lazy

# Imported on first use (see rlkit/_lazy.py): the registry reads `DQNConfig` without JAX.
_EXPORTS = {
    "DQN": "rlkit.agents.dqn.agent",
    "DQNBuilder": "rlkit.agents.dqn.builder",
    "DQNConfig": "rlkit.agents.dqn.config",
    "DQNLearner": "rlkit.agents.dqn.learning",
    "TrainingState": "rlkit.agents.dqn.learning",
    "dqn_loss": "rlkit.agents.dqn.learning",
    "make_epsilon_greedy_policy": "rlkit.agents.dqn.acting",
    "make_networks": "rlkit.agents.dqn.networks",
    "make_update": "rlkit.agents.dqn.learning",
}
_lazy.attach(__name__, _EXPORTS)

if TYPE_CHECKING:
    from rlkit.agents.dqn.acting import make_epsilon_greedy_policy
    from rlkit.agents.dqn.agent import DQN
    from rlkit.agents.dqn.builder import DQNBuilder
    from rlkit.agents.dqn.config import DQNConfig
    from rlkit.agents.dqn.learning import DQNLearner, TrainingState, dqn_loss, make_update
    from rlkit.agents.dqn.networks import make_networks

__all__ = [
    "DQN",
    "DQNBuilder",
    "DQNConfig",
    "DQNLearner",
    "TrainingState",
    "dqn_loss",
    "make_epsilon_greedy_policy",
    "make_networks",
    "make_update",
]
