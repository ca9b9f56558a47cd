"""DQN configuration. Defaults follow RL-Zoo's tuned DQN for CartPole-v1."""

from __future__ import annotations

import dataclasses
import math
import typing

from rlkit import errors


@dataclasses.dataclass
class DQNConfig:
    """Hyperparameters of DQN (double Q-learning, Huber loss, target network, n-step).

    Defaults are RL-Zoo's CartPole-v1 DQN (256x256 MLP, Adam 2.3e-3, batch 64, 0.5 updates
    per env step, target synced every 128 updates, epsilon 1 -> 0.04 over 8k steps) with
    double Q-learning and 3-step returns, which reached a greedy return of 475 sooner and
    more often than 1-step returns in our runs (see the agent's README).

    Replay ratio: each environment step adds one transition and the learner draws
    `samples_per_insert` transitions per transition added, i.e. `samples_per_insert /
    batch_size` gradient updates per environment step (32 / 64 = 0.5, as RL-Zoo's
    `train_freq=256, gradient_steps=128`).
    """

    # Network and optimiser.
    hidden_sizes: tuple[int, ...] = (256, 256)
    dueling: bool = False
    learning_rate: float = 2.3e-3
    adam_eps: float = 1e-8
    max_gradient_norm: float = 10.0
    # Loss.
    discount: float = 0.99
    n_step: int = 3
    huber_delta: float = 1.0
    target_update_period: int = 128  # In gradient updates (RL-Zoo: one sync per 128).
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
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise errors.ConfigError(
                    f"DQNConfig.{name} must be positive, got {getattr(self, name)!r}."
                )
        for name in ("discount", "epsilon_init", "epsilon_final", "evaluation_epsilon"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise errors.ConfigError(
                    f"DQNConfig.{name} must be in [0, 1], got {getattr(self, name)!r}."
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
