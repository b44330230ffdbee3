"""The technician's status page: power, modem, hotspot, outbox, disk, clock. No patient data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from appliance.services import update_state
from appliance.services.context import Actor
from appliance.services.status import hotspot_join, status
from appliance.web import charts, power_texts
from appliance.web.core import Web
from appliance.web.qr import qr_png, qr_svg

# The join QR code as an image of its own: what the API points to instead of the passphrase.
JOIN_QR_PATH = "/status/join-qr.png"


def appliance_status(web: Web, actor: Actor, now_s: float) -> dict[str, Any]:
    """The status service with this app's paths: the page and the API show the same."""
    return status(
        web.ctx,
        actor,
        data_dir=web.settings.paths.data_dir,
        leases_file=web.settings.leases_file,
        secrets_dir=web.settings.paths.secrets_dir,
        now_s=now_s,
    )


def router(web_dependency) -> APIRouter:
    r = APIRouter()
    W = Depends(web_dependency)

    @r.get("/status")
    def page(web: Web = W) -> Response:
        actor = web.require_login()
        now = web.settings.now()
        s = appliance_status(web, actor, now)
        t = web.t
        chart = charts.power_chart_svg(
            samples=[
                {"start_s": p["t"], "v_avg": p["voltage_v"], "i_avg": p["current_a"]}
                for p in s["power"]["history"]
            ],
            start_s=now - 86400,
            end_s=now,
            labels={
                "title": t("Batterie sur 24 heures"),
                "voltage": t("Tension (V)"),
                "current": t("Courant (A)"),
                "empty": t("Pas encore de mesures"),
            },
        )
        payload = s["hotspot"].get("join_payload")
        join_qr = qr_svg(payload, title=t("Rejoindre le Wi-Fi")) if payload else None
        return web.render(
            "status.html",
            s=s,
            chart=chart,
            join_qr=join_qr,
            power_texts=power_texts,
            update_lines=update_state.summary,
        )

    @r.post("/update/install")
    def install_update(web: Web = W, csrf: str = Form("")) -> Response:
        """The admin confirms the update on offer; the status page then shows its progress."""
        web.check_csrf(csrf)
        actor = web.require_login()
        try:
            update_state.request_install(web.ctx, actor, web.settings.paths.data_dir)
        except update_state.UpdateRequestError as e:
            return web.render("error.html", status_code=409, message=str(e))
        return web.redirect("/status")

    @r.get(JOIN_QR_PATH)
    def join_qr_image(web: Web = W) -> Response:
        """The hotspot's join QR code for the roles that may join others to it (admin,
        technician); 404 for the rest, or before first boot has set the hotspot."""
        actor = web.require_login()
        payload = hotspot_join(web.ctx, actor, web.settings.paths.secrets_dir).get("join_payload")
        if not payload:
            return web.finish(Response(status_code=404))
        # no-store: the passphrase is in the picture; no cache keeps a copy of it
        png = qr_png(payload, scale=8)
        return web.finish(
            Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
        )

    return r
