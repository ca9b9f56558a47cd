"""rlkit SAC or TD3 vs Stable-Baselines3 and SBX, one process tree.

All train the same env steps with RL-Zoo's hyperparameters for the algorithm and
environment. Pendulum-v1 (20,000 steps by default; hyperparams/sac.yml: lr 1e-3, SB3's
defaults otherwise, i.e. batch 256, one gradient step per env step after 100 learning-starts
steps, tau 0.005, 256x256 nets; td3.yml: gamma 0.98, buffer 200k, 10,000 learning-starts
steps, Gaussian action noise 0.1, lr 1e-3, 400x300 nets) or a MuJoCo task (`--env Hopper-v5`
or `HalfCheetah-v5`; RL-Zoo's MuJoCo defaults: SAC with 10,000 learning-starts steps, TD3 with
10,000 learning-starts steps, noise 0.1, lr 1e-3, 400x300 nets). rlkit runs its shipped
configs/{sac,td3}/ENV.yaml, which hold the same values, so all run the same algorithm and
the same number of gradient updates (rlkit groups them 8 per jitted learner call, every 8
env steps). Per seed: the peers, then rlkit with local replay on the base install (.venv:
local-current), and where `make install-reverb` made .venv-reverb (jax 0.4.34), with local
and with Reverb replay there, one after the other (`--rlkit` picks some of them). Reports
training wall-clock, ratios to each peer, update counts and deterministic evaluation returns
(10 episodes).

The peers' venv is `bench/compare_sb3.py`'s (.peers-venv; torch 2.13.0 CPU, SB3, SBX).

    .venv/bin/python bench/compare_continuous.py --algo sac|td3 [--seeds 0] [--peers sbx sb3]
    .venv/bin/python bench/compare_continuous.py --algo td3 --env Hopper-v5 --steps 100000 \\
        --peers sbx --rlkit local-current
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from rlkit.agents import registry

try:
    from bench._report import markdown_table, write_section
    from bench.compare_sb3 import PEERS_TORCH, ensure_peers_venv, rlkit_stacks, run, table_row
except ImportError:
    from _report import markdown_table, write_section
    from compare_sb3 import PEERS_TORCH, ensure_peers_venv, rlkit_stacks, run, table_row

PEER_SCRIPT = """
import importlib.metadata, json, sys, time
import numpy as np
import gymnasium as gym
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.noise import NormalActionNoise
library, algo, seed, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
env_id = sys.argv[5]
if library == "sbx":
    import sbx as package
    extra, distribution = {}, "sbx-rl"
else:
    import stable_baselines3 as package
    extra, distribution = dict(device="cpu"), "stable-baselines3"
kwargs = json.loads(sys.argv[6])
noise_std = kwargs.pop("action_noise_std", None)
if noise_std is not None:
    size = gym.make(env_id).action_space.shape[0]
    kwargs["action_noise"] = NormalActionNoise(np.zeros(size), noise_std * np.ones(size))
Algorithm = package.SAC if algo == "sac" else package.TD3
model = Algorithm("MlpPolicy", env_id, seed=seed, verbose=0, **kwargs, **extra)
start = time.perf_counter()
model.learn(total_timesteps=steps)
seconds = time.perf_counter() - start
env = gym.make(env_id)
env.reset(seed=20_000 + seed)
mean, _ = evaluate_policy(model, env, n_eval_episodes=10, deterministic=True)
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
from rlkit.agents import actor_critic, registry
algo, backend, seed, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
env_id = sys.argv[5]
config = registry.get_agent(algo).load_config(env_id)
quiet = rlkit.loggers.NoOpLogger()
env = rlkit.make_environment(env_id, seed=seed, recipe="continuous")
agent = actor_critic.ActorCritic(rlkit.make_environment_spec(env), config, seed=seed,
                                 logger=quiet, replay_backend=backend)
loop = rlkit.EnvironmentLoop(env, agent, logger=quiet)
start = time.perf_counter()
loop.run(num_steps=steps)
agent.wait_for_learner()
seconds = time.perf_counter() - start
evaluation = rlkit.EnvironmentLoop(
    rlkit.make_environment(env_id, seed=20_000 + seed, recipe="continuous"),
    agent.make_evaluation_actor(), logger=quiet)
final = float(np.mean([r["episode_return"] for r in evaluation.run(num_episodes=10)]))
print(json.dumps(dict(seconds=seconds, updates=int(agent.learner.state.steps),
                      final_return=final, jax=jax.__version__)))
agent.close()
"""

PEER_NAMES = {"sbx": "SBX", "sb3": "SB3"}

# RL-Zoo's hyperparameters (hyperparams/{sac,td3}.yml), as SB3/SBX keyword arguments
# ("action_noise_std": Gaussian action noise of that standard deviation).
_TD3_MUJOCO = dict(
    learning_starts=10_000,
    train_freq=1,
    gradient_steps=1,
    learning_rate=1e-3,
    batch_size=256,
    action_noise_std=0.1,
    policy_kwargs=dict(net_arch=[400, 300]),
)
PEER_HYPERPARAMETERS = {
    ("sac", "Pendulum-v1"): dict(learning_rate=1e-3),
    ("td3", "Pendulum-v1"): {**_TD3_MUJOCO, "gamma": 0.98, "buffer_size": 200_000},
    **{("sac", env_id): dict(learning_starts=10_000) for env_id in ("Hopper-v5", "HalfCheetah-v5")},
    **{("td3", env_id): _TD3_MUJOCO for env_id in ("Hopper-v5", "HalfCheetah-v5")},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=("sac", "td3"), default="sac")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--env", default="Pendulum-v1", choices=sorted({e for _, e in PEER_HYPERPARAMETERS})
    )
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--peers", nargs="+", choices=sorted(PEER_NAMES), default=["sbx", "sb3"])
    parser.add_argument(
        "--rlkit",
        nargs="+",
        choices=("local", "reverb", "local-current"),
        default=["local", "reverb", "local-current"],
        help="rlkit set-ups to run (each where installed)",
    )
    args = parser.parse_args()
    peers_python = ensure_peers_venv()
    peer_kwargs = json.dumps(PEER_HYPERPARAMETERS[args.algo, args.env])
    runs = [entry for entry in rlkit_stacks() if entry[0] in args.rlkit]
    rows, versions = [], {}
    ratios: dict[tuple[str, str], list[float]] = {
        (label, peer): [] for label, _, _ in runs for peer in args.peers
    }
    for seed in args.seeds:
        results = {}
        for peer in args.peers:
            results[peer] = run(
                peers_python, PEER_SCRIPT, peer, args.algo, seed, args.steps, args.env, peer_kwargs
            )
            versions[peer] = results[peer]["version"]
        for label, python, backend in runs:
            results[label] = run(
                python, RLKIT_SCRIPT, args.algo, backend, seed, args.steps, args.env
            )
            versions[label] = results[label]["jax"]
        print(f"seed {seed}: {json.dumps(results)}", flush=True)
        peer_seconds = [results[peer]["seconds"] for peer in args.peers]
        for label, _, backend in runs:
            ours = results[label]
            for peer, seconds in zip(args.peers, peer_seconds, strict=True):
                ratios[label, peer].append(ours["seconds"] / seconds)
            name = f"rlkit, {backend} replay, jax {ours['jax']}"
            rows.append(table_row(seed, name, ours, peer_seconds, "")[:-1])
        for peer in args.peers:
            rows.append(table_row(seed, PEER_NAMES[peer], results[peer], peer_seconds, "")[:-1])
    names = {label: f"rlkit, {backend} replay, jax {versions[label]}" for label, _, backend in runs}
    summary = "\n".join(
        f"- {names[label]} / {PEER_NAMES[peer]}: "
        f"{np.mean(values):.2f} (per seed {', '.join(f'{v:.2f}' for v in values)})"
        for (label, peer), values in ratios.items()
    )
    header = [
        "seed",
        "run",
        "train s",
        *(f"/ {PEER_NAMES[peer]}" for peer in args.peers),
        "updates",
        "return",
    ]
    peer_versions = (
        ", ".join(f"{PEER_NAMES[peer]} {versions[peer]}" for peer in args.peers)
        + f" ({PEERS_TORCH} CPU for SB3; SBX on its own current jax)"
    )
    algo = args.algo.upper()
    config_name = registry.environment_key(args.env)
    peers = " and ".join(PEER_NAMES[peer] for peer in args.peers)
    # Pendulum-v1 keeps its sections' names and carries the speed targets.
    on_pendulum = args.env == "Pendulum-v1"
    command = f"--algo {args.algo}" + ("" if on_pendulum else f" --env {args.env}")
    targets = (
        "targets: at most 0.5x SB3 and 1.0x SBX; aim 0.8x SBX"
        if on_pendulum
        else "reported; the speed targets are set on Pendulum-v1"
    )
    body = f"""## rlkit vs {peers}, {algo} {args.env}, {args.steps:,} steps \
(`bench/compare_continuous.py {command}`)

RL-Zoo's {args.env} hyperparameters for {algo} on every side (rlkit:
`configs/{args.algo}/{config_name}.yaml`), the same env steps and gradient updates, run
one after the other per seed on this machine ({os.cpu_count()} cores). Seconds are training
wall-clock only; returns are 10 deterministic episodes after training. {peer_versions}.

{markdown_table(header, rows)}

Wall-clock ratios, mean over seeds ({targets}):
{summary}
"""
    write_section(f"compare_{args.algo}" + ("" if on_pendulum else f"_{config_name}"), body)
    print(body)


if __name__ == "__main__":
    main()
