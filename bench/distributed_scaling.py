"""Distributed runs on Ray: collection against the number of actors, and distributed DQN
against the single-process run.

1. Scaling: DQN and PPO (their CartPole configs) with 1, 2 and 4 environment actors, once
   with the learner running (`--steps`) and once paused (acting only: the tables then never
   block; `--paused-steps`, longer, as acting alone is fast).
   Reports env steps/s after the first `--warm-up` steps (start-up, jit compilation and
   replay warm-up excluded) and the learner steps taken.
2. Returns: DQN on CartPole-v1 for `--compare-steps` steps over `--seeds`, in one process
   and with `--compare-actors` actors, evaluated (10 greedy episodes) every 10k steps.
   Reports the final and best evaluation and the wall-clock of each, and for the one-process
   run the CPU cores it kept busy (CPU time over wall-clock, first to last evaluation).
3. Reference (`--reference-steps`): DQN acting alone in 1 and 2 plain processes, no Ray,
   each with its own in-process table or Reverb server: what the machine's cores give to
   acting before Ray and a shared replay server take their share.

Without `--ray-address` each run starts its own local Ray as `rlkit train --distributed`
does (the machine's CPUs, at least one per actor plus the learner; workers at normal
priority); with it the same runs go to that cluster. Writes its tables into BENCHMARKS.md.

    python bench/distributed_scaling.py [--agents dqn ppo] [--actors 1 2 4]
        [--steps 60000] [--paused-steps 210000] [--warm-up 10000] [--seeds 0 1 2]
        [--compare-steps 50000] [--reference-steps 200000] [--ray-address HEAD:6379]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from rlkit import experiments, loggers  # noqa: E402
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


def _acting_process(backend, index, num_processes, steps, warm_up, barrier, results) -> None:
    """DQN acting as a distributed actor does (its policy, adder and exploration), but in a
    plain process with a replay server of its own and fixed initial parameters: no Ray,
    nothing shared."""
    import jax

    from rlkit import builders, environment_loop, replay, specs
    from rlkit.jax.variable_utils import StaticVariableSource

    config = experiment_config("dqn", steps, index, steps, episodes=1)
    environment = config.environment_factory(index)
    spec = specs.make_environment_spec(environment)
    networks = config.network_factory(spec)
    builder = config.builder
    tables = builder.make_replay_tables(spec, builder.make_policy(networks, spec))
    # As a one-process run holds it: nothing samples, and inserts never wait.
    server = replay.make_server([replay.for_one_process(table) for table in tables], backend)
    _, actor = builders.make_acting(
        builder,
        server.client(),
        spec,
        builder.make_actor_policy(networks, spec, index, num_processes),
        jax.random.PRNGKey(index),
        StaticVariableSource(networks.init(jax.random.PRNGKey(0))),
    )
    loop = environment_loop.EnvironmentLoop(environment, actor, logger=loggers.NoOpLogger())
    loop.run(num_steps=warm_up)
    barrier.wait()
    start = time.perf_counter()
    loop.run(num_steps=steps)
    results.put(time.perf_counter() - start)
    server.stop()


def acting_without_ray(steps: int, warm_up: int) -> list[list]:
    """What two cores give to acting alone: 1 and 2 plain processes (no Ray), each with its
    own in-process table or its own Reverb server (its adder writing over gRPC)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    rows = []
    for backend in ("local", "reverb"):
        base = None
        for num_processes in (1, 2):
            barrier, results = context.Barrier(num_processes), context.Queue()
            processes = [
                context.Process(
                    target=_acting_process,
                    args=(backend, index, num_processes, steps, warm_up, barrier, results),
                )
                for index in range(num_processes)
            ]
            for process in processes:
                process.start()
            seconds = max(results.get() for _ in processes)
            for process in processes:
                process.join()
            rate = num_processes * steps / seconds
            base = base or rate
            print(f"dqn acting, {num_processes} plain processes, {backend}: {rate:.0f} steps/s")
            rows.append(
                [backend, num_processes, num_processes * steps, f"{seconds:.1f}", f"{rate:.0f}",
                 f"{rate / base:.2f}x"]
            )  # fmt: skip
    return rows


def returns(seeds: list[int], steps: int, num_actors: int, ray_address: str | None) -> list[list]:
    rows = []
    for seed in seeds:
        for layout in ("one process", f"{num_actors} actors"):
            marks = []  # (wall-clock, this process's CPU time) at each evaluation.

            def mark(steps_now, evaluation, marks=marks):
                usage = resource.getrusage(resource.RUSAGE_SELF)
                marks.append((time.monotonic(), usage.ru_utime + usage.ru_stime))

            config = experiment_config(
                "dqn", steps, seed, eval_every=10_000, episodes=10, callback=mark
            )
            if layout == "one process":
                result = experiments.run_experiment(config)
                (start, cpu_start), (end, cpu_end) = marks[0], marks[-1]
                cores = f"{(cpu_end - cpu_start) / (end - start):.2f}"
            else:
                cores = "-"  # Several processes, Ray's among them.
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
                    cores,
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
    parser.add_argument(
        "--reference-steps",
        type=int,
        default=200_000,
        help="timed steps of the plain-process acting reference (0: skip it)",
    )
    parser.add_argument("--ray-address")
    parser.add_argument("--no-report", action="store_true", help="do not write BENCHMARKS.md")
    args = parser.parse_args()
    scaling_rows = scaling(
        args.agents, args.actors, args.steps, args.paused_steps, args.warm_up, args.ray_address
    )
    reference_rows = (
        acting_without_ray(args.reference_steps, args.warm_up) if args.reference_steps else []
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
    if reference_rows:
        body += [
            "",
            "Reference, acting alone without Ray: DQN's actor, adder and exploration in 1 and 2 "
            "plain processes on this machine, each with a replay of its own (an in-process "
            "table, or a Reverb server its adder writes to over gRPC) and fixed parameters.",
            "",
            markdown_table(
                ["replay", "processes", "timed env steps", "seconds", "steps/s", "vs 1"],
                reference_rows,
            ),
        ]
    if return_rows:
        body += [
            "",
            f"DQN on CartPole-v1 (RL-Zoo config), {args.compare_steps} steps, 10 greedy "
            "episodes every 10k steps; wall-clock includes start-up and evaluations.",
            "",
            markdown_table(
                ["seed", "layout", "env steps", "final return", "best return",
                 "return every 10k", "wall-clock s", "training s", "CPU cores busy"],
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
