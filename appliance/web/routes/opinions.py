"""/patients/{id}/opinion: ask the district for a second opinion (question, consent to send
the name, a photo from the tablet's camera) and read the questions and replies of the record;
/opinions/{id}/photo: the photo as it left."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from appliance.domain.permissions import ASK_OPINION, allowed
from appliance.facility_file import OpinionSettingsError, opinion_settings
from appliance.opinion.message import MAX_QUESTION_CHARS
from appliance.opinion.photo import PhotoError
from appliance.services import opinions, patients
from appliance.services.errors import Conflict, NotProvisioned
from appliance.web.i18n import N_

if TYPE_CHECKING:
    from appliance.web.core import Web

STATES = {
    "queued": N_("en attente du réseau"),
    "sending": N_("en cours d'envoi"),
    "sent": N_("envoyée, sans réponse"),
    "answered": N_("répondue"),
    "failed": N_("échec : voir le technicien"),
}


def router(web_dependency) -> APIRouter:
    r = APIRouter()
    W = Depends(web_dependency)

    def page(web: Web, patient_id: str, *, status_code: int = 200, **values) -> Response:
        actor = web.require_login()
        patient = patients.resolve(web.ctx, patient_id)
        try:
            settings = opinion_settings(web.settings.paths.facility_file)
            setup_error = None
        except OpinionSettingsError as e:
            settings, setup_error = None, str(e)
        questions = opinions.for_patient(web.ctx, actor, patient["id"])
        return web.render(
            "opinion.html",
            status_code=status_code,
            patient=patient,
            questions=questions,
            states=STATES,
            may_ask=allowed(actor.role, ASK_OPINION) and not patient["merged_into"],
            enabled=settings is not None and settings.enabled,
            setup_error=setup_error,
            max_chars=MAX_QUESTION_CHARS,
            **{"error": None, "question": "", "asked": None, **values},
        )

    @r.get("/patients/{patient_id}/opinion")
    def show(patient_id: str, web: Web = W) -> Response:
        return page(web, patient_id, asked=web.request.query_params.get("asked"))

    @r.post("/patients/{patient_id}/opinion")
    async def ask(patient_id: str, request: Request, web: Web = W) -> Response:
        form = await request.form()
        photo = form.get("photo")
        data = await photo.read() if photo is not None and hasattr(photo, "read") else b""
        return await run_in_threadpool(_ask, web, patient_id, form, data)

    def _ask(web: Web, patient_id: str, form, data: bytes) -> Response:
        web.check_csrf(form.get("csrf"))
        actor = web.require_login()
        question = str(form.get("question") or "")
        try:
            settings = opinion_settings(web.settings.paths.facility_file)
            q = opinions.ask(
                web.ctx,
                actor,
                patient_id,
                question,
                settings=settings,
                photo=data or None,
                consent_name=form.get("consent_name") == "on",
            )
        except (Conflict, NotProvisioned, PhotoError, OpinionSettingsError) as e:
            return page(web, patient_id, status_code=422, error=str(e), question=question)
        return web.redirect(f"/patients/{q['patient_id']}/opinion?asked={q['id']}")

    @r.get("/opinions/{question_id}/photo")
    def photo(question_id: str, web: Web = W) -> Response:
        actor = web.require_login()
        data = opinions.photo(web.ctx, actor, question_id)
        if not data:
            return web.finish(Response(status_code=404))
        return web.finish(Response(data, media_type="image/jpeg"))

    return r
