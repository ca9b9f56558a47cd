"""Atari env steps per second with learning, for a DQN-family variant's shipped `atari.yaml`.

Trains on one game (default `ALE/Pong-v5`, rlkit's Atari recipe) in two timed phases: while
the table fills (acting and replay writes only), then with the learner running at the
config's replay ratio. `min_replay_size` is lowered to `--fill` so learning starts within a
short run; nothing else in the shipped config changes. Writes its section of BENCHMARKS.md.

    python bench/atari_speed.py [--variants dqn rainbow] [--fill 2000] [--learn-steps 3000]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402

import rlkit  # noqa: E402
from rlkit.agents import dqn, registry  # noqa: E402

try:
    from bench._report import markdown_table, write_section  # noqa: E402
except ImportError:  # Run as a script from bench/.
    from _report import markdown_table, write_section  # noqa: E402

WARM_UP = 200  # Steps run before each phase's clock starts (JIT compilation).


def measure(variant: str, env_id: str, fill: int, learn_steps: int, seed: int, backend: str):
    config = registry.get_agent(variant).load_config(env_id, overrides=[f"min_replay_size={fill}"])
    env = rlkit.make_environment(env_id, seed=seed)
    quiet = rlkit.loggers.NoOpLogger()
    agent = dqn.DQN(
        rlkit.make_environment_spec(env), config, seed=seed, logger=quiet, replay_backend=backend
    )
    loop = rlkit.EnvironmentLoop(env, agent, logger=quiet)
    loop.run(num_steps=WARM_UP)
    start = time.perf_counter()
    loop.run(num_steps=fill - WARM_UP)
    filling = (fill - WARM_UP) / (time.perf_counter() - start)
    loop.run(num_steps=WARM_UP)  # The learner's first steps compile its update.
    agent.wait_for_learner()
    updates_before = int(agent.learner.state.steps)
    start = time.perf_counter()
    loop.run(num_steps=learn_steps)
    agent.wait_for_learner()
    seconds = time.perf_counter() - start
    updates = int(agent.learner.state.steps) - updates_before
    agent.close()
    return [
        variant,
        env_id,
        config.batch_size,
        f"{config.samples_per_insert / config.batch_size:g}",
        f"{filling:.0f}",
        f"{learn_steps / seconds:.0f}",
        f"{updates / seconds:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="ALE/Pong-v5")
    parser.add_argument("--variants", nargs="+", default=["dqn", "rainbow"])
    parser.add_argument("--fill", type=int, default=2_000)
    parser.add_argument("--learn-steps", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replay-backend", default="local", choices=("local", "reverb"))
    args = parser.parse_args()
    rows = []
    for variant in args.variants:
        rows.append(
            measure(variant, args.env, args.fill, args.learn_steps, args.seed, args.replay_backend)
        )
        print(rows[-1], flush=True)
    header = [
        "variant",
        "env",
        "batch",
        "updates per env step",
        "env steps/s, filling",
        "env steps/s, learning",
        "SGD steps/s",
    ]
    body = f"""## Atari env steps/s with learning (`bench/atari_speed.py`)

Each variant's shipped `atari.yaml` (Nature torso, shared-frame replay) on rlkit's Atari
recipe, seed {args.seed}, with `min_replay_size` lowered to {args.fill:,} so learning starts
early; then {args.learn_steps:,} env steps timed with the learner at the config's replay ratio.
On {platform.machine()}, {os.cpu_count()} cores, no GPU, {args.replay_backend} replay, jax
{jax.__version__}, Python {platform.python_version()}.

{markdown_table(header, rows)}
"""
    write_section("atari_speed", body)
    print(body)


if __name__ == "__main__":
    main()
