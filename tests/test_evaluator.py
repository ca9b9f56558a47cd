"""The evaluator: episodes side by side in several environments, counted without bias."""

import numpy as np
import pytest

import rlkit
from rlkit.experiments.evaluator import Evaluator
from rlkit.utils import counting
from tests.conftest import ScriptedEnv


class RecordingActor:
    """Acts 0 everywhere; records what it observes (step types, per call)."""

    def __init__(self, num_envs=None):
        self.num_envs = num_envs
        self.calls = []  # ("first" | "observe", step types)
        self.updates = 0

    def select_action(self, observation):
        if self.num_envs is None:
            return np.int64(0)
        assert len(observation) == self.num_envs
        return np.zeros(self.num_envs, np.int64)

    def observe_first(self, timestep):
        self.calls.append(("first", np.asarray(timestep.step_type).tolist()))

    def observe(self, action, next_timestep):
        self.calls.append(("observe", np.asarray(next_timestep.step_type).tolist()))

    def update(self, wait=False):
        self.updates += 1


def scripted(length):
    return rlkit.wrappers.GymWrapper(ScriptedEnv([1.0] * length))


def test_episodes_side_by_side_are_counted_per_environment_not_as_they_finish():
    """Environment i runs (5 + i) // 3 episodes: 1 of length 2, 2 of 5, 2 of 9. Counting the
    first five to finish would have taken the short ones more often (mean 3.4, not 6)."""
    actor = RecordingActor(num_envs=3)
    environments = [scripted(2), scripted(5), scripted(9)]
    evaluator = Evaluator(environments, actor, 5, counting.Counter())
    row = evaluator.evaluate()
    assert row["episodes"] == 5
    assert row["return_mean"] == pytest.approx((2 + 5 + 5 + 9 + 9) / 5)
    assert row["episode_length_mean"] == pytest.approx(6.0)
    assert (row["return_min"], row["return_max"]) == (2.0, 9.0)
    assert actor.updates == 1  # Current parameters, fetched once before the episodes.
    # The actor sees each LAST, then a FIRST the step after (as a vector env's auto-reset),
    # which restarts that sub-environment's policy state; finished ones stay at their LAST.
    first, last, mid = 0, 2, 1
    assert actor.calls[0] == ("first", [first] * 3)
    assert actor.calls[2] == ("observe", [last, mid, mid])
    assert actor.calls[5] == ("observe", [last, last, mid])
    assert actor.calls[6] == ("observe", [last, first, mid])
    assert actor.calls[-1] == ("observe", [last, last, last])
    assert len(actor.calls) == 1 + 9 + 1 + 9  # env 2's two episodes and its reset step.
    # A second evaluation resets every environment and counts the same episodes again.
    assert evaluator.evaluate()["return_mean"] == row["return_mean"]
    evaluator.close()


def test_an_actor_of_one_environment_runs_the_episodes_one_after_another():
    actor = RecordingActor()
    row = Evaluator(scripted(3), actor, 2, counting.Counter()).evaluate()  # No list needed.
    assert (row["episodes"], row["return_mean"]) == (2, 3.0)
    kinds = [kind for kind, _ in actor.calls]
    assert kinds == ["first"] + ["observe"] * 3 + ["first"] + ["observe"] * 3


def test_the_actor_and_the_environments_must_agree_on_how_many():
    with pytest.raises(ValueError, match="num_envs=len"):
        Evaluator([scripted(2), scripted(2)], RecordingActor(num_envs=3), 5, counting.Counter())
    with pytest.raises(ValueError, match="num_envs=len"):
        Evaluator([scripted(2), scripted(2)], RecordingActor(), 5, counting.Counter())


def test_a_run_evaluates_side_by_side_in_separately_seeded_environments(monkeypatch):
    """`run_experiment` evaluates in environments of its own, seeded apart, with each
    family's evaluation actor batched over them."""
    created, actors = [], []
    make_evaluator = Evaluator.__init__

    def recording(self, environments, actor, *args, **kwargs):
        actors.append(actor)
        make_evaluator(self, environments, actor, *args, **kwargs)

    monkeypatch.setattr(Evaluator, "__init__", recording)

    def evaluation_environment(seed):
        created.append(seed)
        return rlkit.make_environment("CartPole-v1", seed=seed)

    for agent in ("dqn", "ppo", "sac"):
        created.clear()
        env_id = "Pendulum-v1" if agent == "sac" else "CartPole-v1"
        config = rlkit.experiments.make_experiment_config(
            agent, env_id, max_num_actor_steps=64, num_eval_episodes=3, eval_every=0
        )
        if agent != "sac":
            config.evaluation_environment_factory = evaluation_environment
        result = rlkit.experiments.run_experiment(config)
        assert result.evaluations[-1]["episodes"] == 3
        assert actors[-1].num_envs == 3
        if agent != "sac":
            assert len(set(created)) == 3, created
            assert created[0] == config.seed + rlkit.experiments.config.EVALUATION_SEED_OFFSET


def test_a_layout_whose_evaluation_actor_takes_no_num_envs_evaluates_in_one_environment():
    import importlib
    from types import SimpleNamespace

    run_module = importlib.import_module("rlkit.experiments.run_experiment")

    created = []

    def environment(seed):
        created.append(seed)
        return scripted(4)

    config = SimpleNamespace(
        num_eval_episodes=3, seed=0, evaluation_environment_factory=environment,
        environment_factory=None,
    )  # fmt: skip
    agent = SimpleNamespace(make_evaluation_actor=lambda: RecordingActor())
    evaluator = run_module._make_evaluator(config, agent, counting.Counter(), None)
    assert len(created) == 1
    assert evaluator.evaluate()["episodes"] == 3
    evaluator.close()
