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
