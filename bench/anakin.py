"""The Anakin layout (issue [11]) as whole processes: rlkit against rejax on gymnax CartPole-v1.

Every figure is one process timed from launch to exit, the processes run one after the other
in this process tree (never two at once). Parts (`--parts`, all by default), each writing its
section of BENCHMARKS.md:

- ppo: `rlkit train ppo --env gymnax:CartPole-v1 --steps 500000 --seed S` (the shipped
  `configs/ppo/gymnax_cartpole.yaml`: PureJaxRL's recipe) against a script that builds
  rejax's PPO with the same hyperparameters, trains it and reads its last evaluation. Each
  side runs twice per seed on one JAX persistent compilation cache (`JAX_COMPILATION_CACHE_DIR`,
  a fresh directory per seed): empty (cold: the first run on a machine; rejax without a
  cache, its default, compiles as much) then filled (warm: rlkit's every later run, its
  cache being on by default in ~/.cache/rlkit/jax). Compile and run time apart: rejax's
  `train` lowered and compiled (`jax.jit(...).lower(key).compile()`), then called; rlkit's
  from an in-process driver (the same experiment through `run_with_layout`) that reads the
  layout's `AnakinTraining.compile_seconds` and the result's `training_seconds`.
- dqn: `rlkit train dqn --env gymnax:CartPole-v1 --steps 50000` (the shipped
  `configs/dqn/cartpole.yaml`, RL-Zoo's recipe) with `--set hidden_sizes=[64,64]` (rejax's DQN
  fixes 64x64) cold and warm, rejax's DQN matched as far as its config goes, and rlkit's own
  recipe (256x256), cold.
- seeds: 8 seeds of the PPO run, `rlkit train ... --seeds 0-7` (one process, the seeds
  vmapped: `rlkit.experiments.run_seeds`) against 8 `--seed S` processes one after another.
- envpool: `bench/envpool_vs_gymnasium.py` once, its table.

rejax lives in its own venv (.peers-anakin-venv, Python 3.13: rejax 0.1.3, gymnax 0.0.9, on
the project's jax through constraints-current.txt); `ensure_rejax_venv` makes it.

    .venv/bin/python bench/anakin.py [--parts ppo dqn seeds envpool] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    from bench._report import markdown_table, write_section
except ImportError:
    from _report import markdown_table, write_section

ROOT = pathlib.Path(__file__).resolve().parent.parent
REJAX_VENV = ROOT / ".peers-anakin-venv"
REJAX_PACKAGES = ["rejax==0.1.3", "gymnax<1.0"]
ENV = "gymnax:CartPole-v1"
PPO_STEPS, DQN_STEPS = 500_000, 50_000
DQN_64 = "hidden_sizes=[64,64]"

# rejax with the hyperparameters of rlkit's configs. PPO: PureJaxRL's CartPole recipe; the
# learning rate annealed as PureJaxRL anneals it (per 16 minibatch updates, over
# steps // 512 iterations); `eval_freq` 98 iterations: 10 evaluations, as rlkit's default.
# DQN: 2 environments, one update per iteration: rlkit's 0.5 updates per env step; the target
# copied every 256 env steps (rlkit: every 128 updates); epsilon 1 -> 0.04 over 8,000 steps.
# Both evaluate 5 episodes (rlkit's --eval-episodes default) instead of rejax's 128.
REJAX_SCRIPT = """
import importlib.metadata, json, sys, time
import jax
from rejax import DQN, PPO
from rejax.evaluate import evaluate
algorithm, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if algorithm == "ppo":
    iterations = steps // (4 * 128)
    algo = PPO.create(
        env="CartPole-v1", total_timesteps=steps, eval_freq=98 * 512,
        skip_initial_evaluation=True, num_envs=4, num_steps=128, num_epochs=4,
        num_minibatches=4, learning_rate=lambda n: 2.5e-4 * (1.0 - (n // 16) / iterations),
        gamma=0.99, gae_lambda=0.95, clip_eps=0.2, ent_coef=0.01, vf_coef=0.5,
        max_grad_norm=0.5, agent_kwargs={"activation": "tanh", "hidden_layer_sizes": (64, 64)},
    )
else:
    algo = DQN.create(
        env="CartPole-v1", total_timesteps=steps, eval_freq=steps // 10,
        skip_initial_evaluation=True, num_envs=2, num_epochs=1, learning_rate=6.3e-4,
        gamma=0.99, batch_size=64, buffer_size=100_000, fill_buffer=1000, eps_start=1.0,
        eps_end=0.04, exploration_fraction=8000 / steps, target_update_freq=256, polyak=0.0,
        ddqn=True, max_grad_norm=10.0, agent_kwargs={"activation": "relu"},
    )

def eval_callback(algo, ts, rng):
    return evaluate(algo.make_act(ts), rng, algo.env, algo.env_params, 5,
                    algo.env_params.max_steps_in_episode)

algo = algo.replace(eval_callback=eval_callback)
key = jax.random.PRNGKey(seed)
start = time.perf_counter()
train = jax.jit(algo.train).lower(key).compile()
compile_seconds = time.perf_counter() - start
start = time.perf_counter()
ts, (lengths, returns) = jax.block_until_ready(train(key))
run_seconds = time.perf_counter() - start
returns = jax.device_get(returns).mean(axis=-1)
print(json.dumps(dict(compile_seconds=compile_seconds, run_seconds=run_seconds,
                      final_return=float(returns[-1]), returns=[float(r) for r in returns],
                      steps=int(ts.global_step), rejax=importlib.metadata.version("rejax"),
                      gymnax=importlib.metadata.version("gymnax"), jax=jax.__version__)))
"""

# The CLI's run in this process, to read what it does not print: the layout's compile time.
RLKIT_DRIVER = """
import json, sys, time
from rlkit import experiments
from rlkit.agents import registry
from rlkit.experiments.run_experiment import run_with_layout
from rlkit.layouts import anakin
agent, env_id, steps, seed, run_dir = sys.argv[1:6]
config = registry.get_agent(agent).load_config(env_id, overrides=sys.argv[6:])
experiment = experiments.make_experiment_config(
    agent, env_id, config, max_num_actor_steps=int(steps), seed=int(seed), run_dir=run_dir)
trainings, chunks = [], []

def make_layout(config, context):
    layout = anakin.make_anakin_layout(config, context)
    training = layout.agent
    trainings.append(training)
    run_chunk = training._run_chunk

    def timed_chunk(active):  # Each chunk's seconds and the steps it counted.
        started = time.monotonic()
        steps = run_chunk(active)
        chunks.append((time.monotonic() - started, steps))
        return steps

    training._run_chunk = timed_chunk
    return layout

result = run_with_layout(experiment, make_layout)
print(json.dumps(dict(
    compile_seconds=trainings[0].compile_seconds, training_seconds=result.training_seconds,
    evaluation_seconds=result.evaluation_seconds, wall_time=result.wall_time,
    actor_steps=result.actor_steps, final_return=result.final_return, chunks=chunks)))
"""


def ensure_rejax_venv() -> pathlib.Path:
    """rejax's python (a venv of Python 3.13 from pyenv); installs rejax when it is missing."""
    python = REJAX_VENV / "bin" / "python"
    stamp = REJAX_VENV / ".installed"
    wanted = "\n".join(REJAX_PACKAGES) + "\n"
    if not stamp.exists() or stamp.read_text() != wanted:
        if not python.exists():
            pythons = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python")))
            base = pythons[-1] if pythons else "python3.13"
            subprocess.run([base, "-m", "venv", str(REJAX_VENV)], check=True)
        constraints = ["-c", str(ROOT / "constraints-current.txt")]
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, *REJAX_PACKAGES, *constraints], check=True)
        stamp.write_text(wanted)
    return python


def timed(command: list[str], cwd: str, cache: str | None) -> tuple[float, str]:
    """Wall-clock seconds from launch to exit, and what the process printed; JAX's persistent
    compilation cache in `cache` (None: none, JAX's default)."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env.update(JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    if cache is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = cache
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def rlkit_command(*args: str) -> list[str]:
    return [str(pathlib.Path(sys.executable).parent / "rlkit"), "train", *args]


def rlkit_cli(agent: str, seed: int, steps: int, cache: str, sets: tuple[str, ...] = ()) -> dict:
    """One `rlkit train` process on gymnax CartPole: seconds, final return, its own split."""
    with tempfile.TemporaryDirectory() as folder:
        command = rlkit_command(agent, "--env", ENV, "--steps", str(steps), "--seed", str(seed))
        command += ["--run-dir", os.path.join(folder, "run")]
        for value in sets:
            command += ["--set", value]
        seconds, out = timed(command, folder, cache)
    final = re.search(r"evaluation return (-?[\d.]+)", out)
    split = re.search(r"([\d.]+) s training, ([\d.]+) s evaluating \(\d+% of ([\d.]+) s", out)
    result = {
        "seconds": seconds,
        "return": float(final.group(1)) if final else float("nan"),
        "training": float(split.group(1)) if split else float("nan"),
        "evaluating": float(split.group(2)) if split else float("nan"),
        "run_wall": float(split.group(3)) if split else float("nan"),
    }
    print(f"rlkit {agent} seed {seed} {sets}: {result}", flush=True)
    return result


def rlkit_driver(agent: str, seed: int, steps: int, cache: str) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-c", RLKIT_DRIVER, agent, ENV, str(steps), str(seed)]
        seconds, out = timed([*command, os.path.join(folder, "run")], folder, cache)
    result = {"seconds": seconds, **last_json(out)}
    print(f"rlkit driver {agent} seed {seed}: {result}", flush=True)
    return result


def rejax_run(python: pathlib.Path, algorithm: str, seed: int, steps: int, cache: str | None):
    with tempfile.TemporaryDirectory() as folder:
        command = [str(python), "-c", REJAX_SCRIPT, algorithm, str(seed), str(steps)]
        seconds, out = timed(command, folder, cache)
    result = {"seconds": seconds, **last_json(out)}
    print(f"rejax {algorithm} seed {seed}: {json.dumps(result)}", flush=True)
    return result


def tree_state() -> str:
    """rlkit's commit, and whether rlkit/ differs from it."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "rlkit"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return f"{commit}{' with uncommitted changes in rlkit/' if dirty else ''}"


def versions(rejax: dict, started: str) -> str:
    """The stack; `started`: `tree_state()` when the part began (said if it changed since)."""
    import jax

    now = tree_state()
    tree = now if now == started else f"{started} at the start, {now} at the end (changed)"
    text = (
        f"{platform.machine()}, {os.cpu_count()} cores, rlkit at {tree}, jax {jax.__version__}, "
        f"Python {platform.python_version()}"
    )
    if rejax:
        text += (
            f"; rejax {rejax['rejax']} with gymnax {rejax['gymnax']}, jax {rejax['jax']} "
            "(.peers-anakin-venv, Python 3.13)"
        )
    return text


def mean_of(values: list[float]) -> str:
    return f"{np.mean(values):.2f} (per seed {', '.join(f'{v:.2f}' for v in values)})"


def ppo_part(seeds: list[int], python: pathlib.Path) -> None:
    started = tree_state()
    rows, split_rows = [], []
    ratios: dict[str, list[float]] = {"cold": [], "warm": []}
    rejax, first_steps = {}, 0
    for seed in seeds:
        peer, ours, driver = {}, {}, {}
        with tempfile.TemporaryDirectory() as cache:
            for kind in ("cold", "warm"):
                peer[kind] = rejax_run(python, "ppo", seed, PPO_STEPS, cache)
        with tempfile.TemporaryDirectory() as cache:
            for kind in ("cold", "warm"):
                ours[kind] = rlkit_cli("ppo", seed, PPO_STEPS, cache)
        with tempfile.TemporaryDirectory() as cache:
            for kind in ("cold", "warm"):
                driver[kind] = rlkit_driver("ppo", seed, PPO_STEPS, cache)
        rejax = peer["cold"]
        for kind in ("cold", "warm"):
            ratios[kind].append(ours[kind]["seconds"] / peer[kind]["seconds"])
        rows.append(
            [
                seed,
                f"{ours['cold']['seconds']:.1f} / {ours['warm']['seconds']:.1f}",
                f"{ours['cold']['training']:.1f} / {ours['warm']['training']:.1f}",
                f"{ours['cold']['evaluating']:.1f} / {ours['warm']['evaluating']:.1f}",
                " / ".join(
                    f"{o['run_wall'] - o['training'] - o['evaluating']:.1f}" for o in ours.values()
                ),
                " / ".join(f"{o['seconds'] - o['run_wall']:.1f}" for o in ours.values()),
                f"{ours['cold']['return']:.1f} / {ours['warm']['return']:.1f}",
                f"{peer['cold']['seconds']:.1f} / {peer['warm']['seconds']:.1f}",
                f"{peer['cold']['final_return']:.1f} / {peer['warm']['final_return']:.1f}",
                f"{ratios['cold'][-1]:.2f}",
                f"{ratios['warm'][-1]:.2f}",
            ]
        )
        for kind in ("cold", "warm"):
            d, p = driver[kind], peer[kind]
            (first_seconds, first_steps), *later = d["chunks"]
            first_steps = int(first_steps)
            rate = sum(steps for _, steps in later) / sum(seconds for seconds, _ in later)
            split_rows.append(
                [
                    seed,
                    kind,
                    f"{d['seconds']:.1f}",
                    f"{d['compile_seconds']:.1f}",
                    f"{first_seconds:.1f}",
                    f"{d['training_seconds']:.1f}",
                    f"{d['compile_seconds'] - first_steps / rate:.1f}",
                    f"{d['actor_steps'] / rate:.1f}",
                    f"{rate:,.0f}",
                    f"{d['evaluation_seconds']:.1f}",
                    f"{p['compile_seconds']:.1f}",
                    f"{p['run_seconds']:.1f}",
                    f"{p['steps'] / p['run_seconds']:,.0f}",
                ]
            )
    header = [
        "seed",
        "rlkit s (whole), cold / warm",
        "of it training",
        "evaluating",
        "rest of the run",
        "outside the run",
        "rlkit return",
        "rejax s (whole), cold / warm",
        "rejax return",
        "rlkit / rejax, cold",
        "rlkit / rejax, warm",
    ]
    split_header = [
        "seed",
        "cache",
        "rlkit driver s (whole)",
        "compile_seconds",
        "of it first chunk",
        "training_seconds",
        "compile (est.)",
        "run, 500k steps (est.)",
        "run steps/s",
        "evaluation s",
        "rejax compile s",
        "rejax run s (evaluations in it)",
        "rejax steps/s",
    ]
    body = f"""## Anakin: PPO on gymnax CartPole-v1, {PPO_STEPS:,} steps, rlkit vs rejax, whole \
processes (`bench/anakin.py --parts ppo`)

{versions(rejax, started)}. One process at a time.

rlkit: `rlkit train ppo --env {ENV} --steps {PPO_STEPS} --seed S --run-dir DIR` (its shipped
`configs/ppo/gymnax_cartpole.yaml`: PureJaxRL's recipe, 4 envs x 128 steps, 4 epochs of 4
minibatches, lr 2.5e-4 annealed, 64x64 tanh; CLI defaults otherwise: 10 evaluations of 5
greedy episodes, checkpoints, CSV and parquet logs). rejax: a script that imports rejax,
builds its PPO with the same hyperparameters (num_envs 4, num_steps 128, num_epochs 4,
num_minibatches 4, lr 2.5e-4 annealed as PureJaxRL anneals it, gamma 0.99, GAE 0.95, clip 0.2,
ent 0.01, vf 0.5, max_grad_norm 0.5, 64x64 tanh), trains and evaluates it: 10 evaluations
of 5 episodes inside its jitted `train`, as rlkit's (not rejax's default 128). Where they
still differ: rejax clips gradients elementwise (`optax.clip`), with one optimiser per
network, where rlkit (and PureJaxRL) clip the global norm of both; rejax's dense layers keep
flax's default init (rlkit: orthogonal); rejax evaluates its stochastic policy, rlkit the
greedy one; rejax trains 980 iterations (501,760 steps: its 10 evaluations split the run in
equal parts), rlkit 977 (its counter: 500,318 steps, restarts not counted).

Cold: an empty JAX persistent compilation cache (`JAX_COMPILATION_CACHE_DIR`, a fresh
directory per seed; rejax without one compiles the same); warm: the same directory again,
filled by the cold run (rlkit's every later run: its cache is on by default in
`~/.cache/rlkit/jax`; rejax only if the user sets one). "training" and "evaluating": the
CLI's own split (cold / warm); "rest of the run": the run's wall-clock as the CLI prints it
less those two (building the layout and `start`, checkpoints, policy export, logs);
"outside the run": the whole process less the run's wall-clock (imports, start-up, exit).
Returns: the last evaluation (5 episodes).

{markdown_table(header, rows)}

Whole-process ratio rlkit / rejax, mean over seeds (the issue's bar: at most 1.0; aim 0.5):
- cold: {mean_of(ratios["cold"])}
- warm: {mean_of(ratios["warm"])}

**Compile and run apart.** rlkit: the same run in an in-process driver (the CLI's
experiment through `run_with_layout`, a cache of its own, cold then warm), reading
`AnakinTraining.compile_seconds` (from the jitted `start` to the end of the first chunk:
`start`'s compile and run, the chunk's compile and its {first_steps:,} steps), each chunk's
seconds (the driver wraps `_run_chunk`) and the result's `training_seconds` (all chunks;
evaluations apart). "run steps/s": the later chunks' steps over their seconds; "compile
(est.)": `compile_seconds` less the first chunk's steps at that rate; "run, 500k (est.)":
all steps at that rate. rejax:
`jax.jit(algo.train).lower(key).compile()` timed, then the compiled call (its 10 evaluations
inside).

{markdown_table(split_header, split_rows)}
"""
    write_section("anakin_ppo", body)


def dqn_part(seeds: list[int], python: pathlib.Path) -> None:
    started = tree_state()
    rows = []
    ratios: dict[str, list[float]] = {"cold": [], "warm": []}
    rejax = {}
    reached = {"64": 0, "256": 0, "rejax": 0}
    for seed in seeds:
        peer = rejax_run(python, "dqn", seed, DQN_STEPS, None)
        rejax = peer
        ours = {}
        with tempfile.TemporaryDirectory() as cache:
            for kind in ("cold", "warm"):
                ours[kind] = rlkit_cli("dqn", seed, DQN_STEPS, cache, (DQN_64,))
        with tempfile.TemporaryDirectory() as cache:
            own = rlkit_cli("dqn", seed, DQN_STEPS, cache)
        for kind in ("cold", "warm"):
            ratios[kind].append(ours[kind]["seconds"] / peer["seconds"])
        reached["64"] += ours["cold"]["return"] >= 475
        reached["256"] += own["return"] >= 475
        reached["rejax"] += peer["final_return"] >= 475
        rows.append(
            [
                seed,
                f"{ours['cold']['seconds']:.1f} / {ours['warm']['seconds']:.1f}",
                f"{ours['cold']['training']:.1f} / {ours['warm']['training']:.1f}",
                f"{ours['cold']['return']:.1f} / {ours['warm']['return']:.1f}",
                f"{peer['seconds']:.1f}",
                f"{peer['compile_seconds']:.1f} / {peer['run_seconds']:.1f}",
                f"{peer['final_return']:.1f}",
                f"{ratios['cold'][-1]:.2f} / {ratios['warm'][-1]:.2f}",
                f"{own['seconds']:.1f}",
                f"{own['training']:.1f}",
                f"{own['return']:.1f}",
            ]
        )
    header = [
        "seed",
        "rlkit 64x64 s (whole), cold / warm",
        "of it training",
        "rlkit 64x64 return",
        "rejax s (whole)",
        "rejax compile / run s",
        "rejax return",
        "rlkit 64x64 / rejax, cold / warm",
        "rlkit 256x256 s (whole, cold)",
        "of it training",
        "rlkit 256x256 return",
    ]
    body = f"""## Anakin: DQN on gymnax CartPole-v1, {DQN_STEPS:,} steps, rlkit vs rejax, whole \
processes (`bench/anakin.py --parts dqn`)

{versions(rejax, started)}. One process at a time.

rlkit: `rlkit train dqn --env {ENV} --steps {DQN_STEPS} --seed S` with its shipped
`configs/dqn/cartpole.yaml` (RL-Zoo's recipe as rlkit ships it: double Q, 5-step returns,
Huber loss, lr 6.3e-4, batch 64, 0.5 updates per env step, 8 at a time every 16 steps,
target copied every 128 updates, epsilon 1 -> 0.04 over 8,000 steps, replay 100k, learning
from 1,000, gradient norm 10), with `--set {DQN_64}` against rejax's DQN (which fixes
64x64), and as shipped (256x256). rejax's DQN matched as far as its config goes: double Q,
lr 6.3e-4, gamma 0.99, batch 64, buffer 100k, learning after 1,000 steps, epsilon 1 -> 0.04
over 8,000 steps, target copied every 256 env steps (polyak 0), relu, 2 environments with
one update per iteration (0.5 updates per env step, as rlkit's; rlkit steps 1 environment).
Differences rejax's config cannot remove: 1-step targets (rlkit 5-step), squared loss (rlkit
Huber), gradients clipped elementwise at 10 (rlkit: global norm), time-limit truncation
treated as termination (rlkit bootstraps), evaluation with epsilon 0.005 (rlkit greedy).
Both: 10 evaluations of 5 episodes; returns are the last one. rlkit 64x64 cold then warm on
one fresh compilation cache; rlkit 256x256 on an empty one; rejax has none (its default).
"training": the CLI's own figure.

{markdown_table(header, rows)}

Whole-process ratio rlkit 64x64 / rejax, mean over seeds: cold {mean_of(ratios["cold"])};
warm {mean_of(ratios["warm"])}.
Final return >= 475 (the issue's bar): rlkit 256x256 {reached["256"]} of {len(seeds)} seeds,
rlkit 64x64 {reached["64"]} of {len(seeds)} (cold runs), rejax {reached["rejax"]} of
{len(seeds)}.
"""
    write_section("anakin_dqn", body)


def final_return(run_dir: str) -> float:
    """The last evaluation's mean return in a run directory's logs/evaluator.csv."""
    with open(os.path.join(run_dir, "logs", "evaluator.csv")) as file:
        lines = file.read().strip().splitlines()
    header = lines[0].split(",")
    return float(lines[-1].split(",")[header.index("return_mean")])


def seeds_part(num_seeds: int) -> None:
    started = tree_state()
    seeds = list(range(num_seeds))
    one_by_one, returns_one = [], []
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as cache:
        for seed in seeds:
            run_dir = os.path.join(folder, f"run{seed}")
            command = rlkit_command("ppo", "--env", ENV, "--steps", str(PPO_STEPS))
            command += ["--seed", str(seed), "--run-dir", run_dir]
            seconds, _ = timed(command, folder, cache)
            one_by_one.append(seconds)
            returns_one.append(final_return(run_dir))
            print(f"one seed {seed}: {seconds:.1f} s, {returns_one[-1]:.1f}", flush=True)
    together, returns_together, in_one_process = {}, {}, True
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as cache:
        for kind in ("cold", "warm"):
            run_dir = os.path.join(folder, kind)
            command = rlkit_command("ppo", "--env", ENV, "--steps", str(PPO_STEPS))
            command += ["--seeds", f"0-{num_seeds - 1}", "--run-dir", run_dir]
            together[kind], out = timed(command, folder, cache)
            # The CLI's subprocess path prefixes each run's lines with its seed.
            in_one_process = in_one_process and "[seed " not in out
            returns_together[kind] = [final_return(f"{run_dir}_seed{s}") for s in seeds]
            print(f"--seeds {kind}: {together[kind]:.1f} s, {returns_together[kind]}", flush=True)
    total = sum(one_by_one)
    how = (
        "one process, the seeds vmapped by `run_seeds`"
        if in_one_process
        else "one subprocess per seed (the CLI did not vmap)"
    )
    rows = [
        [
            f"{num_seeds} `--seed S` processes, one after another",
            f"{total:.1f}",
            f"first {one_by_one[0]:.1f}, later ones {np.mean(one_by_one[1:]):.1f} each",
            " / ".join(f"{r:.0f}" for r in returns_one),
            "1.00x",
        ],
    ]
    for kind in ("cold", "warm"):
        rows.append(
            [
                f"`--seeds 0-{num_seeds - 1}`, {kind} cache",
                f"{together[kind]:.1f}",
                how,
                " / ".join(f"{r:.0f}" for r in returns_together[kind]),
                f"{total / together[kind]:.2f}x",
            ]
        )
    header = ["run", "seconds (whole)", "", "final return per seed", "speed-up"]
    body = f"""## Anakin: {num_seeds} PPO seeds at once vs one after another, gymnax CartPole-v1, \
{PPO_STEPS:,} steps each (`bench/anakin.py --parts seeds`)

{versions({}, started)}.

`rlkit train ppo --env {ENV} --steps {PPO_STEPS} --seeds 0-{num_seeds - 1}` ({how}) against
{num_seeds} processes `rlkit train ppo ... --seed S`, one after another, sharing one
compilation cache that is empty at first (the first compiles, the later ones load it: what a
user's loop of runs costs). `--seeds` cold: an empty cache; warm: the same cache again.
CLI defaults (10 evaluations of 5 greedy episodes per seed, checkpoints, logs per seed).
Returns: each run's last evaluation (logs/evaluator.csv).

{markdown_table(header, rows)}
"""
    write_section("anakin_seeds", body)


def envpool_part() -> None:
    import importlib.metadata

    started = tree_state()
    script = ROOT / "bench" / "envpool_vs_gymnasium.py"
    seconds, out = timed([sys.executable, str(script)], str(ROOT), None)
    print(out, flush=True)
    table = "\n".join(line for line in out.splitlines() if line.startswith("|"))
    setting = next(line for line in out.splitlines() if line.startswith("num_envs="))
    body = f"""## envpool vs gymnasium vector environments (`bench/envpool_vs_gymnasium.py`)

{versions({}, started)}; envpool {importlib.metadata.version("envpool")}.

`rlkit.make_vector_environment`'s two backends behind the same batched dm_env wrapper, run
once by `bench/anakin.py --parts envpool` ({seconds:.0f} s): random actions on CartPole-v1;
PPO learning on CartPole-v1 (its shipped config, 20,000 steps, best of 2 runs, the first
compiling); ALE/Pong-v5 random actions with rlkit's Atari recipe (envpool's pool against the
gymnasium backend's one game stepped as many times). Transitions per second; {setting}.

{table}
"""
    write_section("envpool_vs_gymnasium", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parts = ("ppo", "dqn", "seeds", "envpool")
    parser.add_argument("--parts", nargs="+", choices=parts, default=list(parts))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--num-seeds", type=int, default=8, help="for --parts seeds")
    args = parser.parse_args()
    python = ensure_rejax_venv()
    for part in args.parts:
        started = time.perf_counter()
        if part == "ppo":
            ppo_part(args.seeds, python)
        elif part == "dqn":
            dqn_part(args.seeds, python)
        elif part == "seeds":
            seeds_part(args.num_seeds)
        else:
            envpool_part()
        print(f"part {part}: {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
