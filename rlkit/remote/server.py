"""`EnvironmentServer`: gymnasium environments served to `RemoteEnvironment` clients.

`rlkit serve-env` runs one. It is a WebSocket server (the `websockets` library, one thread
per connection) speaking `rlkit-env.v1` (docs/remote-environments.md): a client connects to
`/v1/envs/ENV_ID`, and its connection is one environment session that `rlkit.make_environment`
builds on the server, closed and freed when the connection ends however it ends.

Safe by default: it listens on loopback unless told otherwise, and anywhere else only with
a token; a request without the token, for an id it does not serve, or when it holds
`max_envs` environments is refused before the WebSocket opens (HTTP 401, 403/404, 503).
Bad input ends at most that client's session, never the server: a malformed or oversized
message closes the connection with a reason, an invalid action is an error reply and the
session goes on, an environment that raises is an error reply and then a close.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hmac
import logging
import socket
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any

import dm_env
import gymnasium
import numpy as np
from websockets import exceptions as ws_exceptions
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.sync import server as ws_server

from rlkit import environments, errors
from rlkit.recipes import RECIPES
from rlkit.remote import address, protocol
from rlkit.wrappers import atari

LOOPBACK = "127.0.0.1"
DEFAULT_MAX_ENVS = 64
MAX_ID_LENGTH = 200  # Longer than any gymnasium id; spares suggesting close ids for a megabyte.
# A session must make its environment within this many seconds of connecting, whatever
# `idle_timeout` says: connections that never ask for one do not hold threads for ever.
MAKE_TIMEOUT_S = 30.0
_OPS = ("make", "reset", "step", "render", "close")
# websockets' own log lines (a rejected handshake, a client gone mid-message): the server
# reports what matters through `log`, in one line each.
_WEBSOCKETS_LOGGER = logging.getLogger("rlkit.remote.websockets")
_WEBSOCKETS_LOGGER.setLevel(logging.CRITICAL)


class _ServerFullError(errors.RlkitError):
    """No room for the environments a client asks for."""


@dataclasses.dataclass
class _Reply:
    """A reply to send, and whether the session ends after it (with `close_code`)."""

    message: dict[str, Any]
    keep_open: bool = True
    close_code: int = CloseCode.NORMAL_CLOSURE
    close_reason: str = ""


class EnvironmentServer:
    """Serves gymnasium environments over WebSocket to `remote://HOST:PORT/ENV_ID` clients.

    The socket is bound when the server is made (`port=0` picks a free port: see `port`);
    `serve_forever()` (or `start()`, on a thread) serves until `shutdown()`.

    Args:
      host: the address to listen on; anything but loopback needs a `token`.
      port: the port (0: any free one).
      token: clients must send `Authorization: Bearer TOKEN`; None: no token asked for
        (loopback only).
      allow: ids (or glob patterns such as `ALE/*`) served; None: any id gymnasium knows.
      max_envs: environments held at once over all clients (a batch of N counts N).
      idle_timeout: seconds after which a session that sends nothing is closed; None:
        never (clients that vanish are dropped by keepalive pings).
      log: called with one line per event (a session made, closed, refused, failed).

    Raises:
      ConfigError: a host beyond loopback without a token, or a bad limit.
      OSError: the address cannot be bound (in use, or not this machine's).
    """

    def __init__(
        self,
        host: str = LOOPBACK,
        port: int = address.DEFAULT_PORT,
        *,
        token: str | None = None,
        allow: Sequence[str] | None = None,
        max_envs: int = DEFAULT_MAX_ENVS,
        idle_timeout: float | None = None,
        log: Callable[[str], None] | None = None,
    ):
        _check_settings(host, token, max_envs, idle_timeout)
        self._token = token.encode() if token else None
        self._allow = tuple(allow) if allow else None
        self._max_envs = max_envs
        self._idle_timeout = idle_timeout
        self._log = log or (lambda line: None)
        self._in_use = 0
        self._changed = threading.Condition()  # Notified when environments are freed.
        self._thread: threading.Thread | None = None
        self._state = threading.Lock()
        self._serving = self._stopped = False
        self._server = ws_server.serve(
            self._serve_connection,
            host,
            port,
            subprotocols=[protocol.SUBPROTOCOL],
            process_request=self._check_request,
            compression=None,
            max_size=protocol.SERVER_MAX_MESSAGE_BYTES,
            open_timeout=10,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=5,
            logger=_WEBSOCKETS_LOGGER,
        )
        self.host = host

    @property
    def port(self) -> int:
        """The port the server listens on (the one picked, for `port=0`)."""
        return self._server.socket.getsockname()[1]

    @property
    def address(self) -> str:
        """`remote://HOST:PORT`: append `/ENV_ID` for a client's environment id (HOST is this
        machine's name when the server listens on every interface)."""
        host = socket.gethostname() if self.host in ("", "0.0.0.0", "::") else self.host
        return f"{address.SCHEME}://{address.RemoteAddress(host, self.port, '').netloc}"

    @property
    def environments_in_use(self) -> int:
        """Environments held for clients now (a batch of N counts N)."""
        with self._changed:
            return self._in_use

    def wait_for_environments_in_use(self, count: int, timeout: float) -> bool:
        """Waits until at most `count` environments are in use; whether that happened."""
        with self._changed:
            return self._changed.wait_for(lambda: self._in_use <= count, timeout)

    def serve_forever(self) -> None:
        """Serves clients until `shutdown()` (from another thread) or KeyboardInterrupt."""
        with self._state:
            if self._stopped:
                return
            self._serving = True
        self._server.serve_forever()

    def start(self) -> EnvironmentServer:
        """Serves on a daemon thread; returns the server. `shutdown()` stops it."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="rlkit-serve-env", daemon=True
        )
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stops listening, closes every session (clients see the server go away, code 1001)
        and waits for them to end. Calling it twice is fine."""
        with self._state:
            self._stopped = True
            serving = self._serving
        if serving:
            self._server.shutdown(reason="rlkit serve-env is shutting down")
        else:  # websockets' shutdown would wait for a serve_forever that never ran.
            self._server.socket.close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> EnvironmentServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()

    def _check_request(
        self, connection: ws_server.ServerConnection, request: Request
    ) -> Response | None:
        """Refuses, before the WebSocket opens, what no session would come of."""
        refusal = self._refusal(request)
        if refusal is None:
            return None
        status, text = refusal
        self._log(f"{_peer(connection)}: refused ({status.value} {status.phrase}): {text}")
        response = connection.respond(status, text + "\n")
        if status is HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Bearer realm="rlkit serve-env"'
        return response

    def _refusal(self, request: Request) -> tuple[HTTPStatus, str] | None:
        path = urllib.parse.urlsplit(request.path).path
        if not path.startswith(address.PATH_PREFIX):
            return HTTPStatus.NOT_FOUND, f"environments are served at {address.PATH_PREFIX}ENV_ID."
        if self._token is not None:
            given = request.headers.get("Authorization", "").encode("utf-8", "replace")
            # Constant time: how much of a guess matched is not told by how long it took.
            if not hmac.compare_digest(given, b"Bearer " + self._token):
                return HTTPStatus.UNAUTHORIZED, "no token or the wrong token."
        problem = self._environment_problem(_environment_id(request.path))
        if problem is not None:
            return problem
        if self.environments_in_use >= self._max_envs:
            return HTTPStatus.SERVICE_UNAVAILABLE, self._full_message()
        return None

    def _environment_problem(self, env_id: str) -> tuple[HTTPStatus, str] | None:
        """Why `env_id` is not served here (403: not to be served, 404: unknown), or None."""
        if len(env_id) > MAX_ID_LENGTH:
            return HTTPStatus.NOT_FOUND, f"an environment id is at most {MAX_ID_LENGTH} characters."
        if ":" in env_id:  # gymnasium.make would import the module before the `:`.
            return HTTPStatus.FORBIDDEN, (
                f"{env_id!r} names a Python module; ids of the form module:Env are not served "
                "(making one imports code on the server)."
            )
        if self._allow is not None and not any(
            fnmatch.fnmatchcase(env_id, pattern) for pattern in self._allow
        ):
            return HTTPStatus.FORBIDDEN, (
                f"{env_id!r} is not served here; this server serves {', '.join(self._allow)}."
            )
        try:
            if env_id.startswith("ALE/"):
                atari.import_ale()  # Registers ale-py's ids (ConfigError if not installed).
            environments.check_environment_id(env_id)
        except errors.RlkitError as error:
            return HTTPStatus.NOT_FOUND, " ".join(str(error).split())
        return None

    def _full_message(self) -> str:
        return (
            f"the server holds {self._max_envs} environments (its --max-envs), all in use; "
            "try again when clients have closed theirs, or start it with a larger --max-envs."
        )

    def _reserve(self, count: int) -> None:
        with self._changed:
            if self._in_use + count > self._max_envs:
                raise _ServerFullError(self._full_message())
            self._in_use += count

    def _release(self, count: int) -> None:
        with self._changed:
            self._in_use -= count
            self._changed.notify_all()

    def _serve_connection(self, connection: ws_server.ServerConnection) -> None:
        """One client's session: requests and replies until either side ends it."""
        session = _Session(self, _environment_id(connection.request.path), _peer(connection))
        try:
            while self._serve_one(connection, session):
                pass
        except ws_exceptions.ConnectionClosed:
            pass  # The client went away (or the server is shutting down): free its environment.
        finally:
            session.close()

    def _serve_one(self, connection: ws_server.ServerConnection, session: _Session) -> bool:
        """Answers one request; whether the session goes on."""
        timeout = self._idle_timeout
        if not session.made:
            timeout = MAKE_TIMEOUT_S if timeout is None else min(timeout, MAKE_TIMEOUT_S)
        try:
            data = connection.recv(timeout=timeout)
        except TimeoutError:
            _close(connection, CloseCode.GOING_AWAY, f"idle for {timeout:g} s")
            return False
        if isinstance(data, str):
            _close(connection, CloseCode.UNSUPPORTED_DATA, "binary msgpack messages only")
            return False
        try:
            request = protocol.decode(data)
        except protocol.ProtocolError as error:
            _close(connection, CloseCode.INVALID_DATA, str(error))
            return False
        reply = session.handle(request)
        try:
            message = protocol.encode(reply.message)
        except protocol.ProtocolError as error:
            message = protocol.encode(protocol.error_reply("ProtocolError", str(error)))
        connection.send(message)
        if not reply.keep_open:
            _close(connection, reply.close_code, reply.close_reason)
        return reply.keep_open


class _Session:
    """One client's environment: what its requests do."""

    def __init__(self, server: EnvironmentServer, env_id: str, peer: str):
        self._server = server
        self._env_id = env_id
        self._peer = peer
        self._environment: dm_env.Environment | None = None
        self._held = 0

    @property
    def made(self) -> bool:
        """Whether its environment is made."""
        return self._environment is not None

    def handle(self, request: Any) -> _Reply:
        """The reply to `request`; errors in it are replies too."""
        try:
            op = _op(request)
            if op != "make" and self._environment is None:
                raise protocol.ProtocolError(f"{op}: make the environment first.")
            return getattr(self, f"_{op}")(request)
        except _ServerFullError as error:
            reply = protocol.error_reply("ServerFullError", str(error))
            return _Reply(reply, False, CloseCode.TRY_AGAIN_LATER, "no room for more environments")
        except (errors.RlkitError, gymnasium.error.Error) as error:  # Misuse: the session goes on.
            return _Reply(protocol.error_reply(type(error).__name__, str(error)))
        except Exception as error:  # The environment broke: its state is unknown.
            problem = " ".join(f"{type(error).__name__}: {error}".split())
            self._server._log(f"{self._peer}: {self._env_id} failed: {problem}")
            reply = protocol.error_reply("EnvironmentError", f"{self._env_id} failed: {problem}")
            return _Reply(reply, False, CloseCode.INTERNAL_ERROR, "the environment failed")

    def _make(self, request: dict[str, Any]) -> _Reply:
        if self._environment is not None:
            raise protocol.ProtocolError("make: this session already has its environment.")
        seed = _optional_int(request, "seed", 0)
        num_envs = _optional_int(request, "num_envs", 1)
        recipe = request.get("recipe", "auto")
        if recipe not in RECIPES:
            raise errors.ConfigError(f"unknown recipe {recipe!r}; one of {', '.join(RECIPES)}.")
        evaluation = request.get("evaluation", False)
        if not isinstance(evaluation, bool):
            raise protocol.ProtocolError(
                f"make: evaluation must be true or false, got {evaluation!r}."
            )
        kwargs = request.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise protocol.ProtocolError("make: kwargs must be a map.")
        protocol.check_environment_kwargs(self._env_id, kwargs)
        count = num_envs or 1
        self._server._reserve(count)
        try:
            options = dict(seed=seed, recipe=recipe, **kwargs)
            if num_envs is None:
                environment = environments.make_environment(
                    self._env_id, evaluation=evaluation, **options
                )
            else:
                environment = environments.make_vector_environment(
                    self._env_id, num_envs, **options
                )
        except BaseException:
            self._server._release(count)
            raise
        self._environment, self._held = environment, count
        self._server._log(
            f"{self._peer}: made {self._env_id}"
            + (f" x{num_envs}" if num_envs else "")
            + f" ({self._server.environments_in_use} of {self._server._max_envs} in use)"
        )
        return _Reply(_make_reply(environment, num_envs))

    def _reset(self, request: dict[str, Any]) -> _Reply:
        seed = _optional_int(request, "seed", 0)
        timestep = self._environment.reset() if seed is None else self._environment.reset(seed=seed)
        return _Reply({"ok": True, "timestep": protocol.encode_timestep(timestep)})

    def _step(self, request: dict[str, Any]) -> _Reply:
        action = request.get("action")
        _check_action_values(action)
        timestep = self._environment.step(action)
        return _Reply({"ok": True, "timestep": protocol.encode_timestep(timestep)})

    def _render(self, request: dict[str, Any]) -> _Reply:
        frame = self._environment.render()
        return _Reply({"ok": True, "frame": None if frame is None else np.asarray(frame)})

    def _close(self, request: dict[str, Any]) -> _Reply:
        return _Reply({"ok": True}, keep_open=False, close_reason="closed by the client")

    def close(self) -> None:
        """Closes the environment and frees its room on the server."""
        environment, self._environment = self._environment, None
        if environment is None:
            return
        try:
            environment.close()
        except Exception as error:  # Its room is freed all the same.
            self._server._log(f"{self._peer}: closing {self._env_id} failed: {error}")
        finally:
            self._server._release(self._held)
        self._server._log(
            f"{self._peer}: closed {self._env_id} ({self._server.environments_in_use} of "
            f"{self._server._max_envs} in use)"
        )


def _check_settings(
    host: str, token: str | None, max_envs: int, idle_timeout: float | None
) -> None:
    if not token and not address.is_loopback(host):
        raise errors.ConfigError(
            f"serving on {host} makes the environments reachable beyond this machine: give a "
            f"token (set {address.TOKEN_VARIABLE}, or --token) that clients must send, or "
            "listen on 127.0.0.1 and reach it through an SSH tunnel."
        )
    if isinstance(max_envs, bool) or not isinstance(max_envs, int) or max_envs < 1:
        raise errors.ConfigError(f"max_envs must be a positive integer, got {max_envs!r}.")
    if idle_timeout is not None and not idle_timeout > 0:
        raise errors.ConfigError(f"idle_timeout must be positive or None, got {idle_timeout!r}.")


def _environment_id(path: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(path).path[len(address.PATH_PREFIX) :])


def _peer(connection: ws_server.ServerConnection) -> str:
    peer = connection.remote_address
    return f"client {peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "client"


def _close(connection: ws_server.ServerConnection, code: int, reason: str) -> None:
    # A close frame's reason holds at most 123 bytes.
    connection.close(code, reason.encode()[:123].decode("utf-8", "ignore"))


def _op(request: Any) -> str:
    op = request.get("op") if isinstance(request, dict) else None
    if op not in _OPS:
        raise protocol.ProtocolError(
            f"a request is a map whose op is one of {', '.join(_OPS)}, got {op!r}."
        )
    return op


def _optional_int(request: dict[str, Any], key: str, minimum: int) -> int | None:
    value = request.get(key)
    if value is not None and (type(value) is not int or value < minimum):
        raise protocol.ProtocolError(
            f"{key} must be an integer >= {minimum} or nil, got {value!r}."
        )
    return value


def _check_action_values(action: Any, depth: int = 0) -> None:
    """Raises `InvalidActionError` for an action holding anything but numbers and arrays, or
    nested deeper than any space (the environment's own check then judges its shape and
    bounds)."""
    if depth > protocol.MAX_DIMENSIONS:
        raise errors.InvalidActionError(
            f"the action is nested more than {protocol.MAX_DIMENSIONS} levels deep."
        )
    if isinstance(action, dict | tuple):
        for value in action.values() if isinstance(action, dict) else action:
            _check_action_values(value, depth + 1)
    elif not isinstance(action, int | float | np.ndarray | np.generic):
        raise errors.InvalidActionError(
            f"action {action!r} is not a number, an array, or a map or sequence of them."
        )


def _make_reply(environment: dm_env.Environment, num_envs: int | None) -> dict[str, Any]:
    metadata = getattr(environment, "metadata", None) or {}
    render_fps = metadata.get("render_fps")
    render_modes = metadata.get("render_modes") or []
    return {
        "ok": True,
        "spec": {
            "observation": protocol.encode_spec(environment.observation_spec()),
            "action": protocol.encode_spec(environment.action_spec()),
            "reward": protocol.encode_spec(environment.reward_spec()),
            "discount": protocol.encode_spec(environment.discount_spec()),
        },
        "num_envs": num_envs,
        "metadata": {
            "render_fps": render_fps if isinstance(render_fps, int | float) else None,
            "render_modes": [mode for mode in render_modes if isinstance(mode, str)],
        },
        "max_message_bytes": protocol.SERVER_MAX_MESSAGE_BYTES,
    }


def serve(
    host: str = LOOPBACK,
    port: int = address.DEFAULT_PORT,
    **options: Any,
) -> None:
    """Serves environments until interrupted: `EnvironmentServer(host, port, **options)`'s
    `serve_forever()`, shut down on the way out."""
    server = EnvironmentServer(host, port, **options)
    try:
        server.serve_forever()
    finally:
        server.shutdown()
