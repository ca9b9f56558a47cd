"""The two-line script: DQN on CartPole-v1, then a greedy evaluation."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import rlkit  # noqa: E402
from rlkit.agents import dqn  # noqa: E402

env = rlkit.make_environment("CartPole-v1", seed=0)
agent = dqn.DQN(rlkit.specs.make_environment_spec(env), dqn.DQNConfig(), seed=0)
rlkit.EnvironmentLoop(env, agent).run(num_steps=50_000)

# Evaluate the greedy policy on a separate environment instance.
eval_env = rlkit.make_environment("CartPole-v1", seed=1000)
eval_loop = rlkit.EnvironmentLoop(
    eval_env, agent.make_evaluation_actor(), logger=rlkit.loggers.NoOpLogger()
)
returns = [result["episode_return"] for result in eval_loop.run(num_episodes=20)]
print(
    f"CartPole-v1: evaluation return {np.mean(returns):.1f} +/- {np.std(returns):.1f} "
    "(20 greedy episodes after 50,000 env steps)"
)
agent.close()
