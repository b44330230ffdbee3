"""Limits per device on the hotspot, so that one phone (a reconnect with many tabs, a script)
cannot take the server from the twenty tablets:

- at most MAX_CONNECTIONS_PER_CLIENT open connections per client address (more get a plain
  429, their request unread, and are closed), and a request's head must arrive within
  HEAD_WAIT_S (a half-sent request, the "slowloris", is closed instead of being kept for
  ever): `GuardedHttpTools`, the uvicorn protocol `keneya serve` uses;
- at most MAX_REQUESTS_PER_CLIENT requests of one address in flight at once (more get 429
  with Retry-After before any database work): `ClientLimits`, an ASGI middleware.

The replies "not now" (429 here, 503 when the database pool stays busy, see core.PoolBusy)
come before any session is read, so they speak French, the default language; the API's are
JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from html import escape

from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from appliance.web.assets import static_url
from appliance.web.i18n import N_, Translator

log = logging.getLogger("keneya.web")

API_PREFIX = "/api/v1"
# A browser opens at most 6 connections to a host; a few tabs at once stay well under these.
MAX_CONNECTIONS_PER_CLIENT = 32
MAX_REQUESTS_PER_CLIENT = 12
HEAD_WAIT_S = 10.0
REFUSED_LINGER_S = 2.0
RETRY_AFTER_S = 2

BUSY_TITLE = N_("Serveur occupé")
BUSY = N_(
    "Le serveur est très occupé : cette demande n'a pas été traitée. "
    "Réessayez dans quelques secondes."
)
TOO_MANY_TITLE = N_("Trop de demandes")
TOO_MANY = N_(
    "Cet appareil envoie trop de demandes à la fois : cette demande n'a pas été traitée. "
    "Attendez quelques secondes puis réessayez."
)


_TOO_MANY_CONNECTIONS_TEXT = (
    "Trop de connexions depuis cet appareil : réessayez dans quelques secondes.\n"
    "Too many connections from this device: try again in a few seconds.\n"
).encode()
TOO_MANY_CONNECTIONS = (
    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: %d\r\nConnection: close\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s"
    % (RETRY_AFTER_S, len(_TOO_MANY_CONNECTIONS_TEXT), _TOO_MANY_CONNECTIONS_TEXT)
)


def not_now(path: str, status: int, retry_after_s: int = RETRY_AFTER_S) -> Response:
    """429 (this device asks too much) or 503 (the server is saturated), with Retry-After:
    a plain French page, or JSON under the API."""
    t = Translator("fr")
    title, message = (TOO_MANY_TITLE, TOO_MANY) if status == 429 else (BUSY_TITLE, BUSY)
    headers = {"Retry-After": str(retry_after_s)}
    if path.startswith(API_PREFIX):
        body = {"error": "too many requests" if status == 429 else "busy", "message": t(message)}
        return Response(
            json.dumps(body, ensure_ascii=False),
            status,
            headers,
            media_type="application/json",
        )
    page = (
        '<!doctype html><html lang="fr"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(t(title))}</title>"
        f'<link rel="stylesheet" href="{static_url("app.css")}">'
        '<main><section class="card narrow">'
        f"<h1>{escape(t(title))}</h1><p>{escape(t(message))}</p></section></main></html>"
    )
    return Response(page, status, headers, media_type="text/html")


def _host(scope) -> str:
    client = scope.get("client")
    return client[0] if client and client[0] else "unknown"


class ClientLimits:
    """ASGI middleware: a client address over MAX_REQUESTS_PER_CLIENT requests in flight gets
    429 at once. One event loop runs it, so the counts need no lock."""

    def __init__(self, app, *, max_in_flight: int = MAX_REQUESTS_PER_CLIENT):
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight: Counter[str] = Counter()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = _host(scope)
        if self.in_flight[host] >= self.max_in_flight:
            return await not_now(scope.get("path", ""), 429)(scope, receive, send)
        self.in_flight[host] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight[host] -= 1
            if self.in_flight[host] <= 0:
                del self.in_flight[host]


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's HTTP protocol, with a bound on connections per client address and on the
    time a request's head may take. uvicorn has neither: a device opening connections
    without end, or sending half a request, would hold sockets (file descriptors) for ever."""

    connections_per_client: Counter[str] = Counter()  # one server per process

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._host = self.client[0] if self.client else "unknown"
        self.connections_per_client[self._host] += 1
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = self.connections_per_client[self._host] > MAX_CONNECTIONS_PER_CLIENT
        if self._refused:
            # Told why, then let go: the 429 goes first and the write side is shut; what the
            # device still sends is read and dropped until it closes (or REFUSED_LINGER_S
            # passes). Closing at once, its request unread, would make the kernel reset the
            # connection, and the 429 would be lost with it.
            transport.write(TOO_MANY_CONNECTIONS)
            if transport.can_write_eof():
                transport.write_eof()
            self._head_timer = self.loop.call_later(REFUSED_LINGER_S, transport.close)
            return
        self._wait_for_head()

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def _wait_for_head(self) -> None:
        self._stop_waiting_for_head()
        self._head_timer = self.loop.call_later(HEAD_WAIT_S, self._head_too_slow)

    def _stop_waiting_for_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._wait_for_head()  # the next request of a kept-alive connection

    def on_headers_complete(self) -> None:
        self._stop_waiting_for_head()
        super().on_headers_complete()

    def connection_lost(self, exc) -> None:
        self._stop_waiting_for_head()
        self.connections_per_client[self._host] -= 1
        if self.connections_per_client[self._host] <= 0:
            del self.connections_per_client[self._host]
        super().connection_lost(exc)
