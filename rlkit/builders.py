"""The builder interface: how an agent's pieces are made, in one process or many.

An agent is a builder. `rlkit.LocalLayout` assembles one in a single process,
`rlkit.experiments.run_experiment` adds evaluation, checkpoints and logging around it, and the
distributed layout (`rlkit.experiments.make_distributed_experiment`) assembles the same
builder across processes on Ray. Nothing agent-specific
lives outside the builder.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import Any, NamedTuple

from rlkit import core, errors, loggers, replay, specs, types
from rlkit.jax import actors, parameter_server
from rlkit.jax import learning as jax_learning
from rlkit.replay import adders
from rlkit.utils import counting


class LearningSchedule:
    """When an actor and a learner in one process run learner steps (`rlkit.Agent`): at a
    replay ratio counted in environment steps, the first after `min_observations` steps,
    then one every `observations_per_learner_step` steps (several per step below 1).

    Counted, not timed, so a run does the same updates whatever the machine; rounds of
    learner steps may run on a worker thread while the actor acts on the parameters from
    before them (`runs_in_background`). A family whose learning follows something else
    (e.g. rollouts written) subclasses it, replacing the ratio: `attach` gets the acting
    adder before the first step, `learner_steps_due` says how many learner steps to start now,
    `fetch_after_learning` whether the actor must fetch the new parameters before it acts
    again, and `warm_up_again` how to wait after the replay tables were lost.
    """

    runs_in_background: bool = True
    fetch_after_learning: bool = False

    def __init__(self, min_observations: int, observations_per_learner_step: float):
        if observations_per_learner_step <= 0:
            raise ValueError(
                "observations_per_learner_step must be positive, got "
                f"{observations_per_learner_step}."
            )
        self.min_observations = min_observations
        self.observations_per_learner_step = observations_per_learner_step

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(min_observations={self.min_observations}, "
            f"observations_per_learner_step={self.observations_per_learner_step})"
        )

    def attach(self, adder: adders.Adder) -> None:
        """Sees the adder the actor writes with, before the first environment step."""
        del adder

    def learner_steps_due(self, num_observations: int, learner_steps_started: int) -> int:
        """The learner steps to start now, after `num_observations` environment steps and
        `learner_steps_started` learner steps (both counted over the whole run)."""
        since_start = num_observations - self.min_observations
        if since_start < 0:
            return 0
        due = int(since_start // self.observations_per_learner_step) + 1
        return max(due - learner_steps_started, 0)

    def warm_up_again(self, num_observations: int, learner_steps_done: int) -> int:
        """After the replay tables were lost (a damaged replay checkpoint, set aside): the
        learner steps to count as done, so that none is due until the tables hold a
        warm-up's worth (`min_observations`) of new experience, and then learning goes on
        at the usual ratio, as if the steps in between had been taken."""
        position = int(num_observations // self.observations_per_learner_step)
        return max(learner_steps_done, position)


class Rollouts(NamedTuple):
    """How an on-policy learner is fed without replay tables (the Anakin layout): one
    learner step on each rollout of `length` steps from every sub-environment, as
    `replay.Step`s [num_envs, length + 1] of which consecutive rollouts share a step (the
    items of `SequenceAdder(sequence_length=length + 1, period=length)`)."""

    length: int


class DeviceReplay(NamedTuple):
    """How an off-policy learner is fed without replay tables (the Anakin layout): an
    on-device buffer (`rlkit.replay.device`) with the semantics of the builder's table and
    adder: items of `transitions_per_item` n-step transitions (`n_step`, `discount`), at most
    `capacity` items (FIFO), each learner step sampling `items_per_sample` of them, uniformly
    or, with a `priority_exponent`, in proportion to priority ** exponent (new items at the
    largest priority so far; the update's priorities written back). When to learn is the
    builder's `learning_schedule()`."""

    n_step: int
    discount: float
    transitions_per_item: int
    capacity: int
    items_per_sample: int
    priority_exponent: float | None = None


class ActorLearnerBuilder(abc.ABC):
    """Makes replay tables, adder, dataset, learner, policies and actors for one agent."""

    @abc.abstractmethod
    def make_replay_tables(
        self, environment_spec: specs.EnvironmentSpec, policy: actors.ActorCore | None = None
    ) -> list[replay.TableConfig]:
        """The replay tables the adder writes to and the learner samples from."""

    @abc.abstractmethod
    def make_dataset_iterator(self, replay_client: replay.ReplayClient) -> Iterator[types.Batch]:
        """An iterator over learner batches drawn from the replay tables."""

    @abc.abstractmethod
    def make_adder(
        self,
        replay_client: replay.ReplayClient,
        environment_spec: specs.EnvironmentSpec,
        policy: actors.ActorCore | None = None,
    ) -> adders.Adder:
        """The adder an acting actor writes its experience with."""

    def make_batched_adder(
        self,
        replay_client: replay.ReplayClient,
        environment_spec: specs.EnvironmentSpec,
        policy: actors.ActorCore | None,
        num_envs: int,
    ) -> adders.Adder:
        """The adder of a batched actor: one `make_adder` per sub-environment, each with its
        own trajectory writer (`replay.BatchedAdder`). Builders may return one that does
        the same work on the whole batch."""
        return replay.BatchedAdder(
            [self.make_adder(replay_client, environment_spec, policy) for _ in range(num_envs)]
        )

    @abc.abstractmethod
    def make_learner(
        self,
        random_key: types.PRNGKey,
        networks: Any,
        dataset: Iterator[types.Batch],
        logger: loggers.Logger | None = None,
        environment_spec: specs.EnvironmentSpec | None = None,
        replay_client: replay.ReplayClient | None = None,
        counter: counting.Counter | None = None,
        device: Any = None,
    ) -> core.Learner:
        """The learner, pulling from `dataset`, on `device` (a `jax.Device`; None: JAX's
        default)."""

    @abc.abstractmethod
    def make_policy(
        self, networks: Any, environment_spec: specs.EnvironmentSpec, evaluation: bool = False
    ) -> actors.ActorCore:
        """The acting policy, or with `evaluation=True` the greedy/deterministic one."""

    def make_actor_policy(
        self,
        networks: Any,
        environment_spec: specs.EnvironmentSpec,
        actor_index: int,
        num_actors: int,
    ) -> actors.ActorCore:
        """The acting policy of actor `actor_index` of `num_actors` in a distributed run;
        the same for all of them unless a builder spreads exploration over its actors."""
        del actor_index, num_actors
        return self.make_policy(networks, environment_spec)

    @abc.abstractmethod
    def make_actor(
        self,
        random_key: types.PRNGKey,
        policy: actors.ActorCore,
        environment_spec: specs.EnvironmentSpec,
        variable_source: core.VariableSource | None = None,
        adder: adders.Adder | None = None,
        num_envs: int | None = None,
    ) -> core.Actor:
        """An actor running `policy` on parameters from `variable_source`; with `num_envs`,
        a batched one acting in that many sub-environments at once (its `adder` then a
        `replay.BatchedAdder`)."""

    @abc.abstractmethod
    def learning_schedule(self) -> LearningSchedule:
        """When a single-process agent runs its learner (see `LearningSchedule`)."""

    def make_learner_parts(
        self, networks: Any, environment_spec: specs.EnvironmentSpec
    ) -> jax_learning.LearnerParts:
        """The learner's pure pieces (initial state, update, variables), which the Anakin
        layout runs inside its jitted scan; raises `ConfigError` for an agent whose learner
        is not one pure update."""
        del networks, environment_spec
        raise errors.ConfigError(self._not_jitted())

    def device_experience(self) -> Rollouts | DeviceReplay:
        """How the Anakin layout feeds `make_learner_parts`'s update (`Rollouts` or
        `DeviceReplay`); raises `ConfigError` for an agent that layout cannot run."""
        raise errors.ConfigError(self._not_jitted())

    def _not_jitted(self) -> str:
        return (
            f"{type(self).__name__} cannot run in the Anakin layout (environment and agent "
            "jitted together): train it in the local layout (--layout local) on a gymnasium "
            "environment."
        )

    def check_distributed(self) -> None:
        """Raises `ConfigError` if this agent cannot be laid out over processes (e.g. one
        online trace that must follow one stream of experience); the Ray layout asks before
        anything starts."""

    @property
    def num_envs(self) -> int | None:
        """The sub-environments each actor acts in at once, from the config (a batched
        environment: `rlkit.make_vector_environment`), or None for one plain environment.
        Layouts make batched actors and adders of this size and check the environment
        against it (`check_num_envs`)."""
        return None


class AsynchronousGradientBuilder(ActorLearnerBuilder):
    """A builder whose workers learn by sending gradients to one parameter server, which
    applies them as they arrive (A3C): each worker acts and learns as a one-process agent
    whose learner (`rlkit.jax.parameter_server.GradientLearner`) computes gradients on its
    own rollouts and sends them. The layouts lay workers out as threads of one process or
    Ray actors around the server (`rlkit.layouts.gradients`, the Ray layout); unbound, its
    learner sends to a server of its own: one worker."""

    @property
    @abc.abstractmethod
    def num_workers(self) -> int:
        """Worker threads in one process (on Ray: one worker per actor)."""

    @abc.abstractmethod
    def make_parameter_server(
        self,
        random_key: types.PRNGKey,
        networks: Any,
        counter: counting.Counter | None = None,
        logger: loggers.Logger | None = None,
        on_host: bool = False,
    ) -> parameter_server.ParameterServer:
        """The server of the parameters and optimiser state (variables as numpy `on_host`,
        for workers in other processes)."""

    @abc.abstractmethod
    def bind(
        self, server: parameter_server.GradientSink, worker: int
    ) -> AsynchronousGradientBuilder:
        """A copy whose learners are worker `worker`'s, sending to `server`."""


def check_num_envs(builder: ActorLearnerBuilder, environment_num_envs: int | None) -> None:
    """Raises `ConfigError` unless an environment of `environment_num_envs` sub-environments
    (None: a plain one) is what `builder`'s config acts in."""
    wanted = builder.num_envs
    if environment_num_envs == wanted:
        return

    def describe(num_envs: int | None) -> str:
        if num_envs is None:
            return "one plain environment"
        return f"a batched environment of {num_envs} sub-environments"

    raise errors.ConfigError(
        f"The agent's config acts in {describe(wanted)} (num_envs), but the environment is "
        f"{describe(environment_num_envs)}: make the environment with "
        + (
            "rlkit.make_environment(...)"
            if wanted is None
            else f"rlkit.make_vector_environment(..., num_envs={wanted})"
        )
        + ", or set the config's num_envs to match."
    )


def make_acting(
    builder: ActorLearnerBuilder,
    replay_client: replay.ReplayClient,
    environment_spec: specs.EnvironmentSpec,
    policy: actors.ActorCore,
    random_key: types.PRNGKey,
    variable_source: core.VariableSource | None,
) -> tuple[adders.Adder, core.Actor]:
    """`builder`'s adder and actor, for one environment or for a batch of its `num_envs`
    (the batched adder and actor): what every layout makes for each acting process."""
    num_envs = builder.num_envs
    if num_envs is None:
        adder = builder.make_adder(replay_client, environment_spec, policy)
        return adder, builder.make_actor(
            random_key, policy, environment_spec, variable_source, adder
        )
    adder = builder.make_batched_adder(replay_client, environment_spec, policy, num_envs)
    actor = builder.make_actor(
        random_key, policy, environment_spec, variable_source, adder, num_envs=num_envs
    )
    return adder, actor
