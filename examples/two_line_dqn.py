"""The README's two-line script: DQN on CartPole-v1 for 50,000 environment steps."""

import rlkit
from rlkit.agents import dqn

env = rlkit.make_environment("CartPole-v1", seed=0)
agent = dqn.DQN(rlkit.specs.make_environment_spec(env), dqn.DQNConfig(), seed=0)
rlkit.EnvironmentLoop(env, agent).run(num_steps=50_000)
