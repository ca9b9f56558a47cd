"""Atari 2600 games (ale-py) as dm_env environments, with the standard DQN preprocessing.

`make_atari_environment("ALE/Pong-v5", seed=0)` gives observations of `[84, 84, 4]` uint8
(the last four 84x84 grayscale frames, channels last) and these semantics:

- **No-op starts.** Each episode begins with 1-30 (`noop_max`) NOOP actions, a number drawn
  from the environment's seeded generator.
- **Frame skip and max-pooling.** Each action is repeated for 4 (`frame_skip`) emulator
  frames; rewards are summed and the observation is the pixel-wise maximum of the last two
  frames (Atari sprites flicker). An episode that ends inside the repeat ends there, and its
  final observation still pools its last two frames.
- **Sticky actions.** The emulator is built with `frameskip=1` (the wrapper skips frames
  itself) and `repeat_action_probability=0.25`: ALE v5's default and Machado et al.'s (2018)
  recommended protocol. `repeat_action_probability=0.0` gives the deterministic emulator of
  the 2015 DQN paper (the `NoFrameskip-v4` ids).
- **Episode limit.** `max_episode_steps` counts emulator frames, as ALE v5 and Acme do:
  108,000 frames are 30 minutes of play, 27,000 agent steps. The cut is a truncation (`LAST`
  with discount 1: learners bootstrap through it); a game over is `LAST` with discount 0.
- **Life loss** (`terminal_on_life_loss=True`). The step that loses a life has discount 0, so
  no value is bootstrapped across it, but it stays a `MID` step: the game goes on with the
  lives left, and the episode (and its return) is the whole game. This is Acme's
  `zero_discount_on_life_loss`. gymnasium's `AtariPreprocessing(terminal_on_life_loss=True)`
  instead reports `terminated`, which under dm_env is a `LAST` step, and the next `reset()`
  restarts the game with every life: the agent would only ever play its first life.
- **Reward clipping** (`clip_rewards=True`, the training default): each step's reward is its
  sign. Evaluate on an environment made with `clip_rewards=False` so that episode returns are
  game scores (comparable with published results); with the default
  `terminal_on_life_loss=False` an evaluation episode is one whole game anyway.

The preprocessing is written here rather than taken from gymnasium's `AtariPreprocessing`
(which needs OpenCV, truncates the frame repeat at a life loss under `terminal_on_life_loss`,
and returns the previous step's frames when an episode ends inside a repeat) and
`FrameStackObservation` (which stacks on a leading axis, channels first). Frames are resized
with area averaging, as OpenCV's `INTER_AREA` (what `AtariPreprocessing` uses) does.
"""

from __future__ import annotations

from typing import Any

import dm_env
import gymnasium
import numpy as np
from dm_env import specs

from rlkit import errors
from rlkit.wrappers.base import EnvironmentWrapper
from rlkit.wrappers.frame_stacking import FrameStackingWrapper
from rlkit.wrappers.gym_wrapper import GymWrapper
from rlkit.wrappers.ids import check_environment_id
from rlkit.wrappers.single_precision import SinglePrecisionWrapper

_NOOP = 0


def import_ale():
    """Imports `ale_py` and registers its environments with gymnasium.

    Raises `ConfigError` naming the `atari` extra when ale-py is missing. Sets ALE's own
    logger to warnings, which drops the banner it prints on stderr when the first game loads
    (`ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Info)` brings it back).
    """
    try:
        import ale_py
    except ImportError as error:
        raise errors.ConfigError(
            f"Atari environments need ale-py, which is not installed ({error}). "
            "Install the extra: pip install 'rlkit-jax[atari]' (through constraints.txt on the "
            "Reverb stack)."
        ) from None
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Warning)
    gymnasium.register_envs(ale_py)
    return ale_py


def is_atari_environment_id(env_id: str) -> bool:
    """Whether a registered gymnasium id is an ale-py game (e.g. "ALE/Pong-v5")."""
    spec = gymnasium.registry.get(env_id)
    entry_point = getattr(spec, "entry_point", None)
    return isinstance(entry_point, str) and entry_point.startswith("ale_py")


def _area_resize_table(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray]:
    """For each output pixel, the input pixels its footprint covers and their area weights.

    Output pixel i covers [i * s, (i + 1) * s) of the input, s = size_in / size_out; each
    input pixel j weighs its overlap with that span, divided by s (weights sum to 1).
    """
    scale = size_in / size_out
    starts = np.arange(size_out) * scale
    ends = starts + scale
    first = np.floor(starts).astype(int)
    width = int(np.max(np.ceil(ends).astype(int) - first))
    indices = first[:, None] + np.arange(width)[None, :]
    overlap = np.minimum(ends[:, None], indices + 1) - np.maximum(starts[:, None], indices)
    weights = np.clip(overlap, 0.0, None) / scale
    weights[indices >= size_in] = 0.0
    return np.minimum(indices, size_in - 1), weights.astype(np.float32)


class AreaResize:
    """Resizes `[H, W]` uint8 images to `[h, w]` by area averaging (OpenCV's `INTER_AREA`)."""

    def __init__(self, shape_in: tuple[int, int], shape_out: tuple[int, int]):
        self._rows, self._row_weights = _area_resize_table(shape_in[0], shape_out[0])
        self._cols, self._col_weights = _area_resize_table(shape_in[1], shape_out[1])

    def __call__(self, image: np.ndarray) -> np.ndarray:
        pixels = image.astype(np.float32)
        rows = np.einsum("ik,ikj->ij", self._row_weights, pixels[self._rows])
        resized = np.einsum("jk,ijk->ij", self._col_weights, rows[:, self._cols])
        return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


class _AtariFrames(EnvironmentWrapper):
    """No-op starts, frame skip with max-pooling, grayscale resize, life loss, reward clip."""

    def __init__(
        self,
        environment: GymWrapper,
        *,
        noop_max: int,
        frame_skip: int,
        screen_size: int,
        terminal_on_life_loss: bool,
        clip_rewards: bool,
    ):
        super().__init__(environment)
        game = environment.environment.unwrapped
        self._game = game
        self._ale = game.ale
        self._noop_max = noop_max
        self._frame_skip = frame_skip
        self._terminal_on_life_loss = terminal_on_life_loss
        self._clip_rewards = clip_rewards
        height, width = self._ale.getScreenDims()
        self._frames = np.zeros((2, height, width), np.uint8)  # The last two, in turn.
        self._slot = 0
        self._resize = AreaResize((height, width), (screen_size, screen_size))
        self._observation_spec = specs.BoundedArray(
            (screen_size, screen_size), np.uint8, 0, 255, name="pixels"
        )
        self._lives = 0
        self._needs_reset = True

    def _grab(self) -> None:
        self._ale.getScreenGrayscale(self._frames[self._slot])
        self._slot ^= 1

    def _observation(self) -> np.ndarray:
        return self._resize(np.maximum(self._frames[0], self._frames[1]))

    def _restart_frames(self) -> None:
        self._ale.getScreenGrayscale(self._frames[0])
        self._frames[1] = self._frames[0]

    def reset(self, **kwargs) -> dm_env.TimeStep:
        self._environment.reset(**kwargs)
        self._restart_frames()
        noops = int(self._game.np_random.integers(1, self._noop_max + 1)) if self._noop_max else 0
        for _ in range(noops):
            if self._environment.step(_NOOP).last():  # A game that ends during the no-ops.
                self._environment.reset()
                self._restart_frames()
            else:
                self._grab()
        self._lives = self._ale.lives()
        self._needs_reset = False
        return dm_env.restart(self._observation())

    def step(self, action) -> dm_env.TimeStep:
        if self._needs_reset:  # dm_env: a fresh env or one after LAST ignores the action.
            return self.reset()
        reward, discount = 0.0, 1.0
        for _ in range(self._frame_skip):
            timestep = self._environment.step(action)
            reward += timestep.reward
            discount *= timestep.discount
            self._grab()
            if timestep.last():
                break
        lives = self._ale.lives()
        if self._terminal_on_life_loss and lives < self._lives:
            discount = 0.0  # No bootstrap across a lost life; the game goes on (MID).
        self._lives = lives
        if self._clip_rewards:
            reward = np.sign(reward)
        self._needs_reset = timestep.last()
        return dm_env.TimeStep(
            timestep.step_type, np.float64(reward), np.float64(discount), self._observation()
        )

    def observation_spec(self):
        return self._observation_spec


class AtariWrapper(EnvironmentWrapper):
    """An ale-py gymnasium environment as a dm_env environment, preprocessed as for DQN.

    See the module docstring for the semantics. Observations are `[screen_size, screen_size,
    frame_stack]` uint8, the last `frame_stack` frames on the last axis (at the start of an
    episode, copies of its first frame). `step` on a fresh environment or after `LAST` starts
    a new episode; an action outside the action spec raises `InvalidActionError`.

    Args:
      environment: an ale-py game built with `frameskip=1`, e.g.
        `gymnasium.make("ALE/Pong-v5", frameskip=1)` (after `import_ale()`).
      seed: seeds the first `reset` (the emulator, sticky actions and the no-op counts).
      noop_max: at most this many NOOP actions start each episode (0: none).
      frame_skip: emulator frames per action; the observation max-pools the last two.
      screen_size: observations are `screen_size` x `screen_size` grayscale.
      frame_stack: the number of frames stacked into each observation.
      terminal_on_life_loss: discount 0 on the step that loses a life (the game goes on).
      clip_rewards: each step's reward becomes its sign (turn off for evaluation).
    """

    def __init__(
        self,
        environment: gymnasium.Env,
        seed: int | None = None,
        *,
        noop_max: int = 30,
        frame_skip: int = 4,
        screen_size: int = 84,
        frame_stack: int = 4,
        terminal_on_life_loss: bool = False,
        clip_rewards: bool = True,
    ):
        game = environment.unwrapped
        if not hasattr(game, "ale"):
            raise errors.ConfigError(
                f"AtariWrapper needs an ale-py game, got {environment}; build one with "
                "gymnasium.make('ALE/Pong-v5', frameskip=1), or use "
                "rlkit.wrappers.make_atari_environment('ALE/Pong-v5')."
            )
        if getattr(game, "_frameskip", 1) != 1:
            raise errors.ConfigError(
                f"AtariWrapper skips frames itself (frame_skip={frame_skip}) and max-pools the "
                f"last two, but {environment} skips {game._frameskip} frames per step already; "
                "build it with frameskip=1."
            )
        for name, value, low in (
            ("noop_max", noop_max, 0),
            ("frame_skip", frame_skip, 1),
            ("screen_size", screen_size, 1),
            ("frame_stack", frame_stack, 1),
        ):
            if not isinstance(value, int | np.integer) or value < low:
                raise errors.ConfigError(f"{name} must be an integer >= {low}, got {value!r}.")
        if noop_max and game.get_action_meanings()[_NOOP] != "NOOP":
            raise errors.ConfigError(
                f"No-op starts need action {_NOOP} to be NOOP; this game's actions are "
                f"{game.get_action_meanings()}. Pass noop_max=0."
            )
        frames = _AtariFrames(
            GymWrapper(environment, seed=seed),
            noop_max=noop_max,
            frame_skip=frame_skip,
            screen_size=screen_size,
            terminal_on_life_loss=terminal_on_life_loss,
            clip_rewards=clip_rewards,
        )
        super().__init__(FrameStackingWrapper(frames, num_frames=frame_stack))
        self._game = game

    @property
    def ale(self) -> Any:
        """The game's `ale_py.ALEInterface`."""
        return self._game.ale

    def lives(self) -> int:
        return int(self._game.ale.lives())

    def get_action_meanings(self) -> list[str]:
        return list(self._game.get_action_meanings())


def make_atari_environment(
    env_id: str,
    seed: int | None = None,
    *,
    terminal_on_life_loss: bool = False,
    clip_rewards: bool = True,
    frame_stack: int = 4,
    noop_max: int = 30,
    max_episode_steps: int | None = 108_000,
    frame_skip: int = 4,
    screen_size: int = 84,
    repeat_action_probability: float = 0.25,
    full_action_space: bool = False,
    **kwargs,
) -> dm_env.Environment:
    """An ale-py game as a single-precision dm_env environment, preprocessed as for DQN.

    Observations are `[84, 84, 4]` uint8, rewards and discounts float32, actions int32; the
    module docstring describes the semantics. For evaluation, pass `clip_rewards=False`.

    Args:
      env_id: an ale-py id, e.g. "ALE/Pong-v5" (any version: the emulator is always built
        with `frameskip=1` and the settings below).
      seed: seeds the first `reset`; the same seed and actions give the same episodes.
      terminal_on_life_loss: discount 0 on the step that loses a life; the game goes on.
      clip_rewards: each step's reward becomes its sign (the training default).
      frame_stack: frames stacked (channels last) into each observation.
      noop_max: at most this many NOOP actions start each episode (0: none).
      max_episode_steps: episodes are truncated after this many emulator frames (not agent
        steps; 108,000 frames = 27,000 agent steps = 30 minutes); None: no limit.
      frame_skip: emulator frames per agent step.
      screen_size: observations are `screen_size` x `screen_size`.
      repeat_action_probability: sticky actions (0.25: ALE v5 / Machado et al. 2018; 0.0:
        the deterministic emulator of the 2015 DQN paper).
      full_action_space: all 18 joystick actions instead of the game's minimal set.
      **kwargs: passed to `gymnasium.make` (e.g. `render_mode="rgb_array"`, `mode`,
        `difficulty`).

    Raises:
      UnknownEnvironmentError: `env_id` is not registered, or is not an Atari game.
      ConfigError: ale-py is not installed, or a setting is out of range.
    """
    import_ale()
    check_environment_id(env_id)
    if not is_atari_environment_id(env_id):
        raise errors.UnknownEnvironmentError(
            f"{env_id!r} is not an Atari environment: make_atari_environment takes ale-py's "
            "ids, e.g. 'ALE/Pong-v5' or 'ALE/Breakout-v5'. For other gymnasium environments "
            f"use rlkit.make_environment({env_id!r})."
        )
    make_kwargs = {
        "frameskip": 1,
        "repeat_action_probability": repeat_action_probability,
        "full_action_space": full_action_space,
        "max_num_frames_per_episode": max_episode_steps or 0,  # ALE: 0 is no limit.
        "obs_type": "grayscale",  # Cheapest per frame; the wrapper reads ALE's screen itself.
    }
    environment = gymnasium.make(env_id, **{**make_kwargs, **kwargs})
    try:
        return SinglePrecisionWrapper(
            AtariWrapper(
                environment,
                seed=seed,
                noop_max=noop_max,
                frame_skip=frame_skip,
                screen_size=screen_size,
                frame_stack=frame_stack,
                terminal_on_life_loss=terminal_on_life_loss,
                clip_rewards=clip_rewards,
            )
        )
    except Exception:
        environment.close()
        raise
