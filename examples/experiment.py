"""`run_experiment` from Python: DQN on CartPole-v1 with evaluation, checkpoints and an
exported policy. Run it again with the same run directory to resume (also after a crash).

    python examples/experiment.py [RUN_DIR] [STEPS]
"""

import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from rlkit import experiments  # noqa: E402


def main(run_dir: str = "runs/example_dqn_cartpole", steps: int = 50_000) -> float:
    config = experiments.make_experiment_config(
        "dqn",
        "CartPole-v1",  # Uses rlkit/agents/dqn/configs/dqn/cartpole.yaml.
        max_num_actor_steps=steps,
        eval_every=5_000,
        num_eval_episodes=10,
        run_dir=run_dir,
        loggers=("terminal", "csv", "history", "tensorboard"),
    )
    result = experiments.run_experiment(config)
    if result.resumed_from is not None:
        print(f"resumed from step {result.resumed_from}")
    print(f"{result.actor_steps} steps: evaluation return {result.final_return:.1f}")

    policy = experiments.load_policy(run_dir)  # The greedy policy alone: no learner, no replay.
    print(f"saved policy: {policy.agent} on {policy.env_id}, {run_dir}/policy")
    return result.final_return


if __name__ == "__main__":
    main(*sys.argv[1:2], *(int(a) for a in sys.argv[2:3]))
