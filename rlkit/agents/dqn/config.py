"""Configurations of the DQN family: `DQNConfig` and one subclass per variant.

A variant is a config (its hyperparameters), a network head (`make_head`) and a loss
(`make_loss`); the learner, replay, acting and checkpoints are shared. Defaults follow
RL-Zoo's tuned DQN for CartPole-v1. Importing this module does not import JAX (the registry
reads the config classes to list agents and check command lines).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from typing import Any, ClassVar

from rlkit import errors


@dataclasses.dataclass
class DQNConfig:
    """Hyperparameters of DQN (double Q-learning, Huber loss, target network, n-step).

    Defaults are RL-Zoo's CartPole-v1 DQN (256x256 MLP, batch 64, 0.5 updates per env step,
    target synced every 128 updates, epsilon 1 -> 0.04 over 8k steps) with double Q-learning,
    5-step returns and Adam at 6.3e-4 instead of RL-Zoo's 2.3e-3. At 2.3e-3 the greedy policy
    keeps swinging between ~50 and 500 after first solving the task (9 of 20 seeds ended at a
    greedy return >= 475, 17 of 20 at 6.3e-4); 5-step returns steadied it further than 3-step
    ones (36 of 40 runs over two stacks against 27 of 31; 1-step: 0 of 5). See the agent's
    README and `bench/dqn_seeds.py`.

    Replay ratio: each environment step adds one transition and the learner draws
    `samples_per_insert` transitions per transition added, i.e. `samples_per_insert /
    batch_size` gradient updates per environment step (32 / 64 = 0.5, as RL-Zoo's
    `train_freq=256, gradient_steps=128`).
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
    # Exploration (epsilon-greedy, linear decay over actor steps).
    epsilon_init: float = 1.0
    epsilon_final: float = 0.04
    epsilon_decay_steps: int = 8_000
    evaluation_epsilon: float = 0.0
    # Replay.
    batch_size: int = 64
    min_replay_size: int = 1_000
    max_replay_size: int = 100_000
    samples_per_insert: float = 32.0
    transitions_per_item: int = 16
    num_sgd_steps_per_step: int = 8
    variable_update_period: int = 1  # Actor pulls params every N learner steps.
    replay_table_name: str = "priority_table"
    # "stacked": store observations whole; "shared": stacked-frame observations (Atari)
    # store each frame once per replay item (`rlkit.replay.frames`).
    frame_storage: str = "stacked"
    # Prioritised replay (Schaul et al. 2016): P(i) ~ priority^priority_exponent, importance
    # weights (N P(i))^-beta with beta annealed linearly to 1 over the given SGD steps.
    prioritized: bool = False
    priority_exponent: float = 0.6
    importance_sampling_exponent: float = 0.4
    importance_sampling_anneal_steps: int = 25_000

    # Whether the network samples quantile fractions (IQN): acting then needs a key.
    samples_quantiles: ClassVar[bool] = False

    def __post_init__(self):
        self.hidden_sizes = tuple(self.hidden_sizes)
        validate_dataclass_types(self)
        positive = (
            "learning_rate",
            "adam_eps",
            "max_gradient_norm",
            "huber_delta",
            "batch_size",
            "n_step",
            "target_update_period",
            "min_replay_size",
            "max_replay_size",
            "samples_per_insert",
            "transitions_per_item",
            "num_sgd_steps_per_step",
            "variable_update_period",
            "noisy_sigma",
            "importance_sampling_anneal_steps",
            "target_update_rate",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise errors.ConfigError(
                    f"DQNConfig.{name} must be positive, got {getattr(self, name)!r}."
                )
        unit_interval = (
            "discount",
            "epsilon_init",
            "epsilon_final",
            "evaluation_epsilon",
            "priority_exponent",
            "importance_sampling_exponent",
            "target_update_rate",
        )
        for name in unit_interval:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise errors.ConfigError(
                    f"DQNConfig.{name} must be in [0, 1], got {getattr(self, name)!r}."
                )
        if self.torso not in ("mlp", "nature", "impala"):
            raise errors.ConfigError(
                f"{type(self).__name__}.torso must be 'mlp', 'nature' or 'impala', got "
                f"{self.torso!r}."
            )
        if self.frame_storage not in ("stacked", "shared"):
            raise errors.ConfigError(
                f"{type(self).__name__}.frame_storage must be 'stacked' or 'shared', got "
                f"{self.frame_storage!r}."
            )
        if self.learning_rate_decay_steps < 0:
            raise errors.ConfigError(
                f"{type(self).__name__}.learning_rate_decay_steps must be >= 0 (0: constant)."
            )
        if self.epsilon_decay_steps < 0:
            raise errors.ConfigError("DQNConfig.epsilon_decay_steps must be >= 0.")
        if any(size <= 0 for size in self.hidden_sizes):
            raise errors.ConfigError(
                f"DQNConfig.hidden_sizes must be positive: {self.hidden_sizes}"
            )
        if self.min_replay_size > self.max_replay_size:
            raise errors.ConfigError(
                f"DQNConfig.min_replay_size ({self.min_replay_size}) exceeds max_replay_size "
                f"({self.max_replay_size})."
            )
        if (self.batch_size * self.num_sgd_steps_per_step) % self.transitions_per_item:
            raise errors.ConfigError(
                "DQNConfig: batch_size * num_sgd_steps_per_step "
                f"({self.batch_size * self.num_sgd_steps_per_step}) must be a multiple of "
                f"transitions_per_item ({self.transitions_per_item}): a learner step consumes "
                "whole replay items."
            )

    def make_head(self, head: Any) -> Any:
        """`(features [B, D], **options) -> ValueOutput`: the network head (a `HeadConfig`
        says how many actions, which hidden layers, dueling, noisy)."""
        from rlkit.agents.dqn import networks

        return functools.partial(networks.q_head, config=head)

    def make_loss(self) -> Any:
        """The variant's `LossFn` (see `rlkit.agents.dqn.learning`)."""
        from rlkit.agents.dqn import losses

        return losses.q_learning_loss(self.huber_delta, self.double_q)

    def target_network_options(self) -> dict[str, Any]:
        """The head options of the loss's target-network pass at the next observations, so
        the learner can make that pass for a whole learner step at once."""
        return {}

    @property
    def items_per_learner_step(self) -> int:
        return self.batch_size * self.num_sgd_steps_per_step // self.transitions_per_item

    @property
    def observations_per_learner_step(self) -> float:
        """Environment steps between learner steps, from the replay ratio."""
        return self.batch_size * self.num_sgd_steps_per_step / self.samples_per_insert

    @property
    def min_replay_items(self) -> int:
        return max(1, math.ceil(self.min_replay_size / self.transitions_per_item))


def validate_dataclass_types(config) -> None:
    """Raises `ConfigError` for a field whose value does not match its annotated type."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        expected = hints[field.name]
        origin = typing.get_origin(expected)
        if origin is tuple:
            (item_type, *_) = typing.get_args(expected)
            ok = isinstance(value, tuple) and all(
                isinstance(v, item_type) and not isinstance(v, bool) for v in value
            )
        elif expected is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif expected is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, expected)
        if not ok:
            raise errors.ConfigError(
                f"{type(config).__name__}.{field.name} must be of type "
                f"{getattr(expected, '__name__', expected)}, got {value!r} "
                f"({type(value).__name__})."
            )


def _require(condition: bool, config: Any, message: str) -> None:
    if not condition:
        raise errors.ConfigError(f"{type(config).__name__}: {message}")


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
        _require(self.num_atoms >= 2, self, f"num_atoms must be at least 2, got {self.num_atoms}.")
        _require(
            self.v_min < self.v_max,
            self,
            f"v_min ({self.v_min}) must be below v_max ({self.v_max}): they bound the support.",
        )

    def make_head(self, head: Any) -> Any:
        from rlkit.agents.dqn import networks

        return functools.partial(
            networks.categorical_head,
            config=head,
            num_atoms=self.num_atoms,
            v_min=self.v_min,
            v_max=self.v_max,
        )

    def make_loss(self) -> Any:
        from rlkit.agents.dqn import losses

        return losses.categorical_loss(self.double_q)


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
        _require(
            self.num_quantiles >= 1,
            self,
            f"num_quantiles must be positive, got {self.num_quantiles}.",
        )

    def make_head(self, head: Any) -> Any:
        from rlkit.agents.dqn import networks

        return functools.partial(
            networks.quantile_head, config=head, num_quantiles=self.num_quantiles
        )

    def make_loss(self) -> Any:
        from rlkit.agents.dqn import losses

        return losses.quantile_loss(self.huber_delta, self.double_q)


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

    samples_quantiles: ClassVar[bool] = True

    def __post_init__(self):
        super().__post_init__()
        for name in (
            "num_tau_samples",
            "num_tau_prime_samples",
            "num_quantile_samples",
            "quantile_embedding_dim",
        ):
            _require(getattr(self, name) >= 1, self, f"{name} must be positive.")
        _require(
            len(self.hidden_sizes) >= 1,
            self,
            "hidden_sizes needs at least one layer: the quantile embedding feeds the last.",
        )

    def make_head(self, head: Any) -> Any:
        from rlkit.agents.dqn import networks

        return functools.partial(
            networks.implicit_quantile_head,
            config=head,
            num_quantiles=self.num_quantile_samples,
            embedding_dim=self.quantile_embedding_dim,
        )

    def target_network_options(self) -> dict[str, Any]:
        return {"num_quantiles": self.num_tau_prime_samples}

    def make_loss(self) -> Any:
        from rlkit.agents.dqn import losses

        return losses.quantile_loss(
            self.huber_delta,
            self.double_q,
            num_quantiles=self.num_tau_samples,
            num_target_quantiles=self.num_tau_prime_samples,
            num_selector_quantiles=self.num_quantile_samples,
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
        _require(
            not self.double_q,
            self,
            "double_q does not apply to Munchausen DQN (its target is the target network's "
            "softmax policy); leave it false.",
        )
        _require(self.entropy_temperature > 0, self, "entropy_temperature must be positive.")
        _require(
            0 <= self.munchausen_coefficient <= 1, self, "munchausen_coefficient must be in [0, 1]."
        )
        _require(self.clip_value_min < 0, self, "clip_value_min must be negative.")

    def make_loss(self) -> Any:
        from rlkit.agents.dqn import losses

        return losses.munchausen_loss(
            self.entropy_temperature,
            self.munchausen_coefficient,
            self.clip_value_min,
            self.huber_delta,
        )


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
