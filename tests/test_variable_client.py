"""VariableClient: pulls every `update_period` calls; asynchronous pulls run in the
background (one thread per client), are swapped in when they arrive, raise their errors on
the acting thread, and back off while the source has nothing newer."""

import threading
import time
from concurrent import futures

import pytest

from rlkit import core
from rlkit.jax.variable_utils import VariableClient


class CountingSource(core.VariableSource):
    """Serves 1, 2, 3, ...; with a gate, each pull waits until the gate is opened."""

    def __init__(self, gated: bool = False):
        self.version = 0
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.fail = False

    def get_variables(self, names):
        self.gate.wait(timeout=10)
        if self.fail:
            raise RuntimeError("learner unreachable")
        self.version += 1
        return [self.version for _ in names]


def test_pulls_every_update_period_calls():
    client = VariableClient(CountingSource(), update_period=3)
    assert client.params == 1
    seen = []
    for _ in range(7):
        client.update()
        seen.append(client.params)
    assert seen == [1, 1, 2, 2, 2, 3, 3]
    client.update(wait=True)
    assert client.params == 4


def test_asynchronous_pulls_never_block_acting_and_swap_in_when_they_arrive():
    source = CountingSource(gated=True)
    source.gate.set()
    client = VariableClient(source, update_period=1, asynchronous=True)
    assert client.params == 1  # The first pull blocks: there is nothing to act with yet.
    source.gate.clear()
    client.update()  # Starts a pull that hangs on the gate; acting goes on.
    assert client.params == 1
    client.update()  # Still in flight: no second pull is started.
    assert client.params == 1
    source.gate.set()
    futures.wait([client._pending], timeout=10)
    client.update()  # Swaps in version 2 and starts the next pull.
    assert client.params == 2
    futures.wait([client._pending], timeout=10)
    client.update()
    assert client.params == 3 and source.version <= 4


def test_an_asynchronous_pull_s_error_is_raised_on_the_acting_thread():
    source = CountingSource()
    client = VariableClient(source, update_period=1, asynchronous=True)
    assert client.params == 1
    source.fail = True
    client.update()
    futures.wait([client._pending], timeout=10)
    with pytest.raises(RuntimeError, match="learner unreachable"):
        client.update()


def test_update_period_must_be_positive():
    with pytest.raises(ValueError, match="update_period must be a positive integer"):
        VariableClient(CountingSource(), update_period=0)


def test_a_remote_source_is_pulled_in_the_background_at_most_every_interval():
    class RemoteSource(CountingSource):
        remote = True
        min_pull_interval_s = 0.2

    source = RemoteSource()
    client = VariableClient(source)
    assert client.params == 1  # The first pull waits.
    assert client._asynchronous
    started = time.monotonic()
    while time.monotonic() - started < 0.1:
        client.update()
    assert source.version == 1  # Fresh from the first pull: none within the interval.
    deadline = time.monotonic() + 10
    while client.params == 1 and time.monotonic() < deadline:
        client.update()
    assert client.params == 2  # In the background, once the interval has passed.
    for _ in range(50):
        client.update()
    assert source.version == 2  # The interval holds the next one back.
    assert not VariableClient(CountingSource())._asynchronous  # A local source: in line.


class RemoteVersions(core.VariableSource):
    """A remote source that serves the same object until `publish` makes a newer one."""

    remote = True
    min_pull_interval_s = 0.01
    max_pull_interval_s = 0.08

    def __init__(self):
        self.pulls = 0
        self.current = ["version 0"]

    def publish(self):
        self.current = [f"version {self.pulls}"]

    def get_variables(self, names):
        self.pulls += 1
        return [self.current for _ in names]


def settle(client, seconds):
    """Calls `update` like an acting loop would, for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        client.update()
        time.sleep(0.001)


def test_pulls_back_off_while_the_source_has_nothing_newer_and_speed_up_when_it_has():
    source = RemoteVersions()
    client = VariableClient(source)
    assert client.params == ["version 0"]
    settle(client, 1.0)
    idle_pulls = source.pulls - 1
    # Waits of 10, 20, 40 ms, then 80 ms on: ~14 pulls in the second (~100 without back-off).
    assert 6 <= idle_pulls <= 16, idle_pulls
    assert client._interval_s == source.max_pull_interval_s
    source.publish()
    published = time.monotonic()
    while client.params is not source.current and time.monotonic() < published + 5:
        client.update()
        time.sleep(0.001)
    assert client.params is source.current
    assert time.monotonic() - published < 1.0  # About one longest wait (80 ms).
    assert client._interval_s == source.min_pull_interval_s  # Back to pulling often.


def test_a_source_with_something_newer_every_time_is_pulled_at_the_full_rate():
    source = RemoteVersions()
    source.get_variables = lambda names: [[time.monotonic()] for _ in names]
    pulls = []
    client = VariableClient(source)
    assert client.params is not None
    for _ in range(1000):  # ~1 s at 1 ms a call; pulls every 10 ms.
        client.update()
        if not pulls or client.params is not pulls[-1]:
            pulls.append(client.params)
        time.sleep(0.001)
    assert len(pulls) >= 25, len(pulls)  # Backing off to 80 ms would give ~14.
    assert client._interval_s == source.min_pull_interval_s


class BackgroundGatedSource(core.VariableSource):
    """Each call serves a new version; calls off the main thread wait for `gate`."""

    remote = True

    def __init__(self):
        self.calls = 0
        self.gate = threading.Event()

    def get_variables(self, names):
        self.calls += 1
        version = self.calls
        if threading.current_thread() is not threading.main_thread():
            self.gate.wait(timeout=10)
        return [f"version {version}" for _ in names]


def test_a_synchronous_pull_supersedes_the_one_in_flight_without_queueing_more():
    source = BackgroundGatedSource()
    client = VariableClient(source)
    assert client.params == "version 1"
    client.update()  # Starts pull 2 in the background; it waits at the gate.
    deadline = time.monotonic() + 10
    while source.calls < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    client.update(wait=True)
    assert client.params == "version 3"
    for _ in range(20):
        client.update()
    assert source.calls == 3  # Nothing queued behind the pull in flight.
    source.gate.set()
    futures.wait([client._pending], timeout=10)
    client.update()  # Drops version 2 (asked for before version 3) and starts the next.
    assert client.params == "version 3"
    futures.wait([client._pending], timeout=10)
    client.update()
    assert client.params == "version 4"


def test_background_pulls_share_one_thread_which_ends_with_the_client():
    source = RemoteVersions()
    source.max_pull_interval_s = source.min_pull_interval_s
    threads = []

    def serve(names):  # Something newer every time: pulled at the full rate.
        threads.append(threading.current_thread())
        return [[len(threads)] for _ in names]

    source.get_variables = serve
    client = VariableClient(source)
    settle(client, 0.3)
    pull_thread = client._puller.thread
    assert len(threads) > 5 and set(threads[1:]) == {pull_thread}  # The first pull waits.
    del client
    pull_thread.join(timeout=5)
    assert not pull_thread.is_alive()
