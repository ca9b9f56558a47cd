"""rlkit picks single-threaded XLA CPU kernels unless told otherwise."""

import os
import subprocess
import sys

SCRIPT = "import os, rlkit; print(os.environ.get('XLA_FLAGS', ''))"


def flags_after_import(**env):
    environment = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    environment.pop("RLKIT_XLA_CPU_MULTI_THREAD", None)
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=environment, check=True
    )
    return result.stdout.strip()


def test_import_sets_single_threaded_eigen():
    assert flags_after_import() == "--xla_cpu_multi_thread_eigen=false"


def test_user_choices_win():
    assert flags_after_import(RLKIT_XLA_CPU_MULTI_THREAD="1") == ""
    mine = "--xla_cpu_multi_thread_eigen=true --xla_dump_to=/tmp/x"
    assert flags_after_import(XLA_FLAGS=mine) == mine
