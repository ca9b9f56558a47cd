"""`make_experiment_config`: an `ExperimentConfig` for a registered agent, by name."""

from __future__ import annotations

import functools
from typing import Any

from rlkit import environments, errors, specs
from rlkit.agents import registry
from rlkit.experiments import policy
from rlkit.experiments.config import ExperimentConfig
from rlkit.jax_environments.ids import is_jax_environment_id


def make_experiment_config(
    agent: str,
    env_id: str,
    agent_config: Any | None = None,
    env_kwargs: dict[str, Any] | None = None,
    env_recipe: str = "auto",
    vector_backend: str = "gymnasium",
    **experiment_kwargs,
) -> ExperimentConfig:
    """The experiment of agent `agent` (e.g. "dqn") on gymnasium's `env_id`.

    `agent_config` defaults to the agent's shipped YAML for the environment if there is one
    (`rlkit/agents/dqn/configs/dqn/cartpole.yaml`), else the config class's defaults. The run is
    described by name, so its exported policy can be loaded with `load_policy`. `env_recipe`
    says how the environment is built ("auto": the Atari preprocessing for `ALE/` ids; see
    `rlkit.environments`); evaluation builds it for evaluation (true, unclipped returns).
    `vector_backend` ("gymnasium" or "envpool") steps a batched agent's environments
    (`make_vector_environment`'s `backend`); evaluation and the spec probe use gymnasium.

    Raises:
      UnknownAgentError, UnknownEnvironmentError, ConfigError: for bad names or values; an
        environment whose action space the agent cannot handle is a ConfigError.
    """
    entry = registry.get_agent(agent)
    env_recipe = entry.resolve_recipe(env_id, env_recipe)
    if agent_config is None:
        agent_config = entry.load_config(env_id)
    if not isinstance(agent_config, entry.config_class):
        raise TypeError(
            f"agent_config must be a {entry.config_class.__name__}, "
            f"got {type(agent_config).__name__}."
        )
    env_kwargs = dict(env_kwargs or {})
    # Fail on an unknown id or an unsupported action space now, not inside the run.
    probe = environments.make_environment(env_id, recipe=env_recipe, **env_kwargs)
    try:
        entry.make_networks(specs.make_environment_spec(probe), agent_config)
    finally:
        probe.close()

    description = policy.policy_description(
        entry.name, env_id, agent_config, env_kwargs, env_recipe
    )
    builder = entry.make_builder(agent_config)
    num_envs = builder.num_envs  # Agents that act in batches: the config says how many.
    if vector_backend != "gymnasium" and num_envs is None:
        raise errors.ConfigError(
            f"vector_backend={vector_backend!r} steps batched environments, but {entry.name}'s "
            "config acts in one plain environment (set its num_envs to use a batch)."
        )

    def environment_factory(seed: int):
        if num_envs is None:
            return environments.make_environment(env_id, seed=seed, recipe=env_recipe, **env_kwargs)
        return environments.make_vector_environment(
            env_id, num_envs, seed=seed, recipe=env_recipe, backend=vector_backend, **env_kwargs
        )

    jax_environment_factory = None
    if is_jax_environment_id(env_id):  # The Anakin layout steps it inside its jitted chunks.
        jax_environment_factory = functools.partial(
            environments.make_jax_environment, env_id, env_recipe, **env_kwargs
        )
    return ExperimentConfig(
        builder=builder,
        jax_environment_factory=jax_environment_factory,
        environment_factory=environment_factory,
        evaluation_environment_factory=lambda seed: environments.make_environment(
            env_id, seed=seed, recipe=env_recipe, evaluation=True, **env_kwargs
        ),
        network_factory=lambda spec: entry.make_networks(spec, agent_config),
        description=description,
        **experiment_kwargs,
    )
