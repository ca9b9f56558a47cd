"""Where the seconds before the first environment step go in `rlkit train`.

Runs `rlkit train AGENT --env ENV --steps 1` in a fresh process (as a user would) with a small
wrapper that timestamps: the interpreter's start, the command line's import, each XLA
compilation (start and duration, from jax.monitoring), and the first environment step.
Prints the timeline, and with `--write` records the medians over `--repeats` runs in
BENCHMARKS.md. The figure that matters is the time to the first compilation: what rlkit
itself spends before JAX has any work to do (target: under 3 s on the base install).

    .venv/bin/python bench/startup.py [--agent dqn] [--env CartPole-v1] [--repeats 5] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    from bench._report import markdown_table, write_section
except ImportError:
    from _report import markdown_table, write_section

# Runs in the timed process: `started` is the launcher's clock at spawn (time.time()).
PROBE = """
import json, sys, time
started = float(sys.argv[1])
marks = {"interpreter": time.time() - started}
compiles = []
import rlkit.cli.main as cli
marks["cli imported"] = time.time() - started
import jax.monitoring
def on_duration(event, duration, **kwargs):
    if event == "/jax/core/compile/backend_compile_duration":
        compiles.append((time.time() - started - duration, duration))
jax.monitoring.register_event_duration_secs_listener(on_duration)
from rlkit.wrappers import gym_wrapper
step = gym_wrapper.GymWrapper.step
def first_step(self, action):
    marks.setdefault("first env step", time.time() - started)
    return step(self, action)
gym_wrapper.GymWrapper.step = first_step
code = cli.main(sys.argv[2:])
marks["exit"] = time.time() - started
before_step = [c for c in compiles if c[0] < marks.get("first env step", float("inf"))]
marks["first compile"] = compiles[0][0] if compiles else float("nan")
marks["compiling before the first step"] = sum(d for _, d in before_step)
print("STARTUP " + json.dumps(dict(marks, code=code, compilations=len(compiles))))
"""
ORDER = (
    "interpreter",
    "cli imported",
    "first compile",
    "compiling before the first step",
    "first env step",
    "exit",
)


def measure(agent: str, env_id: str) -> dict[str, float]:
    import time

    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-c", PROBE, repr(time.time()), "train", agent]
        command += ["--env", env_id, "--steps", "1", "--run-dir", os.path.join(folder, "run")]
        # A first run's start-up: no compilation cache (a hit would hide the compilations).
        environment = dict(
            os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2", RLKIT_COMPILATION_CACHE="0"
        )
        done = subprocess.run(command, capture_output=True, text=True, env=environment)
    lines = [line for line in done.stdout.splitlines() if line.startswith("STARTUP ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the probe failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(lines[-1][len("STARTUP ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default="dqn")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="record in BENCHMARKS.md")
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeats):
        runs.append(measure(args.agent, args.env))
        print(" | ".join(f"{key} {runs[-1][key]:.2f}" for key in ORDER), flush=True)
    medians = {key: float(np.median([run[key] for run in runs])) for key in ORDER}
    print("median: " + " | ".join(f"{key} {value:.2f} s" for key, value in medians.items()))
    if args.write:
        import jax

        rows = [[key, f"{medians[key]:.2f}"] for key in ORDER]
        write_section(
            "startup",
            f"""## Start-up of `rlkit train` (`bench/startup.py`)

`rlkit train {args.agent} --env {args.env} --steps 1` in a fresh process, seconds since the
interpreter was launched, median of {args.repeats} runs (Python {sys.version.split()[0]},
jax {jax.__version__}). "first compile" is when XLA starts its first compilation: what
comes before it is rlkit's own start-up (target: under 3 s).

{markdown_table(["mark", "seconds"], rows)}
""",
        )


if __name__ == "__main__":
    main()
