"""DQN on CartPole-v1: 3 seeds x 50,000 env steps, against RL-Zoo's reference (500 +/- 0).

For each seed: env steps to first reach an evaluation return >= 475 (evaluated every
`--eval-every` steps over 10 greedy episodes), training wall-clock seconds (evaluation time
excluded), env steps/s, and the final evaluation return over 20 greedy episodes.
Writes its table into BENCHMARKS.md.

    .venv/bin/python bench/dqn_cartpole.py [--seeds 0 1 2] [--steps 50000]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import rlkit  # noqa: E402
from rlkit.agents import dqn  # noqa: E402

try:
    from bench._report import markdown_table, write_section  # noqa: E402
except ImportError:  # Run as a script from bench/.
    from _report import markdown_table, write_section  # noqa: E402

TARGET = 475.0


def evaluate(agent: dqn.DQN, episodes: int, seed: int) -> float:
    env = rlkit.make_environment("CartPole-v1", seed=seed)
    loop = rlkit.EnvironmentLoop(
        env, agent.make_evaluation_actor(), logger=rlkit.loggers.NoOpLogger()
    )
    return float(np.mean([r["episode_return"] for r in loop.run(num_episodes=episodes)]))


def run_seed(seed: int, steps: int, eval_every: int, replay_backend: str) -> dict:
    env = rlkit.make_environment("CartPole-v1", seed=seed)
    agent = dqn.DQN(
        rlkit.make_environment_spec(env),
        dqn.DQNConfig(),
        seed=seed,
        logger=rlkit.loggers.NoOpLogger(),
        replay_backend=replay_backend,
    )
    loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
    train_seconds = 0.0
    first_reached = None
    done = 0
    while done < steps:
        chunk = min(eval_every, steps - done)
        start = time.perf_counter()
        loop.run(num_steps=chunk)
        train_seconds += time.perf_counter() - start
        done += chunk
        score = evaluate(agent, 10, seed=10_000 + done)
        print(f"  seed {seed}: {done:>6} steps, eval return {score:6.1f}", flush=True)
        if first_reached is None and score >= TARGET:
            first_reached = done
    final = evaluate(agent, 20, seed=20_000 + seed)
    agent.close()
    return dict(
        seed=seed,
        steps=steps,
        first_reached=first_reached,
        seconds=train_seconds,
        steps_per_second=steps / train_seconds,
        final_return=final,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--replay-backend", default="auto", choices=("auto", "local", "reverb"))
    args = parser.parse_args()
    backend = rlkit.replay.resolve_backend(args.replay_backend)
    results = []
    for seed in args.seeds:
        result = run_seed(seed, args.steps, args.eval_every, backend)
        print(result, flush=True)
        results.append(result)

    rows = [
        [
            r["seed"],
            r["steps"],
            r["first_reached"] or "not reached",
            f"{r['seconds']:.1f}",
            f"{r['steps_per_second']:.0f}",
            f"{r['final_return']:.1f}",
        ]
        for r in results
    ]
    finals = [r["final_return"] for r in results]
    config = dqn.DQNConfig()
    body = f"""## DQN, CartPole-v1, {args.steps:,} env steps (`bench/dqn_cartpole.py`)

Default `DQNConfig` (RL-Zoo's CartPole hyperparameters: 256x256 MLP, lr 2.3e-3, batch 64,
0.5 updates per env step, epsilon 1 -> 0.04 over 8k steps), double Q, {config.n_step}-step returns,
target synced every {config.target_update_period} updates.
Evaluation: greedy policy, 10 episodes every {args.eval_every:,} steps, 20 at the end.
Seconds are training wall-clock only (evaluation excluded), on {platform.machine()},
{os.cpu_count()} cores; {backend} replay, jax {jax.__version__}, Python {platform.python_version()}.

{
        markdown_table(
            [
                "seed",
                "env steps",
                "steps to eval return >= 475",
                "seconds",
                "steps/s",
                "final eval return (20 ep.)",
            ],
            rows,
        )
    }

Final evaluation return over seeds: {np.mean(finals):.1f} +/- {np.std(finals):.1f}.
Reference (RL-Zoo, DQN CartPole-v1, 50k steps): 500 +/- 0.
"""
    write_section("dqn_cartpole", body)
    print(body)


if __name__ == "__main__":
    main()
