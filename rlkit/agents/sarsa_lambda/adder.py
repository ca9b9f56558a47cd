"""`SarsaAdder`: one replay item per transition, written once the action after it is known.

Sarsa's update of step t needs (S_t, A_t, R_t+1, S_t+1, A_t+1): the item of step t is
written when A_t+1 has been taken, one environment step later, so a learner that learns
each item as soon as it is written updates exactly when Sutton & Barto's loop does (after
choosing A_t+1, before acting on it). The last transition of an episode has no next action
(`next_action_taken` False): a terminal one does not bootstrap (its discount is 0), a
truncated one, or one cut short by the loop's step budget, bootstraps on the policy's value
at its last observation.
"""

from __future__ import annotations

from typing import Any

import dm_env
import numpy as np
import tree

from rlkit import replay, specs, types


def extras_spec(environment_spec: specs.EnvironmentSpec) -> dict[str, Any]:
    """What an item holds beside the transition: the next action, whether it was taken, and
    whether the transition's observation starts an episode."""
    return {
        "next_action": environment_spec.actions,
        "next_action_taken": dm_env.specs.Array((), np.bool_),
        "start_of_episode": dm_env.specs.Array((), np.bool_),
    }


def item_signature(environment_spec: specs.EnvironmentSpec) -> types.Transition:
    """One transition per item, with `extras_spec`'s extras (no block axis: a learner step
    reads its items stacked on axis 0, in order)."""

    def array(spec: Any) -> dm_env.specs.Array:
        return dm_env.specs.Array(tuple(spec.shape), np.dtype(spec.dtype))

    observation = tree.map_structure(array, environment_spec.observations)
    return types.Transition(
        observation=observation,
        action=tree.map_structure(array, environment_spec.actions),
        reward=tree.map_structure(array, environment_spec.rewards),
        discount=tree.map_structure(array, environment_spec.discounts),
        next_observation=observation,
        extras=tree.map_structure(array, extras_spec(environment_spec)),
    )


def _zeros(spec_nest: Any) -> Any:
    return tree.map_structure(lambda s: np.zeros(s.shape, s.dtype), spec_nest)


class SarsaAdder(replay.Adder):
    """Writes `types.Transition(S, A, R, discount, S', extras)` items to `table`, each as
    soon as the action taken at S' is known (`extras`: see `extras_spec`), in order.

    `items_written` counts them (what the learning schedule reads). `discount` is the
    environment's: the learner applies its own γ.
    """

    def __init__(
        self,
        client: replay.ReplayClient,
        table: str,
        environment_spec: specs.EnvironmentSpec,
        priority: float = 1.0,
    ):
        self._table = table
        self._priority = priority
        self._writer = client.trajectory_writer(num_keep_alive_refs=1)
        signature = item_signature(environment_spec)
        self._block = _zeros(signature)  # Reused: the writer copies what it is given.
        self._leaves = tree.flatten(self._block)
        self._observation: Any = None
        self._start_of_episode = False
        # (S, A, R, discount, S', starts an episode), waiting for the action taken at S'.
        self._pending: tuple | None = None
        self.items_written = 0

    def add_first(self, timestep: dm_env.TimeStep) -> None:
        if not timestep.first():
            raise ValueError(f"add_first needs a FIRST timestep, got {timestep.step_type}.")
        self._write_pending(None)  # An episode cut short: no action follows its last step.
        self._observation = timestep.observation
        self._start_of_episode = True

    def add(
        self, action: types.NestedArray, next_timestep: dm_env.TimeStep, extras: Any = ()
    ) -> None:
        del extras  # The policy's extras are not needed: the next action is the item's.
        if self._observation is None:
            raise ValueError("add() called before add_first(): start each episode with add_first.")
        self._write_pending(action)
        self._pending = (
            self._observation,
            action,
            next_timestep.reward,
            next_timestep.discount,
            next_timestep.observation,
            self._start_of_episode,
        )
        self._start_of_episode = False
        self._observation = next_timestep.observation
        if next_timestep.last():
            self._write_pending(None)
            self._observation = None

    def _write_pending(self, next_action: types.NestedArray | None) -> None:
        """Writes the pending transition with `next_action` (None: none was taken)."""
        if self._pending is None:
            return
        observation, action, reward, discount, next_observation, start = self._pending
        self._pending = None
        taken = next_action is not None
        transition = types.Transition(
            observation,
            action,
            reward,
            discount,
            next_observation,
            {
                "next_action": next_action if taken else 0,
                "next_action_taken": taken,
                "start_of_episode": start,
            },
        )
        for buffer, value in zip(self._leaves, tree.flatten(transition), strict=True):
            buffer[...] = value
        self._writer.append(self._block)
        item = tree.map_structure(lambda column: column[-1], self._writer.history)
        self._writer.create_item(self._table, self._priority, item)
        self.items_written += 1

    def reset(self) -> None:
        self._pending = None
        self._observation = None

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.end_episode()
        self._writer.close()
