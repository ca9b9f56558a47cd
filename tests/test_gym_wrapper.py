"""GymWrapper / GymnasiumWrapper: spec conversion, dm_env semantics, errors."""

import os
import subprocess
import sys

import dm_env
import gymnasium
import numpy as np
import pytest
from dm_env import specs
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from gymnasium.wrappers import TimeAwareObservation

import rlkit
from rlkit import wrappers
from tests.conftest import ScriptedEnv
from tests.dm_env_contract import contract_test_case

# One env per family of space types: classic control, Box2D, MuJoCo, toy text (Discrete
# observations), Tuple observations, continuous actions; and a Dict observation. Each class is
# dm_env's own conformance suite (`EnvironmentTestMixin`), collected by pytest as it is.
TestCartPoleContract = contract_test_case(
    lambda: wrappers.GymWrapper(gymnasium.make("CartPole-v1"), seed=0)
)
TestPendulumContract = contract_test_case(  # Continuous actions; truncated after 200 steps.
    lambda: wrappers.GymWrapper(gymnasium.make("Pendulum-v1"), seed=0)
)
TestLunarLanderContract = contract_test_case(
    lambda: wrappers.GymWrapper(gymnasium.make("LunarLander-v3"), seed=0)
)
TestInvertedPendulumContract = contract_test_case(
    lambda: wrappers.GymWrapper(gymnasium.make("InvertedPendulum-v5"), seed=0)
)
TestFrozenLakeContract = contract_test_case(  # Discrete observations.
    lambda: wrappers.GymWrapper(gymnasium.make("FrozenLake-v1"), seed=0)
)
TestBlackjackContract = contract_test_case(  # Tuple observations.
    lambda: wrappers.GymWrapper(gymnasium.make("Blackjack-v1"), seed=0)
)
TestTaxiContract = contract_test_case(
    lambda: wrappers.GymWrapper(gymnasium.make("Taxi-v4"), seed=0)
)
TestDictObservationContract = contract_test_case(  # {"obs": Box, "time": Box(int32)}.
    lambda: wrappers.GymWrapper(
        TimeAwareObservation(gymnasium.make("CartPole-v1"), flatten=False), seed=0
    )
)


def test_space_to_spec_conversions():
    assert wrappers.space_to_spec(spaces.Discrete(3)) == specs.DiscreteArray(3, dtype=np.int64)
    shifted = wrappers.space_to_spec(spaces.Discrete(3, start=-1))
    assert isinstance(shifted, specs.BoundedArray) and not isinstance(shifted, specs.DiscreteArray)
    assert (shifted.minimum, shifted.maximum) == (-1, 1)
    box = wrappers.space_to_spec(spaces.Box(-2.0, 3.0, (2, 3), np.float32))
    assert box.shape == (2, 3) and box.dtype == np.float32
    np.testing.assert_array_equal(box.minimum, np.full((2, 3), -2.0))
    multi = wrappers.space_to_spec(spaces.MultiDiscrete([3, 5]))
    assert np.issubdtype(multi.dtype, np.integer)
    np.testing.assert_array_equal(multi.minimum, [0, 0])
    np.testing.assert_array_equal(multi.maximum, [2, 4])
    binary = wrappers.space_to_spec(spaces.MultiBinary(4))
    assert binary.shape == (4,) and np.issubdtype(binary.dtype, np.integer)
    assert (binary.minimum, binary.maximum) == (0, 1)
    nested = wrappers.space_to_spec(
        spaces.Dict(
            {
                "a": spaces.Discrete(2),
                "b": spaces.Tuple([spaces.Box(0, 1, (1,)), spaces.MultiBinary(2)]),
            }
        )
    )
    assert set(nested) == {"a", "b"}
    assert isinstance(nested["b"], tuple) and len(nested["b"]) == 2
    with pytest.raises(wrappers.UnsupportedSpaceError, match="Text.*FlattenObservation"):
        wrappers.space_to_spec(spaces.Text(5))
    # A space that does not flatten gets no advice to flatten it.
    with pytest.raises(wrappers.UnsupportedSpaceError, match="ObservationWrapper") as error:
        wrappers.space_to_spec(spaces.Graph(spaces.Box(0, 1, (2,)), None))
    assert "Flatten" not in str(error.value)


def test_spec_space_round_trip():
    space = spaces.Dict(
        {
            "discrete": spaces.Discrete(4),
            "box": spaces.Box(-1.0, 1.0, (3,), np.float32),
            "multi": spaces.MultiDiscrete([2, 3]),
            "binary": spaces.MultiBinary(3),
            "tuple": spaces.Tuple([spaces.Discrete(2), spaces.Box(0.0, 5.0, (2,), np.float32)]),
        }
    )
    round_trip = wrappers.spec_to_space(wrappers.space_to_spec(space))
    assert round_trip == space


def test_termination_has_discount_zero():
    env = wrappers.GymWrapper(ScriptedEnv(rewards=(1.0, 2.0)))
    first = env.reset()
    assert first.first() and first.reward is None and first.discount is None
    mid = env.step(0)
    assert mid.mid() and mid.reward == 1.0 and mid.discount == 1.0
    last = env.step(1)
    assert last.last() and last.reward == 2.0 and last.discount == 0.0


def test_truncation_has_discount_one():
    env = wrappers.GymWrapper(ScriptedEnv(rewards=(1.0, 2.0), truncate=True))
    env.reset()
    env.step(0)
    last = env.step(0)
    assert last.last() and last.discount == 1.0


def test_time_limit_truncation_of_a_registered_env():
    env = wrappers.GymWrapper(gymnasium.make("CartPole-v1", max_episode_steps=3), seed=0)
    env.reset()
    steps = [env.step(0), env.step(1), env.step(0)]  # Alternating: the pole cannot fall.
    assert [s.step_type for s in steps[:2]] == [dm_env.StepType.MID] * 2
    assert steps[2].last() and steps[2].discount == 1.0


def test_step_after_last_starts_a_new_episode():
    env = wrappers.GymWrapper(ScriptedEnv(rewards=(1.0,)))
    env.reset()
    assert env.step(0).last()
    restarted = env.step(0)
    assert restarted.first()
    np.testing.assert_array_equal(restarted.observation, [0.0])


def test_step_on_a_fresh_environment_resets_and_ignores_the_action():
    inner = ScriptedEnv()
    env = wrappers.GymWrapper(inner, seed=3)
    first = env.step(5)  # Outside the spec, but a fresh env ignores the action (dm_env).
    assert first.first() and first.reward is None and first.discount is None
    np.testing.assert_array_equal(first.observation, [0.0])
    assert inner.actions == [] and inner.np_random_seed == 3  # The constructor's seed.
    assert env.step(1).mid() and inner.actions == [1]
    with pytest.raises(rlkit.InvalidActionError, match="action spec"):
        env.step(5)  # Mid-episode the action counts, and this one is outside the spec.


def test_step_on_a_fresh_registered_env_matches_reset():
    stepped = wrappers.GymWrapper(gymnasium.make("CartPole-v1"), seed=7).step(0)
    reset = wrappers.GymWrapper(gymnasium.make("CartPole-v1"), seed=7).reset()
    assert stepped.first()
    np.testing.assert_array_equal(stepped.observation, reset.observation)


def test_gymnasium_wrapper_step_needs_reset_as_in_gymnasium():
    env = wrappers.GymnasiumWrapper(wrappers.GymWrapper(ScriptedEnv(rewards=(1.0,))))
    with pytest.raises(rlkit.ResetRequiredError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    assert env.step(0)[2]  # terminated
    with pytest.raises(rlkit.ResetRequiredError, match="reset"):
        env.step(0)
    env.reset()
    assert env.step(0)[1] == 1.0


@pytest.mark.parametrize(
    "bad_action",
    [
        2,
        -1,
        True,
        np.float32(1.0),
        np.array([0, 1]),
        np.array(2, np.int32),  # 0-d arrays, as actors return them.
        np.array(-1, np.int64),
        np.array(1.0),
        np.array(True),
    ],
)
def test_action_outside_spec_raises(bad_action):
    env = wrappers.GymWrapper(ScriptedEnv())
    env.reset()
    with pytest.raises(rlkit.InvalidActionError, match="action spec"):
        env.step(bad_action)


@pytest.mark.parametrize("action", [1, np.int32(0), np.array(1, np.int32), np.array(0, np.uint8)])
def test_actions_inside_the_spec_are_taken(action):
    inner = ScriptedEnv()
    env = wrappers.GymWrapper(inner)
    env.reset()
    assert env.step(action).mid() and inner.actions == [int(action)]


def test_continuous_action_outside_bounds_raises():
    env = wrappers.GymWrapper(gymnasium.make("Pendulum-v1"))
    env.reset()
    with pytest.raises(rlkit.InvalidActionError, match="outside the bounds"):
        env.step(np.array([5.0], np.float32))
    with pytest.raises(rlkit.InvalidActionError, match="not finite"):
        env.step(np.array([np.nan], np.float32))


def test_seeding_reproduces_episodes():
    def rollout(seed):
        env = wrappers.GymWrapper(gymnasium.make("CartPole-v1"), seed=seed)
        observations = [env.reset().observation]
        observations += [env.step(0).observation for _ in range(5)]
        return np.stack(observations)

    np.testing.assert_array_equal(rollout(3), rollout(3))
    assert not np.array_equal(rollout(3), rollout(4))
    env = wrappers.GymWrapper(gymnasium.make("CartPole-v1"))
    np.testing.assert_array_equal(env.reset(seed=3).observation, rollout(3)[0])


def test_render_passes_through():
    env = wrappers.GymWrapper(gymnasium.make("CartPole-v1", render_mode="rgb_array"), seed=0)
    env.reset()
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[-1] == 3 and frame.dtype == np.uint8


def test_observations_match_spec_for_nested_spaces():
    env = wrappers.GymWrapper(gymnasium.make("Blackjack-v1"), seed=0)
    timestep = env.reset()
    spec = env.observation_spec()
    assert isinstance(timestep.observation, tuple) and len(timestep.observation) == len(spec)
    for value, sub_spec in zip(timestep.observation, spec, strict=True):
        sub_spec.validate(value)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1", "Blackjack-v1"])
def test_gymnasium_wrapper_passes_env_checker(env_id):
    inner = wrappers.GymWrapper(gymnasium.make(env_id))
    env = wrappers.GymnasiumWrapper(inner)
    check_env(env, skip_render_check=True)
    assert env.observation_space == gymnasium.make(env_id).observation_space


def test_gymnasium_wrapper_reports_termination_and_truncation():
    terminated_env = wrappers.GymnasiumWrapper(wrappers.GymWrapper(ScriptedEnv(rewards=(1.0,))))
    terminated_env.reset(seed=0)
    _, reward, terminated, truncated, _ = terminated_env.step(0)
    assert (reward, terminated, truncated) == (1.0, True, False)
    truncated_env = wrappers.GymnasiumWrapper(
        wrappers.GymWrapper(ScriptedEnv(rewards=(1.0,), truncate=True))
    )
    truncated_env.reset(seed=0)
    _, _, terminated, truncated, _ = truncated_env.step(0)
    assert (terminated, truncated) == (False, True)


def test_make_environment_is_single_precision():
    env = rlkit.make_environment("CartPole-v1", seed=0)
    timestep = env.reset()
    assert timestep.observation.dtype == np.float32
    assert env.action_spec().dtype == np.int32
    step = env.step(np.int32(0))
    assert step.reward.dtype == np.float32 and step.discount.dtype == np.float32


def test_unknown_environment_id_suggests_close_ids():
    with pytest.raises(rlkit.UnknownEnvironmentError, match="CartPole-v1") as info:
        rlkit.make_environment("CartPole-v9")
    assert "Unknown environment id 'CartPole-v9'" in str(info.value)


def test_gymnasium_wrapper_seeds_through_rlkit_wrappers():
    env = wrappers.GymnasiumWrapper(rlkit.make_environment("CartPole-v1"))
    first, _ = env.reset(seed=1)
    again, _ = env.reset(seed=1)
    np.testing.assert_array_equal(first, again)


def test_rendering_off_screen_prints_nothing_without_xdg_runtime_dir():
    script = """
import os, rlkit
env = rlkit.make_environment("CartPole-v1", render_mode="rgb_array")
env.reset()
assert env.render().shape == (400, 600, 3)
env.close()
assert os.path.isdir(os.environ["XDG_RUNTIME_DIR"])
"""
    environment = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    environment.pop("SDL_VIDEODRIVER", None)  # tests/conftest.py sets it; users do not.
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
