"""SQL for the monthly report: the month's current, non-voided encounters with the patient's sex
and birth date, reading only the JSON fields the indicators use (appliance/reports)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from appliance.reports.monthly import Dose, Visit
from appliance.store.encounters import CURRENT

if TYPE_CHECKING:
    from appliance.store.db import Store

# The fields each indicator reads, by encounter type. `referral` is read as present or not.
REPORT_FIELDS: dict[str, tuple[str, ...]] = {
    "consultation": ("new_case", "diagnoses", "referral"),
    "anc": ("contact_number", "iptp_dose", "referral"),
    "delivery": ("skilled_attendant", "place", "referral"),
    "postnatal": ("subject", "referral"),
    "immunization": ("antigen", "dose"),
    "growth": ("weight_kg", "height_cm", "muac_mm", "oedema", "measured"),
    "family_planning": ("method", "user", "removal"),
    "chronic": ("condition",),
}
_WIDTH = max(len(f) for f in REPORT_FIELDS.values())


def _column(name: str) -> str:
    if name == "referral":
        return "json_type(e.data, '$.referral') IS NOT NULL"
    if name == "diagnoses":  # only the codes, as one JSON array
        return (
            "(SELECT json_group_array(json_extract(x.value, '$.code'))"
            " FROM json_each(e.data, '$.diagnoses') x)"
        )
    return f"json_extract(e.data, '$.{name}')"


# Earlier ANC contacts matter only for women seen for ANC in the month (a pregnancy counts in
# the month of a contact), so the pregnancy lookback reads no other woman's history.
_SEEN_FOR_ANC = (
    " AND e.patient_id IN (SELECT m.patient_id FROM encounters m WHERE m.type = 'anc'"
    " AND m.care_date >= :start AND m.care_date <= :end AND m.voided = 0)"
)


def _branch(kind: str, fields: tuple[str, ...], since: str) -> str:
    cols = ", ".join(_column(f) for f in fields) + ", NULL" * (_WIDTH - len(fields))
    # The (type, care_date) index narrows each branch to its type and dates.
    return (
        f"SELECT e.patient_id, e.type, e.care_date, p.sex, p.birth_date, {cols}"
        " FROM encounters e JOIN patients p ON p.id = e.patient_id"
        f" WHERE e.type = '{kind}' AND e.care_date >= {since} AND e.care_date <= :end"
        f" AND e.voided = 0 AND {CURRENT}" + (_SEEN_FOR_ANC if kind == "anc" else "")
    )


class ReportRepo:
    def __init__(self, store: Store):
        self.store = store

    def visits(
        self, *, start: date, end: date, growth_from: date, anc_from: date | None = None
    ) -> Iterator[Visit]:
        """Encounters with care_date in [start, end], growth ones from `growth_from` and ANC
        ones from `anc_from` (the pregnancies still running in the month)."""
        since = {"growth": ":growth_from", "anc": ":anc_from"}
        sql = " UNION ALL ".join(
            _branch(kind, fields, since.get(kind, ":start"))
            for kind, fields in REPORT_FIELDS.items()
        )
        params = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "growth_from": growth_from.isoformat(),
            "anc_from": (anc_from or start).isoformat(),
        }
        for pid, kind, care_date, sex, birth, *values in self.store.conn.execute(sql, params):
            data: dict[str, Any] = {}
            for name, value in zip(REPORT_FIELDS[kind], values, strict=False):
                if value is None:
                    continue
                data[name] = json.loads(value) if name == "diagnoses" else value
            yield Visit(
                pid, kind, date.fromisoformat(care_date), sex, date.fromisoformat(birth), data
            )

    def doses_of_children_born(self, *, born_from: date, born_to: date) -> Iterator[Dose]:
        """Every current vaccine dose of the children born between the two dates."""
        rows = self.store.conn.execute(
            "SELECT e.patient_id, p.sex, p.birth_date, json_extract(e.data, '$.antigen'),"
            " json_extract(e.data, '$.dose'), e.care_date"
            " FROM patients p JOIN encounters e ON e.patient_id = p.id"
            " WHERE p.birth_date BETWEEN :a AND :b AND p.merged_into IS NULL"
            # No dose precedes birth: this lets the (type, care_date) index do the narrowing.
            " AND e.type = 'immunization' AND e.care_date >= :a"
            f" AND e.voided = 0 AND {CURRENT}",
            {"a": born_from.isoformat(), "b": born_to.isoformat()},
        )
        for pid, sex, birth, antigen, dose, care_date in rows:
            yield Dose(
                pid,
                sex,
                date.fromisoformat(birth),
                antigen,
                int(dose),
                date.fromisoformat(care_date),
            )

    def setting(self, name: str) -> str | None:
        return self.store.get_setting(name)
