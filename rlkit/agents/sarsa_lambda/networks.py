"""Linear values over tile-coded features: `q(s, a) = sum of w over the tiles of (s, a)`.

The features of a point are binary, one active tile per tiling, so a value is a sum of
`num_tilings` weights and the feature vector is never built except for the trace updates
(`features`). The parameters are `{"weights": w}`, one weight per index of the tile coder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from rlkit import types
from rlkit.jax import tile_coding


@dataclasses.dataclass(frozen=True)
class TileCodedValues:
    """Linear state values (`num_actions` None) or action values over `coder`'s tiles.

    `init(key)` gives zero weights; `indices(observation, action)` the active tiles of one
    observation (and action); `features` the same as a dense 0/1 vector (counts, should a
    hash put two tilings' tiles on one index); `value` one value; `action_values` every
    action's at one observation; `q_values(params, observations [B, ...])` [B, A] for a
    batch, as the DQN family's networks give them (the ε-greedy policy acts on it);
    `state_values(params, observations)` [B].
    """

    coder: tile_coding.TileCoder
    num_actions: int | None = None

    @property
    def num_features(self) -> int:
        return self.coder.size

    def init(self, key: types.PRNGKey) -> types.Params:
        del key  # Zero weights: optimistic where every reward is negative (Mountain Car).
        return {"weights": jnp.zeros(self.coder.size, jnp.float32)}

    def indices(self, observation: jax.Array, action: jax.Array | None = None) -> jax.Array:
        ints = () if action is None else jnp.reshape(action, (1,))
        return self.coder.indices(observation, ints)

    def features(self, observation: jax.Array, action: jax.Array | None = None) -> jax.Array:
        active = self.indices(observation, action)
        return jnp.zeros(self.coder.size, jnp.float32).at[active].add(1.0)

    def value(
        self, params: types.Params, observation: jax.Array, action: jax.Array | None = None
    ) -> jax.Array:
        return jnp.sum(params["weights"][self.indices(observation, action)])

    def action_values(self, params: types.Params, observation: jax.Array) -> jax.Array:
        actions = jnp.arange(self.num_actions, dtype=jnp.int32)
        return jax.vmap(lambda a: self.value(params, observation, a))(actions)

    def q_values(
        self, params: types.Params, observations: jax.Array, key: types.PRNGKey | None = None
    ) -> jax.Array:
        del key  # Deterministic: no noise to draw.
        return jax.vmap(lambda o: self.action_values(params, o))(observations)

    def state_values(self, params: types.Params, observations: jax.Array) -> jax.Array:
        return jax.vmap(lambda o: self.value(params, o))(observations)


def value_function(networks: TileCodedValues) -> Callable[[types.Params, jax.Array], jax.Array]:
    """`(params, observations [B, ...]) -> action values [B, A]`, for value plots."""
    return networks.q_values
