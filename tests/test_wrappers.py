"""dm_env -> dm_env wrappers."""

import dm_env
import gymnasium
import numpy as np
import pytest
from dm_env import specs
from gymnasium import spaces
from gymnasium.wrappers import TimeAwareObservation

import rlkit
from rlkit import wrappers
from tests.conftest import ScriptedEnv
from tests.dm_env_contract import contract_test_case


def scripted(rewards=(1.0, 2.0, 3.0), truncate=False):
    return wrappers.GymWrapper(ScriptedEnv(rewards, truncate))


class RecordingEnv(gymnasium.Env):
    """Continuous actions in [-2, 6]; records what it receives."""

    def __init__(self):
        self.observation_space = spaces.Box(-1.0, 1.0, (2,), np.float64)
        self.action_space = spaces.Box(
            np.array([-2.0, 0.0]), np.array([6.0, 1.0]), (2,), np.float32
        )
        self.received = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2), {}

    def step(self, action):
        self.received.append(np.array(action))
        return np.ones(2), 0.5, False, False, {}


def test_single_precision_casts_everything():
    env = wrappers.SinglePrecisionWrapper(wrappers.GymWrapper(RecordingEnv()))
    assert env.observation_spec().dtype == np.float32
    assert env.reward_spec().dtype == np.float32 and env.discount_spec().dtype == np.float32
    first = env.reset()
    assert first.observation.dtype == np.float32
    step = env.step(np.array([0.0, 0.5], np.float32))
    assert step.observation.dtype == np.float32 and step.reward.dtype == np.float32
    assert step.discount.dtype == np.float32


def test_single_precision_narrows_discrete_specs():
    env = wrappers.SinglePrecisionWrapper(wrappers.GymWrapper(gymnasium.make("FrozenLake-v1")))
    assert env.observation_spec() == specs.DiscreteArray(16, dtype=np.int32)
    assert env.reset().observation.dtype == np.int32


def test_step_limit_truncates_with_bootstrap_discount():
    env = wrappers.StepLimitWrapper(scripted(rewards=(1.0,) * 10), step_limit=3)
    env.reset()
    steps = [env.step(0) for _ in range(3)]
    assert [s.step_type for s in steps] == [dm_env.StepType.MID] * 2 + [dm_env.StepType.LAST]
    assert steps[-1].discount == 1.0
    assert env.step(0).first()


def test_step_limit_keeps_a_real_termination():
    env = wrappers.StepLimitWrapper(scripted(rewards=(1.0, 1.0)), step_limit=2)
    env.reset()
    env.step(0)
    last = env.step(0)
    assert last.last() and last.discount == 0.0


def test_action_repeat_accumulates_discounted_rewards():
    env = wrappers.ActionRepeatWrapper(scripted(rewards=(1.0, 2.0, 3.0, 4.0, 5.0)), num_repeats=2)
    env.reset()
    step = env.step(0)
    assert step.mid() and step.reward == 3.0 and step.discount == 1.0
    np.testing.assert_array_equal(step.observation, [2.0])
    step = env.step(0)
    assert step.reward == 7.0
    step = env.step(0)  # Only one step left: the episode terminates inside the repeat.
    assert step.last() and step.reward == 5.0 and step.discount == 0.0


def test_canonical_spec_rescales_actions():
    inner = RecordingEnv()
    env = wrappers.CanonicalSpecWrapper(wrappers.GymWrapper(inner))
    spec = env.action_spec()
    np.testing.assert_array_equal(spec.minimum, -1.0)
    np.testing.assert_array_equal(spec.maximum, 1.0)
    env.reset()
    env.step(np.array([-1.0, 1.0], np.float32))
    env.step(np.array([0.0, 0.0], np.float32))
    np.testing.assert_allclose(inner.received[0], [-2.0, 1.0])
    np.testing.assert_allclose(inner.received[1], [2.0, 0.5])


def test_canonical_spec_clips_only_when_asked():
    clipped = RecordingEnv()
    env = wrappers.CanonicalSpecWrapper(wrappers.GymWrapper(clipped), clip=True)
    env.reset()
    env.step(np.array([3.0, -3.0], np.float32))
    np.testing.assert_allclose(clipped.received[0], [6.0, 0.0])
    strict = wrappers.CanonicalSpecWrapper(wrappers.GymWrapper(RecordingEnv()))
    strict.reset()
    with pytest.raises(ValueError, match="outside the bounds"):
        strict.step(np.array([3.0, 0.0], np.float32))


def test_frame_stacking_stacks_and_resets():
    env = wrappers.FrameStackingWrapper(scripted(rewards=(1.0,) * 4), num_frames=3)
    assert env.observation_spec().shape == (1, 3)
    first = env.reset()
    np.testing.assert_array_equal(first.observation, [[0.0, 0.0, 0.0]])
    env.step(0)
    second = env.step(0)
    np.testing.assert_array_equal(second.observation, [[0.0, 1.0, 2.0]])
    env.step(0)
    last = env.step(0)
    np.testing.assert_array_equal(last.observation, [[2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(env.step(0).observation, [[0.0, 0.0, 0.0]])


def test_frame_stacking_flatten():
    env = wrappers.FrameStackingWrapper(
        wrappers.GymWrapper(gymnasium.make("CartPole-v1")), num_frames=4, flatten=True
    )
    assert env.observation_spec().shape == (16,)
    assert env.reset(seed=0).observation.shape == (16,)


def test_wrappers_forward_render_and_attributes():
    env = wrappers.StepLimitWrapper(
        wrappers.SinglePrecisionWrapper(
            wrappers.GymWrapper(gymnasium.make("CartPole-v1", render_mode="rgb_array"))
        ),
        step_limit=10,
    )
    env.reset()
    assert env.render().shape[-1] == 3
    assert env.environment.environment.environment.spec.id == "CartPole-v1"


def test_action_repeat_after_single_precision_keeps_dtypes():
    env = wrappers.ActionRepeatWrapper(
        wrappers.SinglePrecisionWrapper(scripted(rewards=(1.0, 2.0, 3.0))), num_repeats=2
    )
    env.reset()
    step = env.step(0)
    assert step.reward == 3.0 and step.reward.dtype == np.float32
    assert step.discount.dtype == np.float32


class Float64ActionEnv(RecordingEnv):
    def __init__(self, low, high):
        super().__init__()
        self.action_space = spaces.Box(low, high, (1,), np.float64)


def test_single_precision_rounds_float_bounds_inwards():
    env = wrappers.SinglePrecisionWrapper(wrappers.GymWrapper(Float64ActionEnv(-0.1, 0.1)))
    spec = env.action_spec()
    assert spec.dtype == np.float32
    assert np.float64(spec.minimum[0]) >= -0.1 and np.float64(spec.maximum[0]) <= 0.1
    env.reset()
    env.step(np.array(spec.minimum, np.float32))  # The advertised bound is a valid action.
    env.step(np.array(spec.maximum, np.float32))


def test_canonical_spec_handles_huge_finite_bounds():
    big = float(np.finfo(np.float32).max)
    inner = Float64ActionEnv(-big, big)
    env = wrappers.CanonicalSpecWrapper(wrappers.GymWrapper(inner))
    env.reset()
    env.step(np.array([0.5], np.float64))
    assert np.isfinite(inner.received[0]).all() and inner.received[0][0] > 0


def test_frame_stacking_flatten_rejects_scalars():
    with pytest.raises(ValueError, match="scalar"):
        wrappers.FrameStackingWrapper(
            wrappers.GymWrapper(gymnasium.make("FrozenLake-v1")), num_frames=2, flatten=True
        )


# dm_env's conformance suite on rlkit.make_environment and on every dm_env -> dm_env wrapper.
TestMakeEnvironmentCartPoleContract = contract_test_case(
    lambda: rlkit.make_environment("CartPole-v1", seed=0)
)
TestMakeEnvironmentFrozenLakeContract = contract_test_case(
    lambda: rlkit.make_environment("FrozenLake-v1", seed=0)
)
TestWrapperStackPendulumContract = contract_test_case(
    lambda: wrappers.FrameStackingWrapper(
        wrappers.StepLimitWrapper(
            wrappers.ActionRepeatWrapper(
                wrappers.CanonicalSpecWrapper(rlkit.make_environment("Pendulum-v1", seed=0)),
                num_repeats=2,
            ),
            step_limit=40,
        ),
        num_frames=3,
    )
)
TestWrapperStackCartPoleContract = contract_test_case(
    lambda: wrappers.StepLimitWrapper(
        wrappers.ActionRepeatWrapper(
            wrappers.FrameStackingWrapper(
                rlkit.make_environment("CartPole-v1", seed=0), num_frames=4, flatten=True
            ),
            num_repeats=3,
        ),
        step_limit=30,
    )
)
TestWrapperStackDictObservationContract = contract_test_case(
    lambda: wrappers.FrameStackingWrapper(
        wrappers.StepLimitWrapper(
            wrappers.SinglePrecisionWrapper(
                wrappers.GymWrapper(
                    TimeAwareObservation(gymnasium.make("CartPole-v1"), flatten=False), seed=0
                )
            ),
            step_limit=25,
        ),
        num_frames=2,
    )
)


WRAPPERS = {
    "single_precision": wrappers.SinglePrecisionWrapper,
    "step_limit": lambda env: wrappers.StepLimitWrapper(env, step_limit=5),
    "action_repeat": lambda env: wrappers.ActionRepeatWrapper(env, num_repeats=2),
    "canonical_spec": wrappers.CanonicalSpecWrapper,
    "frame_stacking": lambda env: wrappers.FrameStackingWrapper(env, num_frames=2),
}


@pytest.mark.parametrize("wrap", WRAPPERS.values(), ids=WRAPPERS.keys())
def test_step_on_fresh_wrapper_resets_and_ignores_the_action(wrap):
    inner = ScriptedEnv(rewards=(1.0, 2.0))
    env = wrap(wrappers.GymWrapper(inner))
    first = env.step(np.int32(1))
    assert first.first() and first.reward is None and first.discount is None
    assert inner.actions == []  # The action was not applied.
    step = env.step(np.int32(1))
    assert not step.first() and inner.actions[0] == 1


@pytest.mark.parametrize("wrap", WRAPPERS.values(), ids=WRAPPERS.keys())
def test_step_after_last_starts_a_new_episode_through_every_wrapper(wrap):
    inner = ScriptedEnv(rewards=(1.0,))
    env = wrap(wrappers.GymWrapper(inner))
    env.reset()
    assert env.step(np.int32(0)).last()
    restarted = env.step(np.int32(1))
    assert restarted.first() and inner.actions == [0]
    assert not env.step(np.int32(1)).first() and inner.actions == [0, 1]


def test_frame_stacking_specs_keep_scalar_bounds_scalar():
    uniform = wrappers.FrameStackingWrapper(
        wrappers.GymWrapper(gymnasium.make("FrozenLake-v1")), num_frames=3
    ).observation_spec()  # A DiscreteArray(16): bounds 0 and 15.
    assert uniform.shape == (3,) and uniform.minimum.ndim == uniform.maximum.ndim == 0
    assert (uniform.minimum, uniform.maximum) == (0, 15)
    per_element = wrappers.FrameStackingWrapper(
        wrappers.GymWrapper(gymnasium.make("CartPole-v1")), num_frames=2
    ).observation_spec()
    assert per_element.minimum.shape == (4, 2)
    np.testing.assert_array_equal(per_element.maximum[0], np.float32([4.8, 4.8]))
