"""SQL for the stored follow-up items (table due_items, migration 11).

Each patient's items are replaced whole (delete, insert) in the caller's transaction. The
state of an item on a day is derived from its dates in SQL exactly as due.state_on does:
upcoming before due_date, due until overdue_from, overdue until defaulter_from, defaulter
until ends_on, then gone. Today's list is bounded by the longest tracing delay, the
defaulters by the longest list limit: every query reads an index range, never the table.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.clinical.due import DueItem
    from appliance.store.db import Store

COLUMNS = (
    "patient_id",
    "reason_code",
    "kind",
    "reason",
    "due_date",
    "upcoming_from",
    "overdue_from",
    "defaulter_from",
    "ends_on",
    "urgent",
    "village",
    "contact",
    "computed_on",
)
_INSERT = f"INSERT INTO due_items ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
STATE_SQL = (
    "CASE WHEN :on < due_date THEN 'upcoming' WHEN :on < overdue_from THEN 'due'"
    " WHEN :on < defaulter_from THEN 'overdue' ELSE 'defaulter' END"
)
PRIORITY_SQL = (
    "CASE WHEN urgent THEN 1 WHEN :on < due_date THEN 4 WHEN :on < overdue_from THEN 3"
    " WHEN :on < defaulter_from THEN 2 ELSE 5 END"
)
SORTS = {
    "priority": f"{PRIORITY_SQL}, due_date, patient_id, reason_code",
    "date": "due_date, patient_id, reason_code",
    "village": f"village = '', village, {PRIORITY_SQL}, due_date, patient_id, reason_code",
    "oldest": "due_date, patient_id, reason_code",
    "name": "json_extract(contact, '$.family_name'), json_extract(contact, '$.given_names'),"
    " patient_id, due_date, reason_code",
}
_SELECT = f"SELECT {', '.join(COLUMNS)}, {STATE_SQL} AS state, {PRIORITY_SQL} AS priority"


def row_of(item: DueItem, computed_on: str) -> tuple[Any, ...]:
    """A due.DueItem as a due_items row."""
    return (
        item.patient_id,
        item.reason_code,
        item.kind,
        item.reason,
        item.due_date.isoformat(),
        item.upcoming_from.isoformat(),
        item.overdue_from.isoformat(),
        item.defaulter_from.isoformat(),
        item.ends_on.isoformat(),
        int(item.urgent),
        item.contact.get("village") or "",
        json.dumps(item.contact, ensure_ascii=False, sort_keys=True),
        computed_on,
    )


def _item(row: Any, on: str) -> dict[str, Any]:
    d = dict(row)
    late = (date.fromisoformat(on) - date.fromisoformat(d["due_date"])).days
    return {
        "patient_id": d["patient_id"],
        "kind": d["kind"],
        "reason": d["reason"],
        "reason_code": d["reason_code"],
        "due_date": d["due_date"],
        "days_overdue": max(late, 0),
        "priority": d["priority"],
        "state": d["state"],
        "status": d["state"],
        "overdue_from": d["overdue_from"],
        "defaulter_from": d["defaulter_from"],
        "ends_on": d["ends_on"],
        "contact": json.loads(d["contact"]),
    }


def _unique(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One row per (patient, reason code): the first one the schedules gave (a rare record,
    e.g. a newborn's own postnatal contacts and a delivery on the same record, can give the
    same contact twice)."""
    return list({(r[0], r[1]): r for r in reversed(rows)}.values())[::-1]


class DueItemRepo:
    def __init__(self, store: Store):
        self.store = store

    # -- writes (inside the caller's transaction) ----------------------------------------------
    def replace(self, patient_ids: list[str], rows: list[tuple[Any, ...]]) -> None:
        """The items of `patient_ids` become `rows` (every row belongs to one of them)."""
        with self.store.transaction() as conn:
            conn.executemany(
                "DELETE FROM due_items WHERE patient_id = ?", [(p,) for p in patient_ids]
            )
            conn.executemany(_INSERT, _unique(rows))

    def replace_range(self, after: str, last: str | None, rows: list[tuple[Any, ...]]) -> None:
        """Rebuild step: every item of patient ids in (after, last] (to the end when `last`
        is None) becomes `rows`; merged or removed patients in the range lose theirs."""
        with self.store.transaction() as conn:
            if last is None:
                conn.execute("DELETE FROM due_items WHERE patient_id > ?", (after,))
            else:
                conn.execute(
                    "DELETE FROM due_items WHERE patient_id > ? AND patient_id <= ?", (after, last)
                )
            conn.executemany(_INSERT, _unique(rows))

    # -- reads -------------------------------------------------------------------------------
    def select(
        self,
        where: str,
        params: dict[str, Any],
        *,
        sort: str = "priority",
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(how many rows match, the page of them asked for)."""
        total = self.store.conn.execute(
            f"SELECT COUNT(*) FROM due_items WHERE {where}", params
        ).fetchone()[0]
        page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        rows = self.store.conn.execute(
            f"{_SELECT} FROM due_items WHERE {where} ORDER BY {SORTS[sort]}{page}", params
        )
        return total, [_item(r, params["on"]) for r in rows]

    def count(self, where: str, params: dict[str, Any]) -> int:
        return self.store.conn.execute(
            f"SELECT COUNT(*) FROM due_items WHERE {where}", params
        ).fetchone()[0]

    def villages(self, on: str) -> list[str]:
        rows = self.store.conn.execute(
            "SELECT DISTINCT village FROM due_items WHERE village != '' AND ends_on >= ?"
            " ORDER BY village",
            (on,),
        )
        return [r[0] for r in rows]

    def for_patient(self, patient_id: str, on: str) -> list[dict[str, Any]]:
        rows = self.store.conn.execute(
            f"{_SELECT} FROM due_items WHERE patient_id = :pid AND ends_on >= :on"
            f" ORDER BY {SORTS['priority']}",
            {"pid": patient_id, "on": on},
        )
        return [_item(r, on) for r in rows]

    def all_rows(self) -> list[tuple[Any, ...]]:
        """Every stored row without computed_on, sorted (tests compare it to a rebuild)."""
        cols = ", ".join(c for c in COLUMNS if c != "computed_on")
        return [
            tuple(r)
            for r in self.store.conn.execute(
                f"SELECT {cols} FROM due_items ORDER BY patient_id, reason_code"
            )
        ]
