"""The technician's status screen: power, modem, hotspot, outbox, disk, clock. No patient
data. The labels are the web status page's."""

from __future__ import annotations

from typing import Any

from appliance.clock import from_iso
from appliance.services import status as status_service
from appliance.services import update_state
from appliance.services.errors import ServiceError
from appliance.web import power_texts
from appliance.web.i18n import N_
from appliance.web.labels import BACKUP_TITLE, CLOCK_SOURCES, MODEM, STATUS, backup_rows
from appliance.web.qr import qr_png
from kiosk_ui.viewmodels.state import KioskState
from kiosk_ui.viewmodels.update import UpdateVM

NONE = "—"
UPDATE_KEY = "update"  # the section redone while an install runs
# One sentence with its values (a translation may order them otherwise).
JOIN = N_("Scannez pour rejoindre le réseau %(ssid)s, puis ouvrez %(address)s (ou %(ip)s)")


def _when(iso: str | None) -> str:
    if not iso:
        return NONE
    try:
        return from_iso(iso).strftime("%d/%m/%Y %H:%M")
    except ValueError:
        return iso


def _fmt(pattern: str, value: Any, t: Any = None) -> str:
    """A figure with the reader's decimal separator (a comma in French)."""
    if value is None:
        return NONE
    text = pattern % value
    return text if getattr(t, "lang", "fr") == "en" else text.replace(".", ",")


class StatusVM:
    def __init__(self, state: KioskState):
        self.state = state
        self.sections: list[dict[str, Any]] = []
        self.raw: dict[str, Any] | None = None
        self.error: str | None = None
        # The hotspot's join QR code (PNG) and the address to open, for the admin and the
        # technician once first boot has made the hotspot; None otherwise.
        self.join_png: bytes | None = None
        self.join_text: str | None = None
        # the update on offer, its button and an install's progress
        self.updates = UpdateVM(state)

    def load(self) -> None:
        state = self.state
        try:
            s = status_service.status(
                state.ctx, state.actor, data_dir=state.data_dir, secrets_dir=state.secrets_dir
            )
        except (ServiceError, OSError) as e:
            self.sections, self.error = [], state.error_text(e)
            self.join_png = self.join_text = None
            return
        self.raw, self.error = s, None
        t = state.t
        self.updates.show(s.get("update"))
        hotspot = s["hotspot"]
        self.join_png = (
            qr_png(hotspot["join_payload"], scale=6) if "join_payload" in hotspot else None
        )
        self.join_text = (
            t(JOIN)
            % {"ssid": hotspot["ssid"], "address": hotspot["address"], "ip": hotspot["address_ip"]}
            if self.join_png
            else None
        )
        pw, modem, disk, clock = s["power"], s["modem"], s["disk"], s["clock"]
        state_label = STATUS.get(pw["state"]) or power_texts.STATES.get(pw["state"], pw["state"])
        runtime = pw["runtime_min"]
        power_rows = [
            (
                t("État"),
                f"{t(state_label)} ({t(power_texts.LAST_WRITTEN)})"
                if pw.get("silent_since")
                else t(state_label),
            ),
            (t("Tension"), _fmt("%.2f V", pw["voltage_v"], t)),
            (t("Courant"), _fmt("%+.2f A", pw["current_a"], t)),
            (t("Charge"), _fmt("%.0f %%", pw["soc_pct"], t)),
            # minutes to the safe shutdown, not to an empty battery
            (t("Autonomie"), NONE if runtime is None else power_texts.duration_text(runtime, t)),
        ]
        if pw.get("silent_since"):
            # first: the state and the figures above it are what the monitor last saw
            power_rows.insert(
                1,
                (
                    t(power_texts.MONITOR_LABEL),
                    power_texts.silent_text(pw["silent_since"], clock["now"], t),
                ),
            )
        if pw["shutdown_deadline"]:
            deadline = power_texts.when_text(pw["shutdown_deadline"], clock["now"])
            power_rows.append((t("Arrêt prévu"), f"{deadline or NONE} (UTC)"))
        planned = power_texts.planned_time(pw)
        if planned and not pw["shutdown_deadline"]:
            power_rows.append((t("Arrêt prévu vers"), f"{planned} (UTC)"))
        if pw.get("fault"):
            name = power_texts.FAULTS.get(pw["fault"])
            power_rows.append(
                (t("Défaut du capteur"), f"{pw['fault']} — {t(name)}" if name else pw["fault"])
            )
        if pw.get("cancel_requested_by"):
            who = pw.get("cancel_requested_by_name") or pw["cancel_requested_by"]
            power_rows.append((t("Annulation demandée par"), who))
        # the monitor's own lines, in English (the service gives them to the technician and
        # the admin only)
        if pw.get("fault_detail"):
            power_rows.append((t(power_texts.TECH_DETAIL), pw["fault_detail"]))
        if pw["reason"]:
            power_rows.append((t(power_texts.TECH_REASON), pw["reason"]))
        if pw["stale"] and not pw.get("silent_since"):
            power_rows.append((t("État"), t("mesures anciennes : le moniteur ne répond plus")))
        outbox = s["outbox"]
        outbox_rows = [
            (t(STATUS[k]), str(outbox.get(k, 0)))
            for k in ("queued", "sending", "delivered", "failed")
        ]
        outbox_rows.append((t("Dernier envoi réussi"), _when(outbox.get("last_delivered_at"))))
        if outbox.get("last_error"):
            outbox_rows.append((t("Dernière erreur"), str(outbox["last_error"])))
        trusted = t("confirmée") if clock["trusted"] else t("non confirmée")
        if clock["trusted"] and clock.get("source"):
            source = CLOCK_SOURCES.get(clock["source"])
            trusted += f" ({t(source) if source else clock['source']})"
        self.sections = [
            {"title": t("Énergie"), "rows": power_rows},
            {
                "title": t("Modem 3G"),
                "rows": [
                    (t("État"), t(MODEM.get(modem["state"], modem["state"]))),
                    (t("Opérateur"), modem["operator"] or NONE),
                    (t("Signal"), _fmt("%d dBm", modem["signal_dbm"])),
                    (
                        t("Enregistrement"),
                        t(MODEM.get(modem["registration"], modem["registration"]))
                        if modem["registration"]
                        else NONE,
                    ),
                    (t("Dernier envoi"), _when(modem["last_upload_at"])),
                ],
            },
            {
                "title": t("Point d'accès Wi-Fi"),
                "rows": [
                    (t("tablette(s) connectée(s)"), str(len(s["hotspot"]["clients"])))
                    if s["hotspot"]["available"]
                    else (t("État"), t("Pas d'information (point d'accès non configuré)."))
                ],
            },
            {"title": t("File d'envoi vers le district"), "rows": outbox_rows},
            {
                "title": t("Stockage et horloge"),
                "rows": [
                    (
                        t("Espace libre"),
                        _fmt("%.1f", disk["free_bytes"] / 1e9, t)
                        + f" {t('Go')} ({100 - disk['used_pct']:.0f} %)",
                    ),
                    (
                        t("Base de données"),
                        _fmt("%.1f", disk["database_bytes"] / 1e6, t) + f" {t('Mo')}",
                    ),
                    (t("Heure"), f"{_when(clock['now'])} · {trusted}"),
                ],
            },
            {
                "title": t(BACKUP_TITLE),
                "rows": [(label, value) for label, value, _ in backup_rows(s["backup"], t)],
            },
            *_update_section(s.get("update") or {}, t),
        ]

    def reload_update(self) -> None:
        """The update's state file read again and its section redone; the rest stays as
        loaded (a full load writes an audit row: not every few seconds)."""
        self.updates.reload()
        fresh = _update_section(self.updates.update, self.state.t)
        kept = [s for s in self.sections if s.get("key") != UPDATE_KEY]
        self.sections = kept + fresh


def _update_section(state: dict, t) -> list[dict]:
    """Both root slots, an update on offer and the last outcome (a return to the previous
    version says so here); nothing on a laptop or a card never updated."""
    lines = update_state.summary(state)
    if not lines:
        return []
    rows = [tuple(line.split(" : ", 1)) if " : " in line else ("", line) for line in lines]
    return [{"title": t("Mises à jour"), "rows": rows, "key": UPDATE_KEY}]
