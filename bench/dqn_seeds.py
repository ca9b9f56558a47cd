"""DQN on CartPole-v1 over many seeds and config variants: is the final greedy return luck?

For every variant (a set of `DQNConfig` field overrides) and every seed, trains
`rlkit.agents.dqn.DQN` for `--steps` env steps, evaluates the greedy policy every
`--eval-every` steps (10 episodes) to show late collapses, and at the end over 20 greedy
episodes. Prints one line per run and a summary per variant (finals per seed, seeds whose
final return is >= 475, mean final, mean of the late evaluations, env steps/s), and appends
every run as one JSON line to `--out`, so nothing is lost when a long sweep is interrupted
(`--skip-done` then resumes it).

    python bench/dqn_seeds.py --seeds 0 1 2 3 4 \\
        --variant base --variant "learning_rate=1e-3,target_update_period=500"
    python bench/dqn_seeds.py --report                  # summaries of everything in --out

A variant is `base` (the default config) or comma-separated `field=value` overrides; values
are Python literals (`hidden_sizes=(128,128)`); `learning_rate_decay_steps=25000` decays the
learning rate linearly to 0. Summaries group runs by their config's difference from today's
default (`--relabel` rewrites the labels of older runs after a default changed) and by stack
(jax version and replay backend), so runs of different configs or numerics never mix.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import subprocess
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import rlkit  # noqa: E402
from rlkit.agents import dqn  # noqa: E402

TARGET = 475.0
ENV = "CartPole-v1"
DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "results" / "dqn_seeds.jsonl"
# Keys of runs recorded by earlier versions of this script, not DQNConfig fields
# (`lr_decay_to`: a linear decay to that fraction of the rate; now `learning_rate_decay_steps`).
EXPERIMENT_KEYS = ("lr_decay_to",)


def parse_variant(text: str) -> dict:
    """`"base"` -> {}; `"learning_rate=1e-3,n_step=1"` -> {"learning_rate": 0.001, "n_step": 1}."""
    text = text.strip()
    if text in ("", "base"):
        return {}
    fields = {field.name for field in dataclasses.fields(dqn.DQNConfig)}
    overrides = {}
    # Split on commas outside brackets, so tuples such as hidden_sizes=(128,128) survive.
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            raise SystemExit(
                f"bad override {part!r}: expected field=value, one of {sorted(fields)}"
            )
        try:
            overrides[key] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            overrides[key] = value.strip()
    return overrides


def make_config(overrides: dict) -> dqn.DQNConfig:
    """The default config with `overrides`; an int given for a float field becomes a float."""
    types = {field.name: field.type for field in dataclasses.fields(dqn.DQNConfig)}
    values = {
        key: float(value) if types[key] in (float, "float") and isinstance(value, int) else value
        for key, value in overrides.items()
        if key not in EXPERIMENT_KEYS
    }
    return dqn.DQNConfig(**values)


def label(config: dict, extra: dict | None = None) -> str:
    """A run's variant: its config's fields that differ from today's default, as overrides."""
    default = json.loads(json.dumps(dataclasses.asdict(dqn.DQNConfig())))
    config = json.loads(json.dumps(config))
    diff = {k: v for k, v in config.items() if k in default and default[k] != v}
    diff.update(extra or {})
    return ",".join(f"{k}={v!r}" for k, v in diff.items()) or "base"


def evaluate(agent: dqn.DQN, episodes: int, seed: int) -> float:
    """Mean return of `episodes` greedy episodes on a fresh environment seeded `seed`."""
    env = rlkit.make_environment(ENV, seed=seed)
    loop = rlkit.EnvironmentLoop(
        env, agent.make_evaluation_actor(), logger=rlkit.loggers.NoOpLogger()
    )
    return float(np.mean([r["episode_return"] for r in loop.run(num_episodes=episodes)]))


def run(variant: str, seed: int, args: argparse.Namespace) -> dict:
    """Trains one seed of one variant; returns the JSON record of the run."""
    overrides = parse_variant(variant)
    config = make_config(overrides)
    env = rlkit.make_environment(ENV, seed=seed)
    agent = dqn.DQN(
        rlkit.make_environment_spec(env),
        config,
        seed=seed,
        logger=rlkit.loggers.NoOpLogger(),
        replay_backend=args.replay_backend,
    )
    loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
    train_seconds, done, evals = 0.0, 0, []
    try:
        while done < args.steps:
            chunk = min(args.eval_every, args.steps - done)
            start = time.perf_counter()
            loop.run(num_steps=chunk)
            train_seconds += time.perf_counter() - start
            done += chunk
            evals.append([done, evaluate(agent, args.eval_episodes, seed=10_000 + done)])
        final = evaluate(agent, args.final_episodes, seed=20_000 + seed)
    finally:
        agent.close()
    first = next((step for step, score in evals if score >= TARGET), None)
    return dict(
        variant=label(dataclasses.asdict(config)),
        overrides=overrides,
        seed=seed,
        steps=args.steps,
        final_return=final,
        evals=evals,
        first_reached=first,
        train_seconds=train_seconds,
        steps_per_second=args.steps / train_seconds,
        config=dataclasses.asdict(config),
        replay_backend=agent.replay_backend,
        jax=jax.__version__,
        python=platform.python_version(),
        commit=_git_commit(),
        time=datetime.datetime.now().isoformat(timespec="seconds"),
    )


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=pathlib.Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def run_line(record: dict) -> str:
    evals = " ".join(f"{score:.0f}" for _, score in record["evals"])
    return (
        f"{record['variant']:<40} seed {record['seed']:>2}  final {record['final_return']:6.1f}  "
        f"{record['steps_per_second']:5.0f} steps/s  evals: {evals}"
    )


def stack(record: dict) -> str:
    return f"jax {record['jax']}, {record['replay_backend']} replay"


def summarize(records: list[dict], late_from: int) -> str:
    """One block per variant and stack: finals by seed, seeds >= 475, means, speed."""
    by_variant: dict[str, list[dict]] = {}
    for record in records:
        by_variant.setdefault(f"{record['variant']}  ({stack(record)})", []).append(record)
    lines = []
    for variant, runs in by_variant.items():
        runs = sorted(runs, key=lambda r: r["seed"])
        finals = [r["final_return"] for r in runs]
        late = [s for r in runs for step, s in r["evals"] if step >= late_from]
        per_seed = " / ".join(f"{r['seed']}:{r['final_return']:.0f}" for r in runs)
        lines.append(
            f"{variant}\n"
            f"  finals: {per_seed}\n"
            f"  >= {TARGET:.0f}: {sum(f >= TARGET for f in finals)}/{len(finals)}  "
            f"mean final {np.mean(finals):.1f}  "
            f"evals from {late_from:,} steps: mean {np.mean(late) if late else float('nan'):.1f}, "
            f"{sum(score >= TARGET for score in late)}/{len(late)} >= {TARGET:.0f}  "
            f"steps/s {np.mean([r['steps_per_second'] for r in runs]):.0f}"
        )
    return "\n".join(lines)


def load(path: pathlib.Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--variant",
        action="append",
        help="'base' or 'field=value,...' (repeatable; default: base)",
    )
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--final-episodes", type=int, default=20)
    parser.add_argument("--late-from", type=int, default=30_000, help="summary: evals from here")
    parser.add_argument("--replay-backend", default="local", choices=("auto", "local", "reverb"))
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="JSON lines")
    parser.add_argument(
        "--skip-done", action="store_true", help="skip (variant, seed, steps) already in --out"
    )
    parser.add_argument(
        "--report", action="store_true", help="only print the summaries of the runs in --out"
    )
    parser.add_argument(
        "--relabel",
        action="store_true",
        help="rewrite each run's variant in --out as its config's difference from the default",
    )
    args = parser.parse_args()
    variants = args.variant or ["base"]

    if args.relabel:
        records = load(args.out)
        for record in records:
            extra = {k: v for k, v in record["overrides"].items() if k in EXPERIMENT_KEYS}
            record["variant"] = label(record["config"], extra)
        args.out.write_text("".join(json.dumps(r) + "\n" for r in records))
        print(f"relabelled {len(records)} runs in {args.out}")
        return

    if args.report:
        records = load(args.out)
        if args.variant:
            wanted = {label(dataclasses.asdict(make_config(parse_variant(v)))) for v in variants}
            records = [r for r in records if r["variant"] in wanted]
        print(summarize(records, args.late_from))
        return

    def run_key(variant: str, seed: int) -> tuple:
        return variant, seed, args.steps, jax.__version__

    done = {(r["variant"], r["seed"], r["steps"], r["jax"]) for r in load(args.out)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for variant in variants:
        parse_variant(variant)  # Fail on a typo before hours of runs.
    records = []
    for variant in variants:
        name = label(dataclasses.asdict(make_config(parse_variant(variant))))
        for seed in args.seeds:
            if args.skip_done and run_key(name, seed) in done:
                records += [
                    r
                    for r in load(args.out)
                    if (r["variant"], r["seed"], r["steps"], r["jax"]) == run_key(name, seed)
                ]
                continue
            record = run(variant, seed, args)
            with args.out.open("a") as out:
                out.write(json.dumps(record) + "\n")
            records.append(record)
            print(run_line(record), flush=True)
    print(summarize(records, args.late_from))


if __name__ == "__main__":
    main()
