"""The power banner on every page (low battery, sensor faults, the shutdown countdown) and the
"Annuler l'arrêt" button for the roles the permission table allows."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from appliance.services.power import cancel_shutdown, may_cancel, monitor_silent_since, staff_name
from appliance.web import power_texts
from appliance.web.routes.pages import safe_next

if TYPE_CHECKING:
    from appliance.web.core import Web

log = logging.getLogger("keneya.web")


def page_power(web: Web) -> dict[str, Any] | None:
    """What the banner of this page shows, or None. Never fails a page: a broken power row
    (or a database being restored) just means no banner."""
    try:
        store = web.ctx.store
        row = store.power.state()
        cancelled = store.power.last_event(["shutdown_cancelled"]) if row else None
        # The clock's best estimate: the monitor writes its times in it, and the machine's
        # own time can be hours off on a Pi without a real-time clock.
        now_s = web.ctx.now().now.timestamp()
        text = power_texts.banner(
            row, web.t, now_s, cancelled=cancelled, name_of=lambda u: staff_name(store, u)
        )
    except Exception as e:  # noqa: BLE001 - the banner is an extra; the page must open
        log.warning("power banner left out: %s", e)
        return None
    if text is None:
        return None
    counting = power_texts.countdown_seconds(row, now_s) is not None
    if monitor_silent_since(row, now_s):
        colour = "silent"  # not the frozen countdown's red
    elif power_texts.cancel_asked_by(row):
        colour = "cancel_asked"  # a cancel asked for is no longer an alarm
    else:
        colour = (row or {}).get("state")
    return {
        "text": text,
        "countdown": counting,
        "state": colour,
        "may_cancel": counting and may_cancel(web.actor),
        "who_may": power_texts.who_may_cancel(web.t) if counting and web.actor else None,
        "back": _page_address(web),
    }


def _page_address(web: Web) -> str:
    """Where the cancel brings the staff member back: this page, or, when htmx refreshes the
    banner alone, the page the browser shows (htmx sends its address)."""
    if web.is_htmx:
        shown = urlsplit(web.request.headers.get("HX-Current-URL", ""))
        path, query = shown.path, shown.query
    else:
        path, query = web.request.url.path, web.request.url.query
    return safe_next(path + (f"?{query}" if query else ""))


def router(web_dependency) -> APIRouter:
    r = APIRouter()
    W = Depends(web_dependency)

    @r.get("/power/banner")
    def banner(web: Web = W) -> Response:
        """The banner alone: pages refresh it every few seconds (htmx) so the countdown moves
        and goes away once cancelled."""
        return web.render("_power_banner.html", power=page_power(web))

    @r.post("/power/cancel")
    def cancel(web: Web = W, csrf: str = Form(""), back: str = Form("/")) -> Response:
        web.check_csrf(csrf)
        actor = web.require_login()
        # Refused roles get the app's 403 page (PermissionDenied); nothing pending is no
        # error: the page comes back and its banner says what is true now.
        cancel_shutdown(web.ctx, actor)
        return web.redirect(safe_next(back))

    return r
