"""The pure programs of the Anakin layout: acting, the environment, experience and learning
as functions `jax.jit` compiles whole (`rlkit.layouts.anakin` runs them from the host).

A program is `start(key) -> carry` and `chunk(carry, xs) -> (carry, ChunkOutput)`: a
`lax.scan` over iterations, each taking a step of every environment (the agent's policy,
`jax.vmap`ped over them) or a whole rollout, writing what the host's adder would write, and
running the agent's own update (`builders.LearnerParts`) on the builder's schedule. `xs`
says which iterations run: a chunk has one length, so it compiles once, and the last one of a
stretch masks what it does not need (`lax.cond` on an unbatched flag stays a branch, also
when runs of several seeds are vmapped together).

- Rollouts (on-policy, `builders.Rollouts`): an iteration is a rollout of `length` steps of
  every environment and one learner step on it, as `replay.Step`s [num_envs, length + 1]
  whose first step is the previous rollout's last: exactly the items `BatchedSequenceAdder`
  writes on the host (a restarting environment's step holds its final observation with a
  zero action, reward and discount). `start` takes the step that opens the first rollout.
- Replay (off-policy, `builders.DeviceReplay`): an iteration is one step of every
  environment, written to an on-device buffer (`rlkit.replay.device`: n-step items as the
  host's adders, uniform or prioritised), then the learner steps the builder's
  `LearningSchedule` has due, each on a sample, priorities written back.

Steps are counted as the host's loop counts them: a restart (`FIRST`) is not a step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import dm_env
import jax
import jax.numpy as jnp

from rlkit import builders, replay, specs, types
from rlkit.jax import actors
from rlkit.jax import learning as jax_learning
from rlkit.jax_environments import base as jax_environments
from rlkit.replay import device

FIRST, LAST = jax_environments.FIRST, jax_environments.LAST


class AnakinCarry(NamedTuple):
    """Everything a run carries from one iteration to the next, on the device; the agent
    state the runner checkpoints. Leaves [num_envs, ...] but the last three;
    `experience` is the program's (`RolloutExperience` or `ReplayExperience`)."""

    env_state: Any
    timestep: dm_env.TimeStep  # The latest timestep of each environment.
    actor_state: Any  # Each environment's policy state (PRNG key, step count, ...).
    episode_return: jax.Array
    episode_length: jax.Array
    experience: Any
    learner_state: Any
    key: jax.Array
    observations: jax.Array  # Steps taken so far (restarts not counted), as the host's Agent.


class RolloutExperience(NamedTuple):
    """What consecutive rollouts share: the step that opens the next one, the last action's
    extras (a restarting environment's step keeps them), and each episode's steps so far."""

    entry: replay.Step
    last_extras: Any
    episode_steps: jax.Array


class ReplayExperience(NamedTuple):
    """The n-step writer and the buffer, and the learner steps started so far."""

    writer: device.NStepWriterState
    buffer: device.ReplayBufferState
    learner_steps: jax.Array


class Episodes(NamedTuple):
    """Per environment step [..., num_envs]: whether an episode ended there, its return and
    length (meaningful where it ended)."""

    ended: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array


class ChunkOutput(NamedTuple):
    """What a chunk tells the host, per iteration [C, ...]: the episodes, the steps taken,
    the learner steps run, and the sums and counts of their finite metrics."""

    episodes: Episodes
    steps: jax.Array
    learner_steps: jax.Array
    metric_sums: dict[str, jax.Array]
    metric_counts: dict[str, jax.Array]


class Program(NamedTuple):
    """A layout program: `start(key) -> carry`, `chunk(carry, active [C], anyone [C] or None)
    -> (carry, ChunkOutput)`, and `steps_per_iteration`, the most steps one iteration takes."""

    start: Callable[[jax.Array], AnakinCarry]
    chunk: Callable[..., tuple[AnakinCarry, ChunkOutput]]
    steps_per_iteration: int


class _Acting(NamedTuple):
    """What acting needs, made once per program."""

    environment: jax_environments.JaxEnvironment
    policy: actors.ActorCore
    variables: Callable[[Any], dict[str, Any]]
    num_envs: int


class _Stepped(NamedTuple):
    """One step of every environment: the action taken at `observation`, its extras, and the
    timestep it led to."""

    observation: Any
    action: Any
    extras: Any
    timestep: dm_env.TimeStep


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


def _start_acting(acting: _Acting, key: jax.Array, experience: Any, learner_state: Any):
    """The carry of a run's start: every environment reset, every policy state fresh."""
    actor_key, env_key, key = jax.random.split(key, 3)
    num_envs, policy = acting.num_envs, acting.policy
    env_state, timestep = jax.vmap(acting.environment.reset)(jax.random.split(env_key, num_envs))
    actor_state = jax.vmap(policy.init)(jax.random.split(actor_key, num_envs))
    if policy.episode_start is not None:
        actor_state = jax.vmap(policy.episode_start)(actor_state)
    zeros = jnp.zeros(num_envs, jnp.float32)
    return AnakinCarry(
        env_state, timestep, actor_state, zeros, zeros.astype(jnp.int32), experience,
        learner_state, key, jnp.zeros((), jnp.int32),
    )  # fmt: skip


def _step(acting: _Acting, carry: AnakinCarry) -> tuple[AnakinCarry, _Stepped, Episodes]:
    """One step of every environment with the learner's current policy parameters."""
    policy = acting.policy
    params = acting.variables(carry.learner_state)["policy"]
    observation = carry.timestep.observation
    action, actor_state = jax.vmap(policy.select_action, in_axes=(None, 0, 0))(
        params, observation, carry.actor_state
    )
    extras = jax.vmap(policy.get_extras)(actor_state)
    key, env_key = jax.random.split(carry.key)
    env_keys = jax.random.split(env_key, acting.num_envs)
    env_state, timestep = jax.vmap(acting.environment.step)(carry.env_state, action, env_keys)
    restarting = timestep.step_type == FIRST
    if policy.episode_start is not None:
        actor_state = _where(restarting, jax.vmap(policy.episode_start)(actor_state), actor_state)
    episode_return = jnp.where(restarting, 0.0, carry.episode_return + timestep.reward)
    episode_length = jnp.where(restarting, 0, carry.episode_length + 1)
    carry = carry._replace(
        env_state=env_state,
        timestep=timestep,
        actor_state=actor_state,
        episode_return=episode_return,
        episode_length=episode_length,
        key=key,
        observations=carry.observations + jnp.sum(~restarting, dtype=jnp.int32),
    )
    episodes = Episodes(timestep.step_type == LAST, episode_return, episode_length)
    return carry, _Stepped(observation, action, extras, timestep), episodes


def _finite_sums(metrics: dict[str, jax.Array]) -> tuple[dict, dict]:
    """Metrics as sums and counts of their finite values (a step reports NaN for what it
    did not compute, e.g. TD3's delayed policy loss)."""
    finite = {name: jnp.isfinite(value) for name, value in metrics.items()}
    sums = {name: jnp.where(finite[name], value, 0.0) for name, value in metrics.items()}
    counts = {name: ok.astype(jnp.int32) for name, ok in finite.items()}
    return sums, counts


def _masked(run: Callable, carry: AnakinCarry, flags: Any) -> tuple[AnakinCarry, ChunkOutput]:
    """`run(carry)` where `flags` = (active, anyone) says this run's iteration is active,
    else nothing, with outputs of zeros. `anyone` (whether any of the runs vmapped together
    is active; unbatched) keeps a skipped iteration a branch not taken: under `jax.vmap` a
    condition on batched `active` alone becomes a select, which computes both sides."""
    active, anyone = flags
    outputs = jax.eval_shape(run, carry)[1]

    def skip(carry: AnakinCarry) -> tuple[AnakinCarry, ChunkOutput]:
        return carry, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), outputs)

    def maybe(carry: AnakinCarry) -> tuple[AnakinCarry, ChunkOutput]:
        return jax.lax.cond(active, run, skip, carry)

    return jax.lax.cond(anyone, maybe, skip, carry)


def _scan_chunk(run: Callable, carry: AnakinCarry, active: jax.Array, anyone: Any):
    """A chunk: `run` over the iterations `active` [C] marks (`anyone` [C], unbatched:
    whether any run vmapped with this one is active; None: `active`)."""
    anyone = active if anyone is None else anyone
    return jax.lax.scan(lambda c, flags: _masked(run, c, flags), carry, (active, anyone))


# On-policy: rollouts.


def _rollout_step(
    acting: _Acting, step_spec: replay.Step, carry: AnakinCarry
) -> tuple[AnakinCarry, tuple[replay.Step, Episodes]]:
    """One step of every environment, and the entries it writes (as the host's
    `BatchedSequenceAdder.add`)."""
    experience = carry.experience
    carry, stepped, episodes = _step(acting, carry)
    restarting = stepped.timestep.step_type == FIRST
    entry = replay.Step(
        stepped.observation,
        _where(restarting, _zeros(step_spec.action, (acting.num_envs,)), stepped.action),
        jnp.where(restarting, 0.0, stepped.timestep.reward),
        jnp.where(restarting, 0.0, stepped.timestep.discount),
        (experience.episode_steps == 0) & ~restarting,
        _where(restarting, experience.last_extras, stepped.extras),
    )
    experience = experience._replace(
        last_extras=stepped.extras,
        episode_steps=jnp.where(restarting, 0, experience.episode_steps + 1),
    )
    return carry._replace(experience=experience), (_cast(entry, step_spec), episodes)


def make_rollout_program(
    environment: jax_environments.JaxEnvironment,
    policy: actors.ActorCore,
    parts: jax_learning.LearnerParts,
    num_envs: int,
    rollout_length: int,
) -> Program:
    """The on-policy program of `policy` and the learner `parts` on `num_envs` copies of
    `environment`, learning from rollouts of `rollout_length` steps; `xs` is `active` [C]."""
    spec = specs.make_environment_spec(environment)
    step_spec = replay.Step(
        spec.observations, spec.actions, spec.rewards, spec.discounts,
        dm_env.specs.Array((), bool), actors.extras_spec(policy),
    )  # fmt: skip
    acting = _Acting(environment, policy, parts.variables, num_envs)

    def act(carry: AnakinCarry, _) -> tuple[AnakinCarry, tuple[replay.Step, Episodes]]:
        return _rollout_step(acting, step_spec, carry)

    def start(key: jax.Array) -> AnakinCarry:
        learner_key, key = jax.random.split(key)
        experience = RolloutExperience(
            _zeros(step_spec, (num_envs,)),
            _zeros(step_spec.extras, (num_envs,)),
            jnp.zeros(num_envs, jnp.int32),
        )
        carry = _start_acting(acting, key, experience, parts.initial_state(learner_key))
        carry, (entry, _) = act(carry, None)  # Opens the first rollout.
        return carry._replace(experience=carry.experience._replace(entry=entry))

    def learn(carry: AnakinCarry) -> tuple[AnakinCarry, ChunkOutput]:
        """A rollout of every environment, then one learner step on it."""
        opening, observations = carry.experience.entry, carry.observations
        carry, (entries, episodes) = jax.lax.scan(act, carry, None, length=rollout_length)
        items = jax.tree.map(
            lambda first, rest: jnp.concatenate([first[:, None], jnp.swapaxes(rest, 0, 1)], 1),
            opening,
            entries,
        )
        learner_state, metrics, _ = parts.update(
            carry.learner_state, items, jnp.ones(num_envs, jnp.float32)
        )
        experience = carry.experience._replace(entry=jax.tree.map(lambda x: x[-1], entries))
        carry = carry._replace(learner_state=learner_state, experience=experience)
        steps = carry.observations - observations
        return carry, ChunkOutput(episodes, steps, jnp.ones((), jnp.int32), *_finite_sums(metrics))

    def chunk(carry: AnakinCarry, active: jax.Array, anyone: Any = None):
        return _scan_chunk(learn, carry, active, anyone)

    return Program(start, chunk, num_envs * rollout_length)


# Off-policy: replay.


def learner_steps_due(
    schedule: builders.LearningSchedule, observations: jax.Array, started: jax.Array
) -> jax.Array:
    """`LearningSchedule.learner_steps_due` on device arrays: the same count from the same
    observation and learner step counts."""
    since_start = observations - schedule.min_observations
    ratio = schedule.observations_per_learner_step
    if float(ratio).is_integer():
        position = since_start // int(ratio)
    else:
        position = jnp.floor(since_start / ratio).astype(jnp.int32)
    return jnp.where(since_start < 0, 0, jnp.maximum(position + 1 - started, 0))


class _Learning(NamedTuple):
    """A learner step's loop state: learner, the buffer's priorities (its items are only
    read, so they stay outside the loop: carried, XLA would copy them every learner step),
    key, metric sums and counts."""

    learner_state: Any
    priorities: jax.Array
    max_priority: jax.Array
    key: jax.Array
    sums: dict[str, jax.Array]
    counts: dict[str, jax.Array]


def _sample(
    replay_config: builders.DeviceReplay, buffer: device.ReplayBufferState, key: jax.Array
) -> types.Batch:
    """A learner step's sample, uniform or prioritised as the builder's table."""
    exponent, count = replay_config.priority_exponent, replay_config.items_per_sample
    if exponent is None:
        return device.sample_uniform(buffer, key, count)
    return device.sample_prioritized(buffer, key, count, exponent)


def _learner_step(
    parts: jax_learning.LearnerParts,
    replay_config: builders.DeviceReplay,
    buffer: device.ReplayBufferState,
    _,
    learning: _Learning,
) -> _Learning:
    """One learner step on a sample of `buffer` (with the loop's priorities); new
    priorities written back when prioritised."""
    buffer = buffer._replace(priorities=learning.priorities, max_priority=learning.max_priority)
    key, sample_key = jax.random.split(learning.key)
    batch = _sample(replay_config, buffer, sample_key)
    learner_state, metrics, priorities = parts.update(
        learning.learner_state, batch.data, batch.probabilities
    )
    if replay_config.priority_exponent is not None and priorities is not None:
        buffer = device.set_priorities(buffer, batch.keys, priorities)
    sums, counts = _finite_sums(metrics)
    sums = jax.tree.map(jnp.add, learning.sums, sums)
    counts = jax.tree.map(jnp.add, learning.counts, counts)
    return _Learning(learner_state, buffer.priorities, buffer.max_priority, key, sums, counts)


def _zero_metrics(
    parts: jax_learning.LearnerParts, replay_config: builders.DeviceReplay, carry: AnakinCarry
) -> tuple[dict, dict]:
    """Zero sums and counts in the shape of a learner step's metrics."""
    sample = functools.partial(_sample, replay_config)
    batch = jax.eval_shape(sample, carry.experience.buffer, carry.key)
    _, metrics, _ = jax.eval_shape(
        parts.update, carry.learner_state, batch.data, batch.probabilities
    )
    sums = {name: jnp.zeros(s.shape, s.dtype) for name, s in metrics.items()}
    return sums, {name: jnp.zeros(s.shape, jnp.int32) for name, s in metrics.items()}


def make_replay_program(
    environment: jax_environments.JaxEnvironment,
    policy: actors.ActorCore,
    parts: jax_learning.LearnerParts,
    num_envs: int,
    replay_config: builders.DeviceReplay,
    schedule: builders.LearningSchedule,
) -> Program:
    """The off-policy program of `policy` and the learner `parts` on `num_envs` copies of
    `environment`, with on-device replay as `replay_config` says and learner steps when
    `schedule` has them due; `xs` is `active` [C]."""
    spec = specs.make_environment_spec(environment)
    extras_spec = actors.extras_spec(policy)
    writing = device.NStepConfig(
        replay_config.n_step, replay_config.discount, replay_config.transitions_per_item
    )
    acting = _Acting(environment, policy, parts.variables, num_envs)

    learner_step = functools.partial(_learner_step, parts, replay_config)

    def start(key: jax.Array) -> AnakinCarry:
        learner_key, key = jax.random.split(key)
        item_spec = device.item_signature(writing, spec, extras_spec)
        experience = ReplayExperience(
            device.init_writer(writing, spec, num_envs, extras_spec),
            device.init_buffer(item_spec, replay_config.capacity),
            jnp.zeros((), jnp.int32),
        )
        return _start_acting(acting, key, experience, parts.initial_state(learner_key))

    zero_metrics = functools.partial(_zero_metrics, parts, replay_config)

    def iteration(carry: AnakinCarry, flags: Any) -> tuple[AnakinCarry, ChunkOutput]:
        # Masked by data, not by `lax.cond`: a branch would copy the whole buffer each step.
        active = flags[0]
        before = carry
        carry, stepped, episodes = _step(acting, carry)
        # `_step` leaves experience and learner alone: only the small fields are selected.
        small = lambda c: c._replace(experience=(), learner_state=())  # noqa: E731
        kept = jax.tree.map(
            lambda new, old: jnp.where(active, new, old), small(carry), small(before)
        )
        carry = kept._replace(experience=before.experience, learner_state=before.learner_state)
        experience = before.experience
        writer, written = device.write(
            writing, experience.writer, stepped.observation, stepped.action, stepped.timestep,
            stepped.extras,
        )  # fmt: skip
        writer = jax.tree.map(
            lambda new, old: jnp.where(active, new, old), writer, experience.writer
        )
        buffer = device.insert(experience.buffer, written.items, written.valid & active)
        due = learner_steps_due(schedule, carry.observations, experience.learner_steps)
        due = jnp.where(active, due, 0)
        key, learn_key = jax.random.split(carry.key)
        learning = _Learning(
            carry.learner_state, buffer.priorities, buffer.max_priority, learn_key,
            *zero_metrics(carry),
        )  # fmt: skip
        learning = jax.lax.fori_loop(0, due, functools.partial(learner_step, buffer), learning)
        buffer = buffer._replace(priorities=learning.priorities, max_priority=learning.max_priority)
        experience = ReplayExperience(writer, buffer, experience.learner_steps + due)
        carry = carry._replace(
            learner_state=learning.learner_state, experience=experience,
            key=jnp.where(active, key, carry.key),
        )  # fmt: skip
        episodes = episodes._replace(ended=episodes.ended & active)
        steps = carry.observations - before.observations
        return carry, ChunkOutput(episodes, steps, due, learning.sums, learning.counts)

    def chunk(carry: AnakinCarry, active: jax.Array, anyone: Any = None):
        anyone = active if anyone is None else anyone
        return jax.lax.scan(iteration, carry, (active, anyone))

    return Program(start, chunk, num_envs)


# Evaluation.


class _Evaluation(NamedTuple):
    """The evaluation episodes' loop state: the acting carry (its learner state: the policy's
    parameters), and each environment's first episode's return and length, once ended."""

    carry: AnakinCarry
    returns: jax.Array
    lengths: jax.Array
    done: jax.Array


def make_evaluation_program(
    environment: jax_environments.JaxEnvironment, policy: actors.ActorCore, num_episodes: int
) -> Callable[[Any, jax.Array], tuple[jax.Array, jax.Array]]:
    """`run(params, key) -> (returns, lengths)`: one episode of `policy` (the evaluation
    policy) in each of `num_episodes` environments at once, until every one has ended; the
    steps are training's (`_step`), on `params` instead of a learner's."""
    acting = _Acting(environment, policy, lambda params: {"policy": params}, num_episodes)

    def step(state: _Evaluation) -> _Evaluation:
        carry, _, episodes = _step(acting, state.carry)
        ending = episodes.ended & ~state.done
        return _Evaluation(
            carry,
            jnp.where(ending, episodes.episode_return, state.returns),
            jnp.where(ending, episodes.episode_length, state.lengths),
            state.done | episodes.ended,
        )

    def run(params: Any, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        zeros = jnp.zeros(num_episodes, jnp.float32)
        state = _Evaluation(
            _start_acting(acting, key, (), params), zeros, zeros.astype(jnp.int32),
            zeros.astype(bool),
        )  # fmt: skip
        state = jax.lax.while_loop(lambda state: ~jnp.all(state.done), step, state)
        return state.returns, state.lengths

    return run
