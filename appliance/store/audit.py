"""SQL for the append-only audit trail."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.store.db import Store

_COLUMNS = (
    "at",
    "clock_trusted",
    "staff_id",
    "username",
    "role",
    "action",
    "patient_id",
    "encounter_id",
    "detail",
)


class AuditRepo:
    def __init__(self, store: Store):
        self.store = store

    def append(self, entry: dict[str, Any]) -> None:
        row = {**entry, "clock_trusted": int(bool(entry["clock_trusted"]))}
        if isinstance(row.get("detail"), dict | list):
            row["detail"] = json.dumps(row["detail"], ensure_ascii=False, sort_keys=True)
        with self.store.transaction() as conn:
            conn.execute(
                f"INSERT INTO audit ({', '.join(_COLUMNS)})"
                f" VALUES ({', '.join('?' * len(_COLUMNS))})",
                tuple(row.get(c) for c in _COLUMNS),
            )

    def for_patient(self, patient_id: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self.store.query(
            f"SELECT id, {', '.join(_COLUMNS)} FROM audit WHERE patient_id = ?"
            " ORDER BY id DESC LIMIT ?",
            (patient_id, limit),
        )
        for r in rows:
            r["clock_trusted"] = bool(r["clock_trusted"])
            if r["detail"] and r["detail"][:1] in "{[":
                r["detail"] = json.loads(r["detail"])
        return rows

    def last_of(self, action: str) -> dict[str, Any] | None:
        """The newest row of an action (e.g. who asked for the update being installed)."""
        return self.store.query_one(
            f"SELECT id, {', '.join(_COLUMNS)} FROM audit WHERE action = ? ORDER BY id DESC"
            " LIMIT 1",
            (action,),
        )

    def count(self) -> int:
        return self.store.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
