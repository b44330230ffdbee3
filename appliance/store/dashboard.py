"""SQL for the dashboard (migration 19): the stored monthly counts, the marks of stale months
that the encounter and patient triggers write, and the rows each family of indicators is
counted from (appliance/reports/dashboard_counts.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from appliance.reports.dashboard_definitions import FAMILIES
from appliance.reports.monthly import Dose, Period
from appliance.store.encounters import CURRENT

if TYPE_CHECKING:
    from appliance.store.db import Store

_LIVE = f"e.voided = 0 AND {CURRENT}"
_JOIN = "FROM encounters e JOIN patients p ON p.id = e.patient_id"
# Every encounter type, so that the (type, care_date) index reads a month by ranges.
_ANY_TYPE = (
    "e.type IN ('consultation', 'anc', 'delivery', 'postnatal', 'immunization', 'growth',"
    " 'family_planning', 'chronic')"
)
_GROWTH_FIELDS = ("weight_kg", "height_cm", "muac_mm", "oedema", "measured")


def _d(text: str) -> date:
    return date.fromisoformat(text)


def _month_params(period: Period) -> dict[str, str]:
    return {"start": period.start.isoformat(), "end": period.end.isoformat()}


class DashboardRepo:
    def __init__(self, store: Store):
        self.store = store
        self.computed: list[tuple[str, str]] = []  # (month, family) computed by this process

    # -- what is stale ---------------------------------------------------------------------
    def stale(self) -> tuple[int, set[tuple[str, str]]]:
        """(the newest mark's id, every (month, family) marked). A whole-month mark ('*', a
        merge or a changed birth date) becomes one mark per family first, so that a count
        stopped halfway through the month (a power cut) leaves the rest of it marked."""
        whole = "SELECT 1 FROM dashboard_stale WHERE family = '*' LIMIT 1"
        if self.store.conn.execute(whole).fetchone():  # a write lock only when there is one
            with self.store.transaction() as conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO dashboard_stale (month, family)"
                    " SELECT month, ? FROM dashboard_stale WHERE family = '*'",
                    [(f,) for f in FAMILIES],
                )
                conn.execute("DELETE FROM dashboard_stale WHERE family = '*'")
        rows = self.store.conn.execute("SELECT id, month, family FROM dashboard_stale").fetchall()
        return max((r[0] for r in rows), default=0), {(r[1], r[2]) for r in rows}

    def fresh(self, months: list[str]) -> set[tuple[str, str]]:
        rows = self.store.conn.execute(
            "SELECT month, family FROM dashboard_fresh WHERE month BETWEEN ? AND ?",
            (months[0], months[-1]),
        )
        return {(m, f) for m, f in rows}

    def forget(self, family: str) -> None:
        """Every month of `family` is to be computed again (its rules changed)."""
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM dashboard_fresh WHERE family = ?", (family,))

    def schedule(self) -> list[tuple[str, int, int]]:
        rows = self.store.conn.execute(
            "SELECT antigen, dose, days FROM dashboard_schedule ORDER BY antigen, dose"
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]

    def set_schedule(self, rules: Iterable[tuple[str, int, int]]) -> None:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM dashboard_schedule")
            conn.executemany("INSERT INTO dashboard_schedule VALUES (?, ?, ?)", list(rules))
            conn.execute("DELETE FROM dashboard_fresh WHERE family IN ('followup', 'fic')")

    # -- stored counts ---------------------------------------------------------------------
    def replace(
        self,
        month: str,
        family: str,
        codes: tuple[str, ...],
        cells: dict[tuple[str, str, str], int],
        *,
        marks_until: int,
        computed_at: str,
    ) -> None:
        """The month's counts of `codes` become `cells`; the family's marks of the month up
        to `marks_until` are cleared (a later write marked it again and stays marked)."""
        with self.store.transaction() as conn:
            conn.execute(
                f"DELETE FROM dashboard_counts WHERE month = ?"
                f" AND indicator IN ({', '.join('?' * len(codes))})",
                (month, *codes),
            )
            conn.executemany(
                "INSERT INTO dashboard_counts (month, indicator, sex, key, n)"
                " VALUES (?, ?, ?, ?, ?)",
                [(month, c, s, k, n) for (c, s, k), n in cells.items() if n],
            )
            conn.execute(
                "DELETE FROM dashboard_stale WHERE month = ? AND family = ? AND id <= ?",
                (month, family, marks_until),
            )
            conn.execute(
                "INSERT OR REPLACE INTO dashboard_fresh (month, family, computed_at)"
                " VALUES (?, ?, ?)",
                (month, family, computed_at),
            )
        self.computed.append((month, family))

    def counts(self, first: str, last: str) -> dict[tuple[str, str, str, str], int]:
        rows = self.store.conn.execute(
            "SELECT month, indicator, sex, key, n FROM dashboard_counts"
            " WHERE month BETWEEN ? AND ?",
            (first, last),
        )
        return {(m, c, s, k): n for m, c, s, k, n in rows}

    # -- the rows each family is counted from -----------------------------------------------
    def immunizations(self, period: Period) -> Iterator[tuple[str, date, date, str, int]]:
        rows = self.store.conn.execute(
            "SELECT p.sex, p.birth_date, e.care_date, json_extract(e.data, '$.antigen'),"
            f" json_extract(e.data, '$.dose') {_JOIN} WHERE e.type = 'immunization'"
            f" AND e.care_date BETWEEN :start AND :end AND {_LIVE}",
            _month_params(period),
        )
        for sex, birth, care_date, antigen, dose in rows:
            yield sex, _d(birth), _d(care_date), antigen, int(dose)

    def doses_of_children_born(self, born_from: date, born_to: date) -> Iterator[Dose]:
        """Every current dose of the children born between the two dates, read child by
        child ("+": not through every immunization since the first birth date)."""
        rows = self.store.conn.execute(
            "SELECT e.patient_id, p.sex, p.birth_date, json_extract(e.data, '$.antigen'),"
            f" json_extract(e.data, '$.dose'), e.care_date {_JOIN}"
            " WHERE p.birth_date BETWEEN :a AND :b AND p.merged_into IS NULL"
            f" AND +e.type = 'immunization' AND {_LIVE}",
            {"a": born_from.isoformat(), "b": born_to.isoformat()},
        )
        for pid, sex, birth, antigen, dose, care_date in rows:
            yield Dose(pid, sex, _d(birth), antigen, int(dose), _d(care_date))

    def antenatal(self, period: Period) -> dict[str, list[tuple]]:
        """The contacts of the women seen for ANC in the month, from the start of the
        pregnancies still running in it."""
        rows = self.store.conn.execute(
            "SELECT e.patient_id, e.care_date, json_extract(e.data, '$.contact_number'),"
            " json_extract(e.data, '$.iptp_dose'), json_extract(e.data, '$.lmp'),"
            " json_extract(e.data, '$.gestational_age_weeks') FROM encounters e"
            " WHERE e.type = 'anc' AND e.care_date BETWEEN :from AND :end AND e.voided = 0"
            f" AND {CURRENT} AND e.patient_id IN (SELECT m.patient_id FROM encounters m"
            " WHERE m.type = 'anc' AND m.care_date BETWEEN :start AND :end AND m.voided = 0)",
            {**_month_params(period), "from": period.anc_lookback_start.isoformat()},
        )
        women: dict[str, list[tuple]] = {}
        for pid, care_date, number, iptp, lmp, ga in rows:
            women.setdefault(pid, []).append(
                (_d(care_date), number, iptp, _d(lmp) if lmp else None, ga)
            )
        return women

    def deliveries(self, period: Period) -> list[tuple[date, bool]]:
        rows = self.store.conn.execute(
            "SELECT e.care_date, json_extract(e.data, '$.skilled_attendant') FROM encounters e"
            f" WHERE e.type = 'delivery' AND e.care_date BETWEEN :start AND :end AND {_LIVE}",
            _month_params(period),
        )
        # the model's default: skilled unless recorded otherwise
        return [(_d(c), skilled is None or bool(skilled)) for c, skilled in rows]

    def postnatal(self, period: Period) -> list[tuple[str, str, date, str, int]]:
        rows = self.store.conn.execute(
            "SELECT e.patient_id, p.sex, e.care_date, json_extract(e.data, '$.subject'),"
            f" json_extract(e.data, '$.days_after_birth') {_JOIN} WHERE e.type = 'postnatal'"
            f" AND e.care_date BETWEEN :start AND :end AND {_LIVE}",
            _month_params(period),
        )
        return [(pid, sex, _d(c), subject, days) for pid, sex, c, subject, days in rows]

    def growth_visits(
        self, first: date, last: date, patients: Iterable[str] | None = None
    ) -> list[tuple[str, str, str, date, date, bool, str | None, dict[str, Any] | None]]:
        """Growth visits from `first` to `last` (of `patients` only, when given): (encounter,
        patient, sex, birth date, care date, weighed, stored nutrition status, and the
        measures only when no status is stored)."""
        cols = ", ".join(
            f"CASE WHEN g.status IS NULL THEN json_extract(e.data, '$.{f}') END"
            for f in _GROWTH_FIELDS
        )
        sql = (
            "SELECT e.id, e.patient_id, p.sex, p.birth_date, e.care_date,"
            f" json_extract(e.data, '$.weight_kg') IS NOT NULL, g.status, {cols} {_JOIN}"
            " LEFT JOIN dashboard_growth_status g ON g.encounter_id = e.id"
            f" WHERE e.type = 'growth' AND e.care_date BETWEEN ? AND ? AND {_LIVE}"
        )
        params: list[Any] = [first.isoformat(), last.isoformat()]
        if patients is None:
            rows = self.store.conn.execute(sql, params).fetchall()
        else:
            ids, rows = list(patients), []
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                rows += self.store.conn.execute(
                    f"{sql} AND e.patient_id IN ({', '.join('?' * len(chunk))})",
                    [*params, *chunk],
                ).fetchall()
        out = []
        for eid, pid, sex, birth, care_date, weighed, status, *values in rows:
            data = (
                None
                if status is not None
                else {k: v for k, v in zip(_GROWTH_FIELDS, values, strict=True) if v is not None}
            )
            out.append((eid, pid, sex, _d(birth), _d(care_date), bool(weighed), status, data))
        return out

    def keep_growth_statuses(self, statuses: Iterable[tuple[str, str, str, date]]) -> None:
        """(encounter, status, sex, birth date it was worked out from): kept only while the
        child's sex and birth date are still those (a change made meanwhile wins)."""
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO dashboard_growth_status (encounter_id, status)"
                " SELECT e.id, ? FROM encounters e JOIN patients p ON p.id = e.patient_id"
                " WHERE e.id = ? AND p.sex = ? AND p.birth_date = ?",
                [(status, eid, sex, birth.isoformat()) for eid, status, sex, birth in statuses],
            )

    def consultations(self, period: Period) -> Iterator[tuple[str, date, date, bool, list[str]]]:
        rows = self.store.conn.execute(
            "SELECT p.sex, p.birth_date, e.care_date, json_extract(e.data, '$.new_case'),"
            " (SELECT json_group_array(json_extract(x.value, '$.code'))"
            f" FROM json_each(e.data, '$.diagnoses') x) {_JOIN}"
            " WHERE e.type = 'consultation' AND e.care_date BETWEEN :start AND :end"
            f" AND {_LIVE}",
            _month_params(period),
        )
        for sex, birth, care_date, new_case, codes in rows:
            yield (
                sex,
                _d(birth),
                _d(care_date),
                new_case is None or bool(new_case),  # the model's default: a new case
                json.loads(codes) if codes else [],
            )

    def first_visits(self, period: Period) -> Iterator[tuple[str, date, date]]:
        """The patients whose first visit of the year falls in the month (any encounter)."""
        rows = self.store.conn.execute(
            f"SELECT p.sex, p.birth_date, MIN(e.care_date) {_JOIN}"
            f" WHERE {_ANY_TYPE} AND e.care_date BETWEEN :start AND :end AND {_LIVE}"
            " AND NOT EXISTS (SELECT 1 FROM encounters b WHERE b.patient_id = e.patient_id"
            " AND b.care_date >= :year AND b.care_date < :start AND b.voided = 0"
            " AND NOT EXISTS (SELECT 1 FROM encounters s WHERE s.supersedes = b.id))"
            " GROUP BY e.patient_id",
            {**_month_params(period), "year": f"{period.year:04d}-01-01"},
        )
        for sex, birth, care_date in rows:
            yield sex, _d(birth), _d(care_date)

    def children_due(
        self, period: Period, rules: list[tuple[str, int, int]]
    ) -> list[tuple[date, dict[tuple[str, int], date]]]:
        """The children with a dose of `rules` due in the month (born `days` before it) or
        given a counted dose in it, each with the counted doses they were given."""
        windows = sorted({days for _a, _n, days in rules})
        born = " OR ".join(
            f"p.birth_date BETWEEN date(:start, '-{d} days') AND date(:end, '-{d} days')"
            for d in windows
        )
        rows = self.store.conn.execute(
            "SELECT p.id, p.birth_date FROM patients p"
            f" WHERE p.merged_into IS NULL AND ({born or '0'})"
            " UNION SELECT p.id, p.birth_date FROM encounters e JOIN patients p"
            " ON p.id = e.patient_id WHERE e.type = 'immunization'"
            f" AND e.care_date BETWEEN :start AND :end AND {_LIVE}",
            _month_params(period),
        ).fetchall()
        counted = {(a, n) for a, n, _d in rules}
        children: dict[str, tuple[date, dict[tuple[str, int], date]]] = {
            pid: (_d(birth), {}) for pid, birth in rows
        }
        ids = list(children)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            doses = self.store.conn.execute(
                "SELECT e.patient_id, json_extract(e.data, '$.antigen'),"
                " json_extract(e.data, '$.dose'), e.care_date FROM encounters e"
                f" WHERE e.patient_id IN ({', '.join('?' * len(chunk))})"
                # "+": by the patients' index, not every immunization of every year
                f" AND +e.type = 'immunization' AND {_LIVE}",
                chunk,
            )
            for pid, antigen, dose, care_date in doses:
                if (antigen, dose) in counted:
                    given = children[pid][1]
                    day = _d(care_date)
                    given[(antigen, dose)] = min(given.get((antigen, dose), day), day)
        return list(children.values())
