"""Login, logout, language, the home page and the clock confirmation."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from appliance.clock import ClockError
from appliance.domain.permissions import READ_PATIENT
from appliance.domain.referrals import ReferralSettingsError
from appliance.services import audit, auth, referrals
from appliance.services.errors import LoginFailed, LoginThrottled
from appliance.web.core import Web, client_address
from appliance.web.disk import http_status
from appliance.web.home import home_lists as read_home_lists
from appliance.web.i18n import N_

# The same words whichever account was tried, known or not.
THROTTLED = N_("Trop d'essais depuis cet appareil : réessayez dans %(seconds)s s.")
WRONG_LOGIN = N_("Nom d'utilisateur ou mot de passe incorrect.")
ACCOUNT_THROTTLED = N_(
    "Trop d'essais sur ce nom depuis d'autres appareils : réessayez dans %(seconds)s s."
    " Sur un appareil où vous vous êtes déjà connecté, ou au kiosque, vous entrez sans attendre."
)


ACCOUNT_THROTTLED_HERE_TOO = N_(
    "Trop d'essais sur ce nom, dont plusieurs depuis cet appareil : réessayez dans"
    " %(seconds)s s. Au kiosque, vous entrez sans attendre."
)


def throttled_message(web: Web, refusal: LoginThrottled) -> str:
    """The refusal in the reader's language, naming what holds it: this device, or the name
    (this device included when it has lost its standing by guessing)."""
    if refusal.scope != "account":
        text = THROTTLED
    elif refusal.device_spent:
        text = ACCOUNT_THROTTLED_HERE_TOO
    else:
        text = ACCOUNT_THROTTLED
    return web.t(text) % {"seconds": refusal.retry_after_s}


def safe_next(url: str | None) -> str:
    """Only a path on this site: never an address elsewhere."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return "/"


def late_referrals(web: Web) -> int | None:
    """Referrals with no counter-referral after [referral] return_after_days; None when the
    facility file's [referral] is wrong (the referrals page says why)."""
    try:
        rules = referrals.rules_of(web.settings.paths.facility_file)
    except ReferralSettingsError:
        return None
    return referrals.count_late(web.ctx, rules=rules)


def router(web_dependency) -> APIRouter:
    r = APIRouter()
    W = Depends(web_dependency)

    @r.get("/")
    def home(request: Request, web: Web = W, expired: int = 0) -> Response:
        if web.actor is None:
            problem = web.disk_problem  # no login can be written: the page says why
            return web.render(
                "login.html",
                status_code=http_status(problem) if problem else 200,
                username="",
                error=None,
                expired=bool(expired or web.expired),
                next=safe_next(request.query_params.get("next")),
            )
        return web.render("home.html", reading=web.ctx.now())

    @r.get("/home/lists")
    def home_lists(request: Request, web: Web = W) -> Response:
        """The due list and alerts, loaded into the home page once they are ready."""
        actor = web.require_login()
        web.ctx.require(actor, READ_PATIENT)
        lists = read_home_lists(web.ctx, actor, request.app.state.home_lists)
        lists["referrals_late"] = late_referrals(web)
        return web.render("_home_lists.html", lists=lists)

    @r.post("/login")
    def login(
        web: Web = W,
        username: str = Form(""),
        password: str = Form(""),
        csrf: str = Form(""),
        next: str = Form("/"),
    ) -> Response:
        web.check_csrf(csrf)
        retry_after = None
        try:
            actor = auth.login(
                web.ctx,
                username,
                password=password,
                client=client_address(web.request),
                device=web.device_token,
                device_renewed=web.next_device_token,
            )
        except LoginThrottled as e:
            retry_after = e.retry_after_s
            error = throttled_message(web, e)
        except (LoginFailed, ValueError):
            error = WRONG_LOGIN
        else:
            web.start_login_session(actor)
            return web.redirect(safe_next(next))
        response = web.render(
            "login.html",
            status_code=401 if retry_after is None else 429,
            username=username,
            error=error,
            expired=False,
            next=safe_next(next),
        )
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @r.post("/logout")
    def logout(web: Web = W, csrf: str = Form("")) -> Response:
        web.check_csrf(csrf)
        with web.ctx.store.transaction():  # the session ends and its audit row, together
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
        try:
            local = datetime.fromisoformat(f"{date}T{time_of_day or '00:00'}")
            true_time = local.replace(tzinfo=UTC)  # Mali keeps UTC all year
            audit.confirm_clock(web.ctx, actor, true_time)
        except (ValueError, ClockError):
            return web.render(
                "error.html",
                status_code=400,
                title=N_("Date refusée"),
                message=N_("Cette date ou cette heure n'est pas valable."),
                ref="",
            )
        return web.redirect("/")

    return r
