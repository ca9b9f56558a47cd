"""EnvironmentLoop: episodes, exact step budgets, counters, observers, loggers."""

import numpy as np
import pytest

import rlkit
from rlkit import loggers
from rlkit.utils import counting
from tests.conftest import ScriptedEnv


class RecordingActor(rlkit.Actor):
    def __init__(self):
        self.calls = []

    def select_action(self, observation):
        self.calls.append("select_action")
        return np.int32(0)

    def observe_first(self, timestep):
        assert timestep.first()
        self.calls.append("observe_first")

    def observe(self, action, next_timestep):
        self.calls.append("observe")

    def update(self, wait=False):
        self.calls.append("update")


class RecordingLogger(loggers.Logger):
    def __init__(self):
        self.rows = []
        self.summaries = []

    def write(self, data):
        self.rows.append(dict(data))

    def write_summary(self, data):
        self.summaries.append(dict(data))


class CountingObserver:
    def observe_first(self, env, timestep):
        self.steps = 0

    def observe(self, env, timestep, action):
        self.steps += 1

    def get_metrics(self):
        return {"observed_steps": self.steps}


def make_loop(rewards=(1.0, 2.0, 3.0), **kwargs):
    env = rlkit.wrappers.GymWrapper(ScriptedEnv(rewards))
    actor = RecordingActor()
    logger = RecordingLogger()
    return rlkit.EnvironmentLoop(env, actor, logger=logger, **kwargs), actor, logger


def test_run_episodes_returns_results():
    loop, actor, logger = make_loop(observers=[CountingObserver()])
    results = loop.run(num_episodes=2)
    assert len(results) == 2 and logger.rows == results
    result = results[0]
    assert result["episode_return"] == 6.0 and result["episode_length"] == 3
    assert result["steps_per_second"] > 0 and result["observed_steps"] == 3
    assert results[1]["episodes"] == 2 and results[1]["steps"] == 6
    expected_episode = ["observe_first"] + ["select_action", "observe", "update"] * 3
    assert actor.calls == expected_episode * 2


def test_run_steps_is_exact():
    counter = counting.Counter()
    loop, actor, _ = make_loop(counter=counter)
    results = loop.run(num_steps=7)  # 3 + 3 + 1 partial.
    assert len(results) == 2
    assert actor.calls.count("select_action") == 7
    assert counter.get_counts() == {"episodes": 2, "steps": 7}


def test_run_rejects_bad_arguments():
    loop, _, _ = make_loop()
    with pytest.raises(ValueError, match="not both"):
        loop.run(num_episodes=1, num_steps=1)
    with pytest.raises(ValueError, match="non-negative"):
        loop.run(num_steps=-1)


def test_child_counters_share_the_parent_tally():
    parent = counting.Counter()
    actor = counting.Counter(parent, "actor")
    learner = counting.Counter(parent, "learner")
    actor.increment(steps=5)
    counts = learner.increment(steps=2)
    assert counts == {"actor_steps": 5, "learner_steps": 2}
    restored = counting.Counter()
    restored.restore(parent.save())
    assert restored.get_counts() == counts


def test_csv_logger_writes_and_appends(tmp_path):
    logger = loggers.CSVLogger(str(tmp_path), "train")
    logger.write({"step": 1, "return": np.float32(2.5)})
    logger.close()
    logger = loggers.CSVLogger(str(tmp_path), "train")
    logger.write({"step": 2, "return": 3.0})
    logger.close()
    lines = (tmp_path / "train.csv").read_text().splitlines()
    assert lines == ["step,return", "1,2.5", "2,3.0"]


def test_run_steps_continues_an_unfinished_episode():
    counter = counting.Counter()
    loop, actor, logger = make_loop(counter=counter)
    assert loop.run(num_steps=2) == []
    (result,) = loop.run(num_steps=1)  # The third step of the same episode ends it.
    assert result["episode_length"] == 3 and result["episode_return"] == 6.0
    assert actor.calls.count("observe_first") == 1
    assert counter.get_counts() == {"episodes": 1, "steps": 3}


def test_an_interrupted_step_counts_and_abandons_the_episode():
    counter = counting.Counter()
    loop, actor, _ = make_loop(rewards=(1.0,) * 10, counter=counter)

    def interrupt_on_third_update(wait=False):
        actor.calls.append("update")
        if actor.calls.count("update") == 3:
            raise KeyboardInterrupt

    actor.update = interrupt_on_third_update
    with pytest.raises(KeyboardInterrupt):
        loop.run(num_steps=8)
    # The third step was observed (the agent counted it) before its update was cut short.
    assert counter.get_counts() == {"steps": 3}
    loop.run(num_steps=1)
    assert actor.calls.count("observe_first") == 2  # A fresh episode after the interruption.


class RenamedParametersActor(rlkit.Actor):
    """An actor whose parameter names differ from `rlkit.Actor`'s: the loop must not care."""

    def __init__(self):
        self.observed = []

    def select_action(self, obs):
        return np.int32(0)

    def observe_first(self, ts):
        self.observed.append(ts.step_type)

    def observe(self, act, ts):
        self.observed.append((int(act), float(ts.reward)))

    def update(self, block=False):
        pass


class NoOpLearner(rlkit.Learner):
    def step(self):
        pass

    def get_variables(self, names):
        return [None for _ in names]


@pytest.mark.parametrize("in_agent", [False, True], ids=["actor", "agent"])
def test_actor_methods_are_called_positionally(in_agent):
    actor = RenamedParametersActor()
    runner = rlkit.Agent(actor, NoOpLearner(), 0, 1.0) if in_agent else actor
    loop = rlkit.EnvironmentLoop(
        rlkit.wrappers.GymWrapper(ScriptedEnv((1.0, 2.0))), runner, logger=RecordingLogger()
    )
    (result,) = loop.run(num_episodes=1)
    assert result["episode_return"] == 3.0
    assert actor.observed[1:] == [(0, 1.0), (0, 2.0)]


# A batched environment: sub-environment 0 ends (terminated) every 3 steps with return 6,
# sub-environment 1 every 2 steps (truncated) with return 11. Each restarts on the next step.


class BatchedRecordingActor(rlkit.Actor):
    def __init__(self, num_envs=2):
        self.num_envs = num_envs
        self.observed = []

    def select_action(self, observations):
        assert observations.shape == (self.num_envs, 1)
        return np.zeros(self.num_envs, np.int32)

    def observe_first(self, timestep):
        assert list(timestep.step_type) == [0] * self.num_envs
        self.observed.append("first")

    def observe(self, actions, next_timestep):
        self.observed.append(list(next_timestep.step_type))

    def update(self, wait=False):
        pass


def make_batched_loop(**kwargs):
    from gymnasium.vector import SyncVectorEnv

    vector = SyncVectorEnv(
        [lambda: ScriptedEnv((1.0, 2.0, 3.0)), lambda: ScriptedEnv((5.0, 6.0), truncate=True)]
    )
    env = rlkit.wrappers.VectorGymWrapper(vector)
    actor, logger = BatchedRecordingActor(), RecordingLogger()
    return rlkit.EnvironmentLoop(env, actor, logger=logger, **kwargs), actor, logger


def test_a_batched_loop_reports_every_sub_environment_s_episodes():
    counter = counting.Counter()
    loop, actor, logger = make_batched_loop(counter=counter)
    results = loop.run(num_steps=10)
    # Transitions per vector step (a sub-environment's FIRST step is none): 2, 2 (env 1
    # ends), 1 (env 0 ends; env 1 restarts), 1 (env 0 restarts), 2 (env 1 ends), 1 (env 1
    # restarts), 2 (env 0 ends): the 7th vector step passes 10, with 11.
    episodes = [(r["episode_length"], float(r["episode_return"])) for r in results]
    assert episodes == [(2, 11.0), (3, 6.0), (2, 11.0), (3, 6.0)]
    assert logger.rows == results
    assert actor.observed[0] == "first" and len(actor.observed) == 1 + 7
    assert actor.observed[3] == [2, 0] and actor.observed[4] == [0, 1]
    assert counter.get_counts() == {"episodes": 4, "steps": 11}
    assert results[-1]["episodes"] == 4 and results[-1]["steps"] == 11
    assert all(r["steps_per_second"] > 0 for r in results)


def test_a_batched_loop_continues_its_episodes_across_run_calls():
    counter = counting.Counter()
    loop, actor, _ = make_batched_loop(counter=counter)
    assert loop.run(num_steps=1) == []  # One vector step: 2 transitions, nothing ended.
    (first,) = loop.run(num_steps=1)  # Env 1's second step ends its episode.
    assert (first["episode_length"], float(first["episode_return"])) == (2, 11.0)
    (second,) = loop.run(num_episodes=1)  # Env 0's third step: one episode continued.
    assert (second["episode_length"], float(second["episode_return"])) == (3, 6.0)
    assert actor.observed.count("first") == 1
    assert counter.get_counts() == {"episodes": 2, "steps": 5}


def test_a_batched_loop_abandons_its_episodes_when_interrupted():
    counter = counting.Counter()
    loop, actor, _ = make_batched_loop(counter=counter)

    def interrupt(*args):
        raise KeyboardInterrupt

    actor.update = interrupt
    with pytest.raises(KeyboardInterrupt):
        loop.run(num_steps=5)
    assert counter.get_counts() == {"steps": 2}  # The interrupted vector step was observed.
    actor.update = lambda wait=False: None
    loop.run(num_steps=1)
    assert actor.observed.count("first") == 2  # Every sub-environment restarted.


def test_a_batched_loop_refuses_observers_and_run_episode():
    with pytest.raises(ValueError, match="Observers watch one environment"):
        make_batched_loop(observers=[CountingObserver()])
    loop, _, _ = make_batched_loop()
    with pytest.raises(TypeError, match="run\\(num_episodes=1\\)"):
        loop.run_episode()


def test_a_batched_loop_runs_a_vector_environment_with_random_actions():
    env = rlkit.make_vector_environment("CartPole-v1", 4, seed=0)

    class RandomActor(BatchedRecordingActor):
        rng = np.random.default_rng(0)

        def select_action(self, observations):
            return self.rng.integers(0, 2, len(observations)).astype(np.int32)

    loop = rlkit.EnvironmentLoop(env, RandomActor(4), logger=RecordingLogger())
    results = loop.run(num_episodes=12)
    assert len(results) >= 12
    assert all(r["episode_length"] == r["episode_return"] for r in results)  # Reward 1 a step.
    # Every transition belongs to an episode that ended or to one still running (< 4 of them).
    ended_steps = sum(r["episode_length"] for r in results)
    assert ended_steps <= results[-1]["steps"] < ended_steps + 4 * 500
    env.close()


def test_run_ends_with_a_summary_through_the_logger():
    loop, _, logger = make_loop()
    loop.run(num_steps=7)  # Two episodes of 3 steps (returns 6), one step into the third.
    (summary,) = logger.summaries
    assert {k: summary[k] for k in ("steps", "episodes", "last_return")} == {
        "steps": 7,
        "episodes": 2,
        "last_return": 6.0,
    }
    assert summary["seconds"] > 0 and summary["steps_per_second"] > 0
    assert summary["recent_mean_return"] == 6.0 and summary["recent_episodes"] == 2
    loop.run(num_episodes=1)  # The third episode's last 2 steps: the mean spans both calls.
    assert logger.summaries[-1]["steps"] == 2 and logger.summaries[-1]["recent_episodes"] == 3
    assert len(logger.rows) == 3  # Summaries are not episode rows (CSV, history).


def test_the_default_logger_prints_the_summary_and_a_no_op_logger_silences_it(capsys):
    env = rlkit.wrappers.GymWrapper(ScriptedEnv((1.0, 2.0, 3.0)))
    rlkit.EnvironmentLoop(env, RecordingActor()).run(num_steps=6)
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("[Environment Loop] Summary: Steps = 6 | Episodes = 2 | Seconds = ")
    assert "| Last Return = 6.000 | Recent Mean Return = 6.000 | Recent Episodes = 2" in last
    env = rlkit.wrappers.GymWrapper(ScriptedEnv((1.0, 2.0, 3.0)))
    rlkit.EnvironmentLoop(env, RecordingActor(), logger=loggers.NoOpLogger()).run(num_steps=6)
    assert capsys.readouterr().out == ""


def test_a_batched_loop_s_summary_has_the_true_step_count():
    loop, _, logger = make_batched_loop()
    loop.run(num_steps=10)  # The 7th vector step passes 10, with 11 (see above).
    (summary,) = logger.summaries
    assert summary["steps"] == 11 and summary["episodes"] == 4


def test_the_two_line_script_says_learner_and_sgd_steps_and_ends_with_a_summary(capsys):
    from rlkit.agents import dqn

    env = rlkit.make_environment("CartPole-v1", seed=0)
    config = dqn.DQNConfig(hidden_sizes=(8,), min_replay_size=32, batch_size=8, n_step=1)
    agent = dqn.DQN(rlkit.specs.make_environment_spec(env), config, seed=0)
    agent.learner._log_every = 0.0  # Every learner row, not one a second.
    rlkit.EnvironmentLoop(env, agent).run(num_steps=300)
    agent.close()
    lines = capsys.readouterr().out.splitlines()
    learner = [line for line in lines if line.startswith("[Learner]")]
    assert learner and all(
        "Learner Steps = " in line and "Learner SGD Steps = " in line for line in learner
    )
    assert not any(
        " Steps = " in line.replace("Learner Steps", "").replace("SGD Steps", "")
        for line in learner
    )  # No bare "Steps": it read as environment steps.
    summaries = [line for line in lines if line.startswith("[Environment Loop] Summary:")]
    assert len(summaries) == 1 and "Steps = 300 | Episodes = " in summaries[0]
