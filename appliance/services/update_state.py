"""What the update machinery (provisioning/update.py, run by root) last wrote: the two root
slots and their versions, which one is booted, a bundle on offer, an install's progress and
the last update's outcome. The web app, the kiosk and `keneya status` read it; only root writes
it, so nothing running as the service user talks to RAUC.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

UPDATE_DIR = "update"  # under the data folder (/var/lib/keneya/update)
STATE_NAME = "state.json"

OUTCOMES_FR = {
    "installed": "installée, redémarrage pour l'essayer",
    "good": "en service (vérifiée)",
    "failed": "échec",
    "refused": "refusée",
    "rolled_back": "retour à la version précédente",
}


def read(data_dir: Path) -> dict[str, Any]:
    """The state file, or {} when nothing was ever written (a laptop, a fresh card)."""
    try:
        return json.loads((data_dir / UPDATE_DIR / STATE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def summary(state: dict[str, Any]) -> list[str]:
    """Lines for a status screen (French first)."""
    if not state:
        return []
    lines = []
    booted = state.get("booted")
    for slot, facts in sorted((state.get("slots") or {}).items()):
        mark = " (démarrée / booted)" if slot == booted else ""
        good = (state.get("marked_good") or {}).get(slot)
        when = f", vérifiée le {good[:16].replace('T', ' ')}" if good else ""
        lines.append(
            f"Partition {slot} : {facts.get('version') or '—'} [{facts.get('state')}]{mark}{when}"
        )
    if offer := state.get("offer"):
        lines.append(f"Mise à jour disponible : version {offer.get('version')}")
    if progress := state.get("progress"):
        lines.append(f"Installation : {progress.get('percent')} % {progress.get('step') or ''}")
    if last := state.get("last"):
        said = OUTCOMES_FR.get(last.get("outcome"), last.get("outcome"))
        lines.append(
            f"Dernière mise à jour : {last.get('version') or '—'} {said}"
            f" ({(last.get('at') or '')[:16].replace('T', ' ')})"
            + (f" — {last['message']}" if last.get("message") else "")
        )
    return lines
