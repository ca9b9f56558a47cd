"""XLA and JAX CPU settings chosen by measurement (see README, "Performance on CPU").

The networks rlkit trains on CPU are small: a 64x256 @ 256x256 matmul gains nothing from
Eigen's multi-threading here, yet the thread hand-offs occupy every core. With single-threaded
kernels the learner's jitted update runs on one core while the actor uses the other
(`rlkit.Agent(..., learn_in_background=True)`), which made DQN on CartPole ~1.4x faster on 2
cores. Two more settings serve the per-step policy call, which is tiny and latency-bound:
XLA's concurrency-optimised scheduler runs its independent branches (the Q-network, the PRNG)
on different threads, and asynchronous CPU dispatch hands every call to another thread; both
hand-offs cost more than the work (a DQN policy call: ~100 us with them, ~30 us without, on
jax 0.12), and async dispatch also queued the actor's calls behind the learner's.

Set RLKIT_KEEP_JAX_CPU_DEFAULTS=1 (or the older RLKIT_XLA_CPU_MULTI_THREAD=1) to keep XLA's
and JAX's defaults; a flag or option you set yourself is always kept.
"""

from __future__ import annotations

import os
import sys

_FLAGS = {
    "xla_cpu_multi_thread_eigen": "--xla_cpu_multi_thread_eigen=false",
    "xla_cpu_enable_concurrency_optimized_scheduler": (
        "--xla_cpu_enable_concurrency_optimized_scheduler=false"
    ),
}


def _opted_out() -> bool:
    return any(
        os.environ.get(name, "0") not in ("", "0")
        for name in ("RLKIT_KEEP_JAX_CPU_DEFAULTS", "RLKIT_XLA_CPU_MULTI_THREAD")
    )


def prefer_single_threaded_cpu_kernels() -> None:
    """Adds the flags to XLA_FLAGS unless opted out, already set, or too late to matter."""
    if _opted_out():
        return
    jax_bridge = sys.modules.get("jax._src.xla_bridge")
    if jax_bridge is not None and getattr(jax_bridge, "_backends", None):
        return  # XLA already started: flags are read once, at backend creation.
    flags = os.environ.get("XLA_FLAGS", "")
    added = [flag for name, flag in _FLAGS.items() if name not in flags]  # The user chose.
    os.environ["XLA_FLAGS"] = " ".join([flags, *added]).strip()


def prefer_inline_cpu_dispatch() -> None:
    """Turns JAX's asynchronous CPU dispatch off, unless opted out or the backend is up.

    Called when rlkit's JAX modules load (`rlkit.jax`): `import rlkit` alone imports no JAX.
    """
    if _opted_out() or "JAX_CPU_ENABLE_ASYNC_DISPATCH" in os.environ:
        return  # Opted out, or the user chose (jax does not read that variable itself).
    import jax
    from jax._src import xla_bridge

    if getattr(xla_bridge, "_backends", None):
        return  # The CPU client exists; it was made with the setting it has.
    jax.config.update("jax_cpu_enable_async_dispatch", False)


prefer_single_threaded_cpu_kernels()
# TensorFlow is only here for Reverb's datasets; its start-up INFO lines are noise. Read when
# TensorFlow loads, so set before anything imports Reverb; a value the user set is kept.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
