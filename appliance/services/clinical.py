"""The clinical engine over the store: who is due, facility-wide, for outreach."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from appliance.clinical.alerts import alerts_for
from appliance.clinical.due import due_for_patient, due_list
from appliance.clinical.immunization import load_schedule
from appliance.domain.permissions import READ_PATIENT
from appliance.services.context import Actor, Context

GROWTH_DAYS = 5 * 365 + 1  # growth monitoring: children under five
PREGNANCY_AND_POSTNATAL_DAYS = 44 * 7 + 60
RECENT_ALERT_DAYS = 14  # the start-of-day lists: alerts of patients seen this fortnight


def facility_due(
    ctx: Context,
    actor: Actor,
    *,
    start: date,
    end: date,
    village: str | None = None,
) -> list[dict[str, Any]]:
    """Everyone due between `start` and `end` (overdue ones always), by priority."""
    ctx.require(actor, READ_PATIENT)
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    if (end - start).days > 366:
        raise ValueError("the period must be at most a year")
    reading = ctx.now()
    on = start
    horizon = (end - start).days
    schedule = load_schedule()
    # A child leaves the due list for vaccines at the schedule's oldest age for its sex
    # (HPV keeps girls to 14 years); growth monitoring stops at five.
    born_from = {
        sex: (on - timedelta(days=max(schedule.max_age_days(sex) or 0, GROWTH_DAYS))).isoformat()
        for sex in ("F", "M")
    }
    encounters: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for pid, eid, kind, care_date, data in ctx.store.encounters.for_due_list(
        recent_from=(on - timedelta(days=PREGNANCY_AND_POSTNATAL_DAYS)).isoformat(),
    ):
        encounters[pid].append({"id": eid, "type": kind, "care_date": care_date, "data": data})
    patients = {p["id"]: p for p in ctx.store.patients.active()}
    vaccine = ctx.malaria_vaccine
    items = []
    for pid, patient in patients.items():
        history = encounters.get(pid)
        # Children are due their first vaccines with no encounter at all; adults only
        # become due through an encounter (a pregnancy, a method, a chronic condition).
        if history is None and patient["birth_date"] < born_from[patient["sex"]]:
            continue
        if history:
            history.sort(key=lambda e: e["care_date"])
        mother = patients.get(patient["mother_id"]) if patient["mother_id"] else None
        items += due_for_patient(
            patient,
            history or [],
            on,
            mother=mother,
            horizon_days=horizon,
            malaria_vaccine=vaccine,
            schedule=schedule,
        )
    chosen = due_list(items, start, end, village=village)
    ctx.audit(
        actor,
        "due.list",
        detail={
            "from": start.isoformat(),
            "to": end.isoformat(),
            "village": village,
            "items": len(chosen),
        },
        reading=reading,
    )
    return [i.to_json() for i in chosen]


def facility_alerts(
    ctx: Context, actor: Actor, *, since: date, on: date, severities=("urgent", "high")
) -> list[dict[str, Any]]:
    """Gravity alerts of the patients seen since `since`: who needs attention first."""
    ctx.require(actor, READ_PATIENT)
    out = []
    for pid in ctx.store.encounters.patients_seen_since(since.isoformat()):
        patient = ctx.store.patients.get(pid)
        if patient is None or patient["merged_into"]:
            continue
        alerts = [
            a.to_json()
            for a in alerts_for(patient, ctx.store.encounters.for_patient(pid), on)
            if a.severity in severities
        ]
        if alerts:
            out.append({"patient": patient, "alerts": alerts})
    out.sort(key=lambda p: min(severities.index(a["severity"]) for a in p["alerts"]))
    ctx.audit(actor, "alerts.list", detail={"since": since.isoformat(), "patients": len(out)})
    return out


def todays_lists(ctx: Context, actor: Actor, on: date) -> dict[str, Any]:
    """What staff see first (web home page, kiosk home): who is due on `on` and the gravity
    alerts of the patients seen in the last RECENT_ALERT_DAYS."""
    return {
        "today": on,
        "due": facility_due(ctx, actor, start=on, end=on),
        "alerts": facility_alerts(ctx, actor, since=on - timedelta(days=RECENT_ALERT_DAYS), on=on),
    }
