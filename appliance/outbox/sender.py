"""Send one outbox item to DHIS2 and decide what its reply means; drain the outbox.

The endpoint, the reply and its meaning follow the DHIS2 developer docs ("Data values":
POST /api/dataValueSets with JSON or ADX; "Import summaries": `status` SUCCESS/WARNING/ERROR,
`importCount` {imported, updated, ignored, deleted}, `conflicts`). Since 2.36 the summary comes
wrapped in a web message, `{"httpStatus", "httpStatusCode", "status", "message", "response":
{ImportSummary}}`, and an import with conflicts answers HTTP 409.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from appliance.clock import to_iso
from appliance.outbox import DELETIONS_KEY

ENDPOINT = "/api/dataValueSets"
DEFAULT_TIMEOUT_S = 60.0
BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 6 * 3600.0  # the 3G link may be gone for hours; keep trying a few times a day
# A claim older than this belongs to a drainer that died (a send never takes this long).
STALE_CLAIM_S = 3600.0
NO_RETRY = {
    401: "DHIS2 refused the credentials (401): check the API token in secrets/dhis2_token",
    403: "DHIS2 refused access (403): the account may not write data values for this org unit",
    404: "no DHIS2 API at this address (404): check the dhis2_url setting",
}


@dataclass(frozen=True)
class Dhis2Config:
    base_url: str
    token: str | None = None
    username: str | None = None
    password: str | None = None
    cafile: str | None = None  # a private CA bundle for an HTTPS server with its own certificate
    timeout_s: float = DEFAULT_TIMEOUT_S
    # DHIS2 looks at the first bytes of a data value set and unzips a gzip stream itself
    # (StreamUtils.wrapAndCheckCompressionFormat in its import): 5-10x fewer bytes over 3G.
    compress: bool = True

    def __post_init__(self) -> None:
        # checked before any item is claimed, so a bad setting never strands one in 'sending'
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the DHIS2 address must be an http(s) URL, not {self.base_url!r}")

    def authorization(self) -> str | None:
        if self.token:
            return f"ApiToken {self.token}"
        if self.username is not None:
            raw = f"{self.username}:{self.password or ''}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        return None


@dataclass
class Outcome:
    """What one attempt gave: `delivered`, `retry` or `failed`."""

    result: str
    http_status: int | None = None
    error: str | None = None
    summary: dict[str, Any] | None = None
    reply: str = ""
    duration_ms: int = 0


def _connection(config: Dhis2Config) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(config.base_url)
    path = parts.path.rstrip("/") + ENDPOINT
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=config.cafile)
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=config.timeout_s, context=context
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=config.timeout_s)
    return conn, path


def config_from_settings(
    store: Any,
    secrets_dir: Path,
    *,
    url: str | None = None,
    token_file: Path | None = None,
    ca_file: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Dhis2Config:
    """The DHIS2 address, credentials and CA from what provisioning left: the `dhis2_url`,
    `dhis2_ca_file`, `dhis2_gzip` and `dhis2_username` settings, and `secrets/dhis2_token` (or
    `secrets/dhis2_password` for an account). Raises
    Dhis2SetupError (a ValueError) saying what is missing."""
    url = url or store.get_setting("dhis2_url")
    if not url:
        raise Dhis2SetupError("no DHIS2 address: set the dhis2_url setting when provisioning")
    token_path = token_file or secrets_dir / "dhis2_token"
    username, password = store.get_setting("dhis2_username"), None
    password_path = secrets_dir / "dhis2_password"
    token = None
    if token_path.exists():
        token = token_path.read_text(encoding="utf-8").strip()
        if not token:
            raise Dhis2SetupError(f"{token_path} is empty: put the DHIS2 API token in it")
    elif username and password_path.exists():
        password = password_path.read_text(encoding="utf-8").strip()  # an account, not a token
    else:
        raise Dhis2SetupError(f"no DHIS2 API token at {token_path} (one line, file mode 0600)")
    return Dhis2Config(
        base_url=url,
        token=token,
        username=None if token else username,
        password=password,
        cafile=ca_file or store.get_setting("dhis2_ca_file"),
        timeout_s=timeout_s,
        compress=store.get_setting("dhis2_gzip", "1") != "0",
    )


class Dhis2SetupError(ValueError):
    """What provisioning left is not enough to reach DHIS2."""


def import_summary(body: Any) -> dict[str, Any] | None:
    """The ImportSummary in a reply, unwrapped from the 2.36+ web message; None if absent."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("response"), dict):
        body = body["response"]
    if "status" not in body or "importCount" not in body:
        return None
    return body


def judge(http_status: int, summary: dict[str, Any] | None) -> tuple[str, str | None]:
    """(result, reason) for a reply that arrived whole."""
    if http_status in NO_RETRY:
        return "failed", NO_RETRY[http_status]
    if http_status >= 500 or http_status == 429:
        return "retry", f"DHIS2 answered HTTP {http_status}"
    if http_status not in (200, 201, 409):
        return "failed", f"DHIS2 answered HTTP {http_status}"
    if summary is None:
        # A 3G operator's captive portal or a proxy page: not DHIS2, so nothing was imported.
        return "retry", f"HTTP {http_status} without an import summary (not DHIS2?)"
    counts = summary.get("importCount") or {}
    conflicts = summary.get("conflicts") or []
    status = summary.get("status")
    # DHIS2 counts rejected values among `ignored`; what is left was imported or unchanged.
    accepted = (
        counts.get("imported", 0)
        + counts.get("updated", 0)
        + max(0, counts.get("ignored", 0) - len(conflicts))
    )
    described = "; ".join(str(c.get("value", c)) for c in conflicts[:3])
    if status == "ERROR" or (conflicts and accepted == 0):
        return "failed", f"DHIS2 rejected the report ({status}): {described or 'no detail'}"
    if conflicts:
        return "delivered", f"delivered with {len(conflicts)} conflict(s): {described}"
    return "delivered", None


def _post(
    connection: tuple[http.client.HTTPConnection, str],
    query: str,
    body: bytes,
    headers: dict[str, str],
    compress: bool,
) -> tuple[int, str]:
    conn, path = connection
    try:
        if compress:
            body = gzip.compress(body, mtime=0)
        conn.request("POST", path + query, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")
    finally:
        conn.close()


def _split_deletions(item: dict[str, Any]) -> tuple[bytes, dict[str, Any] | None]:
    """(the body to import, the dataValueSet of cells to delete or None)."""
    text = item["payload"]
    if item["content_type"] != "application/json" or DELETIONS_KEY not in text:
        return text.encode("utf-8"), None
    payload = json.loads(text)
    gone = payload.pop(DELETIONS_KEY, None)
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if not gone:
        return body.encode("utf-8"), None
    shared = {k: payload[k] for k in ("dataSet", "period", "orgUnit") if k in payload}
    return body.encode("utf-8"), {**shared, "dataValues": gone}


def send(item: dict[str, Any], config: Dhis2Config) -> Outcome:
    """POST one item (and its deletions, if any). Never raises for network trouble: it comes
    back as a `retry` outcome."""
    started = time.monotonic()
    headers = {"Content-Type": item["content_type"], "Accept": "application/json"}
    if auth := config.authorization():
        headers["Authorization"] = auth

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    body, deletions = _split_deletions(item)
    # A setup fault (a CA file missing) raises here, before anything is sent: it is no outage.
    connection = _connection(config)
    try:
        status, text = _post(connection, "", body, headers, config.compress)
        outcome = _outcome(status, text, took())
        if outcome.result == "delivered" and deletions is not None:
            raw = json.dumps(deletions, separators=(",", ":")).encode("utf-8")
            status, reply = _post(
                _connection(config), "?importStrategy=DELETE", raw, headers, config.compress
            )
            outcome = _with_deletions(outcome, status, reply, took())
    except (OSError, http.client.HTTPException) as e:
        # Refused, reset, timed out, cut mid-reply: whether DHIS2 imported it or not, sending
        # again is safe because it upserts values by their key (and deleting twice is a no-op).
        return Outcome(
            "retry", error=f"network: {type(e).__name__}: {e}".rstrip(": "), duration_ms=took()
        )
    return outcome


def _summary_of(text: str) -> dict[str, Any] | None:
    """The import summary in a reply's body, or None when the body is not one."""
    try:
        return import_summary(json.loads(text))
    except ValueError:
        return None


def _outcome(status: int, text: str, duration_ms: int) -> Outcome:
    summary = _summary_of(text)
    result, reason = judge(status, summary)
    return Outcome(
        result,
        http_status=status,
        error=reason,
        summary=summary,
        reply=text,
        duration_ms=duration_ms,
    )


def _with_deletions(values: Outcome, status: int, text: str, duration_ms: int) -> Outcome:
    """The item's outcome once its deletions were sent too. A cell already gone comes back
    ignored or as a conflict: that is the state wanted, so only refusals and outages count."""
    summary = _summary_of(text)
    if status in NO_RETRY:
        result, reason = "failed", NO_RETRY[status]
    elif status >= 500 or status == 429:
        result, reason = "retry", f"DHIS2 answered HTTP {status} to the deletions"
    elif status not in (200, 201, 409) or summary is None:
        result, reason = "retry", f"HTTP {status} without an import summary for the deletions"
    else:
        result, reason = "delivered", values.error
    merged = dict(values.summary or {})
    if summary is not None and merged:
        counts = dict(merged.get("importCount") or {})
        counts["deleted"] = counts.get("deleted", 0) + (summary.get("importCount") or {}).get(
            "deleted", 0
        )
        merged["importCount"] = counts
    return Outcome(
        result,
        http_status=status if result != "delivered" else values.http_status,
        error=reason,
        summary=merged or values.summary,
        reply=values.reply if result == "delivered" else text,
        duration_ms=duration_ms,
    )


def backoff_s(attempts: int, *, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: between half and all of base·2^(n−1), capped, so
    several appliances coming back online together do not all retry at the same moment."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))
    return ceiling / 2 + rand() * ceiling / 2


@dataclass
class DrainSummary:
    delivered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    recovered: int = 0

    attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        done = set(self.delivered) | set(self.failed)
        # an item retried and then delivered in the same drain counts only as delivered
        waiting = [i for i in dict.fromkeys(self.retrying) if i not in done]
        return {
            "attempts": self.attempts,
            "delivered": self.delivered,
            "failed": self.failed,
            "retrying": waiting,
            "recovered": self.recovered,
        }


def _utc_now() -> datetime:
    return datetime.now(UTC)


def drain(
    store: Any,
    config: Dhis2Config,
    *,
    now: Callable[[], datetime] = _utc_now,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
    wait_up_to_s: float = 0.0,
    sender: Callable[[dict[str, Any], Dhis2Config], Outcome] = send,
    max_items: int | None = None,
) -> DrainSummary:
    """Send every item that is due. With `wait_up_to_s`, also wait (through `sleep`) for
    retries that fall due within that many seconds of the start, so a short outage is ridden
    out in one call."""
    summary = DrainSummary()
    start = now()
    summary.recovered = store.outbox.recover(
        claimed_before=to_iso(start - timedelta(seconds=STALE_CLAIM_S))
    )
    deadline = start + timedelta(seconds=wait_up_to_s)
    sent = 0
    while max_items is None or sent < max_items:
        item = store.outbox.claim_next(now=to_iso(now()))
        if item is None:
            due = store.outbox.next_due_at()
            if due is None or due > to_iso(deadline):
                break
            wait = (datetime.fromisoformat(due.replace("Z", "+00:00")) - now()).total_seconds()
            sleep(max(0.0, wait))
            continue
        sent += 1
        _send_one(store, config, item, now=now, rand=rand, sender=sender, summary=summary)
    return summary


def _send_one(store, config, item, *, now, rand, sender, summary: DrainSummary) -> None:
    at = now()
    try:
        outcome = sender(item, config)
    except Exception as e:
        # Not DHIS2's answer but our own trouble (a missing CA file, a bug): give the item
        # back to the queue with the reason, then let the caller see the error.
        store.outbox.mark_retry(
            item["id"], error=f"{type(e).__name__}: {e}", next_attempt_at=to_iso(now())
        )
        raise
    summary.attempts += 1
    with store.transaction():
        store.outbox.record_attempt(
            item["id"],
            at=to_iso(at),
            duration_ms=outcome.duration_ms,
            http_status=outcome.http_status,
            error=outcome.error,
            reply_excerpt=outcome.reply,
        )
        if outcome.result == "delivered":
            store.outbox.mark_delivered(
                item["id"], at=to_iso(now()), import_summary=outcome.summary, warning=outcome.error
            )
            summary.delivered.append(item["id"])
        elif outcome.result == "failed":
            store.outbox.mark_failed(
                item["id"], error=outcome.error or "failed", import_summary=outcome.summary
            )
            summary.failed.append(item["id"])
        else:
            delay = backoff_s(item["attempts"] + 1, rand=rand)
            store.outbox.mark_retry(
                item["id"],
                error=outcome.error or "retry",
                next_attempt_at=to_iso(now() + timedelta(seconds=delay)),
            )
            summary.retrying.append(item["id"])
