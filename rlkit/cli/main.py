"""`rlkit`: train, evaluate, watch, plot and tune agents from the terminal.

    rlkit agents
    rlkit train AGENT --env ENV_ID [--env-arg KEY=VALUE ...] [--config FILE]
                [--set key=value ...] [--steps N] [--target-return R] [--seed S]
                [--run-dir DIR] [--logger csv,tensorboard,wandb]
                [--replay-backend auto|local|reverb] [--device auto|cpu|gpu]
                [--env-recipe auto|gymnasium|continuous|atari]
                [--distributed [--num-actors N] [--ray-address ADDR]]
    rlkit eval RUN_DIR [--episodes N]
    rlkit play RUN_DIR [--video out.gif|out.mp4] [--episodes N]
    rlkit plot RUN_DIR [RUN_DIR ...] [--out curves.png]
    rlkit plot RUN_DIR --values [--out values.png]
    rlkit tune AGENT --env ENV_ID --trials N [--space space.yaml] [--out best.yaml]

Bad input (an unknown agent, environment or config key, a missing run directory, an agent
that cannot act in the environment) prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

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
        raise CommandError(f"{self.prog}: {message}")


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
_non_negative_int = _integer(0, None, "an integer >= 0")
_seed = _integer(0, 2**32, "a seed in [0, 2**32)")


def _build_parser() -> argparse.ArgumentParser:
    from rlkit.devices import DEVICES  # Names only: no JAX.
    from rlkit.recipes import RECIPES
    from rlkit.replay import base as replay_base  # Names only: no JAX, no Reverb.

    parser = _Parser(prog="rlkit", description="Reinforcement learning on JAX.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("agents", help="list the agents and the action spaces they support")

    train = commands.add_parser("train", help="train an agent on a gymnasium environment")
    train.add_argument("agent", help="agent name (see `rlkit agents`)")
    train.add_argument("--env", required=True, help="gymnasium environment id")
    train.add_argument(
        "--config",
        action="append",
        default=[],
        help="YAML config file (default: the agent's YAML for the env, if it ships one)",
    )
    train.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    train.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword argument for gymnasium.make (e.g. is_slippery=false)",
    )
    train.add_argument("--steps", type=_positive_int, default=50_000, help="env step budget")
    train.add_argument(
        "--target-return",
        type=float,
        help="stop once evaluation reaches it (default: none, run all the steps)",
    )
    train.add_argument("--seed", type=_seed, default=0, help="seeds the agent and the env")
    train.add_argument(
        "--run-dir",
        help="where the run is written; rerun to resume (default: runs/AGENT_ENV_seedS)",
    )
    train.add_argument(
        "--logger", default="csv", help="comma-separated: csv, tensorboard, wandb (and none)"
    )
    train.add_argument(
        "--eval-every", type=_non_negative_int, default=5_000, help="env steps (0: at the end)"
    )
    train.add_argument(
        "--eval-episodes", type=_positive_int, default=10, help="episodes per evaluation"
    )
    train.add_argument(
        "--checkpoint-every",
        type=_non_negative_int,
        default=10_000,
        help="env steps (0: at the end)",
    )
    train.add_argument(
        "--replay-backend",
        choices=replay_base.BACKENDS,
        default="auto",
        help="auto: in-process tables (local) for this single-process run, no open port; "
        "reverb: a Reverb server (needs rlkit[reverb]; its port is open on all interfaces)",
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
        "--device",
        choices=DEVICES,
        default="auto",
        help="where the learner runs: auto = a GPU when JAX sees one, else the CPU "
        "(actors act on the CPU)",
    )

    train.add_argument(
        "--distributed",
        action="store_true",
        help="train on Ray: a Reverb server, a learner and --num-actors environment actors "
        "(needs rlkit[distributed,reverb]); resumes, logs and exports as a one-process run",
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

    evaluate = commands.add_parser("eval", help="evaluate a trained policy")
    evaluate.add_argument("run_dir", help="a run directory written by `rlkit train`")
    evaluate.add_argument("--episodes", type=_positive_int, default=10, help="greedy episodes")
    evaluate.add_argument("--seed", type=_seed, default=12_345, help="seeds the environment")

    play = commands.add_parser("play", help="run a trained policy, optionally to a video")
    play.add_argument("run_dir", help="a run directory written by `rlkit train`")
    play.add_argument(
        "--video", help="write the episodes to a .gif or .mp4 (default: none, print returns)"
    )
    play.add_argument("--episodes", type=_positive_int, default=1, help="episodes to play")
    play.add_argument("--seed", type=_seed, default=0, help="seeds the environment")
    play.add_argument("--fps", type=float, help="video frame rate (default: the env's)")

    plot = commands.add_parser(
        "plot", help="plot learning curves of runs, or one run's state values (--values)"
    )
    plot.add_argument("run_dirs", nargs="+", help="run directories (seeds of one config: mean)")
    plot.add_argument("--out", help="PNG to write (default: curves.png; values.png with --values)")
    plot.add_argument(
        "--values",
        action="store_true",
        help="heatmaps of one run's greedy state values and actions (discrete or 2-D states)",
    )

    tune = commands.add_parser("tune", help="search hyperparameters with optuna")
    tune.add_argument("agent", help="agent name (see `rlkit agents`)")
    tune.add_argument("--env", required=True, help="gymnasium environment id")
    tune.add_argument("--trials", type=_positive_int, required=True, help="optuna trials")
    tune.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword argument for gymnasium.make (e.g. is_slippery=false)",
    )
    tune.add_argument("--space", help="search space YAML (default: the agent's)")
    tune.add_argument(
        "--config",
        action="append",
        default=[],
        help="base config YAML (default: the agent's YAML for the env, if it ships one)",
    )
    tune.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    tune.add_argument("--steps", type=_positive_int, default=20_000, help="steps per trial")
    tune.add_argument(
        "--eval-every", type=_positive_int, default=2_000, help="env steps between evaluations"
    )
    tune.add_argument(
        "--eval-episodes", type=_positive_int, default=5, help="episodes per evaluation"
    )
    tune.add_argument("--seed", type=_seed, default=0, help="seeds the sampler and the runs")
    tune.add_argument("--out", help="best config YAML (default: runs/tune_AGENT_ENV/best.yaml)")
    return parser


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


def _check_run_dir_matches(path: str, experiment: dict) -> None:
    from rlkit import configs

    if not os.path.isfile(path):
        return
    saved = configs.read_yaml(path)
    saved.setdefault("env_recipe", experiment["env_recipe"])  # Runs from before recipes.
    saved.setdefault("layout", "one-process")  # Runs from before distributed runs.
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


def _train(args: argparse.Namespace) -> int:
    from rlkit import configs, environments
    from rlkit.agents import registry

    if not args.distributed and (args.num_actors is not None or args.ray_address is not None):
        raise CommandError("--num-actors and --ray-address are for --distributed runs.")
    entry, agent_config = _agent_config(args.agent, args.env, args.config, args.set)
    env_kwargs = _env_kwargs(args.env_arg)
    kinds = [kind.strip() for kind in args.logger.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in ("csv", "tensorboard", "wandb", "none")]
    if unknown:
        raise CommandError(
            f"unknown logger {unknown[0]!r}; choose from csv, tensorboard, wandb, none."
        )
    env_recipe = entry.resolve_recipe(args.env, args.env_recipe)
    if env_recipe != "atari":  # Atari ids are checked by ale-py when the run starts.
        environments.check_environment_id(args.env)
    loggers = ("terminal", "history", *(kind for kind in kinds if kind != "none"))
    run_dir = args.run_dir or os.path.join(
        "runs", f"{entry.name}_{registry.environment_key(args.env)}_seed{args.seed}"
    )
    summary = {
        "agent": entry.name,
        "env_id": args.env,
        "env_kwargs": env_kwargs,
        "env_recipe": env_recipe,
        "seed": args.seed,
        "steps": args.steps,
        "target_return": args.target_return,
        "agent_config": configs.config_to_dict(agent_config),
        "layout": "distributed" if args.distributed else "one-process",
    }
    _check_run_dir_matches(os.path.join(run_dir, EXPERIMENT_FILE), summary)
    # JAX and the rest load only now: a mistake on the command line is reported at once.
    from rlkit import experiments

    experiment = experiments.make_experiment_config(
        entry.name,
        args.env,
        agent_config,
        env_kwargs=env_kwargs,
        env_recipe=env_recipe,
        max_num_actor_steps=args.steps,
        seed=args.seed,
        eval_every=args.eval_every,
        num_eval_episodes=args.eval_episodes,
        target_return=args.target_return,
        run_dir=run_dir,
        checkpoint_every=args.checkpoint_every,
        loggers=loggers,
        replay_backend=args.replay_backend,
        device=args.device,
        # Written once the run holds the directory (a busy one is refused first).
        run_dir_files={
            EXPERIMENT_FILE: summary,
            "config.yaml": configs.config_to_dict(agent_config),
        },
    )

    # Ctrl-C and a scheduler's SIGTERM checkpoint on the way out (ExperimentInterrupted).
    if args.distributed:
        result = experiments.make_distributed_experiment(
            experiment, num_actors=args.num_actors or 2, ray_address=args.ray_address
        ).run()
    else:
        result = experiments.run_experiment(experiment)
    if result.resumed_from is not None:
        print(f"resumed from the checkpoint at step {result.resumed_from}")
    if result.stop_reason == "already_finished":
        print(f"{run_dir} already finished ({result.actor_steps} steps); nothing to do")
    elif result.stop_reason == "target_return":
        print(f"reached the target return {args.target_return} at {result.actor_steps} steps")
    final = result.evaluations[-1] if result.evaluations else None
    if final is not None:
        print(
            f"{entry.name} on {args.env}: evaluation return {final['return_mean']:.1f} +/- "
            f"{final['return_std']:.1f} over {final['episodes']} episodes after "
            f"{result.actor_steps} steps"
        )
    print(
        f"results in {run_dir}: policy/ (rlkit play|eval {run_dir}), logs/ (CSV, "
        "episodes.parquet), checkpoints/"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    import rlkit
    from rlkit import experiments

    policy = experiments.load_policy(args.run_dir)
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
    from rlkit import analysis, experiments

    if args.video and os.path.splitext(args.video)[1].lower() not in (".gif", ".mp4"):
        raise CommandError(f"--video must end in .gif or .mp4, got {args.video!r}.")
    policy = experiments.load_policy(args.run_dir)
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
        path = analysis.plot_learning_curves(args.run_dirs, args.out or "curves.png")
        print(f"wrote {path}")
        return 0
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
    from rlkit import environments
    from rlkit.agents import registry

    entry, base_config = _agent_config(args.agent, args.env, args.config, args.set)
    environments.check_environment_id(args.env)
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
        env_kwargs=_env_kwargs(args.env_arg),
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


COMMANDS = {
    "agents": lambda args: _list_agents(),
    "train": _train,
    "eval": _evaluate,
    "play": _play,
    "plot": _plot,
    "tune": _tune,
}


def main(argv: Sequence[str] | None = None) -> int:
    from rlkit.cli import _stderr

    with _stderr.filtered_stderr():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    from rlkit import errors

    command = None
    try:
        args = _build_parser().parse_args(argv)
        command = args.command
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
