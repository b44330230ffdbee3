"""The `[modem]` section of the facility file, with safe defaults when it is absent.

[modem]
device = ""               # the AT port; empty: found by USB id (/dev/serial/by-id/…-if02-port0)
link = "auto"             # auto, modemmanager, ppp, hilink
apn = ""                  # empty: by the network's MCC-MNC (mobile-broadband-provider-info,
                          # else the built-in table for Mali); see modem/apn.py
username = "…"            # absent: the source's; "" for none (set them with a private APN)
password = "…"
auth = ""                 # pap, chap, pap-or-chap, none; empty: the source's
sms_gateway = ""          # the district's SMS gateway number, e.g. "+22370000000"; empty: no SMS
sms_after_days = 5        # days after a report is due (the 5th) before it goes by SMS
pay_per_minute = false    # true: the link is up only while sending, then hung up
status_every_s = 30       # how often the modem is asked for its state
send_every_s = 900        # how often the outbox is looked at while the link is up

The SIM PIN is a secret: `secrets/sim_pin` (root, 0600), never in this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.facility_file import read_section
from modem.apn import AUTH_METHODS, check_apn_name, check_credential
from modem.errors import ConfigurationError

LINKS = ("auto", "modemmanager", "ppp", "hilink")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModemConfig:
    device: str = ""
    link: str = "auto"
    apn: str = ""
    username: str | None = None  # None: not in the facility file
    password: str | None = None
    auth: str = ""
    sms_gateway: str = ""
    sms_after_days: float = 5.0
    pay_per_minute: bool = False
    status_every_s: float = 30.0
    send_every_s: float = 900.0

    def __post_init__(self) -> None:
        if self.link not in LINKS:
            raise ConfigurationError(f"[modem] link must be one of {', '.join(LINKS)}")
        gateway = self.sms_gateway.replace(" ", "")
        if gateway and not (gateway.lstrip("+").isdigit() and 3 <= len(gateway) <= 16):
            raise ConfigurationError(
                f"[modem] sms_gateway {self.sms_gateway!r} is not a phone number"
                " (e.g. +22370000000)"
            )
        if self.apn:
            check_apn_name(self.apn)
        if self.auth and self.auth not in AUTH_METHODS:
            raise ConfigurationError(f"[modem] auth must be one of {', '.join(AUTH_METHODS)}")
        for key in ("username", "password"):
            value = getattr(self, key)
            if value is not None:
                check_credential(key, value)
        for key in ("sms_after_days", "status_every_s", "send_every_s"):
            if not getattr(self, key) > 0:
                raise ConfigurationError(f"[modem] {key} must be positive")


_TYPES: dict[str, tuple[type, ...]] = {
    "device": (str,),
    "link": (str,),
    "apn": (str,),
    "username": (str,),
    "password": (str,),
    "auth": (str,),
    "sms_gateway": (str,),
    "sms_after_days": (int, float),
    "pay_per_minute": (bool,),
    "status_every_s": (int, float),
    "send_every_s": (int, float),
}


def from_mapping(section: dict[str, Any]) -> ModemConfig:
    unknown = set(section) - set(_TYPES)
    if unknown:
        raise ConfigurationError(f"[modem] unknown keys: {', '.join(sorted(unknown))}")
    for key, value in section.items():
        types = _TYPES[key]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            kind = "a number" if int in types else ("true or false" if bool in types else "text")
            raise ConfigurationError(f"[modem] {key} must be {kind}, got {value!r}")
    return ModemConfig(**section)


def load(facility_file: Path) -> ModemConfig:
    """The `[modem]` section of the facility file; defaults when the file or section is absent."""
    return from_mapping(read_section(facility_file, "modem", error=ConfigurationError))


def read_secret(path: Path) -> str | None:
    """A one-line secret (the SIM PIN), or None when the file is absent or empty."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None
