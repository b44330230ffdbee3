"""SQL for referrals: the form written once, the counter-referral once, the urgent SMS's state."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.store.db import Store

_FORM_COLUMNS = (
    "id",
    "patient_id",
    "care_date",
    "urgency",
    "reason",
    "to_facility",
    "evacuation",
    "data",
    "staff_id",
    "recorded_at",
    "sms_status",
    "sms_phone",
    "sms_text",
)
_SELECT = (
    "SELECT r.*, p.health_number, p.family_name, p.given_names, p.sex, p.birth_date,"
    " s.display_name AS staff_name, b.display_name AS return_staff_name"
    " FROM referrals r JOIN patients p ON p.id = r.patient_id"
    " JOIN staff s ON s.id = r.staff_id LEFT JOIN staff b ON b.id = r.return_staff_id"
)
# An urgent SMS not sent within this many hours (no network since) is not sent at all: "en
# route, départ 14:20" read the next day misleads; the referral page tells the staff to phone.
SMS_STALE_AFTER_H = 6
# An urgent SMS refused this many times is left failed (no credit, a wrong duty number): the
# referral page says so and the staff phone instead.
MAX_SMS_ATTEMPTS = 3


def _decode(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is not None:
        row["data"] = json.loads(row["data"])
        row["return_data"] = json.loads(row["return_data"]) if row["return_data"] else None
        row["evacuation"] = bool(row["evacuation"])
    return row


class ReferralRepo:
    def __init__(self, store: Store):
        self.store = store

    def insert(self, row: dict[str, Any]) -> None:
        values = {**row, "data": json.dumps(row["data"], ensure_ascii=False, sort_keys=True)}
        values["evacuation"] = int(bool(row["evacuation"]))
        with self.store.transaction() as conn:
            conn.execute(
                f"INSERT INTO referrals ({', '.join(_FORM_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(_FORM_COLUMNS))})",
                tuple(values.get(c) for c in _FORM_COLUMNS),
            )

    def get(self, referral_id: str) -> dict[str, Any] | None:
        return _decode(self.store.query_one(f"{_SELECT} WHERE r.id = ?", (referral_id,)))

    def for_patient(self, patient_id: str) -> list[dict[str, Any]]:
        """The patient's referrals, newest first (voided ones too: the record shows them)."""
        return [
            _decode(r)  # type: ignore[misc]
            for r in self.store.query(
                f"{_SELECT} WHERE r.patient_id = ? ORDER BY r.care_date DESC, r.recorded_at DESC",
                (patient_id,),
            )
        ]

    def awaiting(
        self, *, since: str, before: str | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Referrals from `since` whose patient has not come back with the answer, oldest
        first; `before`: only those referred before that day (late returns)."""
        where = "r.returned_on IS NULL AND r.voided_reason IS NULL AND r.care_date >= ?"
        args: tuple[Any, ...] = (since,)
        if before is not None:
            where += " AND r.care_date < ?"
            args = (since, before)
        return [
            _decode(r)  # type: ignore[misc]
            for r in self.store.query(
                f"{_SELECT} WHERE {where} ORDER BY r.care_date, r.recorded_at LIMIT ?",
                (*args, limit),
            )
        ]

    def count_awaiting(self, *, since: str, before: str | None = None) -> int:
        sql = (
            "SELECT COUNT(*) AS n FROM referrals WHERE returned_on IS NULL"
            " AND voided_reason IS NULL AND care_date >= ?"
        )
        row = self.store.query_one(
            sql + (" AND care_date < ?" if before else ""), (since, before) if before else (since,)
        )
        return int(row["n"]) if row else 0

    def between(self, start: str, end: str, *, limit: int = 2000) -> list[dict[str, Any]]:
        """Referrals made from `start` to `end` (days, inclusive), newest first."""
        return [
            _decode(r)  # type: ignore[misc]
            for r in self.store.query(
                f"{_SELECT} WHERE r.care_date BETWEEN ? AND ?"
                " ORDER BY r.care_date DESC, r.recorded_at DESC LIMIT ?",
                (start, end, limit),
            )
        ]

    def counts_by_reason(self, start: str, end: str) -> list[dict[str, Any]]:
        """Referrals and evacuations of a period by reason (the monthly report's rows)."""
        return self.store.query(
            "SELECT reason, COUNT(*) AS referrals, SUM(evacuation) AS evacuations,"
            " SUM(returned_on IS NOT NULL) AS returned FROM referrals"
            " WHERE care_date BETWEEN ? AND ? AND voided_reason IS NULL"
            " GROUP BY reason ORDER BY referrals DESC, reason",
            (start, end),
        )

    def record_return(
        self, referral_id: str, *, returned_on: str, data: dict[str, Any], staff_id: str, now: str
    ) -> bool:
        """Write the counter-referral; False when another tablet wrote it first."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE referrals SET returned_on = ?, return_data = ?, return_staff_id = ?,"
                " return_recorded_at = ? WHERE id = ? AND returned_on IS NULL",
                (
                    returned_on,
                    json.dumps(data, ensure_ascii=False, sort_keys=True),
                    staff_id,
                    now,
                    referral_id,
                ),
            )
            return cur.rowcount == 1

    def void(self, referral_id: str, *, reason: str) -> bool:
        """Withdraw a referral written in error; its queued SMS is not sent."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE referrals SET voided_reason = ?,"
                " sms_status = CASE sms_status WHEN 'queued' THEN 'failed' ELSE sms_status END,"
                " sms_error = CASE sms_status WHEN 'queued' THEN 'voided' ELSE sms_error END"
                " WHERE id = ? AND voided_reason IS NULL",
                (reason, referral_id),
            )
            return cur.rowcount == 1

    # -- the urgent SMS, sent by the modem daemon --------------------------------------------
    def sms_to_send(self, limit: int = 20) -> list[dict[str, Any]]:
        return self.store.query(
            "SELECT id, patient_id, sms_phone, sms_text FROM referrals"
            " WHERE sms_status = 'queued' ORDER BY recorded_at LIMIT ?",
            (limit,),
        )

    def sms_expire(self, before: str) -> int:
        """Queued SMS of referrals recorded before `before` (an ISO time) are marked failed."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE referrals SET sms_status = 'failed',"
                " sms_error = 'not sent in time (no network): phone the receiving facility'"
                " WHERE sms_status = 'queued' AND recorded_at < ?",
                (before,),
            )
            return cur.rowcount

    def sms_claim(self, referral_id: str) -> bool:
        """queued -> sending; False when it is no longer queued."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE referrals SET sms_status = 'sending', sms_attempts = sms_attempts + 1"
                " WHERE id = ? AND sms_status = 'queued'",
                (referral_id,),
            )
            return cur.rowcount == 1

    def sms_sent(self, referral_id: str, *, message_ref: int, now: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE referrals SET sms_status = 'sent', sms_ref = ?, sms_sent_at = ?,"
                " sms_error = NULL WHERE id = ?",
                (message_ref, now, referral_id),
            )

    def sms_failed(self, referral_id: str, *, error: str) -> str:
        """Back to the queue, or failed after MAX_SMS_ATTEMPTS; the new status."""
        with self.store.transaction() as conn:
            attempts = conn.execute(
                "SELECT sms_attempts FROM referrals WHERE id = ?", (referral_id,)
            ).fetchone()[0]
            status = "failed" if attempts >= MAX_SMS_ATTEMPTS else "queued"
            conn.execute(
                "UPDATE referrals SET sms_status = ?, sms_error = ? WHERE id = ?",
                (status, error[:300], referral_id),
            )
        return status

    def sms_recover(self) -> int:
        """SMS left 'sending' by a daemon killed mid-send go back to the queue: the duty phone
        may get the warning twice, which is better than not at all."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE referrals SET sms_status = 'queued' WHERE sms_status = 'sending'"
            )
            return cur.rowcount
