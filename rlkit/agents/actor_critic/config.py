"""Configurations of the continuous-control actor-critic agents: DDPG, TD3, SAC and D4PG.

`ActorCriticConfig` holds what all four share (networks, optimisers, discount, Polyak
targets, warm-up acting, and the replay fields of `ReplayConfig`); each agent's config adds
its own. Configs are plain data: `ActorCriticBuilder`'s `VARIANTS` table says which SGD
step, policy head and critic each config class gets. Defaults
follow Stable-Baselines3 / RL-Zoo (batch 256, one update per environment step, tau 0.005).
Importing this module does not import JAX.
"""

from __future__ import annotations

import dataclasses

from rlkit import configs
from rlkit.agents.replay_config import ReplayConfig


@dataclasses.dataclass
class ActorCriticConfig(ReplayConfig):
    """Hyperparameters every actor-critic agent here shares.

    Replay ratio: `samples_per_insert / batch_size` gradient updates per environment step
    (256 / 256 = 1, as SB3's `train_freq=1, gradient_steps=1`), run `num_sgd_steps_per_step`
    at a time in one jitted call. Actions are in [-1, 1] (the "continuous" environment
    recipe rescales them to the environment's bounds). For the first `random_action_steps`
    actor steps the actor acts uniformly at random, as SB3 does before `learning_starts`.
    """

    batch_size: int = 256
    min_replay_size: int = 1_000
    max_replay_size: int = 1_000_000
    samples_per_insert: float = 256.0
    transitions_per_item: int = 16
    num_sgd_steps_per_step: int = 8
    # Networks: MLPs over the flattened observation (the critic's also takes the action).
    policy_hidden_sizes: tuple[int, ...] = (256, 256)
    critic_hidden_sizes: tuple[int, ...] = (256, 256)
    policy_learning_rate: float = 3e-4
    critic_learning_rate: float = 3e-4
    max_gradient_norm: float = 0.0  # > 0: clip each network's gradient to this global norm.
    discount: float = 0.99
    n_step: int = 1
    # Target networks move this fraction of the way to the online ones after each update.
    target_update_rate: float = 0.005
    random_action_steps: int = 1_000

    def __post_init__(self):
        self.policy_hidden_sizes = tuple(self.policy_hidden_sizes)
        self.critic_hidden_sizes = tuple(self.critic_hidden_sizes)
        super().__post_init__()
        configs.check_positive(
            self, ("policy_learning_rate", "critic_learning_rate", "n_step", "target_update_rate")
        )
        configs.check_unit_interval(self, ("discount", "target_update_rate"))
        configs.require(self.max_gradient_norm >= 0, self, "max_gradient_norm must be >= 0.")
        configs.require(self.random_action_steps >= 0, self, "random_action_steps must be >= 0.")
        for name in ("policy_hidden_sizes", "critic_hidden_sizes"):
            sizes = getattr(self, name)
            configs.require(
                all(size > 0 for size in sizes), self, f"{name} must be positive: {sizes}"
            )


@dataclasses.dataclass
class DDPGConfig(ActorCriticConfig):
    """DDPG (Lillicrap et al. 2015): a deterministic policy, one critic, Polyak targets.

    Exploration adds noise to the policy's action, clipped to [-1, 1]: "gaussian" with
    standard deviation `exploration_noise_std`, or "ou", an Ornstein-Uhlenbeck process
    (`dx = theta (0 - x) dt + std sqrt(dt) N(0, 1)`, as SB3's), which carries over between
    steps. Defaults are SB3's DDPG; the shipped YAMLs are RL-Zoo's per environment.
    """

    policy_learning_rate: float = 1e-3
    critic_learning_rate: float = 1e-3
    exploration_noise: str = "gaussian"
    exploration_noise_std: float = 0.1
    ou_theta: float = 0.15
    ou_dt: float = 1e-2

    def __post_init__(self):
        super().__post_init__()
        configs.require(
            self.exploration_noise in ("gaussian", "ou"),
            self,
            f"exploration_noise must be 'gaussian' or 'ou', got {self.exploration_noise!r}.",
        )
        configs.require(
            self.exploration_noise_std >= 0, self, "exploration_noise_std must be >= 0."
        )
        configs.check_positive(self, ("ou_theta", "ou_dt"))


@dataclasses.dataclass
class TD3Config(DDPGConfig):
    """TD3 (Fujimoto et al. 2018): DDPG with twin critics (the smaller target), target
    policy smoothing (clipped Gaussian noise on the target action) and the actor and
    targets updated every `policy_delay` critic updates."""

    policy_delay: int = 2
    target_noise: float = 0.2
    target_noise_clip: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        configs.check_positive(self, ("policy_delay",))
        configs.require(
            self.target_noise >= 0 and self.target_noise_clip >= 0,
            self,
            "target_noise and target_noise_clip must be >= 0.",
        )


@dataclasses.dataclass
class SACConfig(ActorCriticConfig):
    """SAC (Haarnoja et al. 2018, 2019): a tanh-squashed Gaussian policy, twin critics and
    an entropy bonus whose coefficient (the temperature alpha) is tuned toward a target
    entropy of `target_entropy_per_dimension * |A|` (-|A| by default), or kept fixed at
    `initial_temperature` with `learn_temperature=false`. Defaults are SB3's SAC.
    """

    temperature_learning_rate: float = 3e-4
    initial_temperature: float = 1.0
    learn_temperature: bool = True
    target_entropy_per_dimension: float = -1.0
    # The Gaussian's log standard deviation is clipped to this range (SB3's).
    log_std_min: float = -20.0
    log_std_max: float = 2.0

    def __post_init__(self):
        super().__post_init__()
        configs.check_positive(self, ("temperature_learning_rate", "initial_temperature"))
        configs.require(
            self.log_std_min < self.log_std_max, self, "log_std_min must be below log_std_max."
        )


@dataclasses.dataclass
class D4PGConfig(DDPGConfig):
    """D4PG (Barth-Maron et al. 2018): DDPG with a categorical return distribution on
    `num_atoms` evenly spaced atoms in [v_min, v_max] (C51's projection), n-step returns and
    optional prioritised replay (priority: the transition's critic loss). Defaults follow
    Acme's D4PG (5-step returns, Gaussian noise 0.3) with SB3's batch and replay ratio; the
    support must cover the environment's discounted returns.
    """

    n_step: int = 5
    exploration_noise_std: float = 0.3
    num_atoms: int = 51
    v_min: float = -150.0
    v_max: float = 150.0

    def __post_init__(self):
        super().__post_init__()
        configs.check_positive(self, ("num_atoms",))
        configs.require(self.num_atoms >= 2, self, "num_atoms must be >= 2.")
        configs.require(self.v_min < self.v_max, self, "v_min must be below v_max.")
