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

from rlkit import core, loggers, replay, specs, types
from rlkit.jax import actors
from rlkit.replay import adders
from rlkit.utils import counting


class LearningSchedule(NamedTuple):
    """When a single-process agent learns, counted in environment steps.

    The first learner step comes after `min_observations` steps; then one every
    `observations_per_learner_step` steps (several per step when it is below 1).

    An on-policy agent sets `on_policy_items` instead (> 0): it learns, one learner step at
    a time on the acting thread, each time its adder has written that many more items (a
    rollout from every sub-environment), and its actor fetches the new parameters before
    acting again, so no step is taken with a stale policy. With `fetch_after_learning`
    False the actor's variable client fetches on its own period instead (IMPALA's actors,
    which lag and are corrected for).
    """

    min_observations: int
    observations_per_learner_step: float
    on_policy_items: int = 0
    fetch_after_learning: bool = True


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


def make_acting(
    builder: ActorLearnerBuilder,
    replay_client: replay.ReplayClient,
    environment_spec: specs.EnvironmentSpec,
    policy: actors.ActorCore,
    random_key: types.PRNGKey,
    variable_source: core.VariableSource | None,
    num_envs: int | None = None,
) -> tuple[adders.Adder, core.Actor]:
    """`builder`'s adder and actor for one environment, or with `num_envs` for a batched one
    (the batched adder and actor): what every layout makes for each acting process."""
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
