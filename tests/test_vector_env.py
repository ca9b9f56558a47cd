"""VectorGymWrapper and make_vector_environment: per-sub-environment dm_env semantics."""

import dm_env
import gymnasium
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import rlkit
from rlkit import errors, wrappers
from tests.conftest import ScriptedEnv

FIRST, MID, LAST = (int(step_type) for step_type in dm_env.StepType)


def scripted_vector(seed=None):
    """Sub-environment 0: 3 steps then terminated; sub-environment 1: 2 steps then truncated."""
    vector = SyncVectorEnv(
        [lambda: ScriptedEnv((1.0, 2.0, 3.0)), lambda: ScriptedEnv((5.0, 6.0), truncate=True)]
    )
    return wrappers.VectorGymWrapper(vector, seed=seed), vector


def test_auto_reset_and_truncation_follow_a_hand_built_trajectory():
    env, vector = scripted_vector()
    timesteps = [env.reset()]
    for t in range(8):
        timesteps.append(env.step(np.array([t % 2, (t + 1) % 2])))

    def stream(i):
        return [
            (int(ts.step_type[i]), float(ts.reward[i]), float(ts.discount[i]), ts.observation[i, 0])
            for ts in timesteps
        ]

    # (step_type, reward, discount, observation). Terminated: LAST with discount 0 and the
    # true final observation; the step after it is FIRST (reward 0, discount 1).
    assert stream(0) == [
        (FIRST, 0, 1, 0), (MID, 1, 1, 1), (MID, 2, 1, 2), (LAST, 3, 0, 3),
        (FIRST, 0, 1, 0), (MID, 1, 1, 1), (MID, 2, 1, 2), (LAST, 3, 0, 3),
        (FIRST, 0, 1, 0),
    ]  # fmt: skip
    # Truncated: LAST with discount 1 (bootstrap) from the final observation 2, not the
    # reset observation 0.
    assert stream(1) == [
        (FIRST, 0, 1, 0), (MID, 5, 1, 1), (LAST, 6, 1, 2),
        (FIRST, 0, 1, 0), (MID, 5, 1, 1), (LAST, 6, 1, 2),
        (FIRST, 0, 1, 0), (MID, 5, 1, 1), (LAST, 6, 1, 2),
    ]  # fmt: skip
    # The actions of the steps that gave a sub-environment its FIRST step (t = 3 and 7 for
    # env 0, t = 2 and 5 for env 1) never reach it.
    assert vector.envs[0].actions == [0, 1, 0, 0, 1, 0]  # t % 2 at t = 0, 1, 2, 4, 5, 6
    assert vector.envs[1].actions == [1, 0, 0, 1, 1, 0]  # (t + 1) % 2 at t = 0, 1, 3, 4, 6, 7
    assert timesteps[-1].step_type.dtype == np.int8
    assert timesteps[-1].observation.shape == (2, 1)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_each_sub_environment_matches_a_single_gym_wrapper(asynchronous):
    """Sub-environment i, seeded seed + i, gives exactly what GymWrapper gives for one
    environment with the same seed and actions (whose step after LAST is FIRST)."""
    num_envs, seed, steps = 3, 7, 120
    batched = rlkit.make_vector_environment(
        "CartPole-v1", num_envs, seed=seed, asynchronous=asynchronous
    )
    singles = [rlkit.make_environment("CartPole-v1", seed=seed + i) for i in range(num_envs)]
    rng = np.random.default_rng(0)
    try:
        batch = batched.reset()
        expected = [single.reset() for single in singles]
        episodes_ended = 0
        for _ in range(steps):
            for i, single_step in enumerate(expected):
                assert batch.step_type[i] == single_step.step_type
                np.testing.assert_array_equal(batch.observation[i], single_step.observation)
                if not single_step.first():
                    assert batch.reward[i] == single_step.reward
                    assert batch.discount[i] == single_step.discount
                else:
                    assert (batch.reward[i], batch.discount[i]) == (0.0, 1.0)
            actions = rng.integers(0, 2, num_envs).astype(np.int32)
            batch = batched.step(actions)
            expected = [single.step(a) for single, a in zip(singles, actions, strict=True)]
            episodes_ended += int(np.sum(batch.step_type == LAST))
        assert episodes_ended >= 3  # Random CartPole episodes last ~20 steps.
    finally:
        batched.close()


def test_step_on_a_fresh_environment_resets_and_ignores_the_actions():
    env, vector = scripted_vector()
    timestep = env.step(np.array([1, 1]))
    assert list(timestep.step_type) == [FIRST, FIRST]
    assert vector.envs[0].actions == [] and vector.envs[1].actions == []


def test_seeding_reproduces_the_episodes():
    def observations(seed):
        env = rlkit.make_vector_environment("CartPole-v1", 2, seed=seed)
        result = [env.reset().observation]
        result += [env.step(np.array([0, 1], np.int32)).observation for _ in range(30)]
        env.close()
        return np.stack(result)

    np.testing.assert_array_equal(observations(3), observations(3))
    assert not np.array_equal(observations(3), observations(4))


def test_specs_are_one_sub_environment_s_and_wrappers_pass_num_envs_through():
    env = rlkit.make_vector_environment("Pendulum-v1", 4, seed=0, recipe="continuous")
    assert wrappers.num_envs(env) == 4
    assert wrappers.num_envs(rlkit.make_environment("Pendulum-v1")) is None
    spec = rlkit.make_environment_spec(env)
    assert spec.observations.shape == (3,) and spec.observations.dtype == np.float32
    assert spec.actions.shape == (1,)
    np.testing.assert_array_equal(spec.actions.minimum, -1.0)  # The continuous recipe.
    timestep = env.reset()
    assert timestep.observation.shape == (4, 3) and timestep.observation.dtype == np.float32
    assert timestep.reward.dtype == np.float32 and timestep.discount.dtype == np.float32
    # Canonical actions are rescaled to Pendulum's [-2, 2] torque for every sub-environment.
    env.step(np.array([[1.0], [-1.0], [0.5], [0.0]], np.float32))
    torques = [sub.unwrapped.last_u for sub in env.environment.environment.environment.envs]
    np.testing.assert_allclose(np.ravel(torques), [2.0, -2.0, 1.0, 0.0])
    env.close()


@pytest.mark.parametrize(
    "actions, problem",
    [
        (np.array([0, 1, 1], np.int32), "shape"),
        (np.array([0, 2], np.int32), "outside the bounds"),
        (np.array([0.0, 1.0]), "integer"),
    ],
)
def test_actions_outside_the_spec_raise_invalid_action_error(actions, problem):
    env = rlkit.make_vector_environment("CartPole-v1", 2, seed=0)
    env.reset()
    with pytest.raises(errors.InvalidActionError, match=problem):
        env.step(actions)
    env.close()


def test_non_finite_continuous_actions_are_rejected():
    env = rlkit.make_vector_environment("Pendulum-v1", 2, seed=0)
    env.reset()
    with pytest.raises(errors.InvalidActionError, match="not finite"):
        env.step(np.array([[0.0], [np.nan]], np.float32))
    env.close()


@pytest.mark.parametrize("num_envs", [0, -2, 1.5, True])
def test_num_envs_below_one_or_not_an_integer_is_a_config_error(num_envs):
    with pytest.raises(errors.ConfigError, match="num_envs must be a positive integer"):
        rlkit.make_vector_environment("CartPole-v1", num_envs)


def test_bad_ids_recipes_and_keywords_get_specific_errors():
    with pytest.raises(errors.UnknownEnvironmentError, match="CartPole-v1"):
        rlkit.make_vector_environment("CartPol-v1", 2)
    with pytest.raises(errors.ConfigError, match="no vectorised build"):
        rlkit.make_vector_environment("ALE/Pong-v5", 2)
    with pytest.raises(errors.ConfigError, match="keyword arguments"):
        rlkit.make_vector_environment("CartPole-v1", 2, not_a_keyword=1)


def test_a_same_step_autoreset_vector_env_is_refused_with_the_fix():
    vector = SyncVectorEnv(
        [lambda: gymnasium.make("CartPole-v1")], autoreset_mode=AutoresetMode.SAME_STEP
    )
    with pytest.raises(errors.ConfigError, match="NEXT_STEP"):
        wrappers.VectorGymWrapper(vector)
    vector.close()
