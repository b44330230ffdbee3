"""systemd's notify protocol (sd_notify(3)): a datagram on the AF_UNIX socket named by
$NOTIFY_SOCKET. A few lines, so no dependency; without $NOTIFY_SOCKET every call is a no-op,
which is what a laptop or a test run without systemd needs.

The socket never blocks: the kernel queues a few datagrams for a listener (10 by default,
net.unix.max_dgram_qlen), and a listener that stops reading (systemd stalled, a test reading
nothing) would otherwise block the sender for good, the web app's whole event loop or the power
daemon's loop with it. A watchdog ping or a status that finds the queue full is dropped (the
next one comes within half of WatchdogSec); READY=1 and STOPPING=1 are tried for a moment.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections import deque
from collections.abc import Mapping


def watchdog_period_s(environ: Mapping[str, str] | None = None) -> float | None:
    """Half of $WATCHDOG_USEC (systemd's advice), or None when no watchdog is asked for or it
    is meant for another process ($WATCHDOG_PID)."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    return usec / 1e6 / 2


# How long READY=1 and STOPPING=1 are retried while the listener's queue is full: systemd
# acts on them (start done, stop begun), unlike a ping, which the next one replaces.
STATE_SEND_WAIT_S = 1.0


class Notifier:
    """Send READY=1, WATCHDOG=1, STOPPING=1 and STATUS=… to systemd. Never raises: the
    daemon's job is the battery, and a missing supervisor must not stop it."""

    def __init__(self, address: str | None = None, *, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") if address is None else address
        # "@name" is an abstract socket: its real name starts with a NUL byte
        self.address = "\0" + address[1:] if address and address.startswith("@") else address
        self.watchdog_s = watchdog_period_s(env)
        self._sock: socket.socket | None = None
        self.sent: deque[str] = deque(maxlen=64)  # the latest messages, for logs and tests
        self.dropped = 0  # messages not sent because the listener's queue was full

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *lines: str, wait_s: float = 0.0) -> bool:
        """Send one message; False when it could not be sent, after up to wait_s of retries
        while the listener's queue is full (never longer: see the module's docstring)."""
        if not self.address:
            return False
        message = "\n".join(lines)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                if self._sock is None:
                    self._sock = socket.socket(
                        socket.AF_UNIX,
                        socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK,
                    )
                self._sock.sendto(message.encode(), self.address)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.dropped += 1
                    return False
                time.sleep(0.02)
            except OSError:
                return False
        self.sent.append(message)
        return True

    def ready(self, status: str | None = None) -> bool:
        lines = ("READY=1", *([f"STATUS={status}"] if status else []))
        return self.notify(*lines, wait_s=STATE_SEND_WAIT_S)

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", wait_s=STATE_SEND_WAIT_S)

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
