"""Atari (ale-py): the AtariWrapper's preprocessing and dm_env semantics, and its factory."""

import os
import subprocess
import sys

import dm_env
import gymnasium
import numpy as np
import pytest
from dm_env import specs

import rlkit
from rlkit import wrappers
from rlkit.wrappers import atari
from tests.dm_env_contract import contract_test_case

pytest.importorskip("ale_py")  # The `atari` extra (in `dev`).


def random_actions(num_actions, count, seed=0, fire_every=None):
    actions = np.random.default_rng(seed).integers(num_actions, size=count).astype(np.int32)
    if fire_every:  # Breakout waits for FIRE (action 1) to serve each ball.
        actions[::fire_every] = 1
    return actions


def play(env, actions):
    """Reset, then step through `actions`; stops after a LAST step."""
    timesteps = [env.reset()]
    for action in actions:
        timesteps.append(env.step(action))
        if timesteps[-1].last():
            break
    return timesteps


# dm_env's own conformance suite; 400 frames are ~95 agent steps, so episodes end (truncated).
TestAtariContract = contract_test_case(
    lambda: wrappers.make_atari_environment("ALE/Pong-v5", seed=0, max_episode_steps=400),
    num_actions=120,
)


def test_specs():
    env = wrappers.make_atari_environment("ALE/Breakout-v5", seed=0)
    spec = env.observation_spec()
    assert spec.shape == (84, 84, 4) and spec.dtype == np.uint8
    assert (spec.minimum, spec.maximum) == (0, 255)
    assert env.action_spec() == specs.DiscreteArray(4, dtype=np.int32, name="action")
    assert env.reward_spec().dtype == np.float32 and env.discount_spec().dtype == np.float32
    first = env.reset()
    spec.validate(first.observation)
    step = env.step(np.int32(1))
    spec.validate(step.observation)
    assert step.reward.dtype == np.float32 and step.discount.dtype == np.float32
    full = wrappers.make_atari_environment("ALE/Breakout-v5", full_action_space=True)
    assert full.action_spec().num_values == 18
    single = wrappers.make_atari_environment("ALE/Breakout-v5", frame_stack=1, screen_size=64)
    assert single.observation_spec().shape == (64, 64, 1)


def test_first_mid_last_and_frame_stacking():
    env = wrappers.make_atari_environment(
        "ALE/Breakout-v5", seed=0, noop_max=0, max_episode_steps=200
    )
    steps = play(env, random_actions(4, 100, fire_every=10))
    first, *middle, last = steps
    assert first.first() and first.reward is None and first.discount is None
    # FIRST stacks copies of the first frame; each step shifts one new frame in on the right.
    for channel in range(1, 4):
        np.testing.assert_array_equal(first.observation[..., channel], first.observation[..., 0])
    for before, after in zip(steps, steps[1:], strict=False):
        np.testing.assert_array_equal(after.observation[..., :3], before.observation[..., 1:])
    assert all(step.mid() and step.discount == 1.0 for step in middle)
    # 200 emulator frames, 4 per step, no no-ops: truncated (bootstrap: discount 1) at 50.
    assert len(middle) + 1 == 50 and last.last() and last.discount == 1.0
    assert env.step(np.int32(0)).first()  # dm_env: step after LAST starts a new episode.


def test_step_on_a_fresh_environment_is_reset():
    stepped = wrappers.make_atari_environment("ALE/Pong-v5", seed=3).step(np.int32(2))
    reset = wrappers.make_atari_environment("ALE/Pong-v5", seed=3).reset()
    assert stepped.first()
    np.testing.assert_array_equal(stepped.observation, reset.observation)


def test_game_over_is_terminal():
    env = wrappers.make_atari_environment("ALE/Breakout-v5", seed=0)
    steps = play(env, random_actions(4, 2_000, fire_every=5))
    assert steps[-1].last() and steps[-1].discount == 0.0 and env.lives() == 0
    assert all(step.mid() for step in steps[1:-1])


def test_life_loss_is_a_zero_discount_mid_step_and_the_game_goes_on():
    actions = random_actions(4, 2_000, fire_every=5)
    plain = play(wrappers.make_atari_environment("ALE/Breakout-v5", seed=1), actions)
    env = wrappers.make_atari_environment("ALE/Breakout-v5", seed=1, terminal_on_life_loss=True)
    timesteps = [env.reset()]
    lives = [env.lives()]
    for action in actions:
        timesteps.append(env.step(action))
        lives.append(env.lives())
        if timesteps[-1].last():
            break
    # One episode, the whole game, with the same frames and rewards as without life loss:
    # the game is never reset at a lost life.
    assert len(timesteps) == len(plain)
    lost = [i for i in range(1, len(lives)) if lives[i] < lives[i - 1]]
    assert lives[0] == 5 and len(lost) == 5 and lost[-1] == len(timesteps) - 1
    for i, (step, unchanged) in enumerate(zip(timesteps, plain, strict=True)):
        np.testing.assert_array_equal(step.observation, unchanged.observation)
        assert step.step_type == unchanged.step_type and step.reward == unchanged.reward
        if i in lost[:-1]:
            assert step.mid() and step.discount == 0.0  # Terminal for learning only.
        elif 0 < i < len(timesteps) - 1:
            assert step.mid() and step.discount == unchanged.discount == 1.0
    assert timesteps[-1].last() and timesteps[-1].discount == 0.0  # The game is over.


def test_rewards_are_clipped_to_their_sign_unless_asked_not_to():
    actions = random_actions(6, 400, seed=2)
    clipped = play(wrappers.make_atari_environment("ALE/SpaceInvaders-v5", seed=2), actions)
    raw = play(
        wrappers.make_atari_environment("ALE/SpaceInvaders-v5", seed=2, clip_rewards=False),
        actions,
    )
    raw_rewards = np.array([step.reward for step in raw[1:]])
    clipped_rewards = np.array([step.reward for step in clipped[1:]])
    assert raw_rewards.max() > 1.0  # Invaders are worth 5 to 30 points.
    np.testing.assert_array_equal(clipped_rewards, np.sign(raw_rewards))


def test_same_seed_same_observations():
    actions = random_actions(6, 60, seed=4)

    def observations(seed):
        env = wrappers.make_atari_environment("ALE/Pong-v5", seed=seed)
        return np.stack([step.observation for step in play(env, actions)])

    np.testing.assert_array_equal(observations(7), observations(7))
    assert not np.array_equal(observations(7), observations(8))


def test_noop_starts_use_the_seeded_generator():
    env = wrappers.make_atari_environment("ALE/Pong-v5")

    def start_frame(seed):
        env.reset(seed=seed)
        return env.ale.getEpisodeFrameNumber()  # The no-ops played.

    frames = [start_frame(seed) for seed in range(6)]
    assert all(1 <= f <= 30 for f in frames) and len(set(frames)) > 1
    assert frames == [start_frame(seed) for seed in range(6)]
    env = wrappers.make_atari_environment("ALE/Pong-v5", seed=0, noop_max=0)
    env.reset()
    assert env.ale.getEpisodeFrameNumber() == 0


def test_non_atari_ids_are_refused_with_the_fix():
    with pytest.raises(rlkit.UnknownEnvironmentError, match="not an Atari") as error:
        wrappers.make_atari_environment("CartPole-v1")
    assert "rlkit.make_environment('CartPole-v1')" in str(error.value)
    with pytest.raises(rlkit.UnknownEnvironmentError, match="ALE/Pong-v5"):
        wrappers.make_atari_environment("ALE/Pongg-v5")  # Close ids are suggested.


def test_make_environment_builds_ale_ids_with_the_atari_recipe():
    with pytest.raises(rlkit.UnknownEnvironmentError, match="Did you mean: ALE/Pong-v5"):
        rlkit.make_environment("ALE/Pongg-v5")
    env = rlkit.make_environment("ALE/Pong-v5", seed=0)
    assert env.observation_spec().shape == (84, 84, 4)
    env.close()


def test_wrapper_refuses_what_it_cannot_preprocess():
    atari.import_ale()
    with pytest.raises(rlkit.ConfigError, match="frameskip=1"):
        wrappers.AtariWrapper(gymnasium.make("ALE/Pong-v5"))  # v5 skips 4 frames itself.
    with pytest.raises(rlkit.ConfigError, match="ale-py game"):
        wrappers.AtariWrapper(gymnasium.make("CartPole-v1"))
    with pytest.raises(rlkit.ConfigError, match="frame_stack"):
        wrappers.AtariWrapper(gymnasium.make("ALE/Pong-v5", frameskip=1), frame_stack=0)


def test_action_outside_the_spec_raises():
    env = wrappers.make_atari_environment("ALE/Pong-v5", seed=0)
    env.reset()
    with pytest.raises(rlkit.InvalidActionError, match="action spec"):
        env.step(np.int32(6))


def test_area_resize_is_exact_area_averaging():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (210, 160), dtype=np.uint8)
    resized = atari.AreaResize((210, 160), (84, 84))(image)
    # Reference: upsample to a common multiple, then average blocks (210 -> 420 -> 84 rows,
    # 160 -> 3360 -> 84 columns): every output pixel is the mean of the area it covers.
    fine = np.repeat(np.repeat(image.astype(np.float64), 2, axis=0), 21, axis=1)
    reference = fine.reshape(84, 5, 84, 40).mean(axis=(1, 3))
    assert np.abs(resized - reference).max() <= 0.5 + 1e-3
    constant = np.full((210, 160), 37, np.uint8)
    assert (atari.AreaResize((210, 160), (84, 84))(constant) == 37).all()


def test_making_an_atari_environment_prints_nothing():
    # ALE prints a two-line banner on stderr when the first game loads; the factory quiets it.
    script = "from rlkit import wrappers; wrappers.make_atari_environment('ALE/Pong-v5').reset()"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ)
    )
    assert result.returncode == 0 and result.stderr == "" and result.stdout == "", result.stderr


def test_an_agent_runs_on_it():
    from rlkit.environment_loop import EnvironmentLoop

    env = wrappers.make_atari_environment("ALE/Pong-v5", seed=0, max_episode_steps=200)
    spec = rlkit.make_environment_spec(env)

    class RandomActor(rlkit.Actor):
        def __init__(self):
            self.rng = np.random.default_rng(0)
            self.observed = []

        def select_action(self, observation):
            assert observation.shape == (84, 84, 4) and observation.dtype == np.uint8
            return np.int32(self.rng.integers(spec.actions.num_values))

        def observe_first(self, timestep):
            self.observed.append(timestep.step_type)

        def observe(self, action, next_timestep):
            self.observed.append(next_timestep.step_type)

        def update(self, wait=False):
            pass

    actor = RandomActor()
    EnvironmentLoop(env, actor).run(num_episodes=2)
    assert actor.observed.count(dm_env.StepType.FIRST) == 2
    assert actor.observed.count(dm_env.StepType.LAST) == 2
