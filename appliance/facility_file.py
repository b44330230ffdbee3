"""Reading one table of the facility file (`/etc/keneya/facility.toml`, written by first boot
without its secrets). The daemons each read their own table with safe defaults; the whole file
is validated by `provisioning.facility` before it gets there."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def read_section(facility_file: Path, name: str, *, error: type[Exception]) -> dict[str, Any]:
    """The `[name]` table; {} when the file or the table is absent (the caller's defaults
    apply). A file that is not TOML, or a `name` that is not a table, raises `error`."""
    try:
        with open(facility_file, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{facility_file}: {exc}") from None
    section = doc.get(name, {})
    if not isinstance(section, dict):
        raise error(f"{facility_file}: [{name}] must be a table")
    return section


class ReminderSettingsError(ValueError):
    """[reminders] of the facility file is wrong; the message is one line naming the key."""


@dataclass(frozen=True)
class ReminderRules:
    """[reminders]: SMS reminders to patients who agreed to them (appliance/clinical/reminders).
    Off until the facility turns them on: each SMS costs the facility's credit."""

    enabled: bool = False
    days_before: int = 2  # the reminder goes this many days before the due date
    daily_max: int = 30  # SMS per day, at most
    monthly_max: int = 300  # SMS per calendar month, at most
    cost_per_sms_xof: int = 25  # what one SMS costs (CFA francs), for the budget
    monthly_budget_xof: int | None = None  # at most this much a month (None: only the counts)
    templates: Path | None = None  # a reminder_templates.json replacing the shipped one


_REMINDER_INTS = {
    "days_before": (1, 14),
    "daily_max": (0, 1000),
    "monthly_max": (0, 30000),
    "cost_per_sms_xof": (0, 1000),
    "monthly_budget_xof": (0, 10_000_000),
}


def reminder_rules(facility_file: Path) -> ReminderRules:
    """The [reminders] table, checked; defaults for what is absent."""
    section = read_section(facility_file, "reminders", error=ReminderSettingsError)
    return reminder_rules_from(section, where=str(facility_file))


def reminder_rules_from(section: dict[str, Any], *, where: str = "facility file") -> ReminderRules:
    known = {"enabled", "templates", *_REMINDER_INTS}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ReminderSettingsError(
            f"{where}: [reminders] has no key {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    values: dict[str, Any] = {}
    if "enabled" in section:
        if not isinstance(section["enabled"], bool):
            raise ReminderSettingsError(f"{where}: [reminders] enabled must be true or false")
        values["enabled"] = section["enabled"]
    for key, (low, high) in _REMINDER_INTS.items():
        if key not in section:
            continue
        v = section[key]
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise ReminderSettingsError(
                f"{where}: [reminders] {key} must be a whole number from {low} to {high}, not {v!r}"
            )
        values[key] = v
    if "templates" in section:
        t = section["templates"]
        if not isinstance(t, str) or not t.strip():
            raise ReminderSettingsError(f"{where}: [reminders] templates must be a file path")
        values["templates"] = Path(t)
    return ReminderRules(**values)


class OpinionSettingsError(ValueError):
    """[opinion] of the facility file is wrong; the message is one line naming the key."""


# A DHIS2 UID: a letter, then 10 letters or digits.
_UID = re.compile(r"^[A-Za-z][A-Za-z0-9]{10}$")


@dataclass(frozen=True)
class OpinionSettings:
    """[opinion]: second opinions go to the district as DHIS2 messages, to a user group
    and/or users named by their UIDs. Off while neither is given."""

    district_user_group: str | None = None
    district_users: tuple[str, ...] = ()
    monthly_budget_mb: float = 20.0  # 3G data the second opinions may use a month
    photo_max_kb: int = 150  # a photo is re-encoded to at most this
    poll_every_min: int = 60  # replies looked for this often (the link brought up for it)
    follow_days: int = 30  # replies looked for this long after a question left

    @property
    def enabled(self) -> bool:
        return bool(self.district_user_group or self.district_users)

    def recipients(self) -> dict[str, list[dict[str, str]]]:
        """`users` and `userGroups` as DHIS2's message conversation takes them."""
        out: dict[str, list[dict[str, str]]] = {}
        if self.district_users:
            out["users"] = [{"id": u} for u in self.district_users]
        if self.district_user_group:
            out["userGroups"] = [{"id": self.district_user_group}]
        return out


_OPINION_NUMBERS = {
    "monthly_budget_mb": (0, 10_000),
    "photo_max_kb": (20, 1000),
    "poll_every_min": (5, 24 * 60),
    "follow_days": (1, 365),
}


def opinion_settings(facility_file: Path) -> OpinionSettings:
    """The [opinion] table, checked; defaults for what is absent."""
    section = read_section(facility_file, "opinion", error=OpinionSettingsError)
    return opinion_settings_from(section, where=str(facility_file))


def opinion_settings_from(
    section: dict[str, Any], *, where: str = "facility file"
) -> OpinionSettings:
    known = {"district_user_group", "district_users", *_OPINION_NUMBERS}
    unknown = sorted(set(section) - known)
    if unknown:
        raise OpinionSettingsError(
            f"{where}: [opinion] has no key {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    values: dict[str, Any] = {}
    group = section.get("district_user_group")
    if group is not None:
        if not isinstance(group, str) or not _UID.match(group):
            raise OpinionSettingsError(
                f"{where}: [opinion] district_user_group must be a DHIS2 user group UID"
                f" (11 letters and digits, a letter first), not {group!r}"
            )
        values["district_user_group"] = group
    users = section.get("district_users")
    if users is not None:
        if not isinstance(users, list) or not all(
            isinstance(u, str) and _UID.match(u) for u in users
        ):
            raise OpinionSettingsError(
                f"{where}: [opinion] district_users must be a list of DHIS2 user UIDs"
                f" (11 letters and digits each), not {users!r}"
            )
        values["district_users"] = tuple(dict.fromkeys(users))
    for key, (low, high) in _OPINION_NUMBERS.items():
        if key not in section:
            continue
        v = section[key]
        is_number = isinstance(v, int | float) and not isinstance(v, bool)
        whole = key != "monthly_budget_mb"
        if not is_number or (whole and not isinstance(v, int)) or not low <= v <= high:
            kind = "a whole number" if whole else "a number"
            raise OpinionSettingsError(
                f"{where}: [opinion] {key} must be {kind} from {low} to {high}, not {v!r}"
            )
        values[key] = v
    return OpinionSettings(**values)


class PopulationSettingsError(ValueError):
    """[population] of the facility file is wrong; the message is one line naming the key."""


# The target proportions of the health area's population the district divides by (Mali's
# PEV and reproductive-health targets, "populations cibles"): expected pregnancies 4 %, live
# births ~3.8 % (pregnancies less losses), surviving infants ~3.6 % (live births less infant
# deaths). Under-fives: about 18 % of Mali's population (RGPH 2009 age structure; UNSURE: a
# district using another share sets it). Growth 3.0 % a year (3.6 % between the 1998 and 2009
# censuses; the district gives its own). All editable in [population].
_POPULATION_PCTS = {
    "growth_pct": (-10.0, 10.0, 3.0),
    "expected_pregnancies_pct": (0.0, 20.0, 4.0),
    "live_births_pct": (0.0, 20.0, 3.8),
    "surviving_infants_pct": (0.0, 20.0, 3.6),
    "under_five_pct": (0.0, 40.0, 18.0),
}


@dataclass(frozen=True)
class PopulationSettings:
    """[population]: the health area's population in `year` and the share of it each target
    is; another year's population grows (or shrinks) by `growth_pct` a year."""

    total: int
    year: int
    growth_pct: float = 3.0
    expected_pregnancies_pct: float = 4.0
    live_births_pct: float = 3.8
    surviving_infants_pct: float = 3.6
    under_five_pct: float = 18.0


def population_settings(facility_file: Path) -> PopulationSettings | None:
    """The [population] table, checked; None when the file has none."""
    section = read_section(facility_file, "population", error=PopulationSettingsError)
    return population_settings_from(section, where=str(facility_file))


def population_settings_from(
    section: dict[str, Any], *, where: str = "facility file"
) -> PopulationSettings | None:
    if not section:
        return None
    known = {"total", "year", *_POPULATION_PCTS}
    unknown = sorted(set(section) - known)
    if unknown:
        raise PopulationSettingsError(
            f"{where}: [population] has no key {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    values: dict[str, Any] = {}
    for key, (low, high) in (("total", (1, 10_000_000)), ("year", (2000, 2100))):
        v = section.get(key)
        if v is None:
            raise PopulationSettingsError(f"{where}: [population] {key} is missing")
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise PopulationSettingsError(
                f"{where}: [population] {key} must be a whole number from {low} to {high},"
                f" not {v!r}"
            )
        values[key] = v
    for key, (low, high, _default) in _POPULATION_PCTS.items():
        if key not in section:
            continue
        v = section[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not low <= v <= high:
            raise PopulationSettingsError(
                f"{where}: [population] {key} must be a number from {low:g} to {high:g}, not {v!r}"
            )
        values[key] = float(v)
    return PopulationSettings(**values)
