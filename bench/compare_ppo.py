"""rlkit PPO vs Stable-Baselines3 and SBX on CartPole-v1, one process tree.

All train 100,000 env steps with RL-Zoo's CartPole-v1 hyperparameters (hyperparams/ppo.yml:
8 envs, n_steps 32, batch 256, 20 epochs, gamma 0.98, GAE lambda 0.8, no entropy bonus,
learning rate and clip range linear from 1e-3 and 0.2 to 0; SB3's defaults otherwise:
separate 64x64 tanh MLPs, value coefficient 0.5, gradient norm 0.5). rlkit runs its shipped
`configs/ppo/cartpole.yaml`, which holds the same values. Per seed: SB3, SBX, then rlkit with
local replay on the base install (.venv: local-current), and where `make install-reverb` made
.venv-reverb (jax 0.4.34), with local and with Reverb replay there, one after the other
(`--rlkit` picks some; `compare_sb3.rlkit_stacks`). Each side's environments
step in this process, one after another (SB3's DummyVecEnv, gymnasium's SyncVectorEnv).
Reports training wall-clock, ratios to each peer, SGD steps and greedy evaluation returns
(20 episodes), and writes its section of BENCHMARKS.md.

The peers' venv is `bench/compare_sb3.py`'s (.peers-venv; torch 2.13.0 CPU, SB3, SBX).

    .venv/bin/python bench/compare_ppo.py [--seeds 0 1 2] [--steps 100000]
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

try:
    from bench._report import markdown_table, write_section
    from bench.compare_sb3 import PEERS_TORCH, ensure_peers_venv, rlkit_stacks, run, table_row
except ImportError:
    from _report import markdown_table, write_section
    from compare_sb3 import PEERS_TORCH, ensure_peers_venv, rlkit_stacks, run, table_row

PEER_SCRIPT = """
import importlib.metadata, json, sys, time
import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
library, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if library == "sbx":
    from sbx import PPO
    extra, distribution = {}, "sbx-rl"
else:
    from stable_baselines3 import PPO
    extra, distribution = dict(device="cpu"), "stable-baselines3"
env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98,
            n_epochs=20, ent_coef=0.0, learning_rate=lambda left: 1e-3 * left,
            clip_range=lambda left: 0.2 * left, seed=seed, verbose=0, **extra)
start = time.perf_counter()
model.learn(total_timesteps=steps)
seconds = time.perf_counter() - start
evaluation_env = gym.make("CartPole-v1")
evaluation_env.reset(seed=20_000 + seed)
mean, _ = evaluate_policy(model, evaluation_env, n_eval_episodes=20, deterministic=True)
print(json.dumps(dict(seconds=seconds, updates=int(getattr(model, "_n_updates", -1)),
                      final_return=float(mean),
                      version=importlib.metadata.version(distribution))))
"""

RLKIT_SCRIPT = """
import json, os, sys, time
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax
import numpy as np
import rlkit
from rlkit.agents import registry
from rlkit.agents.on_policy import PPO
backend, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
config = registry.get_agent("ppo").load_config("CartPole-v1")
quiet = rlkit.loggers.NoOpLogger()
env = rlkit.make_vector_environment("CartPole-v1", config.num_envs, seed=seed)
agent = PPO(rlkit.make_environment_spec(env), config, seed=seed, logger=quiet,
            replay_backend=backend)
loop = rlkit.EnvironmentLoop(env, agent, logger=quiet)
start = time.perf_counter()
loop.run(num_steps=steps)
seconds = time.perf_counter() - start
evaluation = rlkit.EnvironmentLoop(
    rlkit.make_environment("CartPole-v1", seed=20_000 + seed), agent.make_evaluation_actor(),
    logger=quiet)
final = float(np.mean([r["episode_return"] for r in evaluation.run(num_episodes=20)]))
sgd_steps = int(agent.learner.state.steps) * config.num_epochs * config.num_minibatches
print(json.dumps(dict(seconds=seconds, updates=sgd_steps, final_return=final,
                      jax=jax.__version__)))
agent.close()
"""

PEERS = (("sbx", "SBX"), ("sb3", "SB3"))
RLKIT_RUNS = ("local-current", "local", "reverb")  # See compare_sb3.rlkit_stacks.


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--rlkit", nargs="+", choices=sorted(RLKIT_RUNS), default=None)
    args = parser.parse_args()
    peers = ensure_peers_venv()
    installed = {label: (python, backend) for label, python, backend in rlkit_stacks()}
    labels = [label for label in args.rlkit or RLKIT_RUNS if label in installed]
    rows, versions = [], {}
    ratios: dict[tuple[str, str], list[float]] = {
        (label, peer): [] for label in labels for peer, _ in PEERS
    }
    for seed in args.seeds:
        results = {}
        for library in ("sb3", "sbx"):
            results[library] = run(peers, PEER_SCRIPT, library, seed, args.steps)
            versions[library] = results[library]["version"]
        for label in labels:
            python, backend = installed[label]
            results[label] = run(python, RLKIT_SCRIPT, backend, seed, args.steps)
            versions[label] = results[label]["jax"]
        print(f"seed {seed}: {json.dumps(results)}", flush=True)
        peer_seconds = [results[peer]["seconds"] for peer, _ in PEERS]
        for label in labels:
            ours = results[label]
            for (peer, _), seconds in zip(PEERS, peer_seconds, strict=True):
                ratios[label, peer].append(ours["seconds"] / seconds)
            name = f"rlkit, {installed[label][1]} replay, jax {ours['jax']}"
            rows.append(table_row(seed, name, ours, peer_seconds, "")[:-1])
        for peer, name in PEERS:
            rows.append(table_row(seed, name, results[peer], peer_seconds, "")[:-1])
    names = {
        label: f"rlkit, {installed[label][1]} replay, jax {versions[label]}" for label in labels
    }
    summary = "\n".join(
        f"- {names[label]} / {dict(PEERS)[peer]}: "
        f"{np.mean(values):.2f} (per seed {', '.join(f'{v:.2f}' for v in values)})"
        for (label, peer), values in ratios.items()
    )
    header = ["seed", "run", "train s", "/ SBX", "/ SB3", "SGD steps", "return"]
    title = f"rlkit vs SBX and SB3, PPO CartPole-v1, {args.steps:,} steps"
    body = f"""## {title} (`bench/compare_ppo.py`)

RL-Zoo's CartPole-v1 PPO hyperparameters on every side (8 environments, 32 steps each, 20
epochs of one 256-step minibatch, linear learning-rate and clip annealing; rlkit:
`configs/ppo/cartpole.yaml`), the same env steps and SGD steps, run one after the other per
seed on this machine ({os.cpu_count()} cores). Seconds are training wall-clock only; returns
are 20 greedy episodes after training. SB3 {versions.get("sb3")} ({PEERS_TORCH}, CPU), SBX
{versions.get("sbx")} (its own current jax).

{markdown_table(header, rows)}

Wall-clock ratios, mean over seeds (targets: at most 0.5x SB3 and 1.0x SBX; aim 0.8x SBX):
{summary}
"""
    write_section("compare_ppo", body)
    print(body)


if __name__ == "__main__":
    main()
