"""envpool's C++ batched environments behind rlkit's batched dm_env contract.

`make_envpool_environment("CartPole-v1", 8, seed=0)` (what
`rlkit.make_vector_environment(..., backend="envpool")` calls) steps 8 copies in envpool's
threads and presents them exactly as `VectorGymWrapper` presents a gymnasium vector
environment: a leading axis of `num_envs` on every field; a terminated step is `LAST` with
discount 0, a truncated one `LAST` with discount 1, both with the episode's true final
observation; the next step of that sub-environment is `FIRST` (reward 0, discount 1, its
action ignored); specs describe one sub-environment. envpool's gymnasium API already resets a
sub-environment on the step after it ended (gymnasium's `NEXT_STEP` auto-reset) and returns
the final observation on the ending step, so `EnvpoolWrapper` is a `VectorGymWrapper`.

Where envpool differs, and what is done about it:

- **Seeding.** envpool fixes its seeds when a pool is built, so `reset(seed=...)` builds a
  new pool. Sub-environment i is seeded `seed + i` (gymnasium's rule, on envpool's own random
  streams: the episodes differ from the gymnasium backend's). Seeds are 32-bit.
- **Termination on the time-limit step.** envpool reports an episode that terminates on its
  last allowed step as truncated only, so that step is `LAST` with discount 1 where gymnasium
  gives 0. For Atari games the wrapper corrects it (envpool says when the game is over);
  elsewhere it cannot be told apart (rare: the episode must end on exactly that step).
- **Ids.** The gymnasium ids envpool also has (`CartPole-v1`, `Pendulum-v1`, `HalfCheetah-v5`,
  ...) and ale-py's Atari ids (`ALE/Pong-v5` is envpool's `Pong-v5`), so that
  `make_environment` builds the same environment for evaluation.

Atari games get rlkit's Atari recipe (`rlkit.wrappers.atari`) from envpool's own
preprocessing, with the same keywords and defaults as `make_atari_environment`: observations
`[84, 84, 4]` uint8 (envpool stacks frames first; they are moved to the last axis), 1-30
no-op starts, frame skip 4 with max-pooling of the last two frames, area-averaged grayscale
resize, sticky actions 0.25, reward sign clipping, no FIRE on reset, the episode limit in
emulator frames, and `terminal_on_life_loss` as discount 0 on a `MID` step (computed here from
the lives, as rlkit's wrapper does). What does not match exactly: the episode limit counts
agent steps (frames / frame skip, rounded up; ALE also counts the no-op frames), the first
observation of an episode is the last no-op frame without max-pooling, a game that ends
inside a frame skip may show a frame from earlier in that step (its discount is 0, so
nothing bootstraps from it), `noop_max` must be at least 1, and envpool bundles its own
Arcade Learning Environment and ROMs.
"""

from __future__ import annotations

import difflib
import inspect
import os
import warnings
from typing import Any

import dm_env
import gymnasium
import numpy as np
from dm_env import specs

from rlkit import errors
from rlkit.remote.address import is_remote_environment_id
from rlkit.wrappers.atari import make_atari_environment
from rlkit.wrappers.vector import FIRST, LAST, VectorGymWrapper

INSTALL_COMMAND = "pip install 'rlkit-jax[envpool]'"
_MAX_SEED = 2**31 - 1  # envpool seeds are int32.
# envpool options rlkit sets itself. A batch_size below num_envs is envpool's asynchronous
# mode, whose steps return only some sub-environments: not the batched contract.
_RESERVED_OPTIONS = frozenset(
    {"num_envs", "batch_size", "seed", "env_seed", "base_path", "gym_reset_return_info"}
)
_NO_LIMIT = 2**30  # envpool has no "no limit"; its step counter starts at the limit plus one.
# make_atari_environment's keywords and defaults: the one source of the recipe's settings.
_ATARI_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(make_atari_environment).parameters.items()
    if parameter.kind is parameter.KEYWORD_ONLY
}
# ale-py's gymnasium.make keywords that envpool takes under the same name, and envpool's
# thread count.
_ATARI_PASSED_ON = ("mode", "difficulty", "num_threads")


def import_envpool() -> Any:
    """Imports envpool; `ConfigError` naming the install command when it is missing."""
    # envpool sets MPLBACKEND=Agg for its own renderer when imported, which every later
    # matplotlib (a notebook kernel started from this process included) would then follow.
    backend = os.environ.get("MPLBACKEND")
    try:
        import envpool
    except ImportError as error:
        raise errors.ConfigError(
            f"backend='envpool' needs envpool, which is not installed ({error}). Install it "
            f"with {INSTALL_COMMAND} (wheels for Linux and Windows, Python 3.11-3.14), or use "
            "backend='gymnasium'."
        ) from None
    finally:
        if backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = backend
    return envpool


def _is_atari_task(envpool: Any, task_id: str) -> bool:
    return envpool.registration.registry.specs[task_id][0] == "envpool.atari"


def envpool_task_id(env_id: str, envpool: Any) -> tuple[str, bool]:
    """envpool's id for rlkit's `env_id` ("ALE/Pong-v5" -> "Pong-v5") and whether it is an
    Atari game.

    Raises:
      UnknownEnvironmentError: envpool lacks it (the message names backend="gymnasium"), or
        it is an envpool id with no gymnasium counterpart.
    """
    known = set(envpool.list_all_envs())
    if env_id.startswith("ALE/"):
        game = env_id.removeprefix("ALE/").rpartition("-v")[0] or env_id.removeprefix("ALE/")
        task_id = f"{game}-v5"  # rlkit's recipe sets every option the versions differ in.
        if task_id in known and _is_atari_task(envpool, task_id):
            return task_id, True
        games = sorted(f"ALE/{t}" for t in known if _is_atari_task(envpool, t))
        close = difflib.get_close_matches(env_id, games, n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise errors.UnknownEnvironmentError(
            f"envpool has no Atari game {env_id!r}.{hint} Use backend='gymnasium' (ale-py) for "
            "games envpool lacks."
        )
    if env_id in known and _is_atari_task(envpool, env_id):
        raise errors.UnknownEnvironmentError(
            f"{env_id!r} is envpool's name for an Atari game; ask for ale-py's id, "
            f"'ALE/{env_id}', which gets rlkit's Atari recipe."
        )
    if env_id in known and env_id in gymnasium.registry:
        return env_id, False
    if env_id in gymnasium.registry:
        raise errors.UnknownEnvironmentError(
            f"envpool has no {env_id!r}; build it with backend='gymnasium' (the default)."
        )
    if env_id in known:
        raise errors.UnknownEnvironmentError(
            f"{env_id!r} is an envpool environment without a gymnasium counterpart; "
            "rlkit's envpool backend builds the gymnasium ids envpool also has (e.g. "
            "'CartPole-v1', 'HalfCheetah-v5', 'ALE/Pong-v5'), so that make_environment can "
            "build the same environment for evaluation."
        )
    shared = sorted(known & set(gymnasium.registry))
    close = difflib.get_close_matches(env_id, shared, n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise errors.UnknownEnvironmentError(f"Unknown environment id {env_id!r} for envpool.{hint}")


def _pool_options(envpool: Any, task_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` checked against the options envpool's `task_id` takes (`ConfigError`)."""
    accepted = sorted(set(envpool.make_spec(task_id).config._fields) - _RESERVED_OPTIONS)
    for key in kwargs:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise errors.ConfigError(
                f"envpool's {task_id} takes no keyword argument {key!r}.{hint} Its options: "
                f"{', '.join(accepted)}."
            )
    return dict(kwargs)


def _atari_options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """envpool's Atari options for rlkit's Atari recipe keywords, and whether a lost life
    zeroes the discount (`terminal_on_life_loss`)."""
    unknown = set(kwargs) - set(_ATARI_DEFAULTS) - set(_ATARI_PASSED_ON)
    if unknown:
        accepted = ", ".join([*_ATARI_DEFAULTS, *_ATARI_PASSED_ON])
        raise errors.ConfigError(
            f"The Atari recipe through envpool takes no keyword argument "
            f"{sorted(unknown)[0]!r}; it takes: {accepted}."
        )
    settings = {**_ATARI_DEFAULTS, **kwargs}
    for name, low in (("frame_stack", 1), ("noop_max", 1), ("frame_skip", 1), ("screen_size", 1)):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            fix = " (envpool always plays at least one NOOP)" if name == "noop_max" else ""
            raise errors.ConfigError(f"{name} must be an integer >= {low}{fix}, got {value!r}.")
    frames = settings["max_episode_steps"]
    options = {
        "stack_num": settings["frame_stack"],
        "frame_skip": settings["frame_skip"],
        "noop_max": settings["noop_max"],
        "img_height": settings["screen_size"],
        "img_width": settings["screen_size"],
        "reward_clip": bool(settings["clip_rewards"]),
        "repeat_action_probability": float(settings["repeat_action_probability"]),
        "full_action_space": bool(settings["full_action_space"]),
        # rlkit's limit counts emulator frames; envpool's counts agent steps.
        "max_episode_steps": -(-frames // settings["frame_skip"]) if frames else _NO_LIMIT,
        # Life loss is the wrapper's (a MID step with discount 0), as in rlkit's recipe.
        "episodic_life": False,
        "zero_discount_on_life_loss": False,
        "use_fire_reset": False,
        "use_inter_area_resize": True,
        "gray_scale": True,
        **{key: kwargs[key] for key in _ATARI_PASSED_ON if key in kwargs},
    }
    return options, bool(settings["terminal_on_life_loss"])


def _check_seed(seed: int | None, num_envs: int) -> int:
    """A seed for envpool: `seed` if every sub-environment's (`seed + i`) fits its 32 bits;
    a fresh random one for None."""
    highest = _MAX_SEED - (num_envs - 1)
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0] % (highest + 1))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= highest:
        raise errors.ConfigError(
            f"envpool's seeds are 32-bit: seed must be an integer from 0 to {highest} "
            f"(sub-environment i gets seed + i), got {seed!r}."
        )
    return int(seed)


class EnvpoolWrapper(VectorGymWrapper):
    """An envpool pool (its gymnasium API) as a batched `dm_env.Environment`, with
    `VectorGymWrapper`'s contract; see the module docstring for where envpool differs.

    Args:
      task_id: envpool's id, e.g. "CartPole-v1" or "Pong-v5".
      num_envs: the sub-environments stepped together.
      seed: seeds the pool (sub-environment i gets `seed + i`); None: a random seed.
      atari: `task_id` is an envpool Atari game: its stacked frames are moved to the last
        axis, and a game that ends on the time-limit step gets discount 0.
      terminal_on_life_loss: Atari: the step that loses a life has discount 0 and stays `MID`
        (as in rlkit's Atari recipe).
      **options: envpool options (`max_episode_steps`, `num_threads`, Atari's `stack_num`...).
    """

    def __init__(
        self,
        task_id: str,
        num_envs: int,
        seed: int | None = None,
        *,
        atari: bool = False,
        terminal_on_life_loss: bool = False,
        **options: Any,
    ):
        self._task_id = task_id
        self._options = options
        self._atari = atari
        self._terminal_on_life_loss = terminal_on_life_loss
        pool = self._make_pool(num_envs, seed)
        super().__init__(pool)
        self._lives = np.zeros(num_envs, np.int64)
        if atari:  # envpool stacks [frames, height, width]; rlkit's recipe stacks last.
            frames, height, width = pool.single_observation_space.shape
            self._observation_spec = specs.BoundedArray(
                (height, width, frames), np.uint8, 0, 255, name="pixels"
            )
            self._convert_observation = _frames_last

    def _make_pool(self, num_envs: int, seed: int | None) -> Any:
        envpool = import_envpool()
        # gymnasium warns that envpool's float64 Box bounds are cast to float32 when the
        # spaces are first made (envpool makes them lazily, so here, once).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            pool = envpool.make(
                self._task_id,
                env_type="gymnasium",
                num_envs=num_envs,
                batch_size=num_envs,
                seed=_check_seed(seed, num_envs),
                **self._options,
            )
            pool.observation_space, pool.action_space  # noqa: B018
        return pool

    def reset(self, seed: int | None = None) -> dm_env.TimeStep:
        """Starts a new episode in every sub-environment; `seed` builds a new pool seeded
        with it (envpool fixes seeds when a pool is built)."""
        if seed is not None:
            pool = self._make_pool(self.num_envs, seed)  # Checks the seed before closing.
            self._environment.close()
            self._environment = pool
        timestep = super().reset()
        if self._atari:
            self._lives = np.asarray(self.last_info["lives"])
        return timestep

    def step(self, actions) -> dm_env.TimeStep:
        fresh = self._needs_reset
        timestep = super().step(actions)
        if not self._atari or fresh:
            return timestep
        # envpool reports a game that ends on the time-limit step as truncated only.
        game_over = np.asarray(self.last_info["terminated"]) != 0
        no_bootstrap = (timestep.step_type == LAST) & game_over
        lives = np.asarray(self.last_info["lives"])
        if self._terminal_on_life_loss:
            no_bootstrap |= (lives < self._lives) & (timestep.step_type != FIRST)
        self._lives = lives
        if no_bootstrap.any():
            discount = np.where(no_bootstrap, 0.0, timestep.discount)
            timestep = timestep._replace(discount=discount)
        return timestep


def _frames_last(observation: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(observation, 1, -1))


def make_envpool_environment(
    env_id: str,
    num_envs: int,
    *,
    seed: int | None = None,
    recipe: str = "gymnasium",
    asynchronous: bool = False,
    **kwargs: Any,
) -> EnvpoolWrapper:
    """`num_envs` copies of `env_id` in one envpool pool, as a batched dm_env environment
    (not yet single-precision: `make_vector_environment` adds its recipe's wrappers).

    Args:
      env_id: a gymnasium id envpool also has, or an ale-py id ("ALE/Pong-v5").
      num_envs: the sub-environments stepped together (in envpool's threads).
      seed: sub-environment i is seeded `seed + i`; None: a random seed.
      recipe: a resolved recipe: "atari" for `ALE/` ids, "gymnasium" or "continuous" else.
      asynchronous: must be False: envpool steps its sub-environments in its own threads
        (`num_threads` sets how many).
      **kwargs: envpool's options for the environment (`max_episode_steps`, `num_threads`,
        ...), or for Atari `make_atari_environment`'s keywords.

    Raises:
      ConfigError: envpool is not installed, an unknown keyword, a served id, `asynchronous`.
      UnknownEnvironmentError: envpool has no such environment.
    """
    if is_remote_environment_id(env_id):
        raise errors.ConfigError(
            f"{env_id} is built and stepped by its server; backend='envpool' builds local "
            "environments only (the server chooses how it builds its own)."
        )
    if asynchronous:
        raise errors.ConfigError(
            "asynchronous=True is the gymnasium backend's (a subprocess per copy); envpool "
            "steps its sub-environments in its own threads: pass num_threads=N instead."
        )
    envpool = import_envpool()
    task_id, atari = envpool_task_id(env_id, envpool)
    if atari != (recipe == "atari"):
        raise errors.ConfigError(
            f"Through envpool, {env_id!r} is built with the "
            f"{'atari' if atari else 'gymnasium'} recipe only (envpool preprocesses Atari "
            f"games itself), not {recipe!r}; use recipe='auto'."
        )
    if atari:
        options, life_loss = _atari_options(kwargs)
    else:
        options, life_loss = _pool_options(envpool, task_id, kwargs), False
    return EnvpoolWrapper(
        task_id, num_envs, seed, atari=atari, terminal_on_life_loss=life_loss, **options
    )
