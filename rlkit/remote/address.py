"""`remote://HOST:PORT/ENV_ID`: the id of an environment that `rlkit serve-env` serves.

Read without heavy imports: the command line checks ids (and picks recipes from the served
id, e.g. the Atari recipe for `remote://HOST:PORT/ALE/Pong-v5`) before anything loads.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import urllib.parse

from rlkit import errors

SCHEME = "remote"
DEFAULT_PORT = 8765
# The WebSocket path of a served environment: `/v1/envs/ENV_ID` (the id may hold slashes).
PATH_PREFIX = "/v1/envs/"
# Where clients and `rlkit serve-env` read the token from; never from the URL or the logs.
TOKEN_VARIABLE = "RLKIT_ENV_TOKEN"

_FORM = f"{SCHEME}://HOST:PORT/ENV_ID (e.g. {SCHEME}://127.0.0.1:{DEFAULT_PORT}/CartPole-v1)"


@dataclasses.dataclass(frozen=True)
class RemoteAddress:
    """Where an environment is served (`host`, `port`) and the id the server makes."""

    host: str
    port: int
    env_id: str

    @property
    def netloc(self) -> str:
        """`HOST:PORT`, an IPv6 host in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def websocket_url(self) -> str:
        """The WebSocket URL of the environment's session: `ws://HOST:PORT/v1/envs/ENV_ID`."""
        return f"ws://{self.netloc}{PATH_PREFIX}{urllib.parse.quote(self.env_id, safe='/:')}"

    def __str__(self) -> str:
        return f"{SCHEME}://{self.netloc}/{self.env_id}"


def is_remote_environment_id(env_id: object) -> bool:
    """Whether `env_id` names a served environment (`remote://...`) rather than a local one."""
    return isinstance(env_id, str) and env_id.lower().startswith(f"{SCHEME}://")


def parse_remote_environment_id(env_id: str) -> RemoteAddress:
    """`remote://HOST:PORT/ENV_ID` -> its `RemoteAddress` (the port defaults to 8765).

    Raises:
      ConfigError: not of that form (no host, a bad port, no environment id, or a user,
        query or fragment in it: tokens go in RLKIT_ENV_TOKEN, never in the URL).
    """
    try:
        parts = urllib.parse.urlsplit(env_id)
        port = parts.port
    except ValueError as error:
        raise errors.ConfigError(
            f"{env_id!r} is not a remote environment id ({error}); the form is {_FORM}."
        ) from None
    if parts.scheme.lower() != SCHEME or not parts.hostname:
        raise errors.ConfigError(f"{env_id!r} is not a remote environment id; the form is {_FORM}.")
    if parts.username is not None or parts.password is not None:
        raise errors.ConfigError(
            f"A remote environment id holds no user or token ({parts.hostname}:...); set "
            f"{TOKEN_VARIABLE} to the server's token instead. The form is {_FORM}."
        )
    if parts.query or parts.fragment:
        raise errors.ConfigError(
            f"{env_id!r} has a query or fragment; a remote environment id is {_FORM} (environment "
            "keyword arguments go where a local id's go)."
        )
    served_id = urllib.parse.unquote(parts.path[1:])
    if not served_id:
        raise errors.ConfigError(f"{env_id!r} names no environment; the form is {_FORM}.")
    return RemoteAddress(parts.hostname, DEFAULT_PORT if port is None else port, served_id)


def served_environment_id(env_id: str) -> str:
    """The id the server makes for a remote id (`remote://h:1/ALE/Pong-v5` -> `ALE/Pong-v5`);
    any other id as it is. Recipes are chosen from it."""
    if not is_remote_environment_id(env_id):
        return env_id
    return parse_remote_environment_id(env_id).env_id


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine only: `localhost` or a loopback address. Other names
    count as reachable from elsewhere (what they resolve to may change)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
