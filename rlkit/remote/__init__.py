"""Environments served over the network: `rlkit serve-env` and `remote://HOST:PORT/ENV_ID`.

`rlkit.make_environment("remote://HOST:PORT/CartPole-v1")` (and `rlkit train --env` with
such an id) gives a dm_env environment that an `EnvironmentServer` builds and steps; the
protocol, limits and security are docs/remote-environments.md.
"""

from typing import TYPE_CHECKING

from rlkit import _lazy
from rlkit.errors import RemoteEnvironmentError
from rlkit.remote.address import (
    DEFAULT_PORT,
    TOKEN_VARIABLE,
    RemoteAddress,
    is_remote_environment_id,
    parse_remote_environment_id,
)

# The client and the server are imported on first use: the command line reads remote ids
# (this package) before it loads anything heavy.
_EXPORTS = {
    "EnvironmentServer": "rlkit.remote.server",
    "RemoteEnvironment": "rlkit.remote.client",
    "serve": "rlkit.remote.server",
}
_lazy.attach(__name__, _EXPORTS, submodules=("address", "client", "protocol", "server"))

if TYPE_CHECKING:
    from rlkit.remote.client import RemoteEnvironment
    from rlkit.remote.server import EnvironmentServer, serve

__all__ = [
    "DEFAULT_PORT",
    "TOKEN_VARIABLE",
    "EnvironmentServer",
    "RemoteAddress",
    "RemoteEnvironment",
    "RemoteEnvironmentError",
    "is_remote_environment_id",
    "parse_remote_environment_id",
    "serve",
]
