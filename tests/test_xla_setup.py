"""rlkit picks XLA/JAX CPU settings for small latency-bound calls unless told otherwise."""

import os
import subprocess
import sys

SCRIPT = """
import os, rlkit
print(os.environ.get('XLA_FLAGS', ''))
import rlkit.jax
from jax._src import xla_bridge
print(xla_bridge._CPU_ENABLE_ASYNC_DISPATCH.value)
"""
OURS = "--xla_cpu_multi_thread_eigen=false --xla_cpu_enable_concurrency_optimized_scheduler=false"


def settings_after_import(**env):
    environment = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    for name in (
        "RLKIT_XLA_CPU_MULTI_THREAD",
        "RLKIT_KEEP_JAX_CPU_DEFAULTS",
        "JAX_CPU_ENABLE_ASYNC_DISPATCH",
    ):
        environment.pop(name, None)
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=environment, check=True
    )
    flags, async_dispatch = result.stdout.rstrip("\n").split("\n")
    return flags, async_dispatch == "True"


def test_import_sets_single_threaded_kernels_and_inline_dispatch():
    assert settings_after_import() == (OURS, False)


def test_user_choices_win():
    assert settings_after_import(RLKIT_KEEP_JAX_CPU_DEFAULTS="1") == ("", True)
    assert settings_after_import(RLKIT_XLA_CPU_MULTI_THREAD="1") == ("", True)
    mine = "--xla_cpu_multi_thread_eigen=true --xla_dump_to=/tmp/x"
    flags, _ = settings_after_import(XLA_FLAGS=mine)
    assert flags == mine + " --xla_cpu_enable_concurrency_optimized_scheduler=false"
    assert settings_after_import(JAX_CPU_ENABLE_ASYNC_DISPATCH="1") == (OURS, True)


CACHE_SCRIPT = """
import jax, jax.numpy as jnp, rlkit.jax
print(jax.config.jax_compilation_cache_dir)
print(jax.config.jax_compilation_cache_max_size)
jax.jit(lambda x: jnp.tanh(x @ x.T).sum())(jnp.ones((3, 3))).block_until_ready()
"""


def cache_after_import(tmp_path, **env):
    environment = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "JAX_COMPILATION_CACHE_DIR",
            "JAX_COMPILATION_CACHE_MAX_SIZE",
            "RLKIT_COMPILATION_CACHE",
            "RLKIT_KEEP_JAX_CPU_DEFAULTS",
            "XDG_CACHE_HOME",
        )
    }
    environment.update(XDG_CACHE_HOME=str(tmp_path), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", CACHE_SCRIPT], capture_output=True, text=True, env=environment,
        check=True,
    )  # fmt: skip
    directory, max_size = result.stdout.split("\n")[:2]
    return directory, int(max_size)


def test_compiled_programs_are_kept_on_disk_per_kind_of_machine_and_reused(tmp_path):
    from rlkit import _xla_setup

    directory, max_size = cache_after_import(tmp_path)
    assert directory.startswith(str(tmp_path / "rlkit" / "jax")) and directory != str(
        tmp_path / "rlkit" / "jax"
    )  # One folder per kind of CPU.
    # A size limit: JAX then locks the cache around every read and write.
    assert max_size == _xla_setup.COMPILATION_CACHE_MAX_BYTES > 0
    entries = sorted(os.listdir(directory))
    assert any(name.endswith("-cache") for name in entries), entries
    stamps = {name: open(os.path.join(directory, name), "rb").read() for name in entries}
    cache_after_import(tmp_path)  # Same program: read back (a hit rewrites its access time).
    assert sorted(os.listdir(directory)) == entries
    assert any(
        open(os.path.join(directory, name), "rb").read() != stamp
        for name, stamp in stamps.items()
        if name.endswith("-atime")
    )


def test_the_compilation_cache_is_the_users_to_turn_off_or_place(tmp_path):
    assert cache_after_import(tmp_path, RLKIT_COMPILATION_CACHE="0") == ("None", -1)
    assert cache_after_import(tmp_path, RLKIT_KEEP_JAX_CPU_DEFAULTS="1") == ("None", -1)
    mine = str(tmp_path / "mine")
    assert cache_after_import(tmp_path, JAX_COMPILATION_CACHE_DIR=mine)[0] == mine
    assert cache_after_import(tmp_path, JAX_COMPILATION_CACHE_MAX_SIZE="12345")[1] == 12345
