"""`rlkit`: train, evaluate, watch, plot and tune agents from the terminal.

    rlkit agents
    rlkit train AGENT --env ENV_ID [--env-arg KEY=VALUE ...] [--env-module MODULE ...]
                [--config FILE] [--set key=value ...] [--steps N] [--target-return R]
                [--seed S | --seeds 0-2,5 [--jobs N]] [--run-dir DIR]
                [--logger csv,tensorboard,wandb]
                [--replay-backend auto|local|reverb] [--device auto|cpu|gpu]
                [--env-recipe auto|gymnasium|continuous|atari]
                [--distributed [--num-actors N] [--ray-address ADDR]]
    rlkit eval RUN_DIR [--episodes N] [--env-module MODULE ...]
    rlkit play RUN_DIR [--video out.gif|out.mp4] [--episodes N] [--env-module MODULE ...]
    rlkit plot RUN_DIR [RUN_DIR ...] [--out curves.png]
    rlkit plot RUN_DIR --values [--out values.png]
    rlkit tune AGENT --env ENV_ID --trials N [--space space.yaml] [--out best.yaml]
    rlkit serve-env [--host 127.0.0.1] [--port 8765] [--token T] [--allow ID ...]
                    [--max-envs N] [--idle-timeout SECONDS] [--env-module MODULE ...]
    rlkit --version

Bad input (an unknown agent, environment or config key, a missing run directory, an agent
that cannot act in the environment) prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EXPERIMENT_FILE = "experiment.yaml"


class CommandError(Exception):
    """A user mistake: printed as one line, exit status 2."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: ...)" to every option that has a default not already in its help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        default = action.default
        # Identity checks: a default of 0 is a default to show (0 == False).
        unset = default is None or default is False or default is argparse.SUPPRESS
        if unset or default == [] or "default" in help_text:
            return help_text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        # `_main` prefixes "rlkit: error:"; the command's help is where the fix is.
        raise CommandError(f"{message} (see `{self.prog} --help`)")


def _version() -> str:
    """The installed distribution's version (published as rlkit-jax, formerly rlkit)."""
    import importlib.metadata

    for distribution in ("rlkit-jax", "rlkit"):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            pass
    import rlkit

    return getattr(rlkit, "__version__", "unknown")


class _VersionAction(argparse.Action):
    """`--version`: looks the version up only when asked (package metadata is a disk scan)."""

    def __init__(
        self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None
    ):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"rlkit {_version()}")
        parser.exit()


def _integer(minimum: int, limit: int | None, expected: str):
    """An argparse type: an int in [minimum, limit), else "expected {expected}"."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (limit is not None and value >= limit):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _integer(1, None, "a positive integer")


def _positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


_non_negative_int = _integer(0, None, "an integer >= 0")
_seed = _integer(0, 2**32, "a seed in [0, 2**32)")
MAX_SEEDS = 1000


def _seed_list(text: str) -> list[int]:
    """An argparse type: `0-2,5` -> [0, 1, 2, 5] (ranges inclusive, repeats dropped)."""
    seeds: dict[int, None] = {}  # Ordered and without repeats.
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            low = _seed(first.strip())
            high = _seed(last.strip()) if dash else low
        except argparse.ArgumentTypeError:
            low = high = None
        if low is None or high < low:
            raise argparse.ArgumentTypeError(
                f"expected seeds in [0, 2**32) like 0-2, 0,1,2 or 0-2,5, got {text!r}"
            )
        if high - low + len(seeds) >= MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"at most {MAX_SEEDS} seeds, got {text!r}")
        seeds.update(dict.fromkeys(range(low, high + 1)))
    return list(seeds)


def _add_env_module_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first, for the gymnasium ids it registers (repeatable; on "
        "PYTHONPATH or in the working directory; train records it for eval and play) "
        "(default: none)",
    )


def _add_env_arg_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword argument for gymnasium.make (e.g. is_slippery=false)",
    )


def _add_agent_arguments(parser: argparse.ArgumentParser) -> None:
    """`AGENT --env ENV_ID`: what train and tune run."""
    parser.add_argument("agent", help="agent name (see `rlkit agents`)")
    parser.add_argument("--env", required=True, help="gymnasium environment id")


def _add_set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )


def _add_run_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory written by `rlkit train`")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rlkit", description="Reinforcement learning on JAX.")
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    # Not required: a bare `rlkit` prints the help (in `_main`), not a one-line error.
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.add_parser("agents", help="list the agents and the action spaces they support")
    _add_train_parser(commands)
    _add_eval_parser(commands)
    _add_play_parser(commands)
    _add_plot_parser(commands)
    _add_tune_parser(commands)
    _add_serve_env_parser(commands)
    return parser


def _add_train_parser(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train an agent on a gymnasium environment")
    train.set_defaults(command_parser=train)  # --seeds rebuilds each run's command line.
    _add_agent_arguments(train)
    train.add_argument(
        "--config",
        action="append",
        default=[],
        help="YAML config file (default: the agent's YAML for the env, if it ships one)",
    )
    _add_set_option(train)
    _add_env_arg_option(train)
    _add_env_module_option(train)
    train.add_argument("--steps", type=_positive_int, default=50_000, help="env step budget")
    train.add_argument(
        "--target-return",
        type=float,
        help="stop once evaluation reaches it (default: none, run all the steps)",
    )
    train.add_argument(
        "--patience",
        type=_positive_int,
        help="stop after this many evaluations without a better return (default: none)",
    )
    train.add_argument(
        "--continue",
        dest="continue_stopped",
        action="store_true",
        help="train on a run that stopped early (--target-return, --patience) towards --steps",
    )
    train.add_argument(
        "--no-keep-best",
        dest="keep_best",
        action="store_false",
        help="do not keep the best evaluated policy in RUN_DIR/policy_best (rlkit eval --best)",
    )
    _add_train_seed_options(train)
    train.add_argument(
        "--run-dir",
        help="where the run is written; rerun to resume; --seeds appends _seedS (default: "
        "runs/AGENT_ENV_seedS, runs/AGENT_ENV_distributed_seedS with --distributed)",
    )
    train.add_argument(
        "--logger", default="csv", help="comma-separated: csv, tensorboard, wandb (and none)"
    )
    _add_train_schedule_options(train)
    _add_train_backend_options(train)
    _add_train_distributed_options(train)


def _add_train_seed_options(train: argparse.ArgumentParser) -> None:
    """`--seed`, or `--seeds` (one run per seed) with `--jobs` of them at once."""
    # No default here: --seed next to --seeds is an error, even `--seed 0`.
    train.add_argument("--seed", type=_seed, help="seeds the agent and the env (default: 0)")
    train.add_argument(
        "--seeds",
        type=_seed_list,
        metavar="SEEDS",
        help="one run per seed, e.g. 0-2, 0,1,2 or 0-2,5; prints each run's final evaluation "
        "and their mean and std (default: none, one run with --seed)",
    )
    train.add_argument(
        "--jobs",
        type=_positive_int,
        default=1,
        help="--seeds runs at once (each a subprocess, its lines prefixed with its seed)",
    )


def _add_train_schedule_options(train: argparse.ArgumentParser) -> None:
    """When a training run evaluates and checkpoints."""
    train.add_argument(
        "--eval-every",
        type=_non_negative_int,
        default=None,
        help="env steps between evaluations (default: a tenth of --steps; 0: only at the end)",
    )
    train.add_argument(
        "--eval-episodes", type=_positive_int, default=5, help="greedy episodes per evaluation"
    )
    train.add_argument(
        "--checkpoint-every",
        type=_non_negative_int,
        default=None,
        help="env steps between checkpoints (default: by wall-clock, every "
        "--checkpoint-minutes; 0: only at the end)",
    )
    train.add_argument(
        "--checkpoint-minutes",
        type=_positive_float,
        default=10.0,
        help="minutes between checkpoints when --checkpoint-every is not given (as Acme's "
        "checkpointer); a run also checkpoints at its end and on Ctrl-C or SIGTERM",
    )


def _add_train_backend_options(train: argparse.ArgumentParser) -> None:
    """Where a training run keeps its replay, how it builds its env, where it learns."""
    from rlkit.devices import DEVICES  # Names only: no JAX.
    from rlkit.layouts import LAYOUTS
    from rlkit.recipes import RECIPES, VECTOR_BACKENDS
    from rlkit.replay import base as replay_base  # Names only: no JAX, no Reverb.

    train.add_argument(
        "--replay-backend",
        choices=replay_base.BACKENDS,
        default="auto",
        help="auto: in-process tables (local) for this single-process run, no open port; "
        "reverb: a Reverb server (needs rlkit-jax[reverb]; its port is open on all interfaces)",
    )
    train.add_argument(
        "--env-recipe",
        choices=RECIPES,
        default="auto",
        help="how the environment is built: auto = the Atari preprocessing for ALE/ ids, "
        "else the agent's own (continuous-control agents: continuous = actions rescaled to "
        "[-1, 1]; the others: gymnasium = gymnasium.make)",
    )
    train.add_argument(
        "--vector-backend",
        choices=VECTOR_BACKENDS,
        default="gymnasium",
        help="what steps a batched agent's environments (num_envs): gymnasium's vector envs, "
        "or envpool's C++ threads (rlkit-jax[envpool]; classic control, MuJoCo, Atari)",
    )
    train.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="auto",
        help="auto: anakin for a JAX environment (gymnax:...), else local; local: Python "
        "steps the environment; anakin: environment and agent jitted together",
    )
    train.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where the learner runs: auto = a GPU when JAX sees one, else the CPU "
        "(actors act on the CPU)",
    )


def _add_train_distributed_options(train: argparse.ArgumentParser) -> None:
    train.add_argument(
        "--distributed",
        action="store_true",
        help="train on Ray: a Reverb server, a learner and --num-actors environment actors "
        "(needs rlkit-jax[distributed,reverb]); resumes, logs and exports as a one-process run",
    )
    train.add_argument(
        "--num-actors",
        type=_positive_int,
        help="environment actors of a --distributed run (default: 2)",
    )
    train.add_argument(
        "--ray-address",
        help="a Ray cluster to join, e.g. HEAD:6379 (default: none, start a local Ray)",
    )


def _add_best_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--best",
        action="store_true",
        help="the best evaluated policy (policy_best/, kept by `rlkit train`) instead of the "
        "final one",
    )


def _add_eval_parser(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("eval", help="evaluate a trained policy")
    _add_run_dir_argument(evaluate)
    _add_best_option(evaluate)
    evaluate.add_argument("--episodes", type=_positive_int, default=10, help="greedy episodes")
    evaluate.add_argument("--seed", type=_seed, default=12_345, help="seeds the environment")
    _add_env_module_option(evaluate)


def _add_play_parser(commands: argparse._SubParsersAction) -> None:
    play = commands.add_parser("play", help="run a trained policy, optionally to a video")
    _add_run_dir_argument(play)
    _add_best_option(play)
    play.add_argument(
        "--video", help="write the episodes to a .gif or .mp4 (default: none, print returns)"
    )
    play.add_argument("--episodes", type=_positive_int, default=1, help="episodes to play")
    play.add_argument("--seed", type=_seed, default=0, help="seeds the environment")
    play.add_argument("--fps", type=float, help="video frame rate (default: the env's)")
    _add_env_module_option(play)


def _add_plot_parser(commands: argparse._SubParsersAction) -> None:
    plot = commands.add_parser(
        "plot", help="plot learning curves of runs, or one run's state values (--values)"
    )
    plot.add_argument("run_dirs", nargs="+", help="run directories, one curve each")
    plot.add_argument("--out", help="PNG to write (default: curves.png; values.png with --values)")
    plot.add_argument(
        "--aggregate",
        action="store_true",
        help="one curve per agent, env and config: the mean over its seeds' runs, with a "
        "min-max band; runs of differing lengths are noted, not cut (default: off)",
    )
    plot.add_argument(
        "--episodes",
        action="store_true",
        help="also plot training-episode returns (logs/episodes.parquet) in a panel below, "
        "with a rolling mean (default: off)",
    )
    plot.add_argument(
        "--smooth",
        type=_positive_int,
        default=20,
        metavar="EPISODES",
        help="episodes in the rolling mean of --episodes (default: 20)",
    )
    plot.add_argument(
        "--values",
        action="store_true",
        help="heatmaps of one run's greedy state values and actions (discrete or 2-D states)",
    )


def _add_tune_parser(commands: argparse._SubParsersAction) -> None:
    tune = commands.add_parser("tune", help="search hyperparameters with optuna")
    _add_agent_arguments(tune)
    tune.add_argument("--trials", type=_positive_int, required=True, help="optuna trials")
    _add_env_arg_option(tune)
    _add_env_module_option(tune)
    tune.add_argument("--space", help="search space YAML (default: the agent's)")
    tune.add_argument(
        "--config",
        action="append",
        default=[],
        help="base config YAML (default: the agent's YAML for the env, if it ships one)",
    )
    _add_set_option(tune)
    tune.add_argument("--steps", type=_positive_int, default=20_000, help="steps per trial")
    tune.add_argument(
        "--eval-every", type=_positive_int, default=2_000, help="env steps between evaluations"
    )
    tune.add_argument(
        "--eval-episodes", type=_positive_int, default=5, help="episodes per evaluation"
    )
    tune.add_argument("--seed", type=_seed, default=0, help="seeds the sampler and the runs")
    tune.add_argument("--out", help="best config YAML (default: runs/tune_AGENT_ENV/best.yaml)")


def _add_serve_env_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve-env",
        help="serve gymnasium environments to other machines (--env remote://HOST:PORT/ENV_ID)",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; one beyond loopback (0.0.0.0, a LAN address) needs a token",
    )
    serve.add_argument(
        "--port",
        type=_integer(0, 65536, "a port in [0, 65536)"),
        default=8765,
        help="port to listen on (0: a free one, printed at the start)",
    )
    serve.add_argument(
        "--token",
        help="clients must send it (their RLKIT_ENV_TOKEN) (default: $RLKIT_ENV_TOKEN, which "
        "keeps it out of the process list; none on loopback)",
    )
    serve.add_argument(
        "--allow",
        nargs="+",
        default=[],
        metavar="ID",
        help="serve only these ids or patterns, e.g. CartPole-v1 'ALE/*' (default: any id "
        "gymnasium knows)",
    )
    serve.add_argument(
        "--max-envs",
        type=_positive_int,
        default=64,
        help="environments held at once over all clients; more are refused until some close",
    )
    serve.add_argument(
        "--idle-timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="close a session that sends nothing for this long (default: never; vanished "
        "clients are dropped by keepalive pings)",
    )
    _add_env_module_option(serve)


def _list_agents() -> int:
    from rlkit.agents import registry

    names = registry.agent_names()
    width = max(map(len, names), default=0)
    for name in names:
        entry = registry.get_agent(name)
        print(f"{name:{width}s} {entry.description} (actions: {entry.action_spaces})")
    return 0


def _agent_config(agent: str, env_id: str, files: Sequence[str], overrides: Sequence[str]):
    """The agent's config: its YAML for the env (unless --config is given), then --set."""
    from rlkit.agents import registry

    entry = registry.get_agent(agent)
    return entry, entry.load_config(env_id, files, overrides)


def _env_kwargs(pairs: Sequence[str]) -> dict:
    """`KEY=VALUE` pairs for `gymnasium.make`; values are read as YAML (numbers, booleans)."""
    import yaml

    kwargs = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip().isidentifier():
            raise CommandError(
                f"--env-arg expects KEY=VALUE (e.g. is_slippery=false), got {pair!r}"
            )
        try:
            kwargs[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise CommandError(f"--env-arg {pair!r}: cannot read the value {value!r}") from None
    return kwargs


def _check_run_dir_matches(
    path: str, experiment: dict, config_defaults: dict | None = None
) -> None:
    """Refuses a run directory started with other settings. A config key the saved config
    lacks (added to the config class since) counts as its default: `config_defaults`."""
    from rlkit import configs

    if not os.path.isfile(path):
        return
    saved = configs.read_yaml(path)
    saved.setdefault("env_recipe", experiment["env_recipe"])  # Runs from before recipes.
    saved.setdefault("layout", "one-process")  # Runs from before distributed runs.
    if isinstance(saved.get("agent_config"), dict) and config_defaults:
        saved["agent_config"] = {**config_defaults, **saved["agent_config"]}
    if saved["layout"] != experiment["layout"]:
        flag = "with" if saved["layout"] == "distributed" else "without"
        raise CommandError(
            f"run dir {os.path.dirname(path)} was started {flag} --distributed and its "
            f"checkpoints hold that layout's state; rerun it {flag} --distributed, or pass a "
            "new --run-dir."
        )
    for key in ("agent", "env_id", "env_recipe", "env_kwargs", "seed", "agent_config"):
        if saved.get(key) != experiment[key]:
            if key == "agent_config" and isinstance(saved.get(key), dict):
                differs = sorted(
                    k for k in experiment[key] if saved[key].get(k) != experiment[key][k]
                )
                key = f"agent config ({', '.join(differs)})"
            raise CommandError(
                f"run dir {os.path.dirname(path)} was started with a different {key}; rerun "
                "with the same settings to resume it, or pass a new --run-dir."
            )


def _import_env_modules(modules: Sequence[str]) -> None:
    """Imports each `--env-module` (RL-Zoo's `--gym-packages`) for the gymnasium ids it
    registers; one that cannot be imported is a `CommandError`."""
    import importlib

    # The console script's sys.path holds its own folder, not the working directory that
    # `python -m` would add; a module next to the user's files is what they mean.
    if modules and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:  # Its own bug too: one line naming the module and why.
            problem = " ".join(f"{type(error).__name__}: {error}".split())
            raise CommandError(
                f"--env-module {module!r} cannot be imported ({problem}); give a module "
                "importable from the working directory or PYTHONPATH, e.g. my_package.envs."
            ) from None


def _unknown_environment_hint(error: Exception) -> CommandError:
    """An unknown id may be one that a module of the user's registers (not a JAX one)."""
    if str(error).startswith("Unknown JAX environment id"):
        return CommandError(str(error))
    return CommandError(f"{error} If a module of yours registers it: --env-module MODULE.")


def _default_run_dir(agent: str, env_id: str, seed: int, distributed: bool) -> str:
    from rlkit.agents import registry
    from rlkit.remote.address import is_remote_environment_id

    # Distributed runs checkpoint another layout: their own name, so the README's
    # one-process and distributed commands one after the other do not meet in one folder;
    # a served environment's runs neither meet a local one's.
    layout = "_distributed" if distributed else ""
    served = "_remote" if is_remote_environment_id(env_id) else ""
    key = registry.environment_key(env_id)
    return os.path.join("runs", f"{agent}_{key}{served}{layout}_seed{seed}")


def _prepare_train(args: argparse.Namespace):
    """Checks the command line before anything heavy loads: (agent entry, its config, env
    kwargs, env recipe, loggers). A mistake raises at once."""
    from rlkit import environments, errors

    if not args.distributed and (args.num_actors is not None or args.ray_address is not None):
        raise CommandError("--num-actors and --ray-address are for --distributed runs.")
    if args.distributed and args.env_module:
        # Ray's workers build the environment in processes of their own, which do not
        # import the module: the id would be unknown there, mid-run.
        raise CommandError(
            "--env-module is not passed on to the Ray workers of a --distributed run yet "
            "(they would not know the id); train without --distributed."
        )
    _import_env_modules(args.env_module)
    entry, agent_config = _agent_config(args.agent, args.env, args.config, args.set)
    env_kwargs = _env_kwargs(args.env_arg)
    kinds = [kind.strip() for kind in args.logger.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in ("csv", "tensorboard", "wandb", "none")]
    if unknown:
        raise CommandError(
            f"unknown logger {unknown[0]!r}; choose from csv, tensorboard, wandb, none."
        )
    env_recipe = entry.resolve_recipe(args.env, args.env_recipe)
    _check_layout(args)
    if env_recipe != "atari":  # Atari ids are checked by ale-py when the run starts.
        try:
            environments.check_environment_id(args.env)
        except errors.UnknownEnvironmentError as error:
            raise _unknown_environment_hint(error) from None
        environments.check_environment_kwargs(args.env, env_kwargs)
    loggers = ("terminal", "history", *(kind for kind in kinds if kind != "none"))
    return entry, agent_config, env_kwargs, env_recipe, loggers


def _check_layout(args: argparse.Namespace) -> None:
    """--layout against --distributed and the kind of environment."""
    from rlkit.jax_environments.ids import is_jax_environment_id

    jax_environment = is_jax_environment_id(args.env)
    if args.distributed and (jax_environment or args.layout != "auto"):
        raise CommandError(
            "--distributed runs gymnasium environments in Ray actors; environments written in "
            "JAX (gymnax:...) train in one process, compiled with the agent (--layout anakin)."
        )
    if args.layout == "anakin" and not jax_environment:
        raise CommandError(
            f"--layout anakin needs an environment written in JAX (e.g. gymnax:CartPole-v1), "
            f"not {args.env!r}; use --layout local (the default for gymnasium ids)."
        )


def _experiment_summary(args, entry, agent_config, env_kwargs, env_recipe, seed) -> dict:
    """What the run's experiment.yaml holds: how it was started, checked on resume."""
    from rlkit import configs

    summary = {
        "agent": entry.name,
        "env_id": args.env,
        "env_kwargs": env_kwargs,
        "env_recipe": env_recipe,
        "seed": seed,
        "steps": args.steps,
        "target_return": args.target_return,
        "agent_config": configs.config_to_dict(agent_config),
        "layout": _layout_name(args),
    }
    if getattr(args, "vector_backend", "gymnasium") != "gymnasium":  # A resume keeps it.
        summary["vector_backend"] = args.vector_backend
    if args.env_module:  # `rlkit eval` and `play` import them again.
        summary["env_modules"] = list(dict.fromkeys(args.env_module))
    return summary


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The `make_experiment_config` options `rlkit train` takes from its command line alike
    for one run and for --seeds."""
    return dict(
        max_num_actor_steps=args.steps,
        eval_every=args.eval_every,
        num_eval_episodes=args.eval_episodes,
        target_return=args.target_return,
        checkpoint_every=args.checkpoint_every,
        checkpoint_minutes=args.checkpoint_minutes,
        device=args.device,
        layout=args.layout,
        vector_backend=args.vector_backend,
    )


def _train_callbacks(args: argparse.Namespace) -> list[Any]:
    """A run's callbacks from the command line (each run of --seeds gets its own)."""
    from rlkit import experiments

    made = []
    if args.patience is not None:
        made.append(experiments.EarlyStopping(patience=args.patience))
    if args.keep_best:
        made.append(experiments.BestPolicy())
    return made


def _layout_name(args: argparse.Namespace) -> str:
    """The layout a run is trained in, as its experiment.yaml records it."""
    from rlkit.jax_environments.ids import is_jax_environment_id

    if args.distributed:
        return "distributed"
    jitted = args.layout == "auto" and is_jax_environment_id(args.env)
    return "anakin" if jitted or args.layout == "anakin" else "one-process"


def _train(args: argparse.Namespace) -> int:
    from rlkit import configs

    if args.seeds is not None:
        return _train_seeds(args)
    if args.jobs != 1:
        raise CommandError("--jobs runs several --seeds at once; give --seeds too (e.g. 0-2).")
    seed = 0 if args.seed is None else args.seed
    entry, agent_config, env_kwargs, env_recipe, loggers = _prepare_train(args)
    run_dir = args.run_dir or _default_run_dir(entry.name, args.env, seed, args.distributed)
    summary = _experiment_summary(args, entry, agent_config, env_kwargs, env_recipe, seed)
    defaults = configs.config_to_dict(type(agent_config)())
    _check_run_dir_matches(os.path.join(run_dir, EXPERIMENT_FILE), summary, defaults)
    # JAX and the rest load only now: a mistake on the command line is reported at once.
    from rlkit import experiments

    experiment = experiments.make_experiment_config(
        entry.name,
        args.env,
        agent_config,
        env_kwargs=env_kwargs,
        env_recipe=env_recipe,
        seed=seed,
        run_dir=run_dir,
        loggers=loggers,
        replay_backend=args.replay_backend,
        **_run_options(args),
        # Written once the run holds the directory (a busy one is refused first).
        run_dir_files={
            EXPERIMENT_FILE: summary,
            "config.yaml": configs.config_to_dict(agent_config),
        },
    )

    callbacks = _train_callbacks(args)
    # Ctrl-C and a scheduler's SIGTERM checkpoint on the way out (ExperimentInterrupted).
    if args.distributed:
        result = experiments.make_distributed_experiment(
            experiment,
            num_actors=args.num_actors or 2,
            callbacks=callbacks,
            ray_address=args.ray_address,
        ).run(continue_stopped=args.continue_stopped)
    else:
        result = experiments.run_experiment(
            experiment, callbacks, continue_stopped=args.continue_stopped
        )
    _print_stop(result, args, run_dir)
    final = result.evaluations[-1] if result.evaluations else None
    if final is not None:
        print(
            f"{entry.name} on {args.env}: evaluation return {final['return_mean']:.1f} +/- "
            f"{final['return_std']:.1f} over {final['episodes']} episodes after "
            f"{result.actor_steps} steps"
        )
    if result.evaluations and result.wall_time > 0:
        share = 100 * result.evaluation_seconds / result.wall_time
        print(
            f"{result.training_seconds:.1f} s training, {result.evaluation_seconds:.1f} s "
            f"evaluating ({share:.0f}% of {result.wall_time:.1f} s; --eval-every, "
            "--eval-episodes)"
        )
    print(
        f"results in {run_dir}: policy/ (rlkit play|eval {run_dir}), logs/ (CSV, "
        "episodes.parquet), checkpoints/"
    )
    return 0


def _print_stop(result: Any, args: argparse.Namespace, run_dir: str) -> None:
    """Says why a run stopped before its budget (or that it had nothing left to do)."""
    if result.stop_reason == "already_finished":
        print(
            f"{run_dir} already finished ({result.actor_steps} steps); nothing to do (--continue "
            "trains on a run stopped early)"
        )
    elif result.stop_reason == "target_return":
        print(f"reached the target return {args.target_return} at {result.actor_steps} steps")
    elif result.stop_reason == "no_improvement":
        print(
            f"stopped at {result.actor_steps} steps: no better evaluation return in "
            f"{args.patience} evaluations (--patience)"
        )


def _seed_run_argv(args: argparse.Namespace, seed: int, run_dir: str) -> list[str]:
    """`rlkit train` arguments for one run of a --seeds sweep: the same options as given
    (rebuilt from the parsed ones, so abbreviations and `--opt=value` forms need no care),
    with --seed and --run-dir instead of --seeds and --jobs."""
    argv = []
    for action in args.command_parser._actions:
        if action.dest in ("seed", "seeds", "jobs", "run_dir") or not hasattr(args, action.dest):
            continue
        value = getattr(args, action.dest)
        if not action.option_strings:
            argv.append(str(value))
        elif action.nargs == 0:  # A flag (store_true, or store_false as --no-keep-best).
            argv += [action.option_strings[0]] if value != action.default else []
        elif isinstance(value, list):  # Repeatable.
            argv += [f"{action.option_strings[0]}={item}" for item in value]
        elif value is not None:
            argv.append(f"{action.option_strings[0]}={value}")
    return ["train", *argv, f"--seed={seed}", f"--run-dir={run_dir}"]


_FINAL_EVALUATION = re.compile(r": evaluation return (\S+) \+/- ")


def _final_return(run_dir: str, output: Sequence[str]) -> float | None:
    """A finished run's last evaluation return: logs/evaluator.csv (full precision), else
    the line the run printed, else None (no csv logger, and a run that had nothing to do)."""
    import csv

    try:
        with open(os.path.join(run_dir, "logs", "evaluator.csv"), newline="") as file:
            rows = list(csv.DictReader(file))
        if rows and rows[-1].get("return_mean") not in (None, ""):
            return float(rows[-1]["return_mean"])
    except (OSError, ValueError):
        pass
    for line in reversed(output):
        if match := _FINAL_EVALUATION.search(line):
            return float(match.group(1))
    return None


def _train_seeds(args: argparse.Namespace) -> int:
    """`--seeds`: one `rlkit train` subprocess per seed, `--jobs` at a time, each line of
    theirs prefixed with its seed; then every run's final return and their mean and std."""
    import subprocess
    import threading
    from concurrent import futures

    if args.seed is not None:
        raise CommandError("give --seed S (one run) or --seeds 0-2 (one run each), not both.")
    prepared = _prepare_train(args)
    entry = prepared[0]
    run_dirs = _seed_run_dirs(args, prepared)

    if _layout_name(args) == "anakin":
        return _train_seeds_together(args, prepared, run_dirs)
    lock = threading.Lock()  # One whole line at a time from each run.
    running: dict[int, subprocess.Popen] = {}
    stopping: list[int] = []  # The signal that stops the sweep, once one came.
    # Unbuffered: the runs' lines arrive as they are written, not when a buffer fills.
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    script = "import sys; from rlkit.cli.main import main; sys.exit(main(sys.argv[1:]))"

    def forward(stream, sink, seed: int, kept: list[str]) -> None:
        for line in stream:
            kept.append(line.rstrip("\n"))
            with lock:
                print(f"[seed {seed}] {kept[-1]}", file=sink, flush=True)

    def run(seed: int) -> tuple[int | None, list[str], list[str]]:
        with lock:
            if stopping:
                return None, [], []
            # A session of its own: Ctrl-C reaches the runs once, forwarded below, not
            # twice (from the terminal too) in the middle of their checkpoint.
            process = subprocess.Popen(
                [sys.executable, "-c", script, *_seed_run_argv(args, seed, run_dirs[seed])],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=environment,
                start_new_session=True,
            )
            running[seed] = process
        out: list[str] = []
        err: list[str] = []
        reader = threading.Thread(target=forward, args=(process.stderr, sys.stderr, seed, err))
        reader.start()
        forward(process.stdout, sys.stdout, seed, out)
        reader.join()
        code = process.wait()
        with lock:
            del running[seed]
        return code, out, err

    def stop(signal_number, frame) -> None:
        with lock:
            stopping.append(signal_number)
            for process in running.values():  # Each checkpoints and exits.
                process.send_signal(signal_number)

    previous = {}
    if threading.current_thread() is threading.main_thread():  # Only there can it listen.
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            outcomes = dict(zip(args.seeds, pool.map(run, args.seeds), strict=True))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return _report_seed_runs(entry.name, args, run_dirs, outcomes, stopping)


def _seed_run_dirs(args: argparse.Namespace, prepared: tuple) -> dict[int, str]:
    """Each seed's run directory, checked against what it holds (if anything)."""
    from rlkit import configs

    entry, agent_config, env_kwargs, env_recipe, _ = prepared
    run_dirs = {}
    for seed in args.seeds:
        run_dirs[seed] = (
            f"{args.run_dir.rstrip('/' + os.sep)}_seed{seed}"
            if args.run_dir
            else _default_run_dir(entry.name, args.env, seed, args.distributed)
        )
        summary = _experiment_summary(args, entry, agent_config, env_kwargs, env_recipe, seed)
        defaults = configs.config_to_dict(type(agent_config)())
        _check_run_dir_matches(os.path.join(run_dirs[seed], EXPERIMENT_FILE), summary, defaults)
    return run_dirs


def _train_seeds_together(
    args: argparse.Namespace, prepared: tuple, run_dirs: dict[int, str]
) -> int:
    """`--seeds` in the Anakin layout: every seed in this process, one program vmapped over
    them (`rlkit.experiments.run_seeds`), each with its run directory as a run of its own."""
    import dataclasses

    from rlkit import configs, experiments

    if args.jobs != 1:
        raise CommandError(
            "--jobs runs seeds in subprocesses; in the Anakin layout they train together in "
            "one process, vmapped: leave --jobs out."
        )
    entry, agent_config, env_kwargs, env_recipe, loggers = prepared
    experiment = experiments.make_experiment_config(
        entry.name,
        args.env,
        agent_config,
        env_kwargs=env_kwargs,
        env_recipe=env_recipe,
        seeds=list(args.seeds),
        run_dir=run_dirs[args.seeds[0]],  # Keeps the file loggers; each seed has its own.
        loggers=loggers,
        **_run_options(args),
    )

    def files(config: Any) -> Any:  # Each run's own record of what was run.
        summary = _experiment_summary(
            args, entry, agent_config, env_kwargs, env_recipe, config.seed
        )
        record = {EXPERIMENT_FILE: summary, "config.yaml": configs.config_to_dict(agent_config)}
        return dataclasses.replace(config, run_dir_files=record)

    experiments.run_seeds(
        experiment,
        run_dirs=[run_dirs[seed] for seed in args.seeds],
        configure=files,
        make_callbacks=lambda seed: _train_callbacks(args),
        continue_stopped=args.continue_stopped,
    )
    outcomes = {seed: (0, [], []) for seed in args.seeds}
    return _report_seed_runs(entry.name, args, run_dirs, outcomes, [])


def _report_seed_runs(
    agent: str,
    args: argparse.Namespace,
    run_dirs: dict[int, str],
    outcomes: dict[int, tuple[int | None, list[str], list[str]]],
    stopping: list[int],
) -> int:
    """Prints each run of a --seeds sweep and the mean and std of their final returns; the
    sweep's exit status (128 + the signal that stopped it, 1 if a run failed, else 0)."""
    import statistics

    returns, failed = [], []
    for seed, (code, out, err) in outcomes.items():
        last = ([line for line in err if line.startswith("rlkit:")] or err or ["no output"])[-1]
        if code is None:
            print(f"seed {seed}: not started ({run_dirs[seed]})")
        elif code != 0 and stopping:  # Stopped by the signal: it resumes, no failure.
            print(f"seed {seed}: stopped ({run_dirs[seed]}): {last}")
        elif code != 0:
            failed.append(seed)
            print(f"seed {seed}: failed with exit status {code} ({run_dirs[seed]}): {last}")
        elif (value := _final_return(run_dirs[seed], out)) is None:
            print(f"seed {seed}: no evaluation ({run_dirs[seed]})")
        else:
            returns.append(value)
            print(f"seed {seed}: evaluation return {value:.1f} ({run_dirs[seed]})")
    if returns:
        print(
            f"{agent} on {args.env} over {len(returns)} of {len(args.seeds)} seeds: "
            f"evaluation return mean {statistics.fmean(returns):.1f}, std "
            f"{statistics.pstdev(returns):.1f}"
        )
    if stopping:
        stopped = "terminated" if stopping[0] == signal.SIGTERM else "interrupted"
        print(f"rlkit: {stopped}; rerun the same command to resume", file=sys.stderr)
        return 128 + stopping[0]
    if failed:
        names = ", ".join(f"seed {seed} ({run_dirs[seed]})" for seed in failed)
        print(
            f"rlkit: error: {len(failed)} of {len(args.seeds)} runs failed: {names}",
            file=sys.stderr,
        )
        return 1
    return 0


def _policy_run_dir(path: str, command: str) -> None:
    """Refuses a file where a run directory belongs, naming the run directory it is in."""
    if not os.path.isfile(path):
        return
    parent = os.path.dirname(path)
    for folder in (parent, os.path.dirname(parent)):
        folder = folder or "."
        if os.path.isfile(os.path.join(folder, EXPERIMENT_FILE)) or os.path.isfile(
            os.path.join(folder, "policy", "policy.json")
        ):
            raise CommandError(
                f"{command} expects a run directory (the folder `rlkit train` writes), got "
                f"the file {path}; use: rlkit {command} {folder}"
            )
    raise CommandError(
        f"{command} expects a run directory (the folder `rlkit train` writes), got the file {path}."
    )


def _load_policy(args: argparse.Namespace, command: str):
    """The run's policy, after importing the modules that register its environment: those
    the run was trained with (its experiment.yaml) and --env-module."""
    from rlkit import configs, errors, experiments

    _policy_run_dir(args.run_dir, command)
    stored: list[str] = []
    folders = [args.run_dir]
    if os.path.basename(os.path.normpath(args.run_dir)) == "policy":  # Its policy/ folder.
        folders.append(os.path.dirname(os.path.normpath(args.run_dir)))
    for folder in folders:
        path = os.path.join(folder, EXPERIMENT_FILE)
        try:
            saved = configs.read_yaml(path) if os.path.isfile(path) else {}
        except errors.ConfigError:
            saved = {}  # Not needed to load the policy; --env-module still works.
        modules = saved.get("env_modules") or []
        if isinstance(modules, list) and all(isinstance(m, str) for m in modules):
            stored += modules
    _import_env_modules(list(dict.fromkeys([*stored, *args.env_module])))
    try:
        return experiments.load_policy(args.run_dir, best=args.best)
    except errors.UnknownEnvironmentError as error:
        raise _unknown_environment_hint(error) from None


def _evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    import rlkit

    policy = _load_policy(args, "eval")
    loop = rlkit.EnvironmentLoop(
        policy.make_environment(seed=args.seed),
        policy.make_actor(seed=args.seed),
        logger=rlkit.loggers.NoOpLogger(),
    )
    returns = [float(r["episode_return"]) for r in loop.run(num_episodes=args.episodes)]
    print(
        f"{policy.agent} on {policy.env_id}: return {np.mean(returns):.2f} +/- "
        f"{np.std(returns):.2f} over {args.episodes} episodes (min {min(returns):.1f}, "
        f"max {max(returns):.1f})"
    )
    return 0


def _play(args: argparse.Namespace) -> int:
    from rlkit import analysis

    if args.video and os.path.splitext(args.video)[1].lower() not in (".gif", ".mp4"):
        raise CommandError(f"--video must end in .gif or .mp4, got {args.video!r}.")
    policy = _load_policy(args, "play")
    render = {"render_mode": "rgb_array"} if args.video else {}
    environment = policy.make_environment(seed=args.seed, **render)
    actor = policy.make_actor(seed=args.seed)
    frames = []
    for episode in range(args.episodes):
        record = analysis.record_episode(environment, actor, render=bool(args.video))
        frames.extend(record.frames)
        print(f"episode {episode + 1}: return {record.episode_return:.1f}, {len(record)} steps")
    if args.video:
        fps = args.fps or environment.metadata.get("render_fps") or 30
        count = analysis.write_video(frames, args.video, fps=fps)
        print(f"wrote {count} frames to {args.video}")
    environment.close()
    return 0


def _plot(args: argparse.Namespace) -> int:
    from rlkit import analysis, errors

    if not args.values:
        path = analysis.plot_learning_curves(
            args.run_dirs,
            args.out or "curves.png",
            aggregate=args.aggregate,
            episodes=args.episodes,
            smoothing_window=args.smooth,
            on_note=lambda line: print(f"note: {line}"),
        )
        print(f"wrote {path}")
        return 0
    if args.aggregate or args.episodes:
        raise CommandError("--aggregate and --episodes are for learning curves, not --values.")
    if len(args.run_dirs) != 1:
        raise CommandError(f"--values plots one run, got {len(args.run_dirs)} run dirs.")
    from rlkit import experiments
    from rlkit.analysis import values

    policy = experiments.load_policy(args.run_dirs[0])
    try:
        path = values.plot_policy_values(policy, args.out or "values.png")
    except errors.ConfigError as error:
        raise CommandError(f"--values: {error}") from None
    print(f"wrote {path}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from rlkit import environments, errors
    from rlkit.agents import registry

    _import_env_modules(args.env_module)
    entry, base_config = _agent_config(args.agent, args.env, args.config, args.set)
    env_kwargs = _env_kwargs(args.env_arg)
    try:
        environments.check_environment_id(args.env)
    except errors.UnknownEnvironmentError as error:
        raise _unknown_environment_hint(error) from None
    environments.check_environment_kwargs(args.env, env_kwargs)
    from rlkit.experiments import tuning  # JAX and optuna: once the command line is good.

    out = args.out or os.path.join(
        "runs", f"tune_{entry.name}_{registry.environment_key(args.env)}", "best.yaml"
    )

    def on_trial(number, state, score, values):
        shown = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
        )
        print(
            f"trial {number}: {state}"
            + (f", score {score:.1f}" if score is not None else "")
            + f" ({shown})",
            flush=True,
        )

    result = tuning.tune(
        entry.name,
        args.env,
        args.trials,
        out,
        env_kwargs=env_kwargs,
        space_path=args.space,
        base_config=base_config,
        max_num_actor_steps=args.steps,
        eval_every=args.eval_every,
        num_eval_episodes=args.eval_episodes,
        seed=args.seed,
        on_trial=on_trial,
    )
    print(
        f"best: trial {result.best_trial}, score {result.best_value:.1f} "
        f"({result.num_complete} complete, {result.num_pruned} pruned, {result.num_failed} "
        f"failed); config written to {result.config_path} (use: rlkit train {entry.name} "
        f"--env {args.env} --config {result.config_path})"
    )
    return 0


def _serve_env(args: argparse.Namespace) -> int:
    """Serves environments until Ctrl-C or SIGTERM; exit status 0 then."""
    import threading

    from rlkit.remote import address, server

    _import_env_modules(args.env_module)
    environment_server = server.EnvironmentServer(
        args.host,
        args.port,
        token=args.token or os.environ.get(address.TOKEN_VARIABLE) or None,
        allow=args.allow or None,
        max_envs=args.max_envs,
        idle_timeout=args.idle_timeout,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    where = environment_server.address
    print(
        f"serving environments at {where}/ENV_ID (e.g. rlkit train dqn --env "
        f"{where}/CartPole-v1); Ctrl-C stops",
        flush=True,
    )

    def stop(signal_number, frame):
        raise KeyboardInterrupt

    previous = None
    if threading.current_thread() is threading.main_thread():  # Only there can it listen.
        previous = signal.signal(signal.SIGTERM, stop)
    try:
        environment_server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        environment_server.shutdown()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print("stopped", flush=True)
    return 0


COMMANDS = {
    "agents": lambda args: _list_agents(),
    "train": _train,
    "eval": _evaluate,
    "play": _play,
    "plot": _plot,
    "tune": _tune,
    "serve-env": _serve_env,
}


def main(argv: Sequence[str] | None = None) -> int:
    from rlkit.cli import _stderr

    with _stderr.filtered_stderr():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    from rlkit import errors

    command = None
    try:
        parser = _build_parser()
        args = parser.parse_args(argv)
        command = args.command
        if command is None:  # A bare `rlkit`: what there is to run.
            parser.print_help(sys.stderr)
            return 2
        return COMMANDS[command](args)
    except (CommandError, errors.RlkitError) as error:
        message = " ".join(str(error).split())  # One line, whatever the message holds.
        print(f"rlkit: error: {message}", file=sys.stderr)
        return 2
    except OSError as error:  # A path that cannot be written or read: still one line.
        print(f"rlkit: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interruption:  # An ExperimentInterrupted carries the details.
        signal_number = getattr(interruption, "signal", signal.SIGINT)
        message = "terminated" if signal_number == signal.SIGTERM else "interrupted"
        step = getattr(interruption, "checkpoint_step", None)
        if command == "train" and step is not None:
            message += f"; checkpoint saved at step {step}, rerun the same command to resume"
        print(f"rlkit: {message}", file=sys.stderr)
        return 128 + signal_number


if __name__ == "__main__":
    sys.exit(main())
