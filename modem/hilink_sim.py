"""A Huawei HiLink stick's web API on loopback, for tests and the laptop demo.

Faithful where :class:`modem.link.HiLinkLink` depends on it: the SesTokInfo session and token,
a token that is spent by each POST (the reply's ``__RequestVerificationToken`` header carries
the next), ``<error><code>125002</code>`` for a wrong or spent token, and a dial that passes
through "connecting"/"disconnecting" (900/903) before "connected"/"disconnected" (901/902).
XML shapes: weselow/E3372-HiLink-Api-Docs (modules/monitoring.md) and the replies quoted in
arska/e3372 issue #17 and trick77/huawei-hilink-status issue #3.
"""

from __future__ import annotations

import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["HiLinkSim"]

CONNECTING, CONNECTED, DISCONNECTED, DISCONNECTING = 900, 901, 902, 903
WRONG_TOKEN = 125002  # what E3372/E303 firmwares answer to a wrong token (arska/e3372 #17)
NOT_SUPPORTED = 100002
INVALID_PARAMETER = 100006
_OK = b'<?xml version="1.0" encoding="UTF-8"?>\n<response>OK</response>\n'


def _xml(tag: str, fields: dict[str, object]) -> bytes:
    inner = "".join(f"<{key}>{value}</{key}>" for key, value in fields.items())
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{tag}>{inner}</{tag}>\n'.encode()


def _error(code: int) -> bytes:
    return _xml("error", {"code": code, "message": ""})


class HiLinkSim:
    """``HiLinkSim().start()`` serves on ``.url`` until ``.close()``.

    Knobs for tests: ``dial_delay_s`` (how long connecting/disconnecting last),
    ``connect_succeeds`` (False: the dial falls back to disconnected, no coverage),
    ``operator``/``mcc_mnc``/``rssi_dbm``. Counters: ``dial_requests``, ``rejected_tokens``."""

    def __init__(
        self,
        *,
        dial_delay_s: float = 0.2,
        operator: str = "Orange MALI",
        mcc_mnc: str = "61002",
        rssi_dbm: int = -79,
        network_type: int = 9,  # HSPA+ (monitoring.md network type codes)
        connect_succeeds: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dial_delay_s = dial_delay_s
        self.operator = operator
        self.mcc_mnc = mcc_mnc
        self.rssi_dbm = rssi_dbm
        self.network_type = network_type
        self.connect_succeeds = connect_succeeds
        self.dial_requests = 0
        self.rejected_tokens = 0
        self._clock = clock
        self._lock = threading.Lock()
        self._session = "SessionID=" + secrets.token_hex(32)
        self._token = secrets.token_urlsafe(24)
        self._status = DISCONNECTED
        self._pending: tuple[float, int] | None = None  # (when, final status)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- state

    @property
    def token(self) -> str:
        with self._lock:
            return self._token

    @property
    def connection_status(self) -> int:
        with self._lock:
            return self._settle()

    def _settle(self) -> int:
        if self._pending is not None and self._clock() >= self._pending[0]:
            self._status = self._pending[1]
            self._pending = None
        return self._status

    def _dial(self, action: int) -> None:
        self._settle()
        when = self._clock() + self.dial_delay_s
        if action == 1 and self._status != CONNECTED:
            self._status = CONNECTING
            self._pending = (when, CONNECTED if self.connect_succeeds else DISCONNECTED)
        elif action == 0 and self._status != DISCONNECTED:
            self._status = DISCONNECTING
            self._pending = (when, DISCONNECTED)

    def drop(self) -> None:
        """The network drops the data session (coverage gone)."""
        with self._lock:
            self._pending = None
            self._status = DISCONNECTED

    # -- HTTP

    def handle_get(self, path: str) -> bytes:
        with self._lock:
            status = self._settle()
            if path == "/api/webserver/SesTokInfo":
                return _xml("response", {"SesInfo": self._session, "TokInfo": self._token})
            if path == "/api/monitoring/status":
                connected = status == CONNECTED
                return _xml(
                    "response",
                    {
                        "ConnectionStatus": status,
                        "SignalStrength": "",
                        "SignalIcon": 4,
                        "maxsignal": 5,
                        "CurrentNetworkType": self.network_type,
                        "CurrentServiceDomain": 3,
                        "RoamingStatus": 0,
                        "simlockStatus": 0,
                        "WanIPAddress": "10.142.7.23" if connected else "",
                        "PrimaryDns": "41.73.112.2" if connected else "",
                        "SecondaryDns": "",
                        "ServiceStatus": 2,
                        "SimStatus": 1,
                        "WifiStatus": "",
                        "classify": "hilink",
                    },
                )
            if path == "/api/device/signal":
                return _xml(
                    "response",
                    {
                        "pci": "",
                        "sc": "",
                        "cell_id": "",
                        "rsrq": "",
                        "rsrp": "",
                        "rssi": f"{self.rssi_dbm}dBm",
                        "sinr": "",
                        "rscp": f"{self.rssi_dbm - 6}dBm",
                        "ecio": "-5dB",
                        "mode": 2,
                    },
                )
            if path == "/api/net/current-plmn":
                return _xml(
                    "response",
                    {
                        "State": 0,
                        "FullName": self.operator,
                        "ShortName": self.operator.split()[0],
                        "Numeric": self.mcc_mnc,
                        "Rat": 2,
                    },
                )
        return _error(NOT_SUPPORTED)

    def handle_post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[bytes, str]:
        """Reply body and the token to send back in the reply header."""
        with self._lock:
            token_ok = headers.get("__requestverificationtoken") == self._token
            session_ok = self._session in headers.get("cookie", "")
            if not (token_ok and session_ok):
                self.rejected_tokens += 1
                return _error(WRONG_TOKEN), ""
            self._token = secrets.token_urlsafe(24)  # spent: one token per POST
            if path != "/api/dialup/dial":
                return _error(NOT_SUPPORTED), self._token
            try:
                action = int(ET.fromstring(body).findtext("Action") or "")
            except (ET.ParseError, ValueError):
                return _error(INVALID_PARAMETER), self._token
            if action not in (0, 1):
                return _error(INVALID_PARAMETER), self._token
            self.dial_requests += 1
            self._dial(action)
            return _OK, self._token

    def start(self) -> HiLinkSim:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet tests

            def _send(self, payload: bytes, token: str | None = None) -> None:
                self.send_response(200)  # the stick answers errors with 200 and <error>
                self.send_header("Content-Type", "text/xml; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                if token:
                    self.send_header("__RequestVerificationToken", token)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._send(sim.handle_get(self.path))

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                payload, token = sim.handle_post(self.path, headers, body)
                self._send(payload, token)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # close() returns within one poll
            name="hilink-sim",
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("HiLinkSim not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> HiLinkSim:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()
