"""Configurations of linear learning with eligibility traces over tile-coded features.

`TDLambdaConfig` predicts a fixed policy's state values (true online TD(λ) and its
accumulating and replacing relatives); `SarsaLambdaConfig` adds what control needs: it
learns action values and acts ε-greedily on them (true online Sarsa(λ), Sutton & Barto 2018
ch. 12). Defaults are the book's Mountain Car setting (8 tilings of 8 x 8 tiles, an index
table of 4096, λ = 0.92, α = 1.2 / 8, γ = 1, ε = 0). Importing this module does not import
JAX (the registry reads the config classes to list agents and check command lines).
"""

from __future__ import annotations

import dataclasses

from rlkit import configs

TRACES = ("dutch", "accumulating", "replacing")


def _floats(values) -> tuple:
    """`values` as a tuple, integers as floats (`[-1, 0]` is a valid pair of bounds)."""
    return tuple(float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in values)


@dataclasses.dataclass
class TDLambdaConfig:
    """Hyperparameters of true online TD(λ) on tile-coded features (prediction).

    Tile coding (Sutton's tiles3): `num_tilings` grids of `tiles_per_dimension` tiles across
    each observation dimension's range (`observation_low` to `observation_high`; empty: the
    observation spec's bounds), offset asymmetrically, hashed into `iht_size` weights (one
    weight per tile when the grids fit, see `rlkit.jax.tile_coding.TileCoder`).

    Learning: `trace` is "dutch" (true online TD(λ) / Sarsa(λ)), "accumulating" or
    "replacing" (the binary-feature traces of S&B p. 305); `lambda_` the trace decay;
    `step_size` the book's α times the number of tilings (the x axis of its figures): each
    of the `num_tilings` active weights moves by `step_size / num_tilings` of the TD error.
    `discount` is γ, multiplied by the environment's discount (0 at a terminal step, 1 at a
    time-limit truncation, which is bootstrapped).
    """

    # Tile coding (tiles3): how many overlapping grids (tilings), each offset asymmetrically.
    num_tilings: int = 8
    tiles_per_dimension: int = 8  # Tiles across each dimension's range, per tiling.
    # The range the tiles span, per observation dimension; empty: the observation spec's
    # bounds (required where they are infinite).
    observation_low: tuple[float, ...] = ()
    observation_high: tuple[float, ...] = ()
    # Weights: one per tile when the grids fit (mixed radix), else tiles hashed into them.
    iht_size: int = 4096
    # Learning: "dutch" (true online), "accumulating" or "replacing" eligibility traces.
    trace: str = "dutch"
    lambda_: float = 0.92  # The trace decay λ.
    # α times num_tilings (the book's x axis): each active weight moves by
    # step_size / num_tilings per unit of TD error.
    step_size: float = 1.2
    discount: float = 1.0  # γ; times the environment's discount (0 at a terminal step).
    # One trace follows one stream of experience: one plain environment, never a batch.
    num_envs: int = 1
    replay_table_name: str = "trace_queue"  # The queue each transition passes through.

    def __post_init__(self):
        self.observation_low = _floats(self.observation_low)
        self.observation_high = _floats(self.observation_high)
        configs.check_types(self)
        configs.check_positive(
            self, ("num_tilings", "tiles_per_dimension", "iht_size", "step_size")
        )
        configs.check_unit_interval(self, ("lambda_", "discount"))
        configs.require(
            self.trace in TRACES,
            self,
            f"trace must be one of {', '.join(TRACES)}, got {self.trace!r}.",
        )
        configs.require(
            len(self.observation_low) == len(self.observation_high),
            self,
            "observation_low and observation_high must have one bound per observation "
            f"dimension each, got {len(self.observation_low)} and {len(self.observation_high)}.",
        )
        configs.require(
            all(
                lo < hi for lo, hi in zip(self.observation_low, self.observation_high, strict=True)
            ),
            self,
            "observation_low must be below observation_high in every dimension.",
        )
        configs.require(
            self.num_envs == 1,
            self,
            f"num_envs must be 1, got {self.num_envs}: an eligibility trace follows one stream "
            "of experience, step by step, so these agents act in one plain environment.",
        )

    @property
    def step_size_per_weight(self) -> float:
        """α: what each active weight moves by, per unit of TD error."""
        return self.step_size / self.num_tilings


@dataclasses.dataclass
class SarsaLambdaConfig(TDLambdaConfig):
    """Hyperparameters of true online Sarsa(λ) on tile-coded features (control).

    The `TDLambdaConfig` fields, on action values (the action is one more tiles3 integer
    coordinate), acting ε-greedily with `epsilon` (0: greedy; the weights start at 0, above
    Mountain Car's returns, which explores by itself) and evaluating with
    `evaluation_epsilon`. Defaults: Sutton & Barto's Mountain Car (Fig. 12.10's best
    region, λ = 0.92 and α = 1.2 / 8 with 8 tilings).
    """

    epsilon: float = 0.0  # Exploration while training (0: greedy, as in the book).
    evaluation_epsilon: float = 0.0  # Exploration while evaluating.

    def __post_init__(self):
        super().__post_init__()
        configs.check_unit_interval(self, ("epsilon", "evaluation_epsilon"))
