"""The facility file: what turns the one shared SD-card image into "CSCom de Boni".

A technician writes `facility.toml` onto the card's boot partition (see facility.example.toml
beside this module for every key). It is read once, at first boot, by someone far from any
help, so every mistake is reported at once, with its line, the key, what is wrong and what
would be right, and an unknown key is an error: a typo must never be silently ignored.

The `[power]` and `[modem]` tables are validated by `power.config` and `modem.config` (their
own `from_mapping`), so the rules live in one place; only `[modem] sim_pin`, a secret, is
taken out here first. `[backup]` is checked by `provisioning.backup_table`: its recipients are
age public keys, so they stay on the card and in /etc/keneya/facility.toml. `[ssh]` and
`[firewall]` (SSH public keys, from which side, the web app on Ethernet) are checked by
`provisioning.access_table`, and stay too: a public key is no secret.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import ssl
import tomllib
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import argon2
import tomli_w
from argon2.exceptions import InvalidHashError

from appliance.domain import facility_settings
from appliance.domain.referrals import ReferralSettingsError, referral_rules_from
from appliance.facility_file import (
    OpinionSettingsError,
    PopulationSettingsError,
    ReminderSettingsError,
    opinion_settings_from,
    population_settings_from,
    reminder_rules_from,
)
from appliance.ids import FACILITY_CODE
from modem import config as modem_config
from modem.errors import ConfigurationError as ModemConfigurationError
from modem.update_fetch import update_source_from
from power import config as power_config
from power.errors import ConfigurationError as PowerConfigurationError
from power.policy import Thresholds
from provisioning import access_table, backup_table
from provisioning.backup_table import KEEP_DAILY, KEEP_WEEKLY
from provisioning.hotspot import generate_passphrase

EXAMPLE_FILE = "provisioning/facility.example.toml"

# Tables and keys in the documented order (also the order `dump` writes them in).
TABLES = (
    "facility",
    "dhis2",
    "hotspot",
    "admin",
    "modem",
    "power",
    "backup",
    "ssh",
    "firewall",
    "settings",
    "opinion",
    "referral",
    "population",
    "reminders",
    "update",
)
TOP_LEVEL_VALUES = ("time_zone", "language")
REQUIRED_TABLES = ("facility", "dhis2", "hotspot", "admin")
KEYS: dict[str, tuple[str, ...]] = {
    "facility": ("name", "code", "district", "region", "org_unit"),
    "dhis2": ("url", "data_set", "token", "username", "password", "ca_bundle", "mapping"),
    "hotspot": ("ssid", "passphrase", "channel"),
    "admin": ("name", "username", "pin_hash", "password_hash"),
    "backup": ("recipients", "keep_daily", "keep_weekly"),
    "ssh": ("authorized_keys", "from"),
    "firewall": ("ethernet_web",),
    "settings": tuple(facility_settings.SETTINGS),
}
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "facility": ("name", "code", "district", "region", "org_unit"),
    "dhis2": ("url", "data_set"),
    "hotspot": ("ssid", "passphrase"),
    "admin": ("name", "username"),
}
# What a right value looks like, for hints.
EXAMPLES: dict[str, str] = {
    "facility.name": '"CSCom de Boni"',
    "facility.code": '"BONI"',
    "facility.district": '"Douentza"',
    "facility.region": '"Mopti"',
    "facility.org_unit": '"Kx7Bn2MpQ4r"',
    "dhis2.url": '"https://dhis2.sante.gov.ml"',
    "dhis2.data_set": '"Mr4FvT8sLd2"',
    "dhis2.token": '"d2p_…"',
    "dhis2.username": '"cscom.boni"',
    "dhis2.password": '"…"',
    "dhis2.ca_bundle": '"""-----BEGIN CERTIFICATE-----…"""',
    "dhis2.mapping": '"dhis2-mapping.json"',
    "hotspot.ssid": '"Keneya-BONI"',
    "hotspot.passphrase": '"generate"',
    "hotspot.channel": "6",
    "admin.name": '"Awa Traoré"',
    "admin.username": '"awa.traore"',
    "admin.pin_hash": '"$argon2id$…"',
    "admin.password_hash": '"$argon2id$…"',
    "modem.sim_pin": '"1234"',
    "backup.recipients": '["age1…"]',
    "ssh.authorized_keys": '["ssh-ed25519 AAAAC3Nza… technicien@portable"]',
    "ssh.from": '["hotspot"]',
    "firewall.ethernet_web": "false",
    "settings.malaria_vaccine": "true",
    "time_zone": '"Africa/Bamako"',
    "language": '"fr"',
}
LANGUAGES = ("fr", "en")
DEFAULT_TIME_ZONE = "Africa/Bamako"
DEFAULT_LANGUAGE = "fr"
DEFAULT_CHANNEL = 6
GENERATE = "generate"
PASSPHRASE_MIN, PASSPHRASE_MAX = 12, 63  # WPA2 allows 8-63 (IEEE 802.11i); 12 is our floor
SSID_MAX_BYTES = 32  # IEEE 802.11: an SSID is 0-32 octets
CHANNELS = range(1, 14)  # 2.4 GHz channels 1-13 are allowed in Mali's regulatory domain
# DHIS2 CodeGenerator: 11 characters, a letter then 10 letters or digits.
DHIS2_UID = re.compile(r"^[A-Za-z][A-Za-z0-9]{10}$")
# The rule of appliance/services/auth.py add_staff (2-32 characters, a letter first).
USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
SIM_PIN = re.compile(r"^\d{4,8}$")  # 3GPP TS 31.102: a PIN is 4 to 8 digits
# Keys a technician might write in [admin] instead of the hashes.
PLAIN_SECRETS = {"pin": "PIN", "password": "password"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the facility file, said so that a technician can fix it."""

    key: str
    line: int | None
    message: str
    hint: str = ""
    source: str = "facility.toml"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        parts = [where, self.key] if self.key else [where]
        parts.append(f"{self.message}; {self.hint}" if self.hint else self.message)
        return ": ".join(parts)


class FacilityFileError(ValueError):
    """Every problem found in a facility file, one per line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class FieldError(ValueError):
    """A value that breaks its rule: what is wrong and what would be right."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(f"{message}; {hint}" if hint else message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Facility:
    """A valid facility file. Passphrase, token, password and SIM PIN are None when absent
    (a public file parsed with secrets_elsewhere=True)."""

    name: str
    code: str
    district: str
    region: str
    org_unit: str
    dhis2_url: str
    data_set: str
    dhis2_token: str | None
    dhis2_username: str | None
    dhis2_password: str | None
    ca_bundle: str | None
    mapping_file: str | None
    ssid: str
    passphrase: str | None
    channel: int
    admin_name: str
    admin_username: str
    admin_pin_hash: str | None
    admin_password_hash: str | None
    modem: dict[str, Any] = field(default_factory=dict)
    sim_pin: str | None = None
    power: dict[str, Any] = field(default_factory=dict)
    backup_recipients: tuple[str, ...] = ()
    keep_daily: int = KEEP_DAILY
    keep_weekly: int = KEEP_WEEKLY
    # [ssh] and [firewall]: who logs in over SSH, from which side; the web app on Ethernet
    ssh_authorized_keys: tuple[str, ...] = ()
    ssh_from: tuple[str, ...] = access_table.DEFAULT_FROM
    ethernet_web: bool = False
    time_zone: str = DEFAULT_TIME_ZONE
    language: str = DEFAULT_LANGUAGE
    # [settings]: facility settings as stored (appliance/domain/facility_settings.py)
    settings: dict[str, str] = field(default_factory=dict)
    # [opinion]: who in the district's DHIS2 answers second opinions (checked, kept as written)
    opinion: dict[str, Any] = field(default_factory=dict)
    # [referral]: the receiving centres and the urgent SMS's wording (checked, kept as written)
    referral: dict[str, Any] = field(default_factory=dict)
    # [population]: the health area's population and target shares (checked, kept as written)
    population: dict[str, Any] = field(default_factory=dict)
    # [reminders]: the patients' SMS reminders, off until enabled (checked, kept as written)
    reminders: dict[str, Any] = field(default_factory=dict)
    # [update]: the district's update server and the month's data budget (checked, kept)
    update: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def hostname(self) -> str:
        return "keneya-" + self.code.lower()

    def secrets(self) -> dict[str, str]:
        """What must not stay on the card's FAT partition (readable by anyone holding it)."""
        found = {
            "dhis2_token": self.dhis2_token,
            "dhis2_password": self.dhis2_password,
            "sim_pin": self.sim_pin,
            "hotspot_passphrase": self.passphrase,
        }
        return {name: value for name, value in found.items() if value}

    def admin_hashes(self) -> dict[str, str]:
        """The first admin's argon2id hashes, which go into the database only: a PIN has so
        few values that its hash, read off the card, gives the PIN away on any laptop."""
        found = {"pin_hash": self.admin_pin_hash, "password_hash": self.admin_password_hash}
        return {name: value for name, value in found.items() if value}

    def public_toml(self) -> str:
        """The facility file without its secrets and without the admin's hashes: what stays
        on the card and in /etc/keneya/facility.toml."""
        dhis2: dict[str, Any] = {"url": self.dhis2_url, "data_set": self.data_set}
        optional = {
            "username": self.dhis2_username,
            "ca_bundle": self.ca_bundle,
            "mapping": self.mapping_file,
        }
        dhis2.update({k: v for k, v in optional.items() if v is not None})
        admin: dict[str, Any] = {"name": self.admin_name, "username": self.admin_username}
        data: dict[str, Any] = {
            "time_zone": self.time_zone,
            "language": self.language,
            "facility": {
                "name": self.name,
                "code": self.code,
                "district": self.district,
                "region": self.region,
                "org_unit": self.org_unit,
            },
            "dhis2": dhis2,
            "hotspot": {"ssid": self.ssid, "channel": self.channel},
            "admin": admin,
        }
        if self.modem:
            data["modem"] = dict(self.modem)
        if self.power:
            data["power"] = dict(self.power)
        if self.backup_toml():
            data["backup"] = self.backup_toml()
        if self.ssh_authorized_keys or self.ssh_from != access_table.DEFAULT_FROM:
            data["ssh"] = {
                "authorized_keys": list(self.ssh_authorized_keys),
                "from": list(self.ssh_from),
            }
        if self.ethernet_web:
            data["firewall"] = {"ethernet_web": True}
        if self.opinion:
            data["opinion"] = dict(self.opinion)
        if self.referral:
            data["referral"] = dict(self.referral)
        if self.population:
            data["population"] = dict(self.population)
        if self.reminders:
            data["reminders"] = dict(self.reminders)
        if self.update:
            data["update"] = dict(self.update)
        if self.settings:
            # every setting is a switch: written back as a TOML boolean
            data["settings"] = {k: facility_settings.is_on(v) for k, v in self.settings.items()}
        return dump(data)

    def backup_toml(self) -> dict[str, Any]:
        """`[backup]` as written back: the keys (public), and the kept counts when not the
        defaults; {} when there is nothing to say."""
        table: dict[str, Any] = {}
        if self.backup_recipients:
            table["recipients"] = list(self.backup_recipients)
        if self.keep_daily != KEEP_DAILY:
            table["keep_daily"] = self.keep_daily
        if self.keep_weekly != KEEP_WEEKLY:
            table["keep_weekly"] = self.keep_weekly
        return table


# --- one rule per value (new.py asks with the same rules) -----------------------------------


def check_code(value: str) -> str:
    if not FACILITY_CODE.match(value):
        raise FieldError(
            f'"{value}" is not 2 to 6 capital letters',
            'e.g. code = "BONI"; it begins every health number',
        )
    return value


def check_uid(value: str) -> str:
    if not DHIS2_UID.match(value):
        raise FieldError(
            f'"{value}" is not a DHIS2 UID',
            "11 characters, a letter then 10 letters or digits: copy it from DHIS2",
        )
    return value


def check_url(value: str) -> str:
    parts = urlsplit(value)
    hint = f"e.g. url = {EXAMPLES['dhis2.url']}"
    if parts.scheme not in ("https", "http"):
        raise FieldError(f'"{value}" does not start with https:// or http://', hint)
    if not parts.hostname:
        raise FieldError(f'"{value}" has no host name', hint)
    return value


def check_ssid(value: str) -> str:
    size = len(value.encode("utf-8"))
    hint = f'1 to {SSID_MAX_BYTES} bytes (an accented letter takes 2), e.g. ssid = "Keneya-BONI"'
    if size == 0:
        raise FieldError("is empty", hint)
    if size > SSID_MAX_BYTES:
        raise FieldError(f"too long ({size} bytes in UTF-8)", hint)
    return value


def check_passphrase(value: str) -> str:
    """A WPA2 passphrase: printable ASCII (IEEE 802.11i annex M.4), 12 to 63 characters here."""
    odd = [c for c in value if not " " <= c <= "~"]
    if odd:
        raise FieldError(
            f'"{odd[0]}" is not a printable ASCII character',
            f'use letters without accents, digits and punctuation, or "{GENERATE}"',
        )
    if len(value) < PASSPHRASE_MIN:
        raise FieldError(
            f"too short ({len(value)} characters)",
            f'use at least {PASSPHRASE_MIN}, or "{GENERATE}"',
        )
    if len(value) > PASSPHRASE_MAX:
        raise FieldError(
            f"too long ({len(value)} characters)",
            f'use at most {PASSPHRASE_MAX}, or "{GENERATE}"',
        )
    return value


def check_channel(value: int) -> int:
    if value not in CHANNELS:
        raise FieldError(
            f"channel {value} is not allowed in Mali", "use 1 to 13 (1, 6 and 11 do not overlap)"
        )
    return value


def check_username(value: str) -> str:
    if not USERNAME.match(value):
        raise FieldError(
            f'"{value}" is not a valid user name',
            "2 to 32 lowercase letters, digits, . _ - (a letter first), e.g. awa.traore",
        )
    return value


def check_argon2id(value: str) -> str:
    try:
        kind = argon2.extract_parameters(value).type
    except InvalidHashError:
        kind = None
    if kind is not argon2.Type.ID:
        raise FieldError(
            "is not an argon2id hash",
            "it starts with $argon2id$; `keneya provision new` writes it",
        )
    return value


def check_sim_pin(value: str) -> str:
    if not SIM_PIN.match(value):
        raise FieldError(f'"{value}" is not a SIM PIN', '4 to 8 digits, e.g. sim_pin = "1234"')
    return value


def check_ca_bundle(value: str) -> str:
    """PEM certificate blocks (RFC 7468), as OpenSSL itself will read them."""
    hint = "paste the PEM text, -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----"
    begins = value.count("-----BEGIN CERTIFICATE-----")
    if begins == 0 or begins != value.count("-----END CERTIFICATE-----"):
        raise FieldError("is not PEM certificates", hint)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=value)
    except (ssl.SSLError, ValueError):
        raise FieldError("holds a certificate that does not decode", hint) from None
    return value


def check_mapping_name(value: str) -> str:
    if (
        not value
        or "/" in value
        or "\\" in value
        or value.startswith(".")
        or not value.endswith(".json")
    ):
        raise FieldError(
            f'"{value}" is not a file name next to the facility file',
            f"e.g. mapping = {EXAMPLES['dhis2.mapping']}",
        )
    return value


def check_time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(value, sorted(zoneinfo.available_timezones()), n=1)
        hint = f'did you mean "{close[0]}"?' if close else f'e.g. "{DEFAULT_TIME_ZONE}"'
        raise FieldError(f'unknown time zone "{value}"', hint) from None
    return value


def check_language(value: str) -> str:
    if value not in LANGUAGES:
        raise FieldError(
            f'must be "fr" or "en", got "{value}"', "the screens exist in French and English"
        )
    return value


# --- line numbers ---------------------------------------------------------------------------

_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=\s*(.*)$")
_STRINGS = re.compile(r""""(?:[^"\\]|\\.)*"|'[^']*'""")
_AT_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)|\s*\(at end of document\)")


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = re.findall(_KEY_PART, dotted)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


def _bracket_balance(text: str) -> int:
    bare = _STRINGS.sub("", text).split("#", 1)[0]
    return bare.count("[") + bare.count("{") - bare.count("]") - bare.count("}")


def line_index(text: str) -> dict[tuple[str, ...], int]:
    """The line of each table header and key, found by scanning (tomllib keeps none). Skips
    the inside of multi-line strings and arrays; a key of an inline table gets its table's
    line through `_Checker.line`. Good enough for error messages, not a TOML parser."""
    index: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    closing: str | None = None
    depth = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if closing:
            if closing in line:
                closing = None
            continue
        if depth > 0:
            depth += _bracket_balance(line)
            continue
        if header := _HEADER.match(line):
            table = _split_key(header[1])
            index.setdefault(table, number)
            continue
        assign = _ASSIGN.match(line)
        if not assign:
            continue
        path = table + _split_key(assign[1])
        for end in range(len(table) + 1, len(path) + 1):
            index.setdefault(path[:end], number)
        value = assign[2].strip()
        for delimiter in ('"""', "'''"):
            if value.startswith(delimiter) and value.count(delimiter) == 1:
                closing = delimiter
        if value[:1] in "[{":
            depth = max(_bracket_balance(value), 0)
    return index


# --- validation -----------------------------------------------------------------------------


def _shown(value: Any) -> str:
    """A value as the technician wrote it in TOML."""
    if isinstance(value, str):
        return f'the text "{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _unknown_hint(key: str, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(key, known, n=1)
    listed = f"known keys: {', '.join(known)}"
    return f'did you mean "{close[0]}"? {listed}' if close else listed


class _Checker:
    """Walks the parsed document once, collecting every problem with its line."""

    def __init__(self, text: str, source: str, secrets_elsewhere: bool) -> None:
        self.index = line_index(text)
        self.lines = text.split("\n")
        self.source = source
        self.secrets_elsewhere = secrets_elsewhere
        self.problems: list[Problem] = []
        self.warnings: list[str] = []

    def line(self, key: str) -> int | None:
        path = tuple(key.split("."))
        for end in range(len(path), 0, -1):
            if path[:end] in self.index:
                return self.index[path[:end]]
        return None

    def add(self, key: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(key, self.line(key), message, hint, self.source))

    def add_at_value(self, key: str, value: str | None, message: str, hint: str = "") -> None:
        """A problem with one item of a list, at the line that holds it (a list may span
        several lines); the key's own line when the item cannot be found."""
        line = self.line(key)
        if line is not None and value:
            for number in range(line, len(self.lines) + 1):
                if value in self.lines[number - 1]:
                    line = number
                    break
        self.problems.append(Problem(key, line, message, hint, self.source))

    def warn(self, key: str, message: str) -> None:
        line = self.line(key)
        where = f"{self.source}:{line}" if line is not None else self.source
        self.warnings.append(f"{where}: {key}: {message}")

    def table(self, doc: Mapping[str, Any], name: str) -> dict[str, Any] | None:
        """The table, or None (with a problem when it is required or not a table)."""
        if name not in doc:
            if name in REQUIRED_TABLES:
                self.add(name, f"missing table [{name}]", f"add it; see {EXAMPLE_FILE}")
            return None
        value = doc[name]
        if not isinstance(value, dict):
            self.add(
                name,
                f"is {_shown(value)}, not a table",
                f"write [{name}] on a line of its own, with its keys below it",
            )
            return None
        return value

    def unknown(self, table: Mapping[str, Any], prefix: str, known: Iterable[str]) -> None:
        known = tuple(known)
        for key in table:
            if prefix == "admin." and key in PLAIN_SECRETS:
                self.add(
                    f"{prefix}{key}",
                    f"a {PLAIN_SECRETS[key]} in clear must never be in the facility file",
                    f"remove it; `keneya provision new` asks for it and writes {key}_hash",
                )
            elif key not in known:
                self.add(f"{prefix}{key}", "unknown key", _unknown_hint(key, known))

    def text(
        self, table: Mapping[str, Any], name: str, key: str, *, required: bool, rule: Any = None
    ) -> str | None:
        """A text value checked by `rule`; None when absent or wrong (then a problem)."""
        full = f"{name}.{key}" if name else key
        example = EXAMPLES.get(full, '"…"')
        if key not in table:
            if required:
                where = f" under [{name}]" if name else " at the top, before any [table]"
                self.add(full, "missing", f"add {key} = {example}{where}")
            return None
        value = table[key]
        if not isinstance(value, str):
            self.add(
                full, f"must be text in quotes, got {_shown(value)}", f"e.g. {key} = {example}"
            )
            return None
        if not value.strip() and rule is None:
            self.add(full, "is empty", f"e.g. {key} = {example}")
            return None
        if rule is not None:
            try:
                return rule(value)
            except FieldError as exc:
                self.problems.append(
                    Problem(full, self.line(full), exc.message, exc.hint, self.source)
                )
                return None
        return value.strip()

    def delegate(self, name: str, table: dict[str, Any], from_mapping: Any) -> None:
        """Validate [modem] or [power] by their own package; map the message to a key and line."""
        try:
            from_mapping(table)
        except (ModemConfigurationError, PowerConfigurationError) as exc:
            self._delegated_problem(name, table, str(exc))
        except (TypeError, ValueError, AttributeError) as exc:  # a value of the wrong shape
            self.add(name, f"not understood: {exc}", f"see [{name}] in {EXAMPLE_FILE}")

    def _delegated_problem(self, name: str, table: dict[str, Any], message: str) -> None:
        found = re.match(r"\[([\w.]+)\]:?\s*(.*)", message, re.DOTALL)
        section, rest = (found[1], found[2]) if found else (name, message)
        sub: Any = table
        for part in section.split(".")[1:]:
            sub = sub.get(part, {}) if isinstance(sub, dict) else {}
        keys = list(sub) if isinstance(sub, dict) else []
        hits = [(m.start(), k) for k in keys if (m := re.search(rf"\b{re.escape(k)}\b", rest))]
        unknown = re.match(r"unknown keys?:?\s*(.+)", rest)
        if unknown:
            known = _known_keys(section)
            for word in unknown[1].split(","):
                word = word.strip().strip("'\"")
                self.add(f"{section}.{word}", "unknown key", _unknown_hint(word, known))
            return
        key = section
        if hits:
            first = min(hits)[1]
            key = f"{section}.{first}"
            if rest.startswith(first):
                rest = rest[len(first) :].lstrip(": ")
        self.add(key, rest, f"see [{section}] in {EXAMPLE_FILE}")


def _known_keys(section: str) -> list[str]:
    """The keys power.config and modem.config accept, for "did you mean" hints."""
    if section == "modem":
        return [f.name for f in dataclasses.fields(modem_config.ModemConfig)] + ["sim_pin"]
    if section == "power.gpio":
        return [f.name for f in dataclasses.fields(power_config.GpioPins)]
    if section == "power.thresholds":
        return [f.name for f in dataclasses.fields(Thresholds)]
    if section == "power.wait":
        return [f.name for f in dataclasses.fields(power_config.WaitOptions)]
    names = [f.name for f in dataclasses.fields(power_config.PowerConfig)]
    tables = ("threshold_overrides", "gpio", "wait")
    return [n for n in names if n not in tables] + ["thresholds", "gpio", "wait"]


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(at[1]) if at else text.count("\n") + 1
        problem = Problem(
            "",
            line,
            f"not valid TOML: {_AT_LINE.sub('', message)}",
            "check the quotes and brackets, and that no key is written twice in a table",
            source,
        )
        raise FacilityFileError([problem]) from None


def parse(text: str, *, source: str = "facility.toml", secrets_elsewhere: bool = False) -> Facility:
    """A Facility from the file's text, or FacilityFileError listing every problem.

    secrets_elsewhere=True accepts a file without its secrets (token, password, SIM PIN,
    passphrase): the public copy that `Facility.public_toml` writes."""
    doc = _parse_toml(text, source)
    check = _Checker(text, source, secrets_elsewhere)
    check.unknown(doc, "", TABLES + TOP_LEVEL_VALUES)
    tables = {name: check.table(doc, name) for name in TABLES}
    for name, known in KEYS.items():
        if tables[name] is not None:
            check.unknown(tables[name], f"{name}.", known)

    facility = tables["facility"] or {}
    have_facility = tables["facility"] is not None
    f_name = check.text(facility, "facility", "name", required=have_facility)
    code = check.text(facility, "facility", "code", required=have_facility, rule=check_code)
    district = check.text(facility, "facility", "district", required=have_facility)
    region = check.text(facility, "facility", "region", required=have_facility)
    org_unit = check.text(facility, "facility", "org_unit", required=have_facility, rule=check_uid)

    dhis2 = tables["dhis2"] or {}
    have_dhis2 = tables["dhis2"] is not None
    url = check.text(dhis2, "dhis2", "url", required=have_dhis2, rule=check_url)
    if url and url.startswith("http://"):
        check.warn("dhis2.url", "http:// sends the token in clear; use https:// if DHIS2 has it")
    data_set = check.text(dhis2, "dhis2", "data_set", required=have_dhis2, rule=check_uid)
    token = check.text(dhis2, "dhis2", "token", required=False)
    username = check.text(dhis2, "dhis2", "username", required=False)
    password = check.text(dhis2, "dhis2", "password", required=False)
    if have_dhis2:
        _check_dhis2_login(check, dhis2, secrets_elsewhere)
    ca_bundle = check.text(dhis2, "dhis2", "ca_bundle", required=False, rule=check_ca_bundle)
    mapping = check.text(dhis2, "dhis2", "mapping", required=False, rule=check_mapping_name)
    if have_dhis2 and "mapping" not in dhis2:
        check.warn(
            "dhis2.mapping",
            "not set: reports would use the built-in demo mapping, which is not the national "
            f"DHIS2's; ask the district for the mapping file and add mapping = "
            f"{EXAMPLES['dhis2.mapping']}",
        )

    hotspot = tables["hotspot"] or {}
    have_hotspot = tables["hotspot"] is not None
    ssid = check.text(hotspot, "hotspot", "ssid", required=have_hotspot, rule=check_ssid)
    passphrase = check.text(
        hotspot,
        "hotspot",
        "passphrase",
        required=have_hotspot and not secrets_elsewhere,
        rule=lambda v: v if v == GENERATE else check_passphrase(v),
    )
    if passphrase == GENERATE:
        passphrase = generate_passphrase()
    channel = _channel(check, hotspot)

    admin = tables["admin"] or {}
    have_admin = tables["admin"] is not None
    admin_name = check.text(admin, "admin", "name", required=have_admin)
    admin_username = check.text(
        admin, "admin", "username", required=have_admin, rule=check_username
    )
    pin_hash = check.text(admin, "admin", "pin_hash", required=False, rule=check_argon2id)
    password_hash = check.text(admin, "admin", "password_hash", required=False, rule=check_argon2id)

    modem = dict(tables["modem"] or {})
    sim_pin = None
    if "sim_pin" in modem:
        sim_pin = check.text(modem, "modem", "sim_pin", required=False, rule=check_sim_pin)
        del modem["sim_pin"]
    if tables["modem"] is not None:
        check.delegate("modem", modem, modem_config.from_mapping)
    power = dict(tables["power"] or {})
    if tables["power"] is not None:
        check.delegate("power", power, power_config.from_mapping)
    backup = tables["backup"] or {}
    backup_settings = backup_table.check(backup)
    for found in backup_settings.problems:
        check.add_at_value(f"backup.{found.key}", found.value, found.message, found.hint)
    if not backup_settings.recipients and not backup_settings.problems:
        check.warn("backup.recipients", backup_table.NO_RECIPIENT_WARNING)
    access = access_table.check(tables["ssh"] or {}, tables["firewall"] or {})
    for found in access.problems:
        check.add_at_value(found.key, found.value, found.message, found.hint)

    settings = _settings(check, tables["settings"] or {})
    # Tables the appliance reads itself, checked by the same code (one line naming the key).
    opinion = _checked_table(check, "opinion", tables, opinion_settings_from, OpinionSettingsError)
    referral = _checked_table(check, "referral", tables, referral_rules_from, ReferralSettingsError)
    population = _checked_table(
        check, "population", tables, population_settings_from, PopulationSettingsError
    )
    reminders = _checked_table(
        check, "reminders", tables, reminder_rules_from, ReminderSettingsError
    )
    update = _checked_table(check, "update", tables, update_source_from, ModemConfigurationError)

    time_zone = check.text(doc, "", "time_zone", required=False, rule=check_time_zone)
    language = check.text(doc, "", "language", required=False, rule=check_language)

    if check.problems:
        ordered = sorted(check.problems, key=lambda p: (p.line is None, p.line or 0))
        raise FacilityFileError(ordered)
    assert f_name and code and district and region and org_unit and url and data_set and ssid
    assert admin_name and admin_username
    return Facility(
        name=f_name,
        code=code,
        district=district,
        region=region,
        org_unit=org_unit,
        dhis2_url=url,
        data_set=data_set,
        dhis2_token=token,
        dhis2_username=username,
        dhis2_password=password,
        ca_bundle=ca_bundle,
        mapping_file=mapping,
        ssid=ssid,
        passphrase=passphrase,
        channel=channel,
        admin_name=admin_name,
        admin_username=admin_username,
        admin_pin_hash=pin_hash,
        admin_password_hash=password_hash,
        modem=modem,
        sim_pin=sim_pin,
        power=power,
        backup_recipients=backup_settings.recipients,
        keep_daily=backup_settings.keep_daily,
        keep_weekly=backup_settings.keep_weekly,
        ssh_authorized_keys=access.authorized_keys,
        ssh_from=access.ssh_from,
        ethernet_web=access.ethernet_web,
        time_zone=time_zone or DEFAULT_TIME_ZONE,
        language=language or DEFAULT_LANGUAGE,
        settings=settings,
        opinion=opinion,
        referral=referral,
        population=population,
        reminders=reminders,
        update=update,
        warnings=tuple(check.warnings),
    )


def _checked_table(
    check: _Checker,
    name: str,
    tables: Mapping[str, Any],
    from_mapping: Any,
    error: type[Exception],
) -> dict[str, Any]:
    """`[name]` as written, after the appliance's own reader of it accepted it; its one-line
    refusal is put on the key it names."""
    table = dict(tables[name] or {})
    try:
        from_mapping(table, where="")
    except error as exc:
        found = re.search(rf"\[{name}\] (?:has no key '(\w+)'|(\w+) (?:must|is))", str(exc))
        key = f"{name}.{(found[1] or found[2])}" if found else name
        check.add(key, str(exc).removeprefix(": "), f"see [{name}] in {EXAMPLE_FILE}")
    return table


def _check_dhis2_login(check: _Checker, dhis2: Mapping[str, Any], secrets_elsewhere: bool) -> None:
    """A personal access token, or a username and password: exactly one of the two."""
    has = {key: key in dhis2 for key in ("token", "username", "password")}
    token_hint = f"a personal access token from DHIS2, e.g. token = {EXAMPLES['dhis2.token']}"
    if has["token"] and (has["username"] or has["password"]):
        key = "dhis2.username" if has["username"] else "dhis2.password"
        check.add(
            key,
            "give a token or a username and password, not both",
            "keep token and remove username and password, or the other way round",
        )
    elif not has["token"]:
        if has["username"] and not has["password"] and not secrets_elsewhere:
            check.add("dhis2.password", "missing", 'add password = "…" under [dhis2], or a token')
        elif has["password"] and not has["username"]:
            check.add("dhis2.username", "missing", 'add username = "…" under [dhis2], or a token')
        elif not has["username"] and not secrets_elsewhere:
            check.add(
                "dhis2.token", "missing: neither a token nor a username and password", token_hint
            )


def _settings(check: _Checker, table: Mapping[str, Any]) -> dict[str, str]:
    """[settings]: each known setting's value as stored (unknown keys are reported by
    `unknown`); a bad value is a problem at its line, in French as the console says it."""
    out: dict[str, str] = {}
    for key, value in table.items():
        if key not in facility_settings.SETTINGS:
            continue
        try:
            out[key] = facility_settings.parse(key, value)
        except facility_settings.SettingError as exc:
            example = EXAMPLES.get(f"settings.{key}", "true")
            check.add(f"settings.{key}", str(exc), f"e.g. {key} = {example}")
    return out


def _channel(check: _Checker, hotspot: Mapping[str, Any]) -> int:
    if "channel" not in hotspot:
        return DEFAULT_CHANNEL
    value = hotspot["channel"]
    if isinstance(value, bool) or not isinstance(value, int):
        hint = (
            f"write channel = {value}, without quotes"
            if isinstance(value, str)
            else ("e.g. channel = 6")
        )
        check.add("hotspot.channel", f"must be a whole number, got {_shown(value)}", hint)
        return DEFAULT_CHANNEL
    try:
        return check_channel(value)
    except FieldError as exc:
        check.add("hotspot.channel", exc.message, exc.hint)
        return DEFAULT_CHANNEL


def load(path: Path, *, check_mapping: bool = True, **kw: Any) -> Facility:
    """Read and parse a facility file. With check_mapping, a `mapping` file must exist next
    to it. Any mistake, including an unreadable file, is a FacilityFileError."""
    source = kw.pop("source", str(path))
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise FacilityFileError(
            [Problem("", None, "file not found", "give the path of facility.toml", source)]
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        problem = Problem("", None, f"cannot be read ({reason})", "check the path", source)
        raise FacilityFileError([problem]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = Problem(
            "",
            line,
            f"not UTF-8 text (byte 0x{data[exc.start]:02x})",
            "save the file as UTF-8 (in the editor: Save as…, encoding UTF-8)",
            source,
        )
        raise FacilityFileError([problem]) from None
    facility = parse(text.removeprefix("\ufeff"), source=source, **kw)
    mapping = facility.mapping_file
    if check_mapping and mapping and not (Path(path).parent / mapping).is_file():
        problem = Problem(
            "dhis2.mapping",
            line_index(text).get(("dhis2", "mapping")),
            f'"{mapping}" is not next to the facility file',
            "copy the district's mapping file beside facility.toml",
            source,
        )
        raise FacilityFileError([problem])
    return facility


def _ordered(table: Mapping[str, Any], order: Iterable[str]) -> dict[str, Any]:
    order = tuple(order)
    result = {k: table[k] for k in order if k in table}
    result.update({k: v for k, v in table.items() if k not in result})
    return result


def dump(data: Mapping[str, Any]) -> str:
    """TOML text with the tables and keys in the documented order (tomli_w puts top-level
    values before the first table, as TOML requires)."""
    ordered = _ordered(data, TOP_LEVEL_VALUES + TABLES)
    for name, keys in KEYS.items():
        if isinstance(ordered.get(name), Mapping):
            ordered[name] = _ordered(ordered[name], keys)
    return tomli_w.dumps(ordered, multiline_strings=True)
