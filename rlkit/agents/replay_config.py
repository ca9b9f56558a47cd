"""`ReplayConfig`: the replay and learner-step fields every off-policy agent shares.

An off-policy agent's config subclasses it (`DQNConfig(ReplayConfig)`), so the table size,
warm-up, replay ratio, item layout and prioritisation are named, checked and turned into a
learning schedule the same way for every agent. Importing this module does not import JAX.
"""

from __future__ import annotations

import dataclasses
import math

from rlkit import configs


@dataclasses.dataclass
class ReplayConfig:
    """Replay table and learner-step hyperparameters of an off-policy agent.

    Each environment step adds one transition; the learner draws `samples_per_insert`
    transitions per transition added, `batch_size * num_sgd_steps_per_step` of them per
    learner step (one jitted call of `num_sgd_steps_per_step` SGD steps). A replay item
    holds `transitions_per_item` consecutive transitions.
    """

    batch_size: int = 64
    min_replay_size: int = 1_000
    max_replay_size: int = 100_000
    samples_per_insert: float = 32.0
    transitions_per_item: int = 16
    num_sgd_steps_per_step: int = 8
    variable_update_period: int = 1  # Actor pulls params every N learner steps.
    # Sub-environments acting together (`rlkit.make_vector_environment`, as SB3's n_envs);
    # 1: one plain environment. Every schedule stays counted in environment steps: the
    # exploration (DQN's epsilon decay, the actor-critics' random warm-up), the replay
    # warm-up and the replay ratio (so N sub-environments get N times the learner steps per
    # vector step).
    num_envs: int = 1
    replay_table_name: str = "priority_table"
    # Prioritised replay (Schaul et al. 2016): P(i) ~ priority^priority_exponent, importance
    # weights (N P(i))^-beta with beta annealed linearly to 1 over the given SGD steps.
    prioritized: bool = False
    priority_exponent: float = 0.6
    importance_sampling_exponent: float = 0.4
    importance_sampling_anneal_steps: int = 25_000

    def __post_init__(self):
        configs.check_types(self)
        configs.check_positive(
            self,
            (
                "batch_size",
                "min_replay_size",
                "max_replay_size",
                "samples_per_insert",
                "transitions_per_item",
                "num_sgd_steps_per_step",
                "variable_update_period",
                "num_envs",
                "importance_sampling_anneal_steps",
            ),
        )
        configs.check_unit_interval(self, ("priority_exponent", "importance_sampling_exponent"))
        configs.require(
            self.min_replay_size <= self.max_replay_size,
            self,
            f"min_replay_size ({self.min_replay_size}) exceeds max_replay_size "
            f"({self.max_replay_size}).",
        )
        configs.require(
            (self.batch_size * self.num_sgd_steps_per_step) % self.transitions_per_item == 0,
            self,
            "batch_size * num_sgd_steps_per_step "
            f"({self.batch_size * self.num_sgd_steps_per_step}) must be a multiple of "
            f"transitions_per_item ({self.transitions_per_item}): a learner step consumes "
            "whole replay items.",
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
