"""Exported policies: parameters (orbax) plus a description (JSON) that rebuilds the actor.

`export_policy` writes `RUN_DIR/policy/{params/, policy.json}`; `load_policy(RUN_DIR)` turns
it back into an actor on the agent's evaluation policy with no learner, replay or
optimiser state. What `rlkit play` and `rlkit eval` run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from rlkit import configs, core, environments, errors, specs, types

if TYPE_CHECKING:
    import dm_env

# JAX and orbax are imported where they are used: `rlkit eval` and `rlkit play` check the
# run directory first, so that a mistyped path is reported at once.

POLICY_DIR = "policy"


def policy_description(
    agent: str,
    env_id: str,
    agent_config: Any,
    env_kwargs: dict[str, Any] | None = None,
    env_recipe: str = "auto",
) -> dict[str, Any]:
    """What `load_policy` needs to rebuild a policy: the agent by name, its config, the env
    and the recipe that builds it (see `rlkit.environments`)."""
    return {
        "agent": agent,
        "env_id": env_id,
        "env_recipe": environments.resolve_recipe(env_id, env_recipe),
        "env_kwargs": dict(env_kwargs or {}),
        "agent_config": configs.config_to_dict(agent_config),
    }


def export_policy(run_dir: str, params: types.Params, description: dict[str, Any]) -> str:
    """Writes `params` and `description` (see `policy_description`) to `run_dir/policy`.

    An existing policy is replaced only once the new one is completely written.
    """
    import jax
    import orbax.checkpoint as ocp

    target = os.path.abspath(os.path.join(run_dir, POLICY_DIR))
    staging = f"{target}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(os.path.join(staging, "params"), jax.device_get(params))
    with open(os.path.join(staging, "policy.json"), "w") as file:
        json.dump(description, file, indent=2)
    previous = f"{target}.old"
    if os.path.exists(target):
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(target, previous)
    os.replace(staging, target)
    shutil.rmtree(previous, ignore_errors=True)
    return target


@dataclasses.dataclass
class SavedPolicy:
    """A trained policy loaded from a run directory, with what it needs to act."""

    agent: str
    env_id: str
    env_kwargs: dict[str, Any]
    env_recipe: str
    config: Any
    params: types.Params
    networks: Any
    environment_spec: specs.EnvironmentSpec
    description: dict[str, Any]
    _entry: Any

    def make_environment(self, seed: int | None = None, **kwargs) -> dm_env.Environment:
        """A fresh instance of the environment it was trained on, built by the run's recipe
        for evaluation (true returns); `kwargs` add to the run's."""
        return environments.make_environment(
            self.env_id,
            seed=seed,
            recipe=self.env_recipe,
            evaluation=True,
            **{**self.env_kwargs, **kwargs},
        )

    def make_actor(self, seed: int = 0) -> core.Actor:
        """An actor on the agent's evaluation (greedy / deterministic) policy."""
        import jax

        from rlkit.jax import variable_utils

        builder = self._entry.make_builder(self.config)
        policy = builder.make_policy(self.networks, self.environment_spec, evaluation=True)
        source = variable_utils.StaticVariableSource(self.params)
        return builder.make_actor(jax.random.PRNGKey(seed), policy, self.environment_spec, source)

    @property
    def value_function(self) -> Callable[[Any], np.ndarray] | None:
        """`observations [B, ...] -> values [B, num_actions]`, or None if the agent has none."""
        if self._entry.make_value_function is None:
            return None
        import jax

        apply = jax.jit(self._entry.make_value_function(self.networks))
        return lambda observations: np.asarray(apply(self.params, observations))


def _policy_directory(run_dir: str) -> str:
    policy_dir = os.path.join(run_dir, POLICY_DIR)
    # `policy.old` is the previous export, for the moment `export_policy` swaps them.
    for candidate in (policy_dir, f"{policy_dir}.old", run_dir):
        if os.path.isfile(os.path.join(candidate, "policy.json")):
            return candidate
    if not os.path.isdir(run_dir):
        raise errors.CheckpointError(f"Run directory {run_dir!r} does not exist.")
    raise errors.CheckpointError(
        f"No saved policy in {run_dir!r} (expected {POLICY_DIR}/policy.json): train it with "
        "`rlkit train` (a policy is exported at the end of training), or point at a run dir."
    )


def load_policy(run_dir: str) -> SavedPolicy:
    """Loads the policy exported to `run_dir` (a run directory or its `policy/` folder)."""
    from rlkit.agents import registry

    directory = _policy_directory(run_dir)
    try:
        with open(os.path.join(directory, "policy.json")) as file:
            description = json.load(file)
        agent, env_id = description["agent"], description["env_id"]
        agent_config = dict(description["agent_config"])
        env_kwargs = dict(description.get("env_kwargs") or {})
        env_recipe = description.get("env_recipe", "auto")  # Policies before recipes: auto.
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise errors.CheckpointError(
            f"{directory}/policy.json is unreadable or incomplete ({error!r}); export the "
            "policy again (rerun training, or `rlkit.experiments.export_policy`)."
        ) from None
    entry = registry.get_agent(agent)
    import jax
    import orbax.checkpoint as ocp

    config = configs.load_config(entry.config_class, values=agent_config)
    environment = environments.make_environment(
        env_id, recipe=env_recipe, evaluation=True, **env_kwargs
    )
    environment_spec = specs.make_environment_spec(environment)
    environment.close()
    networks = entry.make_networks(environment_spec, config)
    # An exported policy holds what acting needs: for actor-critic containers the policy's
    # parameters alone (`init_policy`), for value networks all of them (`init`).
    init_policy = getattr(networks, "init_policy", networks.init)
    like = jax.eval_shape(init_policy, jax.random.PRNGKey(0))
    # Orbax refuses relative paths; users give them relative to the working directory.
    params_path = os.path.abspath(os.path.join(directory, "params"))
    try:
        with ocp.StandardCheckpointer() as checkpointer:
            params = checkpointer.restore(params_path, like)
    except (ValueError, FileNotFoundError) as error:
        raise errors.CheckpointError(
            f"The policy parameters in {directory} cannot be loaded ({error})."
        ) from None
    return SavedPolicy(
        agent=entry.name,
        env_id=env_id,
        env_kwargs=env_kwargs,
        env_recipe=env_recipe,
        config=config,
        params=params,
        networks=networks,
        environment_spec=environment_spec,
        description=description,
        _entry=entry,
    )
