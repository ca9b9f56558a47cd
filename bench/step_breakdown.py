"""Where an off-policy agent's env step goes: env, policy, replay insert, sample, update.

Trains a registered agent with its shipped config for the environment, learner steps run
inline (`learn_in_background=False`) so each part can be timed alone: the environment's
`step`, the actor's jitted policy call, the adder's insert (`observe`), the parameter fetch,
the replay sample a learner step pulls, and the jitted update itself. Times are per env
step, averaged over the steps after the first learner step (compilation excluded). Then the
same run with learning on a background thread gives the env steps/s an experiment sees.
Also reports the bytes one stored transition takes in replay (the table's item signature
over its transitions per item; observations are stored twice, as observation and next).

    python bench/step_breakdown.py --agent sac --env Pendulum-v1 --steps 6000
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import rlkit  # noqa: E402
from rlkit.agents import registry  # noqa: E402

try:
    from bench import dqn_family  # noqa: E402
    from bench._report import markdown_table, write_section  # noqa: E402
except ImportError:
    import dqn_family  # noqa: E402
    from _report import markdown_table, write_section  # noqa: E402

PARTS = ("env", "policy", "replay insert", "parameter fetch", "sample", "update")


class Timers:
    """Accumulated seconds per part, counted only while `on`."""

    def __init__(self):
        self.seconds = collections.defaultdict(float)
        self.on = False

    def wrap(self, part: str, function):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                if self.on:
                    self.seconds[part] += time.perf_counter() - start

        return timed


class TimedIterator:
    def __init__(self, iterator, timers: Timers):
        self._next = timers.wrap("sample", iterator.__next__)

    def __iter__(self):
        return self

    def __next__(self):
        return self._next()


def make_agent(agent: str, env_id: str, seed: int, learn_in_background: bool, overrides):
    config = registry.get_agent(agent).load_config(env_id, overrides=overrides)
    env, layout, _ = dqn_family.make_layout(
        agent, config, env_id, seed, learn_in_background=learn_in_background
    )
    return env, layout, config


def bytes_per_transition(layout: rlkit.LocalLayout, config) -> float:
    (table,) = layout.builder.make_replay_tables(layout.environment_spec)
    leaves = jax.tree_util.tree_leaves(table.signature)
    item = sum(int(np.prod(s.shape)) * np.dtype(s.dtype).itemsize for s in leaves)
    return item / config.transitions_per_item


def breakdown(agent: str, env_id: str, steps: int, overrides) -> dict:
    env, layout, config = make_agent(agent, env_id, 0, False, overrides)
    timers = Timers()
    env.step = timers.wrap("env", env.step)
    actor, learner = layout.actor, layout.learner
    actor.select_action = timers.wrap("policy", actor.select_action)
    actor.observe = timers.wrap("replay insert", actor.observe)
    actor.update = timers.wrap("parameter fetch", actor.update)
    learner._iterator = TimedIterator(learner._iterator, timers)  # noqa: SLF001
    learner.step = timers.wrap("learner step", learner.step)
    loop = rlkit.EnvironmentLoop(env, layout, logger=rlkit.loggers.NoOpLogger())
    warm_up = layout.builder.learning_schedule().min_observations + 200
    loop.run(num_steps=warm_up)  # Compiles the policy and the update.
    timers.on = True
    start = time.perf_counter()
    loop.run(num_steps=steps)
    total = time.perf_counter() - start
    layout.close()
    seconds = dict(timers.seconds)
    seconds["update"] = seconds.pop("learner step") - seconds.get("sample", 0.0)
    per_step = {part: seconds.get(part, 0.0) / steps * 1e6 for part in PARTS}
    per_step["other"] = total / steps * 1e6 - sum(per_step.values())
    return dict(per_step_us=per_step, inline_steps_per_second=steps / total, config=config)


def background_steps_per_second(agent: str, env_id: str, steps: int, overrides) -> float:
    env, layout, _ = make_agent(agent, env_id, 0, True, overrides)
    loop = rlkit.EnvironmentLoop(env, layout, logger=rlkit.loggers.NoOpLogger())
    loop.run(num_steps=layout.builder.learning_schedule().min_observations + 200)
    start = time.perf_counter()
    loop.run(num_steps=steps)
    layout.wait_for_learner()
    seconds = time.perf_counter() - start
    layout.close()
    return steps / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", nargs="+", default=["sac", "td3"])
    parser.add_argument("--env", nargs="+", default=["Pendulum-v1"])
    parser.add_argument("--steps", type=int, default=4_000)
    parser.add_argument(
        "--set", action="append", default=[], help="config override, as rlkit train --set"
    )
    args = parser.parse_args()
    rows = []
    for env_id in args.env:
        for agent in args.agent:
            result = breakdown(agent, env_id, args.steps, args.set)
            background = background_steps_per_second(agent, env_id, args.steps, args.set)
            _, layout, config = make_agent(agent, env_id, 0, False, args.set)
            stored = bytes_per_transition(layout, config)
            layout.close()
            per_step = result["per_step_us"]
            total = sum(per_step.values())
            print(agent, env_id, per_step, background, flush=True)
            rows.append(
                [
                    agent,
                    env_id,
                    *(
                        f"{per_step[p]:.0f} ({100 * per_step[p] / total:.0f}%)"
                        for p in (*PARTS, "other")
                    ),
                    f"{result['inline_steps_per_second']:.0f}",
                    f"{background:.0f}",
                    f"{stored:.0f}",
                ]
            )
    header = [
        "agent",
        "env",
        *(f"{p} us" for p in (*PARTS, "other")),
        "steps/s inline",
        "steps/s background",
        "bytes/transition",
    ]
    body = f"""## Where an env step's time goes, with learning (`bench/step_breakdown.py`)

Each agent's shipped config for the environment (its defaults where none ships);
microseconds per env step (share of the step), timed with
learner steps run inline after warm-up and compilation, {args.steps:,} steps. "update" is the
jitted learner call (its SGD steps spread over the env steps between learner steps);
"sample" is the replay sample it pulls; "other" is the loop, counters and schedule. "steps/s
background" is the same run with the learner on its own thread, as experiments run it: the
acting parts then overlap the update. Bytes per stored transition: the replay item's size
over its transitions (observation and next observation both stored). {platform.machine()},
{os.cpu_count()} cores, jax {jax.__version__}, Python {platform.python_version()}.

{markdown_table(header, rows)}
"""
    write_section("step_breakdown", body)
    print(body)


if __name__ == "__main__":
    main()
