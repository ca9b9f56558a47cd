"""Steps/s of `make_vector_environment`'s two backends: gymnasium's vector environments and
envpool's C++ pool, behind the same batched dm_env wrapper.

Three measurements, each the best of `--repeats` runs, backends alternating:

- random: `env.step(actions)` with uniformly random actions on CartPole-v1, `--num-envs`
  copies (rlkit's whole dm_env layer: validation, conversions, single-precision casts);
- ppo: `rlkit.EnvironmentLoop` with a PPO agent (its CartPole config, `--num-envs` copies) for
  `--ppo-steps` environment steps, learning included (the first run compiles; reported is
  the best);
- atari (when envpool and ale-py are installed): random stepping of ALE/Pong-v5 with rlkit's
  Atari recipe: envpool's pool of `--num-envs` games against the gymnasium backend's only
  build, one `make_environment` game stepped `--num-envs` times per batch.

Counts transitions (num_envs per batched step). Prints a table; writes nothing.

    python bench/envpool_vs_gymnasium.py [--num-envs 8] [--steps 20000] [--ppo-steps 20000]
        [--num-threads 0]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import rlkit  # noqa: E402
from rlkit.agents import registry  # noqa: E402
from rlkit.agents.on_policy import PPO  # noqa: E402

try:
    from bench._report import markdown_table  # noqa: E402
except ImportError:  # Run as a script from bench/.
    from _report import markdown_table  # noqa: E402

BACKENDS = ("gymnasium", "envpool")


def random_stepping(env, batches: int, rng: np.random.Generator) -> float:
    """Transitions per second of `batches` steps of `env` (batched or not) with random
    discrete actions."""
    spec = env.action_spec()
    num_envs = rlkit.wrappers.num_envs(env)
    shape = (batches,) if num_envs is None else (batches, num_envs)
    actions = rng.integers(0, spec.num_values, shape).astype(spec.dtype)
    env.reset()
    start = time.perf_counter()
    for batch in actions:
        env.step(batch)
    return batches * (num_envs or 1) / (time.perf_counter() - start)


def backend_kwargs(backend: str, num_threads: int) -> dict:
    """envpool's thread count (`--num-threads`; 0: envpool's default)."""
    return {"num_threads": num_threads} if backend == "envpool" else {}


def cartpole_random(backend: str, num_envs: int, steps: int, num_threads: int) -> float:
    env = rlkit.make_vector_environment(
        "CartPole-v1", num_envs, seed=0, backend=backend, **backend_kwargs(backend, num_threads)
    )
    try:
        return random_stepping(env, steps // num_envs, np.random.default_rng(0))
    finally:
        env.close()


def ppo_learning(backend: str, num_envs: int, steps: int, num_threads: int) -> float:
    """Environment steps per second of PPO learning on CartPole-v1 (its shipped config)."""
    config = registry.get_agent("ppo").load_config(
        "CartPole-v1", overrides=[f"num_envs={num_envs}"]
    )
    env = rlkit.make_vector_environment(
        "CartPole-v1", num_envs, seed=0, backend=backend, **backend_kwargs(backend, num_threads)
    )
    agent = PPO(rlkit.make_environment_spec(env), config, seed=0, logger=rlkit.loggers.NoOpLogger())
    loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
    try:
        start = time.perf_counter()
        loop.run(num_steps=steps)
        return steps / (time.perf_counter() - start)
    finally:
        agent.close()
        env.close()


def pong_random(backend: str, num_envs: int, steps: int, num_threads: int) -> float:
    """Pong with rlkit's Atari recipe: an envpool pool, or one ale-py game (the gymnasium
    backend has no batched Atari build) stepped for as many transitions."""
    if backend == "envpool":
        env = rlkit.make_vector_environment(
            "ALE/Pong-v5",
            num_envs,
            seed=0,
            backend="envpool",
            **backend_kwargs(backend, num_threads),
        )
        batches = steps // num_envs
    else:
        env, batches = rlkit.make_environment("ALE/Pong-v5", seed=0), steps
    try:
        return random_stepping(env, batches, np.random.default_rng(0))
    finally:
        env.close()


def available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20_000, help="random-stepping transitions")
    parser.add_argument("--ppo-steps", type=int, default=20_000)
    parser.add_argument("--atari-steps", type=int, default=4_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--num-threads", type=int, default=0, help="envpool's (0: its default)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["random", "ppo", "atari"])
    args = parser.parse_args()
    benchmarks = {
        "random": ("CartPole-v1, random actions", cartpole_random, args.steps),
        "ppo": ("CartPole-v1, PPO learning", ppo_learning, args.ppo_steps),
    }
    if available("envpool") and available("ale_py"):
        benchmarks["atari"] = ("ALE/Pong-v5, random actions", pong_random, args.atari_steps)
    rows = []
    for name, (title, measure, steps) in benchmarks.items():
        if name in args.skip:
            continue
        best = {backend: 0.0 for backend in BACKENDS}
        for _ in range(args.repeats):
            for backend in BACKENDS:
                best[backend] = max(
                    best[backend], measure(backend, args.num_envs, steps, args.num_threads)
                )
        ratio = best["envpool"] / best["gymnasium"]
        rows.append(
            [title, f"{best['gymnasium']:,.0f}", f"{best['envpool']:,.0f}", f"{ratio:.2f}x"]
        )
        print(f"{title}: gymnasium {best['gymnasium']:,.0f}/s, envpool {best['envpool']:,.0f}/s")
    print()
    print(
        f"num_envs={args.num_envs}, envpool num_threads={args.num_threads or 'default'}, "
        f"best of {args.repeats}; {platform.processor() or 'cpu'}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        markdown_table(["benchmark", "gymnasium steps/s", "envpool steps/s", "envpool / gym"], rows)
    )


if __name__ == "__main__":
    main()
