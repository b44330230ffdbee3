"""Kiosk form drafts: what was being typed survives a power cut or the screen lock."""

from __future__ import annotations

from typing import Any

from appliance.domain.permissions import write
from appliance.services.context import Actor, Context
from appliance.services.patients import resolve


def save(ctx: Context, actor: Actor, patient_id: str, kind: str, data: dict[str, Any]) -> None:
    """Keep the form as typed (unchecked: it is not a record of care)."""
    ctx.require(actor, write(kind))
    patient = resolve(ctx, patient_id)
    ctx.store.drafts.save(
        staff_id=actor.id, patient_id=patient["id"], kind=kind, data=data, at=ctx.now().iso()
    )


def pending(ctx: Context, actor: Actor) -> list[dict[str, Any]]:
    """This staff member's drafts, newest first, with the patient's name."""
    if not isinstance(actor, Actor):
        return []
    return ctx.store.drafts.for_staff(actor.id)


def discard(ctx: Context, actor: Actor, patient_id: str, kind: str) -> None:
    ctx.store.drafts.delete(staff_id=actor.id, patient_id=patient_id, kind=kind)
