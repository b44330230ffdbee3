"""Reading the audit trail (admins only) and confirming the clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from appliance.clock import ClockReading
from appliance.domain.permissions import CONFIRM_CLOCK, READ_AUDIT
from appliance.services.context import Actor, Context
from appliance.services.patients import resolve


def for_patient(ctx: Context, actor: Actor, patient_ref: str) -> list[dict[str, Any]]:
    ctx.require(actor, READ_AUDIT)
    patient = resolve(ctx, patient_ref)
    rows = ctx.store.audit.for_patient(patient["id"])
    ctx.audit(actor, "audit.read", patient_id=patient["id"])
    return rows


def confirm_clock(ctx: Context, actor: Actor, true_time: datetime | None = None) -> ClockReading:
    """A staff member says the date and time shown (or the one given) is right."""
    ctx.require(actor, CONFIRM_CLOCK)
    before = ctx.now()
    when = true_time or before.now
    with ctx.store.transaction():
        reading = ctx.clock.mark_trusted("staff", when, staff_id=actor.id)
        ctx.audit(
            actor,
            "clock.confirm",
            detail={"machine": before.machine_iso(), "confirmed": reading.iso()},
            reading=reading,
        )
    return reading
