"""The agents `rlkit` knows by name: what the CLI, tuning and policy loading look up."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import importlib.resources
import pkgutil
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rlkit import errors

if TYPE_CHECKING:
    from rlkit import builders, specs


class UnknownAgentError(errors.RlkitError, ValueError):
    """An agent name that is not registered."""


def _resolve(reference: Any) -> Any:
    """`"package.module:attribute"` -> the attribute, importing the module now; anything
    else is the object itself."""
    if not isinstance(reference, str):
        return reference
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclasses.dataclass(frozen=True)
class AgentEntry:
    """How to build one agent from its config.

    Everything but the name and descriptions is the object itself or a `"module:attribute"`
    reference, imported on first use: rlkit's own agents use references, as listing the
    agents (`rlkit agents`) or checking a command line must not import JAX or OmegaConf; an
    agent registered from a script can pass its classes and functions.

    Attributes:
      name: the command-line name (`rlkit train NAME`).
      description: one line for `rlkit agents`.
      action_spaces: the action spaces it supports, in words.
      package: the agent's package; its `configs_dir` folder holds default YAMLs named after
        environments (`cartpole.yaml` for `CartPole-v1`) and `tune_space.yaml`.
      config: its config dataclass.
      builder: `(config) -> builder`.
      networks: `(environment_spec, config) -> networks`; raises `ConfigError` for an
        environment the agent cannot handle.
      value_function: `(networks) -> (params, observations [B, ...]) -> values [B, A]`, the
        per-action values for analysis plots; None if the agent has none.
      env_recipe: the environment recipe "auto" stands for with this agent on a non-Atari id
        ("continuous" for agents that act in [-1, 1]; see `rlkit.environments`).
    """

    name: str
    description: str
    action_spaces: str
    package: str
    config: str | type
    builder: str | Callable[[Any], builders.ActorLearnerBuilder]
    networks: str | Callable[[specs.EnvironmentSpec, Any], Any]
    value_function: str | Callable[[Any], Any] | None = None
    configs_dir: str = "configs"
    env_recipe: str = "gymnasium"

    def supports(self, action_space: str) -> bool:
        """Whether it can act in `action_space` ("discrete" or "continuous"), as its
        `action_spaces` words say ("discrete or continuous" supports both)."""
        words = re.split(r"[^a-z]+", self.action_spaces.lower())
        return action_space.lower() in words

    def resolve_recipe(self, env_id: str, recipe: str = "auto") -> str:
        """The recipe that builds `env_id` for this agent ("auto" -> its own)."""
        from rlkit.recipes import resolve_recipe

        return resolve_recipe(env_id, recipe, self.env_recipe)

    @property
    def config_class(self) -> type:
        """The agent's config dataclass."""
        return _resolve(self.config)

    def make_builder(self, config: Any) -> builders.ActorLearnerBuilder:
        """The agent's builder for `config`."""
        return _resolve(self.builder)(config)

    def make_networks(self, environment_spec: specs.EnvironmentSpec, config: Any) -> Any:
        """The agent's networks for `environment_spec`; `ConfigError` if it cannot act there."""
        return _resolve(self.networks)(environment_spec, config)

    @property
    def make_value_function(self) -> Callable[[Any], Callable[[Any, Any], Any]] | None:
        """`(networks) -> (params, observations) -> values [B, A]`, or None."""
        return None if self.value_function is None else _resolve(self.value_function)

    def _config_file(self, name: str) -> str | None:
        path = importlib.resources.files(self.package).joinpath(*self.configs_dir.split("/"), name)
        return str(path) if path.is_file() else None

    def default_config_path(self, env_id: str) -> str | None:
        """The shipped YAML for `env_id` (e.g. `configs/dqn/cartpole.yaml`), else the one for
        its recipe (`atari.yaml` for any `ALE/` game), if there is one."""
        from rlkit.recipes import resolve_recipe

        keys = [environment_key(env_id)]
        if ":" in env_id:  # "gymnax:CartPole-v1": its own file, else the gymnasium game's.
            keys.append(environment_key(env_id.split(":", 1)[1]))
        for key in keys:
            if path := self._config_file(f"{key}.yaml"):
                return path
        return self._config_file(f"{resolve_recipe(env_id)}.yaml")

    def load_config(
        self, env_id: str, files: Sequence[str] = (), overrides: Sequence[str] = ()
    ) -> Any:
        """The config for `env_id`: the shipped YAML for it (unless `files` are given, which
        replace it), then `key=value` overrides. Raises `ConfigError` on any mistake."""
        if not files:
            default = self.default_config_path(env_id)
            files = [default] if default else []
        from rlkit import configs  # OmegaConf: not needed to list the agents.

        return configs.load_config(self.config_class, files, overrides)

    def tune_space_path(self) -> str | None:
        """The shipped default search space for `rlkit tune`."""
        return self._config_file("tune_space.yaml")


def environment_key(env_id: str) -> str:
    """`CartPole-v1` -> `cartpole`, `ALE/Pong-v5` -> `pong`, `gymnax:CartPole-v1` ->
    `gymnax_cartpole`: default config file names."""
    name = re.sub(r"-v\d+$", "", env_id.split("/")[-1]).lower()
    return name.replace("-", "_").replace(":", "_")


# Agents register themselves: each package under `rlkit.agents` calls `register` when
# imported, and installed packages can add agents through the `rlkit.agents` entry-point
# group (each entry point names a module that registers on import). Nothing lists them here.
ENTRY_POINT_GROUP = "rlkit.agents"
_AGENTS: dict[str, AgentEntry] = {}
_discovered = False
_PACKAGES: list[str] = []  # rlkit's agent packages, in the order they are discovered.


def register(entry: AgentEntry, replace: bool = False) -> AgentEntry:
    """Makes `entry` known by its name (for the CLI, tuning and policy loading).

    A name registered twice raises `ValueError` unless `replace`.
    """
    if entry.name in _AGENTS and not replace and _AGENTS[entry.name] != entry:
        raise ValueError(f"An agent named {entry.name!r} is registered already.")
    _AGENTS[entry.name] = entry
    return entry


def _discover() -> None:
    """Imports rlkit's agent packages and the `rlkit.agents` entry points, once."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    import rlkit.agents

    packages = [m.name for m in pkgutil.iter_modules(rlkit.agents.__path__) if m.ispkg]
    _PACKAGES[:] = [f"rlkit.agents.{name}" for name in packages]
    for package in _PACKAGES:
        importlib.import_module(package)
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        entry_point.load()


def _entries() -> list[AgentEntry]:
    """Every registered agent: rlkit's own by package (in discovery order, whichever was
    imported first) and in each package as registered, then the others as registered."""
    _discover()
    rank = {package: index for index, package in enumerate(_PACKAGES)}
    entries = list(_AGENTS.values())
    return sorted(entries, key=lambda entry: rank.get(entry.package, len(rank)))


def agent_names() -> list[str]:
    """The registered agents' names, rlkit's families first (see `_entries`)."""
    return [entry.name for entry in _entries()]


def agents_summary() -> str:
    """`dqn (discrete actions), ...`: every agent and what it can act in, for messages."""
    return ", ".join(f"{e.name} ({e.action_spaces} actions)" for e in _entries())


def agents_for(action_space: str) -> list[str]:
    """The registered agents that can act in `action_space` ("discrete" or "continuous"):
    what an error about an agent that cannot act there suggests instead."""
    return [entry.name for entry in _entries() if entry.supports(action_space)]


def get_agent(name: str) -> AgentEntry:
    """The registered agent `name`; raises `UnknownAgentError` listing the known ones."""
    _discover()
    if name not in _AGENTS:
        raise UnknownAgentError(
            f"Unknown agent {name!r}; choose one of: {', '.join(_AGENTS)} "
            "(`rlkit agents` lists them)."
        )
    return _AGENTS[name]
