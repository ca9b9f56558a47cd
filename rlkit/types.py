"""Shared types."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

# A nest (dict / tuple / list) of arrays, as used throughout dm_env and JAX.
NestedArray = Any
NestedSpec = Any
PRNGKey = Any
Params = Any


class Transition(NamedTuple):
    """One (possibly n-step) transition: s, a, R, gamma^n * prod(discounts), s'.

    `discount` already includes the agent's discount factor across the n steps, so the
    bootstrap target is `reward + discount * V(next_observation)`; a terminal transition has
    `discount == 0`, a time-limit truncation keeps it positive.
    """

    observation: NestedArray
    action: NestedArray
    reward: NestedArray
    discount: NestedArray
    next_observation: NestedArray
    extras: NestedArray = ()


class Batch(NamedTuple):
    """A batch sampled from replay, with what prioritised replay needs to write back."""

    data: Any
    keys: np.ndarray  # uint64 replay item keys, for priority updates.
    probabilities: np.ndarray  # sampling probability of each item (importance weights).
