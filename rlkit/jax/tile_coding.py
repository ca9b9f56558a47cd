"""Tile coding: Sutton's tiles3 (the reference, in Python) and a jittable coder of the same tiles.

Tile coding (Sutton & Barto 2018, section 9.5.4) turns a continuous point into the indices
of the one tile it falls in on each of `num_tilings` overlapping grids. tiles3
(http://incompleteideas.net/tiles/tiles3.html) scales each float so that one unit is one
tile width, offsets tiling `t` along dimension `d` by `t * (1 + 2d) / num_tilings` of a tile
(asymmetric offsets, which tile more evenly than a uniform diagonal shift), appends integer
coordinates (e.g. an action) and hashes each tiling's coordinates to an index:

    qfloats = [floor(f * n) for f in floats]
    for tiling t: coords = [t] + [(q + t * (1 + 2d)) // n for d, q in enumerate(qfloats)] + ints

`IHT` and `tiles` here are that reference, line for line (`IHT` hands out indices in order of
first use, and when full falls back to `hash(coords) % size`). `TileCoder` computes the very
same coordinates in JAX, jittable and vmappable, and turns them into indices without a
Python dictionary: by mixed radix when the scaled box fits `size` (no two tiles share an
index, as with an IHT that never fills), else by a fixed integer hash mod `size`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class IHT:
    """tiles3's index hash table: coordinates -> the next free index, up to `size` of them."""

    def __init__(self, size: int):
        self.size = size
        self.overfull_count = 0
        self.dictionary: dict[tuple[int, ...], int] = {}

    def count(self) -> int:
        return len(self.dictionary)

    def full(self) -> bool:
        return len(self.dictionary) >= self.size

    def get_index(self, obj: tuple[int, ...], read_only: bool = False) -> int | None:
        """The index of `obj`: its own while there is room, then `hash(obj) % size`."""
        if obj in self.dictionary:
            return self.dictionary[obj]
        if read_only:
            return None
        count = self.count()
        if count >= self.size:
            self.overfull_count += 1  # tiles3 prints a warning the first time; we count.
            return hash(obj) % self.size
        self.dictionary[obj] = count
        return count


def hash_coords(coordinates: Sequence[int], m: IHT | int | None, read_only: bool = False) -> Any:
    """tiles3's `hashcoords`: an index from an `IHT`, `hash % m` for an int, else the
    coordinates themselves (m None)."""
    if isinstance(m, IHT):
        return m.get_index(tuple(coordinates), read_only)
    if isinstance(m, int):
        return hash(tuple(coordinates)) % m
    return list(coordinates)


def tiles(
    iht_or_size: IHT | int | None,
    num_tilings: int,
    floats: Sequence[float],
    ints: Sequence[int] = (),
    read_only: bool = False,
) -> list[Any]:
    """tiles3's `tiles`: one index (or, with `iht_or_size=None`, one coordinate list) per
    tiling for the point `floats` (already scaled: one unit is one tile width) and `ints`."""
    qfloats = [math.floor(f * num_tilings) for f in floats]
    result = []
    for tiling in range(num_tilings):
        coords = [tiling]
        b = tiling
        for q in qfloats:
            coords.append((q + b) // num_tilings)
            b += tiling * 2
        coords.extend(ints)
        result.append(hash_coords(coords, iht_or_size, read_only))
    return result


# MurmurHash3's 32-bit finaliser: every input bit reaches every output bit, so the index
# (the hash mod `size`) depends on all of the coordinates' bits, not only their low ones.
_HASH_SEED = np.uint32(0x9E3779B9)


def _mix32(h: jax.Array) -> jax.Array:
    h = h ^ (h >> 16)
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


class TileCoder:
    """tiles3's tiles of a float vector (and optional integer coordinates), in JAX.

    Args:
      num_tilings: the number of tilings (tiles3's `numtilings`; a power of two keeps the
        quantisation exact in float32).
      scales: per float dimension, what it is multiplied by before tiling, so that one unit
        is one tile width (MountainCar in the book: `8 / (0.5 + 1.2)` for the position, 8
        tiles across its range).
      size: the number of indices (tiles3's IHT size, e.g. 4096).
      low, high: the box the points come from (per dimension, before scaling), or
        None. With a finite box whose tiles (times `int_sizes`) number at most `size`, each
        tile gets an index of its own by mixed radix, and a point outside the box is coded
        as the nearest point of the box. Otherwise indices are a fixed 32-bit hash of the
        tiles3 coordinates (each mixed in with MurmurHash3's finaliser) mod `size`:
        different tiles may share one, as in an IHT once full.
      int_sizes: how many values each integer coordinate takes (e.g. the number of actions),
        for the mixed radix; integer coordinates are in `[0, int_size)`.

    `coordinates(x, ints)` gives tiles3's coordinates exactly (`tiles(None, ...)`'s, for the
    float32 values `x * scales`); `indices(x, ints)` their `num_tilings` indices in
    `[0, size)`. Both are pure JAX functions of one point: vmap them for a batch.
    """

    def __init__(
        self,
        num_tilings: int,
        scales: Sequence[float],
        size: int,
        low: Sequence[float] | None = None,
        high: Sequence[float] | None = None,
        int_sizes: Sequence[int] = (),
    ):
        if num_tilings < 1 or size < 1:
            raise ValueError(f"num_tilings and size must be positive, got {num_tilings}, {size}.")
        self.num_tilings = num_tilings
        self.scales = np.asarray(scales, np.float32).reshape(-1)
        self.size = size
        self.int_sizes = tuple(int(s) for s in int_sizes)
        dimensions = np.arange(self.scales.shape[0])
        # tiles3's offsets, in 1/num_tilings of a tile: tiling t, dimension d -> t * (1 + 2d).
        self.offsets = (np.arange(num_tilings)[:, None] * (1 + 2 * dimensions)[None, :]).astype(
            np.int32
        )
        self.coordinate_low, self.radix = self._mixed_radix(low, high)
        # The box points are clipped into (mixed radix only: a hash tiles any point).
        self.low = None if self.radix is None else np.asarray(low, np.float32).reshape(-1)
        self.high = None if self.radix is None else np.asarray(high, np.float32).reshape(-1)

    def _mixed_radix(self, low, high) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The smallest coordinate of each tiles3 coordinate and how many values each takes,
        if the box's tiles fit `size`; (None, None) for the hash."""
        if low is None or high is None:
            return None, None
        low = np.asarray(low, np.float32).reshape(-1)
        high = np.asarray(high, np.float32).reshape(-1)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            return None, None
        n = self.num_tilings
        # The same float32 arithmetic as `coordinates`, at the box's corners.
        q_low = np.floor(low * self.scales * np.float32(n)).astype(np.int64)
        q_high = np.floor(high * self.scales * np.float32(n)).astype(np.int64)
        float_low = (q_low + self.offsets.min(axis=0)) // n
        float_high = (q_high + self.offsets.max(axis=0)) // n
        coordinate_low = np.concatenate([[0], float_low, np.zeros(len(self.int_sizes))])
        radix = np.concatenate([[n], float_high - float_low + 1, self.int_sizes])
        if np.prod(radix.astype(np.float64)) > self.size:
            return None, None
        return coordinate_low.astype(np.int32), radix.astype(np.int32)

    @property
    def hashed(self) -> bool:
        """Whether indices are hashed (tiles may share one) rather than one per tile."""
        return self.radix is None

    def coordinates(self, x: jax.Array, ints: jax.Array | Sequence[int] = ()) -> jax.Array:
        """tiles3's coordinates of the point `x` [D] and `ints` [K]: [num_tilings, 1 + D + K]."""
        n = self.num_tilings
        floats = jnp.asarray(x, jnp.float32).reshape(-1) * self.scales
        quantised = jnp.floor(floats * n).astype(jnp.int32)
        tile = jnp.floor_divide(quantised[None, :] + self.offsets, n)
        tiling = jnp.arange(n, dtype=jnp.int32)[:, None]
        ints = jnp.asarray(ints, jnp.int32).reshape(-1)
        ints = jnp.broadcast_to(ints[None, :], (n, ints.shape[0]))
        return jnp.concatenate([tiling, tile, ints], axis=1)

    def indices(self, x: jax.Array, ints: jax.Array | Sequence[int] = ()) -> jax.Array:
        """The index of the tile `x` (and `ints`) falls in on each tiling: [num_tilings] int32."""
        if self.radix is not None:
            # A point outside the box is coded as the nearest point of the box.
            x = jnp.clip(jnp.asarray(x, jnp.float32).reshape(-1), self.low, self.high)
        coordinates = self.coordinates(x, ints)
        if self.radix is not None:
            if coordinates.shape[1] != self.radix.shape[0]:
                raise ValueError(
                    f"Expected {len(self.int_sizes)} integer coordinates (int_sizes), got "
                    f"{coordinates.shape[1] - self.radix.shape[0] + len(self.int_sizes)}."
                )
            # Clipped again: float rounding at the box's edge cannot leave the grid.
            digits = jnp.clip(coordinates - self.coordinate_low, 0, self.radix - 1)
            index = jnp.zeros(self.num_tilings, jnp.int32)
            for position, base in enumerate(self.radix):
                index = index * int(base) + digits[:, position]
            return index
        hashed = jnp.full(self.num_tilings, _HASH_SEED, jnp.uint32)
        for position in range(coordinates.shape[1]):
            hashed = _mix32(hashed ^ coordinates[:, position].astype(jnp.uint32))
        return (hashed % np.uint32(self.size)).astype(jnp.int32)
