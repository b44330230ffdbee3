"""/reminders: tomorrow's SMS reminders for the matron to look over (who, what text, what the
caps hold back, who gets none and why), and the consent change on a patient's record."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from appliance.clinical.reminders import TemplateError
from appliance.domain.encounters import InvalidEncounter
from appliance.facility_file import ReminderSettingsError, reminder_rules
from appliance.services import patients
from appliance.services import reminders as service
from appliance.web.i18n import N_

if TYPE_CHECKING:
    from appliance.web.core import Web

# Why a due item gets no SMS, as the page says it.
WHY = {
    "no_consent": N_("pas d'accord pour les SMS"),
    "no_phone": N_("pas de téléphone"),
    "no_patient": N_("dossier introuvable"),
    "family_planning": N_("jamais de SMS pour ce service"),
    "hiv": N_("jamais de SMS pour ce service"),
    "pregnancy_test": N_("jamais de SMS pour ce service"),
    "confidential_other_phone": N_("téléphone d'une autre personne"),
    "phone_texted_today": N_("déjà un SMS ce jour-là sur ce téléphone"),
    "daily_cap": N_("plafond du jour atteint"),
    "monthly_cap": N_("plafond du mois atteint"),
}

# A queued reminder's status, as the record's page says it.
STATES = {
    "queued": N_("en file"),
    "sending": N_("en cours d'envoi"),
    "sent": N_("envoyé"),
    "failed": N_("échec"),
    "delivered": N_("reçu"),
    "skipped_cap": N_("plafond atteint"),
}


def router(web_dependency) -> APIRouter:
    r = APIRouter()
    W = Depends(web_dependency)

    @r.get("/reminders")
    def preview(web: Web = W) -> Response:
        actor = web.require_login()
        on = web.ctx.now().today + timedelta(days=1)
        try:
            rules = reminder_rules(web.settings.paths.facility_file)
            plan = service.plan(web.ctx, actor, on=on, rules=rules)
        except (ReminderSettingsError, TemplateError, ValueError) as e:
            return web.render("reminders.html", status_code=422, error=str(e), plan=None, on=on)
        names = {
            pid: f"{p['family_name']} {p['given_names']}"
            for pid, p in web.ctx.store.patients.get_many(
                sorted({x["patient_id"] for x in plan["reminders"] + plan["over_cap"]})
            ).items()
        }
        skipped = Counter(s["why"] for s in plan["skipped"])
        return web.render(
            "reminders.html",
            plan=plan,
            on=on,
            names=names,
            skipped=sorted(skipped.items()),
            why=WHY,
            error=None,
        )

    @r.get("/patients/{patient_id}/reminders")
    def of_patient(patient_id: str, web: Web = W) -> Response:
        actor = web.require_login()
        p = patients.get(web.ctx, actor, patient_id)
        rows = service.for_patient(web.ctx, actor, p["id"])
        return web.render(
            "reminders.html", patient=p, sent=rows, states=STATES, plan=None, on=None, error=None
        )

    @r.post("/patients/{patient_id}/sms-consent")
    async def consent(patient_id: str, request: Request, web: Web = W) -> Response:
        form = await request.form()
        return await run_in_threadpool(_consent, web, patient_id, form)

    def _consent(web: Web, patient_id: str, form) -> Response:
        web.check_csrf(form.get("csrf"))
        actor = web.require_login()
        changes = {
            "sms_consent": form.get("sms_consent") == "1",
            "sms_language": form.get("sms_language") or "fr",
        }
        try:
            patients.update(web.ctx, actor, patient_id, changes)  # audited with the fields
        except InvalidEncounter as e:
            return web.render("reminders.html", status_code=422, error=str(e), plan=None, on=None)
        return web.redirect(f"/patients/{patient_id}")

    return r
