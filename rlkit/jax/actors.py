"""A generic actor around a jitted policy with explicit PRNG state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

import dm_env
import jax
import jax.numpy as jnp
import numpy as np

from rlkit import core, errors, types
from rlkit.jax import variable_utils
from rlkit.replay import adders as adders_lib

State = TypeVar("State")


class ActorCore(NamedTuple, Generic[State]):
    """Pure functions that define a policy; state carries PRNG keys, step counts, RNN state.

    `select_action(params, observation, state) -> (action, state)` sees one unbatched
    observation and is jitted by the actor; `get_extras(state)` returns what the adder should
    store beside each action (e.g. log-probabilities), `()` for none. `episode_start(state)`,
    if given, runs (jitted) at each episode's first step, e.g. to restart a noise process.
    """

    init: Callable[[types.PRNGKey], State]
    select_action: Callable[[types.Params, types.NestedArray, State], tuple[Any, State]]
    get_extras: Callable[[State], Any]
    episode_start: Callable[[State], State] | None = None


def extras_spec(actor_core: ActorCore) -> types.NestedSpec:
    """What `actor_core.get_extras` returns for one step, as dm_env specs (no batch axis):
    the extras a replay table's signature holds beside each action (`()` for none)."""
    shapes = jax.eval_shape(
        lambda key: actor_core.get_extras(actor_core.init(key)), jax.random.PRNGKey(0)
    )
    return jax.tree_util.tree_map(lambda leaf: dm_env.specs.Array(leaf.shape, leaf.dtype), shapes)


def _where_started(first: jax.Array, started: Any, state: Any) -> Any:
    """Each sub-environment's state from `started` where `first` [N] is set, else `state`."""

    def select(new, old):
        return jnp.where(first.reshape(first.shape + (1,) * (new.ndim - 1)), new, old)

    return jax.tree_util.tree_map(select, started, state)


def _all_on(tree: Any, device: jax.Device) -> bool:
    """Whether every leaf of `tree` is a jax.Array committed to `device` alone."""
    for leaf in jax.tree_util.tree_leaves(tree):
        if not isinstance(leaf, jax.Array):
            return False
        # `committed` is public from jax 0.5; jax 0.4.34 (the Reverb stack) has `_committed`.
        if not getattr(leaf, "committed", getattr(leaf, "_committed", False)):
            return False
        if leaf.sharding.device_set != {device}:
            return False
    return True


class GenericActor(core.Actor, core.Saveable[Any]):
    """Runs an `ActorCore` with parameters from a `VariableClient`, writing to an adder.

    One jitted call per step: the observation goes in, the action comes out as numpy and the
    PRNG state stays on `device` (the first CPU by default: a small per-step policy is
    cheaper there than on an accelerator). Parameters are moved to it once per fetch, not
    per step. With `check_finite`, an action holding NaN or infinity raises
    `InvalidActionError` naming the actor step, instead of reaching the environment.

    With `num_envs`, it acts in a batched environment (`rlkit.make_vector_environment`): the
    core runs `jax.vmap`ped over the N observations, still one jitted call per step, each
    sub-environment with a policy state of its own (its own PRNG key, step count, noise
    process; `state` is stacked on a leading axis of N); `adder` is then a `BatchedAdder`.
    A sub-environment's `FIRST` step starts its episode (`episode_start`, `add_first`).
    Step counts kept in the policy state count that sub-environment's steps.
    """

    def __init__(
        self,
        actor_core: ActorCore,
        random_key: types.PRNGKey,
        variable_client: variable_utils.VariableClient | None,
        adder: adders_lib.Adder | None = None,
        jit: bool = True,
        device: jax.Device | None = None,
        check_finite: bool = False,
        num_envs: int | None = None,
    ):
        self._core = actor_core
        self._variable_client = variable_client
        self._adder = adder
        self._num_envs = num_envs
        # Committed inputs decide where a jitted call runs (jit's backend= is deprecated).
        self._device = device if device is not None else jax.devices("cpu")[0]
        maybe_jit = jax.jit if jit else (lambda function: function)
        select, get_extras, start = (
            actor_core.select_action,
            actor_core.get_extras,
            actor_core.episode_start,
        )
        if num_envs is None:
            state = actor_core.init(random_key)
        else:
            if num_envs < 1:
                raise ValueError(f"num_envs must be positive, got {num_envs}.")
            state = jax.vmap(actor_core.init)(jax.random.split(random_key, num_envs))
            select = jax.vmap(select, in_axes=(None, 0, 0))
            get_extras = jax.vmap(get_extras)
            if start is not None:
                vmapped_start = jax.vmap(start)
                start = lambda state, first: _where_started(first, vmapped_start(state), state)  # noqa: E731

        def select_with_extras(params, observation, state):
            # The adder's extras come out of the same call: no second dispatch per step.
            action, state = select(params, observation, state)
            return action, state, get_extras(state)

        self._select = maybe_jit(select_with_extras)
        self._get_extras = maybe_jit(get_extras)
        self._episode_start = None if start is None else maybe_jit(start)
        self._check_finite = check_finite
        self._steps = 0
        self._state = jax.device_put(state, self._device)
        self._extras = self._get_extras(self._state)  # The last action's, for the adder.
        self._fetched_params: Any = None
        self._device_params: Any = None

    def _params(self) -> Any:
        if self._variable_client is None:
            return None
        params = self._variable_client.params
        if params is not self._fetched_params:
            self._fetched_params = params
            # A learner in this process serves arrays already on the actor's device: moving
            # them again is a Python dispatch per leaf, every time the learner steps.
            if not _all_on(params, self._device):
                params = jax.device_put(params, self._device)
            self._device_params = params
        return self._device_params

    @property
    def params(self) -> Any:
        """The parameters it acts with (None: it has no variable source)."""
        return None if self._variable_client is None else self._variable_client.params

    def select_action(self, observation: types.NestedArray) -> types.NestedArray:
        action, self._state, self._extras = self._select(self._params(), observation, self._state)
        action = jax.tree_util.tree_map(np.asarray, action)
        self._steps += 1
        if self._check_finite and not all(
            np.all(np.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(action)
        ):
            raise errors.InvalidActionError(
                f"The policy returned a non-finite action {action!r} at step {self._steps} "
                "of this actor, so it was not sent to the environment. Its parameters have "
                "likely diverged: check the learner's losses, lower the learning rates or "
                "set max_gradient_norm."
            )
        return action

    def observe_first(self, timestep: dm_env.TimeStep) -> None:
        if self._episode_start is not None:
            if self._num_envs is None:
                self._state = self._episode_start(self._state)
            else:
                self._state = self._episode_start(self._state, np.ones(self._num_envs, bool))
        if self._adder is not None:
            self._adder.add_first(timestep)

    def observe(self, action: types.NestedArray, next_timestep: dm_env.TimeStep) -> None:
        if self._adder is not None:
            self._adder.add(action, next_timestep, self._extras)
        if self._num_envs is not None and self._episode_start is not None:
            first = np.asarray(next_timestep.step_type) == dm_env.StepType.FIRST
            if first.any():
                self._state = self._episode_start(self._state, first)

    def update(self, wait: bool = False) -> None:
        if self._variable_client is not None:
            self._variable_client.update(wait)

    @property
    def state(self) -> Any:
        return self._state

    @property
    def num_envs(self) -> int | None:
        """The sub-environments a batched actor acts in; None for one environment."""
        return self._num_envs

    def count_steps_from(self, steps: int) -> None:
        """Sets the step count of a policy state that keeps one (a `steps` field: what
        exploration schedules read) to `steps` per sub-environment: a distributed actor
        follows the run's count rather than its own."""
        if hasattr(self._state, "steps") and hasattr(self._state, "_replace"):
            counted = jnp.full_like(self._state.steps, steps)
            self._state = self._state._replace(steps=jax.device_put(counted, self._device))

    def save(self) -> Any:
        """The policy state (PRNG key, step count, ...): what a resumed actor continues from."""
        return self._state

    def restore(self, state: Any) -> None:
        self._state = jax.device_put(state, self._device)
        self._extras = self._get_extras(self._state)


def make_actor(
    policy: ActorCore,
    random_key: types.PRNGKey,
    variable_source: core.VariableSource | None = None,
    adder: adders_lib.Adder | None = None,
    update_period: int = 1,
    check_finite: bool = False,
    num_envs: int | None = None,
) -> GenericActor:
    """A `GenericActor` on `policy`, fetching "policy" from `variable_source` every
    `update_period` learner steps (none: the policy acts without parameters): what every
    family's builder makes its actors with."""
    client = None
    if variable_source is not None:
        client = variable_utils.VariableClient(variable_source, "policy", update_period)
    return GenericActor(
        policy, random_key, client, adder, check_finite=check_finite, num_envs=num_envs
    )
