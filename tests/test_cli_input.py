"""What a new user types at `rlkit`: agents listed for the action space, env kwargs checked,
list-valued --set, bare `rlkit` and --version, a file for a run dir, --env-module, --seeds,
and the distributed default run dir."""

import importlib.metadata
import os
import pathlib
import subprocess
import sys
import textwrap

import gymnasium
import pytest

from rlkit import configs, environments, errors
from rlkit.agents import registry
from rlkit.agents.dqn import DQNConfig
from rlkit.cli import main as cli

RLKIT = str(pathlib.Path(sys.executable).parent / "rlkit")
TINY = ["--set", "min_replay_size=100", "--set", "hidden_sizes=32,32"]


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str) -> str:
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("rlkit: error: ") and not err.startswith("rlkit: error: rlkit"), err
    return err


# 1. Agents that cannot act in the environment's action space name the ones that can.


def test_a_continuous_agent_on_discrete_actions_lists_only_discrete_agents(capsys):
    code, _, err = run_cli(capsys, "train", "sac", "--env", "CartPole-v1", "--steps", "10")
    one_line_error(code, err)
    listed = err.split("For discrete actions use one of: ")[1].rstrip(".\n").split(", ")
    assert listed == registry.agents_for("discrete")
    assert {"dqn", "ppo"} <= set(listed) and not {"sac", "td3", "ddpg", "d4pg"} & set(listed)


def test_agents_for_reads_the_action_spaces_each_agent_declares():
    assert "ppo" in registry.agents_for("continuous") and "ppo" in registry.agents_for("discrete")
    assert "dqn" not in registry.agents_for("continuous")
    assert "sac" not in registry.agents_for("discrete")


# 2. --env-arg values are YAML scalars checked against the environment's constructor.


@pytest.mark.parametrize(
    "env_id, pairs, expected",
    [
        ("FrozenLake-v1", ["is_slippery=false"], {"is_slippery": False}),
        ("FrozenLake-v1", ["success_rate=1"], {"success_rate": 1}),  # An int for a float.
        ("FrozenLake-v1", ["map_name=8x8"], {"map_name": "8x8"}),
        ("CartPole-v1", ["max_episode_steps=50"], {"max_episode_steps": 50}),  # make's own.
        ("MountainCarContinuous-v0", ["goal_velocity=0.5"], {"goal_velocity": 0.5}),  # Int 0.
        ("Pendulum-v1", ["g=9.81"], {"g": 9.81}),  # Unannotated float default.
    ],
)
def test_env_args_that_fit_the_constructor_pass(env_id, pairs, expected):
    kwargs = cli._env_kwargs(pairs)
    assert kwargs == expected and [type(v) for v in kwargs.values()] == [
        type(v) for v in expected.values()
    ]
    environments.check_environment_kwargs(env_id, kwargs)


@pytest.mark.parametrize(
    "env_id, kwargs, message",
    [
        ("FrozenLake-v1", {"is_slippery": "maybe"}, "'is_slippery' expects a bool, got 'maybe'"),
        ("CartPole-v1", {"sutton_barto_reward": 1}, "expects a bool, got 1 (int)"),
        ("FrozenLake-v1", {"success_rate": "high"}, "'success_rate' expects a float"),
        ("CartPole-v1", {"max_episode_steps": 2.5}, "'max_episode_steps' expects an int"),
        ("FrozenLake-v1", {"map_name": 8}, "quote it: map_name='8'"),
        ("MountainCarContinuous-v0", {"goal_velocity": "fast"}, "expects an int or float"),
        ("FrozenLake-v1", {"is_slipery": True}, "Did you mean is_slippery?"),
        ("CartPole-v1", {"size": 4}, "keyword arguments: sutton_barto_reward, render_mode"),
    ],
)
def test_env_args_that_do_not_fit_name_the_problem(env_id, kwargs, message):
    with pytest.raises(errors.ConfigError) as raised:
        environments.check_environment_kwargs(env_id, kwargs)
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.fixture
def registered():
    """Registers gymnasium ids for one test and removes them afterwards."""
    ids = []

    def register(env_id, entry_point, **kwargs):
        gymnasium.register(env_id, entry_point=entry_point, **kwargs)
        ids.append(env_id)

    yield register
    for env_id in ids:
        gymnasium.registry.pop(env_id, None)


class _AnyKeywords(gymnasium.Env):
    def __init__(self, scale: float = 1.0, **kwargs):
        self.kwargs = kwargs


def test_env_args_pass_through_where_the_signature_says_nothing(registered):
    registered("RlkitAnyKeywords-v0", _AnyKeywords)
    # **kwargs takes any keyword; the named parameter is still checked.
    environments.check_environment_kwargs("RlkitAnyKeywords-v0", {"anything": "goes"})
    with pytest.raises(errors.ConfigError, match="'scale' expects a float"):
        environments.check_environment_kwargs("RlkitAnyKeywords-v0", {"scale": "big"})
    registered("RlkitNoModule-v0", "no_such_module_for_rlkit:Env")  # Cannot be read.
    environments.check_environment_kwargs("RlkitNoModule-v0", {"anything": 1})


def test_a_bad_env_arg_is_one_line_before_training(capsys, tmp_path):
    code, _, err = run_cli(
        capsys, "train", "dqn", "--env", "FrozenLake-v1", "--env-arg", "is_slippery=maybe",
        "--run-dir", tmp_path / "run",
    )  # fmt: skip
    assert "expects a bool, got 'maybe' (str); use true or false" in one_line_error(code, err)
    assert not (tmp_path / "run").exists()
    code, _, err = run_cli(
        capsys, "tune", "dqn", "--env", "FrozenLake-v1", "--trials", "1",
        "--env-arg", "map_nam=8x8",
    )  # fmt: skip
    assert "Did you mean map_name?" in one_line_error(code, err)


# 3. --set key=1,2 for a list-valued key.


@pytest.mark.parametrize(
    "override, expected",
    [("hidden_sizes=64,64", (64, 64)), ("hidden_sizes=16", (16,)), ("hidden_sizes= 8, 4", (8, 4))],
)
def test_comma_separated_values_set_a_list_valued_key(override, expected):
    assert configs.load_config(DQNConfig, overrides=[override]).hidden_sizes == expected


def test_a_bad_list_value_names_both_forms_and_keeps_the_type_check(capsys):
    with pytest.raises(errors.ConfigError) as raised:
        configs.load_config(DQNConfig, overrides=["hidden_sizes=64,x"])
    message = str(raised.value)
    assert "'hidden_sizes'" in message and "hidden_sizes=[64,64] or hidden_sizes=64,64" in message
    with pytest.raises(errors.ConfigError, match="Unknown config key 'hidden_size'"):
        configs.load_config(DQNConfig, overrides=["hidden_size=64,64"])
    assert configs.load_config(DQNConfig, overrides=["batch_size=32"]).batch_size == 32


# 4. Bare `rlkit`, --version and argparse's errors.


def test_bare_rlkit_prints_the_usage_and_the_commands(capsys):
    code, out, err = run_cli(capsys)
    assert code == 2 and out == ""
    assert err.startswith("usage: rlkit") and "error" not in err
    for command in ("agents", "train", "eval", "play", "plot", "tune"):
        assert f"\n    {command} " in err, command


def test_version_prints_the_installed_distributions_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code in (0, None)
    try:
        expected = importlib.metadata.version("rlkit-jax")
    except importlib.metadata.PackageNotFoundError:
        expected = importlib.metadata.version("rlkit")
    assert capsys.readouterr().out == f"rlkit {expected}\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], None),
        (["train", "dqn"], "arguments are required: --env (see `rlkit train --help`)"),
        (["fly"], "invalid choice: 'fly'"),
        (["eval"], "required: run_dir (see `rlkit eval --help`)"),
    ],
)
def test_argparse_errors_say_rlkit_once(argv, message):
    result = subprocess.run([RLKIT, *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "rlkit: error: rlkit" not in result.stderr
    if message is not None:
        assert message in result.stderr and result.stderr.count("\n") == 1


# 5. A file where a run directory belongs.


@pytest.mark.parametrize("command", ["eval", "play"])
def test_a_file_for_a_run_dir_names_the_run_dir_it_is_in(capsys, tmp_path, command):
    run_dir = tmp_path / "run"
    (run_dir / "policy").mkdir(parents=True)
    (run_dir / "experiment.yaml").write_text("agent: dqn\n")
    (run_dir / "config.yaml").write_text("batch_size: 32\n")
    (run_dir / "policy" / "policy.json").write_text("{}")
    for path in (run_dir / "config.yaml", run_dir / "policy" / "policy.json"):
        code, _, err = run_cli(capsys, command, path)
        message = one_line_error(code, err)
        assert f"{command} expects a run directory" in message
        assert f"got the file {path}; use: rlkit {command} {run_dir}\n" in message
    loose = tmp_path / "notes.txt"
    loose.write_text("")
    code, _, err = run_cli(capsys, command, loose)
    assert "expects a run directory" in one_line_error(code, err) and "use:" not in err


# 6. --env-module registers ids before --env is resolved; eval and play import it again.

ENV_MODULE = """
import gymnasium

gymnasium.register(
    "{env_id}",
    entry_point="gymnasium.envs.classic_control.cartpole:CartPoleEnv",
    max_episode_steps=50,
)
"""


@pytest.fixture
def clean_imports(monkeypatch):
    """Undoes what importing an --env-module in this process does (the test modules only:
    rlkit's own, imported on the way, stay)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before_ids = set(gymnasium.registry)
    yield
    for name in [name for name in sys.modules if name.startswith("rlkit_")]:
        del sys.modules[name]
    for env_id in set(gymnasium.registry) - before_ids:
        del gymnasium.registry[env_id]


def test_env_module_in_the_working_directory_registers_the_id(
    capsys, tmp_path, monkeypatch, clean_imports
):
    (tmp_path / "rlkit_cwd_envs.py").write_text(ENV_MODULE.format(env_id="RlkitCwdPole-v0"))
    monkeypatch.chdir(tmp_path)
    # The id resolves (its constructor's keywords are checked): the module was imported.
    code, _, err = run_cli(
        capsys, "train", "dqn", "--env", "RlkitCwdPole-v0", "--env-module", "rlkit_cwd_envs",
        "--env-arg", "bogus=1",
    )  # fmt: skip
    assert "RlkitCwdPole-v0 takes no keyword argument 'bogus'" in one_line_error(code, err)


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "dqn", "--env", "CartPole-v1"],
        ["tune", "dqn", "--env", "CartPole-v1", "--trials", "1"],
        ["eval", "."],
        ["play", "."],
    ],
    ids=lambda argv: argv[0],
)
def test_an_env_module_that_cannot_be_imported_is_one_line(capsys, argv, clean_imports):
    code, _, err = run_cli(capsys, *argv, "--env-module", "rlkit_no_such_envs.sub")
    message = one_line_error(code, err)
    assert "--env-module 'rlkit_no_such_envs.sub' cannot be imported" in message
    assert "No module named 'rlkit_no_such_envs'" in message


def test_unknown_env_id_suggests_env_module(capsys):
    code, _, err = run_cli(capsys, "train", "dqn", "--env", "RlkitNowhere-v0")
    assert "--env-module MODULE" in one_line_error(code, err)


@pytest.mark.slow
def test_eval_and_play_import_the_env_module_the_run_was_trained_with(tmp_path):
    package = tmp_path / "site" / "rlkit_test_envs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "envs.py").write_text(ENV_MODULE.format(env_id="RlkitShortPole-v0"))
    path = [str(tmp_path / "site"), *filter(None, [os.environ.get("PYTHONPATH")])]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}

    def rlkit(*argv):
        result = subprocess.run(
            [RLKIT, *argv], capture_output=True, text=True, timeout=300, cwd=tmp_path,
            env=environment,
        )  # fmt: skip
        return result.returncode, result.stdout, result.stderr

    code, out, err = rlkit(
        "train", "dqn", "--env", "RlkitShortPole-v0", "--env-module", "rlkit_test_envs.envs",
        "--steps", "200", "--eval-every", "0", "--eval-episodes", "1", "--run-dir", "run",
        "--logger", "none", *TINY,
    )  # fmt: skip
    assert code == 0, err[-3000:]
    saved = configs.read_yaml(str(tmp_path / "run" / "experiment.yaml"))
    assert saved["env_modules"] == ["rlkit_test_envs.envs"]
    code, out, err = rlkit("eval", "run", "--episodes", "1")
    assert code == 0 and "dqn on RlkitShortPole-v0: return" in out, err[-3000:]
    code, out, err = rlkit("play", "run/policy")  # Its policy/ folder works too.
    assert code == 0 and "episode 1: return" in out, err[-3000:]


# 7. --seeds: one run per seed, --jobs at once, each run's result and their mean and std.


@pytest.mark.parametrize(
    "text, seeds",
    [("0-2", [0, 1, 2]), ("0,1,2", [0, 1, 2]), ("0-2,5", [0, 1, 2, 5]), ("3, 1-2,3", [3, 1, 2])],
)
def test_seed_lists(text, seeds):
    assert cli._seed_list(text) == seeds


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "2-0"], "expected seeds in [0, 2**32) like 0-2"),
        (["--seeds", "a"], "expected seeds"),
        (["--seeds", "0-5000"], "at most 1000 seeds"),
        (["--seed", "0", "--seeds", "0-2"], "give --seed S (one run) or --seeds 0-2"),
        (["--jobs", "2"], "give --seeds too"),
        (["--distributed", "--env-module", "os"], "not passed on to the Ray workers"),
        (["--seeds", "0-1", "--jobs", "0"], "positive integer"),
        (["--checkpoint-minutes", "0"], "expected a positive number, got '0'"),
        (["--checkpoint-minutes", "ten"], "expected a positive number, got 'ten'"),
    ],
)
def test_bad_seed_and_env_module_options_are_one_line(capsys, argv, message):
    code, _, err = run_cli(capsys, "train", "dqn", "--env", "CartPole-v1", *argv)
    assert message in one_line_error(code, err)


def test_seeds_default_run_dirs_are_the_one_seed_ones(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    started = tmp_path / "runs" / "dqn_cartpole_seed1"
    started.mkdir(parents=True)
    (started / "experiment.yaml").write_text("agent: dqn\nenv_id: CartPole-v1\nlayout: x\n")
    # Every run dir is checked before any run starts: the command line is wrong for seed 1.
    code, _, err = run_cli(capsys, "train", "dqn", "--env", "CartPole-v1", "--seeds", "0-1")
    assert "run dir runs/dqn_cartpole_seed1 was started" in one_line_error(code, err)
    assert not (tmp_path / "runs" / "dqn_cartpole_seed0").exists()


@pytest.mark.slow
def test_seeds_run_in_parallel_report_each_and_the_mean_and_name_a_failed_one(capsys, tmp_path):
    run_dir = tmp_path / "run"
    (tmp_path / "run_seed1").write_text("a file where seed 1's run dir goes: that run fails")
    code, out, err = run_cli(
        capsys, "train", "dqn", "--env", "CartPole-v1", "--seeds", "0-2", "--jobs", "2",
        "--steps", "200", "--eval-every", "0", "--eval-episodes", "1", "--run-dir", run_dir,
        *TINY,
    )  # fmt: skip
    assert code == 1, err[-3000:]
    for seed in (0, 2):
        saved = configs.read_yaml(str(tmp_path / f"run_seed{seed}" / "experiment.yaml"))
        assert saved["seed"] == seed and saved["agent_config"]["hidden_sizes"] == [32, 32]
        assert f"[seed {seed}] dqn on CartPole-v1: evaluation return" in out
        assert f"\nseed {seed}: evaluation return " in out
    assert "\nseed 1: failed with exit status 1" in out
    assert "dqn on CartPole-v1 over 2 of 3 seeds: evaluation return mean " in out
    last = err.splitlines()[-1]
    assert last == f"rlkit: error: 1 of 3 runs failed: seed 1 ({tmp_path}/run_seed1)"


# 8. A distributed run's default run dir is not a one-process run's.


def test_distributed_runs_default_to_their_own_run_dir(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_process = tmp_path / "runs" / "dqn_cartpole_seed0"
    one_process.mkdir(parents=True)
    (one_process / "experiment.yaml").write_text(
        textwrap.dedent("""\
            agent: dqn
            env_id: CartPole-v1
            layout: one-process
        """)
    )
    distributed = tmp_path / "runs" / "dqn_cartpole_distributed_seed0"
    distributed.mkdir()
    # Stands for a distributed run started with other settings: refused, which names the
    # directory the command picked without training anything.
    (distributed / "experiment.yaml").write_text("agent: dqn\nlayout: distributed\n")
    code, _, err = run_cli(capsys, "train", "dqn", "--env", "CartPole-v1", "--distributed")
    assert "run dir runs/dqn_cartpole_distributed_seed0 was started" in one_line_error(code, err)


def test_a_run_dir_from_before_a_config_key_was_added_still_resumes(tmp_path):
    """A key the saved config lacks counts as its default (e.g. the actor-critics'
    `num_envs`, added to every off-policy config): the run resumes; another value of it,
    or of a saved key, is refused."""
    from rlkit.agents.actor_critic import SACConfig

    current = configs.config_to_dict(SACConfig())
    defaults = configs.config_to_dict(SACConfig())
    summary = {
        "agent": "sac",
        "env_id": "Pendulum-v1",
        "env_recipe": "continuous",
        "env_kwargs": {},
        "seed": 0,
        "agent_config": current,
        "layout": "one-process",
    }
    saved = {**summary, "agent_config": {k: v for k, v in current.items() if k != "num_envs"}}
    path = tmp_path / "experiment.yaml"
    configs.write_yaml(str(path), saved)
    cli._check_run_dir_matches(str(path), summary, defaults)
    changed = {**summary, "agent_config": {**current, "num_envs": 4}}
    with pytest.raises(cli.CommandError, match=r"different agent config \(num_envs\)"):
        cli._check_run_dir_matches(str(path), changed, defaults)
    changed = {**summary, "agent_config": {**current, "batch_size": 64}}
    with pytest.raises(cli.CommandError, match=r"different agent config \(batch_size\)"):
        cli._check_run_dir_matches(str(path), changed, defaults)
