"""`run_experiment`: train, evaluate, checkpoint and export in one process; resume on rerun."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

from rlkit import environment_loop, local_layout, specs
from rlkit.experiments import checkpointing, policy
from rlkit.experiments import logging as experiment_logging
from rlkit.experiments.config import ExperimentConfig
from rlkit.experiments.evaluator import Evaluator
from rlkit.utils import counting

EVALUATION_SEED_OFFSET = 10_000


@dataclasses.dataclass
class ExperimentResult:
    """What a run reached.

    Attributes:
      actor_steps: environment steps trained (including those before a resume).
      evaluations: every evaluation row, oldest first (`actor_steps`, `return_mean`, ...).
      stop_reason: "steps" (budget spent), "target_return", or "already_finished" (a rerun
        of a finished run did nothing).
      resumed_from: the checkpoint step it resumed from, or None.
      run_dir: where checkpoints, logs and the policy are.
      wall_time: seconds this call took.
    """

    actor_steps: int
    evaluations: list[dict[str, Any]]
    stop_reason: str
    resumed_from: int | None
    run_dir: str | None
    wall_time: float

    @property
    def final_return(self) -> float:
        return self.evaluations[-1]["return_mean"] if self.evaluations else float("nan")


def _next_multiple(steps: int, every: int, limit: int) -> int:
    return limit if every <= 0 else min((steps // every + 1) * every, limit)


def run_experiment(config: ExperimentConfig) -> ExperimentResult:
    """Trains `config`'s agent for `config.max_num_actor_steps` environment steps.

    Every `eval_every` steps the evaluator runs the evaluation policy on its own environment;
    training stops early once an evaluation reaches `target_return`. With a `run_dir`, the
    agent, counters and replay are checkpointed every `checkpoint_every` steps and at the end
    (also on Ctrl-C), and the policy is exported to `run_dir/policy` with each checkpoint.
    Calling it again with the same `run_dir` resumes from the last checkpoint; the step count
    continues.
    """
    start = time.monotonic()
    environment = config.environment_factory(config.seed)
    environment_spec = specs.make_environment_spec(environment)
    networks = config.network_factory(environment_spec)
    counter = counting.Counter()

    checkpointer = None
    metadata: dict[str, Any] = {}
    resumed_from = None
    replay_path = None
    if config.run_dir is not None:
        os.makedirs(config.run_dir, exist_ok=True)
        checkpointer = checkpointing.Checkpointer(config.run_dir, config.max_checkpoints_to_keep)
        resumed_from = checkpointer.latest_step()
        if resumed_from is not None:
            metadata = checkpointer.read_metadata(resumed_from)
            replay_path = checkpointer.replay_path_for_restore(metadata)
            counter.restore({"counts": metadata["counts"]})
            experiment_logging.truncate_logs(config.run_dir, resumed_from)
    steps = int(counter.get_counts().get("actor_steps", 0))
    evaluations: list[dict[str, Any]] = list(metadata.get("evaluations", []))
    finished_by_target = (
        config.target_return is not None
        and bool(evaluations)
        and evaluations[-1]["return_mean"] >= config.target_return
    )
    if resumed_from is not None and (steps >= config.max_num_actor_steps or finished_by_target):
        environment.close()
        checkpointer.close()
        return ExperimentResult(
            steps, evaluations, "already_finished", resumed_from, config.run_dir, 0.0
        )

    loggers = experiment_logging.make_experiment_loggers(
        config.loggers,
        config.run_dir,
        config.max_num_actor_steps,
        initial_steps=steps,
        wandb_config=config.description,
    )
    agent = local_layout.LocalLayout(
        config.builder,
        environment_spec,
        networks,
        seed=config.seed,
        counter=counter,
        logger=loggers["learner"],
        learn_in_background=config.learn_in_background,
        replay_checkpoint_dir=checkpointer.replay_staging_directory if checkpointer else None,
        restore_replay_from=replay_path,
    )
    stop_reason = "steps"
    try:
        if resumed_from is not None:
            agent.restore(checkpointer.restore_state(resumed_from, agent.save()))
        train_loop = environment_loop.EnvironmentLoop(
            environment,
            agent,
            counter=counting.Counter(counter, "actor"),
            logger=loggers["actor"],
            label="actor",
        )
        evaluator = Evaluator(
            config.environment_factory(config.seed + EVALUATION_SEED_OFFSET),
            agent.make_evaluation_actor(),
            config.num_eval_episodes,
            counter,
            loggers["evaluator"],
        )

        def save_checkpoint() -> None:
            if checkpointer is None:
                return
            state = agent.save()  # Joins background learner steps first.
            meta = {"counts": counter.save()["counts"], "evaluations": evaluations}
            checkpointer.save(steps, state, meta, replay=agent.checkpoint_replay())
            if config.description is not None:  # `rlkit play` works while training goes on.
                (params,) = agent.get_variables(["policy"])
                last = evaluations[-1]["return_mean"] if evaluations else None
                description = {**config.description, "actor_steps": steps}
                policy.export_policy(
                    config.run_dir, params, {**description, "evaluation_return": last}
                )

        next_evaluation = _next_multiple(steps, config.eval_every, config.max_num_actor_steps)
        next_checkpoint = _next_multiple(steps, config.checkpoint_every, config.max_num_actor_steps)
        try:
            while steps < config.max_num_actor_steps:
                until = min(next_evaluation, next_checkpoint)
                train_loop.run(num_steps=until - steps)
                steps = until
                if steps == next_evaluation:
                    evaluations.append(evaluator.evaluate())
                    next_evaluation = _next_multiple(
                        steps, config.eval_every, config.max_num_actor_steps
                    )
                    if config.evaluation_callback is not None:
                        config.evaluation_callback(steps, evaluations[-1])
                    if (
                        config.target_return is not None
                        and evaluations[-1]["return_mean"] >= config.target_return
                    ):
                        stop_reason = "target_return"
                        break
                if steps == next_checkpoint and steps < config.max_num_actor_steps:
                    save_checkpoint()
                    next_checkpoint = _next_multiple(
                        steps, config.checkpoint_every, config.max_num_actor_steps
                    )
        except KeyboardInterrupt:
            steps = int(counter.get_counts().get("actor_steps", steps))
            save_checkpoint()
            raise
        if not evaluations or evaluations[-1]["actor_steps"] != steps:
            evaluations.append(evaluator.evaluate())
        save_checkpoint()
    finally:
        try:
            agent.close()
        finally:
            for logger in loggers.values():
                logger.close()
            environment.close()
            if checkpointer is not None:
                checkpointer.close()
    return ExperimentResult(
        steps,
        evaluations,
        stop_reason,
        resumed_from,
        config.run_dir,
        time.monotonic() - start,
    )
