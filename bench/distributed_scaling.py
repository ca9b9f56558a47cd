"""Distributed runs on Ray: collection against the number of actors, and distributed DQN
against the single-process run.

1. Scaling: DQN and PPO (their CartPole configs) with 1, 2 and 4 environment actors, once
   with the learner running (`--steps`) and once paused (acting only: the tables then never
   block; `--paused-steps`, longer, as acting alone is fast).
   Reports env steps/s after the first `--warm-up` steps (start-up, jit compilation and
   replay warm-up excluded) and the learner steps taken.
2. Returns: DQN on CartPole-v1 for `--compare-steps` steps over `--seeds`, in one process
   and with `--compare-actors` actors, evaluated (10 greedy episodes) every 10k steps.
   Reports the final and best evaluation and the wall-clock of each.

Without `--ray-address` each run starts its own local Ray as `rlkit train --distributed`
does (the machine's CPUs, at least one per actor plus the learner; workers at normal
priority); with it the same runs go to that cluster. Writes its tables into BENCHMARKS.md.

    python bench/distributed_scaling.py [--agents dqn ppo] [--actors 1 2 4]
        [--steps 60000] [--paused-steps 210000] [--warm-up 10000] [--seeds 0 1 2]
        [--compare-steps 50000] [--ray-address HEAD:6379]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from rlkit import experiments  # noqa: E402
from rlkit.agents import registry  # noqa: E402

try:
    from bench._report import markdown_table, write_section  # noqa: E402
except ImportError:  # Run as a script from bench/.
    from _report import markdown_table, write_section  # noqa: E402


def experiment_config(
    agent: str, steps: int, seed: int, eval_every: int, episodes: int, callback=None
):
    return experiments.make_experiment_config(
        agent,
        "CartPole-v1",
        registry.get_agent(agent).load_config("CartPole-v1"),
        max_num_actor_steps=steps,
        seed=seed,
        eval_every=eval_every,
        num_eval_episodes=episodes,
        run_dir=None,
        loggers=(),
        evaluation_callback=callback,
    )


def scaling(
    agents: list[str],
    actor_counts: list[int],
    steps: int,
    paused_steps: int,
    warm_up: int,
    ray_address: str | None,
) -> list[list]:
    rows = []
    for agent in agents:
        for paused in (True, False):
            base = None
            for num_actors in actor_counts:
                marks = []  # (seconds, steps) after each warm-up-long stretch.

                def mark(steps_now, evaluation, marks=marks):
                    marks.append((time.monotonic(), steps_now))

                budget = paused_steps if paused else steps
                config = experiment_config(agent, budget, 0, warm_up, episodes=1, callback=mark)
                result = experiments.make_distributed_experiment(
                    config, num_actors, ray_address=ray_address, learner_paused=paused
                ).run()
                # From the end of the first stretch (jit compilation, replay warm-up) on; the
                # one-episode evaluations between stretches are included (well under 1%).
                (start, first), (end, last) = marks[0], marks[-1]
                rate = (last - first) / (end - start)
                base = base or rate
                print(
                    f"{agent} actors={num_actors} learner={'paused' if paused else 'running'}: "
                    f"{rate:.0f} steps/s, {result.learner_steps} learner steps",
                    flush=True,
                )
                rows.append(
                    [
                        agent,
                        "paused" if paused else "running",
                        num_actors,
                        last - first,
                        f"{end - start:.1f}",
                        f"{rate:.0f}",
                        f"{rate / base:.2f}x",
                        result.learner_steps,
                    ]
                )
    return rows


def returns(seeds: list[int], steps: int, num_actors: int, ray_address: str | None) -> list[list]:
    rows = []
    for seed in seeds:
        for layout in ("one process", f"{num_actors} actors"):
            config = experiment_config("dqn", steps, seed, eval_every=10_000, episodes=10)
            if layout == "one process":
                result = experiments.run_experiment(config)
            else:
                result = experiments.make_distributed_experiment(
                    config, num_actors, ray_address=ray_address
                ).run()
            curve = [e["return_mean"] for e in result.evaluations]
            print(f"dqn seed {seed} {layout}: {curve}, {result.wall_time:.0f} s", flush=True)
            rows.append(
                [
                    seed,
                    layout,
                    result.actor_steps,
                    f"{curve[-1]:.1f}",
                    f"{max(curve):.1f}",
                    " / ".join(f"{value:.0f}" for value in curve),
                    f"{result.wall_time:.0f}",
                    f"{result.training_seconds:.0f}",
                ]
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", nargs="+", default=["dqn", "ppo"])
    parser.add_argument("--actors", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--steps", type=int, default=60_000)
    parser.add_argument(
        "--paused-steps", type=int, default=210_000, help="budget of the acting-only runs"
    )
    parser.add_argument("--warm-up", type=int, default=10_000, help="steps not timed")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--compare-steps", type=int, default=50_000)
    parser.add_argument("--compare-actors", type=int, default=2)
    parser.add_argument("--ray-address")
    parser.add_argument("--no-report", action="store_true", help="do not write BENCHMARKS.md")
    args = parser.parse_args()
    scaling_rows = scaling(
        args.agents, args.actors, args.steps, args.paused_steps, args.warm_up, args.ray_address
    )
    return_rows = (
        returns(args.seeds, args.compare_steps, args.compare_actors, args.ray_address)
        if args.seeds
        else []
    )
    where = (
        args.ray_address
        or f"this machine ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"
    )
    body = [
        "## Distributed runs on Ray (`bench/distributed_scaling.py`)",
        "",
        f"On {where}; each run starts its own Ray (locally) or joins the cluster, and its "
        "own Reverb server, learner, actors and counter. Steps/s: environment steps over "
        f"wall-clock after the first {args.warm_up} steps (start-up, jit compilation and "
        "replay warm-up excluded); speed-up against 1 actor of the same row group.",
        "",
        markdown_table(
            ["agent", "learner", "actors", "timed env steps", "seconds", "steps/s",
             "vs 1 actor", "learner steps (all)"],
            scaling_rows,
        ),
    ]  # fmt: skip
    if return_rows:
        body += [
            "",
            f"DQN on CartPole-v1 (RL-Zoo config), {args.compare_steps} steps, 10 greedy "
            "episodes every 10k steps; wall-clock includes start-up and evaluations.",
            "",
            markdown_table(
                ["seed", "layout", "env steps", "final return", "best return",
                 "return every 10k", "wall-clock s", "training s"],
                return_rows,
            ),
        ]  # fmt: skip
        finals = {}
        for row in return_rows:
            finals.setdefault(row[1], []).append(float(row[3]))
        body += [""] + [
            f"- {layout}: final return mean {np.mean(values):.1f} over {len(values)} seeds"
            for layout, values in finals.items()
        ]
    if not args.no_report:
        write_section("distributed-scaling", "\n".join(body))
    print("\n".join(body))


if __name__ == "__main__":
    main()
