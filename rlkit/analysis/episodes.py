"""One episode, recorded: rewards, the agent's value estimates, frames; plots and videos."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import dm_env
import numpy as np

from rlkit import core, environment_loop, errors, loggers
from rlkit.analysis import _figures
from rlkit.jax import networks as networks_lib


@dataclasses.dataclass
class EpisodeRecord:
    """Per step t = 0..T-1: the reward after action t and the value estimates before it
    (`values[t]` has one entry per action, or is empty without a value function); frames
    are the T + 1 rendered images (reset included), if rendering was asked for."""

    rewards: np.ndarray
    actions: np.ndarray
    values: np.ndarray
    frames: list[np.ndarray]

    @property
    def episode_return(self) -> float:
        return float(self.rewards.sum())

    def __len__(self) -> int:
        return len(self.rewards)


class _EpisodeRecorder:
    """An `EnvironmentLoop` observer keeping rewards, actions, value estimates and frames."""

    def __init__(self, value_function: Callable[[Any], np.ndarray] | None, render: bool):
        self._value_function = value_function
        self._render = render
        self.rewards, self.actions, self.values, self.frames = [], [], [], []

    def _record_state(self, environment: dm_env.Environment, timestep: dm_env.TimeStep):
        if self._value_function is not None and not timestep.last():
            batch = networks_lib.add_batch_dim(timestep.observation)
            self.values.append(np.asarray(self._value_function(batch))[0])
        if self._render:
            frame = environment.render()
            if frame is None or np.asarray(frame).ndim != 3:
                raise errors.ConfigError(
                    "Rendering returned no RGB frame: make the environment with "
                    "render_mode='rgb_array'."
                )
            self.frames.append(np.asarray(frame, np.uint8))

    def observe_first(self, environment: dm_env.Environment, timestep: dm_env.TimeStep):
        self._record_state(environment, timestep)

    def observe(self, environment: dm_env.Environment, timestep: dm_env.TimeStep, action):
        self.rewards.append(float(timestep.reward))
        self.actions.append(np.asarray(action))
        self._record_state(environment, timestep)

    def get_metrics(self) -> dict[str, Any]:
        return {}


def record_episode(
    environment: dm_env.Environment,
    actor: core.Actor,
    value_function: Callable[[Any], np.ndarray] | None = None,
    render: bool = False,
    max_steps: int | None = None,
) -> EpisodeRecord:
    """Runs one episode of `actor` (or its first `max_steps` steps) and records it.

    `render=True` needs an environment made with `render_mode="rgb_array"`.
    """
    recorder = _EpisodeRecorder(value_function, render)
    loop = environment_loop.EnvironmentLoop(
        environment, actor, logger=loggers.NoOpLogger(), observers=[recorder]
    )
    loop.run_episode(max_steps=max_steps)
    steps = len(recorder.rewards)
    values = recorder.values[:steps]  # Cut at max_steps: the state after the last step.
    return EpisodeRecord(
        rewards=np.asarray(recorder.rewards, np.float64),
        actions=np.asarray(recorder.actions),
        values=np.asarray(values, np.float64) if values else np.zeros((steps, 0)),
        frames=recorder.frames,
    )


def plot_episode(
    record: EpisodeRecord,
    out: str,
    discount: float = 0.99,
    size_px: tuple[int, int] = (800, 600),
) -> str:
    """Rewards per step, and the agent's value estimates against the discounted return that
    actually followed (their gap is the estimate's error); returns `out`."""
    steps = np.arange(len(record))
    figure, axes = _figures.new_figure(size_px)
    figure.clf()
    top = figure.add_subplot(2, 1, 1)
    top.bar(steps, record.rewards, width=1.0, color="tab:green")
    top.set_ylabel("reward")
    top.set_title(f"Episode: {len(record)} steps, return {record.episode_return:.1f}")
    bottom = figure.add_subplot(2, 1, 2, sharex=top)
    returns_to_go = np.zeros(len(record))
    running = 0.0
    for t in reversed(range(len(record))):
        running = record.rewards[t] + discount * running
        returns_to_go[t] = running
    bottom.plot(steps, returns_to_go, color="black", label=f"discounted return (gamma {discount})")
    if record.values.size:
        bottom.plot(steps, record.values.max(axis=1), label="max_a Q(s, a)")
        chosen = record.values[steps, record.actions.reshape(-1).astype(int)]
        bottom.plot(steps, chosen, linestyle="--", label="Q(s, a taken)")
    bottom.set_xlabel("step")
    bottom.set_ylabel("value")
    bottom.legend(loc="best")
    bottom.grid(alpha=0.3)
    figure.tight_layout()
    return _figures.save_figure(figure, out)


def write_video(frames: Sequence[np.ndarray], path: str, fps: float = 30.0) -> int:
    """Writes frames to `path` (.gif through Pillow, .mp4 through imageio-ffmpeg); returns the
    number of frames written.

    A GIF stores a run of identical frames as one frame shown for their total duration (Pillow
    merges them), so its playback time, not its frame count, is len(frames) / fps.
    """
    import imageio.v2 as imageio

    extension = os.path.splitext(path)[1].lower()
    if extension not in (".gif", ".mp4"):
        raise errors.ConfigError(f"Video path {path!r} must end in .gif or .mp4.")
    if not frames:
        raise errors.ConfigError("No frames to write.")
    temporary = f"{path}.tmp{extension}"
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if extension == ".gif":
            imageio.mimsave(temporary, list(frames), format="GIF", duration=1000.0 / fps, loop=0)
        else:
            # 16-pixel macro blocks: CartPole's 600x400 frames are already a multiple.
            with imageio.get_writer(
                temporary, fps=fps, codec="libx264", macro_block_size=16
            ) as writer:
                for frame in frames:
                    writer.append_data(frame)
        os.replace(temporary, path)
    except (OSError, RuntimeError, ValueError) as error:
        raise errors.RlkitError(f"Could not write the video {path!r}: {error}") from None
    return len(frames)
