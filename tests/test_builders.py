"""Every registered agent's builder keeps the builder interface, and its pieces fit together.

Layouts call builders by the interface's parameter names (`rlkit.builders`), so a builder
whose method drifts from the interface (a renamed or missing parameter, a new required one)
would fail only inside some layout. Here each method is compared with the interface's and
then called as a layout calls it.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from typing import ClassVar

import jax
import pytest

import rlkit
from rlkit import builders, replay
from rlkit.agents import registry

INTERFACE = [
    name
    for name, member in vars(builders.ActorLearnerBuilder).items()
    if callable(member) and not name.startswith("_")
]


def _parameters(function) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in inspect.signature(function).parameters.values()]


def _environment(entry: registry.AgentEntry):
    env_id = "CartPole-v1" if entry.supports("discrete") else "Pendulum-v1"
    return rlkit.make_environment(env_id, recipe=entry.resolve_recipe(env_id)), env_id


def test_the_interface_is_what_layouts_call():
    assert set(INTERFACE) >= {
        "make_replay_tables",
        "make_dataset_iterator",
        "make_adder",
        "make_batched_adder",
        "make_learner",
        "make_policy",
        "make_actor_policy",
        "make_actor",
        "learning_schedule",
    }


@pytest.mark.parametrize("name", registry.agent_names())
def test_builder_methods_take_the_interface_arguments(name):
    entry = registry.get_agent(name)
    environment, env_id = _environment(entry)
    config = entry.load_config(env_id)
    builder = entry.make_builder(config)
    for method in INTERFACE:
        own = getattr(type(builder), method)
        interface = getattr(builders.ActorLearnerBuilder, method)
        assert _parameters(own) == _parameters(interface), f"{name}: {method}"
    assert builder.num_envs is None or builder.num_envs >= 1

    spec = rlkit.make_environment_spec(environment)
    environment.close()
    networks = entry.make_networks(spec, config)
    if entry.value_function is not None:  # Every reference of the entry resolves.
        assert callable(entry.make_value_function(networks))
    policy = builder.make_policy(networks=networks, environment_spec=spec, evaluation=False)
    builder.make_policy(networks=networks, environment_spec=spec, evaluation=True)
    builder.make_actor_policy(networks=networks, environment_spec=spec, actor_index=1, num_actors=2)
    tables = builder.make_replay_tables(environment_spec=spec, policy=policy)
    server = replay.make_server([replay.for_one_process(t) for t in tables], "local")
    try:
        client = server.client()
        dataset = builder.make_dataset_iterator(replay_client=client)
        learner = builder.make_learner(
            random_key=jax.random.PRNGKey(0),
            networks=networks,
            dataset=dataset,
            logger=rlkit.loggers.NoOpLogger(),
            environment_spec=spec,
            replay_client=client,
            counter=None,
            device=None,
        )
        if builder.num_envs is None:
            adder = builder.make_adder(replay_client=client, environment_spec=spec, policy=policy)
        else:
            adder = builder.make_batched_adder(
                replay_client=client, environment_spec=spec, policy=policy, num_envs=2
            )
        actor = builder.make_actor(
            random_key=jax.random.PRNGKey(1),
            policy=policy,
            environment_spec=spec,
            variable_source=learner,
            adder=adder,
            num_envs=None if builder.num_envs is None else 2,
        )
        assert isinstance(actor, rlkit.Actor) and isinstance(learner, rlkit.Learner)
        assert isinstance(builder.learning_schedule(), builders.LearningSchedule)
        adder.close()
    finally:
        server.stop()


def test_a_layout_refuses_an_environment_the_config_does_not_act_in():
    from rlkit.agents import dqn
    from rlkit.agents.on_policy import OnPolicyBuilder, PPOConfig

    spec = rlkit.make_environment_spec(rlkit.make_environment("CartPole-v1"))
    for builder, num_envs, message in [
        (
            dqn.DQNBuilder(dqn.DQNConfig()),
            4,
            "acts in one plain environment .* batched environment of 4",
        ),
        (dqn.DQNBuilder(dqn.DQNConfig(num_envs=3)), None, "num_envs=3"),
        (OnPolicyBuilder(PPOConfig(num_envs=2)), 8, "num_envs=2"),
    ]:
        with pytest.raises(rlkit.ConfigError, match=message):
            builders.check_num_envs(builder, num_envs)
    builders.check_num_envs(dqn.DQNBuilder(dqn.DQNConfig(num_envs=3)), 3)
    with pytest.raises(rlkit.ConfigError, match="num_envs"):
        rlkit.LocalLayout(
            dqn.DQNBuilder(dqn.DQNConfig()),
            spec,
            dqn.make_networks(spec, dqn.DQNConfig()),
            num_envs=4,
        )


def test_the_architecture_pages_worked_example_adds_a_variant(tmp_path, monkeypatch):
    """docs/architecture.md's example, run as written: a config, a loss and a row."""
    import pathlib
    import re
    import sys

    import numpy as np

    from rlkit.agents import dqn
    from rlkit.agents.dqn import builder as dqn_builder

    page = pathlib.Path(__file__).resolve().parent.parent / "docs" / "architecture.md"
    (code,) = re.findall(r"```python\n# my_variant.py\n(.*?)```", page.read_text(), re.DOTALL)
    (tmp_path / "my_variant.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import my_variant

        entry = registry.get_agent("mse-dqn")
        assert entry.config_class is my_variant.MSEDQNConfig
        config = my_variant.MSEDQNConfig(hidden_sizes=(16,), min_replay_size=100)
        environment = rlkit.make_environment("CartPole-v1", seed=0)
        spec = rlkit.make_environment_spec(environment)
        agent = dqn.DQN(spec, config, learn_in_background=False)
        rlkit.EnvironmentLoop(environment, agent, logger=rlkit.loggers.NoOpLogger()).run(
            num_steps=400
        )
        assert agent.learner.state.steps > 0  # SGD steps on the new loss.
        params = agent.learner.state.params
        assert all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(params))
        agent.close()
    finally:
        registry._AGENTS.pop("mse-dqn", None)
        dqn_builder.VARIANTS.pop(getattr(sys.modules.get("my_variant"), "MSEDQNConfig", None), None)
        sys.modules.pop("my_variant", None)


def test_a_renamed_name_says_its_new_name():
    from rlkit.agents import dqn

    with pytest.raises(AttributeError, match="dqn.SGDLearner is now .*dqn.DQNLearner"):
        dqn.SGDLearner  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchName'"):
        dqn.NoSuchName  # noqa: B018


def test_a_config_that_still_chooses_its_variant_the_old_way_is_refused():
    """A subclass with an old hook would silently train its base's agent: refused, naming
    the table its row belongs in; a dataclass field of the same name is only data."""
    import dataclasses

    from rlkit.agents import actor_critic, dqn, on_policy

    class OwnLoss(dqn.DQNConfig):
        def make_loss(self):
            return None

    @dataclasses.dataclass
    class LossByName(on_policy.PPOConfig):
        loss: ClassVar[str] = "a2c"

    @dataclasses.dataclass
    class OneCritic(actor_critic.TD3Config):
        num_critics: ClassVar[int] = 1

    @dataclasses.dataclass
    class OptimizerField(on_policy.PPOConfig):
        optimizer: str = "mine"  # A key of the user's config, not a hook.

    for builder, config, hook in [
        (dqn.DQNBuilder, OwnLoss(), "make_loss"),
        (on_policy.OnPolicyBuilder, LossByName(), "loss"),
        (actor_critic.ActorCriticBuilder, OneCritic(), "num_critics"),
    ]:
        with pytest.raises(rlkit.ConfigError, match=f"defines {hook}: .* a row of .*VARIANTS"):
            builder(config)
    assert on_policy.OnPolicyBuilder(OptimizerField()).num_envs == 1
    with pytest.raises(rlkit.ConfigError, match="OnPolicyConfig names no agent .*VARIANTS"):
        on_policy.OnPolicyBuilder(on_policy.OnPolicyConfig())


def test_a_rollout_schedule_runs_every_round_that_is_due():
    from rlkit.agents.on_policy import RolloutSchedule

    class Adder:
        items_written, flushes = 0, 0

        def flush(self):
            self.flushes += 1

    adder = Adder()
    schedule = RolloutSchedule(4, fetch_after_learning=True)
    schedule.attach(adder)
    assert schedule.learner_steps_due(0, 0) == 0
    adder.items_written = 9  # Two rounds of 4, and one item of the next.
    assert schedule.learner_steps_due(0, 0) == 2 and adder.flushes == 1
    assert schedule.learner_steps_due(0, 2) == 0
    adder.items_written = 12
    assert schedule.learner_steps_due(0, 2) == 1
    assert schedule.warm_up_again(100, 3) == 3  # Rollouts start again: nothing to wait for.
    with pytest.raises(ValueError, match="has no items_written count"):
        schedule.attach(object())


def test_a_resumed_run_with_a_target_and_no_evaluation_yet_is_not_finished():
    from types import SimpleNamespace

    run_experiment = importlib.import_module("rlkit.experiments.run_experiment")  # The module.

    config = SimpleNamespace(
        run_dir=None, description=None, max_num_actor_steps=1_000, target_return=100.0
    )
    assert not run_experiment._finished(config, 200, [])
    assert not run_experiment._finished(config, 200, [{"actor_steps": 100, "return_mean": 500}])
    assert run_experiment._finished(config, 200, [{"actor_steps": 200, "return_mean": 500}])
    assert run_experiment._finished(config, 1_000, [{"actor_steps": 1_000, "return_mean": 0}])


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="Ray is installed here")
def test_a_distributed_run_without_ray_says_so_before_touching_the_run_directory(tmp_path):
    from rlkit import experiments

    run_dir = tmp_path / "run"
    config = experiments.make_experiment_config(
        "dqn", "CartPole-v1", max_num_actor_steps=100, run_dir=str(run_dir)
    )
    with pytest.raises(
        rlkit.ConfigError, match=r"need Ray: pip install 'rlkit-jax\[distributed\]'"
    ):
        experiments.make_distributed_experiment(config, num_actors=1).run()
    assert not run_dir.exists()
