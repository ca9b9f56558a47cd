"""Experiment checkpoints: orbax for arrays and JSON, the replay backend's format for replay.

A checkpoint at step N is an orbax step directory `checkpoints/N` holding the agent's state
(learner, actor and schedule: arrays only) and JSON metadata (counters, evaluations so far,
the replay checkpoint it goes with), plus that replay checkpoint in `replay/N`.

Order of writes: the replay backend writes the tables to `.replay-staging/` (keeping only its
latest checkpoint there), the finished directory is renamed to `replay/N`, then orbax writes
`checkpoints/N` to a temporary directory and renames it when complete. A crash at any point
leaves the previous step whole; leftovers (staging, a `replay/N` with no orbax step) are
deleted on the next start. Nothing is pickled: loading a checkpoint runs no code from it.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import jax
import orbax.checkpoint as ocp

from rlkit import errors


def _abstract(tree: Any) -> Any:
    return jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, tree)


class Checkpointer:
    """Saves and restores an experiment under `run_dir` (`checkpoints/`, `replay/`)."""

    def __init__(self, run_dir: str, max_to_keep: int = 2):
        self.directory = os.path.abspath(os.path.join(run_dir, "checkpoints"))
        self.replay_directory = os.path.abspath(os.path.join(run_dir, "replay"))
        self.replay_staging_directory = os.path.abspath(os.path.join(run_dir, ".replay-staging"))
        os.makedirs(self.replay_directory, exist_ok=True)
        shutil.rmtree(self.replay_staging_directory, ignore_errors=True)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            enable_async_checkpointing=False,
            cleanup_tmp_directories=True,  # A write interrupted by a crash is removed.
            create=True,
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)
        self._delete_unreferenced_replay()  # Left by a crash between the two writes.

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def has_step(self, step: int) -> bool:
        return step in self._manager.all_steps()

    def delete_step(self, step: int) -> bool:
        """Deletes step `step` so it can be written again, unless it is the only one (a crash
        before the rewrite must still leave a checkpoint). Returns whether it was deleted."""
        if len(self._manager.all_steps()) < 2:
            return False
        self._manager.delete(step)
        return True

    def save(
        self, step: int, agent_state: Any, metadata: dict[str, Any], replay: str | None = None
    ) -> None:
        """Writes step `step`, with `replay` (a finished replay checkpoint in staging)."""
        if replay is not None:
            committed = os.path.join(self.replay_directory, str(step))
            shutil.rmtree(committed, ignore_errors=True)
            os.replace(replay, committed)
            metadata = {**metadata, "replay": str(step)}
        self._manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(agent_state), meta=ocp.args.JsonSave(metadata)
            ),
            force=True,
        )
        self._manager.wait_until_finished()
        self._delete_unreferenced_replay()

    def read_metadata(self, step: int) -> dict[str, Any]:
        restored = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        return dict(restored.meta)

    def restore_state(self, step: int, like: Any) -> Any:
        """The agent state of step `step`, in the structure (and dtypes) of `like`."""
        try:
            restored = self._manager.restore(
                step, args=ocp.args.Composite(state=ocp.args.StandardRestore(_abstract(like)))
            )
        except (ValueError, KeyError) as error:
            raise errors.CheckpointError(
                f"Checkpoint {self.directory}/{step} does not match this agent ({error}); "
                "was the run started with another config? Use a new run directory."
            ) from None
        return restored.state

    def replay_path_for_restore(self, metadata: dict[str, Any]) -> str | None:
        """The path of the replay checkpoint that goes with `metadata`'s step."""
        if metadata.get("replay") is None:
            return None
        path = os.path.join(self.replay_directory, metadata["replay"])
        if not os.path.isdir(path):
            raise errors.CheckpointError(
                f"The checkpoint's replay data {path} is missing; restore it, or delete "
                f"{self.directory} to start the run afresh."
            )
        return path

    def _delete_unreferenced_replay(self) -> None:
        keep = {self.read_metadata(step).get("replay") for step in self._manager.all_steps()}
        for name in os.listdir(self.replay_directory):
            if name not in keep:
                shutil.rmtree(os.path.join(self.replay_directory, name), ignore_errors=True)

    def close(self) -> None:
        self._manager.close()
