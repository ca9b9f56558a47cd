"""The Anakin layout: environment, acting and learning compiled together (Hessel et al. 2021,
"Podracer architectures"; as PureJaxRL, rejax and Stoix run them).

For a builder and a `JaxEnvironment`, one jitted call trains a chunk: a `lax.scan` over
learner steps, each a scan over environment steps (the agent's own policy on the
`num_envs` environments, `jax.vmap`ped, writing each step as the host's adder would) followed
by the agent's own update, the one every layout runs (`builder.make_learner_parts`). Nothing
crosses to the host inside a chunk; between chunks the host counts, logs every episode that
ended, and hands the state to the runner, which evaluates, checkpoints and exports it as for
any layout. A chunk has one length, so it compiles once: the last one of a stretch masks the
learner steps it does not need (`lax.cond` on an unbatched flag stays a branch).

On-policy agents (`builders.Rollouts`): a learner step learns from one rollout of `length`
steps of every environment, as `replay.Step`s [num_envs, length + 1] whose first step is the
previous rollout's last, exactly the items `BatchedSequenceAdder` writes on the host (a
restarting environment's step holds its final observation with a zero action, reward and
discount). The very first step of a run only opens the first rollout, as on the host, where
the first item needs `length + 1` steps.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import dm_env
import jax
import jax.numpy as jnp
import numpy as np

from rlkit import environment_loop, errors, replay, specs, types
from rlkit.jax import actors
from rlkit.jax_environments import base as jax_environments
from rlkit.layouts import base
from rlkit.utils import counting

FIRST, LAST = jax_environments.FIRST, jax_environments.LAST
# A chunk is at most this many learner steps: the host sees the run (logs, callbacks, Ctrl-C)
# at least this often.
MAX_CHUNK_LEARNER_STEPS = 64
# Compiled chunks are cached here unless JAX is told otherwise (JAX_COMPILATION_CACHE_DIR), so
# a second run of the same config skips most of its compile time.
COMPILATION_CACHE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "rlkit", "jax")


class AnakinCarry(NamedTuple):
    """Everything a run carries from one environment step to the next, on the device; the
    agent state the runner checkpoints. Leading axis [num_envs] on all but the last three."""

    env_state: Any
    timestep: dm_env.TimeStep  # The latest timestep of each environment.
    actor_state: Any  # Each environment's policy state (PRNG key, step count, ...).
    entry: replay.Step  # The step that opens the next rollout.
    last_extras: Any  # The last action's extras: a restarting environment's step keeps them.
    episode_steps: jax.Array  # Entries of the current episode so far (0: none yet).
    episode_return: jax.Array
    episode_length: jax.Array
    learner_state: Any
    key: jax.Array


class Episodes(NamedTuple):
    """Per environment step [..., num_envs]: whether an episode ended there, its return and
    length (meaningful where it ended)."""

    ended: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array


def use_compilation_cache(directory: str = COMPILATION_CACHE_DIR) -> None:
    """Turns on JAX's persistent compilation cache in `directory`, unless a cache directory
    is already set (by the user, or an environment variable)."""
    if jax.config.jax_compilation_cache_dir:
        return
    jax.config.update("jax_compilation_cache_dir", directory)
    # Only what takes a while to compile: the chunk, not every small eager op.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def _step_spec(spec: specs.EnvironmentSpec, extras_spec: types.NestedSpec) -> replay.Step:
    return replay.Step(
        spec.observations,
        spec.actions,
        spec.rewards,
        spec.discounts,
        dm_env.specs.Array((), bool),
        extras_spec,
    )


def _zeros(spec: types.NestedSpec, batch: tuple[int, ...]) -> Any:
    return jax.tree.map(
        lambda leaf: jnp.zeros(batch + leaf.shape, jax.dtypes.canonicalize_dtype(leaf.dtype)),
        spec,
    )


def _where(mask: jax.Array, if_true: Any, otherwise: Any) -> Any:
    """Row i of `if_true` where `mask[i]`, else of `otherwise` ([N, ...] leaves)."""
    return jax.tree.map(
        lambda a, b: jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b),
        if_true,
        otherwise,
    )


def _cast(tree: Any, spec: Any) -> Any:
    return jax.tree.map(
        lambda value, leaf: jnp.asarray(value, jax.dtypes.canonicalize_dtype(leaf.dtype)),
        tree,
        spec,
    )


class RolloutProgram(NamedTuple):
    """The pure functions of an on-policy run: `start(key) -> carry` (reset, and the step
    that opens the first rollout) and `chunk(carry, active [C]) -> (carry, (metrics,
    episodes))`, `active[i]` saying whether learner step i runs."""

    start: Callable[[jax.Array], AnakinCarry]
    chunk: Callable[[AnakinCarry, jax.Array], tuple[AnakinCarry, Any]]


class _Acting(NamedTuple):
    """What acting needs, made once per program."""

    environment: jax_environments.JaxEnvironment
    policy: actors.ActorCore
    variables: Callable[[Any], dict[str, Any]]
    num_envs: int
    step_spec: replay.Step


def _act(acting: _Acting, carry: AnakinCarry) -> tuple[AnakinCarry, tuple[replay.Step, Episodes]]:
    """One step of every environment, and the entries it writes (as the host's
    `BatchedSequenceAdder.add`: a restarting environment's entry holds its final observation
    with a zero action, reward and discount, and the last step's extras)."""
    policy, num_envs = acting.policy, acting.num_envs
    params = acting.variables(carry.learner_state)["policy"]
    observation = carry.timestep.observation
    action, actor_state = jax.vmap(policy.select_action, in_axes=(None, 0, 0))(
        params, observation, carry.actor_state
    )
    extras = jax.vmap(policy.get_extras)(actor_state)
    key, env_key = jax.random.split(carry.key)
    env_keys = jax.random.split(env_key, num_envs)
    env_state, timestep = jax.vmap(acting.environment.step)(carry.env_state, action, env_keys)
    restarting = timestep.step_type == FIRST
    entry = replay.Step(
        observation,
        _where(restarting, _zeros(acting.step_spec.action, (num_envs,)), action),
        jnp.where(restarting, 0.0, timestep.reward),
        jnp.where(restarting, 0.0, timestep.discount),
        (carry.episode_steps == 0) & ~restarting,
        _where(restarting, carry.last_extras, extras),
    )
    if policy.episode_start is not None:
        actor_state = _where(restarting, jax.vmap(policy.episode_start)(actor_state), actor_state)
    episode_return = jnp.where(restarting, 0.0, carry.episode_return + timestep.reward)
    episode_length = jnp.where(restarting, 0, carry.episode_length + 1)
    carry = carry._replace(
        env_state=env_state,
        timestep=timestep,
        actor_state=actor_state,
        last_extras=extras,
        episode_steps=jnp.where(restarting, 0, carry.episode_steps + 1),
        episode_return=episode_return,
        episode_length=episode_length,
        key=key,
    )
    episodes = Episodes(timestep.step_type == LAST, episode_return, episode_length)
    return carry, (_cast(entry, acting.step_spec), episodes)


def make_rollout_program(
    environment: jax_environments.JaxEnvironment,
    policy: actors.ActorCore,
    parts: Any,
    num_envs: int,
    rollout_length: int,
) -> RolloutProgram:
    """The on-policy program of `policy` and the learner `parts` (`LearnerParts`) on
    `num_envs` copies of `environment`, learning from rollouts of `rollout_length` steps."""
    spec = specs.make_environment_spec(environment)
    step_spec = _step_spec(spec, actors.extras_spec(policy))
    acting = _Acting(environment, policy, parts.variables, num_envs, step_spec)
    act = lambda carry, _: _act(acting, carry)  # noqa: E731

    def start(key: jax.Array) -> AnakinCarry:
        learner_key, actor_key, env_key, key = jax.random.split(key, 4)
        env_state, timestep = jax.vmap(environment.reset)(jax.random.split(env_key, num_envs))
        actor_state = jax.vmap(policy.init)(jax.random.split(actor_key, num_envs))
        if policy.episode_start is not None:
            actor_state = jax.vmap(policy.episode_start)(actor_state)
        carry = AnakinCarry(
            env_state,
            timestep,
            actor_state,
            _zeros(step_spec, (num_envs,)),
            jax.vmap(policy.get_extras)(actor_state),
            jnp.zeros(num_envs, jnp.int32),
            jnp.zeros(num_envs, jnp.float32),
            jnp.zeros(num_envs, jnp.int32),
            parts.initial_state(learner_key),
            key,
        )
        carry, (entry, _) = _act(acting, carry)  # Opens the first rollout.
        return carry._replace(entry=entry)

    def learn(carry: AnakinCarry) -> tuple[AnakinCarry, Any]:
        """A rollout of every environment, then one learner step on it."""
        carry, (entries, episodes) = jax.lax.scan(act, carry, None, length=rollout_length)
        items = jax.tree.map(
            lambda first, rest: jnp.concatenate([first[:, None], jnp.swapaxes(rest, 0, 1)], 1),
            carry.entry,
            entries,
        )
        learner_state, metrics, _ = parts.update(
            carry.learner_state, items, jnp.ones(num_envs, jnp.float32)
        )
        last_entry = jax.tree.map(lambda x: x[-1], entries)
        return carry._replace(learner_state=learner_state, entry=last_entry), (metrics, episodes)

    def maybe_learn(carry: AnakinCarry, active: jax.Array) -> tuple[AnakinCarry, Any]:
        outputs = jax.eval_shape(learn, carry)[1]
        skip = lambda carry: (carry, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), outputs))  # noqa: E731
        return jax.lax.cond(active, learn, skip, carry)

    def chunk(carry: AnakinCarry, active: jax.Array) -> tuple[AnakinCarry, Any]:
        return jax.lax.scan(maybe_learn, carry, active)

    return RolloutProgram(start, chunk)


class _Evaluation(NamedTuple):
    """The evaluation episodes' loop state: one episode per environment."""

    env_state: Any
    timestep: dm_env.TimeStep
    actor_state: Any
    returns: jax.Array
    lengths: jax.Array
    done: jax.Array
    key: jax.Array


def make_evaluation_program(
    environment: jax_environments.JaxEnvironment, policy: actors.ActorCore, num_episodes: int
) -> Callable[[Any, jax.Array], tuple[jax.Array, jax.Array]]:
    """`run(params, key) -> (returns, lengths)`: one episode of `policy` (the evaluation
    policy) in each of `num_episodes` environments at once, until every one has ended."""
    select = jax.vmap(policy.select_action, in_axes=(None, 0, 0))

    def step(params: Any, state: _Evaluation) -> _Evaluation:
        action, actor_state = select(params, state.timestep.observation, state.actor_state)
        key, env_key = jax.random.split(state.key)
        env_state, timestep = jax.vmap(environment.step)(
            state.env_state, action, jax.random.split(env_key, num_episodes)
        )
        running = ~state.done
        return _Evaluation(
            env_state,
            timestep,
            actor_state,
            state.returns + jnp.where(running, timestep.reward, 0.0),
            state.lengths + running.astype(jnp.int32),
            state.done | (timestep.step_type == LAST),
            key,
        )

    def run(params: Any, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        env_key, actor_key, key = jax.random.split(key, 3)
        env_state, timestep = jax.vmap(environment.reset)(jax.random.split(env_key, num_episodes))
        actor_state = jax.vmap(policy.init)(jax.random.split(actor_key, num_episodes))
        if policy.episode_start is not None:
            actor_state = jax.vmap(policy.episode_start)(actor_state)
        zeros = jnp.zeros(num_episodes, jnp.float32)
        state = _Evaluation(
            env_state, timestep, actor_state, zeros, zeros.astype(jnp.int32),
            zeros.astype(bool), key,
        )  # fmt: skip
        state = jax.lax.while_loop(
            lambda state: ~jnp.all(state.done), lambda state: step(params, state), state
        )
        return state.returns, state.lengths

    return run


def _episode_rows(episodes: Episodes, active: np.ndarray) -> list[dict[str, Any]]:
    """The chunk's ended episodes in the order they ended ([C, T, N] -> rows)."""
    ended = np.asarray(episodes.ended) & active[:, None, None]
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
        experience = builder.device_experience()
        self._parts = builder.make_learner_parts(self._networks, self._spec)
        self._num_envs = num_envs = builder.num_envs or 1
        self._steps_per_learner_step = num_envs * experience.length
        program = make_rollout_program(
            environment,
            builder.make_policy(self._networks, self._spec),
            self._parts,
            num_envs,
            experience.length,
        )
        self.chunk_length = _chunk_length(config, self._steps_per_learner_step)
        self._chunk = jax.jit(program.chunk, donate_argnums=0)
        key = jax.random.PRNGKey(config.seed)
        self._evaluation_key = jax.random.PRNGKey(context.evaluation_seed)
        self.compile_seconds = 0.0
        started = time.monotonic()
        self._carry = jax.jit(program.start)(key)
        self._uncounted = num_envs  # The step that opened the first rollout.
        self.counter = context.counter
        self._actor_counter = counting.Counter(context.counter, "actor")
        self._learner_counter = counting.Counter(context.counter, "learner")
        self._loggers = context.loggers
        self.compile_seconds += time.monotonic() - started
        self._compiled = False

    # The agent's side.
    def save(self) -> dict[str, Any]:
        return {"carry": self._carry}

    def restore(self, state: dict[str, Any]) -> None:
        self._carry = jax.device_put(state["carry"])
        self._uncounted = 0  # The checkpoint's counts hold the opening step.

    def restart_warm_up(self) -> None:
        pass  # No replay table to refill.

    def checkpoint_replay(self) -> None:
        return None  # Rollouts are in the carry.

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
        evaluate = jax.jit(make_evaluation_program(self._environment, policy, num_episodes))

        def run_episodes() -> tuple[Any, np.ndarray, np.ndarray]:
            (params,) = self.get_variables(["policy"])
            steps = int(self.counter.get_counts().get("actor_steps", 0))
            returns, lengths = evaluate(params, jax.random.fold_in(self._evaluation_key, steps))
            return params, np.asarray(returns), np.asarray(lengths)

        return run_episodes

    def make_evaluation_actor(self, num_envs: int | None = None) -> Any:
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
        """Trains whole learner steps until `num_steps` more environment steps are counted,
        a chunk at a time; `should_stop(steps)` is asked after the chunk in which `first_check`
        and then every `check_every` more steps were reached, and True ends the stretch."""
        check = None
        if should_stop is not None:
            check = environment_loop.StopCheck(should_stop, check_every, first_check or check_every)
        left = max(math.ceil((num_steps - self._uncounted) / self._steps_per_learner_step), 0)
        taken = 0
        while left > 0:
            active = np.arange(self.chunk_length) < left
            steps = self._run_chunk(active)
            left -= int(active.sum())
            taken += steps
            if check is not None and check.due(taken) and check.stop(taken):
                return

    def _run_chunk(self, active: np.ndarray) -> int:
        """Runs one chunk, counts and logs it; returns the environment steps it counted."""
        started = time.monotonic()
        self._carry, (metrics, episodes) = self._chunk(self._carry, jnp.asarray(active))
        learned = int(active.sum())
        rows = _episode_rows(jax.device_get(episodes), active)
        metrics = jax.device_get(metrics)
        elapsed = time.monotonic() - started
        if not self._compiled:
            self._compiled = True
            self.compile_seconds += elapsed  # Most of the first chunk's time is its compile.
        steps = learned * self._steps_per_learner_step + self._uncounted
        self._uncounted = 0
        counts = self._actor_counter.increment(steps=steps, episodes=len(rows))
        rate = steps / max(elapsed, 1e-9)
        for row in rows:
            self._loggers["actor"].write({**row, "steps_per_second": rate, **counts})
        sgd_steps = (self._parts.sgd_steps_per_step or 0) * learned
        counts = self._learner_counter.increment(steps=learned, sgd_steps=sgd_steps)
        means = {name: float(np.mean(np.asarray(value)[active])) for name, value in metrics.items()}
        self._loggers["learner"].write({**counts, **means})
        return steps


def _chunk_length(config: Any, steps_per_learner_step: int) -> int:
    """Learner steps per chunk: a stretch between evaluations or checkpoints in one chunk
    where it is short, never more than `MAX_CHUNK_LEARNER_STEPS`."""
    every = [config.max_num_actor_steps]
    every += [value for value in (config.eval_every, config.checkpoint_every) if value]
    steps = min(every)
    return max(1, min(MAX_CHUNK_LEARNER_STEPS, math.ceil(steps / steps_per_learner_step)))


def make_anakin_layout(config: Any, context: base.LayoutContext) -> base.TrainingLayout:
    """The Anakin layout of `config` (its `jax_environment_factory` makes the environment)."""
    if getattr(config, "jax_environment_factory", None) is None:
        raise errors.ConfigError(
            "The Anakin layout needs an environment written in JAX: use a gymnax id such as "
            "'gymnax:CartPole-v1'."
        )
    training = AnakinTraining(config, context)
    return base.TrainingLayout(training, training, context.counter)
