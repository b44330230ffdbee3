"""The facility settings a technician may change: their names, their values, and the one
rule that reads a typed or written value (the `keneya settings` command, the facility file's
`[settings]` table at first boot). Stored in the settings table as canonical text.

Pure: no database here; appliance/services/settings.py reads and writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ON, OFF = "1", "0"
# What a technician may type for a switch (French and English words, 1/0, TOML booleans).
_TRUE = ("on", "1", "oui", "true", "yes")
_FALSE = ("off", "0", "non", "false", "no")


@dataclass(frozen=True)
class FacilitySetting:
    key: str
    default: str  # canonical stored value
    description: str  # French, shown by `keneya settings list`
    # when it changes, the stored due items are out of date (follow_up rebuilds them)
    changes_due_items: bool = False


SETTINGS: dict[str, FacilitySetting] = {
    s.key: s
    for s in (
        FacilitySetting(
            "malaria_vaccine",
            OFF,
            "Vaccin antipaludique (R21) proposé dans le calendrier vaccinal : on ou off",
            changes_due_items=True,
        ),
    )
}


class SettingError(ValueError):
    """A setting that does not exist or a value it cannot take; the message is French, one
    line, and says what would be right."""


def setting(key: str) -> FacilitySetting:
    try:
        return SETTINGS[key]
    except KeyError:
        known = ", ".join(SETTINGS)
        raise SettingError(f"réglage inconnu « {key} » ; réglages connus : {known}") from None


def parse(key: str, value: Any) -> str:
    """The canonical stored text of `value` for `key` (a switch: "1" or "0"); SettingError
    when it is not one of the accepted spellings."""
    setting(key)  # every setting is a switch today
    if isinstance(value, bool):
        return ON if value else OFF
    text = str(value).strip().lower()
    if text in _TRUE:
        return ON
    if text in _FALSE:
        return OFF
    raise SettingError(f"{key} : valeur « {value} » refusée ; écrire on ou off (ou 1 ou 0)")


def shown(key: str, stored: str | None) -> str:
    """How a stored value is shown: "on" or "off" (the default when never set)."""
    value = stored if stored is not None else setting(key).default
    return "on" if value == ON else "off"


def is_on(stored: str | None) -> bool:
    return stored == ON
