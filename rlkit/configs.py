"""Agent configs from dataclass defaults, YAML files and `key=value` overrides (OmegaConf).

Every agent's config is a dataclass. `load_config` layers, in order, the dataclass defaults,
YAML files and dotted overrides, type-checks each value against the dataclass (OmegaConf's
structured configs) and then runs the dataclass's own range checks. Mistakes raise
`ConfigError` with one line naming the key and the valid ones.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

import yaml
from omegaconf import OmegaConf
from omegaconf import errors as omegaconf_errors

from rlkit import errors

ConfigT = TypeVar("ConfigT")


def _valid_keys(config_class: type) -> str:
    return ", ".join(field.name for field in dataclasses.fields(config_class))


def _yaml_problem(error: yaml.YAMLError, text: str) -> str:
    """What PyYAML found wrong and where, 1-based, as one phrase.

    PyYAML places errors at the end of the stream on the line after the last one (line 3
    of a 2-line file): those are reported as at the end of the file.
    """
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None)
    if problem is None or mark is None:
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    problem = problem.replace("'<stream end>'", "the end of the file")
    problem = problem.replace("end of stream", "end of the file")
    if mark.line >= len(text.splitlines()):
        where = "" if "end of the file" in problem else " at the end of the file"
    else:
        where = f" at line {mark.line + 1}, column {mark.column + 1}"
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and context_mark is not None:
        where += (
            f" ({context} started at line {context_mark.line + 1}, "
            f"column {context_mark.column + 1})"
        )
    return problem + where


def _read_yaml(path: str) -> dict[str, Any]:
    if not os.path.isfile(path):
        raise errors.ConfigError(f"Config file {path!r} not found.")
    try:
        with open(path) as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise errors.ConfigError(f"Cannot read config file {path!r}: {error}.") from None
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise errors.ConfigError(
            f"Config file {path!r} is not valid YAML: {_yaml_problem(error, text)}."
        ) from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise errors.ConfigError(
            f"Config file {path!r} must hold a mapping of config keys to values, "
            f"got a {type(content).__name__}."
        )
    return content


def _sequence_fields(config_class: type) -> set[str]:
    """The fields annotated as a tuple or list (e.g. `hidden_sizes: tuple[int, ...]`)."""
    try:
        hints = typing.get_type_hints(config_class)
    except Exception:  # An annotation that does not resolve: no shorthand, OmegaConf checks.
        return set()
    return {
        name
        for name, hint in hints.items()
        if hint in (tuple, list) or typing.get_origin(hint) in (tuple, list)
    }


def _parse_overrides(config_class: type, overrides: Sequence[str]):
    sequences = _sequence_fields(config_class)
    dotlist = []
    for override in overrides:
        key, separator, value = override.partition("=")
        if not separator or not key.strip():
            raise errors.ConfigError(
                f"Override {override!r} is not key=value (e.g. learning_rate=3e-4); valid keys "
                f"of {config_class.__name__}: {_valid_keys(config_class)}."
            )
        # `hidden_sizes=64,64` (or `=64`) for a list-valued key: the shell-friendly form of
        # `hidden_sizes=[64,64]`; OmegaConf would read it as one string.
        if key.strip() in sequences and value.strip() and not value.strip().startswith("["):
            override = f"{key}=[{value}]"
        dotlist.append(override)
    try:
        return OmegaConf.from_dotlist(dotlist)
    except omegaconf_errors.OmegaConfBaseException as error:
        raise errors.ConfigError(f"Cannot parse overrides {list(overrides)}: {error}") from None


def _type_error(config_class, merged, layer, source, error) -> errors.ConfigError:
    """A one-line error naming the offending key, its value and the type it must have."""
    key = error.full_key
    if not key:  # Raised inside a container: find the top-level key by merging one at a time.
        for name in OmegaConf.to_container(OmegaConf.create(layer)):
            try:
                OmegaConf.merge(merged, {name: OmegaConf.create(layer)[name]})
            except omegaconf_errors.ValidationError:
                key = name
                break
    field_types = {f.name: f.type for f in dataclasses.fields(config_class)}
    wanted = field_types.get(str(key).split(".")[0].split("[")[0], "?")
    value = OmegaConf.create(layer).get(str(key).split(".")[0].split("[")[0], "?")
    if not isinstance(value, str | int | float | bool):
        value = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
    hint = ""
    name = str(key).split(".")[0].split("[")[0]
    if name in _sequence_fields(config_class):
        example = f"{name}=[64,64] or {name}=64,64" if source == "--set" else f"{name}: [64, 64]"
        hint = f" Write a list, e.g. {example}."
    return errors.ConfigError(
        f"Config key {key!r} in {source}: {value!r} is not a valid "
        f"{getattr(wanted, '__name__', wanted)} ({config_class.__name__}.{key}).{hint}"
    )


def load_config(
    config_class: type[ConfigT],
    files: Sequence[str] = (),
    overrides: Sequence[str] = (),
    values: dict[str, Any] | None = None,
) -> ConfigT:
    """`config_class` defaults, then `values`, each YAML file, and `key=value` overrides.

    An override of a list-valued key takes a YAML list (`hidden_sizes=[64,64]`) or, easier
    to type in a shell, comma-separated items (`hidden_sizes=64,64`).

    Raises:
      ConfigError: a missing or malformed file, an unknown key, a value of the wrong type, or
        a value the config's own checks reject.
    """
    schema = OmegaConf.structured(config_class)
    layers = [("values", values)] if values else []
    layers += [(path, _read_yaml(path)) for path in files]
    if overrides:
        layers.append(("--set", _parse_overrides(config_class, overrides)))
    merged = schema
    for source, layer in layers:
        try:
            merged = OmegaConf.merge(merged, layer)
        except omegaconf_errors.ConfigKeyError as error:
            raise errors.ConfigError(
                f"Unknown config key {error.full_key!r} in {source} for "
                f"{config_class.__name__}; valid keys: {_valid_keys(config_class)}."
            ) from None
        except omegaconf_errors.ValidationError as error:
            raise _type_error(config_class, merged, layer, source, error) from None
        except (omegaconf_errors.OmegaConfBaseException, TypeError) as error:
            # E.g. a mapping or an indexed key (hidden_sizes.0=8) for a list-valued field.
            raise errors.ConfigError(
                f"Bad config in {source}: {str(error).splitlines()[0]} (valid keys of "
                f"{config_class.__name__}: {_valid_keys(config_class)})."
            ) from None
    try:
        return OmegaConf.to_object(merged)
    except omegaconf_errors.OmegaConfBaseException as error:
        raise errors.ConfigError(f"Bad config: {str(error).splitlines()[0]}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain YAML-able values (tuples become lists)."""

    def plain(value):
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {key: plain(value) for key, value in dataclasses.asdict(config).items()}


def write_yaml(path: str, content: dict[str, Any], header: str = "") -> None:
    """Writes `content` as YAML through a temporary file (never half a file)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w") as file:
        if header:
            file.write("".join(f"# {line}\n" for line in header.splitlines()))
        yaml.safe_dump(content, file, sort_keys=False)
    os.replace(temporary, path)


def save_config(config: Any, path: str, header: str = "") -> None:
    """Writes a config dataclass as a YAML file that `load_config` reads back."""
    write_yaml(path, config_to_dict(config), header)


def read_yaml(path: str) -> dict[str, Any]:
    """Reads a YAML mapping (raising `ConfigError` for a missing or malformed file)."""
    return _read_yaml(path)


# Checks every agent config runs in its `__post_init__`; each raises `ConfigError` naming the
# field as `ClassName.field`.


def check_types(config: Any) -> None:
    """Raises `ConfigError` for a field whose value does not match its annotated type (int,
    float, bool, str or a tuple of one of them; an int is a valid float, a bool is neither)."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        expected = hints[field.name]
        if typing.get_origin(expected) is tuple:
            (item_type, *_) = typing.get_args(expected)
            ok = isinstance(value, tuple) and all(
                isinstance(v, item_type) and not isinstance(v, bool) for v in value
            )
        elif expected is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif expected is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, expected)
        if not ok:
            raise errors.ConfigError(
                f"{type(config).__name__}.{field.name} must be of type "
                f"{getattr(expected, '__name__', expected)}, got {value!r} "
                f"({type(value).__name__})."
            )


def check_positive(config: Any, names: Sequence[str]) -> None:
    for name in names:
        if getattr(config, name) <= 0:
            raise errors.ConfigError(
                f"{type(config).__name__}.{name} must be positive, got {getattr(config, name)!r}."
            )


def check_unit_interval(config: Any, names: Sequence[str]) -> None:
    for name in names:
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise errors.ConfigError(
                f"{type(config).__name__}.{name} must be in [0, 1], got {getattr(config, name)!r}."
            )


def require(condition: bool, config: Any, message: str) -> None:
    """Raises `ConfigError("ClassName: message")` unless `condition`."""
    if not condition:
        raise errors.ConfigError(f"{type(config).__name__}: {message}")
