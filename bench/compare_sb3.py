"""rlkit DQN or QR-DQN (local and Reverb replay) vs Stable-Baselines3, SBX and sb3-contrib.

`--algo dqn` (the default) compares rlkit's DQN with SB3's and SBX's; `--algo qrdqn` compares
rlkit's QR-DQN with sb3-contrib's (SBX has no QR-DQN). All train 50,000 CartPole-v1 env steps
with RL-Zoo's CartPole hyperparameters for the algorithm (peers: train_freq=256,
gradient_steps=128 -> ~24.5k gradient updates of batch 64; rlkit: its shipped CartPole config
with the overrides in COMPARISONS, samples_per_insert=32 and 128 SGD steps per learner step ->
the same count and schedule), one after the other in this process tree, per seed.
Reports training wall-clock of each, the ratios to each peer, update counts and greedy
evaluation returns (20 episodes), and rlkit's acting-loop speed with replay writes (10,000
steps of acting and writing, no learning). rlkit runs up to three ways (`rlkit_stacks`): the
local backend on the base install (.venv, `make install`: label local-current), and, where
`make install-reverb` made .venv-reverb (jax 0.4.34), the local backend there (local) and
Reverb itself (reverb).

The peers live in their own venv (.peers-venv, created on first use and topped up when
PEERS_PACKAGES changes: torch==2.13.0 first, which resolves to the CPU build, then
stable-baselines3, sbx-rl and sb3-contrib); nothing is installed into the project's
environment.

    .venv/bin/python bench/compare_sb3.py [--algo dqn|qrdqn] [--seeds 0 1 2] [--steps 50000]
"""

from __future__ import annotations

import argparse
import dataclasses
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
BASE_PYTHON = ROOT / ".venv" / "bin" / "python"
REVERB_PYTHON = ROOT / ".venv-reverb" / "bin" / "python"
# torch first and alone: pinned, it resolves to the CPU build; a plain torch pulls CUDA.
PEERS_TORCH = "torch==2.13.0"
PEERS_PACKAGES = [
    "stable-baselines3==2.9.2",
    "sbx-rl==0.28.0",
    "sb3-contrib==2.9.2",
    # MuJoCo tasks for bench/compare_continuous.py, on the mujoco rlkit's stacks pin.
    "gymnasium[mujoco]==1.4.0",
    "mujoco==4.0.0",
]

# RL-Zoo's tuned CartPole-v1 hyperparameters (hyperparams/dqn.yml and qrdqn.yml: the same
# but for qrdqn's n_quantiles=10). library: sb3 | sbx (DQN) or sb3-contrib (QR-DQN).
PEER_SCRIPT = """
import importlib.metadata, json, sys, time
import gymnasium as gym
from stable_baselines3.common.evaluation import evaluate_policy
library, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
policy_kwargs = dict(net_arch=[256, 256])
if library == "sbx":
    from sbx import DQN as Algorithm
    extra, distribution = {}, "sbx-rl"
elif library == "sb3":
    from stable_baselines3 import DQN as Algorithm
    extra, distribution = dict(device="cpu"), "stable-baselines3"
else:
    from sb3_contrib import QRDQN as Algorithm
    extra, distribution = dict(device="cpu"), "sb3-contrib"
    policy_kwargs["n_quantiles"] = 10
model = Algorithm("MlpPolicy", "CartPole-v1", learning_rate=2.3e-3, batch_size=64,
                  buffer_size=100_000, learning_starts=1000, gamma=0.99,
                  target_update_interval=10, train_freq=256, gradient_steps=128,
                  exploration_fraction=0.16, exploration_final_eps=0.04,
                  policy_kwargs=policy_kwargs, seed=seed, verbose=0, **extra)
start = time.perf_counter()
model.learn(total_timesteps=steps)
seconds = time.perf_counter() - start
env = gym.make("CartPole-v1")
env.reset(seed=20_000 + seed)
mean, _ = evaluate_policy(model, env, n_eval_episodes=20, deterministic=True)
print(json.dumps(dict(seconds=seconds, updates=int(getattr(model, "_n_updates", -1)),
                      final_return=float(mean),
                      version=importlib.metadata.version(distribution))))
"""

# agent: an rlkit registry name (dqn, qrdqn); its shipped CartPole-v1 config is used, with
# the overrides after the step count (`key=value`, as `rlkit train --set`).
RLKIT_SCRIPT = """
import dataclasses, json, os, sys, time
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax
import numpy as np
import rlkit
from rlkit.agents import dqn, registry
agent_name, backend, seed, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if sys.argv[5:] == ["--two-line-script"]:  # The README's two-line script: DQNConfig().
    config = dqn.DQNConfig()
else:
    config = registry.get_agent(agent_name).load_config("CartPole-v1", overrides=sys.argv[5:])
quiet = rlkit.loggers.NoOpLogger()

# Acting with replay writes only: learning starts after 10,000 steps, so none happens here.
acting_steps = 10_000
env = rlkit.make_environment("CartPole-v1", seed=seed)
agent = dqn.DQN(rlkit.make_environment_spec(env),
                dataclasses.replace(config, min_replay_size=acting_steps),
                seed=seed, logger=quiet, replay_backend=backend)
loop = rlkit.EnvironmentLoop(env, agent, logger=quiet)
loop.run(num_steps=200)  # Compiles the policy.
start = time.perf_counter()
loop.run(num_steps=acting_steps - 200)
acting_steps_per_second = (acting_steps - 200) / (time.perf_counter() - start)
agent.close()

env = rlkit.make_environment("CartPole-v1", seed=seed)
agent = dqn.DQN(rlkit.make_environment_spec(env), config, seed=seed, logger=quiet,
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


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One `--algo`: the rlkit agent, its peers and the text of its BENCHMARKS.md section.

    Attributes:
      agent: the rlkit registry name, trained with its shipped CartPole-v1 config plus
        `rlkit_overrides`.
      name: the algorithm in the section's title.
      peers: (PEER_SCRIPT library, name in the table), in the table's order.
      run_order: the PEER_SCRIPT libraries in the order they run.
      section: the BENCHMARKS.md section `write_section` replaces.
      title: whom rlkit is compared with, in the title.
      command: how the title names the command.
      hyperparameters: the first sentence's note on what rlkit's config changes.
      peer_versions: a format string for the peer versions sentence ({sb3}, {torch}, ...).
      note: a sentence before that one ("" for none).
      target: the ratios line's parenthetical ("" for none).
      rlkit_overrides: `key=value` changes to the shipped config, so both sides run the
        same algorithm.
    """

    agent: str
    name: str
    peers: tuple[tuple[str, str], ...]
    run_order: tuple[str, ...]
    section: str
    title: str
    command: str
    hyperparameters: str
    peer_versions: str
    note: str = ""
    target: str = ""
    rlkit_overrides: tuple[str, ...] = ()


COMPARISONS = {
    "dqn": Comparison(
        agent="dqn",
        name="DQN",
        peers=(("sbx", "SBX"), ("sb3", "SB3")),
        run_order=("sb3", "sbx"),
        section="compare_sb3",
        title="SBX and Stable-Baselines3",
        command="bench/compare_sb3.py",
        hyperparameters=(
            "for all: rlkit runs its shipped CartPole config with\n"
            "RL-Zoo's values put back (`double_q=false n_step=1 learning_rate=2.3e-3\n"
            "num_sgd_steps_per_step=128`: no double Q, 1-step returns, and RL-Zoo's\n"
            "train_freq=256 / gradient_steps=128, 128 updates every 256 env steps, where the\n"
            "shipped config runs 8 every 16), so all three run the same algorithm"
        ),
        peer_versions="SB3 {sb3} ({torch}, CPU), SBX {sbx} (its own current jax).",
        target=" (targets: at most 0.5x SB3 and 1.0x SBX on the Reverb backend)",
        rlkit_overrides=(
            "double_q=false",
            "n_step=1",
            "learning_rate=2.3e-3",
            "num_sgd_steps_per_step=128",
        ),
    ),
    "dqn-two-line": Comparison(
        agent="dqn",
        name="DQN (two-line script)",
        peers=(("sbx", "SBX"), ("sb3", "SB3")),
        run_order=("sb3", "sbx"),
        section="compare_two_line",
        title="SBX and Stable-Baselines3",
        command="bench/compare_sb3.py --algo dqn-two-line",
        hyperparameters=(
            "for the peers; rlkit runs what the README's two-line script runs,\n"
            "`dqn.DQNConfig()` as it is (double Q, 5-step returns, lr 6.3e-4 and its own\n"
            "learning schedule), at the same replay ratio (0.5 updates per env step)"
        ),
        peer_versions="SB3 {sb3} ({torch}, CPU), SBX {sbx} (its own current jax).",
        target=" (target: at most 0.7x SBX, goal 0.5x)",
        rlkit_overrides=("--two-line-script",),
    ),
    "qrdqn": Comparison(
        agent="qrdqn",
        name="QR-DQN",
        peers=(("sb3-contrib", "sb3-contrib"),),
        run_order=("sb3-contrib",),
        section="compare_qrdqn",
        title="sb3-contrib",
        command="bench/compare_sb3.py --algo qrdqn",
        hyperparameters=(
            "for both (qrdqn.yml: 10 quantiles, lr 2.3e-3, 128 updates every 256\n"
            "env steps): rlkit runs its shipped config, configs/qrdqn/cartpole.yaml, with\n"
            "RL-Zoo's values put back (`n_step=1 num_sgd_steps_per_step=128`: 1-step returns\n"
            "where the shipped config has 3, and one learner step of 128 SGD steps every 256\n"
            "env steps where it runs 8 every 16), so both run the same algorithm"
        ),
        peer_versions="sb3-contrib {sb3-contrib} (PyTorch, {torch}, CPU).",
        note="SBX has no QR-DQN, so sb3-contrib is the only peer.\n",
        rlkit_overrides=("n_step=1", "num_sgd_steps_per_step=128"),
    ),
}


def ensure_peers_venv() -> pathlib.Path:
    """The peers' python; (re)installs the packages when the stamp lists other ones."""
    python = PEERS_VENV / "bin" / "python"
    stamp = PEERS_VENV / ".installed"
    wanted = "\n".join([PEERS_TORCH, *PEERS_PACKAGES]) + "\n"
    if not stamp.exists() or stamp.read_text() != wanted:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, PEERS_TORCH], check=True)
        subprocess.run([*pip, *PEERS_PACKAGES], check=True)
        stamp.write_text(wanted)
    return python


def run(python: pathlib.Path | str, script: str, *args: object) -> dict:
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


def table_row(seed: int, name: str, result: dict, peer_seconds: list[float], acting: str) -> list:
    """A table row: `result`'s seconds, their ratio to each peer's, updates and return."""
    seconds = result["seconds"]
    return [
        seed,
        name,
        f"{seconds:.1f}",
        *(f"{seconds / peer:.2f}" for peer in peer_seconds),
        result["updates"],
        f"{result['final_return']:.1f}",
        acting,
    ]


def rlkit_stacks() -> list[tuple[str, str, str]]:
    """(label, interpreter, replay backend) of each rlkit set-up installed here: the base
    install (local-current), and on the Reverb stack its local backend (local) and Reverb."""
    base = BASE_PYTHON if BASE_PYTHON.exists() else sys.executable
    runs = [("local-current", str(base), "local")]
    if REVERB_PYTHON.exists():
        runs += [("local", str(REVERB_PYTHON), "local"), ("reverb", str(REVERB_PYTHON), "reverb")]
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=sorted(COMPARISONS), default="dqn")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=50_000)
    args = parser.parse_args()
    comparison = COMPARISONS[args.algo]
    peers = ensure_peers_venv()
    # (label, interpreter, replay backend)
    runs = rlkit_stacks()
    rows, versions = [], {}
    ratios: dict[tuple[str, str], list[float]] = {
        (label, peer): [] for label, _, _ in runs for peer, _ in comparison.peers
    }
    for seed in args.seeds:
        results = {}
        for library in comparison.run_order:
            results[library] = run(peers, PEER_SCRIPT, library, seed, args.steps)
            versions[library] = results[library]["version"]
        for label, python, backend in runs:
            results[label] = run(
                python,
                RLKIT_SCRIPT,
                comparison.agent,
                backend,
                seed,
                args.steps,
                *comparison.rlkit_overrides,
            )
            versions[label] = results[label]["jax"]
        print(f"seed {seed}: {json.dumps(results)}", flush=True)
        peer_seconds = [results[peer]["seconds"] for peer, _ in comparison.peers]
        for label, _, backend in runs:
            ours = results[label]
            for (peer, _), seconds in zip(comparison.peers, peer_seconds, strict=True):
                ratios[label, peer].append(ours["seconds"] / seconds)
            name = f"rlkit, {backend} replay, jax {ours['jax']}"
            acting = f"{ours['acting_steps_per_second']:.0f}"
            rows.append(table_row(seed, name, ours, peer_seconds, acting))
        for peer, name in comparison.peers:
            rows.append(table_row(seed, name, results[peer], peer_seconds, ""))
    names = {label: f"rlkit, {backend} replay, jax {versions[label]}" for label, _, backend in runs}
    peer_names = dict(comparison.peers)
    summary = "\n".join(
        f"- {names[label]} / {peer_names[peer]}: "
        f"{np.mean(values):.2f} (per seed {', '.join(f'{v:.2f}' for v in values)})"
        for (label, peer), values in ratios.items()
    )
    header = [
        "seed",
        "run",
        "train s",
        *(f"/ {name}" for _, name in comparison.peers),
        "updates",
        "return",
        "acting steps/s",
    ]
    peer_versions = comparison.peer_versions.format_map(dict(versions, torch=PEERS_TORCH))
    body = f"""## rlkit vs {comparison.title}, {comparison.name} CartPole-v1, {args.steps:,} steps \
(`{comparison.command}`)

RL-Zoo hyperparameters {comparison.hyperparameters}, the same
number of gradient updates, run one after the other per seed on this machine
({os.cpu_count()} cores). Seconds are training wall-clock only; returns are 20 greedy episodes
after training. "acting steps/s" is rlkit's acting loop with replay writes and no learning.
{comparison.note}{peer_versions}

{markdown_table(header, rows)}

Wall-clock ratios, mean over seeds{comparison.target}:
{summary}
"""
    write_section(comparison.section, body)
    print(body)


if __name__ == "__main__":
    main()
