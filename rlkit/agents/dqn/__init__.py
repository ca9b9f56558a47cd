"""DQN (Mnih et al. 2015) with double Q-learning (van Hasselt et al. 2016) and n-step returns."""

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
