"""On-policy agents on CartPole-v1 (or `--env`) over seeds, with their shipped configs.

The agents: PPO, A2C, REINFORCE, TRPO, IMPALA, ACER and A3C (A3C's workers as threads of
one process, through `run_experiment`, which evaluates in 20 environments side by side).

Each agent trains `--steps` env steps in a batched environment of its config's `num_envs`
(`rlkit.make_vector_environment`, local replay), with a greedy evaluation of 20 episodes in
one environment every `--eval-every` steps and at the end. Reports the final and best
evaluation per seed, training wall-clock (evaluations excluded) and env steps/s, and writes
its table into BENCHMARKS.md.

    python bench/on_policy.py [--agents ppo a2c reinforce trpo impala acer] [--seeds 0 1 2]
        [--steps 100000]
    python bench/on_policy.py --env Pendulum-v1 --agents ppo --steps 150000 --eval-every 50000
    python bench/on_policy.py --env LunarLander-v3 --agents ppo a2c acer --steps 300000
        --eval-every 50000
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
from rlkit.agents import registry  # noqa: E402
from rlkit.builders import AsynchronousGradientBuilder  # noqa: E402

try:
    from bench._report import BENCHMARKS, markdown_table, read_section, write_section  # noqa: E402
    from bench.dqn_family import make_layout  # noqa: E402
except ImportError:  # Run as a script from bench/.
    from _report import BENCHMARKS, markdown_table, read_section, write_section  # noqa: E402
    from dqn_family import make_layout  # noqa: E402

REFERENCES = {
    ("ppo", "CartPole-v1"): "RL-Zoo: 500 at 100k",
    ("a2c", "CartPole-v1"): "RL-Zoo trains 500k steps (500)",
    ("trpo", "CartPole-v1"): "RL-Zoo: 500 at 100k",
    ("reinforce", "CartPole-v1"): "no RL-Zoo entry",
    ("impala", "CartPole-v1"): "no RL-Zoo entry",
    ("acer", "CartPole-v1"): "rl-baselines-zoo (SB2): 498.6 +- 23.9 after 500k",
    ("a3c", "CartPole-v1"): "no published CartPole figure (the paper: Atari, MuJoCo, Labyrinth)",
    ("ppo", "LunarLander-v3"): "RL-Zoo (LunarLander-v2): 242.1 +- 31.8 after 1M",
    ("a2c", "LunarLander-v3"): "RL-Zoo (LunarLander-v2): 155.8 +- 80.4 after 200k",
    ("acer", "LunarLander-v3"): "rl-baselines-zoo (SB2, LunarLander-v2): 185.2 +- 64.8 after 1M",
    ("ppo", "Pendulum-v1"): "RL-Zoo (gSDE): -172 at 100k; target >= -250 at 150k",
    ("ppo", "HalfCheetah-v5"): "RL-Zoo (HalfCheetah-v3): 5819 at 1M",
}


def evaluate(agent, env_id: str, recipe: str, seed: int, episodes: int = 20) -> float:
    loop = rlkit.EnvironmentLoop(
        rlkit.make_environment(env_id, seed=seed, recipe=recipe),
        agent.make_evaluation_actor(),
        logger=rlkit.loggers.NoOpLogger(),
    )
    return float(np.mean([r["episode_return"] for r in loop.run(num_episodes=episodes)]))


def train_by_gradients(name: str, config, seed: int, steps: int, eval_every: int, env_id: str):
    """An agent of asynchronous gradients (A3C): its worker threads, by `run_experiment`."""
    from rlkit import experiments

    experiment = experiments.make_experiment_config(
        name, env_id, config, max_num_actor_steps=steps, eval_every=eval_every,
        num_eval_episodes=20, loggers=(), seed=seed,
    )  # fmt: skip
    result = experiments.run_experiment(experiment)
    returns = [evaluation["return_mean"] for evaluation in result.evaluations]
    return {"evaluations": returns, "seconds": result.training_seconds, "steps": steps}


def train(name: str, seed: int, steps: int, eval_every: int, env_id: str = "CartPole-v1") -> dict:
    config = registry.get_agent(name).load_config(env_id)
    if isinstance(registry.get_agent(name).make_builder(config), AsynchronousGradientBuilder):
        return train_by_gradients(name, config, seed, steps, eval_every, env_id)
    env, agent, recipe = make_layout(name, config, env_id, seed)
    loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
    evaluations, seconds, done = [], 0.0, 0
    while done < steps:
        chunk = min(eval_every, steps - done)
        start = time.perf_counter()
        loop.run(num_steps=chunk)
        seconds += time.perf_counter() - start
        done += chunk
        evaluations.append(evaluate(agent, env_id, recipe, 10_000 + seed))
    agent.close()
    env.close()
    return {"evaluations": evaluations, "seconds": seconds, "steps": done}


def _kept_rows(section: str, rerun: set[str]) -> list[list[str]]:
    """The rows of agents not run now, from the section's table in BENCHMARKS.md: a run of
    some agents (`--agents acer`) replaces their rows and keeps the others'."""
    body = read_section(section, BENCHMARKS.read_text()) if BENCHMARKS.exists() else None
    rows = []
    for line in (body or "").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in rerun | {"agent"}:
            rows.append(cells)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument(
        "--agents", nargs="+", default=["ppo", "a2c", "reinforce", "trpo", "impala", "acer"]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--eval-every", type=int, default=20_000)
    args = parser.parse_args()
    rows = []
    for name in args.agents:
        runs = [train(name, seed, args.steps, args.eval_every, args.env) for seed in args.seeds]
        finals = [run["evaluations"][-1] for run in runs]
        for seed, run in zip(args.seeds, runs, strict=True):
            print(name, seed, run, flush=True)
        rows.append(
            [
                name,
                " / ".join(f"{value:.1f}" for value in finals),
                f"{np.mean(finals):.1f}",
                " / ".join(f"{max(run['evaluations']):.1f}" for run in runs),
                " / ".join(f"{run['seconds']:.1f}" for run in runs),
                f"{np.mean([run['steps'] / run['seconds'] for run in runs]):,.0f}",
                REFERENCES.get((name, args.env), ""),
            ]
        )
    section = "on_policy_" + args.env.split("-")[0].lower()
    rows = _kept_rows(section, {row[0] for row in rows}) + rows
    table = markdown_table(
        [
            "agent",
            "final return (20 greedy ep.) per seed",
            "mean",
            "best evaluation per seed",
            "train s per seed",
            "env steps/s",
            "reference",
        ],
        rows,
    )
    command = "bench/on_policy.py" + ("" if args.env == "CartPole-v1" else f" --env {args.env}")
    body = f"""## On-policy agents, {args.env}, {args.steps:,} env steps (`{command}`)

Each agent's shipped config for {args.env} (`rlkit/agents/on_policy/configs/NAME/`: RL-Zoo's
values), seeds {", ".join(map(str, args.seeds))}, local replay. Greedy
evaluation: 20 episodes every {args.eval_every:,} steps and at the end, in one environment.
Training wall-clock only, on {platform.machine()}, {os.cpu_count()} cores, jax
{jax.__version__}, Python {platform.python_version()}.

{table}
"""
    write_section(section, body)
    print(body)


if __name__ == "__main__":
    main()
