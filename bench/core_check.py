"""DQN, SAC and PPO before and after a change to the shared core: returns and wall-clock.

A change to what every agent runs on (the learner base, the layouts, the builders) must
leave learning and speed where they were. This runs the three families' reference agents
with their shipped configs (DQN on CartPole-v1 for 50k steps, SAC on Pendulum-v1 for 20k,
PPO on CartPole-v1 for 100k), records each run under a label with the commit it ran on,
and writes the labels side by side, with the ratio of training times, into BENCHMARKS.md.

    python bench/core_check.py --label before     # on the commit before the change
    python bench/core_check.py --label after      # on the change
    python bench/core_check.py --report           # only rewrite the section
    git worktree add /tmp/before REV
    python bench/core_check.py --interleave /tmp/before --agents ppo
        # seed by seed, the tree at REV then this one, each run in a process of its own

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
import sys

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


def commit(tree: str | pathlib.Path | None = None) -> str:
    """The short commit of `tree` (this checkout by default)."""
    tree = tree or pathlib.Path(__file__).resolve().parent.parent
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"


# Runs one agent's run in the tree given (its own rlkit and bench), printing the result.
_RUN_IN_TREE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import rlkit
from bench import dqn_family
assert rlkit.__file__.startswith(sys.argv[1]), rlkit.__file__
name, env_id, steps, eval_every, seed = json.loads(sys.argv[2])
result = dqn_family.run(name, env_id, seed, steps, eval_every, "local", {name: (name, [])})
result.pop("config")
print(json.dumps(result))
"""


def run_in_tree(tree: str, name: str, seed: int) -> dict:
    """`name`'s run for `seed` on the code of `tree` (a checkout), in a new process."""
    _, env_id, steps, eval_every = RUNS[name]
    arguments = json.dumps([name, env_id, steps, eval_every, seed])
    completed = subprocess.run(
        [sys.executable, "-c", _RUN_IN_TREE, tree, arguments],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def interleave(old_tree: str, agents: list[str], seeds: list[int]) -> list[dict]:
    """Seed by seed, `old_tree`'s run then this tree's: drift on a shared machine hits both
    alike."""
    root = str(pathlib.Path(__file__).resolve().parent.parent)
    records = []
    for name in agents:
        for seed in seeds:
            for label, tree in (("before, interleaved", old_tree), ("after, interleaved", root)):
                result = run_in_tree(tree, name, seed)
                records.append({"name": name, "label": label, "commit": commit(tree), **result})
                print(f"  {label} {name} seed {seed}: {result['seconds']} s", flush=True)
    return records


def report(records: list[dict], labels: list[str]) -> str:
    rows = []
    for name, (_, env_id, steps, _) in RUNS.items():
        seconds_by_label = {}
        for label in labels:
            runs = [r for r in records if r["name"] == name and r["label"] == label]
            if not runs:
                continue
            seconds_by_label[label] = np.mean([r["seconds"] for r in runs])
            # "after, X" against "before, X" when both ran (e.g. interleaved), else the first.
            base = label.replace("after", "before", 1)
            base = base if base in seconds_by_label and base != label else labels[0]
            ratio = ""
            if label != base and base in seconds_by_label:
                ratio = f"{seconds_by_label[label] / seconds_by_label[base]:.2f}x vs {base}"
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
            "train time ratio",
        ],
        rows,
    )
    return f"""## Core changes: DQN, SAC and PPO before and after (`bench/core_check.py`)

Each agent's shipped config, one process, local replay, seeds 0 1 2; greedy evaluations as
`bench/dqn_family.py` runs them (10 episodes along the way, 20 at the end). Training
wall-clock only, on {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__},
Python {platform.python_version()}. "before" and "after" ran an hour apart on a shared
machine (timings drift by tens of percent); "interleaved" rows ran seed by seed, one tree
after the other, in one shell loop. The same seeds give the same runs (equal returns): the
change kept every update.

{table}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default=None, help="what this run is (e.g. before, after)")
    parser.add_argument("--agents", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--report", action="store_true", help="only rewrite the section")
    parser.add_argument("--interleave", metavar="TREE", help="a checkout of the code before")
    args = parser.parse_args()
    records = dqn_family.load_results(RESULTS)
    if args.interleave:
        new = interleave(args.interleave, args.agents, args.seeds)
        records = [r for r in records if "interleaved" not in r["label"]] + new
        RESULTS.write_text("".join(json.dumps(r) + "\n" for r in records))
    elif not args.report:
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
