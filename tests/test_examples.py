"""The examples run as documented."""

import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_custom_agent_solves_deterministic_frozenlake():
    custom_agent = load("custom_agent")
    assert issubclass(custom_agent.TabularQLearner, custom_agent.rlkit.Learner)
    assert issubclass(custom_agent.EpsilonGreedyActor, custom_agent.rlkit.Actor)
    assert custom_agent.main(num_episodes=300, seed=0) == 1.0


def test_two_line_script_is_the_readme_script():
    readme = (EXAMPLES.parent / "README.md").read_text()
    script = (EXAMPLES / "two_line_dqn.py").read_text()
    for line in (
        'env = rlkit.make_environment("CartPole-v1", seed=0)',
        "agent = dqn.DQN(rlkit.specs.make_environment_spec(env), dqn.DQNConfig(), seed=0)",
        "rlkit.EnvironmentLoop(env, agent).run(num_steps=50_000)",
    ):
        assert line in script and line in readme


@pytest.mark.slow
def test_experiment_example_trains_and_resumes(tmp_path, capsys):
    experiment = load("experiment")
    run_dir = str(tmp_path / "run")
    experiment.main(run_dir, steps=1_500)
    experiment.main(run_dir, steps=2_000)
    out = capsys.readouterr().out
    assert "1500 steps: evaluation return" in out and "resumed from step 1500" in out
    assert "2000 steps: evaluation return" in out and "saved policy: dqn on CartPole-v1" in out


def test_distributed_example_runs_on_local_ray(capsys):
    import pytest

    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("reverb") is None:
        pytest.skip("needs the distributed and reverb extras")
    distributed_dqn = load("distributed_dqn")
    distributed_dqn.main(num_actors=1, steps=1_000)
    out = capsys.readouterr().out
    assert "learner steps in" in out and "with 1 actors" in out


def test_the_readme_config_and_search_space_files_are_shipped_and_load():
    import dataclasses

    from rlkit import configs
    from rlkit.agents import dqn
    from rlkit.experiments import tuning

    readme = (EXAMPLES.parent / "README.md").read_text()
    assert "examples/my.yaml" in readme and "examples/space.yaml" in readme
    config = configs.load_config(dqn.DQNConfig, [str(EXAMPLES / "my.yaml")], ["batch_size=128"])
    assert config.hidden_sizes == (128, 128) and config.batch_size == 128
    space = tuning.load_search_space(str(EXAMPLES / "space.yaml"), dqn.DQNConfig)
    assert set(space) <= {field.name for field in dataclasses.fields(config)}
