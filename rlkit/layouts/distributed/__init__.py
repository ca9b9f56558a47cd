"""The Ray layout: the same builder as a single-process run, split into roles on Ray.

`RayLayout(num_actors=N)` is a layout factory for the experiment runner
(`rlkit.experiments.make_distributed_experiment(config, N).run()` uses it). It starts, as
Ray actors:
- a replay server (`replay_worker.py`: a Reverb server, tables exactly as the builder makes
  them: the sample-to-insert limiter keeps the replay ratio between processes, a queue
  holds on-policy rollouts); its address is handed to the others;
- a learner (`learner_worker.py`), which samples over gRPC, steps in a background thread
  and is the variable source the actors pull parameters from (on a background thread of
  theirs);
- `num_actors` environment actors (`actor_worker.py`), each with its own environment
  (seeded apart), policy, adder writing over gRPC and variable client;
- a counter all of them report to (`counter.py`).
The driver's side (`layout.py`) is, to the runner, the agent and the training loop: it hands
the actors their share of each stretch of steps, and saves, restores, checkpoints (the
learner's state over Ray, the replay tables by the Reverb server itself) and evaluates
through them, with the same run directory, logs, progress and resume as a single-process
run. `ray.init()` starts a local Ray (its workers at normal priority) unless one is running
or `ray_address` names a cluster (`ray_runtime.py`); every Ray actor is killed at the end,
on Ctrl-C and on SIGTERM. Ray's own log lines go to the run's `logs/ray.log` rather than
the terminal (`RLKIT_RAY_LOGS=1` shows them: `rlkit/_ray_logs.py`). Ray is imported only
when a run starts (`rlkit-jax[distributed]`).

Faults: Ray restarts a worker whose process died (`max_restarts`) and reruns the calls it
was serving (`max_task_retries`). An environment actor goes back to claiming steps. The
replay server comes back at the same address (it runs on the driver's node, on a port
chosen there) with empty tables that the actors refill; actors and learner remake their
streams to it. The learner is restored from the latest checkpoint (fresh without one)
before it steps again. The last two are said in the log. Exploration schedules follow the
run's step count (the shared counter), so a restarted actor does not explore from
scratch. The replay checkpoints the server writes land in the driver's run directory.
"""

from rlkit.layouts.distributed.layout import DistributedLayout, RayLayout

__all__ = ["DistributedLayout", "RayLayout"]
