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
are Python literals (`hidden_sizes=(128,128)`). One key is not a `DQNConfig` field but an
experiment of this script only: `lr_decay_to=0.1` decays the learning rate linearly to that
fraction of `learning_rate` over the run's gradient updates (the library has no schedule).
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
import optax  # noqa: E402

import rlkit  # noqa: E402
from rlkit import local_layout  # noqa: E402
from rlkit.agents import dqn  # noqa: E402
from rlkit.agents.dqn import learning  # noqa: E402
from rlkit.agents.dqn import networks as dqn_networks  # noqa: E402

TARGET = 475.0
ENV = "CartPole-v1"
DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "results" / "dqn_seeds.jsonl"
EXPERIMENT_KEYS = ("lr_decay_to",)  # Handled here, not DQNConfig fields.


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
        if not sep or key not in fields | set(EXPERIMENT_KEYS):
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


class DecayingLRBuilder(dqn.DQNBuilder):
    """`DQNBuilder` whose Adam learning rate decays linearly over `num_updates` updates."""

    def __init__(self, config: dqn.DQNConfig, final_fraction: float, num_updates: int):
        super().__init__(config, block_inserts=False)
        self._schedule = optax.linear_schedule(
            config.learning_rate, config.learning_rate * final_fraction, num_updates
        )

    def make_learner(self, random_key, networks, dataset, logger=None, **unused):
        cfg = self.config
        optimizer = optax.chain(
            optax.clip_by_global_norm(cfg.max_gradient_norm),
            optax.adam(self._schedule, eps=cfg.adam_eps),
        )
        return learning.DQNLearner(
            network=networks,
            optimizer=optimizer,
            random_key=random_key,
            iterator=dataset,
            batch_size=cfg.batch_size,
            huber_delta=cfg.huber_delta,
            target_update_period=cfg.target_update_period,
            logger=logger,
        )


def make_agent(spec, config: dqn.DQNConfig, overrides: dict, seed: int, args):
    """`dqn.DQN`, or the same layout over `DecayingLRBuilder` for `lr_decay_to`."""
    kwargs = dict(seed=seed, logger=rlkit.loggers.NoOpLogger(), replay_backend=args.replay_backend)
    if "lr_decay_to" not in overrides:
        return dqn.DQN(spec, config, **kwargs)
    plan = dqn.DQNBuilder(config).learning_schedule()
    learner_steps = (args.steps - plan.min_observations) / plan.observations_per_learner_step
    num_updates = max(1, int(learner_steps * config.num_sgd_steps_per_step))
    builder = DecayingLRBuilder(config, float(overrides["lr_decay_to"]), num_updates)
    networks = dqn_networks.make_networks(spec, config)
    return local_layout.LocalLayout(builder, spec, networks, **kwargs)


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
    agent = make_agent(rlkit.make_environment_spec(env), config, overrides, seed, args)
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
        variant=variant,
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


def summarize(records: list[dict], late_from: int) -> str:
    """One block per variant: finals by seed, seeds >= 475, means, speed."""
    by_variant: dict[str, list[dict]] = {}
    for record in records:
        by_variant.setdefault(record["variant"], []).append(record)
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
    args = parser.parse_args()
    variants = args.variant or ["base"]

    if args.report:
        records = load(args.out)
        if args.variant:
            records = [r for r in records if r["variant"] in variants]
        print(summarize(records, args.late_from))
        return

    done = {(r["variant"], r["seed"], r["steps"]) for r in load(args.out)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for variant in variants:
        parse_variant(variant)  # Fail on a typo before hours of runs.
    records = []
    for variant in variants:
        for seed in args.seeds:
            if args.skip_done and (variant, seed, args.steps) in done:
                records += [
                    r
                    for r in load(args.out)
                    if (r["variant"], r["seed"], r["steps"]) == (variant, seed, args.steps)
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
