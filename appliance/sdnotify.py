"""systemd's notify protocol (sd_notify(3)): a datagram on the AF_UNIX socket named by
$NOTIFY_SOCKET. A dozen lines, so no dependency; without $NOTIFY_SOCKET every call is a no-op,
which is what a laptop or a test run without systemd needs.
"""

from __future__ import annotations

import contextlib
import os
import socket
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

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *lines: str) -> bool:
        if not self.address:
            return False
        message = "\n".join(lines)
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), self.address)
        except OSError:
            return False
        self.sent.append(message)
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

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
