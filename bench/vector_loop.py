"""The vectorised loop's overhead: env steps/s of rlkit's batched loop against plain gymnasium.

For each environment and number of copies N, two loops step the same gymnasium vector
environment (`gymnasium.make_vec`, sync or async, NEXT_STEP auto-reset) with uniformly random
actions drawn by numpy, one after the other, alternating, `--repeats` times:

- plain: `vector_env.step(actions)` in a Python loop (the floor any library pays);
- rlkit: `rlkit.EnvironmentLoop(rlkit.make_vector_environment(...), actor).run(num_steps)`
  with a batched actor that draws the same random actions: the dm_env conversion, action
  validation, single-precision casts, per-episode results and counters on top.

Both count transitions (a sub-environment's auto-reset step is none). Reports the best
repeat's steps/s of each and the overhead `plain / rlkit - 1`; target under 30%. Writes its
table into BENCHMARKS.md.

    python bench/vector_loop.py [--envs CartPole-v1 Pendulum-v1] [--num-envs 1 8] [--steps 50000]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gymnasium  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium.vector import AutoresetMode  # noqa: E402

import rlkit  # noqa: E402
from rlkit.utils import counting  # noqa: E402

try:
    from bench._report import markdown_table, write_section  # noqa: E402
except ImportError:  # Run as a script from bench/.
    from _report import markdown_table, write_section  # noqa: E402


def random_actions(space: gymnasium.spaces.Space, num_envs: int, rng: np.random.Generator):
    """A function drawing `num_envs` uniform actions of `space` (Discrete or bounded Box)."""
    if isinstance(space, gymnasium.spaces.Discrete):
        return lambda: rng.integers(0, space.n, num_envs).astype(space.dtype)
    low, high = space.low, space.high
    return lambda: rng.uniform(low, high, (num_envs, *space.shape)).astype(space.dtype)


class RandomBatchedActor(rlkit.Actor):
    """Draws random actions for a batched environment; records nothing."""

    def __init__(self, draw):
        self._draw = draw

    def select_action(self, observations):
        return self._draw()

    def observe_first(self, timestep):
        pass

    def observe(self, actions, next_timestep):
        pass

    def update(self, wait=False):
        pass


def plain_steps_per_second(env_id: str, num_envs: int, steps: int, asynchronous: bool) -> float:
    vector_env = gymnasium.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode="async" if asynchronous else "sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP},
    )
    draw = random_actions(vector_env.single_action_space, num_envs, np.random.default_rng(0))
    vector_env.reset(seed=0)
    resetting = np.zeros(num_envs, bool)
    transitions = 0
    start = time.perf_counter()
    while transitions < steps:
        _, _, terminated, truncated, _ = vector_env.step(draw())
        transitions += num_envs - int(resetting.sum())
        resetting = (terminated | truncated) & ~resetting
    seconds = time.perf_counter() - start
    vector_env.close()
    return transitions / seconds


def rlkit_steps_per_second(env_id: str, num_envs: int, steps: int, asynchronous: bool) -> float:
    env = rlkit.make_vector_environment(env_id, num_envs, seed=0, asynchronous=asynchronous)
    space = rlkit.wrappers.spec_to_space(env.action_spec())
    actor = RandomBatchedActor(random_actions(space, num_envs, np.random.default_rng(0)))
    counter = counting.Counter()
    loop = rlkit.EnvironmentLoop(env, actor, counter=counter, logger=rlkit.loggers.NoOpLogger())
    start = time.perf_counter()
    loop.run(num_steps=steps)
    seconds = time.perf_counter() - start
    env.close()
    return counter.get_counts()["steps"] / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1", "Pendulum-v1"])
    parser.add_argument("--num-envs", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--steps", type=int, default=50_000, help="transitions per loop run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--asynchronous", action="store_true", help="AsyncVectorEnv too")
    args = parser.parse_args()
    modes = [False, True] if args.asynchronous else [False]
    rows = []
    for env_id in args.envs:
        for num_envs in args.num_envs:
            for asynchronous in modes:
                plain, ours = [], []
                for _ in range(args.repeats):
                    plain.append(plain_steps_per_second(env_id, num_envs, args.steps, asynchronous))
                    ours.append(rlkit_steps_per_second(env_id, num_envs, args.steps, asynchronous))
                overhead = max(plain) / max(ours) - 1
                row = [
                    env_id,
                    num_envs,
                    "async" if asynchronous else "sync",
                    f"{max(plain):,.0f}",
                    f"{max(ours):,.0f}",
                    f"{100 * overhead:.0f}%",
                ]
                print(" | ".join(str(cell) for cell in row), flush=True)
                rows.append(row)
    table = markdown_table(
        ["env", "N", "vector env", "plain gymnasium, steps/s", "rlkit loop, steps/s", "overhead"],
        rows,
    )
    body = f"""## Vectorised loop overhead, random actions (`bench/vector_loop.py`)

Env steps (transitions) per second of rlkit's `EnvironmentLoop` over
`make_vector_environment` against a plain Python loop over the same gymnasium vector env
(`gymnasium.make_vec`, NEXT_STEP auto-reset), both with numpy's uniform random actions and no
learning; best of {args.repeats} alternating repeats of {args.steps:,} transitions each, on
{platform.machine()}, {os.cpu_count()} cores, gymnasium {gymnasium.__version__}, Python
{platform.python_version()}. Target: overhead under 30%.

{table}
"""
    write_section("vector_loop", body)
    print(body)


if __name__ == "__main__":
    main()
