"""Referral to the CSRéf from a record, the fiche to print, the list of patients whose answer
(the counter-referral) has not come back, and the form to type that answer."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from appliance.domain.encounters import InvalidEncounter
from appliance.domain.permissions import READ_PATIENT, REFER_PATIENT, allowed
from appliance.domain.referrals import (
    OUTCOMES,
    REASONS,
    TRANSPORTS,
    ReferralRules,
    ReferralSettingsError,
    vitals_line,
)
from appliance.ids import uuid7
from appliance.services import patients
from appliance.services import referrals as service
from appliance.services.errors import Conflict
from appliance.web import forms
from appliance.web.i18n import N_
from appliance.web.labels import REFERRAL_SMS as SMS_STATES
from appliance.web.labels import REFERRAL_URGENCY as URGENCY

if TYPE_CHECKING:
    from appliance.web.core import Web

VITALS = (
    ("bp_systolic", N_("Tension systolique (mmHg)"), "numeric"),
    ("bp_diastolic", N_("Tension diastolique (mmHg)"), "numeric"),
    ("temperature_c", N_("Température (°C)"), "decimal"),
    ("pulse_bpm", N_("Pouls (/min)"), "numeric"),
    ("resp_rate", N_("Fréquence respiratoire (/min)"), "numeric"),
    ("spo2_pct", N_("SpO2 (%)"), "numeric"),
    ("weight_kg", N_("Poids (kg)"), "decimal"),
    ("muac_mm", N_("Périmètre brachial (mm)"), "numeric"),
)
TEXTS = ("reason_detail", "departure", "done_given", "clinical_notes", "accompanied_by")
VOID_REASON = N_("Dites pourquoi la référence est annulée (au moins 3 lettres).")
RETURN_TEXTS = ("returned_on", "diagnosis", "treatment", "instructions", "next_visit", "seen_by")
_NUMBER = re.compile(r"^-?\d+([.,]\d+)?$")


def _number(text: str) -> Any:
    """A typed number (a comma is a decimal mark); anything else, or a number of more digits
    than any vital sign has, stays text, so the model names the field that is wrong."""
    text = text.strip()
    if not _NUMBER.match(text) or len(text) > 8:
        return text
    value = float(text.replace(",", "."))
    return int(value) if value.is_integer() and "." not in text and "," not in text else value


def form_data(form: Any) -> dict[str, Any]:
    """The posted referral form as the service takes it (empty fields left out)."""
    data: dict[str, Any] = {
        k: (form.get(k) or "").strip()
        for k in ("care_date", "reason", "urgency", "to_facility", "transport", *TEXTS)
    }
    data = {k: v for k, v in data.items() if v}
    vitals = {k: _number(form.get(k) or "") for k, _l, _i in VITALS if (form.get(k) or "").strip()}
    data["vitals"] = vitals
    data["sms_consent"] = form.get("sms_consent") == "1"
    if form.get("alert_code"):
        data["alert_code"] = form.get("alert_code")
    return data


def _errors(e: InvalidEncounter, web: Web) -> dict[str, list[str]]:
    # vitals.bp_systolic → bp_systolic: the form names each vital sign's own field
    details = [
        {**d, "loc": tuple(d.get("loc", ()))[1:] or ("bp_systolic",)}
        if tuple(d.get("loc", ()))[:1] == ("vitals",)
        else d
        for d in e.details
    ]
    out = forms.explain(details, web.t) if details else {}
    if not out:
        for field, message in e.problems:
            out.setdefault(field.split(".")[-1], []).append(message)
    return out


def unplaced(errors: dict[str, list[str]], shown: tuple[str, ...]) -> list[str]:
    """The messages of fields the page has no visible place for (the hidden care date, the
    form as a whole): said at the top rather than lost."""
    return [m for k, msgs in errors.items() if k not in shown for m in msgs]


FORM_FIELDS = (
    "urgency",
    "reason",
    "reason_detail",
    "to_facility",
    "transport",
    "departure",
    "clinical_notes",
    "done_given",
    "accompanied_by",
    *(k for k, _l, _i in VITALS),
)
RETURN_FIELDS = ("outcome", "void", *RETURN_TEXTS)


def router(web_dependency) -> APIRouter:
    r = APIRouter()
    W = Depends(web_dependency)

    def rules(web: Web) -> ReferralRules:
        return service.rules_of(web.settings.paths.facility_file)

    def _form_page(
        web: Web, patient: dict[str, Any], values: dict[str, Any], errors: dict, status: int = 200
    ) -> Response:
        try:
            found = rules(web)
        except ReferralSettingsError as e:
            return web.render(
                "error.html",
                status_code=422,
                title=N_("Référence impossible"),
                message=str(e),
                ref="",
            )
        return web.render(
            "referral_form.html",
            status_code=status,
            p=patient,
            values=values,
            errors=errors,
            receiving=list(found.receiving.values()),
            transport_note=found.transport_note,
            reasons=REASONS,
            transports=TRANSPORTS,
            urgency=URGENCY,
            vitals=VITALS,
            unplaced=unplaced(errors, FORM_FIELDS),
        )

    @r.get("/patients/{patient_id}/referral")
    def new_form(patient_id: str, web: Web = W) -> Response:
        actor = web.require_login()
        start = service.prefill(web.ctx, actor, patient_id)
        rec = start["record"]
        values: dict[str, Any] = {
            "care_date": start["care_date"],
            "reason": start["reason"] or "",
            "alert_code": start["alert_code"] or "",
            "urgency": start["urgency"],
            "transport": "ambulance" if start["urgency"] == "urgent" else "own_means",
            # made now: a second post of this same form returns the referral it wrote
            "referral_id": uuid7(),
            **{k: str(v) for k, v in start["vitals"].items()},
        }
        return _form_page(web, rec, values, {})

    @r.post("/patients/{patient_id}/referral")
    async def create(patient_id: str, request: Request, web: Web = W) -> Response:
        form = await request.form()
        return await run_in_threadpool(_create, web, patient_id, form)

    def _create(web: Web, patient_id: str, form: Any) -> Response:
        web.check_csrf(form.get("csrf"))
        actor = web.require_login()
        data = form_data(form)
        try:
            row = service.create(
                web.ctx,
                actor,
                patient_id,
                data,
                rules=rules(web),
                referral_id=form.get("referral_id") or None,
            )
        except ReferralSettingsError as e:
            return web.render(
                "error.html", status_code=422, title=N_("Référence impossible"), message=str(e),
                ref="",
            )  # fmt: skip
        except (InvalidEncounter, Conflict, ValueError) as e:
            errors = _errors(e, web) if isinstance(e, InvalidEncounter) else {"": [str(e)]}
            patient = patients.resolve(web.ctx, patient_id)
            values = {k: v for k, v in form.items() if k != "csrf"}
            return _form_page(web, patient, values, errors, status=422)
        return web.redirect(f"/referrals/{row['id']}?saved=1")

    @r.get("/referrals")
    def listing(web: Web = W, month: str = "") -> Response:
        actor = web.require_login()
        web.ctx.require(actor, READ_PATIENT)
        try:
            found = rules(web)
        except ReferralSettingsError as e:
            return web.render(
                "error.html", status_code=422, title=N_("Références"), message=str(e), ref=""
            )
        today = web.ctx.now().today
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
            month = today.strftime("%Y-%m")
        start = date.fromisoformat(month + "-01")
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        return web.render(
            "referrals.html",
            waiting=service.awaiting(web.ctx, actor, rules=found),
            made=service.between(web.ctx, actor, start, end),
            month=month,
            months=[
                (today.replace(day=1) - timedelta(days=31 * i)).strftime("%Y-%m") for i in range(6)
            ],
            return_after_days=found.return_after_days,
            reasons=REASONS,
            urgency=URGENCY,
        )

    @r.get("/referrals/{referral_id}")
    def show(referral_id: str, web: Web = W, saved: str = "") -> Response:
        actor = web.require_login()
        row = service.show(web.ctx, actor, referral_id)
        return _show_page(web, actor, row, saved=saved == "1")

    def _show_page(
        web: Web,
        actor: Any,
        row: dict[str, Any],
        *,
        saved: bool = False,
        values: dict | None = None,
        errors: dict | None = None,
        status: int = 200,
    ) -> Response:
        from appliance.reports.referral_pdf import history_lines

        return web.render(
            "referral.html",
            status_code=status,
            r=row,
            saved=saved,
            reasons=REASONS,
            transports=TRANSPORTS,
            outcomes=OUTCOMES,
            urgency=URGENCY,
            sms_states=SMS_STATES,
            vitals=vitals_line(row["data"].get("vitals", {}), web.t),
            history=history_lines(row["data"].get("history", {})),
            may_return=allowed(actor.role, REFER_PATIENT)
            and not row["returned_on"]
            and not row["voided_reason"],
            may_void=allowed(actor.role, REFER_PATIENT) and not row["voided_reason"],
            values=values or {"returned_on": web.ctx.now().today.isoformat()},
            errors=errors or {},
            unplaced=unplaced(errors or {}, RETURN_FIELDS),
        )

    @r.get("/referrals/{referral_id}/fiche.pdf")
    def fiche(referral_id: str, web: Web = W) -> Response:
        actor = web.require_login()
        row = service.show(web.ctx, actor, referral_id)
        from appliance.reports.referral_pdf import fiche_pdf

        name = f"reference-{row['health_number']}-{row['care_date']}.pdf"
        return web.finish(
            Response(
                fiche_pdf(row),
                media_type="application/pdf",
                headers={"Content-Disposition": f'inline; filename="{name}"'},
            )
        )

    @r.post("/referrals/{referral_id}/return")
    async def record_return(referral_id: str, request: Request, web: Web = W) -> Response:
        form = await request.form()
        return await run_in_threadpool(_return, web, referral_id, form)

    def _return(web: Web, referral_id: str, form: Any) -> Response:
        web.check_csrf(form.get("csrf"))
        actor = web.require_login()
        data = {k: (form.get(k) or "").strip() for k in ("outcome", *RETURN_TEXTS)}
        data = {k: v for k, v in data.items() if v}
        try:
            service.record_return(web.ctx, actor, referral_id, data)
        except (InvalidEncounter, Conflict) as e:
            errors = _errors(e, web) if isinstance(e, InvalidEncounter) else {"": [str(e)]}
            row = service.show(web.ctx, actor, referral_id)
            values = {k: v for k, v in form.items() if k != "csrf"}
            return _show_page(web, actor, row, values=values, errors=errors, status=422)
        return web.redirect(f"/referrals/{referral_id}?saved=1")

    @r.post("/referrals/{referral_id}/void")
    async def void(referral_id: str, request: Request, web: Web = W) -> Response:
        form = await request.form()
        return await run_in_threadpool(_void, web, referral_id, form)

    def _void(web: Web, referral_id: str, form: Any) -> Response:
        web.check_csrf(form.get("csrf"))
        actor = web.require_login()
        try:
            service.void(web.ctx, actor, referral_id, reason=(form.get("reason") or ""))
        except (ValueError, Conflict) as e:
            row = service.show(web.ctx, actor, referral_id)
            message = web.t(VOID_REASON) if isinstance(e, ValueError) else str(e)
            return _show_page(web, actor, row, errors={"void": [message]}, status=422)
        return web.redirect(f"/referrals/{referral_id}")

    return r
