"""The dashboard: the year's indicators by group with their definitions, the four key charts
(server-side SVG, each with its numbers in a table and a caption), and the same on one A4
page for the monthly meeting with the ASACO."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from appliance.domain import permissions
from appliance.services.context import Actor
from appliance.web import dashboard_view as view
from appliance.web.core import Web
from appliance.web.i18n import N_

PERMISSION = permissions.VIEW_DASHBOARD


FIRST_YEAR = 2000
# The page opens in under 300 ms whatever the facility's size: when months are out of date,
# the web app's one background refresh counts them (started if none runs) and the page waits
# for it this long at most, then shows the stored counts, says which months are still being
# counted and reloads itself.
PAGE_WAIT_S = 0.2


def load(web: Web, actor: Actor, year: int, *, background: bool = False) -> dict:
    """The year's figures, as the dashboard service counts them; with `background`, the
    months out of date are left to the background refresh (waited for PAGE_WAIT_S)."""
    from appliance.services import dashboard
    from appliance.web.app import own_context

    # the facility file's [population] gives the targets; without it, counts only
    facility_file = web.settings.paths.facility_file
    if not background:
        return dashboard.dashboard(web.ctx, actor, year, facility_file=facility_file)
    settings = web.settings
    return dashboard.dashboard_at_once(
        web.ctx,
        actor,
        year,
        open_context=lambda: own_context(settings),
        wait_s=PAGE_WAIT_S,
        facility_file=facility_file,
    )


def _months_said(months: list[str], lang: str) -> str:
    """A few months by name, more as a span (a cold year would list twelve)."""
    if len(months) > 3:
        return f"{view.month_name(months[0], lang)} – {view.month_name(months[-1], lang)}"
    return ", ".join(view.month_name(m, lang) for m in months)


def _year(web: Web, year: str) -> int | None:
    this_year = web.ctx.now().today.year
    if not year:
        return this_year
    try:
        y = int(year)
    except ValueError:
        return None
    return y if FIRST_YEAR <= y <= this_year else None


def router(web_dependency) -> APIRouter:
    r = APIRouter()
    W = Depends(web_dependency)

    @r.get("/dashboard")
    def page(web: Web = W, year: str = "") -> Response:
        actor = web.require_login()
        web.ctx.require(actor, PERMISSION)
        y = _year(web, year)
        if y is None:
            return web.render(
                "dashboard.html",
                year=year,
                data=None,
                error=N_("Choisissez une année entre 2000 et l'année en cours."),
            )
        data = load(web, actor, y, background=True)
        t, lang = web.t, web.lang
        today = web.ctx.now().today
        return web.render(
            "dashboard.html",
            year=y,
            data=data,
            error=None,
            through=view.month_name(data["through"], lang) if data.get("through") else "",
            # the running year is counted to today, not to the end of its month
            today=today.day if y == today.year else None,
            pending=_months_said(data.get("pending", []), lang),
            charts=view.key_charts(data, t, lang),
            sections=view.sections(data, t, lang),
            top_diagnoses=[
                {"label": view.pick(d["label"], lang), **d} for d in data.get("top_diagnoses", [])
            ],
            follow_up_definition=view.pick(data.get("follow_up_definition"), lang),
            follow_up=[
                {"month": view.month_name(f["month"], lang), **{k: f[k] for k in f if k != "month"}}
                for f in data.get("follow_up", [])
            ],
        )

    @r.get("/dashboard.pdf")
    def pdf(web: Web = W, year: str = "", month: str = "") -> Response:
        actor = web.require_login()
        web.ctx.require(actor, PERMISSION)
        y = _year(web, year)
        if y is None:
            return web.redirect("/dashboard")
        data = load(web, actor, y)
        from appliance.reports.dashboard_pdf import to_pdf

        through = data.get("through") or ""
        chosen = month if month in data.get("months", []) and month <= through else None
        body = to_pdf(data, month=chosen)
        name = f"keneya-tableau-de-bord-{chosen or y}.pdf"
        return web.finish(
            Response(
                body,
                media_type="application/pdf",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        )

    return r
