"""Environments served over the network: `rlkit serve-env` and `remote://HOST:PORT/ENV_ID`.

Real servers on 127.0.0.1 (port 0: a free one) in this process's threads, or `rlkit
serve-env` in a subprocess. Nothing sleeps a fixed time: tests wait on events, replies and
output lines, each with a deadline.
"""

from __future__ import annotations

import os
import pathlib
import pickle
import queue
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

import dm_env
import gymnasium
import msgpack
import numpy as np
import pytest
from gymnasium import spaces
from websockets import exceptions as ws_exceptions
from websockets.sync import client as ws_client

import rlkit
from rlkit import errors, recipes
from rlkit.cli import main as cli
from rlkit.remote import address, protocol, server
from tests.dm_env_contract import contract_test_case, random_action

RLKIT = str(pathlib.Path(sys.executable).parent / "rlkit")
DEADLINE = 60.0  # Seconds any one wait may take before the test fails.
TINY = ["--set", "min_replay_size=100", "--set", "hidden_sizes=[32,32]"]


class ExplodingEnv(gymnasium.Env):
    """Raises in its third step: an environment with a bug."""

    observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._steps = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self._steps += 1
        if self._steps == 3:
            raise RuntimeError("the simulator diverged")
        return np.zeros(2, np.float32), 0.0, False, False, {}


class NestedEnv(gymnasium.Env):
    """Dict observations and Tuple actions: nested specs and values on the wire."""

    observation_space = spaces.Dict(
        {"position": spaces.Box(-1.0, 1.0, (2,), np.float64), "count": spaces.Discrete(5)}
    )
    action_space = spaces.Tuple((spaces.Discrete(3), spaces.Box(-1.0, 1.0, (1,), np.float32)))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._count = 0
        return self._observation(), {}

    def _observation(self):
        return {"position": self.np_random.uniform(-1, 1, 2), "count": self._count}

    def step(self, action):
        self._count += 1
        reward = float(action[0]) + float(action[1][0])
        return self._observation(), reward, self._count == 4, False, {}


gymnasium.register("RlkitRemoteTest/Exploding-v0", entry_point=ExplodingEnv)
gymnasium.register("RlkitRemoteTest/Nested-v0", entry_point=NestedEnv)


@pytest.fixture
def start_server():
    """Starts `EnvironmentServer`s on free loopback ports; shuts them down after the test."""
    started = []

    def start(**options):
        options.setdefault("port", 0)
        started.append(server.EnvironmentServer(**options).start())
        return started[-1]

    yield start
    for environment_server in started:
        environment_server.shutdown()


_SHARED: list[server.EnvironmentServer] = []


def shared_server() -> server.EnvironmentServer:
    """One server for the dm_env contract tests (an absltest class takes no fixtures)."""
    if not _SHARED:
        _SHARED.append(server.EnvironmentServer(port=0).start())
    return _SHARED[0]


@pytest.fixture(scope="module", autouse=True)
def _shut_down_the_shared_server():
    yield
    for environment_server in _SHARED:
        environment_server.shutdown()
    _SHARED.clear()


@pytest.fixture(autouse=True)
def _no_token_in_the_environment(monkeypatch):
    monkeypatch.delenv(address.TOKEN_VARIABLE, raising=False)


def remote_id(environment_server: server.EnvironmentServer, env_id: str = "CartPole-v1") -> str:
    return f"{environment_server.address}/{env_id}"


def assert_same_timestep(remote: dm_env.TimeStep, local: dm_env.TimeStep) -> None:
    """Equal fields of equal types and dtypes: nothing changed on the way."""
    assert type(remote.step_type) is type(local.step_type)
    np.testing.assert_array_equal(remote.step_type, local.step_type)
    assert np.asarray(remote.step_type).dtype == np.asarray(local.step_type).dtype
    for field in ("reward", "discount"):
        mine, theirs = getattr(remote, field), getattr(local, field)
        assert type(mine) is type(theirs), field
        if theirs is not None:
            assert np.asarray(mine).dtype == np.asarray(theirs).dtype, field
            np.testing.assert_array_equal(mine, theirs)
    _assert_same_value(remote.observation, local.observation)


def _assert_same_value(remote, local) -> None:
    assert type(remote) is type(local)
    if isinstance(local, dict):
        assert list(remote) == list(local)
        for key in local:
            _assert_same_value(remote[key], local[key])
    elif isinstance(local, tuple):
        for mine, theirs in zip(remote, local, strict=True):
            _assert_same_value(mine, theirs)
    else:
        assert np.asarray(remote).dtype == np.asarray(local).dtype
        np.testing.assert_array_equal(remote, local)


def assert_same_specs(remote: dm_env.Environment, local: dm_env.Environment) -> None:
    assert rlkit.make_environment_spec(remote) == rlkit.make_environment_spec(local)
    assert repr(rlkit.make_environment_spec(remote)) == repr(rlkit.make_environment_spec(local))


# --- A served environment is the local one --------------------------------------------------


@pytest.mark.parametrize("max_episode_steps", [5, None], ids=["truncated", "terminated"])
def test_a_served_environment_steps_as_the_local_one(start_server, max_episode_steps):
    environment_server = start_server()
    kwargs = {"max_episode_steps": max_episode_steps} if max_episode_steps else {}
    remote = rlkit.make_environment(remote_id(environment_server), seed=3, **kwargs)
    local = rlkit.make_environment("CartPole-v1", seed=3, **kwargs)
    assert_same_specs(remote, local)
    ends = []
    for i in range(60):  # Action 0 throughout: the pole falls within ~10 steps.
        mine, theirs = remote.step(np.int32(0)), local.step(np.int32(0))
        assert_same_timestep(mine, theirs)
        if theirs.last():
            ends.append(float(theirs.discount))
        if i == 30:  # An explicit seed reseeds both alike.
            assert_same_timestep(remote.reset(seed=11), local.reset(seed=11))
    # Truncation: LAST with discount 1 (bootstrap); termination: LAST with discount 0.
    assert ends and set(ends) == ({1.0} if max_episode_steps else {0.0})
    remote.close()
    assert environment_server.wait_for_environments_in_use(0, DEADLINE)


def test_nested_spaces_and_continuous_recipe_cross_the_wire(start_server):
    environment_server = start_server()
    rng = np.random.default_rng(0)
    for env_id, recipe in [
        ("RlkitRemoteTest/Nested-v0", "gymnasium"),
        ("Pendulum-v1", "continuous"),
    ]:
        remote = rlkit.make_environment(
            remote_id(environment_server, env_id), seed=1, recipe=recipe
        )
        local = rlkit.make_environment(env_id, seed=1, recipe=recipe)
        assert_same_specs(remote, local)
        for _ in range(12):
            action = random_action(local.action_spec(), rng)
            assert_same_timestep(remote.step(action), local.step(action))
        remote.close()


def test_a_batch_of_environments_is_served_as_one(start_server):
    environment_server = start_server()
    remote = rlkit.make_vector_environment(remote_id(environment_server), 3, seed=0)
    local = rlkit.make_vector_environment("CartPole-v1", 3, seed=0)
    assert rlkit.wrappers.num_envs(remote) == 3
    assert environment_server.environments_in_use == 3  # A batch of N holds N.
    assert_same_specs(remote, local)
    rng = np.random.default_rng(0)
    restarts = 0
    for _ in range(80):
        actions = rng.integers(0, 2, 3).astype(np.int32)
        mine, theirs = remote.step(actions), local.step(actions)
        assert_same_timestep(mine, theirs)
        restarts += int((theirs.step_type == 0).sum())
    assert restarts > 3  # Sub-environments ended and restarted on their own.
    remote.close()
    assert environment_server.wait_for_environments_in_use(0, DEADLINE)


@pytest.mark.filterwarnings("ignore:.*without specifying any render mode")
def test_render_frames_and_metadata(start_server):
    environment_server = start_server()
    remote = rlkit.make_environment(remote_id(environment_server), seed=0, render_mode="rgb_array")
    local = rlkit.make_environment("CartPole-v1", seed=0, render_mode="rgb_array")
    remote.reset(), local.reset()
    frame = remote.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3
    np.testing.assert_array_equal(frame, local.render())
    assert remote.metadata["render_fps"] == local.metadata["render_fps"]
    assert "rgb_array" in remote.metadata["render_modes"]
    plain = rlkit.make_environment(remote_id(environment_server), seed=0)
    with pytest.raises(errors.RemoteEnvironmentError, match="ResetNeeded"):
        plain.render()  # As gymnasium says locally; the session goes on.
    plain.reset()
    assert plain.render() is None  # No render mode: no frame.
    remote.close(), plain.close()


RemoteEnvironmentContractTest = contract_test_case(
    lambda: rlkit.make_environment(remote_id(shared_server()), seed=0)
)


def test_a_remote_environment_is_not_pickled(start_server):
    environment = rlkit.make_environment(remote_id(start_server()), seed=0)
    with pytest.raises(TypeError, match="make it there"):
        pickle.dumps(environment)
    environment.close()
    environment.close()  # Twice is fine.
    with pytest.raises(errors.RemoteEnvironmentError, match="closed"):
        environment.step(0)


# --- Remote ids through rlkit's checks ------------------------------------------------------


def test_remote_ids_pass_the_checks_that_local_ids_go_through():
    rlkit.environments.check_environment_id("remote://10.0.0.2:9000/CartPole-v1")
    assert recipes.resolve_recipe("remote://h:1/ALE/Pong-v5") == "atari"
    assert recipes.resolve_recipe("remote://h:1/Pendulum-v1", default="continuous") == "continuous"
    parsed = address.parse_remote_environment_id("remote://[::1]:7/ALE/Pong-v5")
    assert (parsed.host, parsed.port, parsed.env_id) == ("::1", 7, "ALE/Pong-v5")
    assert parsed.websocket_url == "ws://[::1]:7/v1/envs/ALE/Pong-v5"
    default = address.parse_remote_environment_id("remote://example.org/CartPole-v1")
    assert default.port == address.DEFAULT_PORT
    for bad in (
        "remote://:1/CartPole-v1",
        "remote://h:port/CartPole-v1",
        "remote://h:1/",
        "remote://user:secret@h:1/CartPole-v1",
        "remote://h:1/CartPole-v1?token=secret",
    ):
        with pytest.raises(errors.ConfigError, match="remote://HOST:PORT/ENV_ID"):
            rlkit.environments.check_environment_id(bad)
    with pytest.raises(errors.ConfigError, match="max_episode_steps, render_mode"):
        rlkit.environments.check_environment_kwargs(
            "remote://h:1/FrozenLake-v1", {"is_slippery": False}
        )
    with pytest.raises(errors.ConfigError, match="RLKIT_ENV_TOKEN"):  # Runs record kwargs.
        rlkit.make_environment("remote://h:1/CartPole-v1", token="secret")
    with pytest.raises(errors.ConfigError, match="rgb_array"):
        rlkit.make_environment("remote://h:1/CartPole-v1", render_mode="human")
    with pytest.raises(errors.ConfigError, match="asynchronous"):
        rlkit.make_vector_environment("remote://h:1/CartPole-v1", 2, asynchronous=True)


# --- Safe by default ------------------------------------------------------------------------


def test_a_server_beyond_loopback_needs_a_token():
    with pytest.raises(errors.ConfigError, match="RLKIT_ENV_TOKEN"):
        server.EnvironmentServer("0.0.0.0", 0)
    assert address.is_loopback("127.0.0.1") and address.is_loopback("::1")
    assert address.is_loopback("localhost") and not address.is_loopback("0.0.0.0")


def test_requests_without_the_right_token_are_refused(start_server, monkeypatch):
    lines = []
    environment_server = start_server(token="s3cret-token", log=lines.append)
    env_id = remote_id(environment_server)
    with pytest.raises(errors.RemoteEnvironmentError, match=r"HTTP 401.*RLKIT_ENV_TOKEN"):
        rlkit.make_environment(env_id)
    monkeypatch.setenv(address.TOKEN_VARIABLE, "a-wrong-guess")
    with pytest.raises(errors.RemoteEnvironmentError, match="401"):
        rlkit.make_environment(env_id)
    monkeypatch.setenv(address.TOKEN_VARIABLE, "s3cret-token")
    environment = rlkit.make_environment(env_id, seed=0)
    assert environment.step(0).first()
    environment.close()
    assert any("refused (401" in line for line in lines)
    assert not any("s3cret" in line or "a-wrong-guess" in line for line in lines)


def test_ids_not_served_are_refused_before_anything_is_made(start_server):
    environment_server = start_server(allow=["CartPole-v1", "Pendulum-*"])
    module_id = remote_id(environment_server, "gymnasium.envs.classic_control:CartPoleEnv")
    with pytest.raises(errors.RemoteEnvironmentError, match=r"HTTP 403.*module"):
        rlkit.make_environment(module_id)
    # A served id that is itself remote would make the server a client of another: refused.
    relayed = remote_id(environment_server, "remote://127.0.0.1:1/CartPole-v1")
    with pytest.raises(errors.RemoteEnvironmentError, match="403"):
        rlkit.make_environment(relayed)
    with pytest.raises(
        errors.RemoteEnvironmentError, match=r"403.*serves CartPole-v1, Pendulum-\*"
    ):
        rlkit.make_environment(remote_id(environment_server, "MountainCar-v0"))
    rlkit.make_environment(remote_id(environment_server, "Pendulum-v1")).close()

    anything = start_server()
    with pytest.raises(errors.UnknownEnvironmentError, match="Did you mean: CartPole-v1"):
        rlkit.make_environment(remote_id(anything, "CartPole-v9"))
    with pytest.raises(errors.UnknownEnvironmentError, match="at most 200 characters"):
        rlkit.make_environment(remote_id(anything, "CartPole-v1" * 50))
    assert anything.environments_in_use == environment_server.environments_in_use == 0


def test_max_envs_bounds_what_a_server_holds(start_server):
    environment_server = start_server(max_envs=2)
    first = rlkit.make_environment(remote_id(environment_server), seed=0)
    second = rlkit.make_environment(remote_id(environment_server), seed=1)
    with pytest.raises(errors.RemoteEnvironmentError, match=r"HTTP 503.*--max-envs"):
        rlkit.make_environment(remote_id(environment_server))
    first.close()
    assert environment_server.wait_for_environments_in_use(1, DEADLINE)
    with pytest.raises(errors.RemoteEnvironmentError, match="--max-envs"):  # Room for 1, not 2.
        rlkit.make_vector_environment(remote_id(environment_server), 2)
    third = rlkit.make_environment(remote_id(environment_server), seed=2)
    assert third.step(0).first() and second.step(0).first()
    second.close(), third.close()
    assert environment_server.wait_for_environments_in_use(0, DEADLINE)


def test_unreachable_server_is_a_clear_error(start_server):
    environment_server = start_server()
    env_id = remote_id(environment_server)
    environment_server.shutdown()
    with pytest.raises(errors.RemoteEnvironmentError, match="cannot connect.*rlkit serve-env"):
        rlkit.make_environment(env_id)


# --- Bad input never kills the server --------------------------------------------------------


def raw_connection(environment_server, env_id="CartPole-v1"):
    """A WebSocket to the server without rlkit's client: to send what it never would."""
    return ws_client.connect(
        f"ws://127.0.0.1:{environment_server.port}/v1/envs/{env_id}",
        subprotocols=[protocol.SUBPROTOCOL],
        proxy=None,
        open_timeout=DEADLINE,
    )


def request(connection, message) -> dict:
    connection.send(msgpack.packb(message))
    return msgpack.unpackb(connection.recv(timeout=DEADLINE))


def close_code(connection) -> int:
    with pytest.raises(ws_exceptions.ConnectionClosed) as closed:
        connection.recv(timeout=DEADLINE)
    return closed.value.rcvd.code


def assert_still_serving(environment_server) -> None:
    environment = rlkit.make_environment(remote_id(environment_server), seed=0)
    assert environment.step(0).first() and environment.step(1).mid()
    environment.close()


@pytest.mark.parametrize(
    "frame, code",
    [
        ("make", 1003),  # A text frame.
        (b"\xc1", 1007),  # Not msgpack.
        (b"\x00" * (protocol.SERVER_MAX_MESSAGE_BYTES + 1), 1009),  # Too big.
        # An array whose data does not fit its shape, and a dtype that is not sent (object).
        (msgpack.packb(msgpack.ExtType(1, msgpack.packb(["<f4", [1000], b"\0" * 4]))), 1007),
        (msgpack.packb(msgpack.ExtType(1, msgpack.packb(["|O", [1], b"\0" * 8]))), 1007),
        (msgpack.packb(msgpack.ExtType(9, b"")), 1007),  # An unknown extension.
    ],
    ids=["text", "garbage", "oversized", "short-array", "object-dtype", "unknown-extension"],
)
def test_malformed_messages_close_that_session_only(start_server, frame, code):
    environment_server = start_server()
    connection = raw_connection(environment_server)
    assert request(connection, {"op": "make", "seed": 0})["ok"]
    connection.send(frame)
    assert close_code(connection) == code
    assert environment_server.wait_for_environments_in_use(0, DEADLINE)
    assert_still_serving(environment_server)


def test_wrong_requests_are_error_replies_and_the_session_goes_on(start_server):
    environment_server = start_server()
    connection = raw_connection(environment_server)
    kinds = []
    for message in (
        5,
        {"op": "explode"},
        {"op": "step", "action": 0},  # Before make.
        {"op": "make", "seed": -1},
        {"op": "make", "recipe": "atari"},
        {"op": "make", "kwargs": {"xml_file": "/etc/passwd"}},
        {"op": "make", "kwargs": {"render_mode": "human"}},
    ):
        reply = request(connection, message)
        assert reply["ok"] is False and reply["error"]["message"]
        kinds.append(reply["error"]["type"])
    assert kinds == ["ProtocolError"] * 4 + ["ConfigError"] * 3
    assert request(connection, {"op": "make", "seed": 0})["ok"]
    assert request(connection, {"op": "make"})["error"]["type"] == "ProtocolError"  # Twice.
    timestep = request(connection, {"op": "step", "action": 1})["timestep"]
    assert timestep["step_type"] == 0  # The fresh environment's first step resets.
    deep = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    for action in ("left", deep, [[0]], 2):
        reply = request(connection, {"op": "step", "action": action})
        assert reply["error"]["type"] == "InvalidActionError", reply
    assert request(connection, {"op": "step", "action": 1})["timestep"]["step_type"] == 1
    assert request(connection, {"op": "close"}) == {"ok": True}
    assert close_code(connection) == 1000
    assert environment_server.wait_for_environments_in_use(0, DEADLINE)


def test_an_invalid_action_is_an_error_and_the_session_goes_on(start_server):
    environment = rlkit.make_environment(remote_id(start_server()), seed=0)
    environment.reset()
    for action in (np.int32(7), -1, np.float32(0.5), np.array([0, 1]), "left", None, object()):
        with pytest.raises(errors.InvalidActionError):
            environment.step(action)
    assert environment.step(np.int32(1)).mid()
    environment.close()


def test_an_environment_that_raises_ends_its_session_only(start_server):
    lines = []
    environment_server = start_server(log=lines.append)
    environment = rlkit.make_environment(
        remote_id(environment_server, "RlkitRemoteTest/Exploding-v0")
    )
    environment.reset()
    environment.step(0), environment.step(0)
    with pytest.raises(errors.RemoteEnvironmentError, match="RuntimeError: the simulator diverged"):
        environment.step(0)
    with pytest.raises(
        errors.RemoteEnvironmentError,
        match=r"server closed the connection \(1011: the environment failed",
    ):
        environment.step(0)
    assert environment_server.wait_for_environments_in_use(0, DEADLINE)
    assert any("the simulator diverged" in line for line in lines)
    assert_still_serving(environment_server)


class LineReader:
    """A subprocess's output lines, waited for with a deadline."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = DEADLINE) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line matching {pattern!r} within {timeout} s: {self.lines}"
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, f"the output ended without {pattern!r}: {self.lines}"
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match


CLIENT_SCRIPT = """
import sys
import rlkit
environment = rlkit.make_environment(sys.argv[1], seed=0)
environment.reset()
environment.step(0)
print("mid-episode", flush=True)
sys.stdin.read()  # Until it is killed.
"""


def test_a_client_killed_mid_episode_frees_its_environment(start_server):
    environment_server = start_server()
    process = subprocess.Popen(
        [sys.executable, "-c", CLIENT_SCRIPT, remote_id(environment_server)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        LineReader(process.stdout).wait_for("mid-episode")
        assert environment_server.environments_in_use == 1
        process.kill()
        process.wait(timeout=DEADLINE)
    finally:
        process.kill()
    assert environment_server.wait_for_environments_in_use(0, DEADLINE)
    assert_still_serving(environment_server)


def test_idle_sessions_are_closed_after_idle_timeout(start_server):
    # Long enough that a loaded machine still makes the environment within it.
    environment_server = start_server(idle_timeout=2.0)
    environment = rlkit.make_environment(remote_id(environment_server), seed=0)
    assert environment_server.wait_for_environments_in_use(0, DEADLINE)
    with pytest.raises(errors.RemoteEnvironmentError, match="idle for 2 s"):
        environment.step(0)


def test_a_connection_that_never_makes_an_environment_is_closed(start_server, monkeypatch):
    monkeypatch.setattr(server, "MAKE_TIMEOUT_S", 1.0)
    environment_server = start_server()  # No idle timeout: sessions with environments stay.
    silent = raw_connection(environment_server)
    assert close_code(silent) == 1001  # Going away: no `make` within the timeout.
    assert_still_serving(environment_server)


def test_a_server_that_goes_away_mid_run_is_a_clear_error(start_server):
    environment_server = start_server()
    environment = rlkit.make_environment(remote_id(environment_server), seed=0)
    environment.step(0)
    environment_server.shutdown()
    with pytest.raises(errors.RemoteEnvironmentError, match=r"1001.*rlkit serve-env.*resumes"):
        environment.step(0)
    environment.close()


# --- Several clients at once -------------------------------------------------------------------


def _trajectory(environment, actions) -> list[dm_env.TimeStep]:
    return [environment.step(action) for action in actions]


def test_concurrent_clients_each_have_their_own_environment(start_server):
    environment_server = start_server()
    clients = 4
    all_made = threading.Barrier(clients, timeout=DEADLINE)
    results: dict[int, list] = {}
    failures: list[BaseException] = []
    actions = [np.int32(a) for a in np.random.default_rng(0).integers(0, 2, 300)]

    def client(seed: int) -> None:
        try:
            environment = rlkit.make_environment(remote_id(environment_server), seed=seed)
            all_made.wait()
            results[seed] = _trajectory(environment, actions)
            environment.close()
        except BaseException as error:
            failures.append(error)
            all_made.abort()

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert not failures, failures
    for seed in range(clients):
        local = _trajectory(rlkit.make_environment("CartPole-v1", seed=seed), actions)
        for mine, theirs in zip(results[seed], local, strict=True):
            assert_same_timestep(mine, theirs)
    assert environment_server.wait_for_environments_in_use(0, DEADLINE)


def _step_latencies(environment, steps: int) -> list[float]:
    environment.reset()
    latencies = []
    for i in range(steps):
        start = time.perf_counter()
        environment.step(np.int32(i % 2))
        latencies.append(time.perf_counter() - start)
    return latencies


def test_bounded_load_on_loopback(start_server, capsys):
    """A fixed number of steps in a bounded time: steps/s and latency against a local env."""
    environment_server = start_server()
    steps, clients, started = 2000, 4, time.monotonic()
    local = _step_latencies(rlkit.make_environment("CartPole-v1", seed=0), steps)
    remote_environment = rlkit.make_environment(remote_id(environment_server), seed=0)
    remote = _step_latencies(remote_environment, steps)
    remote_environment.close()

    per_client: list[list[float]] = []
    environments = [
        rlkit.make_environment(remote_id(environment_server), seed=seed) for seed in range(clients)
    ]
    threads = [
        threading.Thread(target=lambda e=e: per_client.append(_step_latencies(e, steps // clients)))
        for e in environments
    ]
    concurrent_start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    concurrent_seconds = time.perf_counter() - concurrent_start
    for environment in environments:
        environment.close()
    elapsed = time.monotonic() - started
    assert sum(map(len, per_client)) == steps
    assert elapsed < 120, f"{steps * 2} steps took {elapsed:.0f} s"

    def describe(name: str, latencies: list[float]) -> str:
        cut = statistics.quantiles(latencies, n=100)
        return (
            f"{name}: {len(latencies) / sum(latencies):,.0f} steps/s, latency median "
            f"{statistics.median(latencies) * 1e6:,.0f} us, p99 {cut[98] * 1e6:,.0f} us"
        )

    with capsys.disabled():
        print(f"\n[load] CartPole-v1 on loopback, {steps} steps each:")
        print(f"[load] {describe('local', local)}")
        print(f"[load] {describe('remote, 1 client', remote)}")
        print(
            f"[load] remote, {clients} clients at once: {steps / concurrent_seconds:,.0f} "
            f"steps/s together; {describe('per step', [x for c in per_client for x in c])}"
        )


# --- Training through a server ---------------------------------------------------------------


def test_dqn_trains_evaluates_and_checkpoints_through_a_server(start_server, tmp_path):
    from rlkit import experiments
    from rlkit.agents.dqn import DQNConfig

    environment_server = start_server()
    run_dir = str(tmp_path / "run")
    config = experiments.make_experiment_config(
        "dqn",
        remote_id(environment_server),
        DQNConfig(min_replay_size=100, hidden_sizes=(32, 32)),
        max_num_actor_steps=1000,
        eval_every=500,
        checkpoint_every=500,
        num_eval_episodes=2,
        run_dir=run_dir,
        loggers=("csv",),
    )
    result = experiments.run_experiment(config)
    assert result.actor_steps == 1000
    assert [e["actor_steps"] for e in result.evaluations] == [500, 1000]
    assert all(np.isfinite(e["return_mean"]) for e in result.evaluations)
    assert os.path.isfile(os.path.join(run_dir, "policy", "policy.json"))
    policy = experiments.load_policy(run_dir)  # Rebuilds its environment through the server.
    assert policy.env_id == remote_id(environment_server)
    assert environment_server.wait_for_environments_in_use(0, DEADLINE)


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _latest_checkpoint(run_dir: pathlib.Path) -> int:
    steps = [int(p.stem) for p in (run_dir / "manifests").glob("*.json") if p.stem.isdigit()]
    return max(steps, default=0)


@pytest.mark.slow
def test_cli_train_through_a_server_that_crashes_then_resume(start_server, tmp_path, capsys):
    environment_server = start_server()
    port, run_dir = environment_server.port, tmp_path / "run"
    argv = ["train", "dqn", "--env", remote_id(environment_server), "--steps", "2000"]
    argv += ["--checkpoint-every", "500", "--eval-every", "1000", "--eval-episodes", "2"]
    argv += ["--run-dir", run_dir, "--logger", "csv", *TINY]

    def crash_after_a_checkpoint() -> None:
        deadline = time.monotonic() + 240
        while _latest_checkpoint(run_dir) < 500 and time.monotonic() < deadline:
            time.sleep(0.02)  # Polls the run directory (nothing to wait on across it).
        environment_server.shutdown()

    crasher = threading.Thread(target=crash_after_a_checkpoint)
    crasher.start()
    code, _, err = run_cli(capsys, *argv)
    crasher.join()
    errors_printed = [line for line in err.splitlines() if line.startswith("rlkit:")]
    assert code == 2, err[-3000:]
    assert len(errors_printed) == 1 and "rlkit serve-env" in errors_printed[0], err[-3000:]
    assert "Traceback" not in err
    crashed_at = _latest_checkpoint(run_dir)
    assert 500 <= crashed_at < 2000

    # The same server address again: the same command resumes from the checkpoint.
    start_server(port=port)
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err[-3000:]
    assert f"resumed from the checkpoint at step {crashed_at}" in out
    assert "after 2000 steps" in out
    code, out, err = run_cli(capsys, "eval", run_dir, "--episodes", "2")
    assert code == 0 and "return" in out, err[-3000:]
    code, out, err = run_cli(capsys, "play", run_dir, "--video", tmp_path / "episode.gif")
    assert code == 0 and (tmp_path / "episode.gif").stat().st_size > 0, err[-3000:]


def test_cli_errors_of_remote_environments_are_one_line(start_server, capsys):
    environment_server = start_server()
    for env_id, expected in [
        (remote_id(environment_server, "CartPole-v9"), "Did you mean: CartPole-v1"),
        ("remote://127.0.0.1:1/CartPole-v1", "cannot connect"),
        ("remote://127.0.0.1:notaport/CartPole-v1", "remote://HOST:PORT/ENV_ID"),
    ]:
        code, _, err = run_cli(capsys, "train", "dqn", "--env", env_id, "--steps", "10", *TINY)
        assert code == 2, err[-3000:]
        assert err.count("\n") == 1 and err.startswith("rlkit: error:") and expected in err, err


# --- rlkit serve-env ---------------------------------------------------------------------------


def test_serve_env_beyond_loopback_without_a_token_refuses_to_start(capsys):
    code, out, err = run_cli(capsys, "serve-env", "--host", "0.0.0.0", "--port", "0")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "RLKIT_ENV_TOKEN" in err and "SSH tunnel" in err


@pytest.mark.parametrize(
    "argv", [["serve-env", "--help"], ["serve-env", "--host", "0.0.0.0"]], ids=["help", "refused"]
)
def test_serve_env_loads_nothing_heavy(argv):
    from tests.test_cli import HEAVY_MODULES, IMPORTED_HEAVY

    result = subprocess.run(
        [sys.executable, "-c", IMPORTED_HEAVY, ",".join(HEAVY_MODULES), *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = result.stdout.splitlines()[-1]
    assert last.startswith("exit 0" if "--help" in argv else "exit 2")
    assert last.endswith("heavy "), f"{last} ({result.stderr[-2000:]})"


def test_serve_env_serves_until_interrupted(tmp_path):
    environment = {**os.environ, address.TOKEN_VARIABLE: "t0ken-from-the-environment"}
    process = subprocess.Popen(
        [RLKIT, "serve-env", "--port", "0", "--allow", "CartPole-v1", "--max-envs", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=tmp_path,
    )
    try:
        out, err = LineReader(process.stdout), LineReader(process.stderr)
        match = out.wait_for(r"serving environments at (remote://127\.0\.0\.1:\d+)/ENV_ID")
        env_id = f"{match.group(1)}/CartPole-v1"
        with pytest.raises(errors.RemoteEnvironmentError, match="401"):
            rlkit.make_environment(env_id)
        client = rlkit.remote.RemoteEnvironment(env_id, seed=0, token="t0ken-from-the-environment")
        assert client.step(0).first()
        err.wait_for(r"made CartPole-v1 \(1 of 4 in use\)")
        process.send_signal(signal.SIGINT)
        out.wait_for("^stopped$")
        assert process.wait(timeout=DEADLINE) == 0
        with pytest.raises(errors.RemoteEnvironmentError, match="1001"):
            client.step(0)
    finally:
        process.kill()
    assert not any("t0ken" in line for line in out.lines + err.lines)
