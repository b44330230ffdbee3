"""SQL for the SMS reminder queue: what the plan queued, what the modem daemon sent."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.store.db import Store

COLUMNS = (
    "id, patient_id, phone, reason_codes, kind, due_date, items, planned_for, text, language,"
    " status, attempts, message_ref, error, created_at, sent_at"
)
# An SMS that failed this many times is left failed (a wrong number, no credit): listed, not
# retried for ever.
MAX_ATTEMPTS = 3
SPENT = ("sending", "sent", "delivered", "failed")


def _row(r: dict[str, Any]) -> dict[str, Any]:
    r["items"] = json.loads(r["items"])
    return r


class ReminderRepo:
    def __init__(self, store: Store):
        self.store = store

    def reminded(self, since: str, day: str) -> set[tuple[str, str, str, str]]:
        """(patient_id, reason_code, kind, due_date) of items already reminded (sent, or tried)
        or queued for `day` or later, planned from `since`. One over the cap, or left queued on
        an earlier day (no network all day), may go on a later day."""
        out: set[tuple[str, str, str, str]] = set()
        for r in self.store.query(
            "SELECT items FROM reminders WHERE planned_for >= ? AND (status IN"
            " ('sending', 'sent', 'delivered', 'failed') OR"
            " (status = 'queued' AND planned_for >= ?))",
            (since, day),
        ):
            for i in json.loads(r["items"]):
                out.add((i["patient_id"], i["reason_code"], i["kind"], i["due_date"]))
        return out

    def count_between(self, start: str, end: str) -> int:
        """SMS spent or queued for days `start`..`end` (the caps count them)."""
        row = self.store.query_one(
            "SELECT COUNT(*) AS n FROM reminders WHERE planned_for BETWEEN ? AND ?"
            " AND status NOT IN ('skipped_cap')",
            (start, end),
        )
        return int(row["n"]) if row else 0

    def phones_on(self, day: str) -> set[str]:
        """Phones already given a reminder planned for `day` (one SMS a phone a day)."""
        return {
            r["phone"]
            for r in self.store.query(
                "SELECT DISTINCT phone FROM reminders WHERE planned_for = ?"
                " AND status != 'skipped_cap'",
                (day,),
            )
        }

    def enqueue(self, reminder: dict[str, Any], *, status: str, now: str) -> int | None:
        """Queue one planned reminder (or record it skipped over the cap); None when the same
        reminder is already there (a plan run twice). A reminder skipped over the cap is
        queued when a later plan has room for it."""
        with self.store.transaction() as conn:
            existing = conn.execute(
                "SELECT id, status, planned_for FROM reminders WHERE patient_id = ?"
                " AND reason_codes = ?"
                " AND kind = ? AND due_date = ?",
                (
                    reminder["patient_id"],
                    reminder["reason_codes"],
                    reminder["kind"],
                    reminder["due_date"],
                ),
            ).fetchone()
            if existing is not None:
                # a reminder held back by the cap, or left queued on an earlier day, is queued
                # again for this day; one sent (or tried) never is
                again = existing[1] == "skipped_cap" or (
                    existing[1] == "queued" and existing[2] < reminder["planned_for"]
                )
                if not again or status == "skipped_cap":
                    return None
                conn.execute(
                    "UPDATE reminders SET status = ?, planned_for = ?, text = ?, language = ?,"
                    " phone = ?, items = ?, created_at = ? WHERE id = ?",
                    (
                        status,
                        reminder["planned_for"],
                        reminder["text"],
                        reminder["language"],
                        reminder["phone"],
                        json.dumps(reminder["items"]),
                        now,
                        existing[0],
                    ),
                )
                return int(existing[0])
            cur = conn.execute(
                "INSERT INTO reminders (patient_id, phone, reason_codes, kind, due_date, items,"
                " planned_for, text, language, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    reminder["patient_id"],
                    reminder["phone"],
                    reminder["reason_codes"],
                    reminder["kind"],
                    reminder["due_date"],
                    json.dumps(reminder["items"]),
                    reminder["planned_for"],
                    reminder["text"],
                    reminder["language"],
                    status,
                    now,
                ),
            )
            return int(cur.lastrowid)  # type: ignore[arg-type]

    def get(self, reminder_id: int) -> dict[str, Any] | None:
        row = self.store.query_one(f"SELECT {COLUMNS} FROM reminders WHERE id = ?", (reminder_id,))
        return _row(row) if row else None

    def for_patient(self, patient_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Reminders to this patient's phone or about them (a child's), newest first."""
        rows = self.store.query(
            f"SELECT {COLUMNS} FROM reminders WHERE patient_id = ? OR EXISTS"
            " (SELECT 1 FROM json_each(reminders.items) WHERE"
            " json_extract(json_each.value, '$.patient_id') = ?)"
            " ORDER BY planned_for DESC, id DESC LIMIT ?",
            (patient_id, patient_id, limit),
        )
        return [_row(r) for r in rows]

    def on_day(self, day: str) -> list[dict[str, Any]]:
        return [
            _row(r)
            for r in self.store.query(
                f"SELECT {COLUMNS} FROM reminders WHERE planned_for = ? ORDER BY id", (day,)
            )
        ]

    def to_send(self, day: str) -> list[dict[str, Any]]:
        """Queued reminders planned for `day` (older ones are stale: their date has moved)."""
        return [
            _row(r)
            for r in self.store.query(
                f"SELECT {COLUMNS} FROM reminders WHERE status = 'queued' AND planned_for = ?"
                " ORDER BY id",
                (day,),
            )
        ]

    def claim(self, reminder_id: int) -> bool:
        """queued -> sending; False when it is no longer queued."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE reminders SET status = 'sending', attempts = attempts + 1"
                " WHERE id = ? AND status = 'queued'",
                (reminder_id,),
            )
            return cur.rowcount == 1

    def sent(self, reminder_id: int, *, message_ref: int, now: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE reminders SET status = 'sent', message_ref = ?, sent_at = ?, error = NULL"
                " WHERE id = ?",
                (message_ref, now, reminder_id),
            )

    def send_failed(self, reminder_id: int, *, error: str) -> str:
        """Back to the queue for the next try, or failed after MAX_ATTEMPTS; the new status."""
        with self.store.transaction() as conn:
            attempts = conn.execute(
                "SELECT attempts FROM reminders WHERE id = ?", (reminder_id,)
            ).fetchone()[0]
            status = "failed" if attempts >= MAX_ATTEMPTS else "queued"
            conn.execute(
                "UPDATE reminders SET status = ?, error = ? WHERE id = ?",
                (status, error[:500], reminder_id),
            )
        return status

    def delivered(self, message_ref: int, *, since: str) -> int | None:
        """A status report for `message_ref`: the most recent sent reminder with it."""
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT id FROM reminders WHERE message_ref = ? AND status = 'sent'"
                " AND sent_at >= ? ORDER BY sent_at DESC LIMIT 1",
                (message_ref, since),
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE reminders SET status = 'delivered' WHERE id = ?", (row[0],))
            return int(row[0])

    def recover(self) -> int:
        """After a crash: a reminder left 'sending' may have gone out; it is marked failed
        rather than sent a second time."""
        with self.store.transaction() as conn:
            return conn.execute(
                "UPDATE reminders SET status = 'failed',"
                " error = 'interrupted while sending: may have been sent' WHERE status = 'sending'"
            ).rowcount
