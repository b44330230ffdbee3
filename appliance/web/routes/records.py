"""Patients: search while typing, registration with the duplicate warning, the record, the
encounter forms and the due list."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from appliance.clinical import summary
from appliance.clinical.growth import MAX_AGE_DAYS
from appliance.clinical.pregnancy import anc_schedule
from appliance.domain.encounters import MODELS, InvalidEncounter
from appliance.domain.limits import DataTooLarge
from appliance.domain.permissions import READ_PATIENT, REGISTER_PATIENT, allowed, write
from appliance.services import clinical, encounters, patients
from appliance.services.errors import Conflict, PossibleDuplicates
from appliance.web import charts, forms
from appliance.web.core import Web
from appliance.web.i18n import N_

log = logging.getLogger("keneya.web")
# A tablet page stays light: past this many rows, choose a village.
DUE_ROWS = 300
PATIENT_FIELDS = (
    "family_name",
    "given_names",
    "sex",
    "birth_date",
    "age_years",
    "age_months",
    "village",
    "phone",
)


def writable_types(role: str, record: dict[str, Any]) -> list[str]:
    """The forms this staff member may fill for this patient."""
    suitable = summary.suitable_kinds(record)
    return [k for k in MODELS if k in suitable and allowed(role, write(k))]


def growth_charts(web: Web, record: dict[str, Any]) -> list[str]:
    """Weight-for-age and length/height-for-age with the WHO curves, for a child under five."""
    if record["age_days"] > MAX_AGE_DAYS:
        return []
    t = web.t
    points = summary.growth_points(record)
    return [
        charts.growth_chart_svg(
            index=index,
            sex=record["sex"],
            points=points[index],
            labels={"title": t(title), "x": t("Âge (mois)"), "y": unit, "months": t("mois")},
        )
        for index, title, unit in (
            ("wfa", N_("Poids pour l'âge"), "kg"),
            ("hfa", N_("Taille pour l'âge"), "cm"),
        )
    ]


def pregnancy_view(record: dict[str, Any], today: date) -> dict[str, Any] | None:
    pregnancy = summary.pregnancy_of(record, today)
    if pregnancy is None:
        return None
    return {
        "pregnancy": pregnancy,
        "ga_weeks": (today - pregnancy.lmp).days // 7,
        "contacts": anc_schedule(pregnancy, pregnancy.anc_dates, today),
    }


def router(web_dependency) -> APIRouter:
    r = APIRouter()
    W = Depends(web_dependency)

    @r.get("/patients")
    def search(web: Web = W, q: str = "") -> Response:
        actor = web.require_login()
        web.ctx.require(actor, READ_PATIENT)
        results, error = [], None
        if q.strip():
            try:
                results = patients.search(web.ctx, actor, q)
            except ValueError as e:
                log.info("search refused: %s", e)
                error = N_(
                    "Tapez un nom (des lettres), un numéro de santé ou un numéro de téléphone."
                )
        template = "_results.html" if web.is_htmx else "search.html"
        return web.render(template, q=q, results=results, error=error, today=web.ctx.now().today)

    @r.get("/patients/new")
    def register_form(web: Web = W) -> Response:
        actor = web.require_login()
        web.ctx.require(actor, REGISTER_PATIENT)
        return web.render("register.html", values={"sex": ""}, errors={}, duplicates=[])

    @r.post("/patients/new")
    async def register(request: Request, web: Web = W) -> Response:
        form = await request.form()
        return await run_in_threadpool(_register, web, form)

    def _register(web: Web, form) -> Response:
        web.check_csrf(form.get("csrf"))
        actor = web.require_login()
        values = {k: (form.get(k) or "").strip() for k in PATIENT_FIELDS}
        data = forms.patient_data(values)
        try:
            row = patients.register(
                web.ctx, actor, data, accept_duplicates=form.get("accept_duplicates") == "1"
            )
        except PossibleDuplicates as e:
            return web.render(
                "register.html", status_code=409, values=values, errors={}, duplicates=e.candidates
            )
        except InvalidEncounter as e:
            return web.render(
                "register.html",
                status_code=422,
                values=values,
                errors=forms.explain(e.details, web.t),
                duplicates=[],
            )
        return web.redirect(f"/patients/{row['id']}")

    @r.get("/patients/{patient_id}")
    def record(patient_id: str, web: Web = W) -> Response:
        actor = web.require_login()
        rec = patients.record(web.ctx, actor, patient_id)
        today = web.ctx.now().today
        given, due = summary.vaccine_card(rec)
        return web.render(
            "record.html",
            p=rec,
            today=today,
            charts=growth_charts(web, rec),
            pregnancy=pregnancy_view(rec, today),
            vaccines_given=given,
            vaccines_due=due,
            types=writable_types(actor.role, rec),
            timeline=list(reversed(rec["encounters"])),
            saved=web.request.query_params.get("saved"),
        )

    @r.get("/patients/{patient_id}/encounters/new")
    def encounter_form(patient_id: str, web: Web = W, type: str = "consultation") -> Response:
        actor = web.require_login()
        if type not in MODELS:
            type = "consultation"
        web.ctx.require(actor, write(type))
        patient = patients.resolve(web.ctx, patient_id)
        web.ctx.require(actor, READ_PATIENT)
        reading = web.ctx.now()
        care_date = forms.care_date_default(reading)
        return web.render(
            "encounter.html",
            p=patient,
            kind=type,
            fields=forms.fields_of(type),
            values={"care_date": care_date.isoformat() if care_date else ""},
            form=None,
            errors={},
            warnings=forms.clock_warnings(reading, web.t),
        )

    @r.post("/patients/{patient_id}/encounters/new")
    async def encounter_save(patient_id: str, request: Request, web: Web = W) -> Response:
        form = await request.form()
        return await run_in_threadpool(_encounter_save, web, patient_id, form)

    def _encounter_save(web: Web, patient_id: str, form) -> Response:
        web.check_csrf(form.get("csrf"))
        actor = web.require_login()
        kind = form.get("type") or ""
        if kind not in MODELS:
            return web.redirect(f"/patients/{patient_id}")
        data = forms.parse(kind, form)
        try:
            saved = encounters.add(web.ctx, actor, patient_id, kind, data)
        except (InvalidEncounter, Conflict) as e:
            patient = patients.resolve(web.ctx, patient_id)
            errors = (
                forms.explain(e.details, web.t)
                if isinstance(e, InvalidEncounter)
                else {"": [str(e)]}
            )
            return web.render(
                "encounter.html",
                status_code=413 if isinstance(e, DataTooLarge) else 422,
                p=patient,
                kind=kind,
                fields=forms.fields_of(kind),
                values=dict(form),
                form=form,
                errors=errors,
                warnings=forms.clock_warnings(web.ctx.now(), web.t),
            )
        return web.redirect(f"/patients/{saved['patient_id']}?saved={kind}")

    @r.get("/due")
    def due(web: Web = W, village: str = "", days: int = 7) -> Response:
        actor = web.require_login()
        today = web.ctx.now().today
        days = max(0, min(days, 90))
        items = clinical.facility_due(
            web.ctx,
            actor,
            start=today,
            end=today + timedelta(days=days),
            village=village.strip() or None,
        )
        villages = sorted({(i["contact"].get("village") or "") for i in items} - {""})
        return web.render(
            "due.html",
            items=items[:DUE_ROWS],
            total=len(items),
            village=village,
            days=days,
            villages=villages,
            today=today,
        )

    return r
