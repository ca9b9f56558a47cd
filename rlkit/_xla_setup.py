"""XLA CPU settings chosen by measurement (see README, "Performance on CPU").

The networks rlkit trains on CPU are small: a 64x256 @ 256x256 matmul gains nothing from
Eigen's multi-threading here, yet the thread hand-offs occupy every core. With single-threaded
kernels the learner's jitted update runs on one core while the actor and Reverb use the
others (`rlkit.Agent(..., learn_in_background=True)`), which made DQN on CartPole ~1.4x
faster on 2 cores. Set RLKIT_XLA_CPU_MULTI_THREAD=1 to keep XLA's default.
"""

from __future__ import annotations

import os
import sys

_FLAG = "--xla_cpu_multi_thread_eigen=false"


def prefer_single_threaded_cpu_kernels() -> None:
    """Adds the flag to XLA_FLAGS unless opted out, already set, or too late to matter."""
    if os.environ.get("RLKIT_XLA_CPU_MULTI_THREAD", "0") not in ("", "0"):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" in flags:
        return  # The user chose.
    jax_bridge = sys.modules.get("jax._src.xla_bridge")
    if jax_bridge is not None and getattr(jax_bridge, "_backends", None):
        return  # XLA already started: flags are read once, at backend creation.
    os.environ["XLA_FLAGS"] = f"{flags} {_FLAG}".strip()


prefer_single_threaded_cpu_kernels()
# TensorFlow is only here for Reverb's datasets; its start-up INFO lines are noise. Read when
# TensorFlow loads, so set before anything imports Reverb; a value the user set is kept.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
