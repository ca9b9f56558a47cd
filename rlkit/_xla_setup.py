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


# The on-disk cache of compiled programs: its size limit is also what makes JAX take a file
# lock around each read and write, so concurrent runs never read a half-written entry.
COMPILATION_CACHE_MAX_BYTES = 2 * 1024**3
# Programs that compile for less are not worth a disk entry (and its locked read).
COMPILATION_CACHE_MIN_COMPILE_SECONDS = 0.2


def _machine_fingerprint() -> str:
    """This CPU's model and instruction-set features: compiled CPU programs are kept apart
    per kind of machine, so a home directory shared over a cluster never hands one machine a
    program built for another's instructions."""
    import hashlib
    import platform

    described = [platform.machine(), platform.processor()]
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            described += sorted(
                {line for line in cpuinfo if line.startswith(("model name", "flags"))}
            )
    except OSError:
        pass
    return hashlib.sha256("\n".join(described).encode()).hexdigest()[:16]


def compilation_cache_directory() -> str:
    """Where rlkit keeps compiled XLA programs: `$XDG_CACHE_HOME/rlkit/jax/MACHINE` (by
    default `~/.cache/rlkit/jax/MACHINE`), MACHINE naming this CPU's kind."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "rlkit", "jax", _machine_fingerprint())


def use_persistent_compilation_cache() -> None:
    """Keeps compiled programs on disk, so the next run of the same agent on the same shapes
    loads them instead of compiling (PPO's update alone compiles for ~1.8 s on CPU).

    Unless opted out (`RLKIT_COMPILATION_CACHE=0`, or `RLKIT_KEEP_JAX_CPU_DEFAULTS=1` for all
    of rlkit's JAX settings) or the user has a cache of their own (`JAX_COMPILATION_CACHE_DIR`
    or `jax.config`); a size limit the user set is kept (a limit is what makes JAX lock the
    cache). Called when rlkit's JAX modules load.
    """
    if _opted_out() or os.environ.get("RLKIT_COMPILATION_CACHE", "1") in ("", "0"):
        return
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    import jax

    if jax.config.jax_compilation_cache_dir:
        return
    try:
        import filelock  # noqa: F401  (JAX locks the cache with it.)
    except ImportError:
        return
    directory = compilation_cache_directory()
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return  # A read-only home: compile every time, as without the cache.
    if not os.access(directory, os.W_OK | os.X_OK):
        return  # Someone else's (a shared home): JAX would warn on every compile.
    jax.config.update("jax_compilation_cache_dir", directory)
    if "JAX_COMPILATION_CACHE_MAX_SIZE" not in os.environ:  # Else the user's.
        jax.config.update("jax_compilation_cache_max_size", COMPILATION_CACHE_MAX_BYTES)
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:  # Else the user's.
        jax.config.update(
            "jax_persistent_cache_min_compile_time_secs", COMPILATION_CACHE_MIN_COMPILE_SECONDS
        )


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
