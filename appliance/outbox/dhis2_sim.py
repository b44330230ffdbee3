"""A small DHIS2 that answers the calls Keneya makes, for tests and laptop demos.

Faithful where the sender depends on it (DHIS2 developer docs, "Data values" and "Import
summaries"): POST /api/dataValueSets takes JSON or ADX (`application/adx+xml`, namespace
`urn:ihe:qrph:adx:2015`), upserts each value by (dataElement, period, orgUnit,
categoryOptionCombo, attributeOptionCombo), counts unchanged values as `ignored`, rejects
values naming unknown metadata as `conflicts` (counted among `ignored`), honours `dryRun=true`,
and wraps the ImportSummary in the 2.36+ web message. Faults (an HTTP error, a reply that
never comes in time, a connection reset half-way through the reply) are queued through
`add_fault` or `POST /__faults`.

Second opinions ("Messaging", "File resources"): `POST /api/fileResources` (multipart `file`,
any domain, MESSAGE_ATTACHMENT for a message), `POST /api/messageConversations` (subject, text,
users/userGroups/organisationUnits, attachments: file resource ids; 201 with Location), `GET
/api/messageConversations` (`filter=id:in:[…]`, `queryString`), `GET
/api/messageConversations/{id}` with its messages, and a reply as `POST
/api/messageConversations/{id}` (text/plain). The district's reply is posted by a test or
a demo through `reply`, `POST /__reply/{id}`, or `auto_reply` after some seconds.
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import gzip
import json
import secrets
import socket
import ssl
import string
import struct
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ADX_NS = "urn:ihe:qrph:adx:2015"
# The UID DHIS2 gives the built-in "default" category option combo.
DEFAULT_COC = "HllvX50cXC0"
FAULT_KINDS = ("status", "delay", "reset")
UID_CHARS = string.ascii_letters + string.digits
DEFAULT_REPLY = "Avis du district : continuez le traitement et référez si la fièvre persiste 48 h."


def new_uid() -> str:
    """A DHIS2-shaped UID: a letter, then 10 letters or digits."""
    return secrets.choice(string.ascii_letters) + "".join(
        secrets.choice(UID_CHARS) for _ in range(10)
    )


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


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
        auto_reply_s: float | None = None,
        reply_text: str = DEFAULT_REPLY,
    ):
        self.metadata = metadata
        # message conversations and file resources, by UID
        self.conversations: dict[str, dict[str, Any]] = {}
        self.file_resources: dict[str, dict[str, Any]] = {}
        self.auto_reply_s = auto_reply_s  # the district answers each new question after this
        self.reply_text = reply_text
        self.requests: list[tuple[str, str, bytes]] = []  # (method, path, body) as received
        self._timers: list[threading.Timer] = []
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
        for timer in self._timers:
            timer.cancel()
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Dhis2Sim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- faults ------------------------------------------------------------------------------
    def add_fault(
        self,
        kind: str,
        *,
        status: int = 500,
        seconds: float = 30.0,
        path: str = "/api/dataValueSets",
    ) -> None:
        """Queue a fault for the next POST to `path` (a prefix; /api/dataValueSets unless
        told): `status` answers that HTTP status without acting; `delay` acts (imports,
        creates), then holds the reply `seconds`; `reset` acts, then cuts the connection
        half-way through the reply."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r} (expected one of {FAULT_KINDS})")
        with self.lock:
            self._faults.append({"kind": kind, "status": status, "seconds": seconds, "path": path})

    def _next_fault(self, path: str = "/api/dataValueSets") -> dict[str, Any] | None:
        with self.lock:
            for fault in self._faults:
                if path.startswith(fault["path"]):
                    self._faults.remove(fault)
                    return fault
            return None

    # -- message conversations ---------------------------------------------------------------
    def add_file(self, name: str, content_type: str, data: bytes, domain: str) -> dict[str, Any]:
        uid = new_uid()
        entry = {
            "id": uid,
            "name": name,
            "contentType": content_type,
            "contentLength": len(data),
            "domain": domain,
            "storageStatus": "STORED",
            "created": _stamp(),
        }
        with self.lock:
            self.file_resources[uid] = {**entry, "data": data}
        return entry

    def create_conversation(self, doc: dict[str, Any], *, sender: str = "cscom") -> str:
        """A new conversation from a message like DHIS2's POST takes; ValueError when DHIS2
        would refuse it."""
        subject, text = doc.get("subject"), doc.get("text")
        if not isinstance(subject, str) or not subject.strip() or not isinstance(text, str):
            raise ValueError("subject and text are required")
        recipients = {k: doc.get(k) or [] for k in ("users", "userGroups", "organisationUnits")}
        if not any(recipients.values()):
            raise ValueError("no recipients: users, userGroups or organisationUnits")
        attachments = doc.get("attachments") or []
        with self.lock:
            for a in attachments:
                found = self.file_resources.get(a)
                if found is None or found["domain"] != "MESSAGE_ATTACHMENT":
                    raise ValueError(f"Attachment '{a}' not found")
            uid = new_uid()
            now = _stamp()
            self.conversations[uid] = {
                "id": uid,
                "subject": subject,
                "created": now,
                "lastUpdated": now,
                **recipients,
                "messages": [
                    {
                        "id": new_uid(),
                        "text": text,
                        "created": now,
                        "sender": {"id": "cscomUser01", "displayName": sender},
                        "attachments": [{"id": a} for a in attachments],
                    }
                ],
            }
        if self.auto_reply_s is not None:
            if self.auto_reply_s <= 0:
                self.reply(uid, self.reply_text)
            else:
                timer = threading.Timer(self.auto_reply_s, self.reply, (uid, self.reply_text))
                timer.daemon = True
                self._timers.append(timer)
                timer.start()
        return uid

    def reply(self, conversation_id: str, text: str, *, sender: str = "District sanitaire") -> str:
        """The district answers in a conversation (a test, the demo, `POST /__reply/{id}`)."""
        with self.lock:
            conversation = self.conversations.get(conversation_id)
            if conversation is None:
                raise KeyError(conversation_id)
            # strictly later than the message before, so the order is kept on a fast machine
            time.sleep(0.002)
            now = _stamp()
            message = {
                "id": new_uid(),
                "text": text,
                "created": now,
                "sender": {"id": "districtUsr1", "displayName": sender},
                "attachments": [],
            }
            conversation["messages"].append(message)
            conversation["lastUpdated"] = now
        return message["id"]

    def conversation_view(self, uid: str, *, with_messages: bool) -> dict[str, Any] | None:
        with self.lock:
            c = self.conversations.get(uid)
            if c is None:
                return None
            out = {k: c[k] for k in ("id", "subject", "created", "lastUpdated")}
            out["messageCount"] = len(c["messages"])
            if with_messages:
                out["messages"] = json.loads(json.dumps(c["messages"]))
            return out

    def find_conversations(self, *, ids: list[str] | None, query: str | None) -> list[dict]:
        with self.lock:
            found = list(self.conversations)
        out = []
        for uid in found:
            view = self.conversation_view(uid, with_messages=False)
            if view is None or (ids is not None and uid not in ids):
                continue
            if query:
                c = self.conversations[uid]
                haystack = c["subject"] + " ".join(m["text"] for m in c["messages"])
                if query.lower() not in haystack.lower():
                    continue
            out.append(view)
        return out

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

        def _seen(self, raw: bytes = b"") -> None:
            # every byte that reached the server, for tests of what leaves the appliance
            with sim.lock:
                sim.requests.append((self.command, self.path, str(self.headers).encode() + raw))

        def _body(self) -> bytes:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._seen(raw)
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
            self._seen()
            if not self._authorised():
                return self._refuse()
            if parts.path.startswith("/api/messageConversations"):
                return self._get_conversations(parts)
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
            if parts.path.startswith("/__reply/"):
                try:
                    uid = sim.reply(parts.path.rsplit("/", 1)[-1], body.decode() or sim.reply_text)
                except KeyError:
                    return self._reply(404, _message(404, "ERROR", "no such conversation"))
                return self._reply(200, {"message": uid})
            if not self._authorised():
                return self._refuse()
            if parts.path in ("/api/fileResources", "/api/messageConversations") or (
                parts.path.startswith("/api/messageConversations/")
            ):
                return self._post_message_api(parts, body)
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

        def _get_conversations(self, parts: Any) -> None:
            q = {k: v[0] for k, v in parse_qs(parts.query).items()}
            rest = parts.path[len("/api/messageConversations") :].strip("/")
            if rest:
                view = sim.conversation_view(rest, with_messages="messages" in q.get("fields", ""))
                if view is None:
                    return self._reply(404, _message(404, "ERROR", f"no conversation {rest}"))
                return self._reply(200, view)
            ids = None
            flt = q.get("filter", "")
            if flt.startswith("id:in:[") and flt.endswith("]"):
                ids = [i for i in flt[len("id:in:[") : -1].split(",") if i]
            found = sim.find_conversations(ids=ids, query=q.get("queryString"))
            wanted = set(q.get("fields", "id,subject,messageCount").split(","))
            out = [{k: v for k, v in c.items() if k in wanted or k == "id"} for c in found]
            return self._reply(200, {"messageConversations": out})

        def _post_message_api(self, parts: Any, body: bytes) -> None:
            fault = sim._next_fault(parts.path)
            if fault and fault["kind"] == "status":
                code = fault["status"]
                return self._reply(code, _message(code, "ERROR", "simulated server error"))
            code, doc, headers = self._act(parts, body)
            raw = json.dumps(doc).encode()
            if fault and fault["kind"] == "delay":
                sim._closing.wait(fault["seconds"])
            if fault and fault["kind"] == "reset":
                return self._reset_mid_reply(code, raw)
            with contextlib.suppress(ConnectionError):
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        def _act(self, parts: Any, body: bytes) -> tuple[int, dict, dict[str, str]]:
            ctype = self.headers.get("Content-Type") or ""
            if parts.path == "/api/fileResources":
                domain = parse_qs(parts.query).get("domain", ["DATA_VALUE"])[0]
                part = _multipart_file(ctype, body)
                if part is None:
                    return 400, _message(400, "ERROR", "no file in the request"), {}
                entry = sim.add_file(*part, domain=domain)
                doc = _message(202, "OK", "File saved")
                doc["httpStatus"] = "Accepted"
                doc["response"] = {"responseType": "FileResource", "fileResource": entry}
                return 202, doc, {}
            if parts.path == "/api/messageConversations":
                try:
                    uid = sim.create_conversation(json.loads(body))
                except ValueError as e:
                    return 409, _message(409, "ERROR", str(e)), {}
                doc = _message(201, "OK", "Message conversation created")
                doc["httpStatus"] = "Created"
                doc["response"] = {"responseType": "ObjectReport", "uid": uid}
                return 201, doc, {"Location": f"/api/messageConversations/{uid}"}
            uid = parts.path.rsplit("/", 1)[-1]
            try:
                sim.reply(uid, body.decode("utf-8"), sender="cscom")
            except KeyError:
                return 404, _message(404, "ERROR", f"no conversation {uid}"), {}
            return 200, _message(200, "OK", "Message conversation updated"), {}

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


def _multipart_file(content_type: str, body: bytes) -> tuple[str, str, bytes] | None:
    """(file name, content type, bytes) of the `file` field of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            data = part.get_payload(decode=True) or b""
            return part.get_filename() or "file", part.get_content_type(), data
    return None
