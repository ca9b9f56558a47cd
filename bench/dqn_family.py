"""The DQN family on one environment and budget, several seeds, against RL-Zoo's reference.

Each variant trains with its shipped config for the environment (`rlkit train NAME --env
ENV` would use the same), plus the variant's overrides: every `--eval-every` steps 10 greedy
episodes, at the end 20. Results are appended to a JSON-lines file as they come (rerunning
skips what is there), and the summary replaces this benchmark's section of BENCHMARKS.md.

    python bench/dqn_family.py --env CartPole-v1 --steps 50000 --seeds 0 1 2
    python bench/dqn_family.py --env LunarLander-v3 --steps 100000 --variants dqn qrdqn rainbow
    python bench/dqn_family.py --variants dqn --replay-backend reverb   # the Reverb stack
    python bench/dqn_family.py --define "qrdqn-lr1e-3=qrdqn:learning_rate=1e-3" \\
        --variants qrdqn-lr1e-3                     # a variant of this run only

`--define NAME=AGENT:key=value,...` adds a variant (a registered agent and overrides on its
shipped config, as `rlkit train AGENT --set key=value`) without editing VARIANTS; its results
are kept under NAME like any other, and the run leaves BENCHMARKS.md alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import platform
import re
import time
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import rlkit  # noqa: E402
from rlkit.agents import registry  # noqa: E402

try:
    from bench._report import markdown_table, write_section  # noqa: E402
except ImportError:  # Run as a script from bench/.
    from _report import markdown_table, write_section  # noqa: E402

# name -> (registered agent, config overrides on its shipped config).
VARIANTS = {
    "dqn": ("dqn", []),
    "dqn-dueling": ("dqn", ["dueling=true"]),
    "dqn-per": ("dqn", ["prioritized=true", "transitions_per_item=1"]),
    "c51": ("c51", []),
    "qrdqn": ("qrdqn", []),
    "iqn": ("iqn", []),
    "mdqn": ("mdqn", []),
    "rainbow": ("rainbow", []),
}
# RL-Zoo's published returns for the same budget (rl-baselines3-zoo benchmark table).
REFERENCES = {
    "CartPole-v1": "RL-Zoo DQN and QR-DQN: 500 +/- 0 at 50k steps",
    "LunarLander-v3": (
        "RL-Zoo DQN 154.4 +/- 79.2 and QR-DQN 70.2 at 100k steps (LunarLander-v2 there)"
    ),
    "Acrobot-v1": "RL-Zoo DQN -76.6 +/- 11.8 and QR-DQN -69.1 +/- 10.0 at 100k steps",
    "MountainCar-v0": "RL-Zoo DQN -100.8 +/- 9.9 at 120k steps",
}
RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "dqn_family.jsonl"


def evaluate(agent: rlkit.LocalLayout, env_id: str, episodes: int, seed: int, recipe: str) -> float:
    env = rlkit.make_environment(env_id, seed=seed, recipe=recipe, evaluation=True)
    loop = rlkit.EnvironmentLoop(
        env, agent.make_evaluation_actor(), logger=rlkit.loggers.NoOpLogger()
    )
    return float(np.mean([r["episode_return"] for r in loop.run(num_episodes=episodes)]))


def variant_config(variant: str, env_id: str, variants: dict | None = None) -> Any:
    agent_name, overrides = (variants or VARIANTS)[variant]
    return registry.get_agent(agent_name).load_config(env_id, overrides=overrides)


def config_record(config: Any) -> dict:
    """The config as stored with a result (JSON types: tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def same_config(recorded: dict, config: Any) -> bool:
    """Whether a result was run with `config`. A field added to the config class after the
    run counts as the same when today's value is the field's default (what the run had)."""
    current = config_record(config)
    defaults = config_record(type(config)())
    return all(
        recorded[name] == value if name in recorded else value == defaults[name]
        for name, value in current.items()
    ) and set(recorded) <= set(current)


def make_layout(
    agent_name: str, config: Any, env_id: str, seed: int, **layout_kwargs
) -> tuple[Any, rlkit.LocalLayout, str]:
    """`(environment, agent, recipe)`: the registered agent on `env_id` with `config`, in
    one process, built by the agent's own recipe (a batched environment when the config
    acts in several), logging nothing."""
    entry = registry.get_agent(agent_name)
    recipe = entry.resolve_recipe(env_id)
    builder = entry.make_builder(config)
    num_envs = builder.num_envs
    if num_envs is None:
        env = rlkit.make_environment(env_id, seed=seed, recipe=recipe)
    else:
        env = rlkit.make_vector_environment(env_id, num_envs, seed=seed, recipe=recipe)
    spec = rlkit.make_environment_spec(env)
    agent = rlkit.LocalLayout(
        builder,
        spec,
        entry.make_networks(spec, config),
        seed=seed,
        logger=rlkit.loggers.NoOpLogger(),
        **layout_kwargs,
    )
    return env, agent, recipe


def run(
    variant: str,
    env_id: str,
    seed: int,
    steps: int,
    eval_every: int,
    replay_backend: str,
    variants: dict | None = None,
) -> dict:
    variants = variants or VARIANTS
    config = variant_config(variant, env_id, variants)
    env, agent, recipe = make_layout(
        variants[variant][0], config, env_id, seed, replay_backend=replay_backend
    )
    loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
    seconds, done, curve = 0.0, 0, []
    while done < steps:
        chunk = min(eval_every, steps - done)
        start = time.perf_counter()
        loop.run(num_steps=chunk)
        agent.wait_for_learner()
        seconds += time.perf_counter() - start
        done += chunk
        curve.append(round(evaluate(agent, env_id, 10, 10_000 + done, recipe), 1))
        print(f"  {variant} seed {seed}: {done:>7} steps, eval {curve[-1]:7.1f}", flush=True)
    final = evaluate(agent, env_id, 20, 20_000 + seed, recipe)
    agent.close()
    return dict(
        variant=variant,
        env_id=env_id,
        replay_backend=replay_backend,
        seed=seed,
        steps=steps,
        seconds=round(seconds, 1),
        steps_per_second=round(steps / seconds),
        curve=curve,
        final_return=round(final, 1),
        jax=jax.__version__,
        config=config_record(config),
    )


def load_results(path: pathlib.Path = RESULTS) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclasses.dataclass
class Suite:
    """What a benchmark of registered agents runs and where it reports.

    Attributes:
      variants: name -> (registered agent, overrides on its shipped config).
      references: env id -> the published reference sentence.
      results: the JSON-lines file of runs.
      section: the BENCHMARKS.md section's name prefix (the env's name is appended).
      describe: `(args, backend) -> the section's title and opening paragraph`.
      default_env, default_steps: the command line's defaults.
    """

    variants: dict
    references: dict
    results: pathlib.Path
    section: str
    describe: Any
    default_env: str
    default_steps: int


def describe_dqn_family(args, backend: str) -> str:
    return f"""## DQN family, {args.env}, {args.steps:,} env steps (`bench/dqn_family.py`)

Each variant's shipped config for {args.env} (`rlkit/agents/dqn/configs/NAME/`), seeds
{", ".join(map(str, args.seeds))}; `dqn-dueling` and `dqn-per` are the DQN config with dueling
heads, and with prioritised replay on one transition per item. Greedy evaluation: 10
episodes every {args.eval_every:,} steps, 20 at the end. Training wall-clock only, on
{platform.machine()}, {os.cpu_count()} cores, {backend} replay, jax {jax.__version__}, Python
{platform.python_version()}. Per-run curves: `bench/results/dqn_family.jsonl`."""


def main(suite: Suite | None = None) -> None:
    suite = suite or Suite(
        VARIANTS, REFERENCES, RESULTS, "dqn_family", describe_dqn_family, "CartPole-v1", 50_000
    )
    variants = suite.variants
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=suite.default_env)
    parser.add_argument("--steps", type=int, default=suite.default_steps)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--define",
        action="append",
        default=[],
        metavar="NAME=AGENT:key=value,...",
        help="add a variant for this run (may repeat)",
    )
    parser.add_argument("--variants", nargs="+", default=None, help=f"default: {list(variants)}")
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--target", type=float, default=None, help="the return that counts")
    parser.add_argument("--replay-backend", default="local", choices=("local", "reverb"))
    args = parser.parse_args()
    for definition in args.define:
        name, agent_and_overrides = definition.split("=", 1)
        agent_name, _, overrides = agent_and_overrides.partition(":")
        # Commas inside brackets belong to a value (hidden_sizes=[128,128]).
        variants[name] = (agent_name, [o for o in re.split(r",(?![^\[]*\])", overrides) if o])
    args.variants = args.variants or list(variants)
    unknown = sorted(set(args.variants) - set(variants))
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {list(variants)} (or --define one)")
    backend = args.replay_backend
    suite.results.parent.mkdir(exist_ok=True)

    def key(r: dict) -> tuple:
        return r["variant"], r["env_id"], r["seed"], r["steps"], r.get("replay_backend", "local")

    results = {key(r): r for r in load_results(suite.results)}
    for variant in args.variants:
        # A result whose recorded config differs from today's shipped one is stale: rerun it.
        config = variant_config(variant, args.env, variants)
        for stale in [k for k, r in results.items() if k[0] == variant and k[1] == args.env]:
            recorded = results[stale].get("config")
            if recorded is not None and not same_config(recorded, config):
                del results[stale]
        for seed in args.seeds:
            if (variant, args.env, seed, args.steps, backend) in results:
                continue
            result = run(variant, args.env, seed, args.steps, args.eval_every, backend, variants)
            print(result, flush=True)
            results[key(result)] = result
            with suite.results.open("a") as file:
                file.write(json.dumps(result) + "\n")

    rows = []
    for variant in args.variants:
        runs = [results.get((variant, args.env, s, args.steps, backend)) for s in args.seeds]
        runs = [r for r in runs if r is not None]
        finals = [r["final_return"] for r in runs]
        hits = (
            "" if args.target is None else f"{sum(f >= args.target for f in finals)}/{len(finals)}"
        )
        rows.append(
            [
                variant,
                " / ".join(f"{f:.1f}" for f in finals),
                f"{np.mean(finals):.1f}",
                hits,
                " / ".join(str(max(r["curve"])) for r in runs),
                f"{np.mean([r['steps_per_second'] for r in runs]):.0f}",
            ]
        )
    name = args.env.split("-")[0].lower() + ("" if backend == "local" else f"_{backend}")
    body = f"""{suite.describe(args, backend)}

{
        markdown_table(
            [
                "variant",
                "final return (20 ep.) per seed",
                "mean",
                f"seeds >= {args.target:g}" if args.target is not None else "",
                "best evaluation per seed",
                "env steps/s",
            ],
            rows,
        )
    }

Reference: {suite.references.get(args.env, "none recorded")}.
"""
    if args.define:  # An exploratory run: the published table stays as it is.
        print(body)
        return
    write_section(f"{suite.section}_{name}", body)
    print(body)


if __name__ == "__main__":
    main()
