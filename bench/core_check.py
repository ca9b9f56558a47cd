"""DQN, SAC and PPO before and after a change to the shared core: returns and wall-clock.

A change to what every agent runs on (the learner base, the layouts, the builders) must
leave learning and speed where they were. This runs the three families' reference agents
with their shipped configs (DQN on CartPole-v1 for 50k steps, SAC on Pendulum-v1 for 20k,
PPO on CartPole-v1 for 100k), records each run under a label with the commit it ran on,
and writes the labels side by side, with the ratio of training times, into BENCHMARKS.md.

    python bench/core_check.py --label before     # on the commit before the change
    python bench/core_check.py --label after      # on the change
    python bench/core_check.py --report           # only rewrite the section

Results: bench/results/core_check.jsonl (a run already there under its label and seed is
skipped). The machine is shared: compare the ratios with the spread between seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess

try:
    from bench import dqn_family
    from bench._report import markdown_table, write_section
except ImportError:  # Run as a script from bench/.
    import dqn_family
    from _report import markdown_table, write_section

import jax  # noqa: E402  (dqn_family set the JAX platform first)
import numpy as np  # noqa: E402

# name -> (registered agent, environment, env steps, steps between evaluations).
RUNS = {
    "dqn": ("dqn", "CartPole-v1", 50_000, 10_000),
    "sac": ("sac", "Pendulum-v1", 20_000, 5_000),
    "ppo": ("ppo", "CartPole-v1", 100_000, 25_000),
}
RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "core_check.jsonl"


def commit() -> str:
    root = pathlib.Path(__file__).resolve().parent.parent
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"


def report(records: list[dict], labels: list[str]) -> str:
    rows = []
    for name, (_, env_id, steps, _) in RUNS.items():
        seconds_by_label = {}
        for label in labels:
            runs = [r for r in records if r["name"] == name and r["label"] == label]
            if not runs:
                continue
            seconds_by_label[label] = np.mean([r["seconds"] for r in runs])
            ratio = ""
            if label != labels[0] and labels[0] in seconds_by_label:
                ratio = f"{seconds_by_label[label] / seconds_by_label[labels[0]]:.2f}x"
            rows.append(
                [
                    f"{name} {env_id} {steps // 1000}k",
                    f"{label} ({', '.join(sorted({r['commit'] for r in runs}))})",
                    " / ".join(f"{r['final_return']:.1f}" for r in runs),
                    f"{np.mean([r['final_return'] for r in runs]):.1f}",
                    " / ".join(f"{r['seconds']:.1f}" for r in runs),
                    ratio,
                ]
            )
    table = markdown_table(
        [
            "agent",
            "label (commit)",
            "final return per seed (20 greedy ep.)",
            "mean",
            "train s per seed",
            "time vs first label",
        ],
        rows,
    )
    return f"""## Core changes: DQN, SAC and PPO before and after (`bench/core_check.py`)

Each agent's shipped config, one process, local replay, seeds 0 1 2; greedy evaluations as
`bench/dqn_family.py` runs them (10 episodes along the way, 20 at the end). Training
wall-clock only, on {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__},
Python {platform.python_version()}; labels run hours apart on a shared machine.

{table}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default=None, help="what this run is (e.g. before, after)")
    parser.add_argument("--agents", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--report", action="store_true", help="only rewrite the section")
    args = parser.parse_args()
    records = dqn_family.load_results(RESULTS)
    if not args.report:
        if args.label is None:
            parser.error("--label is required to run (or --report)")
        variants = {name: (agent, []) for name, (agent, *_) in RUNS.items()}
        for name in args.agents:
            _, env_id, steps, eval_every = RUNS[name]
            for seed in args.seeds:
                done = any(
                    r["name"] == name and r["label"] == args.label and r["seed"] == seed
                    for r in records
                )
                if done:
                    continue
                result = dqn_family.run(name, env_id, seed, steps, eval_every, "local", variants)
                record = {"name": name, "label": args.label, "commit": commit(), **result}
                record.pop("config")
                records.append(record)
                RESULTS.parent.mkdir(parents=True, exist_ok=True)
                with RESULTS.open("a") as file:
                    file.write(json.dumps(record) + "\n")
    labels = list(dict.fromkeys(r["label"] for r in records))
    body = report(records, labels)
    write_section("core_check", body)
    print(body)


if __name__ == "__main__":
    main()
