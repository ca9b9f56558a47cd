"""Gymnasium <-> dm_env, with exact termination / truncation semantics.

A gymnasium `terminated` step becomes `LAST` with discount 0 (no bootstrap); a `truncated`
step (time limit) becomes `LAST` with discount 1, so that every learner downstream bootstraps
through it. Acme's own wrapper conflates the two for gymnasium; this one must not.
"""

from __future__ import annotations

import atexit
import inspect
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any, NoReturn

import dm_env
import gymnasium
import numpy as np
from dm_env import specs
from gymnasium import spaces

from rlkit import errors, types
from rlkit import specs as specs_lib


class UnsupportedSpaceError(errors.RlkitError, TypeError):
    """A gymnasium space with no dm_env spec counterpart (Text, Graph, Sequence...)."""


def space_to_spec(space: spaces.Space, name: str = "") -> types.NestedSpec:
    """Converts a gymnasium space into the equivalent (nested) dm_env spec."""
    if isinstance(space, spaces.Discrete):
        n, start = int(space.n), int(space.start)
        if start == 0:
            return specs.DiscreteArray(num_values=n, dtype=space.dtype, name=name)
        return specs.BoundedArray((), space.dtype, start, start + n - 1, name=name)
    if isinstance(space, spaces.Box):
        return specs.BoundedArray(space.shape, space.dtype, space.low, space.high, name=name)
    if isinstance(space, spaces.MultiDiscrete):
        low = np.asarray(space.start, space.dtype)
        return specs.BoundedArray(space.shape, space.dtype, low, low + space.nvec - 1, name=name)
    if isinstance(space, spaces.MultiBinary):
        return specs.BoundedArray(space.shape, space.dtype, 0, 1, name=name)
    if isinstance(space, spaces.Dict):
        return {key: space_to_spec(sub, key) for key, sub in space.spaces.items()}
    if isinstance(space, spaces.Tuple):
        return tuple(space_to_spec(sub, f"{name}{i}") for i, sub in enumerate(space.spaces))
    try:
        flattens = isinstance(spaces.flatten_space(space), spaces.Box)
    except NotImplementedError:
        flattens = False
    # Graph and Sequence spaces do not flatten: only suggest flattening where it works.
    hint = (
        "As an observation, gymnasium.wrappers.FlattenObservation turns it into a Box."
        if flattens
        else "Map it onto one of these with a gymnasium.ObservationWrapper or ActionWrapper."
    )
    raise UnsupportedSpaceError(
        f"gymnasium space {space} has no dm_env spec equivalent; supported are Discrete, Box, "
        f"MultiDiscrete, MultiBinary, Dict and Tuple. {hint}"
    )


def spec_to_space(spec: types.NestedSpec) -> spaces.Space:
    """Converts a (nested) dm_env spec into the equivalent gymnasium space."""
    if isinstance(spec, dict):
        return spaces.Dict({key: spec_to_space(sub) for key, sub in spec.items()})
    if isinstance(spec, tuple | list):
        return spaces.Tuple([spec_to_space(sub) for sub in spec])
    if isinstance(spec, specs.DiscreteArray):
        return spaces.Discrete(spec.num_values)
    dtype = np.dtype(spec.dtype)
    if isinstance(spec, specs.BoundedArray) and np.issubdtype(dtype, np.integer):
        low = np.broadcast_to(spec.minimum, spec.shape)
        high = np.broadcast_to(spec.maximum, spec.shape)
        if spec.shape == ():
            return spaces.Discrete(int(high - low + 1), start=int(low))
        if np.all(low == 0) and np.all(high == 1):
            return spaces.MultiBinary(spec.shape[0] if len(spec.shape) == 1 else spec.shape)
        return spaces.MultiDiscrete(high - low + 1, dtype=dtype, start=low)
    if isinstance(spec, specs.BoundedArray):
        return spaces.Box(
            np.broadcast_to(spec.minimum, spec.shape).astype(dtype),
            np.broadcast_to(spec.maximum, spec.shape).astype(dtype),
            spec.shape,
            dtype,
        )
    if isinstance(spec, specs.Array):
        return spaces.Box(-np.inf, np.inf, spec.shape, dtype)
    raise UnsupportedSpaceError(f"cannot convert {spec!r} into a gymnasium space.")


def make_action_validator(
    spec: types.NestedSpec, path: str = "action", batch_shape: tuple[int, ...] = ()
) -> Callable[[Any], None]:
    """Returns a fast check that raises `InvalidActionError` for an action outside `spec`
    (each leaf with a leading `batch_shape`: a batched environment's stacked actions)."""
    if isinstance(spec, dict):
        return _dict_validator(spec, path, batch_shape)
    if isinstance(spec, tuple | list):
        return _sequence_validator(spec, path, batch_shape)
    check_array = _array_validator(spec, path, batch_shape)
    integer = np.issubdtype(np.dtype(spec.dtype), np.integer)
    if integer and isinstance(spec, specs.BoundedArray) and tuple(batch_shape) + spec.shape == ():
        return _scalar_integer_validator(spec, path, check_array)
    return check_array


def _dict_validator(spec: dict, path: str, batch_shape: tuple[int, ...]) -> Callable[[Any], None]:
    checks = {
        key: make_action_validator(sub, f"{path}[{key!r}]", batch_shape)
        for key, sub in spec.items()
    }

    def check_dict(action):
        if not isinstance(action, dict) or set(action) != set(checks):
            raise errors.InvalidActionError(
                f"{path} must be a dict with keys {sorted(checks)}, got {action!r}."
            )
        for key, check in checks.items():
            check(action[key])

    return check_dict


def _sequence_validator(
    spec: tuple | list, path: str, batch_shape: tuple[int, ...]
) -> Callable[[Any], None]:
    checks = [make_action_validator(sub, f"{path}[{i}]", batch_shape) for i, sub in enumerate(spec)]

    def check_tuple(action):
        if not isinstance(action, tuple | list) or len(action) != len(checks):
            raise errors.InvalidActionError(
                f"{path} must be a sequence of {len(checks)} actions, got {action!r}."
            )
        for check, sub_action in zip(checks, action, strict=True):
            check(sub_action)

    return check_tuple


def _invalid_action(spec: specs.Array, path: str, action: Any, why: str) -> NoReturn:
    raise errors.InvalidActionError(
        f"{path} {action!r} {why}; the action spec is {spec!r}. "
        "Select actions within the spec (see env.action_spec())."
    )


def _array_validator(
    spec: specs.Array, path: str, batch_shape: tuple[int, ...]
) -> Callable[[Any], None]:
    """The check of one array leaf: shape, dtype kind, finiteness and bounds."""
    integer = np.issubdtype(np.dtype(spec.dtype), np.integer)
    bounded = isinstance(spec, specs.BoundedArray)
    low = np.broadcast_to(spec.minimum, spec.shape) if bounded else None
    high = np.broadcast_to(spec.maximum, spec.shape) if bounded else None
    expected_shape = tuple(batch_shape) + tuple(spec.shape)
    scalar_bounds = bounded and np.ndim(spec.minimum) == 0 and np.ndim(spec.maximum) == 0

    def check_array(action):
        value = np.asarray(action)
        if value.shape != expected_shape:
            _invalid_action(
                spec, path, action, f"has shape {value.shape}, expected {expected_shape}"
            )
        kind = value.dtype.kind
        if integer:
            if kind not in "iu":
                _invalid_action(spec, path, action, f"has dtype {value.dtype}, expected an integer")
        elif kind == "f" and not np.isfinite(value).all():
            _invalid_action(spec, path, action, "is not finite")
        if not bounded or value.size == 0:
            return
        # Scalar bounds: two reductions instead of two comparisons over the whole array.
        if scalar_bounds:
            outside = value.min() < spec.minimum or value.max() > spec.maximum
        else:
            outside = (value < low).any() or (value > high).any()
        if outside:
            _invalid_action(spec, path, action, "is outside the bounds")

    return check_array


def _scalar_integer_validator(
    spec: specs.BoundedArray, path: str, check_array: Callable[[Any], None]
) -> Callable[[Any], None]:
    """A discrete action's check, as fast for the common cases as comparing two ints."""
    low_int, high_int = int(spec.minimum), int(spec.maximum)

    def check_scalar_integer(action):
        # Actors return 0-d arrays (`np.asarray` of a jax scalar): as fast as scalars.
        if type(action) is np.ndarray and action.shape == () and action.dtype.kind in "iu":
            value = int(action)
        elif isinstance(action, int | np.integer) and not isinstance(action, bool):
            value = action
        else:
            check_array(action)  # Slow path: names the exact problem.
            return
        if not low_int <= value <= high_int:
            _invalid_action(spec, path, action, "is outside the bounds")

    return check_scalar_integer


def _ensure_xdg_runtime_dir() -> None:
    """Points XDG_RUNTIME_DIR at a private temporary directory if it is unset or missing.

    SDL (under pygame, which gymnasium renders with) probes for a Wayland display on
    initialisation and prints "error: XDG_RUNTIME_DIR is invalid or not set" to stderr on
    every headless machine without one, even for off-screen `rgb_array` frames. Without
    that directory no Wayland display could be reached anyway, so a private one changes
    nothing but the message. Must run before pygame initialises its display.
    """
    current = os.environ.get("XDG_RUNTIME_DIR")
    if current and os.path.isdir(current):
        return
    directory = tempfile.mkdtemp(prefix="rlkit-runtime-")  # Mode 0700, as the spec asks.
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    os.environ["XDG_RUNTIME_DIR"] = directory


class GymnasiumEnvironment(dm_env.Environment):
    """What a dm_env view of a gymnasium environment (one, or a vector of them) shares: the
    specs it converted, rendering, closing, and the wrapped environment and its metadata.
    Subclasses set `_environment`, `_observation_spec` and `_action_spec`."""

    _environment: Any
    _observation_spec: Any
    _action_spec: Any

    def observation_spec(self):
        return self._observation_spec

    def action_spec(self):
        return self._action_spec

    def render(self):
        return self._environment.render()

    def close(self) -> None:
        self._environment.close()

    @property
    def environment(self) -> Any:
        """The wrapped gymnasium environment (a `gymnasium.vector.VectorEnv` for a vector
        wrapper)."""
        return self._environment

    @property
    def metadata(self) -> dict:
        """The gymnasium environment's metadata (`render_fps`, `render_modes`)."""
        return self._environment.metadata


class GymWrapper(GymnasiumEnvironment):
    """Presents a gymnasium environment as a `dm_env.Environment`.

    As the `dm_env.Environment` contract asks, `step` on a fresh environment or after a `LAST`
    step starts a new episode: it returns `reset()`'s `FIRST` step and ignores the action. Any
    other action outside the action spec raises `InvalidActionError`.

    Args:
      environment: a `gymnasium.Env` (e.g. from `gymnasium.make`).
      seed: seed passed to the first `reset`; later resets continue the env's RNG stream.
    """

    def __init__(self, environment: gymnasium.Env, seed: int | None = None):
        self._environment = environment
        self._pending_seed = seed
        if getattr(environment, "render_mode", None) is not None:
            _ensure_xdg_runtime_dir()  # Before the first render starts pygame.
        self._observation_spec = space_to_spec(environment.observation_space, "observation")
        self._action_spec = space_to_spec(environment.action_space, "action")
        self._convert_observation = specs_lib.make_caster(self._observation_spec)
        self._validate_action = make_action_validator(self._action_spec)
        self._to_gym_action = _space_converter(environment.action_space, _to_gym_action_leaf)
        self._needs_reset = True  # Fresh: the first `step` resets, as after a `LAST` step.
        self.last_info: dict[str, Any] = {}

    def reset(self, seed: int | None = None) -> dm_env.TimeStep:
        """Starts a new episode; `seed` (or the constructor's seed, once) reseeds the env."""
        if seed is None:
            seed, self._pending_seed = self._pending_seed, None
        observation, self.last_info = self._environment.reset(seed=seed)
        self._needs_reset = False
        return dm_env.restart(self._convert_observation(observation))

    def step(self, action) -> dm_env.TimeStep:
        if self._needs_reset:  # dm_env: a fresh env or one after LAST ignores the action.
            return self.reset()
        self._validate_action(action)
        observation, reward, terminated, truncated, self.last_info = self._environment.step(
            self._to_gym_action(action)
        )
        observation = self._convert_observation(observation)
        reward = np.float64(reward)
        if terminated:
            self._needs_reset = True
            return dm_env.TimeStep(dm_env.StepType.LAST, reward, np.float64(0.0), observation)
        if truncated:
            self._needs_reset = True
            return dm_env.TimeStep(dm_env.StepType.LAST, reward, np.float64(1.0), observation)
        return dm_env.TimeStep(dm_env.StepType.MID, reward, np.float64(1.0), observation)


def _space_converter(
    space: spaces.Space, leaf: Callable[[spaces.Space], Callable[[Any], Any]]
) -> Callable[[Any], Any]:
    """Builds, once per space, a converter that applies `leaf(subspace)` through Dict/Tuple."""
    if isinstance(space, spaces.Dict):
        subs = {k: _space_converter(s, leaf) for k, s in space.spaces.items()}
        return lambda value: {k: conv(value[k]) for k, conv in subs.items()}
    if isinstance(space, spaces.Tuple):
        subs = [_space_converter(s, leaf) for s in space.spaces]
        return lambda value: tuple(conv(v) for conv, v in zip(subs, value, strict=True))
    return leaf(space)


def _to_gym_action_leaf(space: spaces.Space) -> Callable[[Any], Any]:
    if isinstance(space, spaces.Discrete):
        return int
    dtype = space.dtype
    return lambda action: np.asarray(action, dtype=dtype)


def _to_gym_observation_leaf(space: spaces.Space) -> Callable[[Any], Any]:
    # Gymnasium's checker wants Discrete observations as plain integers.
    if isinstance(space, spaces.Discrete):
        return np.int64
    return lambda value: value


class GymnasiumWrapper(gymnasium.Env):
    """Presents a `dm_env.Environment` as a `gymnasium.Env`.

    `LAST` with discount 0 becomes `terminated`; `LAST` with a positive discount becomes
    `truncated`. `reset(seed=...)` reaches the inner environment when its `reset` takes a seed.
    Gymnasium starts every episode with `reset()`: `step` before the first `reset` or after
    `terminated` / `truncated` raises `ResetRequiredError` (a dm_env would silently start a
    new episode, which has no gymnasium `step` result).
    """

    def __init__(self, environment: dm_env.Environment, render_mode: str | None = None):
        self._environment = environment
        self.observation_space = spec_to_space(environment.observation_spec())
        self.action_space = spec_to_space(environment.action_spec())
        self._to_dm_action = specs_lib.make_caster(environment.action_spec())
        self._to_gym_observation = _space_converter(
            self.observation_space, _to_gym_observation_leaf
        )
        self.render_mode = render_mode or getattr(environment, "render_mode", None)
        parameters = inspect.signature(environment.reset).parameters
        self._reset_takes_seed = "seed" in parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
        )
        self._needs_reset = True

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None and self._reset_takes_seed:
            timestep = self._environment.reset(seed=seed)
        else:
            timestep = self._environment.reset()
        self._needs_reset = False
        return self._to_gym_observation(timestep.observation), {}

    def step(self, action):
        if self._needs_reset:
            raise errors.ResetRequiredError(
                "step() was called before reset() or after the episode ended (terminated or "
                "truncated); call env.reset() to start an episode."
            )
        timestep = self._environment.step(self._to_dm_action(action))
        self._needs_reset = timestep.last()
        terminated = bool(timestep.last() and timestep.discount == 0)
        truncated = bool(timestep.last() and not terminated)
        observation = self._to_gym_observation(timestep.observation)
        return observation, float(timestep.reward), terminated, truncated, {}

    def render(self):
        return self._environment.render()

    def close(self) -> None:
        self._environment.close()
