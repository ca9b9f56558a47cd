"""The Anakin layout: environment, acting and learning compiled together (Hessel et al. 2021,
"Podracer architectures"; as PureJaxRL, rejax and Stoix run them).

For a builder and a `JaxEnvironment`, one jitted call trains a chunk of iterations of the
builder's program (`rlkit.layouts.programs`: rollouts for on-policy agents, on-device replay
for off-policy ones), running the agent's own policy and update, the ones every layout runs
(`builder.make_learner_parts`). Nothing crosses to the host inside a chunk; between chunks
the host counts, logs every episode that ended and the learner's mean metrics, and hands
the state to the runner, which evaluates (`evaluation_episodes`: the evaluation policy on
the JAX environment, all episodes in one jitted call), checkpoints and exports it as for any
layout. Compiled chunks go to JAX's persistent compilation cache, so a second run of the
same config skips most of its compile time.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rlkit import builders, environment_loop, errors, specs
from rlkit.layouts import base, programs
from rlkit.utils import counting

# A chunk takes at most about this many environment steps: the host sees the run (logs,
# callbacks, Ctrl-C) at least this often.
MAX_CHUNK_STEPS = 50_000
# Compiled chunks are cached here unless JAX is told otherwise (JAX_COMPILATION_CACHE_DIR), so
# a second run of the same config skips most of its compile time.
COMPILATION_CACHE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "rlkit", "jax")


def use_compilation_cache(directory: str = COMPILATION_CACHE_DIR) -> None:
    """Turns on JAX's persistent compilation cache in `directory`, unless a cache directory
    is already set (by the user, or an environment variable)."""
    if jax.config.jax_compilation_cache_dir:
        return
    jax.config.update("jax_compilation_cache_dir", directory)
    # Only what takes a while to compile: the chunk, not every small eager op.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def make_program(builder: builders.ActorLearnerBuilder, environment: Any, networks: Any):
    """`builder`'s program on `environment` (`programs.Program`) and its learner parts."""
    spec = specs.make_environment_spec(environment)
    experience = builder.device_experience()
    parts = builder.make_learner_parts(networks, spec)
    policy = builder.make_policy(networks, spec)
    num_envs = builder.num_envs or 1
    if isinstance(experience, builders.Rollouts):
        program = programs.make_rollout_program(
            environment, policy, parts, num_envs, experience.length
        )
        return program, parts
    schedule = builder.learning_schedule()
    if type(schedule) is not builders.LearningSchedule:
        raise errors.ConfigError(
            f"{type(builder).__name__} learns on a schedule of its own "
            f"({type(schedule).__name__}), which the Anakin layout cannot follow: use "
            "--layout local."
        )
    program = programs.make_replay_program(
        environment, policy, parts, num_envs, experience, schedule
    )
    return program, parts


def _episode_rows(episodes: programs.Episodes) -> list[dict[str, Any]]:
    """The chunk's ended episodes in the order they ended ([C, ..., N] -> rows)."""
    ended = np.asarray(episodes.ended)
    returns, lengths = np.asarray(episodes.episode_return), np.asarray(episodes.episode_length)
    return [
        {"episode_return": float(returns[index]), "episode_length": int(lengths[index])}
        for index in zip(*np.nonzero(ended), strict=True)
    ]


class AnakinTraining:
    """The host's side of a run in the Anakin layout: to the runner it is the agent (saved,
    restored, evaluated and exported through the carry's learner state) and the training
    loop (`run`, a chunk at a time)."""

    def __init__(self, config: Any, context: base.LayoutContext):
        builder = config.builder
        use_compilation_cache()
        self._environment = environment = config.jax_environment_factory()
        self._builder, self._spec = builder, specs.make_environment_spec(environment)
        self._networks = config.network_factory(self._spec)
        program, self._parts = make_program(builder, environment, self._networks)
        self._steps_per_iteration = program.steps_per_iteration
        self.chunk_length = _chunk_length(config, program.steps_per_iteration)
        self._chunk = jax.jit(program.chunk, donate_argnums=0)
        self._evaluation_key = jax.random.PRNGKey(context.evaluation_seed)
        started = time.monotonic()
        self._carry = jax.jit(program.start)(jax.random.PRNGKey(config.seed))
        self._uncounted = int(self._carry.observations)  # What `start` stepped, if anything.
        self.compile_seconds = time.monotonic() - started
        self._compiled = False
        self.counter = context.counter
        self._actor_counter = counting.Counter(context.counter, "actor")
        self._learner_counter = counting.Counter(context.counter, "learner")
        self._loggers = context.loggers

    # The agent's side.
    def save(self) -> dict[str, Any]:
        return {"carry": self._carry}

    def restore(self, state: dict[str, Any]) -> None:
        self._carry = jax.device_put(state["carry"])
        self._uncounted = 0  # The checkpoint's counts hold what `start` stepped.

    def restart_warm_up(self) -> None:
        pass  # Replay, if any, is in the carry: checkpointed with it.

    def checkpoint_replay(self) -> None:
        return None  # Replay, if any, is in the carry.

    def get_variables(self, names):
        # Host copies: the next chunk takes the carry's buffers over (donated).
        variables = jax.device_get(self._parts.variables(self._carry.learner_state))
        return [variables[name] for name in names]

    def evaluation_episodes(
        self, num_episodes: int
    ) -> Callable[[], tuple[Any, np.ndarray, np.ndarray]]:
        """The evaluator's episodes: the evaluation policy's, all in one jitted call on the
        JAX environment; each evaluation's from a key of its own (folded with the step)."""
        policy = self._builder.make_policy(self._networks, self._spec, evaluation=True)
        program = programs.make_evaluation_program(self._environment, policy, num_episodes)
        evaluate = jax.jit(program)

        def run_episodes() -> tuple[Any, np.ndarray, np.ndarray]:
            (params,) = self.get_variables(["policy"])
            steps = int(self.counter.get_counts().get("actor_steps", 0))
            returns, lengths = evaluate(params, jax.random.fold_in(self._evaluation_key, steps))
            return params, np.asarray(returns), np.asarray(lengths)

        return run_episodes

    def make_evaluation_actor(self, num_envs: int | None = None) -> Any:
        """A host-side evaluation actor (for a host environment) on the current parameters."""
        builder, spec = self._builder, self._spec
        policy = builder.make_policy(self._networks, spec, evaluation=True)
        return builder.make_actor(self._evaluation_key, policy, spec, self, num_envs=num_envs)

    # The training loop's side.
    def run(
        self,
        num_steps: int,
        *,
        should_stop: Callable[[int], bool] | None = None,
        check_every: int = 1_000,
        first_check: int | None = None,
    ) -> None:
        """Trains until `num_steps` more environment steps are counted (overshooting by less
        than an iteration), a chunk at a time; `should_stop(steps)` is asked after the chunk
        in which `first_check` and then every `check_every` more steps were reached, and
        True ends the stretch."""
        check = None
        if should_stop is not None:
            check = environment_loop.StopCheck(should_stop, check_every, first_check or check_every)
        taken = 0
        while taken + self._uncounted < num_steps:
            left = math.ceil((num_steps - taken - self._uncounted) / self._steps_per_iteration)
            taken += self._run_chunk(np.arange(self.chunk_length) < left)
            if check is not None and check.due(taken) and check.stop(taken):
                return

    def _run_chunk(self, active: np.ndarray) -> int:
        """Runs one chunk, counts and logs it; returns the environment steps it counted."""
        started = time.monotonic()
        self._carry, output = self._chunk(self._carry, jnp.asarray(active))
        output = jax.device_get(output)
        elapsed = time.monotonic() - started
        if not self._compiled:
            self._compiled = True
            self.compile_seconds += elapsed  # Most of the first chunk's time is its compile.
        steps = int(np.sum(output.steps)) + self._uncounted
        self._uncounted = 0
        rows = _episode_rows(output.episodes)
        counts = self._actor_counter.increment(steps=steps, episodes=len(rows))
        rate = steps / max(elapsed, 1e-9)
        for row in rows:
            self._loggers["actor"].write({**row, "steps_per_second": rate, **counts})
        learned = int(np.sum(output.learner_steps))
        if learned:
            sgd_steps = (self._parts.sgd_steps_per_step or 0) * learned
            counts = self._learner_counter.increment(steps=learned, sgd_steps=sgd_steps)
            means = {
                name: float(np.sum(total) / np.sum(output.metric_counts[name]))
                for name, total in output.metric_sums.items()
                if np.sum(output.metric_counts[name])
            }
            self._loggers["learner"].write({**counts, **means})
        return steps


def _chunk_length(config: Any, steps_per_iteration: int) -> int:
    """Iterations per chunk: a stretch between evaluations or checkpoints in one chunk where
    it is short, never much more than `MAX_CHUNK_STEPS` steps."""
    every = [config.max_num_actor_steps]
    every += [value for value in (config.eval_every, config.checkpoint_every) if value]
    steps = min(min(every), MAX_CHUNK_STEPS)
    return max(1, math.ceil(steps / steps_per_iteration))


def make_anakin_layout(config: Any, context: base.LayoutContext) -> base.TrainingLayout:
    """The Anakin layout of `config` (its `jax_environment_factory` makes the environment)."""
    if getattr(config, "jax_environment_factory", None) is None:
        raise errors.ConfigError(
            "The Anakin layout needs an environment written in JAX: use a gymnax id such as "
            "'gymnax:CartPole-v1'."
        )
    training = AnakinTraining(config, context)
    return base.TrainingLayout(training, training, context.counter)
