"""SQL for the outbox: reports queued for DHIS2, claimed by one drainer at a time, and every
attempt to send them.

Times are ISO strings from appliance.clock.to_iso (fixed width, UTC), so comparing them as
text orders them in time. Status moves queued → sending → delivered | failed | queued (retry);
queued or failed → superseded when a newer version of the same report is enqueued.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from appliance.ids import uuid7
from appliance.store.db import StoreError

if TYPE_CHECKING:
    from appliance.store.db import Store

KINDS = ("dhis2-datavalueset", "dhis2-adx")
STATUSES = ("queued", "sending", "delivered", "failed", "superseded")
REPLY_EXCERPT_CHARS = 2000


class OutboxError(StoreError, ValueError):
    """A request the outbox cannot accept."""


def idempotency_key(facility: str, dataset: str, period: str, version: int) -> str:
    return f"{facility}/{dataset}/{period}/v{version}"


def _decode(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is not None and row.get("import_summary") is not None:
        row["import_summary"] = json.loads(row["import_summary"])
    return row


class OutboxRepo:
    def __init__(self, store: Store):
        self.store = store

    # -- enqueue -----------------------------------------------------------------------------
    def enqueue(
        self,
        *,
        kind: str,
        facility: str,
        dataset: str,
        period: str,
        payload: str,
        content_type: str,
        now: str,
    ) -> dict[str, Any]:
        """Queue a report. The same payload as the latest version already queued, sending or
        delivered gives that item back (nothing new to send); otherwise a new version is added
        and supersedes older versions that have not been delivered (queued or failed)."""
        if kind not in KINDS:
            raise OutboxError(f"unknown outbox kind {kind!r} (expected one of {KINDS})")
        with self.store.transaction() as conn:
            latest = conn.execute(
                "SELECT id, version, payload, status FROM outbox"
                " WHERE facility = ? AND dataset = ? AND period = ?"
                " ORDER BY version DESC LIMIT 1",
                (facility, dataset, period),
            ).fetchone()
            if (
                latest is not None
                and latest["payload"] == payload
                and latest["status"] in ("queued", "sending", "delivered")
            ):
                return self.get(latest["id"])  # type: ignore[return-value]
            version = (latest["version"] + 1) if latest is not None else 1
            item_id = uuid7()
            conn.execute(
                "INSERT INTO outbox (id, kind, idempotency_key, facility, dataset, period,"
                " version, payload, content_type, status, next_attempt_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                (
                    item_id,
                    kind,
                    idempotency_key(facility, dataset, period, version),
                    facility,
                    dataset,
                    period,
                    version,
                    payload,
                    content_type,
                    now,
                    now,
                ),
            )
            # An item being sent right now is left alone: it may already have reached DHIS2,
            # and the newer version sent after it overwrites the same values there.
            conn.execute(
                "UPDATE outbox SET status = 'superseded', superseded_by = ?"
                " WHERE facility = ? AND dataset = ? AND period = ? AND id != ?"
                " AND status IN ('queued', 'failed')",
                (item_id, facility, dataset, period, item_id),
            )
        return self.get(item_id)  # type: ignore[return-value]

    def payloads_that_may_have_arrived(
        self, *, facility: str, dataset: str, period: str
    ) -> list[str]:
        """The payloads of a report's versions that DHIS2 may hold: delivered, being sent, or
        tried at least once (a cut connection can hide a successful import)."""
        rows = self.store.conn.execute(
            "SELECT payload FROM outbox WHERE facility = ? AND dataset = ? AND period = ?"
            " AND (status IN ('delivered', 'sending') OR attempts > 0) ORDER BY version",
            (facility, dataset, period),
        )
        return [r["payload"] for r in rows]

    # -- claiming ----------------------------------------------------------------------------
    def claim_next(self, *, now: str) -> dict[str, Any] | None:
        """Take the next due item for sending (status 'sending'), or None. BEGIN IMMEDIATE
        holds the write lock from the read to the update, so two drainers never claim the
        same item."""
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at, id LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE outbox SET status = 'sending', claimed_at = ? WHERE id = ?",
                (now, row["id"]),
            )
        return self.get(row["id"])

    def recover(self, *, claimed_before: str | None = None) -> int:
        """Put items left in 'sending' back in the queue: all of them when this is the only
        drainer starting up after a crash or power cut, else only claims older than
        `claimed_before` (a drainer that died long ago). Re-sending is safe: DHIS2 upserts."""
        sql = "UPDATE outbox SET status = 'queued', claimed_at = NULL WHERE status = 'sending'"
        params: tuple[str, ...] = ()
        if claimed_before is not None:
            sql += " AND claimed_at < ?"
            params = (claimed_before,)
        with self.store.transaction() as conn:
            return conn.execute(sql, params).rowcount

    # -- outcomes ----------------------------------------------------------------------------
    def record_attempt(
        self,
        item_id: str,
        *,
        at: str,
        duration_ms: int,
        http_status: int | None = None,
        error: str | None = None,
        reply_excerpt: str | None = None,
    ) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO outbox_attempts (item_id, at, http_status, error, reply_excerpt,"
                " duration_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    item_id,
                    at,
                    http_status,
                    error,
                    (reply_excerpt or None) and reply_excerpt[:REPLY_EXCERPT_CHARS],
                    duration_ms,
                ),
            )
            conn.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (item_id,))

    def _finish(self, item_id: str, sets: str, params: tuple[Any, ...]) -> None:
        with self.store.transaction() as conn:
            cur = conn.execute(
                f"UPDATE outbox SET {sets}, claimed_at = NULL WHERE id = ? AND status = 'sending'",
                (*params, item_id),
            )
            if cur.rowcount != 1:
                raise OutboxError(f"outbox item {item_id} is not being sent")

    def mark_delivered(
        self, item_id: str, *, at: str, import_summary: Any, warning: str | None = None
    ) -> None:
        self._finish(
            item_id,
            "status = 'delivered', delivered_at = ?, import_summary = ?, last_error = ?",
            (at, json.dumps(import_summary), warning),
        )

    def mark_failed(self, item_id: str, *, error: str, import_summary: Any = None) -> None:
        """No retry will help (refused credentials, wrong URL, data DHIS2 rejects): a
        technician must act, then `requeue`."""
        summary = None if import_summary is None else json.dumps(import_summary)
        self._finish(
            item_id,
            "status = 'failed', last_error = ?, import_summary = ?",
            (error, summary),
        )

    def mark_retry(self, item_id: str, *, error: str, next_attempt_at: str) -> None:
        self._finish(
            item_id,
            "status = 'queued', last_error = ?, next_attempt_at = ?",
            (error, next_attempt_at),
        )

    def retry_now(self, *, now: str) -> int:
        """Make every queued item due now: called when the data link comes back, since the
        backoff was waiting out the outage, not a sick server."""
        with self.store.transaction() as conn:
            return conn.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE status = 'queued'"
                " AND next_attempt_at > ?",
                (now, now),
            ).rowcount

    def requeue(self, item_id: str, *, now: str) -> dict[str, Any]:
        """Send a failed item again (after the technician fixed the cause)."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE outbox SET status = 'queued', next_attempt_at = ?"
                " WHERE id = ? AND status = 'failed'",
                (now, item_id),
            )
            if cur.rowcount != 1:
                raise OutboxError(f"outbox item {item_id} is not a failed item")
        return self.get(item_id)  # type: ignore[return-value]

    # -- pruning -----------------------------------------------------------------------------
    def prune_oldest_sent(self, created_before: str, *, limit: int) -> int:
        """Delete at most `limit` of the oldest items that have left or were replaced
        (delivered, superseded) and were queued before `created_before` (ISO), with their
        attempts and SMS rows, in one transaction: pruning.make_room calls it when the data
        folder runs short of space. Items still waiting are never pruned. A superseded item is
        older than the one that replaced it, so oldest first never leaves a dangling
        `superseded_by`. Returns how many items went."""
        with self.store.transaction() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM outbox WHERE status IN ('delivered', 'superseded')"
                    " AND created_at < ? ORDER BY id LIMIT ?",
                    (created_before, limit),
                )
            ]
            if not ids:
                return 0
            marks = ", ".join("?" * len(ids))
            for table in ("outbox_sms", "outbox_attempts"):
                conn.execute(f"DELETE FROM {table} WHERE item_id IN ({marks})", ids)
            return conn.execute(f"DELETE FROM outbox WHERE id IN ({marks})", ids).rowcount

    # -- reading -----------------------------------------------------------------------------
    def get(self, item_id: str) -> dict[str, Any] | None:
        return _decode(
            self.store.query_one(
                "SELECT o.*, s.sent_at AS sms_sent_at, s.parts_sent AS sms_parts_sent"
                " FROM outbox o LEFT JOIN outbox_sms s ON s.item_id = o.id WHERE o.id = ?",
                (item_id,),
            )
        )

    def list(self, *, statuses: tuple[str, ...] = (), limit: int = 200) -> list[dict[str, Any]]:
        """Items newest first, without their payloads."""
        where = f" WHERE o.status IN ({', '.join('?' * len(statuses))})" if statuses else ""
        rows = self.store.query(
            "SELECT o.id, o.kind, o.facility, o.dataset, o.period, o.version, o.content_type,"
            " o.status, o.attempts, o.next_attempt_at, o.last_error, o.delivered_at,"
            " o.import_summary, o.created_at, o.superseded_by,"
            " s.sent_at AS sms_sent_at, s.parts_sent AS sms_parts_sent"
            f" FROM outbox o LEFT JOIN outbox_sms s ON s.item_id = o.id{where}"
            " ORDER BY o.id DESC LIMIT ?",
            (*statuses, limit),
        )
        return [_decode(r) for r in rows]  # type: ignore[misc]

    def attempts(self, item_id: str) -> list[dict[str, Any]]:
        return self.store.query(
            "SELECT * FROM outbox_attempts WHERE item_id = ? ORDER BY id", (item_id,)
        )

    def next_due_at(self) -> str | None:
        row = self.store.query_one(
            "SELECT MIN(next_attempt_at) AS t FROM outbox WHERE status = 'queued'"
        )
        return row["t"] if row else None

    # -- SMS fallback ------------------------------------------------------------------------
    def waiting_since(self) -> list[dict[str, Any]]:
        """Items not delivered and not replaced (queued, sending or failed), oldest first,
        each with its SMS row's fields (`sms_sent_at`, `sms_parts_sent`, …) when it has one."""
        return self.store.query(
            "SELECT o.id, o.facility, o.dataset, o.period, o.version, o.kind, o.status,"
            " o.created_at, s.message_id AS sms_message_id, s.sent_at AS sms_sent_at,"
            " s.parts_sent AS sms_parts_sent, s.attempts AS sms_attempts"
            " FROM outbox o LEFT JOIN outbox_sms s ON s.item_id = o.id"
            " WHERE o.status IN ('queued', 'sending', 'failed') ORDER BY o.id"
        )

    def sms_start(
        self, item_id: str, *, number: str, encode: Callable[[int], list[str]], now: str
    ) -> dict[str, Any]:
        """The SMS row of an item. The first call picks a message id and stores the texts
        `encode(message_id)` gives; later calls give the same row back, so a send resumed after
        a power cut sends the same texts under the same id."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT 1 FROM outbox_sms WHERE item_id = ?", (item_id,)).fetchone()
            if row is None:
                # ids cycle through 1..9999; the gateway tells reports apart by facility and
                # period too, so a repeat years later is harmless
                last = conn.execute(
                    "SELECT message_id FROM outbox_sms ORDER BY rowid DESC LIMIT 1"
                ).fetchone()
                message_id = (last[0] % 9999 + 1) if last else 1
                conn.execute(
                    "INSERT INTO outbox_sms (item_id, message_id, number, texts, started_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (item_id, message_id, number, json.dumps(encode(message_id)), now),
                )
        return self.sms_of(item_id)  # type: ignore[return-value]

    def sms_part_sent(self, item_id: str, *, message_ref: int, now: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE outbox_sms SET parts_sent = parts_sent + 1,"
                " message_refs = json_insert(message_refs, '$[#]', ?),"
                " sent_at = CASE WHEN parts_sent + 1 >= json_array_length(texts) THEN ?"
                " ELSE sent_at END WHERE item_id = ?",
                (message_ref, now, item_id),
            )

    def sms_failed(self, item_id: str, *, error: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE outbox_sms SET attempts = attempts + 1, last_error = ? WHERE item_id = ?",
                (error, item_id),
            )

    def sms_of(self, item_id: str) -> dict[str, Any] | None:
        row = self.store.query_one("SELECT * FROM outbox_sms WHERE item_id = ?", (item_id,))
        if row is not None:
            row["texts"] = json.loads(row["texts"])
            row["message_refs"] = json.loads(row["message_refs"])
        return row

    # -- status page -------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """How many items are in each status; every status is present, zero when none."""
        rows = self.store.query("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
        out = dict.fromkeys(STATUSES, 0)
        out.update({r["status"]: r["n"] for r in rows})
        return out

    def last_delivered_at(self) -> str | None:
        row = self.store.query_one(
            "SELECT MAX(delivered_at) AS t FROM outbox WHERE status = 'delivered'"
        )
        return row["t"] if row else None

    def pending_error(self) -> str | None:
        """The error of the newest item still waiting (queued for a retry, or failed): what a
        technician has to look at. A delivered item's warning is not counted."""
        row = self.store.query_one(
            "SELECT last_error FROM outbox WHERE status IN ('queued', 'failed')"
            " AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1"
        )
        return row["last_error"] if row else None
