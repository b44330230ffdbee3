"""Referring a patient to the CSRéf, and recording the counter-referral when they come back."""

from __future__ import annotations

import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from appliance.clinical.case_summary import case_summary
from appliance.domain import limits
from appliance.domain.permissions import READ_PATIENT, REFER_PATIENT
from appliance.domain.referrals import (
    AWAITING_WINDOW_DAYS,
    EVACUATION_TRANSPORTS,
    ReferralRules,
    ReferralSettingsError,
    departure_of,
    reason_from_encounter,
    referral_rules_from,
    sms_text,
    suggested_reason,
    validate_form,
    validate_return,
)
from appliance.facility_file import read_section
from appliance.ids import uuid7
from appliance.services import patients
from appliance.services.context import Actor, Context
from appliance.services.errors import Conflict, NotFound

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def rules_of(facility_file: Path) -> ReferralRules:
    """The [referral] table of the facility file, checked; defaults when it is absent."""
    section = read_section(facility_file, "referral", error=ReferralSettingsError)
    return referral_rules_from(section, where=str(facility_file))


# -- the case summary that travels with the patient ------------------------------------------

_VITAL_KEYS = (
    "bp_systolic",
    "bp_diastolic",
    "temperature_c",
    "pulse_bpm",
    "resp_rate",
    "spo2_pct",
    "weight_kg",
    "muac_mm",
)


def latest_vitals(encounters: list[dict[str, Any]], on: date) -> dict[str, Any]:
    """Each vital sign from the most recent encounter of the day that has it (the form's
    defaults: measured before the decision to refer)."""
    out: dict[str, Any] = {}
    for e in reversed(encounters):  # oldest first in
        if e["care_date"] != on.isoformat() or e.get("voided"):
            continue
        for k in _VITAL_KEYS:
            if k not in out and e["data"].get(k) is not None:
                out[k] = e["data"][k]
    return out


def case_history(record: dict[str, Any], on: date) -> dict[str, Any]:
    """The minimal case summary a second opinion also sends (clinical.case_summary: no name,
    no village, no phone), with the alerts in words for the CSRéf's clinician."""
    out = case_summary(record, on)
    out["alert_reasons"] = [a["reason"] for a in record.get("alerts", [])]
    return out


# -- referral ------------------------------------------------------------------------------


def prefill(ctx: Context, actor: Actor, patient_ref: str) -> dict[str, Any]:
    """The form's starting values: today, the reason the gravity alert suggests (or the last
    encounter's complication), urgent when that alert is, today's vital signs."""
    ctx.require(actor, REFER_PATIENT)
    record = patients.record(ctx, actor, patient_ref)
    today = ctx.now().today
    reason, alert_code = suggested_reason(record.get("alerts", []))
    urgent = any(a["severity"] == "urgent" for a in record.get("alerts", []))
    if reason is None:
        for e in reversed(record["encounters"]):
            if e["care_date"] == today.isoformat() and (reason := reason_from_encounter(e)):
                urgent = True
                break
    return {
        "care_date": today.isoformat(),
        "reason": reason,
        "alert_code": alert_code,
        "urgency": "urgent" if urgent else "non_urgent",
        "vitals": latest_vitals(record["encounters"], today),
        "record": record,
    }


def create(
    ctx: Context,
    actor: Actor,
    patient_ref: str,
    data: dict[str, Any],
    *,
    rules: ReferralRules,
    referral_id: str | None = None,
) -> dict[str, Any]:
    """Write the referral (with the case history of this moment) and, when it is urgent, made
    today and the patient agreed, queue the SMS to the receiving facility's duty phone.

    `referral_id` (the web form's, made when the form was shown) makes a second post of the
    same form, a double tap on a slow network, return the referral already written instead
    of writing a second one and texting the duty phone twice."""
    ctx.require(actor, REFER_PATIENT)
    limits.check_data(data)
    if referral_id is not None:
        if not _UUID.match(referral_id):
            raise ValueError("referral_id is not an id this form made")
        if (done := ctx.store.referrals.get(referral_id)) is not None:
            return _same_form(ctx, done, patient_ref)
    reading = ctx.now()
    record = patients.record(ctx, actor, patient_ref)
    if record["merged_into"]:
        raise Conflict(f"{record['health_number']} was merged: refer from the kept record")
    form = validate_form(data, today=reading.today, receiving=rules.receiving)
    if form.care_date < date.fromisoformat(record["birth_date"]):
        raise ValueError(f"care_date {form.care_date} is before the birth date")
    to = rules.receiving[form.to_facility]
    clean = form.model_dump(mode="json", exclude_none=True)
    clean["departure"] = form.departure or departure_of(reading.now)
    clean["to_name"] = to.name
    clean["history"] = case_history(record, form.care_date)
    from_name = ctx.store.get_setting("facility_name") or ctx.facility_code
    clean["from_name"] = from_name
    sms_status, phone, text = "not_urgent", None, None
    if form.urgency == "urgent":
        if form.care_date < reading.today:
            # typed after the event: "en route, départ 14:20" would mislead the duty phone
            sms_status = "backdated"
        elif not form.sms_consent:
            sms_status = "no_consent"
        elif not to.phone:
            sms_status = "no_phone"
        else:
            sms_status, phone = "queued", to.phone
        text = sms_text(
            urgency=form.urgency,
            reason=form.reason,
            sex=record["sex"],
            birth_date=date.fromisoformat(record["birth_date"]),
            on=form.care_date,
            departure=clean["departure"],
            from_name=from_name,
            health_number=record["health_number"],
            detail=rules.sms_detail,
        )
    row = {
        "id": referral_id or uuid7(),
        "patient_id": record["id"],
        "care_date": form.care_date.isoformat(),
        "urgency": form.urgency,
        "reason": form.reason,
        "to_facility": form.to_facility,
        "evacuation": form.transport in EVACUATION_TRANSPORTS,
        "data": clean,
        "staff_id": actor.id,
        "recorded_at": reading.machine_iso(),
        "sms_status": sms_status,
        "sms_phone": phone,
        "sms_text": text,
    }
    try:
        with ctx.store.transaction():
            ctx.store.referrals.insert(row)
            _audit_add(ctx, actor, row, form, reading)
    except sqlite3.IntegrityError:
        # the same form posted twice at once: the first one wrote it
        done = ctx.store.referrals.get(row["id"])
        if done is None:
            raise
        return _same_form(ctx, done, patient_ref)
    return ctx.store.referrals.get(row["id"])  # type: ignore[return-value]


def _same_form(ctx: Context, done: dict[str, Any], patient_ref: str) -> dict[str, Any]:
    patient = patients.resolve(ctx, patient_ref)
    if done["patient_id"] != patient["id"] and patient.get("merged_into") != done["patient_id"]:
        raise Conflict("this form was already used for another patient: open a new one")
    return done


def _audit_add(ctx: Context, actor: Actor, row: dict, form: Any, reading: Any) -> None:
    ctx.audit(
        actor,
        "referral.add",
        patient_id=row["patient_id"],
        detail={
            "referral_id": row["id"],
            "reason": form.reason,
            "urgency": form.urgency,
            "to": form.to_facility,
            "sms": row["sms_status"],
            "sms_consent": form.sms_consent,
        },
        reading=reading,
    )


def show(ctx: Context, actor: Actor, referral_id: str) -> dict[str, Any]:
    ctx.require(actor, READ_PATIENT)
    found = ctx.store.referrals.get(referral_id)
    if found is None:
        raise NotFound(f"no referral {referral_id}")
    ctx.audit(
        actor, "referral.view", patient_id=found["patient_id"], detail={"referral_id": referral_id}
    )
    return found


def awaiting(
    ctx: Context, actor: Actor, *, rules: ReferralRules, late_only: bool = False
) -> list[dict[str, Any]]:
    """Referrals of the last AWAITING_WINDOW_DAYS awaiting their counter-referral (oldest
    first), each with its days waited and whether it is late (more than [referral]
    return_after_days)."""
    ctx.require(actor, READ_PATIENT)
    today = ctx.now().today
    late_before = (today - timedelta(days=rules.return_after_days)).isoformat()
    since = (today - timedelta(days=AWAITING_WINDOW_DAYS)).isoformat()
    rows = ctx.store.referrals.awaiting(since=since, before=late_before if late_only else None)
    for r in rows:
        r["days_waiting"] = (today - date.fromisoformat(r["care_date"])).days
        r["late"] = r["care_date"] < late_before
    return rows


def count_late(ctx: Context, *, rules: ReferralRules) -> int:
    """How many are late (for the home page's line; no patient data)."""
    today = ctx.now().today
    return ctx.store.referrals.count_awaiting(
        since=(today - timedelta(days=AWAITING_WINDOW_DAYS)).isoformat(),
        before=(today - timedelta(days=rules.return_after_days)).isoformat(),
    )


def between(ctx: Context, actor: Actor, start: date, end: date) -> list[dict[str, Any]]:
    ctx.require(actor, READ_PATIENT)
    return ctx.store.referrals.between(start.isoformat(), end.isoformat())


def of_patient(ctx: Context, actor: Actor, patient_ref: str) -> list[dict[str, Any]]:
    """One patient's referrals, newest first."""
    ctx.require(actor, READ_PATIENT)
    patient = patients.resolve(ctx, patient_ref)
    ctx.audit(actor, "referral.list", patient_id=patient["id"])
    return ctx.store.referrals.for_patient(patient["id"])


def for_patient(ctx: Context, patient_id: str) -> list[dict[str, Any]]:
    """The record's referrals (the caller has read the record: no second audit row)."""
    return ctx.store.referrals.for_patient(patient_id)


def record_return(
    ctx: Context, actor: Actor, referral_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """The counter-referral, typed from the CSRéf's paper; the referral leaves the list."""
    ctx.require(actor, REFER_PATIENT)
    limits.check_data(data)
    reading = ctx.now()
    found = ctx.store.referrals.get(referral_id)
    if found is None:
        raise NotFound(f"no referral {referral_id}")
    if found["voided_reason"]:
        raise Conflict(f"referral {referral_id} was voided: {found['voided_reason']}")
    if found["returned_on"]:
        raise Conflict(f"the counter-referral of {referral_id} is already recorded")
    back = validate_return(
        data, referred_on=date.fromisoformat(found["care_date"]), today=reading.today
    )
    clean = back.model_dump(mode="json", exclude_none=True)
    with ctx.store.transaction():
        if not ctx.store.referrals.record_return(
            referral_id,
            returned_on=back.returned_on.isoformat(),
            data=clean,
            staff_id=actor.id,
            now=reading.machine_iso(),
        ):
            raise Conflict(f"the counter-referral of {referral_id} is already recorded")
        ctx.audit(
            actor,
            "referral.return",
            patient_id=found["patient_id"],
            detail={"referral_id": referral_id, "outcome": back.outcome},
            reading=reading,
        )
    return ctx.store.referrals.get(referral_id)  # type: ignore[return-value]


def void(ctx: Context, actor: Actor, referral_id: str, *, reason: str) -> dict[str, Any]:
    """Withdraw a referral written in error (wrong patient); its SMS, if still queued, stays
    unsent."""
    ctx.require(actor, REFER_PATIENT)
    if len((reason or "").strip()) < 3:
        raise ValueError("say why the referral is voided (reason)")
    found = ctx.store.referrals.get(referral_id)
    if found is None:
        raise NotFound(f"no referral {referral_id}")
    with ctx.store.transaction():
        if not ctx.store.referrals.void(referral_id, reason=reason.strip()[:300]):
            raise Conflict(f"referral {referral_id} is already voided")
        ctx.audit(
            actor,
            "referral.void",
            patient_id=found["patient_id"],
            detail={"referral_id": referral_id, "reason": reason.strip()[:300]},
        )
    return ctx.store.referrals.get(referral_id)  # type: ignore[return-value]
