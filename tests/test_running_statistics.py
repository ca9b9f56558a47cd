"""Running statistics: batches folded in one at a time give the statistics of all samples;
weights leave samples out; normalisation clips and leaves integer leaves alone."""

import jax.numpy as jnp
import numpy as np

from rlkit.jax import running_statistics


def test_batches_folded_one_at_a_time_give_the_statistics_of_all_samples():
    rng = np.random.default_rng(0)
    samples = {"position": rng.normal(3.0, 2.0, (100, 3)), "speed": rng.normal(-1.0, 0.1, (100,))}
    like = {"position": jnp.zeros(3), "speed": jnp.zeros(())}
    state = running_statistics.init_state(like)
    for start, stop in [(0, 1), (1, 37), (37, 38), (38, 100)]:
        batch = {name: jnp.asarray(value[start:stop]) for name, value in samples.items()}
        state = running_statistics.update(state, batch)
    assert float(state.count) == 100
    for name, value in samples.items():
        np.testing.assert_allclose(state.mean[name], value.mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(state.variance[name], value.var(axis=0), rtol=1e-4)


def test_leading_batch_axes_and_weights():
    samples = np.arange(12.0).reshape(2, 3, 2)  # [N, T, feature]
    weights = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    state = running_statistics.update(
        running_statistics.init_state(jnp.zeros(2)), jnp.asarray(samples), jnp.asarray(weights)
    )
    kept = samples[weights.astype(bool)]
    assert float(state.count) == 4
    np.testing.assert_allclose(state.mean, kept.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(state.variance, kept.var(axis=0), rtol=1e-6)


def test_no_samples_leave_the_prior_and_an_empty_batch_changes_nothing():
    state = running_statistics.init_state(jnp.zeros(2))
    np.testing.assert_array_equal(state.variance, [1.0, 1.0])
    empty = running_statistics.update(state, jnp.ones((3, 2)), jnp.zeros(3))
    np.testing.assert_array_equal(empty.mean, state.mean)
    np.testing.assert_array_equal(empty.variance, state.variance)
    assert float(empty.count) == 0


def test_normalize_clips_float_leaves_and_passes_integer_ones():
    state = running_statistics.RunningStatistics(
        jnp.asarray(10.0),
        {"x": jnp.array([1.0, 2.0]), "pixels": jnp.zeros(2)},
        {"x": jnp.array([4.0, 0.25]), "pixels": jnp.ones(2)},
    )
    batch = {"x": jnp.array([[3.0, 2.5], [1.0, 100.0]]), "pixels": jnp.array([[7, 9], [1, 2]])}
    normalized = running_statistics.normalize(state, batch, clip=5.0, epsilon=0.0)
    np.testing.assert_allclose(normalized["x"], [[1.0, 1.0], [0.0, 5.0]])
    np.testing.assert_array_equal(normalized["pixels"], batch["pixels"])
    assert normalized["pixels"].dtype == batch["pixels"].dtype
    scaled = running_statistics.scale(
        running_statistics.RunningStatistics(jnp.asarray(3.0), jnp.asarray(0.0), jnp.asarray(4.0)),
        jnp.array([1.0, -40.0]),
        clip=10.0,
        epsilon=0.0,
    )
    np.testing.assert_allclose(scaled, [0.5, -10.0])
