"""Replay throughput: transitions inserted and sampled per second, as DQN's builder uses replay.

For each backend (local, and Reverb when installed), table (uniform or prioritised),
transitions per item, and item kind (CartPole: 4 floats; Atari: 84x84x4 uint8 frame stacks,
stored whole or as shared frames), this builds the tables, adder and dataset with
`DQNBuilder`, then times:
- insert: the adder writing a pre-built stream of timesteps (episodes of 500 steps), in
  transitions/s (so an item of 16 transitions counts 16);
- sample: drawing learner-step batches (512 transitions each) from the full table, and for a
  prioritised table writing a priority back for every sampled item, in transitions/s.
Single-threaded; no learning. Writes its table into BENCHMARKS.md.

    python bench/replay_throughput.py [--backends local reverb] [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dm_env  # noqa: E402
import numpy as np  # noqa: E402
from dm_env import specs as dm_specs  # noqa: E402

import rlkit  # noqa: E402
from rlkit import replay  # noqa: E402
from rlkit.agents import dqn  # noqa: E402
from rlkit.replay import frames  # noqa: E402

try:
    from bench._report import markdown_table, write_section  # noqa: E402
except ImportError:  # Run as a script from bench/.
    from _report import markdown_table, write_section  # noqa: E402

EPISODE_LENGTH = 500


def atari_spec() -> rlkit.specs.EnvironmentSpec:
    return rlkit.specs.EnvironmentSpec(
        observations=dm_specs.BoundedArray((84, 84, 4), np.uint8, 0, 255, "observation"),
        actions=dm_specs.DiscreteArray(6, name="action"),
        rewards=dm_specs.Array((), np.float32, "reward"),
        discounts=dm_specs.BoundedArray((), np.float32, 0.0, 1.0, "discount"),
    )


def timesteps(kind: str, count: int, rng: np.random.Generator) -> list[dm_env.TimeStep]:
    """A stream of `count` steps in episodes of EPISODE_LENGTH; Atari observations are frame
    stacks whose newest frame is new each step (as `AtariWrapper` gives them)."""
    if kind == "cartpole":
        observations = rng.normal(size=(count, 4)).astype(np.float32)
    else:
        new_frames = rng.integers(0, 256, size=(count + 3, 84, 84), dtype=np.uint8)
        observations = [np.stack(new_frames[i : i + 4], axis=-1) for i in range(count)]
    steps = []
    for i in range(count):
        position = i % EPISODE_LENGTH
        reward = np.float32(1.0)
        if position == 0:
            steps.append(dm_env.restart(observations[i]))
        elif position == EPISODE_LENGTH - 1:
            steps.append(dm_env.truncation(reward, observations[i]))
        else:
            steps.append(dm_env.transition(reward, observations[i]))
    return steps


def measure(backend: str, kind: str, config: dqn.DQNConfig, seconds: float) -> dict:
    spec = (
        rlkit.make_environment_spec(rlkit.make_environment("CartPole-v1"))
        if kind == "cartpole"
        else atari_spec()
    )
    builder = dqn.DQNBuilder(config)
    tables = builder.make_replay_tables(spec)
    server = replay.make_server(tables, backend)
    client = server.client()
    adder = builder.make_adder(client, spec)
    rng = np.random.default_rng(0)
    stream = timesteps(kind, config.max_replay_size, rng)
    actions = rng.integers(0, 2, size=len(stream)).astype(np.int32)
    start = time.perf_counter()
    for timestep, action in zip(stream, actions, strict=True):
        if timestep.first():
            adder.add_first(timestep)
        else:
            adder.add(action, timestep)
    adder.flush()
    insert_seconds = time.perf_counter() - start
    inserted = len(stream) - len(stream) // EPISODE_LENGTH  # The FIRST steps add nothing.

    dataset = builder.make_dataset_iterator(client)
    table = config.replay_table_name
    batch = next(dataset)  # Warm-up (starts Reverb's dataset).
    sampled, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        batch = next(dataset)
        if config.prioritized:
            client.update_priorities(table, batch.keys, rng.uniform(0.1, 2.0, len(batch.keys)))
        sampled += config.items_per_learner_step * config.transitions_per_item
    client.wait_for_priority_updates()
    sample_seconds = time.perf_counter() - start
    table_size = client.table_size(table)
    close = getattr(dataset, "close", None)
    if close is not None:
        close()
    server.stop()
    item_bytes = round(frames.bytes_per_transition(tables[0].signature))
    return dict(
        inserts=round(inserted / insert_seconds),
        samples=round(sampled / sample_seconds),
        items=table_size,
        bytes_per_transition=item_bytes,
    )


CASES = [
    # (item kind, label, config overrides)
    ("cartpole", "uniform, 16 per item", dict(transitions_per_item=16)),
    ("cartpole", "uniform, 1 per item", dict(transitions_per_item=1)),
    ("cartpole", "prioritised, 1 per item", dict(transitions_per_item=1, prioritized=True)),
    ("cartpole", "prioritised, 16 per item", dict(transitions_per_item=16, prioritized=True)),
    ("atari", "uniform, 16 per item, whole stacks", dict(transitions_per_item=16)),
    (
        "atari",
        "uniform, 16 per item, shared frames",
        dict(transitions_per_item=16, frame_storage="shared"),
    ),
    (
        "atari",
        "prioritised, 16 per item, shared frames",
        dict(transitions_per_item=16, frame_storage="shared", prioritized=True),
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["local", "reverb"])
    parser.add_argument("--seconds", type=float, default=3.0, help="sampling time per case")
    args = parser.parse_args()
    rows = []
    for backend in args.backends:
        if backend == "reverb":
            try:
                import reverb  # noqa: F401
            except ImportError:
                print("Reverb is not installed here: skipping the reverb backend.")
                continue
        for kind, label, overrides in CASES:
            size = 50_000 if kind == "cartpole" else 5_000
            config = dqn.DQNConfig(
                max_replay_size=size, min_replay_size=1_000, n_step=3, **overrides
            )
            result = measure(backend, kind, config, args.seconds)
            print(backend, kind, label, result, flush=True)
            rows.append(
                [
                    backend,
                    kind,
                    label,
                    f"{result['bytes_per_transition']:,}",
                    f"{result['inserts']:,}",
                    f"{result['samples']:,}",
                ]
            )
    body = f"""## Replay throughput (`bench/replay_throughput.py`)

DQN's own tables, adder (3-step transitions) and dataset from `DQNBuilder`, one thread, no
learning. Insert: an adder writing a pre-built stream of timesteps; sample: learner-step
batches of 512 transitions from a full table (CartPole 50k transitions, Atari 5k), a priority
written back per sampled item on prioritised tables. Transitions per second; on
{platform.machine()}, {os.cpu_count()} cores, rlkit {rlkit.__version__}, Python
{platform.python_version()}.

{
        markdown_table(
            [
                "backend",
                "items",
                "table",
                "bytes per transition",
                "inserted/s",
                "sampled/s",
            ],
            rows,
        )
    }
"""
    write_section("replay_throughput", body)
    print(body)


if __name__ == "__main__":
    main()
