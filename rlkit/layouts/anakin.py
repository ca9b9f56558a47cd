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
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

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


def _owned(tree: Any) -> Any:
    """`tree` as device arrays with buffers of their own: the chunk takes its carry over
    (donated), and a restored checkpoint's arrays may share memory with numpy's (on the CPU,
    `device_put` need not copy), which a donated buffer must not."""
    return jax.tree.map(lambda leaf: jnp.array(leaf, copy=True), tree)


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
        self._carry = _owned(state["carry"])
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
        if not self._compiled:
            self._compiled = True
            self.compile_seconds += time.monotonic() - started  # Mostly the compile.
        steps = _record_chunk(
            output, self._uncounted, self._actor_counter, self._learner_counter,
            self._loggers, self._parts.sgd_steps_per_step, time.monotonic() - started,
        )  # fmt: skip
        self._uncounted = 0
        return steps


def _record_chunk(
    output: programs.ChunkOutput,
    uncounted: int,
    actor_counter: counting.Counter,
    learner_counter: counting.Counter,
    loggers: dict[str, Any],
    sgd_steps_per_step: int | None,
    elapsed: float | None = None,
) -> int:
    """Counts a chunk's steps (and `uncounted` ones before it) and learner steps, logs its
    episodes and the learner's mean metrics; returns the steps counted."""
    steps = int(np.sum(output.steps)) + uncounted
    rows = _episode_rows(output.episodes)
    counts = actor_counter.increment(steps=steps, episodes=len(rows))
    rate = {} if elapsed is None else {"steps_per_second": steps / max(elapsed, 1e-9)}
    for row in rows:
        loggers["actor"].write({**row, **rate, **counts})
    learned = int(np.sum(output.learner_steps))
    if learned:
        sgd_steps = (sgd_steps_per_step or 0) * learned
        counts = learner_counter.increment(steps=learned, sgd_steps=sgd_steps)
        means = {
            name: float(np.sum(total) / np.sum(output.metric_counts[name]))
            for name, total in output.metric_sums.items()
            if np.sum(output.metric_counts[name])
        }
        loggers["learner"].write({**counts, **means})
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


class _Request(NamedTuple):
    """A seed's runner waiting for its stretch: the count to reach, and its stop check."""

    target: int
    check: environment_loop.StopCheck | None


class VmappedSeeds:
    """Several seeds of one experiment trained together: one program `jax.vmap`ped over the
    seeds, so a chunk of all of them is one compiled call. Each seed keeps a runner of its
    own (on a thread of `rlkit.experiments.run_seeds`: its run directory, logs, evaluations,
    checkpoints and exported policy), whose layout is a `SeedView` of this. The runners meet
    at each stretch: once every seed still training has asked for its stretch, the last to
    ask runs chunks until each has counted its steps; a seed that has its steps (or whose
    callbacks stop it) sits the rest out, masked, so its state stays where it was counted.

    Args:
      config: the experiment of the first seed (all seeds' must match but for `seed`).
      seeds: the seeds, one run each.
    """

    def __init__(self, config: Any, seeds: Sequence[int]):
        use_compilation_cache()
        self._environment = environment = config.jax_environment_factory()
        self.builder, self.spec = config.builder, specs.make_environment_spec(environment)
        self.networks = config.network_factory(self.spec)
        program, self.parts = make_program(self.builder, environment, self.networks)
        self._steps_per_iteration = program.steps_per_iteration
        self.chunk_length = _chunk_length(config, program.steps_per_iteration)
        self._chunk = jax.jit(jax.vmap(program.chunk, in_axes=(0, 0, None)), donate_argnums=0)
        keys = jnp.stack([jax.random.PRNGKey(seed) for seed in seeds])
        self.carry = jax.jit(jax.vmap(program.start))(keys)
        self._uncounted = [int(n) for n in jax.device_get(self.carry.observations)]
        self._views: dict[int, SeedView] = {}
        self._requests: dict[int, _Request] = {}
        self._left: set[int] = set()
        self._num_seeds = len(seeds)
        self._round = 0
        self._interrupted = False
        self._lock = threading.Condition()
        self._evaluate: dict[int, Callable] = {}

    def view(self, index: int, config: Any, context: base.LayoutContext) -> base.TrainingLayout:
        """Seed `index`'s layout (its runner's layout factory calls this)."""
        view = SeedView(self, index, config, context)
        self._views[index] = view
        return base.TrainingLayout(view, view, context.counter)

    def leave(self, index: int) -> None:
        """Seed `index`'s runner has ended (or never started): the others go on without it."""
        with self._lock:
            self._left.add(index)
            self._requests.pop(index, None)
            self._run_if_all_asked()

    def interrupt(self) -> None:
        """Ctrl-C in the main thread: every runner's next (or current) wait raises
        KeyboardInterrupt, and its runner checkpoints as on any interruption."""
        with self._lock:
            self._interrupted = True
            self._lock.notify_all()

    def set_slice(self, index: int, state: Any) -> None:
        self.carry = jax.tree.map(
            lambda all_, one: all_.at[index].set(one), self.carry, _owned(state)
        )
        self._uncounted[index] = 0

    def get_slice(self, index: int) -> Any:
        return jax.tree.map(lambda leaf: leaf[index], self.carry)

    def evaluation_program(self, num_episodes: int) -> Callable:
        if num_episodes not in self._evaluate:
            policy = self.builder.make_policy(self.networks, self.spec, evaluation=True)
            run = programs.make_evaluation_program(self._environment, policy, num_episodes)
            self._evaluate[num_episodes] = jax.jit(run)
        return self._evaluate[num_episodes]

    def advance(self, index: int, num_steps: int, check: environment_loop.StopCheck | None):
        """Seed `index`'s stretch of `num_steps` steps, taken with the others'."""
        with self._lock:
            if self._interrupted:
                raise KeyboardInterrupt()
            counted = self._views[index].counted()
            self._requests[index] = _Request(counted + num_steps, check)
            round_ = self._round
            self._run_if_all_asked()
            while self._round == round_:
                self._lock.wait()
                if self._interrupted:
                    raise KeyboardInterrupt()

    def _run_if_all_asked(self) -> None:
        training = [i for i in range(self._num_seeds) if i not in self._left]
        if not self._requests or any(i not in self._requests for i in training):
            return
        try:
            self._run_requests()
        finally:
            self._requests.clear()
            self._round += 1
            self._lock.notify_all()

    def _run_requests(self) -> None:
        """Chunks until every request is met; each seed's steps from its stretch's start."""
        start = {i: self._views[i].counted() for i in self._requests}
        waiting = dict(self._requests)
        while waiting:
            active = np.zeros((self._num_seeds, self.chunk_length), bool)
            for i, request in waiting.items():
                left = request.target - self._views[i].counted() - self._uncounted[i]
                active[i] = np.arange(self.chunk_length) < math.ceil(
                    left / self._steps_per_iteration
                )
            self.carry, output = self._chunk(
                self.carry, jnp.asarray(active), jnp.asarray(active.any(axis=0))
            )
            output = jax.device_get(output)
            for i in list(waiting):
                view = self._views[i]
                view.record(jax.tree.map(lambda x, i=i: x[i], output), self._uncounted[i])
                self._uncounted[i] = 0
                taken = view.counted() - start[i]
                check = waiting[i].check
                if view.counted() >= waiting[i].target:
                    del waiting[i]
                elif check is not None and check.due(taken) and check.stop(taken):
                    del waiting[i]


class SeedView:
    """One seed of `VmappedSeeds` as its runner sees it: the agent (its slice of the carry)
    and the training loop (a stretch taken with the other seeds)."""

    def __init__(self, seeds: VmappedSeeds, index: int, config: Any, context: base.LayoutContext):
        self._seeds, self._index = seeds, index
        self.counter = context.counter
        self._actor_counter = counting.Counter(context.counter, "actor")
        self._learner_counter = counting.Counter(context.counter, "learner")
        self._loggers = context.loggers
        self._evaluation_key = jax.random.PRNGKey(context.evaluation_seed)
        del config

    def counted(self) -> int:
        return int(self.counter.get_counts().get("actor_steps", 0))

    def record(self, output: programs.ChunkOutput, uncounted: int) -> None:
        _record_chunk(
            output, uncounted, self._actor_counter, self._learner_counter, self._loggers,
            self._seeds.parts.sgd_steps_per_step,
        )  # fmt: skip

    # The agent's side.
    def save(self) -> dict[str, Any]:
        return {"carry": self._seeds.get_slice(self._index)}

    def restore(self, state: dict[str, Any]) -> None:
        self._seeds.set_slice(self._index, state["carry"])

    def restart_warm_up(self) -> None:
        pass

    def checkpoint_replay(self) -> None:
        return None

    def get_variables(self, names):
        # The learner's state alone: slicing the whole carry would copy the replay buffer.
        index = self._index
        learner_state = jax.tree.map(lambda leaf: leaf[index], self._seeds.carry.learner_state)
        variables = jax.device_get(self._seeds.parts.variables(learner_state))
        return [variables[name] for name in names]

    def evaluation_episodes(
        self, num_episodes: int
    ) -> Callable[[], tuple[Any, np.ndarray, np.ndarray]]:
        evaluate = self._seeds.evaluation_program(num_episodes)

        def run_episodes() -> tuple[Any, np.ndarray, np.ndarray]:
            (params,) = self.get_variables(["policy"])
            key = jax.random.fold_in(self._evaluation_key, self.counted())
            returns, lengths = evaluate(params, key)
            return params, np.asarray(returns), np.asarray(lengths)

        return run_episodes

    # The training loop's side.
    def run(
        self,
        num_steps: int,
        *,
        should_stop: Callable[[int], bool] | None = None,
        check_every: int = 1_000,
        first_check: int | None = None,
    ) -> None:
        check = None
        if should_stop is not None:
            check = environment_loop.StopCheck(should_stop, check_every, first_check or check_every)
        self._seeds.advance(self._index, num_steps, check)
