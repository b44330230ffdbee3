"""The JSON API under /api/v1, for tablet apps to come. Same sessions and the same service
calls as the pages; a write also needs the session's CSRF token in the X-CSRF-Token header."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Header, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from appliance.clinical.due import MAX_LOOKAHEAD_DAYS
from appliance.domain.encounters import ENCOUNTER_TYPES, InvalidEncounter
from appliance.domain.limits import DataTooLarge
from appliance.services import auth, encounters, follow_up, patients, update_state
from appliance.services.errors import Conflict, LoginFailed, LoginThrottled, PossibleDuplicates
from appliance.web.core import Web, client_address
from appliance.web.forms import explain
from appliance.web.i18n import N_, Translator
from appliance.web.routes.pages import WRONG_LOGIN, throttled_message
from appliance.web.routes.status import JOIN_QR_PATH, appliance_status


class Credentials(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class PatientBody(BaseModel):
    family_name: str = Field(max_length=80)
    given_names: str = Field(max_length=120)
    sex: Literal["F", "M"]
    birth_date: date | None = None
    age_years: int | None = Field(None, ge=0, le=120)
    age_months: int | None = Field(None, ge=0, le=71)
    village: str | None = Field(None, max_length=80)
    phone: str | None = Field(None, max_length=30)  # as the domain (PatientIn) allows
    mother_id: str | None = Field(None, max_length=40)


class EncounterBody(BaseModel):
    type: Literal[ENCOUNTER_TYPES]  # type: ignore[valid-type]
    data: dict[str, Any]


MAX_OFFSET = 100_000_000  # beyond any list; keeps the number an SQLite integer
# a list parameter (?state=due&state=overdue, or ?state=due,overdue)
STATES_QUERY = Query(
    None,
    description="upcoming, due, overdue, defaulter: repeated or comma-separated"
    " (default: upcoming, due and overdue)",
)
REFUSED = N_("Rien n'a été enregistré")


def _problems(e: InvalidEncounter) -> list[dict[str, str]]:
    return [{"field": f, "message": m} for f, m in e.problems]


def _explained(e: InvalidEncounter, t: Translator) -> str:
    """One line in the reader's language (French unless the session chose English)."""
    parts = [
        f"{field} : {message}" if field else message
        for field, messages in explain(e.details, t).items()
        for message in messages
    ]
    return f"{t(REFUSED)} : " + " ; ".join(parts)


def _call(fn: Callable[[], Any], *, created: bool = False, t: Translator | None = None) -> Any:
    """Service errors a client can fix become 4xx replies with the reason."""
    try:
        result = fn()
    except PossibleDuplicates as e:
        return JSONResponse(
            {"error": "possible duplicates", "candidates": e.candidates}, status_code=409
        )
    except InvalidEncounter as e:
        body = {
            "error": "too large" if isinstance(e, DataTooLarge) else "invalid",
            "message": _explained(e, t or Translator("fr")),
            "problems": _problems(e),
        }
        return JSONResponse(body, status_code=413 if isinstance(e, DataTooLarge) else 422)
    except Conflict as e:
        return JSONResponse({"error": str(e)}, status_code=409)
    except ValueError as e:
        return JSONResponse({"error": str(e)}, status_code=422)
    return JSONResponse(result, status_code=201) if created else result


def router(web_dependency) -> APIRouter:
    r = APIRouter(tags=["api"])
    W = Depends(web_dependency)

    def writer(web: Web, token: str | None) -> None:
        web.require_login()
        web.check_csrf(token)

    @r.post("/session", summary="Log in; the reply carries the CSRF token for writes")
    def login(body: Credentials, web: Web = W) -> Any:
        # Passwords only, as the form: no PIN is ever checked over the network.
        try:
            actor = auth.login(
                web.ctx,
                body.username,
                password=body.password,
                client=client_address(web.request),
                device=web.device_token,
                device_renewed=web.next_device_token,
            )
        except LoginThrottled as e:
            body_429 = {
                "error": throttled_message(web, e),
                "retry_after_s": e.retry_after_s,
            }
            return web.finish(
                JSONResponse(
                    body_429, status_code=429, headers={"Retry-After": str(e.retry_after_s)}
                )
            )
        except (LoginFailed, ValueError):
            # one answer for unknown, inactive and wrong: it tells nobody who exists
            body_401 = {"error": web.t(WRONG_LOGIN)}  # in the session's language, as the 429
            return web.finish(JSONResponse(body_401, status_code=401))
        web.start_login_session(actor)
        payload = {
            "csrf_token": web.csrf,
            "staff": {"username": actor.username, "role": actor.role, "name": actor.display_name},
        }
        return web.finish(JSONResponse(payload))

    @r.delete("/session", summary="Log out")
    def logout(web: Web = W, x_csrf_token: str | None = Header(None)) -> Any:
        writer(web, x_csrf_token)
        with web.ctx.store.transaction():  # as the page's logout: audited, in one commit
            web.ctx.audit(web.actor, "logout")
            web.end_session()
        return web.finish(JSONResponse({"ok": True}))

    @r.get(
        "/patients",
        summary="Search by name, health number or phone",
        description="One page of results, closest first then the most recently seen. When"
        ' more follow, the reply has a `Link` header with rel="next" (the same query at the'
        " next offset) and `X-More-Results: true`.",
    )
    def search(
        web: Web = W,
        q: str = Query(min_length=1, max_length=100),
        limit: int = Query(20, ge=1, le=100),
        offset: int = Query(0, ge=0, le=100_000),
    ) -> Any:
        actor = web.require_login()
        page = _call(lambda: patients.search_page(web.ctx, actor, q, limit=limit, offset=offset))
        if not isinstance(page, dict):
            return page  # an error reply
        headers = {"X-More-Results": "true" if page["more"] else "false"}
        if page["more"]:
            query = urlencode({"q": q, "limit": limit, "offset": offset + limit})
            headers["Link"] = f'</api/v1/patients?{query}>; rel="next"'
        return JSONResponse(jsonable_encoder(page["results"]), headers=headers)

    @r.post("/patients", status_code=201, summary="Register a patient")
    def register(
        body: PatientBody,
        web: Web = W,
        accept_duplicates: bool = False,
        x_csrf_token: str | None = Header(None),
    ) -> Any:
        writer(web, x_csrf_token)
        data = body.model_dump(mode="json", exclude_none=True)
        return _call(
            lambda: patients.register(
                web.ctx, web.actor, data, accept_duplicates=accept_duplicates
            ),
            created=True,
            t=web.t,
        )

    @r.get("/patients/{patient_id}", summary="The whole record, with alerts and due items")
    def record(patient_id: str, web: Web = W) -> Any:
        actor = web.require_login()
        return _call(lambda: patients.record(web.ctx, actor, patient_id))

    @r.post("/patients/{patient_id}/encounters", status_code=201, summary="Record care")
    def add_encounter(
        patient_id: str,
        body: EncounterBody,
        web: Web = W,
        x_csrf_token: str | None = Header(None),
    ) -> Any:
        writer(web, x_csrf_token)
        return _call(
            lambda: encounters.add(web.ctx, web.actor, patient_id, body.type, body.data),
            created=True,
            t=web.t,
        )

    @r.get("/due", summary="Follow-up items by state, a page at a time: {total, items}")
    def due(
        web: Web = W,
        days: int = Query(7, ge=0, le=MAX_LOOKAHEAD_DAYS),
        village: str | None = Query(None, max_length=80),
        state: list[str] | None = STATES_QUERY,
        sort: Literal["priority", "date", "village"] = "priority",
        limit: int = Query(100, ge=1, le=500),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
    ) -> Any:
        actor = web.require_login()
        today = web.ctx.now().today
        asked = state or ["upcoming,due,overdue"]
        states = tuple(dict.fromkeys(s.strip() for v in asked for s in v.split(",") if s.strip()))
        return _call(
            lambda: follow_up.listing(
                web.ctx,
                actor,
                start=today,
                end=today + timedelta(days=days),
                village=village,
                states=states,
                sort=sort,
                limit=limit,
                offset=offset,
            )
        )

    @r.get("/due/today", summary="Today's work: due and overdue, with the defaulter count")
    def due_today(
        web: Web = W,
        limit: int = Query(50, ge=1, le=500),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
    ) -> Any:
        actor = web.require_login()
        return _call(lambda: follow_up.today(web.ctx, actor, limit=limit, offset=offset))

    @r.get("/status", summary="Power, modem, hotspot, outbox, disk and clock")
    def technician_status(web: Web = W) -> Any:
        actor = web.require_login()
        s = appliance_status(web, actor, web.settings.now())
        # The passphrase stays off the JSON (it would sit in logs and caches): the join QR code
        # is an image at its own address, for the page's eyes and the technician's camera.
        if s["hotspot"].pop("join_payload", None) is not None:
            s["hotspot"]["join_qr"] = JOIN_QR_PATH
        return s

    @r.post("/update/install", status_code=202, summary="Install the update on offer (admin)")
    def install_update(web: Web = W, x_csrf_token: str | None = Header(None)) -> Any:
        writer(web, x_csrf_token)
        try:
            return update_state.request_install(web.ctx, web.actor, web.settings.paths.data_dir)
        except update_state.UpdateRequestError as e:
            return JSONResponse({"detail": str(e)}, status_code=409)

    @r.get("/login-failures", summary="Failed logins of the last hour: accounts, clients, pairs")
    def login_failures(web: Web = W) -> Any:
        actor = web.require_login()
        return auth.login_failures(web.ctx, actor)

    @r.delete(
        "/login-failures",
        summary="Clear the throttling of an account (account=) or of a client address (client=)",
    )
    def clear_login_failures(
        web: Web = W,
        account: str | None = Query(None, max_length=64),
        client: str | None = Query(None, max_length=64),
        x_csrf_token: str | None = Header(None),
    ) -> Any:
        writer(web, x_csrf_token)
        if bool(account) == bool(client):
            return JSONResponse({"error": "give account= or client=, one of them"}, 422)
        if account:
            cleared = auth.unlock(web.ctx, web.actor, account)  # type: ignore[arg-type]
        else:
            cleared = auth.unblock_client(web.ctx, web.actor, client)  # type: ignore[arg-type]
        return {"cleared": cleared}

    return r
