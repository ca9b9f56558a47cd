"""GenericActor with num_envs: one jitted call per batch, a policy state per sub-environment."""

from typing import NamedTuple

import dm_env
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlkit
from rlkit import replay
from rlkit.jax import actors

FIRST, MID, LAST = (np.int8(step_type) for step_type in dm_env.StepType)


class CoreState(NamedTuple):
    key: jax.Array
    steps: jax.Array  # Steps this episode: restarted by episode_start.


def noisy_core():
    """Action: observation + uniform noise; extras: the episode's step count."""

    def select_action(params, observation, state):
        key, noise_key = jax.random.split(state.key)
        action = observation + jax.random.uniform(noise_key, observation.shape)
        return action, CoreState(key, state.steps + 1)

    return actors.ActorCore(
        init=lambda key: CoreState(key, jnp.zeros((), jnp.int32)),
        select_action=select_action,
        get_extras=lambda state: state.steps.astype(jnp.float32),
        episode_start=lambda state: state._replace(steps=jnp.zeros((), jnp.int32)),
    )


class RecordingAdder(replay.Adder):
    def __init__(self):
        self.calls = []

    def add_first(self, timestep):
        self.calls.append(("first", float(timestep.observation[0])))

    def add(self, action, next_timestep, extras=()):
        self.calls.append(("add", float(action[0]), float(extras)))


def batched_timestep(step_types, observations):
    step_types = np.asarray(step_types, np.int8)
    return dm_env.TimeStep(
        step_types,
        np.zeros(len(step_types), np.float32),
        np.ones(len(step_types), np.float32),
        np.asarray(observations, np.float32).reshape(len(step_types), 1),
    )


def test_each_sub_environment_acts_as_a_single_actor_with_its_own_key():
    num_envs, key = 3, jax.random.PRNGKey(4)
    batched = actors.GenericActor(noisy_core(), key, None, num_envs=num_envs)
    singles = [
        actors.GenericActor(noisy_core(), sub_key, None)
        for sub_key in jax.random.split(key, num_envs)
    ]
    observations = np.arange(num_envs, dtype=np.float32).reshape(num_envs, 1)
    for _ in range(3):
        actions = batched.select_action(observations)
        assert actions.shape == (num_envs, 1)
        for i, single in enumerate(singles):
            np.testing.assert_allclose(actions[i], single.select_action(observations[i]))
    assert batched.state.steps.shape == (num_envs,)


def test_a_sub_environment_s_first_step_restarts_only_its_episode():
    adders = [RecordingAdder(), RecordingAdder()]
    actor = actors.GenericActor(
        noisy_core(), jax.random.PRNGKey(0), None, replay.BatchedAdder(adders), num_envs=2
    )
    actor.observe_first(batched_timestep([FIRST, FIRST], [0.0, 10.0]))
    for step_types in ([MID, MID], [LAST, MID], [FIRST, MID]):
        actions = actor.select_action(np.zeros((2, 1), np.float32))
        actor.observe(actions, batched_timestep(step_types, [1.0, 11.0]))
    # Env 0: two steps, then its FIRST restarts its count; env 1: three steps running.
    np.testing.assert_array_equal(actor.state.steps, [0, 3])
    assert [call[0] for call in adders[0].calls] == ["first", "add", "add", "first"]
    assert [call[0] for call in adders[1].calls] == ["first", "add", "add", "add"]
    # Extras (the step count after each action) went to the sub-environment they belong to.
    assert [call[2] for call in adders[0].calls[1:3]] == [1.0, 2.0]
    assert [call[2] for call in adders[1].calls[1:]] == [1.0, 2.0, 3.0]


def test_batched_actor_state_saves_and_restores():
    actor = actors.GenericActor(noisy_core(), jax.random.PRNGKey(0), None, num_envs=2)
    actor.select_action(np.zeros((2, 1), np.float32))
    saved = actor.save()
    first = actor.select_action(np.zeros((2, 1), np.float32))
    actor.restore(saved)
    np.testing.assert_array_equal(actor.select_action(np.zeros((2, 1), np.float32)), first)


def test_num_envs_below_one_is_refused():
    with pytest.raises(ValueError, match="num_envs must be positive"):
        actors.GenericActor(noisy_core(), jax.random.PRNGKey(0), None, num_envs=0)


def test_a_batched_actor_runs_in_the_loop_on_a_vector_environment():
    env = rlkit.make_vector_environment("Pendulum-v1", 2, seed=0, recipe="continuous")

    def select_action(params, observation, state):
        key, noise_key = jax.random.split(state.key)
        action = jax.random.uniform(noise_key, (1,), minval=-1.0, maxval=1.0)
        return action, CoreState(key, state.steps + 1)

    core = noisy_core()._replace(select_action=select_action)
    actor = actors.GenericActor(core, jax.random.PRNGKey(0), None, num_envs=2)
    loop = rlkit.EnvironmentLoop(env, actor, logger=rlkit.loggers.NoOpLogger())
    results = loop.run(num_episodes=2)  # Pendulum truncates at 200 steps.
    assert [r["episode_length"] for r in results] == [200, 200]
    assert results[-1]["steps"] == 400
    env.close()


def test_parameters_already_on_the_actor_device_are_used_as_they_are(monkeypatch):
    # A learner in the same process serves committed arrays on the actor's device: moving
    # them again cost a dispatch per leaf every time the learner stepped.
    class Source(rlkit.VariableSource):
        def __init__(self, params):
            self.params = params

        def get_variables(self, names):
            return [self.params for _ in names]

    device = jax.devices("cpu")[0]
    moved = []
    real_device_put = jax.device_put
    monkeypatch.setattr(
        actors.jax, "device_put", lambda x, *a, **k: moved.append(x) or real_device_put(x, *a, **k)
    )
    on_device = {"w": real_device_put(np.ones(2, np.float32), device)}
    source = Source(on_device)
    actor = actors.GenericActor(
        noisy_core(), jax.random.PRNGKey(0), rlkit.jax.VariableClient(source), device=device
    )
    moved.clear()
    actor.select_action(np.zeros(1, np.float32))
    assert actor._params() is on_device and not moved
    source.params = {"w": np.ones(2, np.float32)}  # Host arrays: moved once, then reused.
    actor.update(wait=True)
    actor.select_action(np.zeros(1, np.float32))
    assert len(moved) == 1 and actor._params() is actor._params()
