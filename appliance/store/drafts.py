"""SQL for kiosk form drafts (see M005_DRAFTS)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.store.db import Store


class DraftRepo:
    def __init__(self, store: Store):
        self.store = store

    def save(
        self, *, staff_id: str, patient_id: str, kind: str, data: dict[str, Any], at: str
    ) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO drafts (staff_id, patient_id, kind, data, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (staff_id, patient_id, kind)"
                " DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                (staff_id, patient_id, kind, json.dumps(data, ensure_ascii=False), at),
            )

    def for_staff(self, staff_id: str) -> list[dict[str, Any]]:
        rows = self.store.query(
            "SELECT d.patient_id, d.kind, d.data, d.updated_at, p.family_name, p.given_names"
            " FROM drafts d JOIN patients p ON p.id = d.patient_id"
            " WHERE d.staff_id = ? ORDER BY d.updated_at DESC",
            (staff_id,),
        )
        return [{**r, "data": json.loads(r["data"])} for r in rows]

    def saved_since(self, at: str) -> int:
        """Drafts saved since then: a form someone is filling in on the kiosk."""
        row = self.store.query_one("SELECT COUNT(*) AS n FROM drafts WHERE updated_at >= ?", (at,))
        return int(row["n"]) if row else 0

    def delete(self, *, staff_id: str, patient_id: str, kind: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "DELETE FROM drafts WHERE staff_id = ? AND patient_id = ? AND kind = ?",
                (staff_id, patient_id, kind),
            )
