"""The agents `rlkit` knows by name: what the CLI, tuning and policy loading look up."""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
from collections.abc import Callable, Sequence
from typing import Any

from rlkit import builders, configs, errors, specs


class UnknownAgentError(errors.RlkitError, ValueError):
    """An agent name that is not registered."""


@dataclasses.dataclass(frozen=True)
class AgentEntry:
    """How to build one agent from its config.

    Attributes:
      name: the command-line name (`rlkit train NAME`).
      description: one line for `rlkit agents`.
      action_spaces: the action spaces it supports, in words.
      config_class: its config dataclass.
      make_builder: `(config, block_inserts) -> builder`.
      make_networks: `(environment_spec, config) -> networks`; raises `ConfigError` for an
        environment the agent cannot handle.
      make_value_function: `(networks) -> (params, observations [B, ...]) -> values [B, A]`,
        the per-action values for analysis plots; None if the agent has none.
      package: the agent's package; its `configs/` folder holds default YAMLs named after
        environments (`cartpole.yaml` for `CartPole-v1`) and `tune_space.yaml`.
    """

    name: str
    description: str
    action_spaces: str
    config_class: type
    make_builder: Callable[[Any, bool], builders.ActorLearnerBuilder]
    make_networks: Callable[[specs.EnvironmentSpec, Any], Any]
    make_value_function: Callable[[Any], Callable[[Any, Any], Any]] | None
    package: str

    def _config_file(self, name: str) -> str | None:
        path = importlib.resources.files(self.package).joinpath("configs", name)
        return str(path) if path.is_file() else None

    def default_config_path(self, env_id: str) -> str | None:
        """The shipped YAML for `env_id` (e.g. `configs/cartpole.yaml`), if there is one."""
        return self._config_file(f"{environment_key(env_id)}.yaml")

    def load_config(
        self, env_id: str, files: Sequence[str] = (), overrides: Sequence[str] = ()
    ) -> Any:
        """The config for `env_id`: the shipped YAML for it (unless `files` are given, which
        replace it), then `key=value` overrides. Raises `ConfigError` on any mistake."""
        if not files:
            default = self.default_config_path(env_id)
            files = [default] if default else []
        return configs.load_config(self.config_class, files, overrides)

    def tune_space_path(self) -> str | None:
        """The shipped default search space for `rlkit tune`."""
        return self._config_file("tune_space.yaml")


def environment_key(env_id: str) -> str:
    """`CartPole-v1` -> `cartpole`, `ALE/Pong-v5` -> `pong`: default config file names."""
    return re.sub(r"-v\d+$", "", env_id.split("/")[-1]).lower().replace("-", "_")


def _dqn() -> AgentEntry:
    from rlkit.agents import dqn

    return AgentEntry(
        name="dqn",
        description="Double DQN with n-step returns, Huber loss and Reverb replay",
        action_spaces="discrete",
        config_class=dqn.DQNConfig,
        make_builder=lambda config, block_inserts: dqn.DQNBuilder(config, block_inserts),
        make_networks=dqn.make_networks,
        make_value_function=lambda networks: networks.apply,
        package="rlkit.agents.dqn",
    )


_FACTORIES: dict[str, Callable[[], AgentEntry]] = {"dqn": _dqn}


def agent_names() -> list[str]:
    return list(_FACTORIES)


def get_agent(name: str) -> AgentEntry:
    """The registered agent `name`; raises `UnknownAgentError` listing the known ones."""
    if name not in _FACTORIES:
        raise UnknownAgentError(
            f"Unknown agent {name!r}; choose one of: {', '.join(_FACTORIES)} "
            "(`rlkit agents` lists them)."
        )
    return _FACTORIES[name]()
