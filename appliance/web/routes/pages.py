"""Login, logout, language, the home page and the clock confirmation."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from appliance.clock import ClockError
from appliance.domain.permissions import CONFIRM_CLOCK, READ_PATIENT, allowed
from appliance.services import auth, clinical
from appliance.services.errors import AccountLocked, LoginFailed
from appliance.web.core import Web
from appliance.web.i18n import N_

# The home page's facility-wide lists cost a pass over every record: they are kept for a
# minute, so twenty tablets opening the home page cost one computation.
HOME_CACHE_S = 60
ALERT_DAYS = 14


class MinuteCache:
    """Values kept for HOME_CACHE_S, one cache per app (so per database)."""

    def __init__(self, ttl_s: float = HOME_CACHE_S):
        self.ttl_s = ttl_s
        self._values: dict[tuple, tuple[float, Any]] = {}

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        hit = self._values.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        value = compute()
        self._values = {k: v for k, v in self._values.items() if v[0] > time.monotonic()}
        self._values[key] = (time.monotonic() + self.ttl_s, value)
        return value


def safe_next(url: str | None) -> str:
    """Only a path on this site: never an address elsewhere."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return "/"


def router(web_dependency) -> APIRouter:
    r = APIRouter()
    W = Depends(web_dependency)

    @r.get("/")
    def home(request: Request, web: Web = W, expired: int = 0) -> Response:
        if web.actor is None:
            return web.render(
                "login.html",
                username="",
                error=None,
                expired=bool(expired or web.expired),
                next=safe_next(request.query_params.get("next")),
            )
        actor = web.actor
        reading = web.ctx.now()
        today = reading.today
        values: dict[str, Any] = {"reading": reading, "due": [], "alerts": []}
        if allowed(actor.role, READ_PATIENT):
            cache: MinuteCache = request.app.state.home_cache
            values["due"] = cache.get(
                ("due", today),
                lambda: clinical.facility_due(web.ctx, actor, start=today, end=today),
            )
            values["alerts"] = cache.get(
                ("alerts", today),
                lambda: clinical.facility_alerts(
                    web.ctx, actor, since=today - timedelta(days=ALERT_DAYS), on=today
                ),
            )
        return web.render("home.html", **values)

    @r.post("/login")
    def login(
        web: Web = W,
        username: str = Form(""),
        password: str = Form(""),
        csrf: str = Form(""),
        next: str = Form("/"),
    ) -> Response:
        web.check_csrf(csrf)
        try:
            actor = auth.login(web.ctx, username, password=password)
        except AccountLocked:
            error = N_(
                "Trop d'essais : ce compte est bloqué un moment. "
                "Un administrateur peut le débloquer."
            )
        except (LoginFailed, ValueError):
            error = N_("Nom d'utilisateur ou mot de passe incorrect.")
        else:
            web.start_login_session(actor)
            return web.redirect(safe_next(next))
        return web.render(
            "login.html",
            status_code=401,
            username=username,
            error=error,
            expired=False,
            next=safe_next(next),
        )

    @r.post("/logout")
    def logout(web: Web = W, csrf: str = Form("")) -> Response:
        web.check_csrf(csrf)
        if web.actor is not None:
            web.ctx.audit(web.actor, "logout")
        web.end_session()
        return web.redirect("/")

    @r.post("/lang")
    def lang(web: Web = W, lang: str = Form("fr"), csrf: str = Form(""), back: str = Form("/")):
        web.check_csrf(csrf)
        web.set_lang(lang if lang in ("fr", "en") else "fr")
        return web.redirect(safe_next(back))

    @r.post("/clock")
    def confirm_clock(
        web: Web = W, csrf: str = Form(""), date: str = Form(""), time_of_day: str = Form("")
    ) -> Response:
        """A staff member confirms (or corrects) the date and time after a boot without
        network time; from then on records carry a trusted time."""
        web.check_csrf(csrf)
        actor = web.require_login()
        web.ctx.require(actor, CONFIRM_CLOCK)
        try:
            local = datetime.fromisoformat(f"{date}T{time_of_day or '00:00'}")
            true_time = local.replace(tzinfo=UTC)  # Mali keeps UTC all year
            web.ctx.clock.mark_trusted("staff", true_time, staff_id=actor.id)
        except (ValueError, ClockError):
            return web.render(
                "error.html",
                status_code=400,
                title=N_("Date refusée"),
                message=N_("Cette date ou cette heure n'est pas valable."),
                ref="",
            )
        web.ctx.audit(actor, "clock.confirm", detail={"true_time": true_time.isoformat()})
        return web.redirect("/")

    return r
