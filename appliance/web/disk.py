"""What the tablets and the kiosk say when the data folder is full or read-only
(appliance.store.diskspace tells which): French msgids, English through the catalog."""

from __future__ import annotations

from typing import Any

from appliance.store.diskspace import DiskProblem
from appliance.web.i18n import N_

# The same text as DiskFull.fr_template etc. (tests/unit/test_web_i18n.py holds them together).
MESSAGES = {
    "disk_full": N_(
        "disque plein : libérez de la place sur %(folder)s (%(free)s libres sur %(total)s)"
    ),
    "read_only": N_("dossier en lecture seule : %(folder)s"),
    "folder_missing": N_("dossier introuvable : %(folder)s"),
}
TITLES = {
    "disk_full": N_("Disque plein"),
    "read_only": N_("Dossier en lecture seule"),
    "folder_missing": N_("Dossier introuvable"),
}
NOTHING_LOST = N_(
    "Rien n'a été enregistré ; les dossiers déjà enregistrés sont intacts. Prévenez le technicien."
)
# 507 Insufficient Storage when the disk is full; 503 when the folder cannot be written at all.
HTTP_STATUS = {"disk_full": 507, "read_only": 503, "folder_missing": 503}


def disk_text(problem: DiskProblem, t: Any) -> str:
    """The one line for `problem`, translated by `t` (a Translator, or the kiosk's)."""
    lang = getattr(t, "lang", "fr")
    return t(MESSAGES[problem.kind]) % problem.values(lang)


def http_status(problem: DiskProblem) -> int:
    return HTTP_STATUS.get(problem.kind, 503)
