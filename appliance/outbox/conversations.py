"""Second opinions to and from the district's DHIS2 (developer docs, "Messaging" and "File
resources"): the photo as `POST /api/fileResources?domain=MESSAGE_ATTACHMENT` (multipart, the
id in `response.fileResource.id`), the question as `POST /api/messageConversations` {subject,
text, users, userGroups, attachments: [id]} (201, the new id in `response.uid` and the
Location header), replies read with `GET /api/messageConversations?filter=id:in:[…]` (message
counts only) then `GET /api/messageConversations/{id}?fields=…messages[…]` for those that grew.

A send resumed after a lost reply must not open a second conversation: the ids are kept the
moment DHIS2 gives them, and a question tried before without a known conversation is first
looked for by the reference in its subject (`queryString`) before it is created again.

Every request and reply is counted (request line, headers and body; status line, headers and
body: HTTP level, before TLS) and charged to the month's opinion budget.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from appliance.clock import to_iso
from appliance.facility_file import OpinionSettings
from appliance.opinion.message import reference
from appliance.outbox.sender import NO_RETRY, Dhis2Config, backoff_s

log = logging.getLogger(__name__)

MB = 1_000_000
CONVERSATIONS = "/api/messageConversations"
FILE_RESOURCES = "/api/fileResources"
MESSAGE_FIELDS = "id,messageCount,messages[id,text,created,sender[id,displayName]]"
BUDGET_SPENT = (
    "budget 3G du mois atteint : la question attend le mois prochain / monthly budget spent"
)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]
    wire_bytes: int  # request and reply
    duration_ms: int

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class _Counted(http.client.HTTPConnection):
    """Counts the bytes of the request as they go (http.client sends every byte through
    `send`)."""

    sent = 0

    def send(self, data: Any) -> None:
        self.sent += len(data) if isinstance(data, bytes | bytearray) else 0
        super().send(data)


class _CountedTLS(http.client.HTTPSConnection):
    sent = 0

    def send(self, data: Any) -> None:
        self.sent += len(data) if isinstance(data, bytes | bytearray) else 0
        super().send(data)


class Dhis2Messages:
    """HTTP to DHIS2 for message conversations, each exchange counted."""

    def __init__(self, config: Dhis2Config):
        self.config = config
        parts = urlsplit(config.base_url)
        self.host, self.port, self.https = parts.hostname, parts.port, parts.scheme == "https"
        self.prefix = parts.path.rstrip("/")

    def request(
        self, method: str, path: str, body: bytes = b"", content_type: str | None = None
    ) -> Reply:
        """One exchange. Network trouble raises OSError or HTTPException (after counting
        what was sent)."""
        started = time.monotonic()
        if self.https:
            context = ssl.create_default_context(cafile=self.config.cafile)
            conn: _Counted | _CountedTLS = _CountedTLS(
                self.host, self.port, timeout=self.config.timeout_s, context=context
            )
        else:
            conn = _Counted(self.host, self.port, timeout=self.config.timeout_s)
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if auth := self.config.authorization():
            headers["Authorization"] = auth
        try:
            conn.request(method, self.prefix + path, body=body or None, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            head = len(f"HTTP/1.1 {response.status} {response.reason}\r\n") + 2
            head += sum(len(k) + len(v) + 4 for k, v in response.getheaders())
            return Reply(
                response.status,
                raw,
                {k.lower(): v for k, v in response.getheaders()},
                conn.sent + head + len(raw),
                int((time.monotonic() - started) * 1000),
            )
        except (OSError, http.client.HTTPException) as e:
            e.wire_bytes = conn.sent  # type: ignore[union-attr]
            raise
        finally:
            conn.close()


def multipart(field_name: str, filename: str, content_type: str, data: bytes) -> tuple[bytes, str]:
    boundary = "keneya" + secrets.token_hex(12)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}";'
        f' filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


class StepFailed(Exception):
    """A step DHIS2 refused: `retry` says whether trying later may help."""

    def __init__(self, message: str, *, retry: bool, http_status: int | None = None):
        super().__init__(message)
        self.retry = retry
        self.http_status = http_status


def _judge(reply: Reply, what: str) -> None:
    if reply.status in NO_RETRY:
        raise StepFailed(NO_RETRY[reply.status], retry=False, http_status=reply.status)
    if reply.status >= 500 or reply.status == 429:
        raise StepFailed(f"DHIS2 answered HTTP {reply.status} ({what})", retry=True,
                         http_status=reply.status)  # fmt: skip
    if reply.status not in (200, 201, 202):
        body = reply.json()
        detail = body.get("message") if isinstance(body, dict) else None
        raise StepFailed(
            f"DHIS2 refused {what} (HTTP {reply.status}): {detail or 'no detail'}",
            retry=False,
            http_status=reply.status,
        )


@dataclass
class ExchangeSummary:
    sent: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # budget spent
    replies: int = 0
    checked: int = 0
    wire_bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "retrying": self.retrying,
            "failed": self.failed,
            "held": self.held,
            "replies": self.replies,
            "checked": self.checked,
            "wire_bytes": self.wire_bytes,
        }


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Exchange:
    """One pass over the link: due questions out, then new replies in."""

    def __init__(
        self,
        store: Any,
        client: Dhis2Messages,
        settings: OpinionSettings,
        *,
        now: Callable[[], datetime] = _utc_now,
        rand: Callable[[], float] = random.random,
    ):
        self.store = store
        self.client = client
        self.settings = settings
        self.now = now
        self.rand = rand
        self.summary = ExchangeSummary()

    # -- counting ----------------------------------------------------------------------------
    def _call(
        self, qid: str | None, step: str, method: str, path: str, body: bytes = b"",
        content_type: str | None = None,
    ) -> Reply:  # fmt: skip
        at = to_iso(self.now())
        try:
            reply = self.client.request(method, path, body, content_type)
        except (OSError, http.client.HTTPException) as e:
            spent = getattr(e, "wire_bytes", 0)
            self.summary.wire_bytes += spent
            error = f"network: {type(e).__name__}: {e}".rstrip(": ")
            self.store.opinions.record_attempt(
                qid, at=at, step=step, http_status=None, error=error, sent_bytes=spent,
                duration_ms=0,
            )  # fmt: skip
            raise StepFailed(error, retry=True) from None
        self.summary.wire_bytes += reply.wire_bytes
        self.store.opinions.record_attempt(
            qid, at=at, step=step, http_status=reply.status, error=None,
            sent_bytes=reply.wire_bytes, duration_ms=reply.duration_ms,
        )  # fmt: skip
        return reply

    def budget_left(self) -> int:
        used = self.store.opinions.traffic(to_iso(self.now())[:7])["bytes"]
        return int(self.settings.monthly_budget_mb * MB) - used

    # -- questions out -----------------------------------------------------------------------
    def send_due(self, *, link_up: Callable[[], bool] = lambda: True) -> None:
        while link_up():
            q = self.store.opinions.claim_next(now=to_iso(self.now()))
            if q is None:
                return
            # a photo's upload and the message: what this question will cost, about
            needed = len(q["photo"] or b"") + len(q["body"].encode()) + 2000
            if self.budget_left() < needed:
                self.store.opinions.release(q["id"], reason=BUDGET_SPENT)
                self.summary.held.append(q["id"])
                return
            self._send(q)

    def _send(self, q: dict[str, Any]) -> None:
        try:
            conversation = q["conversation_id"] or self._create(q)
        except StepFailed as e:
            if e.retry:
                delay = backoff_s(q["attempts"] + 1, rand=self.rand)
                at = to_iso(self.now() + timedelta(seconds=delay))
                self.store.opinions.mark_retry(q["id"], error=str(e), next_attempt_at=at)
                self.summary.retrying.append(q["id"])
            else:
                self.store.opinions.mark_failed(q["id"], error=str(e))
                self.summary.failed.append(q["id"])
            log.warning("second opinion %s: %s", q["id"], e)
            return
        self.store.opinions.mark_sent(q["id"], at=to_iso(self.now()))
        self.summary.sent.append(q["id"])
        log.info("second opinion %s sent as conversation %s", q["id"], conversation)

    def _create(self, q: dict[str, Any]) -> str:
        if q["attempts"] > 0 and (found := self._find(q)):
            # an earlier try reached DHIS2 but its reply was lost
            self.store.opinions.remember(q["id"], conversation_id=found)
            return found
        attachments = []
        if q["photo"]:
            file_id = q["file_resource_id"] or self._upload(q)
            attachments.append(file_id)
        message = {"subject": q["subject"], "text": q["body"], **self.settings.recipients()}
        if attachments:
            message["attachments"] = attachments
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        reply = self._call(q["id"], "create", "POST", CONVERSATIONS, body, "application/json")
        _judge(reply, "the message")
        doc = reply.json() if isinstance(reply.json(), dict) else {}
        uid = (doc.get("response") or {}).get("uid")
        if not uid and (location := reply.headers.get("location")):
            uid = location.rstrip("/").rsplit("/", 1)[-1]
        if not uid:
            raise StepFailed("DHIS2 gave no conversation id (not DHIS2?)", retry=True)
        self.store.opinions.remember(q["id"], conversation_id=uid)
        return uid

    def _upload(self, q: dict[str, Any]) -> str:
        body, ctype = multipart("file", f"{reference(q['id'])}.jpg", "image/jpeg", q["photo"])
        path = f"{FILE_RESOURCES}?domain=MESSAGE_ATTACHMENT"
        reply = self._call(q["id"], "photo", "POST", path, body, ctype)
        _judge(reply, "the photo")
        doc = reply.json() if isinstance(reply.json(), dict) else {}
        file_id = ((doc.get("response") or {}).get("fileResource") or {}).get("id")
        if not file_id:
            raise StepFailed("DHIS2 gave no file resource id (not DHIS2?)", retry=True)
        self.store.opinions.remember(q["id"], file_resource_id=file_id)
        return file_id

    def _find(self, q: dict[str, Any]) -> str | None:
        ref = reference(q["id"])
        path = f"{CONVERSATIONS}?queryString={quote(ref)}&fields=id,subject&paging=false"
        reply = self._call(q["id"], "find", "GET", path)
        _judge(reply, "the search")
        doc = reply.json() if isinstance(reply.json(), dict) else {}
        for c in doc.get("messageConversations") or []:
            if f"[{ref}]" in (c.get("subject") or ""):
                return c.get("id")
        return None

    # -- replies in --------------------------------------------------------------------------
    def fetch_replies(self) -> None:
        since = to_iso(self.now() - timedelta(days=self.settings.follow_days))
        open_ = self.store.opinions.open_conversations(sent_since=since)
        if not open_:
            return
        by_id = {q["conversation_id"]: q for q in open_}
        ids = ",".join(by_id)
        path = f"{CONVERSATIONS}?filter=id:in:[{ids}]&fields=id,messageCount&paging=false"
        try:
            reply = self._call(None, "poll", "GET", path)
            _judge(reply, "the replies")
        except StepFailed as e:
            log.warning("second opinions: replies not read: %s", e)
            return
        doc = reply.json() if isinstance(reply.json(), dict) else {}
        now = to_iso(self.now())
        unchanged = []
        for c in doc.get("messageConversations") or []:
            q = by_id.get(c.get("id"))
            if q is None:
                continue
            self.summary.checked += 1
            if int(c.get("messageCount") or 0) <= q["message_count"]:
                unchanged.append(q["id"])
                continue
            try:
                self._read(q, now)
            except StepFailed as e:
                log.warning("second opinion %s: replies not read: %s", q["id"], e)
        self.store.opinions.checked(unchanged, now=now)

    def _read(self, q: dict[str, Any], now: str) -> None:
        path = f"{CONVERSATIONS}/{q['conversation_id']}?fields={MESSAGE_FIELDS}"
        reply = self._call(q["id"], "read", "GET", path)
        _judge(reply, "the conversation")
        doc = reply.json() if isinstance(reply.json(), dict) else {}
        messages = doc.get("messages") or []
        # the first message is the question; what follows is the district's
        replies = [
            {
                "id": m.get("id"),
                "text": m.get("text") or "",
                "created": m.get("created"),
                "sender": (m.get("sender") or {}).get("displayName"),
            }
            for m in sorted(messages, key=lambda m: m.get("created") or "")[1:]
            if m.get("id")
        ]
        self.summary.replies += self.store.opinions.add_replies(
            q["id"], replies, message_count=len(messages), now=now
        )


class OpinionCarrier:
    """What the modem daemon asks: is anything due (a question to send, replies to look
    for), and one pass while the link is up."""

    def __init__(
        self,
        store: Any,
        *,
        settings: OpinionSettings,
        dhis2: Callable[[], Dhis2Config],
        now: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.settings = settings
        self.dhis2 = dhis2
        self.now = now
        self.monotonic = monotonic
        self._next_poll = 0.0
        self.was_up = False
        self.last: dict[str, Any] | None = None
        self.last_error: str | None = None

    def recover(self) -> int:
        return self.store.opinions.recover()

    def _poll_due(self) -> bool:
        if self.monotonic() < self._next_poll:
            return False
        since = to_iso(self.now() - timedelta(days=self.settings.follow_days))
        return bool(self.store.opinions.open_conversations(sent_since=since))

    def due(self, *, link_up: bool = False) -> bool:
        if link_up and not self.was_up:
            # the backoff was waiting out the outage: due again at once, replies too
            self.store.opinions.retry_now(now=to_iso(self.now()))
            self._next_poll = 0.0
        self.was_up = link_up
        at = self.store.opinions.next_due_at()
        return (at is not None and at <= to_iso(self.now())) or self._poll_due()

    def run_once(self, *, link_up: Callable[[], bool] = lambda: True) -> ExchangeSummary:
        try:
            config = self.dhis2()
        except ValueError as e:
            self.last_error = str(e)
            return ExchangeSummary()
        exchange = Exchange(self.store, Dhis2Messages(config), self.settings, now=self.now)
        exchange.send_due(link_up=link_up)
        if link_up():
            exchange.fetch_replies()
            self._next_poll = self.monotonic() + self.settings.poll_every_min * 60
        self.last, self.last_error = exchange.summary.as_dict(), None
        return exchange.summary


def exchange_once(
    store: Any, config: Dhis2Config, settings: OpinionSettings, **kw: Any
) -> ExchangeSummary:
    """Send what is due and read replies now (the CLI's `opinion exchange`, the demo)."""
    ex = Exchange(store, Dhis2Messages(config), settings, **kw)
    ex.send_due()
    ex.fetch_replies()
    return ex.summary
