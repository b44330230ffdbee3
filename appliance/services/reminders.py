"""SMS reminders: the day's plan from the stored follow-up items, and its queue for the modem
daemon (which sends them: modem/daemon.py)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from appliance.clinical import reminders as planner
from appliance.domain.permissions import READ_PATIENT
from appliance.facility_file import ReminderRules
from appliance.services import follow_up
from appliance.services.context import Actor, Context

# Items reminded this long ago are not looked up again (no item stays in a window longer).
_REMEMBER_DAYS = 400


class RemindersDisabled(ValueError):
    """[reminders] enabled is not true in the facility file."""


def templates_for(rules: ReminderRules) -> dict[str, dict[str, str]]:
    if rules.templates:
        return planner.load_templates(rules.templates)
    return planner.default_templates()


def plan(ctx: Context, actor: Actor, *, on: date, rules: ReminderRules) -> dict[str, Any]:
    """What would be sent on `on` with the caps applied, and what is skipped and why."""
    ctx.require(actor, READ_PATIENT)
    templates = templates_for(rules)
    end = on + timedelta(days=rules.days_before)
    items = follow_up.listing(ctx, actor, start=on, end=end, states=("upcoming",))["items"]
    items += follow_up.listing(ctx, actor, start=on, end=on, states=("defaulter",))["items"]
    ids = {i["patient_id"] for i in items}
    rows = ctx.store.patients.get_many(sorted(ids))
    mothers = {r["mother_id"] for r in rows.values() if r.get("mother_id")} - set(rows)
    rows.update(ctx.store.patients.get_many(sorted(mothers)))
    people = {pid: planner.Person.of(r) for pid, r in rows.items()}
    since = (on - timedelta(days=_REMEMBER_DAYS)).isoformat()
    month_start = on.replace(day=1).isoformat()
    out = planner.plan(
        items,
        on=on,
        people=people,
        rules=rules,
        templates=templates,
        facility=ctx.store.get_setting("facility_name")
        or ctx.store.get_setting("facility_code")
        or "",
        already=ctx.store.reminders.reminded(since, on.isoformat()),
        sent_today=ctx.store.reminders.count_between(on.isoformat(), on.isoformat()),
        sent_this_month=ctx.store.reminders.count_between(month_start, on.isoformat()),
        phones_done=ctx.store.reminders.phones_on(on.isoformat()),
    )
    ctx.audit(
        actor,
        "reminders.plan",
        detail={
            "on": on.isoformat(),
            "reminders": len(out["reminders"]),
            "over_cap": len(out["over_cap"]),
            "skipped": len(out["skipped"]),
        },
    )
    return out


def queue(ctx: Context, actor: Actor, *, on: date, rules: ReminderRules) -> dict[str, Any]:
    """Queue the day's plan for the modem daemon; those over the cap are recorded as skipped.
    Run twice, the second run queues nothing new."""
    if not rules.enabled:
        raise RemindersDisabled(
            "SMS reminders are off: set enabled = true under [reminders] in the facility file"
        )
    out = plan(ctx, actor, on=on, rules=rules)
    reading = ctx.now()
    queued = []
    with ctx.store.transaction():
        for r in out["reminders"]:
            rid = ctx.store.reminders.enqueue(r, status="queued", now=reading.iso())
            if rid is not None:
                queued.append(rid)
        capped = [
            rid
            for r in out["over_cap"]
            if (rid := ctx.store.reminders.enqueue(r, status="skipped_cap", now=reading.iso()))
        ]
        ctx.audit(
            actor,
            "reminders.queue",
            detail={"on": on.isoformat(), "queued": len(queued), "over_cap": len(capped)},
            reading=reading,
        )
    out["queued_ids"] = queued
    return out


def for_patient(ctx: Context, actor: Actor, patient_id: str) -> list[dict[str, Any]]:
    """The SMS reminders of one patient's record (to their phone or about them)."""
    ctx.require(actor, READ_PATIENT)
    rows = ctx.store.reminders.for_patient(patient_id)
    ctx.audit(actor, "reminders.view", patient_id=patient_id, detail={"reminders": len(rows)})
    return rows
