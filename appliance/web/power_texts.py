"""What staff read about the battery, the same on the kiosk and on every web page: low battery
with the time left to the safe shutdown, a failed or badly wired sensor, the shutdown
countdown, who cancelled it. Also the technician's names of states and sensor faults.

Everything reads the power monitor's state row (store.power.state()) with row.get(): older
databases and tests have no fault columns. Times are shown in UTC, Mali's local time.

A row keneya-power stopped updating (services.power.monitor_silent_since) is no countdown and
no battery reading any more: every screen says the monitor is silent instead."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from appliance.clock import from_iso
from appliance.services.power import CANCEL_ROLES, monitor_silent_since
from appliance.web.i18n import N_
from appliance.web.labels import ROLES as ROLE_LABELS

Translate = Callable[[str], str]

LOW = N_("Batterie faible : %(soc)s %%")
LOW_RUNTIME = N_("Batterie faible : %(soc)s %% (arrêt dans environ %(duration)s)")
LOW_UNKNOWN = N_("Batterie faible")
SENSOR_LOST = N_("Capteur batterie en panne")
SENSOR_LOST_PLANNED = N_("Capteur batterie en panne — arrêt prévu vers %(time)s")
MISWIRED = N_("Capteur batterie mal branché ou mal réglé — voir l'écran technicien")
LOW_POWER_WAIT = N_("Batterie trop faible : services arrêtés jusqu'à la recharge")
CRITICAL = N_("Batterie épuisée : l'appareil s'éteint")
COUNTDOWN = N_("Arrêt dans %(time)s — enregistrez votre travail")
SHUTDOWN_SOON = N_("Arrêt imminent — enregistrez votre travail")
CANCELLED_BY = N_("Arrêt annulé par %(who)s")
WHO_MAY_CANCEL = N_("Seuls ces rôles peuvent annuler l'arrêt : %(roles)s")
MONITOR_SILENT = N_("Surveillance de la batterie arrêtée — prévenez le technicien")
# On the status pages (web and kiosk): since when the monitor wrote nothing.
MONITOR_LABEL = N_("Surveillance de la batterie")
# After the state of a silent monitor's row: it is what the monitor last wrote, not now.
LAST_WRITTEN = N_("dernier état écrit")
SILENT_SINCE = N_("le moniteur de batterie ne répond plus depuis %(time)s")
# The monitor's own lines (English, technical), shown on the status pages to the technician.
TECH_DETAIL = N_("Détail (technicien, en anglais)")
TECH_REASON = N_("Raison (technicien, en anglais)")
MINUTES = N_("%(n)s min")
HOURS = N_("%(n)s h")

# The faults power/policy.py names (power_state.fault). sensor_lost: nothing can be read;
# the others: the sensor answers but its wiring or settings are wrong.
SENSOR_LOST_FAULT = "sensor_lost"
WIRING_FAULTS = ("reversed_shunt", "wrong_shunt", "chip_reset", "implausible")
FAULTS = {
    "sensor_lost": N_("capteur perdu (plus de lecture)"),
    "reversed_shunt": N_("shunt branché à l'envers"),
    "wrong_shunt": N_("valeur de shunt fausse dans [power]"),
    "chip_reset": N_("capteur réinitialisé (perte d'alimentation)"),
    "implausible": N_("mesures incohérentes"),
}
# States the web labels do not name yet (the services are stopped in both: only the status
# page and `keneya status` can show them).
STATES = {
    "low_power_wait": N_("attente de recharge (services arrêtés)"),
    "critical": N_("batterie critique (tout en lecture seule, redémarre seul)"),
}
# How long "cancelled by" stays on the banner after the monitor called the shutdown off.
CANCELLED_SHOWN_S = 600
# Under this many minutes the time left is written in minutes, above it in hours.
MINUTES_UP_TO = 120


def duration_text(minutes: float, t: Translate) -> str:
    """19 h, 45 min: what a nurse reads at a glance (no 1145 min)."""
    minutes = max(0.0, float(minutes))
    if minutes < MINUTES_UP_TO:
        return t(MINUTES) % {"n": round(minutes)}
    return t(HOURS) % {"n": round(minutes / 60)}


def hhmm(iso: str | None) -> str | None:
    try:
        return from_iso(iso).strftime("%H:%M") if iso else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def countdown_seconds(row: Mapping[str, Any] | None, now_s: float) -> int | None:
    """Seconds left before the pending shutdown; None when none is counting down (or a
    cancel for it was already asked, or the monitor that would carry it out went silent)."""
    if not row or row.get("state") != "shutdown_pending" or cancel_asked_by(row):
        return None
    if monitor_silent_since(row, now_s):
        return None
    try:
        deadline = from_iso(row["shutdown_deadline"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None
    return max(0, round(deadline - now_s))


def countdown_text(seconds: float | None, t: Translate) -> str:
    if seconds is None:
        return t(SHUTDOWN_SOON)
    seconds = max(0, int(seconds))
    return t(COUNTDOWN) % {"time": f"{seconds // 60}:{seconds % 60:02d}"}


def cancel_asked_by(row: Mapping[str, Any] | None) -> str | None:
    """Who asked to cancel the shutdown now pending (the monitor has not acted yet)."""
    if not row or row.get("state") != "shutdown_pending":
        return None
    event_id = row.get("shutdown_event_id")
    if event_id is None or row.get("cancel_for") != event_id:
        return None
    return row.get("cancel_requested_by") or None


def recently_cancelled_by(event: Mapping[str, Any] | None, now_s: float) -> str | None:
    """The staff member of a shutdown_cancelled event from the last few minutes."""
    if not event:
        return None
    try:
        age_s = now_s - from_iso(event["at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None
    if not -60 <= age_s <= CANCELLED_SHOWN_S:
        return None
    detail = event.get("detail")
    return (detail.get("by") if isinstance(detail, dict) else None) or None


def banner(
    row: Mapping[str, Any] | None,
    t: Translate,
    now_s: float,
    *,
    cancelled: Mapping[str, Any] | None = None,
    name_of: Callable[[str], str] = str,
) -> str | None:
    """The one line every screen shows, or None when the power is fine. `cancelled` is the
    latest shutdown_cancelled event; `name_of` turns a username into the name staff know."""
    if not row:
        return None
    if monitor_silent_since(row, now_s):
        return t(MONITOR_SILENT)
    state = row.get("state")
    fault = row.get("fault")
    if state == "shutdown_pending":
        who = cancel_asked_by(row)
        if who:
            return t(CANCELLED_BY) % {"who": name_of(who)}
        return countdown_text(countdown_seconds(row, now_s), t)
    if state == "critical":
        return t(CRITICAL)
    if state == "low_power_wait":
        return t(LOW_POWER_WAIT)
    # Staff who just cancelled know the battery is low: say the cancel held, for a while.
    who = recently_cancelled_by(cancelled, now_s)
    if who:
        return t(CANCELLED_BY) % {"who": name_of(who)}
    if fault == SENSOR_LOST_FAULT or state == "sensor_fault":
        planned = hhmm(row.get("planned_shutdown_at"))
        return t(SENSOR_LOST_PLANNED) % {"time": planned} if planned else t(SENSOR_LOST)
    if state == "warn":
        return low_battery(row, t)
    if fault in WIRING_FAULTS:
        return t(MISWIRED)
    return None


def low_battery(row: Mapping[str, Any], t: Translate) -> str:
    soc = row.get("soc")
    if soc is None:
        return t(LOW_UNKNOWN)
    runtime = row.get("runtime_min")
    if runtime is not None:
        return t(LOW_RUNTIME) % {"soc": round(soc), "duration": duration_text(runtime, t)}
    return t(LOW) % {"soc": round(soc)}


def who_may_cancel(t: Translate) -> str:
    roles = [t(ROLE_LABELS[r]) for r in CANCEL_ROLES]
    return t(WHO_MAY_CANCEL) % {"roles": ", ".join(roles)}


def when_text(iso: str | None, now: str | float | None) -> str | None:
    """ "HH:MM" (UTC) of a moment, with the date when it is not within 20 hours of `now`
    (Unix seconds or an ISO time)."""
    try:
        when = from_iso(iso) if iso else None  # type: ignore[arg-type]
        now_s = from_iso(now).timestamp() if isinstance(now, str) else now
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    near = now_s is not None and abs(when.timestamp() - now_s) < 20 * 3600
    return when.strftime("%H:%M") if near else when.strftime("%d/%m/%Y %H:%M")


def silent_text(iso: str | None, now: str | float | None, t: Translate) -> str:
    """ "le moniteur de batterie ne répond plus depuis 07:04 (UTC)"."""
    return t(SILENT_SINCE) % {"time": f"{when_text(iso, now) or '—'} (UTC)"}


def planned_time(row: Mapping[str, Any] | None) -> str | None:
    """ "HH:MM" of the planned safe shutdown, with the date when it is not within a day."""
    iso = row.get("planned_shutdown_at") if row else None
    try:
        when = from_iso(iso) if iso else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    sampled = row.get("sampled_at") if row else None
    try:
        near = sampled and abs(when - from_iso(sampled)) < timedelta(hours=20)
    except (TypeError, ValueError):
        near = False
    return when.strftime("%H:%M") if near else when.strftime("%d/%m/%Y %H:%M")
