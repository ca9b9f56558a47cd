"""A generic actor around a jitted policy with explicit PRNG state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

import dm_env
import jax
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


class GenericActor(core.Actor, core.Saveable[Any]):
    """Runs an `ActorCore` with parameters from a `VariableClient`, writing to an adder.

    One jitted call per step: the observation goes in, the action comes out as numpy and the
    PRNG state stays on `device` (the first CPU by default: a small per-step policy is
    cheaper there than on an accelerator). Parameters are moved to it once per fetch, not
    per step. With `check_finite`, an action holding NaN or infinity raises
    `InvalidActionError` naming the actor step, instead of reaching the environment.
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
    ):
        self._core = actor_core
        self._variable_client = variable_client
        self._adder = adder
        # Committed inputs decide where a jitted call runs (jit's backend= is deprecated).
        self._device = device if device is not None else jax.devices("cpu")[0]
        self._select = jax.jit(actor_core.select_action) if jit else actor_core.select_action
        self._get_extras = actor_core.get_extras
        self._episode_start = None
        if actor_core.episode_start is not None:
            start = actor_core.episode_start
            self._episode_start = jax.jit(start) if jit else start
        self._check_finite = check_finite
        self._steps = 0
        self._state = jax.device_put(actor_core.init(random_key), self._device)
        self._fetched_params: Any = None
        self._device_params: Any = None

    def _params(self) -> Any:
        if self._variable_client is None:
            return None
        params = self._variable_client.params
        if params is not self._fetched_params:
            self._fetched_params = params
            self._device_params = jax.device_put(params, self._device)
        return self._device_params

    def select_action(self, observation: types.NestedArray) -> types.NestedArray:
        action, self._state = self._select(self._params(), observation, self._state)
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
            self._state = self._episode_start(self._state)
        if self._adder is not None:
            self._adder.add_first(timestep)

    def observe(self, action: types.NestedArray, next_timestep: dm_env.TimeStep) -> None:
        if self._adder is not None:
            self._adder.add(action, next_timestep, self._get_extras(self._state))

    def update(self, wait: bool = False) -> None:
        if self._variable_client is not None:
            self._variable_client.update(wait)

    @property
    def state(self) -> Any:
        return self._state

    def save(self) -> Any:
        """The policy state (PRNG key, step count, ...): what a resumed actor continues from."""
        return self._state

    def restore(self, state: Any) -> None:
        self._state = jax.device_put(state, self._device)
