"""sd_notify on a real AF_UNIX datagram socket, as systemd listens for it."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import UTC, datetime

import pytest

from appliance.sdnotify import Notifier, watchdog_period_s
from appliance.store import Store
from power.daemon import Settings
from power.sim import get
from power.simulated import simulated_daemon

pytestmark = pytest.mark.component


def receive(sock: socket.socket, n: int) -> list[str]:
    return [sock.recv(4096).decode() for _ in range(n)]


def test_ready_watchdog_stopping_reach_the_socket(notify_listener):
    sock, path = notify_listener.sock, notify_listener.address
    with Notifier(environ={"NOTIFY_SOCKET": path}) as n:
        assert n.enabled
        assert n.ready("battery ok") and n.watchdog() and n.stopping()
    assert receive(sock, 3) == ["READY=1\nSTATUS=battery ok", "WATCHDOG=1", "STOPPING=1"]


def test_abstract_socket_names():
    name = f"keneya-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(10.0)
        with Notifier(environ={"NOTIFY_SOCKET": "@" + name}) as n:
            assert n.ready()
        assert sock.recv(4096) == b"READY=1"


def test_without_systemd_nothing_is_sent():
    with Notifier(environ={}) as n:
        assert not n.enabled
        assert n.ready() is False and n.watchdog() is False
        assert n.watchdog_s is None


def test_a_vanished_socket_is_not_an_error(tmp_path):
    with Notifier(environ={"NOTIFY_SOCKET": str(tmp_path / "gone")}) as n:
        assert n.ready() is False


def test_watchdog_period_is_half_of_watchdog_usec():
    assert watchdog_period_s({"WATCHDOG_USEC": "20000000"}) == 10.0
    assert watchdog_period_s({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}) == 10
    assert watchdog_period_s({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_period_s({"WATCHDOG_USEC": "junk"}) is None
    assert watchdog_period_s({}) is None


def test_the_daemon_says_ready_pings_and_says_stopping(notify_listener, tmp_path):
    sock, path = notify_listener.sock, notify_listener.address
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}
    with (
        Store(tmp_path / "keneya.db", create=True) as store,
        Notifier(environ=env) as notifier,
        simulated_daemon(
            store,
            get("sunny"),
            origin=datetime(2026, 10, 15, tzinfo=UTC),
            settings=Settings(sample_s=60),
            notifier=notifier,
        ) as sim,
    ):
        sim.daemon.run(duration_s=3600)
        assert store.power.state() is not None  # READY came after the first stored reading
    messages = []
    while not messages or messages[-1] != "STOPPING=1":
        messages += receive(sock, 1)
    ready = next(i for i, m in enumerate(messages) if m.startswith("READY=1"))
    assert "STATUS=simulator:sunny: ok" in messages[ready]
    assert "WATCHDOG=1" in messages[ready + 1 :]  # the first ping follows READY
    assert messages.count("STOPPING=1") == 1


def test_a_listener_that_stops_reading_never_blocks_the_sender(notify_listener):
    """systemd stalled (or a test reading nothing): pings are dropped, not waited for; the
    kernel queues only a few datagrams per listener (net.unix.max_dgram_qlen)."""
    sent: list[bool] = []
    with Notifier(environ={"NOTIFY_SOCKET": notify_listener.address}) as n:
        worker = threading.Thread(target=lambda: sent.extend(n.watchdog() for _ in range(600)))
        worker.start()
        worker.join(60)
        assert not worker.is_alive(), "a ping blocked on a full queue"
        assert notify_listener.queue_is_full()
        assert False in sent and n.dropped == sent.count(False)
        assert n.ready() is False  # retried for a moment, then given up, never hung
        notify_listener.drain()
        assert n.ready("back") is True  # read again: sent again
    assert notify_listener.drain()[-1] == "READY=1\nSTATUS=back"
