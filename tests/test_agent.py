"""rlkit.Agent: the counted learner schedule, in the foreground and in the background."""

import pytest

import rlkit


class CountingLearner(rlkit.Learner):
    """Counts steps; its "parameters" are the step count. Optionally fails at one step."""

    def __init__(self, fail_at=None):
        self.steps, self.fail_at = 0, fail_at

    def step(self):
        self.steps += 1
        if self.steps == self.fail_at:
            raise RuntimeError("learner broke")

    def get_variables(self, names):
        return [self.steps for _ in names]


class ParamsActor(rlkit.Actor):
    """Records the parameters it sees at each update."""

    def __init__(self, source):
        self.source, self.seen = source, []

    def select_action(self, observation):
        return 0

    def observe_first(self, timestep):
        pass

    def observe(self, action, next_timestep):
        pass

    def update(self, wait=False):
        self.seen.append(self.source.get_variables(["policy"])[0])


def observe_and_update(agent, times):
    for _ in range(times):
        agent.observe(0, None)
        agent.update()


def test_learner_schedule():
    learner = CountingLearner()
    agent = rlkit.Agent(ParamsActor(learner), learner, min_observations=10, observations_per_step=4)
    counts = []
    for _ in range(22):
        observe_and_update(agent, 1)
        counts.append(learner.steps)
    # First step at observation 10, then every 4 observations.
    assert counts[8:] == [0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4]
    fast = CountingLearner()
    agent = rlkit.Agent(ParamsActor(fast), fast, min_observations=0, observations_per_step=0.5)
    observe_and_update(agent, 3)
    assert fast.steps == 7  # Observation 1 owes 3 steps (incl. the first), then 2 each.


def test_background_learning_keeps_the_schedule():
    learner = CountingLearner()
    actor = ParamsActor(learner)
    agent = rlkit.Agent(actor, learner, 0, 1, learn_in_background=True)
    observe_and_update(agent, 5)
    agent.wait_for_learner()
    assert learner.steps == 6  # Same count as in the foreground (2 at the first step).
    # The actor always sees the parameters of the round before: exactly one round behind.
    assert actor.seen == [0, 2, 3, 4, 5]
    agent.close()


def test_background_learner_errors_surface():
    failing = CountingLearner(fail_at=2)
    agent = rlkit.Agent(ParamsActor(failing), failing, 0, 1, learn_in_background=True)
    observe_and_update(agent, 1)
    with pytest.raises(RuntimeError, match="learner broke"):
        agent.close()


class SlowLearner(CountingLearner):
    def __init__(self):
        super().__init__()
        import threading

        self.release = threading.Event()

    def step(self):
        self.release.wait(timeout=10)
        super().step()

    def save(self):
        return {"steps": self.steps}

    def restore(self, state):
        self.steps = state["steps"]


def test_save_after_an_interrupted_wait_still_joins_the_round():
    learner = SlowLearner()
    agent = rlkit.Agent(
        ParamsActor(learner),
        learner,
        min_observations=0,
        observations_per_step=1,
        learn_in_background=True,
    )
    observe_and_update(agent, 1)  # Submits one round; the learner is held at its first step.
    pending = agent._pending

    def interrupted(timeout=None):
        raise KeyboardInterrupt

    pending.result = interrupted  # Ctrl-C while the acting thread waits for the round.
    with pytest.raises(KeyboardInterrupt):
        agent.wait_for_learner()
    assert agent._pending is pending  # Still pending: a save must wait for it.
    del pending.result
    learner.release.set()
    state = agent.save()
    # Observation 1 owes two steps (the first one included); both were joined.
    assert state["learner"] == {"steps": 2} and state["schedule"].tolist() == [1, 2]
    agent.close()
