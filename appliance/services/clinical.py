"""The clinical engine over the store: who is due facility-wide, who needs attention."""

from __future__ import annotations

from datetime import date
from typing import Any

from appliance.clinical.alerts import alerts_for
from appliance.domain.permissions import READ_PATIENT
from appliance.services import follow_up
from appliance.services.context import Actor, Context

RECENT_ALERT_DAYS = 14  # the start-of-day lists: alerts of patients seen this fortnight


def facility_due(
    ctx: Context,
    actor: Actor,
    *,
    start: date,
    end: date,
    village: str | None = None,
) -> list[dict[str, Any]]:
    """Everyone due between `start` and `end` (late ones always, defaulters apart), by
    priority: the stored items (services.follow_up), every page at once."""
    return follow_up.listing(ctx, actor, start=start, end=end, village=village)["items"]


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
