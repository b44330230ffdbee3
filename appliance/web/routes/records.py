"""Patients: search while typing, registration with the duplicate warning, the record, the
encounter forms and the due list."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from appliance.clinical import summary
from appliance.clinical.due import MAX_LOOKAHEAD_DAYS
from appliance.clinical.growth import MAX_AGE_DAYS
from appliance.clinical.pregnancy import anc_schedule
from appliance.domain.encounters import MODELS, InvalidEncounter
from appliance.domain.limits import DataTooLarge
from appliance.domain.permissions import (
    READ_PATIENT,
    REFER_PATIENT,
    REGISTER_PATIENT,
    allowed,
    write,
)
from appliance.services import encounters, follow_up, patients, referrals
from appliance.services.errors import Conflict, PossibleDuplicates
from appliance.web import charts, forms
from appliance.web.core import Web
from appliance.web.due_views import (
    DAY_CHOICES,
    DEFAULT_DAYS,
    DUE_SORTS,
    DUE_TABS,
    MAX_DAYS,
    MAX_PAGE,
    due_links,
    due_page,
    households,
    paging,
    round_counts,
    round_date,
    slug,
)
from appliance.web.i18n import N_

log = logging.getLogger("keneya.web")
PATIENT_FIELDS = (
    "family_name",
    "given_names",
    "sex",
    "birth_date",
    "age_years",
    "age_months",
    "village",
    "phone",
    "sms_consent",
    "sms_language",
)


def writable_types(role: str, record: dict[str, Any]) -> list[str]:
    """The forms this staff member may fill for this patient today: the encounter rules the
    service enforces on save decide (the record's "encounter_types"), so nothing offered is
    refused for the patient's sex, age or state."""
    rules = record["encounter_types"]
    return [k for k in MODELS if rules.get(k, "unknown") is None and allowed(role, write(k))]


def growth_charts(web: Web, record: dict[str, Any]) -> list[str]:
    """Weight-for-age and length/height-for-age with the WHO 2006 curves, for a child under
    five; none after (the record then shows the last z-scores and their WHO 2007 reference)."""
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
    def search(web: Web = W, q: str = "", offset: str = "") -> Response:
        actor = web.require_login()
        web.ctx.require(actor, READ_PATIENT)
        results, error, more = [], None, False
        # A page number typed by hand that is not one shows the first page.
        start = int(offset) if offset.isdigit() and len(offset) < 7 else 0
        if q.strip():
            try:
                page = patients.search_page(web.ctx, actor, q, offset=start)
                results, more = page["results"], page["more"]
            except ValueError as e:
                log.info("search refused: %s", e)
                error = N_(
                    "Tapez un nom (des lettres), un numéro de santé ou un numéro de téléphone."
                )
        template = "_results.html" if web.is_htmx else "search.html"
        return web.render(
            template,
            q=q,
            results=results,
            error=error,
            offset=start,
            next_offset=start + len(results) if more else None,
            today=web.ctx.now().today,
        )

    @r.get("/patients/new")
    def register_form(web: Web = W) -> Response:
        actor = web.require_login()
        web.ctx.require(actor, REGISTER_PATIENT)
        return web.render(
            "register.html",
            values={"sex": ""},
            errors={},
            duplicates=[],
            limits=forms.PATIENT_MAX_LENGTHS,
        )

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
                "register.html",
                status_code=409,
                values=values,
                errors={},
                duplicates=e.candidates,
                limits=forms.PATIENT_MAX_LENGTHS,
            )
        except InvalidEncounter as e:
            return web.render(
                "register.html",
                status_code=422,
                values=values,
                errors=forms.explain(e.details, web.t),
                duplicates=[],
                limits=forms.PATIENT_MAX_LENGTHS,
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
            referrals=referrals.for_patient(web.ctx, rec["id"]),
            may_refer=allowed(actor.role, REFER_PATIENT) and not rec["merged_into"],
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
        # a type this patient may not have today is said before anything is typed (the save
        # would refuse it; a form for another date stays possible)
        refusal = encounters.type_refusals(web.ctx, patient, reading.today)[type]
        errors = {"type": [forms.refusal_text(refusal, web.t)]} if refusal else {}
        return web.render(
            "encounter.html",
            p=patient,
            kind=type,
            fields=forms.fields_of(type),
            values={"care_date": care_date.isoformat() if care_date else ""},
            form=None,
            errors=errors,
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
    def due(
        web: Web = W,
        tab: str = "",
        village: str = "",
        sort: str = "",
        page: int = 1,
        days: int | None = None,
    ) -> Response:
        actor = web.require_login()
        web.ctx.require(actor, READ_PATIENT)
        today = web.ctx.now().today
        tab = tab if tab in DUE_TABS else "today"
        page = max(1, min(page, MAX_PAGE))  # a typed-in huge page is the last one
        days = DEFAULT_DAYS if days is None else max(0, min(days, MAX_DAYS))
        if sort not in DUE_SORTS:
            sort = "date" if tab == "defaulters" else "priority"
        village = village.strip()
        villages = follow_up.villages(web.ctx, actor)
        listed: dict[str, Any] = {"total": 0, "items": []}
        pages = paging(0, page)
        if tab != "outreach":
            listed = due_page(web.ctx, actor, tab, today, days, village or None, sort, page)
            pages = paging(listed["total"], page)
        return web.render(
            "due.html",
            tab=tab,
            tabs=DUE_TABS,
            items=listed["items"],
            pages=pages,
            links=due_links(tab=tab, village=village, sort=sort, days=days),
            village=village,
            villages=villages,
            sort=sort,
            sorts=DUE_SORTS,
            days=days,
            day_choices=DAY_CHOICES,
            today=today,
            round_date=(today + timedelta(days=7)).isoformat(),
            max_date=(today + timedelta(days=MAX_LOOKAHEAD_DAYS)).isoformat(),
        )

    @r.get("/due/outreach")
    def outreach(web: Web = W, village: str = "", date: str = "") -> Response:
        actor = web.require_login()
        web.ctx.require(actor, READ_PATIENT)
        today = web.ctx.now().today
        villages = follow_up.villages(web.ctx, actor)
        on, error = round_date(date, today)
        village = village.strip()
        if error is None and not village:
            error = N_("Choisissez le village de la tournée.")
        round_ = None
        if error is None:
            round_ = follow_up.outreach(web.ctx, actor, village=village, on=on)
        return web.render(
            "outreach.html",
            status_code=422 if error and (date or village) else 200,
            round=round_,
            homes=households(round_["items"]) if round_ else [],
            counts=round_counts(round_["items"]) if round_ else {},
            error=error,
            village=village,
            villages=villages,
            date=(on or today + timedelta(days=7)).isoformat(),
            today=today,
            max_date=(today + timedelta(days=MAX_LOOKAHEAD_DAYS)).isoformat(),
            pdf_url="/due/outreach.pdf?"
            + urlencode({"village": village, "date": on.isoformat() if on else ""}),
        )

    @r.get("/due/outreach.pdf")
    def outreach_pdf(web: Web = W, village: str = "", date: str = "") -> Response:
        actor = web.require_login()
        web.ctx.require(actor, READ_PATIENT)
        today = web.ctx.now().today
        on, error = round_date(date, today)
        village = village.strip()
        if error is None and not village:
            error = N_("Choisissez le village de la tournée.")
        if error is not None:
            return web.render(
                "error.html", status_code=422, title=N_("Liste refusée"), message=error, ref=""
            )
        from appliance.reports import outreach_pdf as pdf

        round_ = follow_up.outreach(web.ctx, actor, village=village, on=on)
        body = pdf.render(
            round_,
            facility=web.ctx.store.get_setting("facility_name") or "",
            printed_on=today,
        )
        name = f"tournee-{slug(village)}-{on.isoformat()}.pdf"
        return web.finish(
            Response(
                body,
                media_type="application/pdf",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        )

    return r
