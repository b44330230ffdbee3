"""The monthly report: table, downloads (CSV, PDF, ADX), queue for DHIS2, outbox status."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from appliance.domain.permissions import VIEW_REPORTS
from appliance.reports import formats
from appliance.reports.monthly import Period
from appliance.services import reports
from appliance.web.core import Web
from appliance.web.i18n import N_

DOWNLOADS = {
    "csv": "text/csv; charset=utf-8",
    "pdf": "application/pdf",
    "adx": "application/adx+xml",
}


def last_month(today: date) -> str:
    y, m = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{y:04d}-{m:02d}"


def router(web_dependency) -> APIRouter:
    r = APIRouter()
    W = Depends(web_dependency)

    def _period(web: Web, period: str | None) -> str:
        period = period or last_month(web.ctx.now().today)
        Period.parse(period)  # ValueError for a malformed month
        return period

    @r.get("/reports")
    def monthly(web: Web = W, period: str = "", sent: str = "") -> Response:
        actor = web.require_login()
        web.ctx.require(actor, VIEW_REPORTS)
        error = report = None
        try:
            period = _period(web, period)
            report = reports.monthly(web.ctx, actor, period)
        except ValueError:
            error = N_("Choisissez un mois déjà commencé (AAAA-MM).")
        return web.render(
            "report.html",
            period=period,
            report=report,
            rows=formats.table_rows(report, web.lang) if report else [],
            error=error,
            outbox=web.ctx.store.outbox.list(limit=12),
            sent=sent,
        )

    @r.get("/reports/definitions")
    def definitions(web: Web = W) -> Response:
        actor = web.require_login()
        web.ctx.require(actor, VIEW_REPORTS)
        return web.render("report_definitions.html", definitions=formats.definitions(web.lang))

    @r.get("/reports/{period}.{fmt}")
    def download(period: str, fmt: str, web: Web = W) -> Response:
        actor = web.require_login()
        if fmt not in DOWNLOADS:
            return web.redirect("/reports")
        try:
            report = reports.monthly(web.ctx, actor, _period(web, period))
        except ValueError:
            return web.redirect("/reports")
        if fmt == "csv":
            body: bytes = formats.to_csv(report, web.lang).encode()
        elif fmt == "adx":
            body = formats.to_adx(report)
        else:
            from appliance.reports.pdf import to_pdf

            body = to_pdf(report)
        name = f"keneya-{report.facility_code or 'rapport'}-{period}.{fmt}"
        return web.finish(
            Response(
                body,
                media_type=DOWNLOADS[fmt],
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        )

    @r.post("/reports/{period}/send")
    def send(period: str, web: Web = W, csrf: str = Form("")) -> Response:
        web.check_csrf(csrf)
        actor = web.require_login()
        mapping = web.settings.paths.config_dir / "dhis2-mapping.json"
        if not mapping.is_file():
            return web.render(
                "error.html",
                status_code=409,
                title=N_("Envoi impossible"),
                message=N_(
                    "Le fichier de correspondance DHIS2 manque : l'appareil doit être "
                    "configuré (provisionné) pour le district."
                ),
                ref="",
            )
        item, _payload, _unmapped = reports.queue_for_dhis2(
            web.ctx, actor, _period(web, period), mapping
        )
        return web.redirect(f"/reports?period={period}&sent={item['version']}")

    return r
