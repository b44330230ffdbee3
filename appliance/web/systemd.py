"""`keneya serve` under systemd (`Type=notify`): READY=1 once uvicorn listens, WATCHDOG=1
each time a query through the requests' own database pool and worker threads succeeds,
STOPPING=1 when asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import socket
import threading
from collections.abc import Awaitable, Callable

import uvicorn
from uvicorn.supervisors import Multiprocess

from appliance.sdnotify import Notifier

PROBE_PATH = "/favicon.ico"  # cheap, no session, no database
log = logging.getLogger("keneya.web")


class CancelledAtStop(logging.Filter):
    """uvicorn logs a traceback for each request cancelled when the stop's grace period ends
    (a client that never finished sending): one line says it instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            record.msg, record.args = "a request under way was cancelled by the stop", ()
            record.exc_info = record.exc_text = None
        return True


class NotifyingServer(uvicorn.Server):
    """One process: the notifications come from uvicorn's own start-up and shut-down."""

    def __init__(
        self,
        config: uvicorn.Config,
        notifier: Notifier,
        probe: Callable[[float], Awaitable[bool]] | None = None,
    ) -> None:
        super().__init__(config)
        self.notifier = notifier
        self.probe = probe  # probe(wait_s) -> the database answered a request's way
        logging.getLogger("uvicorn.error").addFilter(CancelledAtStop())
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
        """WATCHDOG=1 only when the probe got a pool connection and a worker thread, as a page
        does: a loop that still runs but whose requests are wedged (every thread or connection
        stuck) stops the pings, and systemd restarts the app.

        A merely busy app is not killed: requests wait at most SLOT_WAIT_S (2 s) for a
        connection, then get 503, and slots are handed out in turn, so the probe, allowed to
        wait `period` (half of WatchdogSec), gets one after the waiters before it have left.
        A probe every period/2 that may take up to `period` keeps pings under WatchdogSec apart.
        """
        while True:
            if self.probe is None or await self.probe(period):
                self.notifier.watchdog()
            await asyncio.sleep(period / 2)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.notifier.stopping()
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        await super().shutdown(sockets=sockets)
        log.info("keneya web: stopped")


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
        log.info("keneya web: stopped")
