"""`keneya serve` under systemd (`Type=notify`): READY=1 once uvicorn listens, WATCHDOG=1
from the event loop that serves the requests, STOPPING=1 when asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
import threading

import uvicorn
from uvicorn.supervisors import Multiprocess

from appliance.sdnotify import Notifier

PROBE_PATH = "/favicon.ico"  # cheap, no session, no database


class NotifyingServer(uvicorn.Server):
    """One process: the notifications come from uvicorn's own start-up and shut-down."""

    def __init__(self, config: uvicorn.Config, notifier: Notifier) -> None:
        super().__init__(config)
        self.notifier = notifier
        self._watchdog: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.started:
            return
        # The sockets listen: a tablet's request is answered from here on.
        self.notifier.ready(f"listening on {self.config.host}:{self.config.port}")
        period = self.notifier.watchdog_s
        if period is not None:
            self._watchdog = asyncio.create_task(self._ping(period))

    async def _ping(self, period: float) -> None:
        # On the loop that serves requests: a blocked loop stops the pings.
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(period)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.notifier.stopping()
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        await super().shutdown(sockets=sockets)


def run_workers(config: uvicorn.Config, notifier: Notifier) -> None:
    """Several worker processes under uvicorn's supervisor. READY=1 comes from this parent
    once a request on the shared socket gets an HTTP answer from a worker; no watchdog (no
    single loop can vouch for every worker; the supervisor restarts a hung one)."""
    sock = config.bind_socket()
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    done = threading.Event()

    def wait_for_an_answer() -> None:
        while not done.wait(0.2):
            conn = http.client.HTTPConnection(host, config.port, timeout=5)
            try:
                conn.request("GET", PROBE_PATH)
                conn.getresponse().read()
            except OSError:
                continue
            finally:
                conn.close()
            notifier.ready(f"listening on {config.host}:{config.port}, {config.workers} workers")
            return

    threading.Thread(target=wait_for_an_answer, name="ready-probe", daemon=True).start()
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        done.set()
        notifier.stopping()
