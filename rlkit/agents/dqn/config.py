"""Configurations of the DQN family: `DQNConfig` and one subclass per variant.

A config is plain data: its variant's head and loss are chosen by `DQNBuilder` (its
`VARIANTS` table); the learner, replay, acting and checkpoints are shared. Defaults follow
RL-Zoo's tuned DQN for CartPole-v1. Importing this module does not import JAX (the registry
reads the config classes to list agents and check command lines).
"""

from __future__ import annotations

import dataclasses

from rlkit import configs
from rlkit.agents.replay_config import ReplayConfig


@dataclasses.dataclass
class DQNConfig(ReplayConfig):
    """Hyperparameters of DQN (double Q-learning, Huber loss, target network, n-step).

    Defaults are RL-Zoo's CartPole-v1 DQN (256x256 MLP, batch 64, 0.5 updates per env step,
    target synced every 128 updates, epsilon 1 -> 0.04 over 8k steps) with double Q-learning,
    5-step returns and Adam at 6.3e-4 instead of RL-Zoo's 2.3e-3. At 2.3e-3 the greedy policy
    keeps swinging between ~50 and 500 after first solving the task (9 of 20 seeds ended at a
    greedy return >= 475, 17 of 20 at 6.3e-4); 5-step returns steadied it further than 3-step
    ones (36 of 40 runs over two stacks against 27 of 31; 1-step: 0 of 5). See the agent's
    README and `bench/dqn_seeds.py`.

    Replay ratio (the fields of `ReplayConfig`): each environment step adds one transition
    and the learner draws `samples_per_insert` transitions per transition added, i.e.
    `samples_per_insert / batch_size` gradient updates per environment step (32 / 64 = 0.5,
    as RL-Zoo's `train_freq=256, gradient_steps=128`).
    """

    # Network and optimiser. `torso`: "mlp" (observations flattened, discrete ones one-hot),
    # or for image observations "nature" (Mnih et al. 2015's convolutions) or "impala"
    # (Espeholt et al. 2018's residual ones); `hidden_sizes` are the head's layers after it.
    torso: str = "mlp"
    hidden_sizes: tuple[int, ...] = (256, 256)
    dueling: bool = False
    noisy: bool = False  # Factorised Gaussian noisy layers (Fortunato et al. 2018).
    noisy_sigma: float = 0.5
    learning_rate: float = 6.3e-4
    learning_rate_decay_steps: int = 0  # > 0: linear decay to 0 over this many SGD steps.
    adam_eps: float = 1e-8
    max_gradient_norm: float = 10.0
    # Loss.
    double_q: bool = True
    discount: float = 0.99
    n_step: int = 5
    huber_delta: float = 1.0
    target_update_period: int = 128  # In gradient updates (RL-Zoo: one sync per 128).
    # Each target update moves the target network this fraction of the way to the online
    # one: 1 copies it (DQN's hard sync); e.g. 0.005 with period 1 is Polyak averaging.
    target_update_rate: float = 1.0
    # Exploration (epsilon-greedy, linear decay over environment steps).
    epsilon_init: float = 1.0
    epsilon_final: float = 0.04
    epsilon_decay_steps: int = 8_000
    evaluation_epsilon: float = 0.0
    # Distributed runs only (Ape-X's exploration): with a base epsilon > 0, actor i of N
    # explores with the fixed epsilon base ** (1 + alpha * i / (N - 1)) instead of the decay
    # (Ape-X: 0.4 and 7); 0: every actor follows the decay, counted in the run's steps.
    distributed_epsilon: float = 0.0
    distributed_epsilon_alpha: float = 7.0
    # Replay: the `ReplayConfig` fields, and how observations are stored. "stacked": whole;
    # "shared": stacked-frame observations (Atari) store each frame once per replay item
    # (`rlkit.replay.frames`).
    frame_storage: str = "stacked"

    def __post_init__(self):
        self.hidden_sizes = tuple(self.hidden_sizes)
        super().__post_init__()  # Types of every field, and the replay fields' ranges.
        configs.check_positive(
            self,
            (
                "learning_rate",
                "adam_eps",
                "max_gradient_norm",
                "huber_delta",
                "n_step",
                "target_update_period",
                "target_update_rate",
                "noisy_sigma",
            ),
        )
        configs.check_unit_interval(
            self,
            (
                "discount",
                "epsilon_init",
                "epsilon_final",
                "evaluation_epsilon",
                "target_update_rate",
                "distributed_epsilon",
            ),
        )
        configs.require(
            self.distributed_epsilon_alpha >= 0, self, "distributed_epsilon_alpha must be >= 0."
        )
        configs.require(
            self.torso in ("mlp", "nature", "impala"),
            self,
            f"torso must be 'mlp', 'nature' or 'impala', got {self.torso!r}.",
        )
        configs.require(
            self.frame_storage in ("stacked", "shared"),
            self,
            f"frame_storage must be 'stacked' or 'shared', got {self.frame_storage!r}.",
        )
        configs.require(
            self.learning_rate_decay_steps >= 0,
            self,
            "learning_rate_decay_steps must be >= 0 (0: constant).",
        )
        configs.require(self.epsilon_decay_steps >= 0, self, "epsilon_decay_steps must be >= 0.")
        configs.require(
            all(size > 0 for size in self.hidden_sizes),
            self,
            f"hidden_sizes must be positive: {self.hidden_sizes}",
        )


@dataclasses.dataclass
class C51Config(DQNConfig):
    """C51 (Bellemare et al. 2017): a categorical return distribution on `num_atoms` evenly
    spaced values in [v_min, v_max], learnt by cross-entropy (with double Q by default).

    The support must cover the discounted returns: about +-10 for clipped Atari rewards,
    [0, 100] for CartPole (1 per step, discount 0.99).
    """

    num_atoms: int = 51
    v_min: float = -10.0
    v_max: float = 10.0
    n_step: int = 3  # What the distributional variants were measured with (their YAMLs).

    def __post_init__(self):
        super().__post_init__()
        configs.require(
            self.num_atoms >= 2, self, f"num_atoms must be at least 2, got {self.num_atoms}."
        )
        configs.require(
            self.v_min < self.v_max,
            self,
            f"v_min ({self.v_min}) must be below v_max ({self.v_max}): they bound the support.",
        )


@dataclasses.dataclass
class QRDQNConfig(DQNConfig):
    """QR-DQN (Dabney et al. 2018): `num_quantiles` return quantiles per action at fixed
    fractions, learnt with the quantile Huber loss; the next action is the target network's
    greedy one (`double_q=True` picks it with the online network)."""

    num_quantiles: int = 200
    double_q: bool = False
    n_step: int = 3

    def __post_init__(self):
        super().__post_init__()
        configs.require(
            self.num_quantiles >= 1,
            self,
            f"num_quantiles must be positive, got {self.num_quantiles}.",
        )


@dataclasses.dataclass
class IQNConfig(DQNConfig):
    """IQN (Dabney et al. 2018): quantiles at sampled fractions, each embedded with
    `quantile_embedding_dim` cosines. The loss uses `num_tau_samples` fractions for the
    prediction and `num_tau_prime_samples` for the target; acting averages
    `num_quantile_samples` (sampled while training, evenly spaced for greedy evaluation)."""

    num_tau_samples: int = 64
    num_tau_prime_samples: int = 64
    num_quantile_samples: int = 32
    quantile_embedding_dim: int = 64
    double_q: bool = False
    n_step: int = 3

    def __post_init__(self):
        super().__post_init__()
        for name in (
            "num_tau_samples",
            "num_tau_prime_samples",
            "num_quantile_samples",
            "quantile_embedding_dim",
        ):
            configs.require(getattr(self, name) >= 1, self, f"{name} must be positive.")
        configs.require(
            len(self.hidden_sizes) >= 1,
            self,
            "hidden_sizes needs at least one layer: the quantile embedding feeds the last.",
        )


@dataclasses.dataclass
class MDQNConfig(DQNConfig):
    """Munchausen DQN (Vieillard et al. 2020): soft (entropy-regularised, temperature
    `entropy_temperature`) bootstrapping plus `munchausen_coefficient` times the scaled
    log-policy of the taken action, clipped below at `clip_value_min`. No double Q: the
    target network's softmax policy is the target."""

    entropy_temperature: float = 0.03
    munchausen_coefficient: float = 0.9
    clip_value_min: float = -1.0
    double_q: bool = False
    n_step: int = 1

    def __post_init__(self):
        super().__post_init__()
        configs.require(
            not self.double_q,
            self,
            "double_q does not apply to Munchausen DQN (its target is the target network's "
            "softmax policy); leave it false.",
        )
        configs.require(self.entropy_temperature > 0, self, "entropy_temperature must be positive.")
        configs.require(
            0 <= self.munchausen_coefficient <= 1, self, "munchausen_coefficient must be in [0, 1]."
        )
        configs.require(self.clip_value_min < 0, self, "clip_value_min must be negative.")


@dataclasses.dataclass
class RainbowConfig(C51Config):
    """Rainbow (Hessel et al. 2018) as a configuration: C51 with double Q, dueling heads,
    noisy layers (which explore, so epsilon is 0), 3-step returns and prioritised replay
    (priority exponent 0.5, importance weights from 0.4 to 1)."""

    dueling: bool = True
    noisy: bool = True
    n_step: int = 3
    prioritized: bool = True
    priority_exponent: float = 0.5
    epsilon_init: float = 0.0
    epsilon_final: float = 0.0
    epsilon_decay_steps: int = 0
