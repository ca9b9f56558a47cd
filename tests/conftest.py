import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("MUJOCO_GL", "egl")

import importlib.util  # noqa: E402

import gymnasium  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from gymnasium import spaces  # noqa: E402


class ScriptedEnv(gymnasium.Env):
    """A deterministic env: observation = step index; ends as scripted.

    `rewards[i]` is the reward of step i+1; the episode ends after `len(rewards)` steps with
    `terminated` (or `truncated` when `truncate=True`).
    """

    def __init__(self, rewards=(1.0, 2.0, 3.0), truncate=False):
        self.observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.rewards = list(rewards)
        self.truncate = truncate
        self.actions = []
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.actions.append(action)
        reward = self.rewards[self._t]
        self._t += 1
        done = self._t == len(self.rewards)
        obs = np.array([float(self._t)], np.float32)
        return obs, reward, done and not self.truncate, done and self.truncate, {}


@pytest.fixture
def scripted_env():
    return ScriptedEnv


# Reverb is an extra (rlkit-jax[reverb]): the current-stack venv runs the suite without it.
REPLAY_BACKENDS = ["local"] + (["reverb"] if importlib.util.find_spec("reverb") else [])


@pytest.fixture(params=REPLAY_BACKENDS)
def replay_backend(request):
    """Each replay backend installed here; Reverb's tests run where the extra is installed."""
    return request.param


def _needs_reverb_stack(item) -> bool:
    """Whether a test exercises Reverb or Ray: the Reverb backend's case of a test
    parametrized over backends, or a test skipped where Reverb or Ray is missing."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("replay_backend") == "reverb":
        return True
    return any(
        "reverb" in str(mark.kwargs.get("reason", "")).lower()
        or "distributed" in str(mark.kwargs.get("reason", "")).lower()
        for mark in item.iter_markers("skipif")
    )


def pytest_collection_modifyitems(config, items):
    # `make test-reverb` runs the quick tests and every slow one of these on the Reverb
    # stack (-m "not slow or reverb_stack"); the rest of its slow tests run in `make test`.
    for item in items:
        if _needs_reverb_stack(item):
            item.add_marker(pytest.mark.reverb_stack)


@pytest.fixture
def figures(monkeypatch):
    """The figures `rlkit.analysis` saves, kept open for inspection."""
    from rlkit.analysis import _figures

    figures = []
    save = _figures.save_figure

    def keep(figure, path):
        figures.append(figure)
        return save(figure, path)

    monkeypatch.setattr(_figures, "save_figure", keep)
    return figures
