"""What the clinical engine says about one patient on one day: alerts, due items and, for a
child or adolescent up to 19 years (228 months, the end of the WHO 2007 reference), the latest
z-scores and nutrition status. Pure: the date is passed in."""

from __future__ import annotations

from datetime import date
from typing import Any

from appliance.clinical.alerts import alerts_for
from appliance.clinical.due import due_for_patient
from appliance.clinical.growth import REF2007_TO_DAYS, nutrition_of
from appliance.clinical.pregnancy import Pregnancy, current_pregnancy


def latest_growth(
    patient: dict[str, Any], encounters: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """z-scores and status from the child's latest growth measure, with the WHO reference
    that gave them ("who2006" to 1856 days, "who2007" after); None past 228 months."""
    birth = date.fromisoformat(patient["birth_date"])
    for e in reversed(encounters):  # oldest first in, so the latest is last
        if e["type"] != "growth":
            continue
        care = date.fromisoformat(e["care_date"])
        age_days = (care - birth).days
        if age_days > REF2007_TO_DAYS:
            return None
        d = e["data"]
        out = nutrition_of(patient["sex"], age_days, d)
        return {
            "zscores": {k: out[k] for k in ("wfa", "hfa", "wfh", "bfa")},
            "nutrition_status": out["status"],
            "nutrition_reasons": out["reasons"],
            "reference": out["reference"],
            "categories": out["categories"],
            "measured_on": e["care_date"],
            "age_days_at_measure": age_days,
        }
    return None


def clinical_summary(
    patient: dict[str, Any],
    encounters: list[dict[str, Any]],
    on: date,
    *,
    mother: dict[str, Any] | None = None,
    malaria_vaccine: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "alerts": [a.to_json() for a in alerts_for(patient, encounters, on)],
        "due": [
            d.to_json()
            for d in due_for_patient(
                patient, encounters, on, mother=mother, malaria_vaccine=malaria_vaccine
            )
        ],
    }
    if (on - date.fromisoformat(patient["birth_date"])).days <= REF2007_TO_DAYS:
        growth = latest_growth(patient, encounters)
        out["zscores"] = growth["zscores"] if growth else None
        out["nutrition_status"] = growth["nutrition_status"] if growth else "unknown"
        out["growth"] = growth
    return out


# Views of a whole record (the dict of services.patients.record) that the web page and the
# kiosk both show.
GROWTH_INDICES = (("wfa", "weight_kg"), ("hfa", "height_cm"))


def growth_points(record: dict[str, Any]) -> dict[str, list[tuple[int, float]]]:
    """Every measure as (age in days, value): weight-for-age ("wfa", kg) and length/height-
    for-age ("hfa", cm), oldest first."""
    birth = date.fromisoformat(record["birth_date"])
    return {
        index: [
            ((date.fromisoformat(e["care_date"]) - birth).days, e["data"][key])
            for e in record["encounters"]
            if e["type"] == "growth" and e["data"].get(key) is not None
        ]
        for index, key in GROWTH_INDICES
    }


def pregnancy_of(record: dict[str, Any], on: date) -> Pregnancy | None:
    """The woman's pregnancy in progress on `on`, if any."""
    if record["sex"] != "F":
        return None
    anc = [e for e in record["encounters"] if e["type"] == "anc"]
    deliveries = [e for e in record["encounters"] if e["type"] == "delivery"]
    return current_pregnancy(anc, deliveries, on)


def vaccine_card(record: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Doses given (immunization encounters) and doses due (child vaccines and Td)."""
    given = [e for e in record["encounters"] if e["type"] == "immunization"]
    due = [d for d in record["due"] if d["kind"] in ("immunization", "td")]
    return given, due
