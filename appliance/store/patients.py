"""SQL for patients: registration, look-up, name search, duplicate candidates, merge."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from appliance.domain.names import NAME_KEY_VERSION, fold, name_key, name_keys
from appliance.ids import health_number, uuid7

if TYPE_CHECKING:
    from appliance.store.db import Store

PATIENT_COLUMNS = (
    "id, sequence, health_number, family_name, given_names, sex, birth_date, "
    "birth_date_estimated, village, phone, mother_id, registered_by, registered_at, merged_into, "
    "sms_consent, sms_language"
)
# What staff may correct on a registration (the rest is assigned by the store).
EDITABLE_FIELDS = (
    "family_name",
    "given_names",
    "sex",
    "birth_date",
    "birth_date_estimated",
    "village",
    "phone",
    "mother_id",
    "sms_consent",
    "sms_language",
)
_P_COLUMNS = ", ".join(f"p.{c.strip()}" for c in PATIENT_COLUMNS.split(","))


def search_columns(family_name: str, given_names: str) -> dict[str, str]:
    """What the search index holds for a name: folded words and their phonetic keys."""
    family_words = fold(family_name).split()
    return {
        "search_names": fold(f"{family_name} {given_names}"),
        "search_keys": " ".join(name_keys(f"{family_name} {given_names}")),
        "family_key": "".join(name_key(w) for w in family_words),
    }


def _clean(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is not None:
        row["birth_date_estimated"] = bool(row["birth_date_estimated"])
        if "sms_consent" in row:
            row["sms_consent"] = bool(row["sms_consent"])
    return row


class PatientRepo:
    def __init__(self, store: Store):
        self.store = store

    def insert(
        self,
        fields: dict[str, Any],
        *,
        registered_by: str | None,
        registered_at: str,
        facility_code: str,
        patient_id: str | None = None,
    ) -> dict[str, Any]:
        """Register one patient; the sequence and health number are taken in the same
        transaction so two tablets can never get the same number."""
        with self.store.transaction() as conn:
            seq = conn.execute("SELECT COALESCE(MAX(sequence), 0) + 1 FROM patients").fetchone()[0]
            row = {
                "id": patient_id or uuid7(),
                "sequence": seq,
                "health_number": health_number(facility_code, seq),
                "family_name": fields["family_name"],
                "given_names": fields["given_names"],
                "sex": fields["sex"],
                "birth_date": fields["birth_date"],
                "birth_date_estimated": int(bool(fields.get("birth_date_estimated"))),
                "village": fields.get("village"),
                "phone": fields.get("phone"),
                "mother_id": fields.get("mother_id"),
                "sms_consent": int(bool(fields.get("sms_consent"))),
                "sms_language": fields.get("sms_language") or "fr",
                "registered_by": registered_by,
                "registered_at": registered_at,
                **search_columns(fields["family_name"], fields["given_names"]),
            }
            conn.execute(
                f"INSERT INTO patients ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
        return self.get(row["id"])  # type: ignore[return-value]

    def insert_many(self, rows: list[dict[str, Any]]) -> None:
        """Bulk load for the synthetic facility: rows already carry id, sequence, number."""
        if not rows:
            return
        rows = [{**r, **search_columns(r["family_name"], r["given_names"])} for r in rows]
        cols = list(rows[0])
        with self.store.transaction() as conn:
            conn.executemany(
                f"INSERT INTO patients ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [tuple(r[c] for c in cols) for r in rows],
            )

    def get(self, patient_id: str) -> dict[str, Any] | None:
        return _clean(
            self.store.query_one(
                f"SELECT {PATIENT_COLUMNS} FROM patients WHERE id = ?", (patient_id,)
            )
        )

    def get_by_sequence(self, sequence: int) -> dict[str, Any] | None:
        return _clean(
            self.store.query_one(
                f"SELECT {PATIENT_COLUMNS} FROM patients WHERE sequence = ?", (sequence,)
            )
        )

    def active_after(self, after: str, limit: int) -> list[dict[str, Any]]:
        """The next `limit` patients not merged into another record, by id after `after`,
        with what the follow-up lists need (the nightly rebuild walks them in batches)."""
        cols = (
            "id",
            "health_number",
            "family_name",
            "given_names",
            "sex",
            "birth_date",
            "village",
            "phone",
            "mother_id",
        )
        rows = self.store.conn.execute(
            f"SELECT {', '.join(cols)} FROM patients WHERE id > ? AND merged_into IS NULL"
            " ORDER BY id LIMIT ?",
            (after, limit),
        )
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def get_many(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Patients by id (absent ids left out)."""
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self.store.query(
                f"SELECT {PATIENT_COLUMNS} FROM patients"
                f" WHERE id IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            out.update((r["id"], _clean(r)) for r in rows)  # type: ignore[misc]
        return out

    def by_phone(self, phone: str) -> list[dict[str, Any]]:
        return [
            _clean(r)
            for r in self.store.query(
                f"SELECT {PATIENT_COLUMNS} FROM patients"
                " WHERE phone = ? AND merged_into IS NULL ORDER BY sequence",
                (phone,),
            )
        ]

    def merged_into_this(self, patient_id: str) -> list[str]:
        """Ids of the duplicate records merged into this one, oldest merge first."""
        rows = self.store.query(
            "SELECT merged_id FROM merges WHERE kept_id = ? ORDER BY at", (patient_id,)
        )
        return [r["merged_id"] for r in rows]

    def children(self, mother_id: str) -> list[dict[str, Any]]:
        return [
            _clean(r)
            for r in self.store.query(
                f"SELECT {PATIENT_COLUMNS} FROM patients"
                " WHERE mother_id = ? AND merged_into IS NULL ORDER BY birth_date",
                (mother_id,),
            )
        ]

    def match(
        self,
        fts_query: str,
        *,
        sex: str | None = None,
        born_after: str | None = None,
        born_before: str | None = None,
        village: str | None = None,
        limit: int = 20,
    ) -> list[dict[str, Any]]:
        """Patients whose indexed names match an FTS5 query, filtered, the most recently seen
        first (never seen last, then the newest registration first), with `last_visit`.

        The matches are sorted on patient_recency alone and only the page's patient rows are
        read: a common name matches thousands of patients."""
        where, params = ["patients_fts MATCH ?", "r.active = 1"], [fts_query]
        for condition, value in (
            ("f.sex = ?", sex),
            ("f.birth_date >= ?", born_after),
            ("f.birth_date <= ?", born_before),
            ("f.village = ? COLLATE NOCASE", village),
        ):
            if value:
                where.append(condition)
                params.append(value)
        filtered = len(where) > 2
        sql = (
            f"SELECT {_P_COLUMNS}, m.last_visit FROM ("
            " SELECT r.patient_rowid, r.last_visit FROM patients_fts"
            " JOIN patient_recency r ON r.patient_rowid = patients_fts.rowid"
            + (" JOIN patients f ON f.rowid = r.patient_rowid" if filtered else "")
            + f" WHERE {' AND '.join(where)}"
            " ORDER BY r.last_visit DESC, r.patient_rowid DESC LIMIT ?"
            ") m JOIN patients p ON p.rowid = m.patient_rowid"
            " ORDER BY m.last_visit DESC, m.patient_rowid DESC"
        )
        return [_clean(r) for r in self.store.query(sql, (*params, limit))]

    def similar(self, *, family_key: str, born_from: str, born_to: str) -> list[dict[str, Any]]:
        """Possible duplicates: same phonetic family name, birth date in a range."""
        return [
            _clean(r)
            for r in self.store.query(
                f"SELECT {PATIENT_COLUMNS} FROM patients"
                " WHERE family_key = ? AND birth_date BETWEEN ? AND ? AND merged_into IS NULL",
                (family_key, born_from, born_to),
            )
        ]

    def update(self, patient_id: str, fields: dict[str, Any]) -> None:
        allowed = set(EDITABLE_FIELDS)
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        current = self.get(patient_id)
        if current is None:
            raise KeyError(patient_id)
        merged = {**current, **fields}
        fields = {**fields, **search_columns(merged["family_name"], merged["given_names"])}
        with self.store.transaction() as conn:
            conn.execute(
                f"UPDATE patients SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                (*fields.values(), patient_id),
            )

    def merge(self, *, kept_id: str, merged_id: str, staff_id: str, at: str, reason: str) -> int:
        """Move every encounter (and child link) of `merged_id` to `kept_id`; keep the other
        record as merged-into. Returns the number of encounters moved."""
        with self.store.transaction() as conn:
            moved = conn.execute(
                "UPDATE encounters SET patient_id = ? WHERE patient_id = ?", (kept_id, merged_id)
            ).rowcount
            conn.execute(
                "UPDATE patients SET mother_id = ? WHERE mother_id = ?", (kept_id, merged_id)
            )
            conn.execute("UPDATE patients SET merged_into = ? WHERE id = ?", (kept_id, merged_id))
            conn.execute(
                "INSERT INTO merges (id, kept_id, merged_id, staff_id, at, reason,"
                " encounters_moved) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (uuid7(), kept_id, merged_id, staff_id, at, reason, moved),
            )
        return moved

    def refresh_search_columns(self, batch: int = 1000) -> int:
        """Bring the stored search columns to the current phonetic key (NAME_KEY_VERSION),
        `batch` patients per short transaction so that other writers wait at most one batch.
        Resumable: the last patient done is kept in the settings, and a store opened again
        carries on from there. Returns the number of patients whose columns changed; does
        nothing (one read) once the columns are current."""
        version = str(NAME_KEY_VERSION)
        if self.store.get_setting("name_key_version") == version:
            return 0
        progress = (self.store.get_setting("name_key_rebuild") or "").split(":")
        after = int(progress[1]) if len(progress) == 2 and progress[0] == version else 0
        changed = 0
        while True:
            with self.store.transaction() as conn:
                rows = conn.execute(
                    "SELECT rowid, family_name, given_names, search_names, search_keys,"
                    " family_key FROM patients WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    (after, batch),
                ).fetchall()
                for row in rows:
                    new = search_columns(row["family_name"], row["given_names"])
                    if tuple(new.values()) != (
                        row["search_names"],
                        row["search_keys"],
                        row["family_key"],
                    ):
                        conn.execute(
                            "UPDATE patients SET search_names = ?, search_keys = ?,"
                            " family_key = ? WHERE rowid = ?",
                            (*new.values(), row["rowid"]),
                        )
                        changed += 1
                # the settings writes join this batch's transaction
                if rows:
                    after = rows[-1]["rowid"]
                    self.store.set_setting("name_key_rebuild", f"{version}:{after}")
                else:
                    self.store.set_settings({"name_key_rebuild": None, "name_key_version": version})
                    return changed

    def count(self) -> int:
        return self.store.conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0]
