"""rlkit DQN vs Stable-Baselines3 DQN on CartPole-v1: same hyperparameters, same updates.

Both train 50,000 env steps with RL-Zoo's CartPole hyperparameters (SB3: train_freq=256,
gradient_steps=128 -> ~24.5k gradient updates of batch 64; rlkit: samples_per_insert=32 ->
the same count), one after the other in this process tree, per seed. Reports training
wall-clock of each, their ratio (rlkit / SB3), update counts and greedy evaluation returns.

SB3 lives in its own venv (.sb3-venv, created on first use) with torch==2.13.0, the CPU
build available locally; nothing is installed into the main environment.

    .venv/bin/python bench/compare_sb3.py [--seeds 0 1 2] [--steps 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys

import numpy as np

try:
    from bench._report import markdown_table, write_section
except ImportError:
    from _report import markdown_table, write_section

ROOT = pathlib.Path(__file__).resolve().parent.parent
SB3_VENV = ROOT / ".sb3-venv"
SB3_PACKAGES = ["torch==2.13.0", "stable-baselines3==2.9.2", "gymnasium==1.4.0", "numpy==1.26.4"]

SB3_SCRIPT = """
import json, sys, time
import gymnasium as gym
from stable_baselines3 import DQN
from stable_baselines3.common.evaluation import evaluate_policy
seed, steps = int(sys.argv[1]), int(sys.argv[2])
model = DQN("MlpPolicy", "CartPole-v1", learning_rate=2.3e-3, batch_size=64,
            buffer_size=100_000, learning_starts=1000, gamma=0.99, target_update_interval=10,
            train_freq=256, gradient_steps=128, exploration_fraction=0.16,
            exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256]),
            seed=seed, verbose=0, device="cpu")
start = time.perf_counter()
model.learn(total_timesteps=steps)
seconds = time.perf_counter() - start
env = gym.make("CartPole-v1")
env.reset(seed=20_000 + seed)
mean, _ = evaluate_policy(model, env, n_eval_episodes=20, deterministic=True)
print(json.dumps(dict(seconds=seconds, updates=model._n_updates, final_return=float(mean))))
"""

RLKIT_SCRIPT = """
import json, os, sys, time
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import numpy as np
import rlkit
from rlkit.agents import dqn
seed, steps = int(sys.argv[1]), int(sys.argv[2])
env = rlkit.make_environment("CartPole-v1", seed=seed)
agent = dqn.DQN(rlkit.make_environment_spec(env), dqn.DQNConfig(), seed=seed,
                logger=rlkit.loggers.NoOpLogger())
loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
start = time.perf_counter()
loop.run(num_steps=steps)
seconds = time.perf_counter() - start
evaluation = rlkit.EnvironmentLoop(
    rlkit.make_environment("CartPole-v1", seed=20_000 + seed), agent.make_evaluation_actor(),
    logger=rlkit.loggers.NoOpLogger())
final = float(np.mean([r["episode_return"] for r in evaluation.run(num_episodes=20)]))
print(json.dumps(dict(seconds=seconds, updates=int(agent.learner.state.steps), final_return=final)))
agent.close()
"""


def ensure_sb3_venv() -> pathlib.Path:
    python = SB3_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(SB3_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *SB3_PACKAGES], check=True)
    return python


def run(python: pathlib.Path | str, script: str, seed: int, steps: int) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
    out = subprocess.run(
        [str(python), "-c", script, str(seed), str(steps)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=50_000)
    args = parser.parse_args()
    sb3_python = ensure_sb3_venv()
    rows, ratios = [], []
    for seed in args.seeds:
        sb3 = run(sb3_python, SB3_SCRIPT, seed, args.steps)
        ours = run(sys.executable, RLKIT_SCRIPT, seed, args.steps)
        ratio = ours["seconds"] / sb3["seconds"]
        ratios.append(ratio)
        print(f"seed {seed}: sb3 {sb3}  rlkit {ours}  ratio {ratio:.2f}", flush=True)
        rows.append(
            [
                seed,
                f"{sb3['seconds']:.1f}",
                f"{ours['seconds']:.1f}",
                f"{ratio:.2f}",
                sb3["updates"],
                ours["updates"],
                f"{sb3['final_return']:.1f}",
                f"{ours['final_return']:.1f}",
            ]
        )
    body = f"""## rlkit vs Stable-Baselines3, DQN CartPole-v1, {
        args.steps:,} steps (`bench/compare_sb3.py`)

RL-Zoo hyperparameters for both (rlkit's defaults add double Q and 3-step returns), same
number of gradient updates, run one after the other on
this machine ({os.cpu_count()} cores). Seconds are training wall-clock only; returns are 20 greedy
episodes after training. SB3 {SB3_PACKAGES[1].split("==")[1]} with torch {
        SB3_PACKAGES[0].split("==")[1]
    } (CPU).

{
        markdown_table(
            [
                "seed",
                "SB3 s",
                "rlkit s",
                "rlkit / SB3",
                "SB3 updates",
                "rlkit updates",
                "SB3 return",
                "rlkit return",
            ],
            rows,
        )
    }

Wall-clock ratio rlkit / SB3: {np.mean(ratios):.2f} (mean over seeds; target <= 0.5, aim 0.25).
"""
    write_section("compare_sb3", body)
    print(body)


if __name__ == "__main__":
    main()
