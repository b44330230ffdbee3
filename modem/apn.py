"""Which APN to use on which network: a table for Mali, overridden by the facility file.

MCC 610 is Mali (ITU-T E.212). The APNs are the operators' published data settings:
Orange Mali (610-02) "internet"; Moov Africa Malitel (610-01) "web.malitel3.ml".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Apn:
    name: str
    username: str = ""
    password: str = ""


OPERATORS: dict[str, tuple[str, Apn]] = {
    "61002": ("Orange Mali", Apn("internet")),
    "61001": ("Moov Africa Malitel", Apn("web.malitel3.ml")),
}


def operator_name(mcc_mnc: str | None) -> str | None:
    entry = OPERATORS.get(mcc_mnc or "")
    return entry[0] if entry else None


def apn_for(mcc_mnc: str | None, *, override: str | None = None) -> Apn | None:
    """The facility file's APN wins (a new operator, a private APN); else the table's; else
    None: the link is not tried with a guess, and the technician sees why."""
    if override:
        return Apn(override)
    entry = OPERATORS.get(mcc_mnc or "")
    return entry[1] if entry else None
