"""`rlkit train` as a whole process against SB3's and SBX's same algorithm, one process tree.

What a user waits for: from launching the command to its exit, start-up, imports,
compilation, evaluations, checkpoints and logs included. rlkit runs the command line with its
defaults (`rlkit train ppo --env CartPole-v1 --steps 100000`: the shipped CartPole config,
which holds RL-Zoo's hyperparameters); each peer runs a script that imports it, builds RL-Zoo's
CartPole-v1 model and calls `model.learn()`, with nothing else. Per seed: SB3, SBX, then rlkit,
one after the other. Also reported: rlkit's own split of its run (training, evaluating) as the
command prints it, and the final evaluation return.

The peers' venv is `bench/compare_sb3.py`'s (.peers-venv; torch 2.13.0 CPU, SB3, SBX).

    .venv/bin/python bench/cli_whole_process.py [--agent ppo|dqn] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    from bench._report import markdown_table, write_section
    from bench.compare_sb3 import PEERS_TORCH, ensure_peers_venv
except ImportError:
    from _report import markdown_table, write_section
    from compare_sb3 import PEERS_TORCH, ensure_peers_venv

ROOT = pathlib.Path(__file__).resolve().parent.parent

# RL-Zoo's CartPole-v1 hyperparameters (hyperparams/ppo.yml, dqn.yml), as in compare_ppo.py and
# compare_sb3.py; the whole script is the process being timed.
PEER_SCRIPTS = {
    "ppo": """
import sys
from stable_baselines3.common.env_util import make_vec_env
library, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if library == "sbx":
    from sbx import PPO
    extra = {}
else:
    from stable_baselines3 import PPO
    extra = dict(device="cpu")
env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98,
            n_epochs=20, ent_coef=0.0, learning_rate=lambda left: 1e-3 * left,
            clip_range=lambda left: 0.2 * left, seed=seed, verbose=0, **extra)
model.learn(total_timesteps=steps)
""",
    "dqn": """
import sys
library, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if library == "sbx":
    from sbx import DQN
    extra = {}
else:
    from stable_baselines3 import DQN
    extra = dict(device="cpu")
model = DQN("MlpPolicy", "CartPole-v1", learning_rate=2.3e-3, batch_size=64,
            buffer_size=100_000, learning_starts=1000, gamma=0.99,
            target_update_interval=10, train_freq=256, gradient_steps=128,
            exploration_fraction=0.16, exploration_final_eps=0.04,
            policy_kwargs=dict(net_arch=[256, 256]), seed=seed, verbose=0, **extra)
model.learn(total_timesteps=steps)
""",
}
DEFAULT_STEPS = {"ppo": 100_000, "dqn": 50_000}
PEERS = (("sb3", "SB3"), ("sbx", "SBX"))


def timed(command: list[str], cwd: pathlib.Path, **env_vars: str) -> tuple[float, str]:
    """Wall-clock seconds from launch to exit, and what the process printed."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2", **env_vars)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def rlkit_run(agent: str, seed: int, steps: int, cache_home: str) -> dict[str, float]:
    """One `rlkit train` process; its compilation cache under `cache_home` (XDG_CACHE_HOME):
    an empty one gives a first run's (cold) figure, a filled one a later run's (warm)."""
    rlkit = pathlib.Path(sys.executable).parent / "rlkit"
    with tempfile.TemporaryDirectory() as folder:
        command = [str(rlkit), "train", agent, "--env", "CartPole-v1", "--steps", str(steps)]
        command += ["--seed", str(seed)]
        # Default run dir, in `folder`.
        seconds, out = timed(command, pathlib.Path(folder), XDG_CACHE_HOME=cache_home)
    final = re.search(r"evaluation return (-?[\d.]+)", out)
    split = re.search(r"([\d.]+) s training, ([\d.]+) s evaluating", out)
    return {
        "seconds": seconds,
        "return": float(final.group(1)) if final else float("nan"),
        "training": float(split.group(1)) if split else float("nan"),
        "evaluating": float(split.group(2)) if split else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", choices=sorted(PEER_SCRIPTS), default="ppo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    steps = args.steps or DEFAULT_STEPS[args.agent]
    peers_python = ensure_peers_venv()
    rows = []
    ratios = {(name, kind): [] for _, name in PEERS for kind in ("cold", "warm")}
    for seed in args.seeds:
        peer_seconds = {}
        for library, name in PEERS:
            command = [str(peers_python), "-c", PEER_SCRIPTS[args.agent], library, str(seed)]
            peer_seconds[name], _ = timed([*command, str(steps)], ROOT)
        with tempfile.TemporaryDirectory() as cache_home:  # An empty compilation cache.
            ours = {
                kind: rlkit_run(args.agent, seed, steps, cache_home) for kind in ("cold", "warm")
            }
        print(f"seed {seed}: peers {peer_seconds}, rlkit {ours}", flush=True)
        for (name, kind), values in ratios.items():
            values.append(ours[kind]["seconds"] / peer_seconds[name])
        cold, warm = ours["cold"], ours["warm"]
        rows.append(
            [
                seed,
                f"{cold['seconds']:.1f}",
                f"{warm['seconds']:.1f}",
                f"{cold['training']:.1f} / {warm['training']:.1f}",
                f"{cold['evaluating']:.1f} / {warm['evaluating']:.1f}",
                f"{cold['return']:.1f}",
                *(f"{peer_seconds[name]:.1f}" for _, name in PEERS),
                *(f"{ratios[key][-1]:.2f}" for key in ratios),
            ]
        )
    header = [
        "seed",
        "rlkit s, first run",
        "rlkit s, later run",
        "of it training",
        "evaluating",
        "rlkit return",
        *(f"{name} s (whole)" for _, name in PEERS),
        *(f"rlkit {'first' if kind == 'cold' else 'later'} / {name}" for name, kind in ratios),
    ]
    summary = "\n".join(
        f"- rlkit ({'first run' if kind == 'cold' else 'later run'}) / {name}: "
        f"{np.mean(values):.2f} (per seed {', '.join(f'{v:.2f}' for v in values)})"
        for (name, kind), values in ratios.items()
    )
    body = f"""## `rlkit train {args.agent}` as a whole process vs SB3 and SBX, CartPole-v1, \
{steps:,} steps (`bench/cli_whole_process.py --agent {args.agent}`)

From launch to exit, one after the other per seed on this machine ({os.cpu_count()} cores):
`rlkit train {args.agent} --env CartPole-v1 --steps {steps}` with its defaults (evaluations,
checkpoints and logs included; "training" and "evaluating" are its own split), against a
script that builds RL-Zoo's CartPole-v1 model of the same algorithm and calls `learn()`.
rlkit runs twice per seed on one compilation cache, empty at first: the first run compiles
(a user's first run of this agent on this machine), the later one loads what it compiled
from `~/.cache/rlkit/jax` (every later run). "training" and "evaluating": first / later.
Python {sys.version.split()[0]}; peers: {PEERS_TORCH}, CPU.

{markdown_table(header, rows)}

Whole-process ratios, mean over seeds (target for PPO: at most 0.5x SB3):
{summary}
"""
    write_section(f"cli_whole_process_{args.agent}", body)


if __name__ == "__main__":
    main()
