"""SQL for second opinions: questions waiting to leave for the district's DHIS2 as message
conversations, the replies fetched back, every attempt, and the 3G bytes they cost each month.

Status moves queued → sending → sent → answered, or back to queued (retry) or failed (a
technician must act). Times are ISO strings from appliance.clock.to_iso (text order is time
order).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from appliance.ids import uuid7
from appliance.store.db import StoreError

if TYPE_CHECKING:
    from appliance.store.db import Store

STATUSES = ("queued", "sending", "sent", "answered", "failed")
# Columns of a question without its photo (a list never carries the JPEGs).
_COLUMNS = (
    "q.id, q.patient_id, q.asked_by, q.asked_at, q.question, q.name_consented, q.subject,"
    " q.body, q.photo IS NOT NULL AS has_photo, length(q.photo) AS photo_bytes, q.status,"
    " q.attempts, q.next_attempt_at, q.last_error, q.file_resource_id, q.conversation_id,"
    " q.sent_at, q.message_count, q.checked_at, q.answered_at"
)


class OpinionStoreError(StoreError, ValueError):
    """A change the question's state does not allow."""


class OpinionRepo:
    def __init__(self, store: Store):
        self.store = store

    # -- asking ------------------------------------------------------------------------------
    def add(
        self,
        *,
        patient_id: str,
        asked_by: str,
        asked_at: str,
        question: str,
        name_consented: bool,
        subject: str,
        body: str,
        photo: bytes | None,
        question_id: str | None = None,
    ) -> str:
        qid = question_id or uuid7()
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO opinion_questions (id, patient_id, asked_by, asked_at, question,"
                " name_consented, subject, body, photo, next_attempt_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    qid,
                    patient_id,
                    asked_by,
                    asked_at,
                    question,
                    int(name_consented),
                    subject,
                    body,
                    photo,
                    asked_at,
                ),
            )
        return qid

    # -- sending -----------------------------------------------------------------------------
    def claim_next(self, *, now: str) -> dict[str, Any] | None:
        """The next due question, marked 'sending' (photo included), or None."""
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT id FROM opinion_questions WHERE status = 'queued'"
                " AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE opinion_questions SET status = 'sending', claimed_at = ? WHERE id = ?",
                (now, row["id"]),
            )
        return self.get(row["id"], with_photo=True)

    def recover(self) -> int:
        """Questions left 'sending' by a daemon that stopped: back in the queue. Resending is
        safe: the conversation id, once known, is kept, and an interrupted try counts as one, so
        the next looks the conversation up before creating it."""
        with self.store.transaction() as conn:
            return conn.execute(
                "UPDATE opinion_questions SET status = 'queued', claimed_at = NULL,"
                " attempts = attempts + 1, last_error = 'interrupted' WHERE status = 'sending'"
            ).rowcount

    def remember(self, qid: str, **ids: str) -> None:
        """Keep `file_resource_id` or `conversation_id` the moment DHIS2 gives it."""
        allowed = {"file_resource_id", "conversation_id"}
        if not ids or set(ids) - allowed:
            raise OpinionStoreError(f"only {sorted(allowed)} are remembered")
        sets = ", ".join(f"{k} = ?" for k in ids)
        with self.store.transaction() as conn:
            conn.execute(f"UPDATE opinion_questions SET {sets} WHERE id = ?", (*ids.values(), qid))

    def _finish(self, qid: str, sets: str, params: tuple[Any, ...]) -> None:
        with self.store.transaction() as conn:
            cur = conn.execute(
                f"UPDATE opinion_questions SET {sets}, claimed_at = NULL"
                " WHERE id = ? AND status = 'sending'",
                (*params, qid),
            )
            if cur.rowcount != 1:
                raise OpinionStoreError(f"question {qid} is not being sent")

    def mark_sent(self, qid: str, *, at: str) -> None:
        self._finish(
            qid,
            "status = 'sent', sent_at = ?, last_error = NULL, attempts = attempts + 1,"
            " message_count = 1",
            (at,),
        )

    def mark_retry(self, qid: str, *, error: str, next_attempt_at: str) -> None:
        self._finish(
            qid,
            "status = 'queued', last_error = ?, next_attempt_at = ?, attempts = attempts + 1",
            (error, next_attempt_at),
        )

    def mark_failed(self, qid: str, *, error: str) -> None:
        self._finish(qid, "status = 'failed', last_error = ?, attempts = attempts + 1", (error,))

    def release(self, qid: str, *, reason: str) -> None:
        """Back to the queue without counting a try (the month's budget is spent)."""
        self._finish(qid, "status = 'queued', last_error = ?", (reason,))

    def retry_now(self, *, now: str) -> int:
        """The link came back: what waited out the outage is due at once."""
        with self.store.transaction() as conn:
            return conn.execute(
                "UPDATE opinion_questions SET next_attempt_at = ? WHERE status = 'queued'"
                " AND next_attempt_at > ?",
                (now, now),
            ).rowcount

    def requeue(self, qid: str, *, now: str) -> None:
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE opinion_questions SET status = 'queued', next_attempt_at = ?"
                " WHERE id = ? AND status = 'failed'",
                (now, qid),
            )
            if cur.rowcount != 1:
                raise OpinionStoreError(f"question {qid} is not a failed question")

    def next_due_at(self) -> str | None:
        row = self.store.query_one(
            "SELECT MIN(next_attempt_at) AS t FROM opinion_questions WHERE status = 'queued'"
        )
        return row["t"] if row else None

    # -- replies -----------------------------------------------------------------------------
    def open_conversations(self, *, sent_since: str) -> list[dict[str, Any]]:
        """Questions sent since `sent_since` whose conversation may still get replies."""
        return self.store.query(
            "SELECT id, conversation_id, message_count, status FROM opinion_questions"
            " WHERE status IN ('sent', 'answered') AND conversation_id IS NOT NULL"
            " AND sent_at >= ? ORDER BY sent_at",
            (sent_since,),
        )

    def add_replies(
        self, qid: str, replies: list[dict[str, Any]], *, message_count: int, now: str
    ) -> int:
        """Store the replies not yet stored (by DHIS2 message id) and the conversation's
        message count, in one transaction; returns how many were new."""
        new = 0
        with self.store.transaction() as conn:
            for r in replies:
                new += conn.execute(
                    "INSERT OR IGNORE INTO opinion_replies (question_id, message_id, sender,"
                    " text, created, fetched_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (qid, r["id"], r.get("sender"), r["text"], r.get("created"), now),
                ).rowcount
            answered = conn.execute(
                "SELECT COUNT(*) FROM opinion_replies WHERE question_id = ?", (qid,)
            ).fetchone()[0]
            conn.execute(
                "UPDATE opinion_questions SET message_count = MAX(message_count, ?),"
                " checked_at = ?,"
                " status = CASE WHEN ? > 0 THEN 'answered' ELSE status END,"
                " answered_at = CASE WHEN ? > 0 AND answered_at IS NULL THEN ?"
                " ELSE answered_at END WHERE id = ?",
                (message_count, now, answered, answered, now, qid),
            )
        return new

    def checked(self, qids: list[str], *, now: str) -> None:
        if not qids:
            return
        marks = ", ".join("?" * len(qids))
        with self.store.transaction() as conn:
            conn.execute(
                f"UPDATE opinion_questions SET checked_at = ? WHERE id IN ({marks})",
                (now, *qids),
            )

    def mark_seen(self, patient_id: str, *, asked_by: str, now: str) -> int:
        """The asker opened the record: its replies are no longer news on their home."""
        with self.store.transaction() as conn:
            return conn.execute(
                "UPDATE opinion_replies SET seen_at = ? WHERE seen_at IS NULL AND question_id IN"
                " (SELECT id FROM opinion_questions WHERE patient_id = ? AND asked_by = ?)",
                (now, patient_id, asked_by),
            ).rowcount

    # -- traffic -----------------------------------------------------------------------------
    def record_attempt(
        self,
        qid: str | None,
        *,
        at: str,
        step: str,
        http_status: int | None,
        error: str | None,
        sent_bytes: int,
        duration_ms: int,
    ) -> None:
        """One HTTP exchange and its bytes, charged to the month of `at`."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO opinion_attempts (question_id, at, step, http_status, error, bytes,"
                " duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (qid, at, step, http_status, error, sent_bytes, duration_ms),
            )
            conn.execute(
                "INSERT INTO opinion_traffic (month, bytes, requests) VALUES (?, ?, 1)"
                " ON CONFLICT(month) DO UPDATE SET bytes = bytes + excluded.bytes,"
                " requests = requests + 1",
                (at[:7], sent_bytes),
            )

    def traffic(self, month: str) -> dict[str, int]:
        row = self.store.query_one(
            "SELECT bytes, requests FROM opinion_traffic WHERE month = ?", (month,)
        )
        return (
            {"bytes": row["bytes"], "requests": row["requests"]}
            if row
            else {
                "bytes": 0,
                "requests": 0,
            }
        )

    def attempts(self, qid: str) -> list[dict[str, Any]]:
        return self.store.query(
            "SELECT * FROM opinion_attempts WHERE question_id = ? ORDER BY id", (qid,)
        )

    # -- reading -----------------------------------------------------------------------------
    def get(self, qid: str, *, with_photo: bool = False) -> dict[str, Any] | None:
        extra = ", q.photo" if with_photo else ""
        row = self.store.query_one(
            f"SELECT {_COLUMNS}{extra} FROM opinion_questions q WHERE q.id = ?", (qid,)
        )
        if row is not None:
            row["replies"] = self.replies(qid)
        return row

    def photo(self, qid: str) -> bytes | None:
        row = self.store.query_one("SELECT photo FROM opinion_questions WHERE id = ?", (qid,))
        return row["photo"] if row else None

    def replies(self, qid: str) -> list[dict[str, Any]]:
        return self.store.query(
            "SELECT message_id, sender, text, created, fetched_at, seen_at"
            " FROM opinion_replies WHERE question_id = ? ORDER BY id",
            (qid,),
        )

    def for_patient(self, patient_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.store.query(
            f"SELECT {_COLUMNS}, s.display_name AS asked_by_name FROM opinion_questions q"
            " LEFT JOIN staff s ON s.id = q.asked_by WHERE q.patient_id = ?"
            " ORDER BY q.id DESC LIMIT ?",
            (patient_id, limit),
        )
        for r in rows:
            r["replies"] = self.replies(r["id"])
        return rows

    def list(self, *, statuses: tuple[str, ...] = (), limit: int = 100) -> list[dict[str, Any]]:
        where = f" WHERE q.status IN ({', '.join('?' * len(statuses))})" if statuses else ""
        rows = self.store.query(
            f"SELECT {_COLUMNS}, p.health_number FROM opinion_questions q"
            f" JOIN patients p ON p.id = q.patient_id{where} ORDER BY q.id DESC LIMIT ?",
            (*statuses, limit),
        )
        for r in rows:
            r["replies"] = self.replies(r["id"])
        return rows

    def unseen_replies(self, asked_by: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """Replies the asker has not seen yet, newest first, with the patient to open."""
        return self.store.query(
            "SELECT r.question_id, r.text, r.sender, r.fetched_at, q.patient_id, q.question,"
            " p.health_number, p.family_name, p.given_names FROM opinion_replies r"
            " JOIN opinion_questions q ON q.id = r.question_id"
            " JOIN patients p ON p.id = q.patient_id"
            " WHERE r.seen_at IS NULL AND q.asked_by = ? ORDER BY r.id DESC LIMIT ?",
            (asked_by, limit),
        )

    def counts(self) -> dict[str, int]:
        rows = self.store.query(
            "SELECT status, COUNT(*) AS n FROM opinion_questions GROUP BY status"
        )
        out = dict.fromkeys(STATUSES, 0)
        out.update({r["status"]: r["n"] for r in rows})
        return out
