"""Experiment checkpoints: orbax for arrays and JSON, the replay backend's format for replay.

A checkpoint at step N is an orbax step directory `checkpoints/N` holding the agent's state
(learner, actor and schedule: arrays only) and JSON metadata (counters, evaluations so far,
the replay checkpoint it goes with), plus that replay checkpoint in `replay/N`.

Order of writes: the replay backend writes the tables to `.replay-staging/` (keeping only its
latest checkpoint there), the finished directory is renamed to `replay/N`, then orbax writes
`checkpoints/N` to a temporary directory and renames it when complete. A crash at any point
leaves the previous step whole; leftovers (staging, a `replay/N` with no orbax step) are
deleted on the next start. Nothing is pickled: loading a checkpoint runs no code from it.

Last of all, a manifest `manifests/N.json` lists every file of both with its size and
SHA-256, written atomically: it is what commits the checkpoint. On the next start every
checkpoint is checked against its manifest before anything reads it (orbax would fail on a
damaged file with pages of tracebacks, Reverb's loader abort the process). A checkpoint that
fails, or that has no manifest while an older one has (its write did not finish), is moved to
`damaged/` and the run resumes from the newest intact one; a damaged replay checkpoint alone
is moved aside and the run resumes with empty tables. `skipped` says what was set aside and
why, one line each. Checkpoints from before manifests are used as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Any

import jax
import orbax.checkpoint as ocp

from rlkit import errors
from rlkit.utils import locks


def _abstract(tree: Any) -> Any:
    return jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, tree)


MANIFEST_FORMAT = 1


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(root: str, directory: str) -> dict[str, list[Any]]:
    """`{path relative to root: [size, sha256]}` of every file under `root/directory`."""
    table = {}
    for folder, _, names in os.walk(os.path.join(root, directory)):
        for name in sorted(names):
            path = os.path.join(folder, name)
            table[os.path.relpath(path, root)] = [os.path.getsize(path), _sha256(path)]
    return table


def _first_mismatch(root: str, files: dict[str, list[Any]]) -> str | None:
    """What is wrong with the first file of `files` that is not as listed, or None."""
    for relative, (size, digest) in sorted(files.items()):
        path = os.path.join(root, relative)
        if not os.path.isfile(path):
            return f"{relative} is missing"
        actual = os.path.getsize(path)
        if actual != size:
            return f"{relative} is {actual} bytes, expected {size}"
        if _sha256(path) != digest:
            return f"{relative} does not match its checksum"
    return None


def _write_atomically(path: str, text: str) -> None:
    staging = f"{path}.tmp"
    with open(staging, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(staging, path)
    directory = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class Checkpointer:
    """Saves and restores an experiment under `run_dir` (`checkpoints/`, `replay/`,
    `manifests/`), setting damaged checkpoints aside in `damaged/` on start."""

    def __init__(self, run_dir: str, max_to_keep: int = 2):
        self.run_dir = os.path.abspath(run_dir)
        self.directory = os.path.join(self.run_dir, "checkpoints")
        self.replay_directory = os.path.join(self.run_dir, "replay")
        self.replay_staging_directory = os.path.join(self.run_dir, ".replay-staging")
        self.manifest_directory = os.path.join(self.run_dir, "manifests")
        self.damaged_directory = os.path.join(self.run_dir, "damaged")
        for directory in (self.directory, self.replay_directory, self.manifest_directory):
            os.makedirs(directory, exist_ok=True)
        shutil.rmtree(self.replay_staging_directory, ignore_errors=True)
        self.skipped: list[str] = []  # What was set aside on start, and why: a line each.
        self._replay_set_aside: set[int] = set()
        self._check_against_manifests()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            enable_async_checkpointing=False,
            cleanup_tmp_directories=True,  # A write interrupted by a crash is removed.
            create=True,
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)
        self._delete_unreferenced_replay()  # Left by a crash between the two writes.

    def _manifest_path(self, step: int) -> str:
        return os.path.join(self.manifest_directory, f"{step}.json")

    def _set_aside(self, folder: str, step: int) -> str:
        """Moves `folder/step` into `damaged/` (kept for inspection); returns where to."""
        source = os.path.join(self.run_dir, folder, str(step))
        os.makedirs(self.damaged_directory, exist_ok=True)
        target = os.path.join(self.damaged_directory, f"{folder}-{step}")
        suffix = 1
        while os.path.exists(target):
            suffix += 1
            target = os.path.join(self.damaged_directory, f"{folder}-{step}.{suffix}")
        if os.path.exists(source):
            os.replace(source, target)
        return os.path.relpath(target, self.run_dir)

    def _check_against_manifests(self) -> None:
        """Sets aside every checkpoint that does not match its manifest (see the module's
        docstring), before orbax or a replay backend reads any of it."""
        steps = sorted(int(name) for name in os.listdir(self.directory) if name.isdigit())
        manifests = {
            int(name[: -len(".json")])
            for name in os.listdir(self.manifest_directory)
            if name.endswith(".json") and name[: -len(".json")].isdigit()
        }
        for step in manifests - set(steps):  # Its checkpoint was deleted or set aside.
            os.remove(self._manifest_path(step))
        oldest_manifest = min(manifests & set(steps), default=None)
        for step in steps:
            if step not in manifests:
                if oldest_manifest is not None and step > oldest_manifest:
                    self._set_aside_checkpoint(step, "its write did not finish (no manifest)")
                continue  # A checkpoint from before manifests: used as it is.
            try:
                with open(self._manifest_path(step)) as file:
                    manifest = json.load(file)
                files = {str(k): list(v) for k, v in manifest["files"].items()}
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
                self._set_aside_checkpoint(step, f"its manifest is unreadable ({error})")
                continue
            replay_prefix = os.path.join("replay", str(step)) + os.sep
            replay_files = {k: v for k, v in files.items() if k.startswith(replay_prefix)}
            state_files = {k: v for k, v in files.items() if k not in replay_files}
            problem = _first_mismatch(self.run_dir, state_files)
            if problem is not None:
                self._set_aside_checkpoint(step, problem)
                continue
            problem = _first_mismatch(self.run_dir, replay_files)
            if problem is not None:
                where = self._set_aside("replay", step)
                self._replay_set_aside.add(step)
                self.skipped.append(
                    f"replay checkpoint {step} is damaged ({problem}); moved to {where}: "
                    "the run resumes with empty replay tables"
                )

    def _set_aside_checkpoint(self, step: int, reason: str) -> None:
        where = self._set_aside("checkpoints", step)
        self._set_aside("replay", step)
        manifest = self._manifest_path(step)
        if os.path.exists(manifest):
            os.remove(manifest)
        self.skipped.append(f"checkpoint {step} skipped: {reason}; moved to {where}")

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
        """Writes step `step`, with `replay` (a finished replay checkpoint in staging).

        A write that fails on the filesystem (a full disk, ...) raises `CheckpointError`; the
        previous checkpoint is untouched, and the unfinished one is set aside on the next
        start (it has no manifest).
        """
        previous = self.latest_step()
        try:
            self._save(step, agent_state, metadata, replay)
        except OSError as error:
            intact = f"checkpoint {previous} is intact" if previous else "no checkpoint is lost"
            raise errors.CheckpointError(
                f"Writing checkpoint {step} to {self.run_dir} failed "
                f"({error.strerror or error}); {intact}. Free space (or fix the directory) "
                "and rerun the same command to resume."
            ) from None

    def _save(
        self, step: int, agent_state: Any, metadata: dict[str, Any], replay: str | None
    ) -> None:
        if replay is not None:
            committed = os.path.join(self.replay_directory, str(step))
            shutil.rmtree(committed, ignore_errors=True)
            os.replace(replay, committed)
            metadata = {**metadata, "replay": str(step)}
        with locks.ORBAX:
            self._manager.save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(agent_state), meta=ocp.args.JsonSave(metadata)
                ),
                force=True,
            )
            self._manager.wait_until_finished()
        files = _files(self.run_dir, os.path.join("checkpoints", str(step)))
        if replay is not None:
            files.update(_files(self.run_dir, os.path.join("replay", str(step))))
        manifest = {"format": MANIFEST_FORMAT, "step": step, "files": files}
        _write_atomically(self._manifest_path(step), json.dumps(manifest, indent=1))
        self._delete_unreferenced_replay()

    def read_metadata(self, step: int) -> dict[str, Any]:
        with locks.ORBAX:
            restored = self._manager.restore(
                step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
            )
        return dict(restored.meta)

    def restore_state(self, step: int, like: Any) -> Any:
        """The agent state of step `step`, in the structure (and dtypes) of `like`."""
        try:
            with locks.ORBAX:
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
        """The path of the replay checkpoint that goes with `metadata`'s step; None without
        one, or when it was set aside as damaged (the run resumes with empty tables)."""
        if metadata.get("replay") is None or int(metadata["replay"]) in self._replay_set_aside:
            return None
        path = os.path.join(self.replay_directory, metadata["replay"])
        if not os.path.isdir(path):
            raise errors.CheckpointError(
                f"The checkpoint's replay data {path} is missing; restore it, or delete "
                f"{self.directory} to start the run afresh."
            )
        return path

    def replay_was_set_aside(self, step: int) -> bool:
        """Whether step `step`'s replay checkpoint was damaged and set aside on start."""
        return step in self._replay_set_aside

    def _delete_unreferenced_replay(self) -> None:
        steps = self._manager.all_steps()
        keep = {self.read_metadata(step).get("replay") for step in steps}
        for name in os.listdir(self.replay_directory):
            if name not in keep:
                shutil.rmtree(os.path.join(self.replay_directory, name), ignore_errors=True)
        for name in os.listdir(self.manifest_directory):  # Steps orbax no longer keeps.
            step = name.split(".")[0]
            if name.endswith(".tmp") or (step.isdigit() and int(step) not in steps):
                os.remove(os.path.join(self.manifest_directory, name))

    def close(self) -> None:
        self._manager.close()
