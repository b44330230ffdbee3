"""A small DHIS2 that answers the calls Keneya makes, for tests and laptop demos.

Faithful where the sender depends on it (DHIS2 developer docs, "Data values" and "Import
summaries"): POST /api/dataValueSets takes JSON or ADX (`application/adx+xml`, namespace
`urn:ihe:qrph:adx:2015`), upserts each value by (dataElement, period, orgUnit,
categoryOptionCombo, attributeOptionCombo), counts unchanged values as `ignored`, rejects
values naming unknown metadata as `conflicts` (counted among `ignored`), honours `dryRun=true`,
and wraps the ImportSummary in the 2.36+ web message. Faults (an HTTP error, a reply that
never comes in time, a connection reset half-way through the reply) are queued through
`add_fault` or `POST /__faults`.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import socket
import ssl
import struct
import threading
import xml.etree.ElementTree as ET
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ADX_NS = "urn:ihe:qrph:adx:2015"
# The UID DHIS2 gives the built-in "default" category option combo.
DEFAULT_COC = "HllvX50cXC0"
FAULT_KINDS = ("status", "delay", "reset")


class Dhis2Metadata:
    """What this DHIS2 knows: UIDs of data sets, data elements, org units and combos."""

    def __init__(self, data: dict[str, Any] | None = None):
        data = data or {}
        self.datasets = set(data.get("dataSets", []))
        self.elements = set(data.get("dataElements", []))
        self.org_units = set(data.get("orgUnits", []))
        self.combos = set(data.get("categoryOptionCombos", [])) | {DEFAULT_COC}
        # Data elements whose zeros DHIS2 stores (zeroIsSignificant); other zeros are not kept.
        self.zero_significant = set(data.get("zeroIsSignificant", []))

    @classmethod
    def load(cls, path: str | Path) -> Dhis2Metadata:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))


def adx_period(text: str) -> str:
    """ADX periods are ISO 8601 `start/duration`; DHIS2 stores months as YYYYMM."""
    start, _, duration = text.partition("/")
    if duration == "P1M" and len(start) == 10:
        return start[:4] + start[5:7]
    if duration == "P1D" and len(start) == 10:
        return start.replace("-", "")
    return text


def parse_adx(body: bytes) -> list[dict[str, Any]]:
    root = ET.fromstring(body)
    if root.tag != f"{{{ADX_NS}}}adx":
        raise ValueError(f"not an ADX document (root {root.tag!r})")
    values = []
    for group in root.findall(f"{{{ADX_NS}}}group"):
        for dv in group.findall(f"{{{ADX_NS}}}dataValue"):
            values.append(
                {
                    "dataSet": group.get("dataSet"),
                    "orgUnit": group.get("orgUnit"),
                    "period": adx_period(group.get("period", "")),
                    "attributeOptionCombo": group.get("attributeOptionCombo"),
                    "dataElement": dv.get("dataElement"),
                    "categoryOptionCombo": dv.get("categoryOptionCombo"),
                    "value": dv.get("value"),
                }
            )
    return values


def parse_json(body: bytes) -> list[dict[str, Any]]:
    doc = json.loads(body)
    shared = {k: doc.get(k) for k in ("dataSet", "orgUnit", "period", "attributeOptionCombo")}
    return [
        {**shared, **{k: v for k, v in dv.items() if v is not None}}
        for dv in doc.get("dataValues", [])
    ]


def _message(http_status: int, status: str, message: str, response: Any = None) -> dict:
    names = {
        200: "OK",
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        409: "Conflict",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }
    body = {
        "httpStatus": names.get(http_status, "Error"),
        "httpStatusCode": http_status,
        "status": status,
        "message": message,
    }
    if response is not None:
        body["response"] = response
    return body


class Dhis2Sim:
    """The server. `with Dhis2Sim(metadata, tokens={...}) as sim:` then `sim.url`."""

    def __init__(
        self,
        metadata: Dhis2Metadata,
        *,
        tokens: tuple[str, ...] = (),
        users: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        data_file: str | Path | None = None,
        tls: tuple[str | Path, str | Path] | None = None,
    ):
        self.metadata = metadata
        self.tokens = set(tokens)
        self.compressed_requests = 0  # bodies that came gzipped
        self.users = dict(users or {})
        self.data_file = Path(data_file) if data_file else None
        self.values: dict[tuple[str, ...], dict[str, Any]] = {}
        self.posts = 0  # POSTs to /api/dataValueSets that reached the import
        self.lock = threading.Lock()
        self._faults: deque[dict[str, Any]] = deque()
        self._closing = threading.Event()
        if self.data_file and self.data_file.exists():
            for v in json.loads(self.data_file.read_text(encoding="utf-8")):
                self.values[self._key(v)] = v
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            # (certificate, key): an HTTPS DHIS2 with a private certificate, as some districts run
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def start(self) -> Dhis2Sim:
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # releases replies held back by a delay fault
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Dhis2Sim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- faults ------------------------------------------------------------------------------
    def add_fault(self, kind: str, *, status: int = 500, seconds: float = 30.0) -> None:
        """Queue a fault for the next POST to /api/dataValueSets: `status` answers that HTTP
        status without importing; `delay` imports, then holds the reply `seconds`; `reset`
        imports, then cuts the connection half-way through the reply."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r} (expected one of {FAULT_KINDS})")
        with self.lock:
            self._faults.append({"kind": kind, "status": status, "seconds": seconds})

    def _next_fault(self) -> dict[str, Any] | None:
        with self.lock:
            return self._faults.popleft() if self._faults else None

    # -- data --------------------------------------------------------------------------------
    @staticmethod
    def _key(v: dict[str, Any]) -> tuple[str, ...]:
        return (
            v["dataElement"],
            v["period"],
            v["orgUnit"],
            v.get("categoryOptionCombo") or DEFAULT_COC,
            v.get("attributeOptionCombo") or DEFAULT_COC,
        )

    def _conflict(self, v: dict[str, Any]) -> dict[str, Any] | None:
        checks = (
            ("dataElement", self.metadata.elements, "Data element not found or not accessible"),
            ("orgUnit", self.metadata.org_units, "Organisation unit not found or not accessible"),
            ("categoryOptionCombo", self.metadata.combos, "Category option combo not found"),
            ("attributeOptionCombo", self.metadata.combos, "Attribute option combo not found"),
        )
        for prop, known, text in checks:
            uid = v.get(prop)
            if prop.endswith("OptionCombo") and uid is None:
                continue
            if uid not in known:
                return {"object": uid, "property": prop, "value": f"{text}: `{uid}`"}
        return None

    def import_values(
        self,
        values: list[dict[str, Any]],
        *,
        dry_run: bool = False,
        strategy: str = "CREATE_AND_UPDATE",
    ) -> dict:
        """Import like DHIS2 2.36+ does: values upsert by key; `strategy` DELETE removes the
        values named (one that is not there is ignored); a zero for an element that is not
        zero-significant is not stored and removes the value already there (DHIS2-11624)."""
        counts = {"imported": 0, "updated": 0, "ignored": 0, "deleted": 0}
        conflicts: list[dict[str, Any]] = []
        with self.lock:
            self.posts += 1
            datasets = {v.get("dataSet") for v in values if v.get("dataSet")}
            unknown = sorted(d for d in datasets if d not in self.metadata.datasets)
            if unknown:
                conflicts = [
                    {"object": d, "property": "dataSet", "value": "Data set not found"}
                    for d in unknown
                ]
                counts["ignored"] = len(values)
                return self._summary("ERROR", counts, conflicts, dry_run)
            for index, v in enumerate(values):
                if (c := self._conflict(v)) is not None:
                    conflicts.append({**c, "indexes": [index]})
                    counts["ignored"] += 1
                    continue
                key = self._key(v)
                stored = {"dataElement": key[0], "period": key[1], "orgUnit": key[2]}
                stored |= {"categoryOptionCombo": key[3], "attributeOptionCombo": key[4]}
                stored["value"] = str(v.get("value"))
                old = self.values.get(key)
                insignificant_zero = (
                    stored["value"] in ("0", "", "None")
                    and key[0] not in self.metadata.zero_significant
                )
                if strategy == "DELETE" or insignificant_zero:
                    if old is None:
                        counts["ignored"] += 1
                    else:
                        counts["deleted"] += 1
                        if not dry_run:
                            del self.values[key]
                    continue
                if old is None:
                    counts["imported"] += 1
                elif old["value"] == stored["value"]:
                    counts["ignored"] += 1
                    continue
                else:
                    counts["updated"] += 1
                if not dry_run:
                    self.values[key] = stored
            if not dry_run and self.data_file is not None:
                self.data_file.write_text(json.dumps(list(self.values.values())))
        status = "WARNING" if conflicts else "SUCCESS"
        return self._summary(status, counts, conflicts, dry_run)

    @staticmethod
    def _summary(status: str, counts: dict, conflicts: list, dry_run: bool) -> dict:
        return {
            "responseType": "ImportSummary",
            "status": status,
            "importOptions": {"dryRun": dry_run},
            "description": "Import process completed successfully"
            if status != "ERROR"
            else "Import process was aborted",
            "importCount": counts,
            "conflicts": conflicts,
            "dataSetComplete": "false",
        }

    def query(self, *, dataset: str, period: str, org_unit: str) -> list[dict[str, Any]]:
        # A data set's values are those of its org unit and period: the simulator does not
        # keep which elements belong to which set, so `dataset` only has to be known.
        if dataset not in self.metadata.datasets:
            return []
        with self.lock:
            return [
                dict(v)
                for v in self.values.values()
                if v["period"] == period and v["orgUnit"] == org_unit
            ]


def _handler(sim: Dhis2Sim) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # tests stay quiet
            pass

        def _reply(self, status: int, body: Any) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> bytes:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            # like DHIS2's import, which unzips a stream that starts with gzip's magic bytes
            if raw[:2] == b"\x1f\x8b":
                sim.compressed_requests += 1
                return gzip.decompress(raw)
            return raw

        def _authorised(self) -> bool:
            header = self.headers.get("Authorization") or ""
            scheme, _, credential = header.partition(" ")
            if scheme == "ApiToken":
                return credential in sim.tokens
            if scheme == "Basic":
                try:
                    user, _, password = base64.b64decode(credential).decode().partition(":")
                except ValueError:
                    return False
                return user in sim.users and sim.users[user] == password
            return False

        def _refuse(self) -> None:
            self._reply(401, _message(401, "ERROR", "Unauthorized"))

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if not self._authorised():
                return self._refuse()
            if parts.path == "/api/system/info":
                return self._reply(200, {"version": "2.40.3", "systemName": "DHIS2 simulator"})
            if parts.path == "/api/dataValueSets":
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                values = sim.query(
                    dataset=q.get("dataSet", ""),
                    period=q.get("period", ""),
                    org_unit=q.get("orgUnit", ""),
                )
                return self._reply(200, {**q, "dataValues": values})
            self._reply(404, _message(404, "ERROR", f"{parts.path} not found"))

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            body = self._body()
            if parts.path == "/__faults":
                try:
                    spec = json.loads(body or b"{}")
                    sim.add_fault(spec.pop("kind", None), **spec)
                except (ValueError, TypeError, AttributeError) as e:
                    return self._reply(400, _message(400, "ERROR", f"bad fault: {e}"))
                return self._reply(200, {"queued": True})
            if not self._authorised():
                return self._refuse()
            if parts.path != "/api/dataValueSets":
                return self._reply(404, _message(404, "ERROR", f"{parts.path} not found"))
            fault = sim._next_fault()
            if fault and fault["kind"] == "status":
                code = fault["status"]
                return self._reply(code, _message(code, "ERROR", "simulated server error"))
            query = parse_qs(parts.query)
            dry_run = query.get("dryRun", ["false"])[0] == "true"
            strategy = query.get("importStrategy", ["CREATE_AND_UPDATE"])[0].upper()
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            try:
                values = parse_adx(body) if ctype == "application/adx+xml" else parse_json(body)
            except (ValueError, ET.ParseError) as e:
                return self._reply(400, _message(400, "ERROR", f"unreadable payload: {e}"))
            summary = sim.import_values(values, dry_run=dry_run, strategy=strategy)
            counts = summary["importCount"]
            took = counts["imported"] + counts["updated"]
            took += counts["ignored"] - len(summary["conflicts"])
            if summary["status"] == "ERROR" or (summary["conflicts"] and took == 0):
                code, message = 409, "One more conflicts encountered, please check import summary."
            else:
                code, message = 200, "Import was successful."
            top = "OK" if code == 200 else summary["status"]
            raw = json.dumps(_message(code, top, message, summary)).encode()
            if fault and fault["kind"] == "delay":
                sim._closing.wait(fault["seconds"])
            if fault and fault["kind"] == "reset":
                return self._reset_mid_reply(code, raw)
            # after a delay the client may have given up and gone: that is the point of it
            with contextlib.suppress(ConnectionError):
                self.send_response(code)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        def _reset_mid_reply(self, code: int, raw: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw[: len(raw) // 2])
            self.wfile.flush()
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

    return Handler
