"""A custom agent written only by subclassing `rlkit.Actor` and `rlkit.Learner`.

Tabular Q-learning on FrozenLake: the actor acts epsilon-greedily on the learner's table and
queues each transition; the learner applies one Q-learning update per queued transition.
`rlkit.Agent` interleaves the two and `rlkit.EnvironmentLoop` runs them, exactly as for DQN.
"""

from __future__ import annotations

import collections
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import rlkit  # noqa: E402


class TabularQLearner(rlkit.Learner):
    """Q(s, a) += lr * (r + discount * max_a' Q(s', a') - Q(s, a)) for each queued step."""

    def __init__(self, num_states: int, num_actions: int, learning_rate: float, discount: float):
        self.q_values = np.zeros((num_states, num_actions))
        self.queue: collections.deque = collections.deque()
        self._learning_rate = learning_rate
        self._discount = discount

    def step(self) -> None:
        while self.queue:
            state, action, reward, env_discount, next_state = self.queue.popleft()
            target = reward + self._discount * env_discount * self.q_values[next_state].max()
            self.q_values[state, action] += self._learning_rate * (
                target - self.q_values[state, action]
            )

    def get_variables(self, names):
        return [self.q_values for _ in names]


class EpsilonGreedyActor(rlkit.Actor):
    """Acts epsilon-greedily on the learner's Q-table and queues transitions for it."""

    def __init__(self, learner: TabularQLearner, epsilon: float, seed: int = 0):
        self._learner = learner
        self._epsilon = epsilon
        self._rng = np.random.default_rng(seed)
        self._state = None

    def select_action(self, observation):
        q_values = self._learner.get_variables(["q"])[0][int(observation)]
        if self._rng.random() < self._epsilon:
            return np.int32(self._rng.integers(len(q_values)))
        best = np.flatnonzero(q_values == q_values.max())  # Break ties at random.
        return np.int32(self._rng.choice(best))

    def observe_first(self, timestep):
        self._state = int(timestep.observation)

    def observe(self, action, next_timestep):
        next_state = int(next_timestep.observation)
        self._learner.queue.append(
            (
                self._state,
                int(action),
                float(next_timestep.reward),
                float(next_timestep.discount),
                next_state,
            )
        )
        self._state = next_state

    def update(self, wait: bool = False) -> None:
        pass  # The Q-table is shared by reference: nothing to fetch.


def main(num_episodes: int = 300, seed: int = 0) -> float:
    """Trains on deterministic 4x4 FrozenLake; returns the greedy policy's success rate."""
    env = rlkit.make_environment("FrozenLake-v1", seed=seed, is_slippery=False)
    spec = rlkit.make_environment_spec(env)
    learner = TabularQLearner(
        spec.observations.maximum + 1, spec.actions.num_values, learning_rate=0.5, discount=0.95
    )
    agent = rlkit.Agent(
        EpsilonGreedyActor(learner, epsilon=0.3, seed=seed),
        learner,
        min_observations=0,
        observations_per_step=1,
    )
    rlkit.EnvironmentLoop(env, agent, logger=rlkit.loggers.NoOpLogger()).run(num_episodes)

    greedy = EpsilonGreedyActor(learner, epsilon=0.0, seed=seed)
    results = rlkit.EnvironmentLoop(env, greedy, logger=rlkit.loggers.NoOpLogger()).run(20)
    success = float(np.mean([r["episode_return"] for r in results]))
    print(f"FrozenLake-v1 (deterministic): greedy success rate {success:.2f}")
    return success


if __name__ == "__main__":
    main()
