"""`RemoteEnvironment`: a dm_env environment that `rlkit serve-env` runs on another machine.

`rlkit.make_environment("remote://HOST:PORT/CartPole-v1")` makes one. The server builds the
environment with `rlkit.make_environment` itself (the same recipe, wrappers, single
precision and truncation semantics as a local build), and every `reset`, `step` and
`render` is one request and one reply over a WebSocket (the `rlkit-env.v1` protocol,
docs/remote-environments.md). One connection is one environment: closing it (or losing it)
frees the environment on the server.
"""

from __future__ import annotations

import os
import threading
from typing import Any, NoReturn

import dm_env
from websockets import exceptions as ws_exceptions
from websockets.sync import client as ws_client

from rlkit import errors
from rlkit.remote import address, protocol
from rlkit.wrappers import gym_wrapper

# Seconds a reply may take (a step is usually well under a millisecond; `make` of a MuJoCo
# or Atari environment takes seconds); then the connection is given up.
DEFAULT_TIMEOUT = 60.0
DEFAULT_OPEN_TIMEOUT = 10.0

# The server's error types a client raises as the same exception a local environment would.
_ERRORS: dict[str, type[errors.RlkitError]] = {
    "UnknownEnvironmentError": errors.UnknownEnvironmentError,
    "InvalidActionError": errors.InvalidActionError,
    "ResetRequiredError": errors.ResetRequiredError,
    "ConfigError": errors.ConfigError,
    "UnsupportedSpaceError": gym_wrapper.UnsupportedSpaceError,
}
_RESUME_HINT = (
    "start `rlkit serve-env` there again (same host and port) and rerun: a training run "
    "resumes from its last checkpoint"
)


class RemoteEnvironment(dm_env.Environment):
    """A dm_env environment served by `rlkit serve-env` (`remote://HOST:PORT/ENV_ID`).

    Specs, seeding, `FIRST`/`MID`/`LAST` with discount 0 on termination and 1 on
    truncation, `step` after `LAST` starting a new episode, and `render()` frames are those
    of the environment the server built. With `num_envs`, the server builds
    `make_vector_environment(env_id, num_envs)` and this is that batched environment.

    Not picklable (it holds a live connection): pass the `remote://` id to where it runs
    (a Ray actor) and make it there.

    Args:
      env_id: `remote://HOST:PORT/ENV_ID`, e.g. `remote://127.0.0.1:8765/CartPole-v1`.
      seed: seeds the first `reset`, as for a local environment.
      recipe: the recipe the server builds with ("auto", "gymnasium", "continuous", "atari").
      evaluation: build it for evaluation (Atari: unclipped rewards).
      num_envs: a batch of this many copies (`make_vector_environment`); None: one.
      token: the server's token (default: the RLKIT_ENV_TOKEN environment variable).
      timeout: seconds to wait for each reply.
      open_timeout: seconds to wait for the connection.
      **kwargs: `max_episode_steps` and `render_mode` (None or "rgb_array") only.

    Raises:
      RemoteEnvironmentError: the server cannot be reached, refuses the connection (wrong
        token, an id it does not serve, no room for more environments), or goes away.
      UnknownEnvironmentError, ConfigError: as for a local environment, from the server.
    """

    def __init__(
        self,
        env_id: str,
        *,
        seed: int | None = None,
        recipe: str = "auto",
        evaluation: bool = False,
        num_envs: int | None = None,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        open_timeout: float = DEFAULT_OPEN_TIMEOUT,
        **kwargs: Any,
    ):
        self._address = address.parse_remote_environment_id(env_id)
        protocol.check_environment_kwargs(str(self._address), kwargs)
        self._timeout = timeout
        self._lock = threading.Lock()  # One request and its reply at a time.
        self._server_max_bytes = protocol.SERVER_MAX_MESSAGE_BYTES
        token = token if token is not None else os.environ.get(address.TOKEN_VARIABLE)
        self._connection: ws_client.ClientConnection | None = self._connect(token, open_timeout)
        request = {
            "op": "make",
            "seed": seed,
            "recipe": recipe,
            "evaluation": evaluation,
            "num_envs": num_envs,
            "kwargs": kwargs,
        }
        try:
            self._read_specs(self._call(request))
        except BaseException:
            self.close()
            raise
        if num_envs is not None:  # Batched: what `rlkit.wrappers.num_envs` reads.
            self.num_envs = num_envs

    def _read_specs(self, reply: dict[str, Any]) -> None:
        """The specs, metadata and message limit of `make`'s reply."""
        try:
            spec = reply["spec"]
            self._observation_spec = protocol.decode_spec(spec["observation"])
            self._action_spec = protocol.decode_spec(spec["action"])
            self._reward_spec = protocol.decode_spec(spec["reward"])
            self._discount_spec = protocol.decode_spec(spec["discount"])
            self._metadata = dict(reply.get("metadata") or {})
            self._server_max_bytes = int(reply["max_message_bytes"])
        except (KeyError, TypeError, ValueError) as error:  # ProtocolError is a ValueError.
            self._fail(f"the server's reply to make is malformed ({error})")

    def _connect(self, token: str | None, open_timeout: float) -> ws_client.ClientConnection:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            return ws_client.connect(
                self._address.websocket_url,
                subprotocols=[protocol.SUBPROTOCOL],
                additional_headers=headers,
                proxy=None,  # A loopback or tunnelled server: no system proxy in between.
                compression=None,  # Observations are mostly floats: deflate buys little.
                max_size=protocol.CLIENT_MAX_MESSAGE_BYTES,
                open_timeout=open_timeout,
                close_timeout=2,
            )
        except ws_exceptions.InvalidStatus as error:
            self._refused(error)
        except (OSError, TimeoutError, ws_exceptions.WebSocketException) as error:
            reason = " ".join(str(error).split()) or type(error).__name__
            self._fail(
                f"cannot connect ({reason}); is `rlkit serve-env` running on "
                f"{self._address.netloc}, and reachable from here (an SSH tunnel for another "
                "machine, see docs/remote-environments.md)?"
            )

    def _refused(self, error: ws_exceptions.InvalidStatus) -> NoReturn:
        status = error.response.status_code
        text = error.response.body.decode("utf-8", "replace").strip() or str(error)
        text = " ".join(text.split())
        if status == 404:
            raise errors.UnknownEnvironmentError(f"{self._address}: {text}") from None
        if status == 401:
            text += f" Set {address.TOKEN_VARIABLE} to the server's token."
        self._fail(f"the server refused the connection (HTTP {status}): {text}")

    def _fail(self, problem: str) -> NoReturn:
        raise errors.RemoteEnvironmentError(f"remote environment {self._address}: {problem}")

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Sends `request` and returns the server's reply; raises what the server reported."""
        return self._send(request["op"], protocol.encode(request))

    def _send(self, op: str, message: bytes) -> dict[str, Any]:
        """Sends the encoded request `op` and returns the server's reply."""
        with self._lock:
            connection = self._connection
            if connection is None:
                self._fail("the environment is closed (make a new one)")
            if len(message) > self._server_max_bytes:
                self._fail(
                    f"a {op} request of {len(message)} bytes is over the server's "
                    f"limit of {self._server_max_bytes} bytes"
                )
            try:
                connection.send(message)
                data = connection.recv(timeout=self._timeout)
            except TimeoutError:
                self._drop()
                self._fail(
                    f"no reply to {op} within {self._timeout:g} s; the connection "
                    "is given up (a slow server or network: pass a larger timeout)"
                )
            except ws_exceptions.ConnectionClosed as error:
                self._drop()
                self._fail(f"{_close_reason(error)}; {_RESUME_HINT}")
        try:
            reply = protocol.decode(data) if isinstance(data, bytes) else None
        except protocol.ProtocolError as error:
            reply = error
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            self.close()
            self._fail(f"the server's reply is not an rlkit-env.v1 message ({reply})")
        if not reply["ok"]:
            self._raise_server_error(reply.get("error"))
        return reply

    def _raise_server_error(self, error: Any) -> NoReturn:
        kind = error.get("type") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        message = str(message or "no details")
        if kind in _ERRORS:
            raise _ERRORS[kind](message)
        self._fail(f"the server reported {kind or 'an error'}: {message}")

    def _drop(self) -> None:
        """Forgets a connection that is broken or out of step (a reply that never came)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def reset(self, seed: int | None = None) -> dm_env.TimeStep:
        """Starts a new episode; `seed` (or the constructor's seed, once) reseeds the env."""
        return self._timestep(self._call({"op": "reset", "seed": seed}))

    def step(self, action) -> dm_env.TimeStep:
        try:
            message = protocol.encode({"op": "step", "action": action})
        except protocol.ProtocolError as error:  # What cannot be sent is a bad action.
            raise errors.InvalidActionError(
                f"action {action!r} cannot be sent to {self._address}: {error} Select actions "
                "within the spec (see env.action_spec())."
            ) from None
        return self._timestep(self._send("step", message))

    def _timestep(self, reply: dict[str, Any]) -> dm_env.TimeStep:
        try:
            return protocol.decode_timestep(reply.get("timestep"))
        except protocol.ProtocolError as error:
            self._fail(f"the server sent a malformed timestep ({error})")

    def render(self):
        """The current frame (an RGB array) of an environment made with
        `render_mode="rgb_array"`; None without a render mode."""
        return self._call({"op": "render"}).get("frame")

    def observation_spec(self):
        return self._observation_spec

    def action_spec(self):
        return self._action_spec

    def reward_spec(self):
        return self._reward_spec

    def discount_spec(self):
        return self._discount_spec

    @property
    def metadata(self) -> dict[str, Any]:
        """The served environment's `render_fps` and `render_modes`."""
        return self._metadata

    @property
    def address(self) -> address.RemoteAddress:
        """Where the environment is served and the id the server made."""
        return self._address

    def close(self) -> None:
        """Closes the connection; the server frees the environment. Closing twice is fine."""
        with self._lock:
            self._drop()

    def __reduce__(self):
        raise TypeError(
            f"a RemoteEnvironment ({self._address}) holds a live connection and cannot be "
            "pickled; pass its remote:// id to where it runs and make it there."
        )

    def __repr__(self) -> str:
        return f"RemoteEnvironment({str(self._address)!r})"


def _close_reason(error: ws_exceptions.ConnectionClosed) -> str:
    """ "the server closed the connection (1001: rlkit serve-env is shutting down)" and the
    like."""
    frame = error.rcvd or error.sent
    if frame is None:
        return "the connection broke (the server or the network went down)"
    who = "the server" if error.rcvd is not None else "this client"
    reason = f": {frame.reason}" if frame.reason else ""
    return f"{who} closed the connection ({int(frame.code)}{reason})"
