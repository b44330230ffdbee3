"""Recording care: append-only encounters, corrections that supersede, voids."""

from __future__ import annotations

from datetime import date
from typing import Any

from appliance.clock import ClockReading, plausible
from appliance.domain import encounter_rules, limits
from appliance.domain.encounter_rules import PatientFacts, Refusal
from appliance.domain.encounters import MODELS, InvalidEncounter, validate
from appliance.domain.permissions import READ_PATIENT, write
from appliance.ids import uuid7
from appliance.services import follow_up
from appliance.services.context import Actor, Context
from appliance.services.errors import Conflict, NotFound
from appliance.services.patients import resolve


def _check(
    ctx: Context, kind: str, data: dict[str, Any], patient: dict[str, Any], reading: ClockReading
) -> dict[str, Any]:
    limits.check_data(data)  # before the model walks it
    if reading.trusted:
        today, leeway = reading.today, 0
    elif plausible(reading.now):
        today, leeway = reading.today, 1  # a clock nobody confirmed may be a little behind
    else:
        today, leeway = None, 0  # 1970 after a power cut: no bound to trust (the form warns)
    model = validate(
        kind,
        data,
        today=today,
        birth_date=date.fromisoformat(patient["birth_date"]),
        future_days=leeway,
    )
    return model.model_dump(mode="json", exclude_none=True)


# Types whose rules read the woman's deliveries and children (the others read sex and age).
_BIRTH_KINDS = frozenset({"anc", "delivery", "postnatal"})


def _facts(
    ctx: Context, kind: str, patient: dict[str, Any], *, leave_out: str | None = None
) -> PatientFacts:
    """What the encounter rules read from this record (`leave_out`: the version corrected)."""
    if kind in _BIRTH_KINDS and patient["sex"] == "F":
        return PatientFacts.of(
            patient,
            ctx.store.encounters.for_patient(patient["id"]),
            ctx.store.patients.children(patient["id"]),
            leave_out=leave_out,
        )
    return PatientFacts.of(patient)


def refused(refusal: Refusal) -> InvalidEncounter:
    """A rule's refusal as the error every path already explains beside a field."""
    ctx = {"date": refusal.date.isoformat()} if refusal.date else {}
    return InvalidEncounter(
        [(refusal.field, refusal.message())],
        [
            {
                "loc": (refusal.field,),
                "type": f"rule_{refusal.code}",
                "msg": refusal.message(),
                "ctx": ctx,
            }
        ],
    )


def type_refusals(ctx: Context, patient: dict[str, Any], on: date) -> dict[str, Refusal | None]:
    """Every encounter type → None when this patient may have it on `on`, else why not."""
    return encounter_rules.type_refusals(_facts(ctx, "anc", patient), on)


def _enforce_rules(
    ctx: Context,
    kind: str,
    clean: dict[str, Any],
    patient: dict[str, Any],
    *,
    old: dict[str, Any] | None = None,
) -> None:
    """Refuse a type (or a value) the patient may not have on the care date. A correction is
    refused only when the version it replaces passed the rules: a record made before them, or
    before its patient's birth date was corrected, must stay correctable."""
    facts = _facts(ctx, kind, patient, leave_out=old["id"] if old else None)
    if old is not None and encounter_rules.refusal(kind, old["data"], facts) is not None:
        return
    refusal = encounter_rules.refusal(kind, clean, facts)
    if refusal is not None:
        raise refused(refusal)


def _row(
    ctx: Context,
    actor: Actor,
    *,
    patient_id: str,
    kind: str,
    data: dict[str, Any],
    reading: Any,
    supersedes: str | None = None,
    reason: str | None = None,
    voided: bool = False,
    origin: str | None = None,
) -> dict[str, Any]:
    return {
        "id": uuid7(),
        "patient_id": patient_id,
        "origin_patient_id": origin or patient_id,
        "type": kind,
        "care_date": data["care_date"],
        "data": data,
        "supersedes": supersedes,
        "correction_reason": reason,
        "voided": voided,
        "staff_id": actor.id,
        "recorded_at": reading.machine_iso(),
        "clock_trusted": reading.trusted,
        "boot_id": reading.boot_id,
    }


def add(
    ctx: Context, actor: Actor, patient_ref: str, kind: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Record one encounter for a patient after checking its data."""
    if kind not in MODELS:
        raise ValueError(f"unknown encounter type {kind!r}; expected one of {', '.join(MODELS)}")
    ctx.require(actor, write(kind))
    reading = ctx.now()
    patient = resolve(ctx, patient_ref)
    if patient["merged_into"]:
        raise Conflict(
            f"{patient['health_number']} was merged into {patient['merged_into']}: "
            "record care on the kept record"
        )
    clean = _check(ctx, kind, data, patient, reading)
    _enforce_rules(ctx, kind, clean, patient)
    row = _row(ctx, actor, patient_id=patient["id"], kind=kind, data=clean, reading=reading)
    # The record and its audit row commit together: a process killed between two commits
    # left care recorded by nobody.
    with ctx.store.transaction():
        ctx.store.encounters.insert(row)
        follow_up.refresh(ctx, [patient["id"]], on=reading.today)
        ctx.audit(
            actor,
            "encounter.add",
            patient_id=patient["id"],
            encounter_id=row["id"],
            detail={"type": kind},
            reading=reading,
        )
    return ctx.store.encounters.get(row["id"])  # type: ignore[return-value]


def _not_superseded(ctx: Context, encounter_id: str) -> None:
    newer = ctx.store.encounters.superseded_by(encounter_id)
    if newer:
        raise Conflict(
            f"encounter {encounter_id} was already corrected by {newer}: correct the latest version"
        )


def _latest(ctx: Context, encounter_id: str) -> dict[str, Any]:
    old = ctx.store.encounters.get(encounter_id)
    if old is None:
        raise NotFound(f"no encounter {encounter_id}")
    _not_superseded(ctx, encounter_id)
    if old["voided"]:
        raise Conflict(f"encounter {encounter_id} is voided")
    return old


def _supersede(
    ctx: Context,
    actor: Actor,
    encounter_id: str,
    data: dict[str, Any] | None,
    *,
    reason: str,
    voided: bool,
) -> dict[str, Any]:
    """A new version superseding `encounter_id` (corrected data, or the same data voided)."""
    old = _latest(ctx, encounter_id)
    ctx.require(actor, write(old["type"]))
    what = "voided" if voided else "corrected"
    if len((reason or "").strip()) < 3:
        raise ValueError(f"say why the encounter is {what} (reason)")
    reading = ctx.now()
    if voided:
        clean = old["data"]
    else:
        patient = resolve(ctx, old["patient_id"])
        clean = _check(ctx, old["type"], data or {}, patient, reading)
        _enforce_rules(ctx, old["type"], clean, patient, old=old)
    row = _row(
        ctx,
        actor,
        patient_id=old["patient_id"],
        kind=old["type"],
        data=clean,
        reading=reading,
        supersedes=old["id"],
        reason=reason.strip(),
        voided=voided,
        origin=old["origin_patient_id"],
    )
    with ctx.store.transaction():
        # checked again under the write lock: another tablet may have corrected it meanwhile
        _not_superseded(ctx, old["id"])
        ctx.store.encounters.insert(row)
        follow_up.refresh(ctx, [old["patient_id"]], on=reading.today)
        ctx.audit(
            actor,
            "encounter.void" if voided else "encounter.correct",
            patient_id=old["patient_id"],
            encounter_id=row["id"],
            detail={"supersedes": old["id"], "reason": reason.strip()},
            reading=reading,
        )
    return ctx.store.encounters.get(row["id"])  # type: ignore[return-value]


def correct(
    ctx: Context, actor: Actor, encounter_id: str, data: dict[str, Any], *, reason: str
) -> dict[str, Any]:
    """Write a new version that supersedes `encounter_id`; the old one stays, readable."""
    return _supersede(ctx, actor, encounter_id, data, reason=reason, voided=False)


def void(ctx: Context, actor: Actor, encounter_id: str, *, reason: str) -> dict[str, Any]:
    """Withdraw an encounter entered in error (wrong patient): a voiding version supersedes it."""
    return _supersede(ctx, actor, encounter_id, None, reason=reason, voided=True)


def history(ctx: Context, actor: Actor, encounter_id: str) -> list[dict[str, Any]]:
    """Every version of one encounter, the first written first."""
    ctx.require(actor, READ_PATIENT)
    versions = ctx.store.encounters.chain(encounter_id)
    if not versions:
        raise NotFound(f"no encounter {encounter_id}")
    ctx.audit(
        actor, "encounter.history", patient_id=versions[-1]["patient_id"], encounter_id=encounter_id
    )
    return versions
