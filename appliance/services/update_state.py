"""What the update machinery (provisioning/update.py, run by root) last wrote: the two root
slots and their versions, which one is booted, a bundle on offer, an install's progress and
the last update's outcome. The web app, the kiosk and `keneya status` read it; only root writes
it, so nothing running as the service user talks to RAUC.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.domain.permissions import INSTALL_UPDATE
from appliance.services.context import Actor, Context

UPDATE_DIR = "update"  # under the data folder (/var/lib/keneya/update)
STATE_NAME = "state.json"
# what the modem daemon writes while it fetches an update over 3G (modem/update_fetch.py)
DOWNLOAD_DIR = "download"
DOWNLOAD_STATE = "download.json"

SLOT_STATES_FR = {
    "good": "vérifiée",
    "trying": "à l'essai",
    "bad": "refusée",
    "empty": "vide",
}
MONTHS_FR = dict(zip(
    (f"{m:02d}" for m in range(1, 13)),
    ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
     "octobre", "novembre", "décembre"), strict=True,
))  # fmt: skip
OUTCOMES_FR = {
    "installed": "installée, redémarrage pour l'essayer",
    "good": "en service (vérifiée)",
    "failed": "échec",
    "refused": "refusée",
    "rolled_back": "retour à la version précédente",
}


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    # a file of another shape (written by another version, or damaged) is no state at all
    return data if isinstance(data, dict) else {}


def read(data_dir: Path) -> dict[str, Any]:
    """The state file, or {} when nothing was ever written (a laptop, a fresh card); with
    the fetch over 3G under `download` when the modem daemon has written one."""
    state = _json(data_dir / UPDATE_DIR / STATE_NAME)
    download = _json(data_dir / UPDATE_DIR / DOWNLOAD_DIR / DOWNLOAD_STATE)
    if download:
        state["download"] = download
    return state


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def french(message: Any) -> str:
    """The French half of a message written "français / English" (the JSON keeps both)."""
    return str(message).split(" / ", 1)[0]


def summary(state: dict[str, Any]) -> list[str]:
    """Lines for a status screen (French first)."""
    if not state:
        return []
    lines = []
    booted = state.get("booted")
    good_at = _dict(state.get("marked_good"))
    for slot, facts in sorted(_dict(state.get("slots")).items()):
        facts = _dict(facts)
        mark = " (démarrée / booted)" if slot == booted else ""
        good = str(good_at.get(slot) or "")
        when = f", vérifiée le {good[:16].replace('T', ' ')}" if good else ""
        said = SLOT_STATES_FR.get(facts.get("state"), facts.get("state"))
        lines.append(f"Partition {slot} : {facts.get('version') or '—'} [{said}]{mark}{when}")
    if offer := _dict(state.get("offer")):
        lines.append(f"Mise à jour disponible : version {offer.get('version')}")
    if progress := _dict(state.get("progress")):
        percent = progress.get("percent")
        percent = f"{percent} %" if isinstance(percent, int | float) else ""
        lines.append(f"Installation : {percent} {french(progress.get('step') or '')}".rstrip())
    if download := _dict(state.get("download")):
        if isinstance(download.get("message"), str) and not download.get("handed_over"):
            lines.append(f"3G : {french(download['message'])}")
        used = download.get("used_bytes")
        month = str(download.get("month") or "")
        if isinstance(used, int | float) and len(month) == 7:
            lines.append(
                f"3G : {used / 1e6:.1f} Mo utilisés pour les mises à jour"
                f" ({MONTHS_FR.get(month[5:], month[5:])} {month[:4]})"
            )
        if isinstance(download.get("error"), str):
            lines.append(f"3G : problème — {french(download['error'])}")
    if last := _dict(state.get("last")):
        said = OUTCOMES_FR.get(last.get("outcome"), last.get("outcome"))
        lines.append(
            f"Dernière mise à jour : {last.get('version') or '—'} {said}"
            f" ({str(last.get('at') or '')[:16].replace('T', ' ')})"
            + (f" — {french(last['message'])}" if last.get("message") else "")
            + (f" — cause : {last['reason']}" if last.get("reason") else "")
        )
    return lines


INSTALL_UNIT = "keneya-update-install.service"


class UpdateRequestError(RuntimeError):
    """The install cannot be asked for now (nothing on offer, one under way, not a Pi)."""


def request_install(
    ctx: Context, actor: Actor, data_dir: Path, *, start: Callable[[str], bool] | None = None
) -> dict[str, Any]:
    """The admin confirms the update on offer: the root unit installs it and reboots."""
    ctx.require(actor, INSTALL_UPDATE)
    state = read(data_dir)
    offer = _dict(state.get("offer"))
    if not offer:
        raise UpdateRequestError("aucune mise à jour proposée / no update on offer")
    if state.get("progress"):
        raise UpdateRequestError("une installation est déjà en cours / already installing")
    ctx.audit(actor, "update.install", detail={"version": offer.get("version")})
    if not (start or start_unit)(INSTALL_UNIT):
        raise UpdateRequestError(
            "impossible de lancer l'installation (pas sur l'appareil ?) / could not start it"
        )
    return {"version": offer.get("version"), "started": True}


def start_unit(unit: str) -> bool:
    """--no-block: the caller (a web request, the modem daemon) goes on; polkit lets the
    service user start this unit and the fetched one."""
    try:
        done = subprocess.run(
            ["systemctl", "start", "--no-block", unit], capture_output=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0
