"""Tile coding: the tiles3 reference by hand, and the JAX coder against it (the same
coordinates, the same partition of the space into tiles)."""

import collections

import jax
import numpy as np
import pytest

from rlkit.jax import tile_coding
from rlkit.jax.tile_coding import IHT, TileCoder, tiles

# Sutton & Barto's Mountain Car: 8 tilings, 8 tiles across position [-1.2, 0.5] and
# velocity [-0.07, 0.07], three actions.
LOW, HIGH = np.array([-1.2, -0.07]), np.array([0.5, 0.07])
SCALES = 8 / (HIGH - LOW)


def mountain_car_coder(size: int = 4096) -> TileCoder:
    return TileCoder(8, SCALES, size, low=LOW, high=HIGH, int_sizes=(3,))


def random_points(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    points = rng.uniform(LOW, HIGH, size=(count, 2)).astype(np.float32)
    actions = rng.integers(0, 3, size=count)
    return points, actions


def test_tiles3_coordinates_by_hand():
    # floats [3.6, 7.21] with 8 tilings: quantised 28 and 57; tiling t offsets dimension d
    # by t * (1 + 2d) eighths of a tile.
    coordinates = tiles(None, 8, [3.6, 7.21], [2])
    assert coordinates[0] == [0, 28 // 8, 57 // 8, 2]
    assert coordinates[1] == [1, (28 + 1) // 8, (57 + 3) // 8, 2]
    assert coordinates[7] == [7, (28 + 7) // 8, (57 + 21) // 8, 2] == [7, 4, 9, 2]
    iht = IHT(4096)
    assert tiles(iht, 8, [3.6, 7.21]) == list(range(8))  # Indices in order of first use.
    assert tiles(iht, 8, [3.6, 7.21]) == list(range(8))
    assert iht.count() == 8


def test_a_full_iht_hashes_like_tiles3():
    iht = IHT(2)
    assert [iht.get_index((0,)), iht.get_index((1,))] == [0, 1]
    assert iht.full() and iht.get_index((5, 7)) == hash((5, 7)) % 2
    assert iht.overfull_count == 1 and iht.get_index((9,), read_only=True) is None


def test_the_jax_coordinates_are_tiles3_s():
    coder = mountain_car_coder()
    points, actions = random_points(500)
    coordinates = jax.jit(jax.vmap(coder.coordinates))(points, actions[:, None])
    for point, action, ours in zip(points, actions, np.asarray(coordinates), strict=True):
        # The float32 products the coder tiles (8 tilings: multiplying by 8 is exact).
        floats = [float(f) for f in point * SCALES.astype(np.float32)]
        assert ours.tolist() == tiles(None, 8, floats, [int(action)])


@pytest.mark.parametrize("size", [4096, 2**20])
def test_the_jax_indices_partition_the_space_as_tiles3_with_an_iht_does(size):
    """Two points share a tile on a tiling under the JAX coder exactly when tiles3's IHT
    gives them the same index there: the indices are a renaming of the IHT's."""
    coder = mountain_car_coder(size)
    assert not coder.hashed  # The 2640 tiles fit both sizes: one index each.
    points, actions = random_points(2000, seed=1)
    ours = np.asarray(jax.jit(jax.vmap(coder.indices))(points, actions[:, None]))
    iht = IHT(size)
    theirs = np.array(
        [tiles(iht, 8, [float(f) for f in p * SCALES.astype(np.float32)], [int(a)])
         for p, a in zip(points, actions, strict=True)]
    )  # fmt: skip
    assert iht.overfull_count == 0
    forward, backward = collections.defaultdict(set), collections.defaultdict(set)
    for mine, its in zip(ours.ravel(), theirs.ravel(), strict=True):
        forward[mine].add(its)
        backward[its].add(mine)
    assert all(len(v) == 1 for v in forward.values())
    assert all(len(v) == 1 for v in backward.values())
    assert ours.min() >= 0 and ours.max() < size


def test_the_mixed_radix_gives_every_tile_of_the_box_its_own_index():
    coder = mountain_car_coder()
    # 8 tilings x 10 position x 11 velocity coordinates x 3 actions.
    assert coder.radix.tolist() == [8, 10, 11, 3] and not coder.hashed
    corners = np.array([LOW, HIGH, [LOW[0], HIGH[1]], [HIGH[0], LOW[1]]], np.float32)
    indices = np.asarray(jax.vmap(lambda p: coder.indices(p, [2]))(corners))
    assert indices.min() >= 0 and indices.max() < 8 * 10 * 11 * 3
    # Outside the box: the edge tiles.
    beyond = np.asarray(coder.indices(np.array([0.6, 0.09], np.float32), [1]))
    np.testing.assert_array_equal(beyond, coder.indices(HIGH.astype(np.float32), [1]))
    with pytest.raises(ValueError, match="1 integer coordinates"):
        coder.indices(corners[0])


def test_without_a_box_or_room_the_indices_are_a_fixed_hash():
    unbounded = TileCoder(8, SCALES, 4096)
    small = TileCoder(8, SCALES, 1000, low=LOW, high=HIGH, int_sizes=(3,))  # 2640 tiles.
    assert unbounded.hashed and small.hashed
    points, actions = random_points(300, seed=2)
    for coder in (unbounded, small):
        indices = np.asarray(jax.vmap(coder.indices)(points, actions[:, None]))
        again = np.asarray(jax.vmap(coder.indices)(points, actions[:, None]))
        np.testing.assert_array_equal(indices, again)
        assert indices.min() >= 0 and indices.max() < coder.size
    # A large table: distinct tiles almost never share an index.
    wide = TileCoder(8, SCALES, 2**24)
    coordinates = np.asarray(jax.vmap(wide.coordinates)(points, actions[:, None]))
    indices = np.asarray(jax.vmap(wide.indices)(points, actions[:, None]))
    distinct_tiles = {tuple(c) for c in coordinates.reshape(-1, coordinates.shape[-1])}
    assert len(set(indices.ravel())) >= len(distinct_tiles) - 1
    assert tile_coding.TileCoder(8, [1.0], 16).offsets.tolist() == [[t] for t in range(8)]
