"""rlkit DQN (local and Reverb replay) vs Stable-Baselines3 and SBX DQN on CartPole-v1.

All train 50,000 env steps with RL-Zoo's CartPole hyperparameters (SB3/SBX: train_freq=256,
gradient_steps=128 -> ~24.5k gradient updates of batch 64; rlkit: samples_per_insert=32 ->
the same count), one after the other in this process tree, per seed. Reports training
wall-clock of each, the ratios to SBX and SB3, update counts and greedy evaluation returns
(20 episodes), and rlkit's acting-loop speed with replay writes (10,000 steps of acting and
writing, no learning). rlkit runs three ways: the local backend on the Reverb stack (.venv,
jax 0.4.34), Reverb itself there, and the local backend on the current stack (.venv-current,
`make install-current`: the base install), when that venv exists.

SB3 and SBX live in their own venv (.peers-venv, created on first use: torch==2.13.0 first,
which resolves to the CPU build, then stable-baselines3 and sbx-rl); nothing is installed
into the project's environment. The Reverb rows need the `reverb` extra (`make install`).

    .venv/bin/python bench/compare_sb3.py [--seeds 0 1 2] [--steps 50000]
"""

from __future__ import annotations

import argparse
import importlib.util
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
PEERS_VENV = ROOT / ".peers-venv"
CURRENT_PYTHON = ROOT / ".venv-current" / "bin" / "python"
# torch first and alone: pinned, it resolves to the CPU build; a plain torch pulls CUDA.
PEERS_TORCH = "torch==2.13.0"
PEERS_PACKAGES = ["stable-baselines3==2.9.2", "sbx-rl==0.28.0", "gymnasium==1.4.0"]

PEER_SCRIPT = """
import importlib.metadata, json, sys, time
import gymnasium as gym
library, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if library == "sbx":
    from sbx import DQN
    from stable_baselines3.common.evaluation import evaluate_policy
    extra = {}
else:
    from stable_baselines3 import DQN
    from stable_baselines3.common.evaluation import evaluate_policy
    extra = dict(device="cpu")
model = DQN("MlpPolicy", "CartPole-v1", learning_rate=2.3e-3, batch_size=64,
            buffer_size=100_000, learning_starts=1000, gamma=0.99, target_update_interval=10,
            train_freq=256, gradient_steps=128, exploration_fraction=0.16,
            exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256]),
            seed=seed, verbose=0, **extra)
start = time.perf_counter()
model.learn(total_timesteps=steps)
seconds = time.perf_counter() - start
env = gym.make("CartPole-v1")
env.reset(seed=20_000 + seed)
mean, _ = evaluate_policy(model, env, n_eval_episodes=20, deterministic=True)
version = importlib.metadata.version("sbx-rl" if library == "sbx" else "stable-baselines3")
print(json.dumps(dict(seconds=seconds, updates=int(getattr(model, "_n_updates", -1)),
                      final_return=float(mean), version=version)))
"""

RLKIT_SCRIPT = """
import json, os, sys, time
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax
import numpy as np
import rlkit
from rlkit.agents import dqn
backend, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
quiet = rlkit.loggers.NoOpLogger()

# Acting with replay writes only: learning starts after 10,000 steps, so none happens here.
acting_steps = 10_000
env = rlkit.make_environment("CartPole-v1", seed=seed)
agent = dqn.DQN(rlkit.make_environment_spec(env), dqn.DQNConfig(min_replay_size=acting_steps),
                seed=seed, logger=quiet, replay_backend=backend)
loop = rlkit.EnvironmentLoop(env, agent, logger=quiet)
loop.run(num_steps=200)  # Compiles the policy.
start = time.perf_counter()
loop.run(num_steps=acting_steps - 200)
acting_steps_per_second = (acting_steps - 200) / (time.perf_counter() - start)
agent.close()

env = rlkit.make_environment("CartPole-v1", seed=seed)
agent = dqn.DQN(rlkit.make_environment_spec(env), dqn.DQNConfig(), seed=seed, logger=quiet,
                replay_backend=backend)
loop = rlkit.EnvironmentLoop(env, agent, logger=quiet)
start = time.perf_counter()
loop.run(num_steps=steps)
agent.wait_for_learner()
seconds = time.perf_counter() - start
evaluation = rlkit.EnvironmentLoop(
    rlkit.make_environment("CartPole-v1", seed=20_000 + seed), agent.make_evaluation_actor(),
    logger=quiet)
final = float(np.mean([r["episode_return"] for r in evaluation.run(num_episodes=20)]))
print(json.dumps(dict(seconds=seconds, updates=int(agent.learner.state.steps), final_return=final,
                      acting_steps_per_second=acting_steps_per_second, jax=jax.__version__)))
agent.close()
"""


def ensure_peers_venv() -> pathlib.Path:
    python = PEERS_VENV / "bin" / "python"
    if not (PEERS_VENV / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, PEERS_TORCH], check=True)
        subprocess.run([*pip, *PEERS_PACKAGES], check=True)
        (PEERS_VENV / ".installed").touch()
    return python


def run(python: pathlib.Path | str, script: str, *args) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
    out = subprocess.run(
        [str(python), "-c", script, *map(str, args)],
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
    peers = ensure_peers_venv()
    # (label, interpreter, replay backend)
    runs = [("local", sys.executable, "local")]
    if importlib.util.find_spec("reverb"):
        runs.append(("reverb", sys.executable, "reverb"))
    if CURRENT_PYTHON.exists():
        runs.append(("local-current", CURRENT_PYTHON, "local"))
    labels = [label for label, _, _ in runs]
    rows, versions = [], {}
    ratios: dict[str, list[float]] = {f"{b}/{p}": [] for b in labels for p in ("sbx", "sb3")}
    for seed in args.seeds:
        results = {}
        for library in ("sb3", "sbx"):
            results[library] = run(peers, PEER_SCRIPT, library, seed, args.steps)
            versions[library] = results[library]["version"]
        for label, python, backend in runs:
            results[label] = run(python, RLKIT_SCRIPT, backend, seed, args.steps)
            versions[label] = results[label]["jax"]
        print(f"seed {seed}: {json.dumps(results)}", flush=True)
        for label, _, backend in runs:
            ours = results[label]
            for peer in ("sbx", "sb3"):
                ratios[f"{label}/{peer}"].append(ours["seconds"] / results[peer]["seconds"])
            rows.append(
                [
                    seed,
                    f"rlkit, {backend} replay, jax {ours['jax']}",
                    f"{ours['seconds']:.1f}",
                    f"{ours['seconds'] / results['sbx']['seconds']:.2f}",
                    f"{ours['seconds'] / results['sb3']['seconds']:.2f}",
                    ours["updates"],
                    f"{ours['final_return']:.1f}",
                    f"{ours['acting_steps_per_second']:.0f}",
                ]
            )
        for peer, name in (("sbx", "SBX"), ("sb3", "SB3")):
            result = results[peer]
            rows.append(
                [
                    seed,
                    name,
                    f"{result['seconds']:.1f}",
                    f"{result['seconds'] / results['sbx']['seconds']:.2f}",
                    f"{result['seconds'] / results['sb3']['seconds']:.2f}",
                    result["updates"],
                    f"{result['final_return']:.1f}",
                    "",
                ]
            )
    names = {label: f"rlkit, {backend} replay, jax {versions[label]}" for label, _, backend in runs}
    summary = "\n".join(
        f"- {names[key.split('/')[0]]} / {key.split('/')[1].upper()}: "
        f"{np.mean(values):.2f} (per seed {', '.join(f'{v:.2f}' for v in values)})"
        for key, values in ratios.items()
    )
    header = ["seed", "run", "train s", "/ SBX", "/ SB3", "updates", "return", "acting steps/s"]
    body = f"""## rlkit vs SBX and Stable-Baselines3, DQN CartPole-v1, {args.steps:,} steps \
(`bench/compare_sb3.py`)

RL-Zoo hyperparameters for all (rlkit's defaults add double Q and 3-step returns), the same
number of gradient updates, run one after the other per seed on this machine
({os.cpu_count()} cores). Seconds are training wall-clock only; returns are 20 greedy episodes
after training. "acting steps/s" is rlkit's acting loop with replay writes and no learning.
SB3 {versions.get("sb3")} ({PEERS_TORCH}, CPU), SBX {versions.get("sbx")} (its own current jax).

{markdown_table(header, rows)}

Wall-clock ratios, mean over seeds (target for the local backend: at most 1.0x SBX):
{summary}
"""
    write_section("compare_sb3", body)
    print(body)


if __name__ == "__main__":
    main()
