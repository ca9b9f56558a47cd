"""Configs: YAML files and key=value overrides on dataclass defaults, with one-line errors."""

import dataclasses

import pytest

from rlkit import configs, errors
from rlkit.agents import registry
from rlkit.agents.dqn import DQNConfig


def test_layers_apply_in_order(tmp_path):
    first = tmp_path / "a.yaml"
    first.write_text("learning_rate: 1.0e-3\nbatch_size: 32\nhidden_sizes: [64, 64]\n")
    second = tmp_path / "b.yaml"
    second.write_text("batch_size: 128\n")
    config = configs.load_config(
        DQNConfig, [str(first), str(second)], ["learning_rate=3e-4", "dueling=true"]
    )
    assert config.batch_size == 128  # The later file wins.
    assert config.learning_rate == pytest.approx(3e-4)  # --set wins over files.
    assert config.hidden_sizes == (64, 64) and config.dueling is True
    assert config.n_step == DQNConfig().n_step  # Untouched keys keep their defaults.


def test_int_values_for_float_keys_are_converted():
    assert (
        configs.load_config(DQNConfig, overrides=["samples_per_insert=64"]).samples_per_insert
        == 64.0
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["lr=1e-3"], "Unknown config key 'lr' in --set for DQNConfig; valid keys: batch_size,"),
        (["batch_size=big"], "Config key 'batch_size' in --set: 'big' is not a valid int"),
        (["batch_size=1.5"], "'batch_size'"),
        (["hidden_sizes=[a, b]"], "Config key 'hidden_sizes'"),
        (["dueling=maybe"], "'maybe' is not a valid bool"),
        (["batch_size"], "is not key=value"),
        (["batch_size=-4"], "DQNConfig.batch_size must be positive"),
    ],
)
def test_bad_overrides_are_one_line_config_errors(overrides, message):
    with pytest.raises(errors.ConfigError) as raised:
        configs.load_config(DQNConfig, overrides=overrides)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_file_errors(tmp_path):
    with pytest.raises(errors.ConfigError, match="not found"):
        configs.load_config(DQNConfig, [str(tmp_path / "missing.yaml")])
    broken = tmp_path / "broken.yaml"
    broken.write_text("learning_rate: [1,\n")
    with pytest.raises(errors.ConfigError, match="not valid YAML"):
        configs.load_config(DQNConfig, [str(broken)])
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(errors.ConfigError, match="must hold a mapping"):
        configs.load_config(DQNConfig, [str(listing)])
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("gamma: 0.9\n")
    with pytest.raises(errors.ConfigError, match=f"'gamma' in {unknown}"):
        configs.load_config(DQNConfig, [str(unknown)])


@pytest.mark.parametrize(
    "text, problem",
    [
        (  # PyYAML places this past the last line (line 3 of 2).
            "learning_rate: 0.001\nbatch_size: [64\n",
            "expected ',' or ']', but got the end of the file (while parsing a flow sequence "
            "started at line 2, column 13)",
        ),
        (
            "learning_rate: 0.001\n  batch_size: 64\n",
            "mapping values are not allowed here at line 2, column 13",
        ),
        (
            "learning_rate:\t0.001\nbatch_size: 64\n",
            "found character '\\t' that cannot start any token at line 1, column 15",
        ),
    ],
)
def test_yaml_syntax_errors_say_what_is_wrong_and_where(tmp_path, text, problem):
    broken = tmp_path / "broken.yaml"
    broken.write_text(text)
    with pytest.raises(errors.ConfigError) as raised:
        configs.load_config(DQNConfig, [str(broken)])
    assert str(raised.value) == f"Config file {str(broken)!r} is not valid YAML: {problem}."


def test_saved_config_round_trips(tmp_path):
    config = DQNConfig(hidden_sizes=(32, 16), learning_rate=5e-4, dueling=True)
    path = tmp_path / "saved.yaml"
    configs.save_config(config, str(path), header="a header")
    assert path.read_text().startswith("# a header\n")
    assert configs.load_config(DQNConfig, [str(path)]) == config


@pytest.mark.parametrize(
    "env_id", ["CartPole-v1", "MountainCar-v0", "Acrobot-v1", "LunarLander-v3"]
)
def test_shipped_dqn_configs_load(env_id):
    entry = registry.get_agent("dqn")
    path = entry.default_config_path(env_id)
    assert path is not None, f"no default config for {env_id}"
    config = configs.load_config(DQNConfig, [path])
    assert dataclasses.is_dataclass(config)


def test_cartpole_yaml_is_the_dataclass_default():
    path = registry.get_agent("dqn").default_config_path("CartPole-v1")
    assert configs.load_config(DQNConfig, [path]) == DQNConfig()


def test_environment_keys_and_unknown_agents():
    assert registry.environment_key("CartPole-v1") == "cartpole"
    assert registry.environment_key("ALE/Pong-v5") == "pong"
    assert registry.get_agent("dqn").default_config_path("Pendulum-v1") is None
    with pytest.raises(
        registry.UnknownAgentError, match="Unknown agent 'ppo9'; choose one of: .*dqn, c51"
    ):
        registry.get_agent("ppo9")


def test_replay_config_checks_any_agent_config_built_on_it():
    from rlkit.agents.replay_config import ReplayConfig

    @dataclasses.dataclass
    class ActorCriticConfig(ReplayConfig):
        tau: float = 0.005

    config = ActorCriticConfig(batch_size=256, samples_per_insert=256.0, transitions_per_item=1)
    assert config.items_per_learner_step == 256 * 8
    assert config.observations_per_learner_step == 8.0
    assert config.min_replay_items == 1000
    for kwargs, message in [
        (dict(batch_size=0), "ActorCriticConfig.batch_size must be positive"),
        (dict(tau="soft"), "ActorCriticConfig.tau must be of type float"),
        (dict(priority_exponent=1.5), r"priority_exponent must be in \[0, 1\]"),
        (dict(min_replay_size=10, max_replay_size=5), "exceeds max_replay_size"),
        (dict(batch_size=6, num_sgd_steps_per_step=1), "multiple of transitions_per_item"),
    ]:
        with pytest.raises(errors.ConfigError, match=message):
            ActorCriticConfig(**kwargs)
