"""JAX environments (`rlkit.jax_environments`): the gymnax adapter keeps dm_env's contract.

The pure interface is checked as the Anakin layout uses it, under `jax.jit(jax.vmap(...))`;
the host adapter with dm_env's own conformance suite; gymnax's CartPole step for step against
gymnasium's.
"""

from __future__ import annotations

import subprocess
import sys

import dm_env
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from dm_env import specs

import rlkit
from rlkit import errors
from rlkit.jax_environments import (
    GYMNAX_ENVIRONMENTS,
    JaxEnvironmentWrapper,
    is_jax_environment_id,
    make_jax_environment,
)
from tests.dm_env_contract import contract_test_case

pytest.importorskip("gymnax")
# gymnax 0.0.9's MinAtar games write bools through float scatters: jax warns, gymnax's to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:scatter inputs have incompatible types:FutureWarning",
    "ignore:Explicitly requested dtype:UserWarning",
)

FIRST, MID, LAST = (int(step_type) for step_type in dm_env.StepType)

TestCartPoleContract = contract_test_case(
    lambda: JaxEnvironmentWrapper(make_jax_environment("gymnax:CartPole-v1"), seed=0)
)
TestPendulumContract = contract_test_case(  # Continuous actions; truncated after 200 steps.
    lambda: JaxEnvironmentWrapper(make_jax_environment("gymnax:Pendulum-v1"), seed=0)
)
TestMountainCarContinuousContract = contract_test_case(
    lambda: JaxEnvironmentWrapper(
        make_jax_environment("gymnax:MountainCarContinuous-v0", max_episode_steps=100), seed=0
    )
)
TestBreakoutMinAtarContract = contract_test_case(
    lambda: JaxEnvironmentWrapper(make_jax_environment("gymnax:Breakout-MinAtar"), seed=0)
)


def assert_specs_equal(actual, expected):
    assert type(actual) is type(expected), (actual, expected)
    assert actual.shape == expected.shape and actual.name == expected.name
    assert np.dtype(actual.dtype) == np.dtype(expected.dtype), (actual, expected)
    if isinstance(expected, specs.BoundedArray):
        np.testing.assert_array_equal(actual.minimum, expected.minimum)
        np.testing.assert_array_equal(actual.maximum, expected.maximum)
    if isinstance(expected, specs.DiscreteArray):
        assert actual.num_values == expected.num_values


def random_actions(spec, key, batch: int):
    """Actions within `spec` for `batch` environments, drawn in JAX."""
    if isinstance(spec, specs.DiscreteArray):
        return jax.random.randint(key, (batch,), 0, spec.num_values, jnp.int32)
    low = jnp.broadcast_to(spec.minimum, spec.shape)
    high = jnp.broadcast_to(spec.maximum, spec.shape)
    return jax.random.uniform(key, (batch, *spec.shape), jnp.float32, low, high)


def batched(env):
    """`env`'s reset and step, vmapped and jitted, as the Anakin layout calls them."""
    return jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(env.step))


def assert_matches_specs(env, timestep, batch: int):
    observation_spec = env.observation_spec()
    assert timestep.step_type.dtype == jnp.int8 and timestep.step_type.shape == (batch,)
    for value, spec in [
        (timestep.reward, env.reward_spec()),
        (timestep.discount, env.discount_spec()),
        (timestep.observation, observation_spec),
    ]:
        assert value.dtype == spec.dtype and value.shape == (batch, *spec.shape)


# ---------------------------------------------------------------------------------- specs


@pytest.mark.parametrize(
    "name",
    ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"],
)
def test_specs_are_those_of_the_gymnasium_environment(name):
    env = make_jax_environment(f"gymnax:{name}")
    host = rlkit.make_environment(name)
    assert env.id == f"gymnax:{name}"
    for method in ["observation_spec", "action_spec", "reward_spec", "discount_spec"]:
        assert_specs_equal(getattr(env, method)(), getattr(host, method)())
    default_limit = host.environment.environment.spec.max_episode_steps
    assert env.max_episode_steps == default_limit


@pytest.mark.parametrize("name", GYMNAX_ENVIRONMENTS)
def test_every_environment_steps_within_its_specs_under_jit_and_vmap(name):
    env = make_jax_environment(f"gymnax:{name}", max_episode_steps=20)
    reset, step = batched(env)
    states, timestep = reset(jax.random.split(jax.random.PRNGKey(0), 3))
    assert_matches_specs(env, timestep, 3)
    step_types = []
    for i in range(25):
        key_action, key_step = jax.random.split(jax.random.PRNGKey(i + 1))
        actions = random_actions(env.action_spec(), key_action, 3)
        states, timestep = step(states, actions, jax.random.split(key_step, 3))
        assert_matches_specs(env, timestep, 3)
        step_types.append(np.asarray(timestep.step_type))
    assert (np.stack(step_types) == LAST).any(axis=0).all()  # Every one ended within 20 steps.
    if isinstance(env.observation_spec(), specs.BoundedArray):
        observation = np.asarray(timestep.observation)
        assert (observation >= env.observation_spec().minimum).all()
        assert (observation <= env.observation_spec().maximum).all()


@pytest.mark.parametrize("name", ["CartPole-v1", "Breakout-MinAtar"])
def test_reset_and_step_give_states_of_identical_types(name):
    # A lax.scan carry must keep its types: reset's state must type-check as step's.
    env = make_jax_environment(f"gymnax:{name}")
    key = jax.random.PRNGKey(0)
    state, _ = jax.eval_shape(env.reset, key)
    stepped, _ = jax.eval_shape(env.step, state, env.action_spec().generate_value(), key)
    assert jax.tree.structure(state) == jax.tree.structure(stepped)
    for before, after in zip(jax.tree.leaves(state), jax.tree.leaves(stepped), strict=True):
        assert (before.shape, before.dtype, before.weak_type) == (
            after.shape,
            after.dtype,
            after.weak_type,
        )


# ----------------------------------------------------------------- the pure interface


def test_reset_gives_first_steps():
    env = make_jax_environment("gymnax:CartPole-v1")
    reset, _ = batched(env)
    _, timestep = reset(jax.random.split(jax.random.PRNGKey(0), 4))
    np.testing.assert_array_equal(timestep.step_type, np.full(4, FIRST, np.int8))
    np.testing.assert_array_equal(timestep.reward, np.zeros(4, np.float32))
    np.testing.assert_array_equal(timestep.discount, np.ones(4, np.float32))
    assert len({tuple(o) for o in np.asarray(timestep.observation)}) == 4  # Own keys each.


def test_termination_is_last_with_discount_zero_then_first():
    env = make_jax_environment("gymnax:CartPole-v1")
    reset, step = batched(env)
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    states, _ = reset(keys)
    push_right = jnp.ones(3, jnp.int32)  # The pole falls within a few dozen steps.
    timesteps = []
    for _ in range(100):
        states, timestep = step(states, push_right, keys)
        timesteps.append(jax.device_get(timestep))
    step_types = np.stack([ts.step_type for ts in timesteps])
    for i in range(3):
        end = int(np.argmax(step_types[:, i] == LAST))
        assert end > 0 and (step_types[:end, i] == MID).all()
        assert (timesteps[end].reward[i], timesteps[end].discount[i]) == (1.0, 0.0)
        restart = timesteps[end + 1]
        assert restart.step_type[i] == FIRST
        assert (restart.reward[i], restart.discount[i]) == (0.0, 1.0)


def test_truncation_is_last_with_discount_one_and_the_true_final_observation():
    env = make_jax_environment("gymnax:Pendulum-v1", max_episode_steps=5)
    gymnax_env, params = env.environment, env.environment.default_params
    step = jax.jit(env.step)
    state, _ = jax.jit(env.reset)(jax.random.PRNGKey(0))
    action = jnp.array([0.5], jnp.float32)
    for i in range(5):
        key = jax.random.PRNGKey(10 + i)
        before = state
        state, timestep = step(state, action, key)
        assert int(timestep.step_type) == (LAST if i == 4 else MID)
    assert float(timestep.discount) == 1.0
    # The observation gymnax's own dynamics give from the state before the last step.
    expected, *_ = gymnax_env.step_env(key, before.inner, action, params)
    np.testing.assert_allclose(timestep.observation, expected, rtol=1e-6)
    state, restart = step(state, action, jax.random.PRNGKey(99))
    assert int(restart.step_type) == FIRST
    assert not np.allclose(restart.observation, timestep.observation)


def test_the_step_after_last_is_reset_from_its_key_and_ignores_the_action():
    env = make_jax_environment("gymnax:CartPole-v1", max_episode_steps=3)
    step = jax.jit(env.step)
    state, _ = jax.jit(env.reset)(jax.random.PRNGKey(0))
    for i in range(3):
        state, timestep = step(state, jnp.int32(i % 2), jax.random.PRNGKey(i))
    assert int(timestep.step_type) == LAST and float(timestep.discount) == 1.0
    key = jax.random.PRNGKey(7)
    after_left = step(state, jnp.int32(0), key)
    after_right = step(state, jnp.int32(1), key)
    jax.tree.map(np.testing.assert_array_equal, after_left, after_right)
    _, restart = after_left
    assert (int(restart.step_type), float(restart.reward), float(restart.discount)) == (
        FIRST,
        0.0,
        1.0,
    )
    _, first = jax.jit(env.reset)(key)
    np.testing.assert_array_equal(restart.observation, first.observation)
    # The episode that starts there runs on: MID, and the time limit counts from zero.
    state, timestep = step(after_left[0], jnp.int32(0), jax.random.PRNGKey(8))
    assert int(timestep.step_type) == MID


def test_termination_wins_where_it_coincides_with_the_time_limit():
    key = jax.random.PRNGKey(3)
    env = make_jax_environment("gymnax:CartPole-v1")
    step = jax.jit(env.step)
    state, timestep = env.reset(key)
    length = 0
    while int(timestep.step_type) != LAST:  # Pushed right until the pole falls.
        state, timestep = step(state, jnp.int32(1), key)
        length += 1
    assert float(timestep.discount) == 0.0
    limited = make_jax_environment("gymnax:CartPole-v1", max_episode_steps=length)
    state, _ = limited.reset(key)
    for _ in range(length):
        state, timestep = jax.jit(limited.step)(state, jnp.int32(1), key)
    assert int(timestep.step_type) == LAST and float(timestep.discount) == 0.0


def test_sub_environments_under_vmap_run_as_they_would_alone():
    env = make_jax_environment("gymnax:CartPole-v1", max_episode_steps=25)
    reset, step = batched(env)
    single_reset, single_step = jax.jit(env.reset), jax.jit(env.step)
    batch, num_steps = 4, 80
    reset_keys = jax.random.split(jax.random.PRNGKey(0), batch)
    step_keys = jax.random.split(jax.random.PRNGKey(1), (num_steps, batch))
    actions = jax.random.randint(jax.random.PRNGKey(2), (num_steps, batch), 0, 2, jnp.int32)
    states, _ = reset(reset_keys)
    together = []
    for t in range(num_steps):
        states, timestep = step(states, actions[t], step_keys[t])
        together.append(timestep)
    step_types = np.stack([np.asarray(ts.step_type) for ts in together])
    # Episodes end at different times in different sub-environments.
    assert len({tuple(np.flatnonzero(step_types[:, i] == LAST)) for i in range(batch)}) > 1
    for i in range(batch):
        state, _ = single_reset(reset_keys[i])
        for t in range(num_steps):
            state, timestep = single_step(state, actions[t, i], step_keys[t, i])
            assert int(timestep.step_type) == step_types[t, i]
            assert float(timestep.reward) == float(together[t].reward[i])
            assert float(timestep.discount) == float(together[t].discount[i])
            np.testing.assert_allclose(
                timestep.observation, together[t].observation[i], rtol=1e-6, atol=1e-7
            )


def test_a_scan_carries_the_state():
    env = make_jax_environment("gymnax:Acrobot-v1", max_episode_steps=10)

    @jax.jit
    def run(key):
        states, _ = jax.vmap(env.reset)(jax.random.split(key, 2))

        def body(states, key):
            actions = random_actions(env.action_spec(), key, 2)
            return jax.vmap(env.step)(states, actions, jax.random.split(key, 2))

        return jax.lax.scan(body, states, jax.random.split(key, 22))[1]

    step_types = np.asarray(run(jax.random.PRNGKey(0)).step_type)
    expected = np.array(([MID] * 9 + [LAST, FIRST]) * 2)
    np.testing.assert_array_equal(step_types, np.stack([expected, expected], axis=1))


# ------------------------------------------------------------- gymnax against gymnasium


def test_cartpole_matches_gymnasium_step_for_step():
    limit = 20  # Short, so that truncations happen as well as terminations.
    env = make_jax_environment("gymnax:CartPole-v1", max_episode_steps=limit)
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    host = rlkit.make_environment("CartPole-v1", max_episode_steps=limit, seed=0)
    cartpole = host.environment.environment.unwrapped

    def sync(observation):  # gymnasium's state <- gymnax's (float32 -> float64).
        cartpole.state = np.asarray(observation, np.float64)

    state, timestep = reset(jax.random.PRNGKey(0))
    host.reset()
    sync(timestep.observation)
    rng = np.random.default_rng(0)
    ends = {0.0: 0, 1.0: 0}
    for t in range(400):
        action = np.int32(rng.integers(2))
        state, timestep = step(state, action, jax.random.PRNGKey(t))
        expected = host.step(action)
        assert int(timestep.step_type) == int(expected.step_type), t
        if expected.first():  # Both start a new episode: gymnasium's from gymnax's state.
            sync(timestep.observation)
            continue
        np.testing.assert_allclose(timestep.observation, expected.observation, 1e-4, 1e-5)
        assert float(timestep.reward) == float(expected.reward)
        assert float(timestep.discount) == float(expected.discount)
        if expected.last():
            ends[float(expected.discount)] += 1
    assert ends[0.0] > 3 and ends[1.0] > 3, ends  # Terminations and truncations both met.


# ----------------------------------------------------------------------- the host adapter


def test_host_adapter_gives_numpy_timesteps_as_host_environments_do():
    env = JaxEnvironmentWrapper(make_jax_environment("gymnax:CartPole-v1"), seed=0)
    host = rlkit.make_environment("CartPole-v1", seed=0)
    first, expected_first = env.reset(), host.reset()
    assert first.step_type is dm_env.StepType.FIRST and first.reward is None
    assert type(first.observation) is np.ndarray
    assert first.observation.dtype == expected_first.observation.dtype
    timestep, expected = env.step(np.int32(1)), host.step(np.int32(1))
    assert timestep.step_type is dm_env.StepType.MID
    for field in ["reward", "discount", "observation"]:
        value, expected_value = getattr(timestep, field), getattr(expected, field)
        assert type(value) is type(expected_value) and value.dtype == expected_value.dtype
        assert value.shape == expected_value.shape
    assert env.id == "gymnax:CartPole-v1"


def test_host_adapter_seeds_reproduce_episodes():
    def episode(env, **reset_kwargs):
        observations = [env.reset(**reset_kwargs).observation]
        observations += [env.step(np.int32(t % 2)).observation for t in range(10)]
        return np.stack(observations)

    make = lambda seed: JaxEnvironmentWrapper(  # noqa: E731
        make_jax_environment("gymnax:CartPole-v1"), seed=seed
    )
    np.testing.assert_array_equal(episode(make(3)), episode(make(3)))
    assert not np.array_equal(episode(make(3)), episode(make(4)))
    env = make(None)
    np.testing.assert_array_equal(episode(env, seed=5), episode(env, seed=5))


def test_host_adapter_steps_a_fresh_environment_into_a_reset():
    env = JaxEnvironmentWrapper(make_jax_environment("gymnax:CartPole-v1"), seed=0)
    assert env.step(np.int32(7)).first()  # Ignored, even outside the spec, as dm_env asks.
    assert env.step(np.int32(0)).mid()


@pytest.mark.parametrize(
    ("env_id", "action"),
    [
        ("gymnax:CartPole-v1", np.int32(2)),
        ("gymnax:CartPole-v1", np.float32(0.0)),
        ("gymnax:Pendulum-v1", np.array([3.0], np.float32)),
        ("gymnax:Pendulum-v1", np.float32(1.0)),  # Shape () where the spec says (1,).
        ("gymnax:Pendulum-v1", np.array([np.nan], np.float32)),
    ],
)
def test_host_adapter_rejects_actions_outside_the_spec(env_id, action):
    env = JaxEnvironmentWrapper(make_jax_environment(env_id), seed=0)
    env.reset()
    with pytest.raises(errors.InvalidActionError, match="action spec"):
        env.step(action)


# --------------------------------------------------------------------------- ids and errors


def test_ids_are_told_apart_without_importing_jax():
    code = (
        "import sys, rlkit.jax_environments as j; "
        "assert j.is_jax_environment_id('gymnax:CartPole-v1'); "
        "assert not j.is_jax_environment_id('CartPole-v1'); "
        "assert not j.is_jax_environment_id(None); "
        "assert 'jax' not in sys.modules and 'gymnax' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert is_jax_environment_id("gymnax:Breakout-MinAtar")


def test_unknown_ids_name_the_close_ones():
    with pytest.raises(errors.UnknownEnvironmentError, match="gymnax:CartPole-v1"):
        make_jax_environment("gymnax:CartPol-v1")
    with pytest.raises(errors.UnknownEnvironmentError, match="gymnax:Breakout-MinAtar"):
        make_jax_environment("gymnax:Seaquest-MinAtar")  # gymnax has it, broken.
    with pytest.raises(errors.UnknownEnvironmentError, match="rlkit.make_environment"):
        make_jax_environment("CartPole-v1")


def test_keyword_arguments():
    def first_step(env):
        state, _ = env.reset(jax.random.PRNGKey(0))
        return env.step(state, jnp.int32(0), jax.random.PRNGKey(0))[1].observation

    default = first_step(make_jax_environment("gymnax:CartPole-v1"))
    heavy = first_step(make_jax_environment("gymnax:CartPole-v1", gravity=20.0))
    assert not np.allclose(default, heavy)  # A gymnax parameter reaches the dynamics.
    minimal = make_jax_environment("gymnax:Breakout-MinAtar", use_minimal_action_set=False)
    assert minimal.action_spec().num_values == 6
    with pytest.raises(errors.ConfigError, match="max_episode_steps"):
        make_jax_environment("gymnax:CartPole-v1", max_steps_in_episode=10)
    with pytest.raises(errors.ConfigError, match="positive integer"):
        make_jax_environment("gymnax:CartPole-v1", max_episode_steps=0)
    with pytest.raises(errors.ConfigError, match="gravity"):
        make_jax_environment("gymnax:CartPole-v1", gravityy=20.0)


def test_a_missing_gymnax_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gymnax", None)  # `import gymnax` raises ImportError.
    with pytest.raises(errors.ConfigError, match=r"rlkit-jax\[gymnax\]"):
        make_jax_environment("gymnax:CartPole-v1")


def test_gymnax_loads_without_its_renderers_which_still_load_when_touched():
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from rlkit.jax_environments import make_jax_environment\n"
        "make_jax_environment('gymnax:CartPole-v1')\n"
        "print('seaborn' in sys.modules, 'matplotlib.pyplot' in sys.modules)\n"
        "import gymnax.environments.misc.pong as pong\n"
        "print(callable(pong.sns.color_palette), 'seaborn' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:2] == ["False False", "True True"]
