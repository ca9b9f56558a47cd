"""Replay on Reverb: tables, adders and datasets."""

from rlkit.replay.adders import Adder, EpisodeAdder, NStepTransitionAdder, SequenceAdder, Step
from rlkit.replay.dataset import ReplayIterator, update_priorities
from rlkit.replay.tables import (
    prioritized_table,
    queue_table,
    sample_to_insert_limiter,
    step_signature,
    transition_signature,
    uniform_table,
)

__all__ = [
    "Adder",
    "EpisodeAdder",
    "NStepTransitionAdder",
    "ReplayIterator",
    "SequenceAdder",
    "Step",
    "prioritized_table",
    "queue_table",
    "sample_to_insert_limiter",
    "step_signature",
    "transition_signature",
    "uniform_table",
    "update_priorities",
]
