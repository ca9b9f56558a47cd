"""Replay: tables, adders and datasets over two backends (in-process `local`, and Reverb).

Builders describe tables with `TableConfig` (`uniform_table`, `prioritized_table`,
`queue_table`); `make_server(tables, backend)` starts them on a backend; its client gives
adders their trajectory writers and learners their datasets. Reverb is imported only when
the `reverb` backend is used.
"""

from rlkit.replay.adders import (
    Adder,
    BatchedAdder,
    BatchedSequenceAdder,
    EpisodeAdder,
    NStepTransitionAdder,
    SequenceAdder,
    Step,
)
from rlkit.replay.base import (
    BACKENDS,
    MAX_PRIORITY,
    ONE_PROCESS_SAMPLE_TIMEOUT_S,
    BatchedSequenceWriter,
    RateLimiter,
    ReplayClient,
    ReplayServer,
    SampleTimeoutClient,
    TableConfig,
    TrajectoryWriter,
    for_one_process,
    min_size_limiter,
    prioritized_table,
    queue_limiter,
    queue_table,
    sample_to_insert_limiter,
    uniform_table,
)
from rlkit.replay.servers import make_server, resolve_backend
from rlkit.replay.tables import step_signature, transition_signature

__all__ = [
    "BACKENDS",
    "MAX_PRIORITY",
    "ONE_PROCESS_SAMPLE_TIMEOUT_S",
    "Adder",
    "BatchedAdder",
    "BatchedSequenceAdder",
    "BatchedSequenceWriter",
    "EpisodeAdder",
    "NStepTransitionAdder",
    "RateLimiter",
    "ReplayClient",
    "ReplayServer",
    "SampleTimeoutClient",
    "SequenceAdder",
    "Step",
    "TableConfig",
    "TrajectoryWriter",
    "for_one_process",
    "make_server",
    "min_size_limiter",
    "prioritized_table",
    "queue_limiter",
    "queue_table",
    "resolve_backend",
    "sample_to_insert_limiter",
    "step_signature",
    "transition_signature",
    "uniform_table",
]
