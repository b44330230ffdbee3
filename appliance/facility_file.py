"""Reading one table of the facility file (`/etc/keneya/facility.toml`, written by first boot
without its secrets). The daemons each read their own table with safe defaults; the whole file
is validated by `provisioning.facility` before it gets there."""

from __future__ import annotations

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
