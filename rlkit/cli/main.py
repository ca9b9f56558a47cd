"""`rlkit`: train and inspect agents from the terminal.

    rlkit agents
    rlkit train dqn --env CartPole-v1 [--steps 50000] [--seed 0] [--eval-episodes 20]

Bad input (unknown agent, environment or option value) prints one line on stderr and exits
with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# name -> (one-line description, supported action spaces).
AGENTS = {
    "dqn": ("Double DQN with n-step returns and Reverb replay", "discrete"),
}


class CommandError(Exception):
    """A user mistake: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise CommandError(f"{self.prog}: {message}")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rlkit", description="Reinforcement learning on JAX and Reverb.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("agents", help="list the agents and the action spaces they support")
    train = commands.add_parser("train", help="train an agent on a gymnasium environment")
    train.add_argument("agent", help=f"one of: {', '.join(AGENTS)}")
    train.add_argument("--env", required=True, help="gymnasium environment id")
    train.add_argument("--steps", type=int, default=50_000, help="environment steps")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--eval-episodes", type=int, default=20)
    return parser


def _list_agents() -> int:
    for name, (description, action_spaces) in AGENTS.items():
        print(f"{name:8s} {description} (actions: {action_spaces})")
    return 0


def _train(args: argparse.Namespace) -> int:
    if args.agent not in AGENTS:
        raise CommandError(f"unknown agent {args.agent!r}; choose one of: {', '.join(AGENTS)}.")
    if args.steps <= 0 or args.eval_episodes <= 0:
        raise CommandError("--steps and --eval-episodes must be positive integers.")
    import numpy as np

    import rlkit
    from rlkit.agents import dqn

    env = rlkit.make_environment(args.env, seed=args.seed)
    agent = dqn.DQN(rlkit.make_environment_spec(env), dqn.DQNConfig(), seed=args.seed)
    try:
        rlkit.EnvironmentLoop(env, agent).run(num_steps=args.steps)
        evaluation = rlkit.EnvironmentLoop(
            rlkit.make_environment(args.env, seed=args.seed + 10_000),
            agent.make_evaluation_actor(),
            logger=rlkit.loggers.NoOpLogger(),
        )
        returns = [r["episode_return"] for r in evaluation.run(num_episodes=args.eval_episodes)]
    finally:
        agent.close()
    print(
        f"{args.agent} on {args.env}: evaluation return {np.mean(returns):.1f} +/- "
        f"{np.std(returns):.1f} over {args.eval_episodes} episodes after {args.steps} steps"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from rlkit import errors

    try:
        args = _build_parser().parse_args(argv)
        if args.command == "agents":
            return _list_agents()
        return _train(args)
    except (CommandError, errors.RlkitError) as error:
        print(f"rlkit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
