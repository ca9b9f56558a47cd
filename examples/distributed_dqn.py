"""DQN on CartPole-v1 with N actors on Ray: a Reverb server, a learner, the actors and a
counter as Ray actors, from the same builder as a single-process run.

    pip install -c constraints.txt -e ".[reverb,distributed]"
    python examples/distributed_dqn.py [NUM_ACTORS] [STEPS] [RAY_ADDRESS]

Without RAY_ADDRESS a local Ray starts (and stops at the end). On a cluster, start Ray on
each machine (`ray start --head` on one, `ray start --address=HEAD:6379` on the others, all
with rlkit installed the same way) and pass the head's address: actors are placed wherever
Ray has CPUs, the learner where it has the CPUs (or GPU) it asks for.
"""

import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from rlkit import experiments  # noqa: E402


def main(num_actors: int = 2, steps: int = 50_000, ray_address: str | None = None) -> float:
    config = experiments.make_experiment_config(
        "dqn",
        "CartPole-v1",  # rlkit/agents/dqn/configs/dqn/cartpole.yaml.
        max_num_actor_steps=steps,
        eval_every=10_000,
        num_eval_episodes=10,
        run_dir=None,  # A run directory: checkpoints, logs, the policy; a rerun resumes.
        loggers=(),
    )
    experiment = experiments.make_distributed_experiment(
        config, num_actors=num_actors, ray_address=ray_address
    )
    result = experiment.run()
    for evaluation in result.evaluations:
        print(f"{evaluation['actor_steps']} steps: evaluation return {evaluation['return_mean']}")
    print(
        f"{result.actor_steps} actor steps, {result.learner_steps} learner steps in "
        f"{result.wall_time:.0f} s with {num_actors} actors"
    )
    return result.final_return


if __name__ == "__main__":
    arguments = sys.argv[1:]
    main(
        int(arguments[0]) if arguments else 2,
        int(arguments[1]) if len(arguments) > 1 else 50_000,
        arguments[2] if len(arguments) > 2 else None,
    )
