"""Reading the modem's answers: pure functions from AT response lines to values.

Formats are those of 3GPP TS 27.007 (CPIN §8.3, CREG/CGREG §7.2/§10.1.19, CSQ §8.5, COPS §7.3,
CCLK §8.15) as the Huawei E173 prints them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# <stat> of +CREG / +CGREG (TS 27.007 §7.2)
REGISTRATION = {
    0: "not_registered",
    1: "home",
    2: "searching",
    3: "denied",
    4: "unknown",
    5: "roaming",
}
REGISTERED = {"home", "roaming"}
# +CPIN: <code> (TS 27.007 §8.3) → what the technician is told
SIM_STATES = {
    "READY": "ready",
    "SIM PIN": "pin_required",
    "SIM PUK": "puk_required",
    "SIM PIN2": "ready",  # PIN2 guards phone-book entries only; data and SMS work
    "SIM PUK2": "ready",
}


def _fields(line: str, prefix: str) -> list[str]:
    if not line.startswith(prefix):
        raise ValueError(f"expected {prefix!r}, got {line!r}")
    return [f.strip().strip('"') for f in line[len(prefix) :].split(",")]


def first(lines: list[str], prefix: str) -> str:
    for line in lines:
        if line.startswith(prefix):
            return line
    raise ValueError(f"no {prefix!r} line in {lines!r}")


def sim_state(lines: list[str]) -> str:
    code = first(lines, "+CPIN:")[len("+CPIN:") :].strip()
    return SIM_STATES.get(code, f"other:{code}")


def registration(lines: list[str], prefix: str = "+CREG:") -> str:
    """The registration state in a response to AT+CREG? (`+CREG: <n>,<stat>[,…]`)."""
    fields = _fields(first(lines, prefix), prefix)
    stat = fields[1] if len(fields) >= 2 else fields[0]
    return REGISTRATION.get(int(stat), "unknown")


def registration_urc(args: str) -> str:
    """The state in an unsolicited `+CREG: <stat>[,<lac>,<ci>]` (one number first)."""
    return REGISTRATION.get(int(args.split(",")[0]), "unknown")


def csq_dbm(rssi: int) -> int | None:
    """AT+CSQ's <rssi> 0..31 is −113 dBm + 2 dB a step; 99 means not known (TS 27.007 §8.5)."""
    if not 0 <= rssi <= 31:
        return None
    return -113 + 2 * rssi


def signal(lines: list[str]) -> int | None:
    rssi = _fields(first(lines, "+CSQ:"), "+CSQ:")[0]
    return csq_dbm(int(rssi))


def bars(dbm: int | None) -> int:
    """0–5 bars as the technician reads them. Cut points follow common 3G practice: below
    −109 dBm (CSQ ≤ 1) nothing usable, −97 (CSQ 8) marginal, −85 (CSQ 14) fair, −73 good."""
    if dbm is None or dbm < -109:
        return 0
    for n, floor in ((5, -73), (4, -83), (3, -93), (2, -101)):
        if dbm >= floor:
            return n
    return 1


def operator(lines: list[str]) -> tuple[str | None, str | None]:
    """(name, None) or (None, MCC-MNC) from `+COPS: <mode>,<format>,"<oper>"[,<AcT>]`:
    format 0 is the long name, 2 the numeric MCC-MNC."""
    fields = _fields(first(lines, "+COPS:"), "+COPS:")
    if len(fields) < 3 or not fields[2]:
        return None, None
    if fields[1] == "2":
        return None, fields[2]
    return fields[2], None


_CCLK = re.compile(r'\+CCLK:\s*"(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d\d)?"')


def network_time(lines: list[str]) -> datetime | None:
    """The network's time from `+CCLK: "yy/MM/dd,hh:mm:ss±zz"` (zz in quarter hours), in UTC;
    None when the modem has not received NITZ (it then prints its own power-on date, which
    the caller rejects as implausible)."""
    match = _CCLK.search(" ".join(lines))
    if not match:
        return None
    yy, mo, dd, hh, mi, ss, tz = match.groups()
    try:
        local = datetime(2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss), tzinfo=UTC)
    except ValueError:
        return None
    return local - timedelta(minutes=15 * int(tz or 0))


def identity(lines: list[str]) -> dict[str, str]:
    """ATI's `Manufacturer: …`, `Model: …`, `Revision: …`, `IMEI: …` lines."""
    out = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("manufacturer", "model", "revision", "imei"):
            out[key.strip().lower()] = value.strip()
    return out


def mask_imei(imei: str | None) -> str | None:
    """Only the last 4 digits: enough to tell two sticks apart on a status page, not enough
    to clone one."""
    if not imei:
        return None
    digits = "".join(c for c in imei if c.isdigit())
    return "*" * max(0, len(digits) - 4) + digits[-4:]
