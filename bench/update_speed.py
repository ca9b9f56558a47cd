"""How fast an actor-critic agent's jitted update runs alone, and where a full run's CPU goes.

Two measurements, each in a fresh process per XLA setting (flags are read once, when XLA
starts):

1. The update alone: the agent's jitted learner call (`num_sgd_steps_per_step` SGD steps in
   one `lax.scan`) on a fixed sample of random transitions, repeated; milliseconds of
   wall-clock and of process CPU per SGD step; its FLOPs (XLA's count) per second against
   the rate XLA reaches on one dense matmul of the critic's hidden layer shape, the roofline.
2. A full training run (`--steps` env steps, learner on its background thread, as
   experiments run it): wall-clock per env step and each thread's CPU seconds from
   /proc/self/task (Linux), so one sees whether both cores are busy and with what.

Settings: rlkit's (single-threaded Eigen kernels, XLA's memory-ordered scheduler, inline
dispatch; `rlkit/_xla_setup.py`) and JAX's own defaults (`RLKIT_KEEP_JAX_CPU_DEFAULTS=1`).

    python bench/update_speed.py --agent sac --env Pendulum-v1 --steps 10000
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time

try:
    from bench import dqn_family
except ImportError:  # Run as a script from bench/.
    import dqn_family

SETTINGS = {"rlkit": {}, "jax defaults": {"RLKIT_KEEP_JAX_CPU_DEFAULTS": "1"}}
AGENTS = ("sac", "td3", "ddpg", "d4pg")  # Random transitions here have continuous actions.


def random_transitions(spec, count: int, seed: int = 0):
    import jax.numpy as jnp
    import numpy as np

    from rlkit import types

    rng = np.random.default_rng(seed)

    def like(shape, sample):
        return jnp.asarray(sample(size=(count, *shape)), jnp.float32)

    observation_shape, action_shape = spec.observations.shape, spec.actions.shape
    return types.Transition(
        observation=like(observation_shape, rng.normal),
        action=like(action_shape, lambda size: rng.uniform(-1, 1, size)),
        reward=like((), rng.normal),
        discount=jnp.full((count,), 0.99, jnp.float32),
        next_observation=like(observation_shape, rng.normal),
    )


def time_update(agent: str, env_id: str, repeats: int) -> dict:
    """The update alone: ms per SGD step, wall-clock and CPU."""
    import jax
    import jax.numpy as jnp

    import rlkit
    from rlkit.agents import registry
    from rlkit.agents.actor_critic import learning

    entry = registry.get_agent(agent)
    config = entry.load_config(env_id)
    env = rlkit.make_environment(env_id, seed=0, recipe=entry.resolve_recipe(env_id))
    spec = rlkit.make_environment_spec(env)
    networks = entry.make_networks(spec, config)
    builder = entry.make_builder(config)
    optimizers = builder.make_optimizers()
    state = learning.initial_state(networks, optimizers, jax.random.PRNGKey(0))
    sgd_steps = config.num_sgd_steps_per_step
    update = jax.jit(
        learning.make_update(builder.make_sgd_step(networks, optimizers), config.batch_size)
    )
    count = sgd_steps * config.batch_size
    transitions = random_transitions(spec, count)
    probabilities = jnp.ones((count,), jnp.float32)
    state = jax.block_until_ready(update(state, transitions, probabilities)[0])  # Compiles.
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        state = update(state, transitions, probabilities)[0]
    jax.block_until_ready(state)
    per_step = 1e3 / (repeats * sgd_steps)
    wall_ms = (time.perf_counter() - wall) * per_step
    # XLA's count for one SGD step (a one-step learner call). A `lax.cond` counts both
    # branches, so TD3's delayed actor update is counted on every step: an upper bound.
    one_step = random_transitions(spec, config.batch_size)
    cost = update.lower(state, one_step, probabilities[: config.batch_size]).compile()
    cost = cost.cost_analysis()
    flops = (cost[0] if isinstance(cost, list) else cost)["flops"]
    hidden = config.critic_hidden_sizes
    layer = (config.batch_size, hidden[0], hidden[1] if len(hidden) > 1 else hidden[0])
    return {
        "update ms wall": wall_ms,
        "update ms cpu": (time.process_time() - cpu) * per_step,
        "update MFLOP per SGD step (XLA count)": flops / 1e6,
        "update GFLOP/s (wall)": flops / wall_ms / 1e6,
        f"dense matmul {layer[0]}x{layer[1]} @ {layer[1]}x{layer[2]}, GFLOP/s (wall)": (
            dense_matmul_gflops(*layer)
        ),
    }


def dense_matmul_gflops(rows: int, inner: int, columns: int, repeats: int = 2_000) -> float:
    """What this machine's XLA reaches on the critic's hidden-to-hidden layer alone: the
    roofline the update's rate compares with."""
    import jax
    import jax.numpy as jnp

    left, right = jnp.ones((rows, inner)), jnp.ones((inner, columns))
    matmul = jax.jit(jnp.matmul)
    out = jax.block_until_ready(matmul(left, right))
    start = time.perf_counter()
    for _ in range(repeats):
        out = matmul(left, right)
    jax.block_until_ready(out)
    return 2 * rows * inner * columns * repeats / (time.perf_counter() - start) / 1e9


def thread_cpu_seconds() -> dict[str, float]:
    """CPU seconds per live thread, keyed "name/tid" (Python threads by their Python name)."""
    import threading

    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for task in glob.glob("/proc/self/task/*"):
        with open(f"{task}/stat") as stat_file:
            stat = stat_file.read()
        tid = int(task.rsplit("/", 1)[-1])
        name = names.get(tid, stat[stat.index("(") + 1 : stat.rindex(")")])
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds[f"{name}/{tid}"] = (int(fields[11]) + int(fields[12])) / ticks  # utime+stime
    return seconds


def time_training(agent: str, env_id: str, steps: int) -> dict:
    """A full run: ms per env step and the threads' CPU seconds."""
    import rlkit
    from rlkit.agents import registry

    config = registry.get_agent(agent).load_config(env_id)
    env, layout, _ = dqn_family.make_layout(agent, config, env_id, 0, learn_in_background=True)
    loop = rlkit.EnvironmentLoop(env, layout, logger=rlkit.loggers.NoOpLogger())
    before, wall, cpu = thread_cpu_seconds(), time.perf_counter(), time.process_time()
    loop.run(num_steps=steps)
    layout.wait_for_learner()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    threads = {
        name: round(seconds - before.get(name, 0.0), 2)
        for name, seconds in thread_cpu_seconds().items()
        if seconds - before.get(name, 0.0) >= 0.1
    }
    layout.close()
    return {
        "run ms per env step": wall * 1e3 / steps,
        "run cores busy": cpu / wall,
        "threads cpu s": dict(sorted(threads.items(), key=lambda item: -item[1])),
    }


def measure_in_subprocess(args, setting: dict) -> dict:
    command = [sys.executable, __file__, "--agent", args.agent, "--env", args.env]
    command += ["--steps", str(args.steps), "--repeats", str(args.repeats), "--child"]
    env = {**os.environ, **setting, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2"}
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", choices=AGENTS, default="sac")
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--steps", type=int, default=10_000, help="env steps of the full run")
    parser.add_argument("--repeats", type=int, default=40, help="learner calls timed alone")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = time_update(args.agent, args.env, args.repeats)
        result.update(time_training(args.agent, args.env, args.steps))
        print(json.dumps(result))
        return
    for name, setting in SETTINGS.items():
        result = measure_in_subprocess(args, setting)
        print(f"{args.agent} {args.env}, {name} settings:")
        for key, value in result.items():
            shown = f"{value:.3f}" if isinstance(value, float) else value
            print(f"  {key}: {shown}")


if __name__ == "__main__":
    main()
