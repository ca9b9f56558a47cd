"""`make run`: the two-line DQN script on CartPole-v1, evaluated as it trains.

Trains 50,000 environment steps in chunks of 5,000; after each chunk the greedy policy plays
10 episodes on a separate environment. Prints when the evaluation return first reached 475
and the final evaluation over 20 episodes.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import time  # noqa: E402

import numpy as np  # noqa: E402

import rlkit  # noqa: E402
from rlkit.agents import dqn  # noqa: E402

TOTAL_STEPS, CHUNK, TARGET = 50_000, 5_000, 475.0


def evaluate(agent: dqn.DQN, episodes: int, seed: int) -> float:
    env = rlkit.make_environment("CartPole-v1", seed=seed)
    loop = rlkit.EnvironmentLoop(
        env, agent.make_evaluation_actor(), logger=rlkit.loggers.NoOpLogger()
    )
    return float(np.mean([r["episode_return"] for r in loop.run(num_episodes=episodes)]))


def main() -> None:
    env = rlkit.make_environment("CartPole-v1", seed=0)
    agent = dqn.DQN(
        rlkit.specs.make_environment_spec(env),
        dqn.DQNConfig(),
        seed=0,
        logger=rlkit.loggers.NoOpLogger(),
    )
    loop = rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger())
    first_reached, seconds = None, 0.0
    for done in range(CHUNK, TOTAL_STEPS + 1, CHUNK):
        start = time.perf_counter()
        loop.run(num_steps=CHUNK)
        seconds += time.perf_counter() - start
        score = evaluate(agent, 10, seed=1_000 + done)
        print(
            f"{done:>6} steps  {seconds:6.1f} s training  evaluation return {score:6.1f}",
            flush=True,
        )
        if first_reached is None and score >= TARGET:
            first_reached = done
    final = evaluate(agent, 20, seed=99)
    agent.close()
    reached = (
        f"first reached {TARGET:.0f} at {first_reached} steps"
        if first_reached
        else (f"did not reach {TARGET:.0f}")
    )
    print(
        f"CartPole-v1 DQN: {reached}; final evaluation return {final:.1f} "
        f"(20 greedy episodes) after {TOTAL_STEPS} steps and {seconds:.1f} s of training"
    )


if __name__ == "__main__":
    main()
