"""Exported policies: parameters (orbax) plus a description (JSON) that rebuilds the policy.

`export_policy` writes `RUN_DIR/policy/{params/, policy.json}`; `load_policy(RUN_DIR)` loads
it as a `SavedPolicy`: the agent's policy alone, with no learner, replay or optimiser state.

- `policy.predict(observation)` acts on one observation or a batch (numpy in, numpy out)
  as the gymnasium environment itself takes actions: `env.step(policy.predict(obs))` on
  `gymnasium.make(policy.env_id)` works (the run's recipe, e.g. the continuous agents'
  rescaling from [-1, 1], is applied). Greedy / deterministic unless `deterministic=False`.
- `policy.make_actor()` and `policy.make_environment()` are the dm_env actor and environment
  that `rlkit eval` and `rlkit play` run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import tree
from dm_env import specs as dm_specs

from rlkit import configs, core, environments, errors, specs, types, wrappers
from rlkit.utils import locks

if TYPE_CHECKING:
    import dm_env

# JAX and orbax are imported where they are used: `rlkit eval` and `rlkit play` check the
# run directory first, so that a mistyped path is reported at once.

POLICY_DIR = "policy"
BEST_POLICY_DIR = "policy_best"  # The best evaluated policy (the `BestPolicy` callback's).


def policy_description(
    agent: str,
    env_id: str,
    agent_config: Any,
    env_kwargs: dict[str, Any] | None = None,
    env_recipe: str = "auto",
) -> dict[str, Any]:
    """What `load_policy` needs to rebuild a policy: the agent by name, its config, the env
    and the recipe that builds it (see `rlkit.environments`; "auto" is the agent's own)."""
    from rlkit.agents import registry

    return {
        "agent": agent,
        "env_id": env_id,
        "env_recipe": registry.get_agent(agent).resolve_recipe(env_id, env_recipe),
        "env_kwargs": dict(env_kwargs or {}),
        "agent_config": configs.config_to_dict(agent_config),
    }


def export_policy(
    run_dir: str, params: types.Params, description: dict[str, Any], dirname: str = POLICY_DIR
) -> str:
    """Writes `params` and `description` (see `policy_description`) to `run_dir/dirname`
    (`policy/`; the best evaluated one goes to `policy_best/`).

    An existing policy is replaced only once the new one is completely written.
    """
    import jax
    import orbax.checkpoint as ocp

    target = os.path.abspath(os.path.join(run_dir, dirname))
    staging = f"{target}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    with locks.ORBAX, ocp.StandardCheckpointer() as checkpointer:
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


def _describe_spec(spec: Any) -> str:
    """A short summary of a (nested) spec: `float32[4]`, `discrete(2)`, `float32[1] in [-2, 2]`."""
    if isinstance(spec, dict):
        return "{" + ", ".join(f"{k}: {_describe_spec(v)}" for k, v in spec.items()) + "}"
    if isinstance(spec, tuple | list):
        return "(" + ", ".join(_describe_spec(v) for v in spec) + ")"
    if isinstance(spec, dm_specs.DiscreteArray):
        return f"discrete({spec.num_values})"
    text = f"{np.dtype(spec.dtype).name}{list(spec.shape)}"
    if isinstance(spec, dm_specs.BoundedArray):
        low, high = np.unique(spec.minimum), np.unique(spec.maximum)
        if low.size == 1 and high.size == 1:  # One bound for every element: show it.
            text += f" in [{low[0]:g}, {high[0]:g}]"
    return text


def _environment_actions(environment: dm_env.Environment) -> tuple[Any, Callable[[Any], Any]]:
    """The action spec of the gymnasium environment under the recipe's wrappers, and a map
    from the agent's actions (one or a batch) onto it: the recipe's rescaling (the
    continuous recipe's [-1, 1] -> the Box's bounds), then the environment's own dtypes."""
    rescale = []
    inner = environment
    while isinstance(inner, wrappers.EnvironmentWrapper):
        if isinstance(inner, wrappers.CanonicalSpecWrapper):
            rescale.append(inner.inner_action)
        inner = inner.environment
    spec = inner.action_spec()  # The gymnasium space's own dtypes (not narrowed to 32 bits).
    cast = specs.make_caster(spec)

    def convert(action: Any) -> Any:
        for step in rescale:
            action = step(action)
        return cast(action)

    return spec, convert


@dataclasses.dataclass(repr=False)
class SavedPolicy:
    """A trained policy loaded from a run directory (`load_policy`), with what it needs to act.

    `predict(observation)` acts in the gymnasium environment `env_id` directly; `make_actor()`
    is the dm_env actor for an `EnvironmentLoop` on `make_environment()`. It holds the policy's
    parameters alone: no learner, replay or optimiser state.
    """

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
    # The gymnasium environment's own action spec, and agent action -> that space.
    environment_action_spec: Any = None
    _to_environment_action: Callable[[Any], Any] | None = None
    _act: dict[bool, Callable[..., Any]] = dataclasses.field(default_factory=dict)
    _key: Any = None

    def __repr__(self) -> str:
        actions = self.environment_action_spec
        if actions is None:
            actions = self.environment_spec.actions
        fields = [
            f"agent={self.agent!r}",
            f"env_id={self.env_id!r}",
            f"recipe={self.env_recipe!r}",
            f"observations={_describe_spec(self.environment_spec.observations)}",
            f"actions={_describe_spec(actions)}",
        ]
        if self.env_kwargs:
            fields.append(f"env_kwargs={self.env_kwargs!r}")
        steps = self.description.get("actor_steps")
        if steps is not None:
            fields.append(f"exported_at_step={steps}")
        evaluation = self.description.get("evaluation_return")
        if evaluation is not None:
            fields.append(f"evaluation_return={evaluation:.1f}")
        return f"SavedPolicy({', '.join(fields)})"

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
        """A dm_env actor on the agent's evaluation (greedy / deterministic) policy, for an
        `EnvironmentLoop` on `make_environment()` (its actions are in the agent's action
        spec, e.g. [-1, 1] for the continuous agents: the recipe's wrappers rescale them)."""
        import jax

        from rlkit.jax import variable_utils

        builder = self._entry.make_builder(self.config)
        policy = builder.make_policy(self.networks, self.environment_spec, evaluation=True)
        source = variable_utils.StaticVariableSource(self.params)
        return builder.make_actor(jax.random.PRNGKey(seed), policy, self.environment_spec, source)

    @property
    def can_sample(self) -> bool:
        """Whether the policy is a distribution to sample from (`predict(...,
        deterministic=False)`): the on-policy agents' and SAC's; not the DQN family's
        (greedy) nor TD3's, DDPG's or D4PG's (deterministic)."""
        return getattr(self.networks, "policy_kind", None) in (
            "categorical",
            "gaussian",
            "tanh_gaussian",
        )

    def predict(self, observation: Any, deterministic: bool = True, seed: int | None = None) -> Any:
        """The action for `observation`, as the gymnasium environment `env_id` takes it.

        `env.step(policy.predict(obs))` works on `gymnasium.make(policy.env_id)` as it is:
        observations are cast to the policy's dtypes and go through what the exported policy
        does to them (e.g. an on-policy agent's observation normalisation); actions come back
        in the environment's own action space (the continuous recipe's [-1, 1] rescaled to the
        Box's bounds) and dtype. Unlike Stable-Baselines3's `predict`, it returns the action
        alone (no recurrent state).

        One observation or a batch: an observation whose shape is the observation spec's
        (`environment_spec.observations.shape`) is one, and gives one action; a leading axis
        more makes a batch of B, and gives B actions (e.g. from a gymnasium vector env). Any
        other shape raises `ValueError` naming the expected one. For the Atari recipe the
        observations are the recipe's preprocessed, stacked frames (`make_environment()`'s).

        Args:
          observation: a numpy array (or nest of them, as the observation spec).
          deterministic: the greedy / noise-free action (the evaluation policy, what `rlkit
            eval` runs). False samples from the policy's distribution, for policies that
            have one (`can_sample`); others raise `ValueError`.
          seed: restarts the sampling stream from this seed first (it starts at 0).
        """
        import jax

        if not deterministic and not self.can_sample:
            raise ValueError(
                f"{self.agent}'s policy is deterministic (its exploration noise or epsilon is "
                "part of training, not of the policy): it has nothing to sample; call "
                "predict(observation) with deterministic=True."
            )
        observations, batched = self._batch_observations(observation)
        if seed is not None or self._key is None:
            self._key = jax.random.PRNGKey(0 if seed is None else seed)
        actions, self._key = self._act_function(deterministic)(self.params, observations, self._key)
        actions = jax.device_get(actions)
        if not batched:
            actions = jax.tree_util.tree_map(lambda leaf: leaf[0], actions)
        if self._to_environment_action is None:  # Not made by `load_policy`: as acted.
            return actions
        return self._to_environment_action(actions)

    def _batch_observations(self, observation: Any) -> tuple[Any, bool]:
        """`observation` with a leading batch axis, cast to the spec's dtypes, and whether it
        had one (one observation: the spec's shape; a batch: one axis more)."""
        spec = self.environment_spec.observations
        try:
            leaves = tree.flatten_up_to(spec, observation)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"observation does not match the observation spec's structure ({error}); "
                f"expected {_describe_spec(spec)}."
            ) from None
        spec_leaves = tree.flatten(spec)
        arrays = [np.asarray(leaf) for leaf in leaves]
        batched = None
        for array, leaf_spec in zip(arrays, spec_leaves, strict=True):
            shape, expected = array.shape, tuple(leaf_spec.shape)
            if shape == expected:
                leaf_batched = False
            elif shape[1:] == expected and array.ndim == len(expected) + 1:
                leaf_batched = True
            else:
                hint = (
                    " The Atari recipe's observations are preprocessed, stacked frames: act "
                    "in policy.make_environment()."
                    if self.env_recipe == "atari"
                    else ""
                )
                raise ValueError(
                    f"observation has shape {shape}; expected {expected} (one observation) or "
                    f"(batch, {', '.join(map(str, expected))}) (a batch) for "
                    f"{self.agent} on {self.env_id}.{hint}"
                )
            if batched is not None and leaf_batched != batched:
                raise ValueError(
                    "observation mixes batched and single parts; give every part one "
                    "leading batch axis, or none."
                )
            batched = leaf_batched
        cast = [
            np.asarray(array if batched else array[None], dtype=leaf_spec.dtype)
            for array, leaf_spec in zip(arrays, spec_leaves, strict=True)
        ]
        return tree.unflatten_as(spec, cast), bool(batched)

    def _act_function(self, deterministic: bool) -> Callable[..., Any]:
        """`(params, observations [B, ...], key) -> (actions [B, ...], next key)` in the
        agent's action spec: the builder's policy (evaluation policy, or the sampling one),
        jitted, vmapped; the key is split inside, so a call is one dispatch."""
        act = self._act.get(deterministic)
        if act is not None:
            return act
        import jax

        config = self.config
        if deterministic and getattr(config, "evaluation_epsilon", 0.0):
            # Deterministic means greedy, whatever epsilon `rlkit eval` runs with.
            config = dataclasses.replace(config, evaluation_epsilon=0.0)
        if not deterministic and getattr(config, "random_action_steps", 0):
            # Sampling from the policy: no warm-up of uniform actions (a training device).
            config = dataclasses.replace(config, random_action_steps=0)
        builder = self._entry.make_builder(config)
        actor_core = builder.make_policy(
            self.networks, self.environment_spec, evaluation=deterministic
        )

        def act_one(params, observation, key):
            action, _ = actor_core.select_action(params, observation, actor_core.init(key))
            return action

        def act_batch(params, observations, key):
            size = jax.tree_util.tree_leaves(observations)[0].shape[0]
            next_key, key = jax.random.split(key)
            keys = jax.random.split(key, size)
            return jax.vmap(act_one, in_axes=(None, 0, 0))(params, observations, keys), next_key

        act = self._act[deterministic] = jax.jit(act_batch)
        return act

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


def _best_policy_directory(run_dir: str) -> str:
    directory = os.path.join(run_dir, BEST_POLICY_DIR)
    if os.path.isfile(os.path.join(directory, "policy.json")):
        return directory
    if not os.path.isdir(run_dir):
        raise errors.CheckpointError(f"Run directory {run_dir!r} does not exist.")
    raise errors.CheckpointError(
        f"No best policy in {run_dir!r} (expected {BEST_POLICY_DIR}/policy.json): it is kept "
        "by `rlkit train` (unless --no-keep-best) or the BestPolicy callback; load the final "
        "policy without --best."
    )


def load_policy(run_dir: str, best: bool = False) -> SavedPolicy:
    """Loads the policy exported to `run_dir` (a run directory or its `policy/` folder);
    with `best`, the best evaluated one (`run_dir/policy_best`, kept by the `BestPolicy`
    callback, which `rlkit train` runs).

    `load_policy(run_dir).predict(observation)` acts in `gymnasium.make(env_id)`; see
    `SavedPolicy`. Raises `CheckpointError` for a missing or damaged policy.
    """
    from rlkit.agents import registry

    directory = _best_policy_directory(run_dir) if best else _policy_directory(run_dir)
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
    try:
        environment_spec = specs.make_environment_spec(environment)
        environment_action_spec, to_environment_action = _environment_actions(environment)
    finally:
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
        environment_action_spec=environment_action_spec,
        _to_environment_action=to_environment_action,
    )
