"""SQL for encounters: append-only versions, each correction superseding the one before."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from appliance.store.schema import ENCOUNTER_COLUMNS

if TYPE_CHECKING:
    from appliance.store.db import Store

COLUMNS = ENCOUNTER_COLUMNS
# The encounter fields the due-list rules read (appliance/clinical/due.py), by type.
DUE_FIELDS = {
    "immunization": ("antigen", "dose"),
    "growth": ("weight_kg",),
    "anc": ("lmp", "gestational_age_weeks", "td_dose", "iptp_dose"),
    "delivery": ("child_id", "outcome"),
    "postnatal": ("subject", "days_after_birth"),
    "family_planning": ("method", "removal", "quantity", "user"),
    "chronic": ("condition", "next_visit"),
}
DUE_WIDTH = max(len(f) for f in DUE_FIELDS.values())
_SELECT = f"SELECT {', '.join('e.' + c for c in COLUMNS)} FROM encounters e"
# The current version of a chain is the one nothing supersedes.
CURRENT = "NOT EXISTS (SELECT 1 FROM encounters s WHERE s.supersedes = e.id)"


def _decode(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is not None:
        row["data"] = json.loads(row["data"])
        row["voided"] = bool(row["voided"])
        row["clock_trusted"] = bool(row["clock_trusted"])
    return row


def encode(row: dict[str, Any]) -> tuple[Any, ...]:
    values = {**row, "data": json.dumps(row["data"], ensure_ascii=False, sort_keys=True)}
    values["voided"] = int(bool(values.get("voided")))
    values["clock_trusted"] = int(bool(values["clock_trusted"]))
    return tuple(values.get(c) for c in COLUMNS)


_INSERT = f"INSERT INTO encounters ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


class EncounterRepo:
    def __init__(self, store: Store):
        self.store = store

    def insert(self, row: dict[str, Any]) -> None:
        with self.store.transaction() as conn:
            conn.execute(_INSERT, encode(row))

    def insert_many(self, rows: list[dict[str, Any]]) -> None:
        with self.store.transaction() as conn:
            conn.executemany(_INSERT, [encode(r) for r in rows])

    def get(self, encounter_id: str) -> dict[str, Any] | None:
        return _decode(self.store.query_one(f"{_SELECT} WHERE e.id = ?", (encounter_id,)))

    def superseded_by(self, encounter_id: str) -> str | None:
        row = self.store.conn.execute(
            "SELECT id FROM encounters WHERE supersedes = ?", (encounter_id,)
        ).fetchone()
        return row[0] if row else None

    def for_patient(
        self, patient_id: str, *, include_history: bool = False, include_voided: bool = False
    ) -> list[dict[str, Any]]:
        """A patient's encounters, oldest care first. By default only current, non-voided
        versions — what a clinician and the reports should see."""
        where = ["e.patient_id = ?"]
        if not include_history:
            where.append(CURRENT)
        if not include_voided:
            where.append("e.voided = 0")
        rows = self.store.query(
            f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY e.care_date, e.recorded_at",
            (patient_id,),
        )
        return [_decode(r) for r in rows]  # type: ignore[misc]

    def chain(self, encounter_id: str) -> list[dict[str, Any]]:
        """Every version of one encounter, first written first."""
        rows = self.store.query(
            f"""WITH RECURSIVE back(id, supersedes) AS (
                    SELECT id, supersedes FROM encounters WHERE id = :id
                    UNION SELECT e.id, e.supersedes FROM encounters e JOIN back b
                          ON e.id = b.supersedes),
                fwd(id) AS (
                    SELECT :id UNION SELECT e.id FROM encounters e JOIN fwd f
                          ON e.supersedes = f.id)
                {_SELECT} WHERE e.id IN (SELECT id FROM back UNION SELECT id FROM fwd)
                ORDER BY e.recorded_at, e.id""",
            {"id": encounter_id},
        )
        return [_decode(r) for r in rows]  # type: ignore[misc]

    def patients_seen_since(self, care_from: str) -> list[str]:
        """Patients with current care dated `care_from` or later, most recent first."""
        rows = self.store.conn.execute(
            f"SELECT e.patient_id FROM encounters e WHERE e.care_date >= ? AND e.voided = 0"
            f" AND {CURRENT} GROUP BY e.patient_id ORDER BY MAX(e.care_date) DESC",
            (care_from,),
        )
        return [r[0] for r in rows]

    def for_due_list(
        self, *, recent_from: str, after: str | None = None, last: str | None = None
    ) -> list[tuple[str, str, str, str, dict]]:
        """What can make someone due, facility-wide, as (patient_id, id, type, care_date,
        data), `data` holding only the fields the due rules read: every vaccine, the latest
        weighing of each patient, pregnancies and births since `recent_from` (and every Td
        dose given at an antenatal contact), family planning and chronic care.
        Consultations never make anyone due and are not read; json_extract in SQL is far
        cheaper than decoding whole records in Python. With
        `after` (and `last`), only the patients whose ids are in (after, last]."""
        branches, params = [], {"recent": recent_from, "after": after, "last": last}
        span = ""
        if after is not None:
            span = " AND e.patient_id > :after"
            if last is not None:
                span += " AND e.patient_id <= :last"
        for kind, fields in DUE_FIELDS.items():
            cols = ", ".join(f"json_extract(e.data, '$.{f}')" for f in fields)
            where = f"e.type = '{kind}' AND e.voided = 0 AND {CURRENT}{span}"
            if kind == "anc":  # Td doses count across pregnancies
                where += " AND (e.care_date >= :recent OR json_extract(e.data, '$.td_dose'))"
            elif kind in ("delivery", "postnatal"):
                where += " AND e.care_date >= :recent"
            pad = ", NULL" * (DUE_WIDTH - len(fields))
            if kind == "growth":  # only the latest weighing matters
                branches.append(
                    f"SELECT e.patient_id, e.id, e.type, MAX(e.care_date), {cols}{pad}"
                    f" FROM encounters e WHERE {where}"
                    " AND json_extract(e.data, '$.weight_kg') IS NOT NULL GROUP BY e.patient_id"
                )
            else:
                branches.append(
                    f"SELECT e.patient_id, e.id, e.type, e.care_date, {cols}{pad}"
                    f" FROM encounters e WHERE {where}"
                )
        out = []
        rows = self.store.conn.execute(" UNION ALL ".join(branches), params)
        for pid, eid, kind, care_date, *values in rows:
            data = {k: v for k, v in zip(DUE_FIELDS[kind], values, strict=False) if v is not None}
            out.append((pid, eid, kind, care_date, data))
        return out

    def count_by_type(self) -> dict[str, int]:
        rows = self.store.conn.execute(
            "SELECT type, COUNT(*) FROM encounters GROUP BY type ORDER BY 2 DESC"
        )
        return dict(rows.fetchall())

    def count(self) -> int:
        return self.store.conn.execute("SELECT COUNT(*) FROM encounters").fetchone()[0]
