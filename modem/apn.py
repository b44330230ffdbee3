"""Which APN, with which credentials, on which network.

First match wins:

1. the facility file's `[modem] apn` (with `username`, `password`, `auth`): a private APN, a
   new operator, or a network whose published settings turned out wrong;
2. the database of Debian's `mobile-broadband-provider-info` package
   (/usr/share/mobile-broadband-provider-info/serviceproviders.xml), looked up by the network's
   MCC-MNC (`<gsm><network-id mcc mnc>`): its internet APN (`<usage type="internet"/>`) with
   `<username>`, `<password>` and `<authentication method>`;
3. a small built-in table for Mali (MCC 610, ITU-T E.212), for a network the database lacks
   (Telecel, 610-03) and for an appliance without the file.

`auth` is "pap" or "chap" when the database states a method; the database's DTD has no
default, and NetworkManager and ModemManager then leave the choice to the network, so an APN
with a username gets "pap-or-chap" (pppd answers whichever the network asks) and one without
gets "none". The file is about 360 KB: parsed once per process, and again only if it changes.
"""

from __future__ import annotations

import logging
import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path

from modem.errors import ConfigurationError

log = logging.getLogger(__name__)

DATABASE = Path("/usr/share/mobile-broadband-provider-info/serviceproviders.xml")
PACKAGE = "mobile-broadband-provider-info"
AUTH_METHODS = ("pap", "chap", "pap-or-chap", "none")
SOURCE_FACILITY = "facility file"
SOURCE_BUILT_IN = "built-in table"
# Credentials go into NetworkManager keyfiles, pppd options and pppd secrets files: anything
# that would need quoting rules of three formats (spaces, quotes, backslashes, '#', control
# characters) is refused rather than escaped. Operators' credentials are plain words.
_UNSAFE = set(" \"'\\#") | {chr(c) for c in range(32)} | {"\x7f"}
MAX_CREDENTIAL = 64


@dataclass(frozen=True)
class Apn:
    """An APN as it will be used. `auth` left empty is derived from the username."""

    name: str
    username: str = ""
    password: str = ""
    auth: str = ""
    operator: str | None = None
    source: str = ""
    note: str | None = None  # where a built-in entry comes from, or why it is a guess
    alternatives: tuple[str, ...] = ()  # other internet APNs the source lists for the network
    overridden: tuple[str, ...] = field(default=())  # keys the facility file set

    def __post_init__(self) -> None:
        if not self.auth:
            object.__setattr__(self, "auth", "pap-or-chap" if self.username else "none")
        if self.auth not in AUTH_METHODS:
            raise ConfigurationError(f"auth {self.auth!r} is not one of {', '.join(AUTH_METHODS)}")

    @property
    def sends_credentials(self) -> bool:
        return self.auth != "none" and bool(self.username)

    def as_dict(self) -> dict[str, object]:
        return {
            "apn": self.name,
            "username": self.username,
            "password": self.password,
            "auth": self.auth,
            "operator": self.operator,
            "source": self.source,
            "note": self.note,
            "alternatives": list(self.alternatives),
            "overridden": list(self.overridden),
        }


# 3GPP TS 23.003 §9.1: an APN is labels of letters, digits and hyphens separated by dots, at
# most 100 octets (an underscore is tolerated: some operators' APNs carry one).
APN_NAME = re.compile(
    r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*$"
)
MAX_APN = 100


def check_apn_name(value: str) -> str:
    """An APN fit for the chat script, the NetworkManager keyfile and ModemManager."""
    if len(value) > MAX_APN or not APN_NAME.match(value):
        raise ConfigurationError(
            f"[modem] apn {value!r} is not an APN: letters, digits, hyphens and dots only"
            f" (e.g. web.malitel3.ml), at most {MAX_APN} characters"
        )
    return value


def check_credential(key: str, value: str) -> str:
    if len(value) > MAX_CREDENTIAL or any(c in _UNSAFE for c in value):
        raise ConfigurationError(
            f"[modem] {key} may not hold spaces, quotes, backslashes, '#' or control characters"
            f" (at most {MAX_CREDENTIAL} characters)"
        )
    return value


# Operator names for the status and `keneya modem apn` (the database's are bare: "Orange").
NETWORK_NAMES = {
    "61001": "Moov Africa Malitel",
    "61002": "Orange Mali",
    "61003": "Telecel Mali",
}

# When the database lists several internet APNs for one network, the one used unless the
# facility file says otherwise. Orange Mali (610-02): the database lists "iew" (Internet Every
# Where, added 2009, bgo #594849) before "internet" (added 2011, bgo #665918, the operator's
# current setting); both are kept and the other shows as an alternative.
PREFERRED = {"61002": "internet"}

_MBPI = f"{PACKAGE} 20230416 (Debian 12)"
# The fallback, each entry with where it was read. Malitel and Orange are copied from the
# database (unchanged upstream as of 2026-08), for an appliance without the file. Telecel Mali
# (610-03, launched 2017-12) is in neither the database nor upstream: no published APN was
# found, so "internet" without credentials (the usual default of the operator's Huawei core)
# is a guess that lets the modem try instead of stopping at no_apn.
BUILT_IN: dict[str, Apn] = {
    "61001": Apn(
        "web.malitel3.ml",
        "internet",
        "internet",
        note=f"{_MBPI}: provider Malitel, apn web.malitel3.ml, username/password internet",
    ),
    "61002": Apn(
        "internet",
        "internet",
        "internet",
        note=f"{_MBPI}: provider Orange, apn internet, username/password internet"
        " (iew/iew is listed too)",
        alternatives=("iew",),
    ),
    "61003": Apn(
        "internet",
        note="not in " + PACKAGE + ": unconfirmed guess; ask Telecel and set [modem] apn,"
        " username, password",
    ),
}


# ---------------------------------------------------------------------------- the database


@dataclass(frozen=True)
class ProviderDatabase:
    path: Path
    version: str | None
    # MCC-MNC -> (provider name, its internet APNs in file order)
    networks: dict[str, tuple[str, tuple[Apn, ...]]]

    @property
    def source(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"{PACKAGE}{version} ({self.path})"


_cache: dict[Path, tuple[tuple[int, int], ProviderDatabase]] = {}
_cache_lock = threading.Lock()


def _text(element: ET.Element, tag: str) -> str:
    found = element.find(tag)
    return (found.text or "").strip() if found is not None else ""


def _version(path: Path) -> str | None:
    """The package's version, from the pkg-config file it installs next to the data."""
    pc = path.parent.parent / "pkgconfig" / f"{PACKAGE}.pc"
    try:
        for line in pc.read_text(encoding="utf-8").splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip() or None
    except OSError:
        return None
    return None


def _parse(path: Path) -> ProviderDatabase:
    root = ET.parse(path).getroot()
    if root.tag != "serviceproviders":
        raise ValueError(f"{path} is not a serviceproviders database")
    networks: dict[str, tuple[str, tuple[Apn, ...]]] = {}
    primary: set[str] = set()
    for provider in root.iter("provider"):
        gsm = provider.find("gsm")
        if gsm is None:
            continue
        name = _text(provider, "name")
        apns = []
        for apn in gsm.findall("apn"):
            usage = apn.find("usage")
            # an APN without <usage> is taken as internet, as NetworkManager's wizard does
            if usage is not None and usage.get("type") != "internet":
                continue
            method = apn.find("authentication")
            value = (apn.get("value") or "").strip()
            if not value:
                continue
            apns.append(
                Apn(
                    value,
                    _text(apn, "username"),
                    _text(apn, "password"),
                    method.get("method", "") if method is not None else "",
                )
            )
        if not apns:
            continue
        is_primary = provider.get("primary") == "true"
        for network in gsm.findall("network-id"):
            key = (network.get("mcc") or "") + (network.get("mnc") or "")
            # several providers on one network (MVNOs): the wholesale one, else the first
            if key not in networks or (is_primary and key not in primary):
                networks[key] = (name, tuple(apns))
                if is_primary:
                    primary.add(key)
    return ProviderDatabase(path=path, version=_version(path), networks=networks)


def load_database(path: Path = DATABASE) -> ProviderDatabase | None:
    """The parsed database, cached per process; None when the file is absent or unreadable
    (the built-in table then answers)."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return None
    key = (st.st_mtime_ns, st.st_size)
    with _cache_lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            database = _parse(path)
        except (OSError, ET.ParseError, ValueError) as e:
            log.warning("APN database %s unreadable (%s): using the built-in table", path, e)
            return None
        _cache[path] = (key, database)
        return database


def database_missing_hint(path: Path = DATABASE) -> str:
    return f"{path} is missing: apt-get install {PACKAGE} (scripts/setup.sh installs it)"


# ---------------------------------------------------------------------------- the choice


@dataclass(frozen=True)
class ApnOverrides:
    """The facility file's `[modem]` apn, username, password, auth; None where not set."""

    apn: str = ""
    username: str | None = None
    password: str | None = None
    auth: str = ""

    @classmethod
    def of(cls, config: object) -> ApnOverrides:
        return cls(
            apn=getattr(config, "apn", "") or "",
            username=getattr(config, "username", None),
            password=getattr(config, "password", None),
            auth=getattr(config, "auth", "") or "",
        )

    def set_keys(self) -> tuple[str, ...]:
        keys = []
        if self.apn:
            keys.append("apn")
        if self.username is not None:
            keys.append("username")
        if self.password is not None:
            keys.append("password")
        if self.auth:
            keys.append("auth")
        return tuple(keys)


def _listed(code: str, database: ProviderDatabase | None) -> tuple[str, str | None, list[Apn]]:
    """(source, operator, internet APNs) for the network: the database's, else the built-in
    table's, else nothing."""
    operator = NETWORK_NAMES.get(code)
    if database is not None and code in database.networks:
        provider, candidates = database.networks[code]
        return database.source, operator or provider or None, list(candidates)
    entry = BUILT_IN.get(code)
    return SOURCE_BUILT_IN, operator, [entry] if entry is not None else []


def apn_for(
    mcc_mnc: str | None,
    *,
    override: str | ApnOverrides | None = None,
    database: Path = DATABASE,
) -> Apn | None:
    """The APN to use on the network `mcc_mnc` ("61002"), or None: the link is then not tried
    with a guess of ours, and the technician sees why."""
    overrides = override if isinstance(override, ApnOverrides) else ApnOverrides(override or "")
    code = mcc_mnc or ""
    source, operator, candidates = _listed(code, load_database(database) if code else None)
    names = [candidate.name for candidate in candidates]
    if overrides.apn:
        # the facility's APN, with the credentials the source lists for that same APN
        same = [candidate for candidate in candidates if candidate.name == overrides.apn]
        base = replace(
            same[0] if same else Apn(overrides.apn),
            operator=operator,
            source=SOURCE_FACILITY,
            note=None,
            alternatives=(),
        )
    elif candidates:
        wanted = PREFERRED.get(code)
        chosen = candidates[names.index(wanted)] if wanted in names else candidates[0]
        others = tuple(n for n in names if n != chosen.name) or chosen.alternatives
        base = replace(chosen, operator=operator, source=source, alternatives=others)
    else:
        return None
    username = base.username if overrides.username is None else overrides.username
    password = base.password if overrides.password is None else overrides.password
    # a method the source states stays; a derived one is derived again from the username
    auth = overrides.auth or (base.auth if base.auth in ("pap", "chap") else "")
    return replace(
        base, username=username, password=password, auth=auth, overridden=overrides.set_keys()
    )


def operator_name(mcc_mnc: str | None, *, database: Path = DATABASE) -> str | None:
    code = mcc_mnc or ""
    if code in NETWORK_NAMES:
        return NETWORK_NAMES[code]
    loaded = load_database(database)
    if loaded is not None and code in loaded.networks:
        return loaded.networks[code][0] or None
    return None
