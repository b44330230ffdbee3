"""Backup file names, and which backups to keep (pure: no I/O, the caller lists and deletes).

A name says whose backup it is and when it was made, and is unique without a lock:
`keneya-BOKO-20261204T021503Z-0193a1c2e4f5.db` (facility, UTC time, the random tail of a
UUIDv7), so two backups in the same second never share a file, nor a temporary file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from appliance.ids import uuid7

NAME = re.compile(
    r"^keneya-(?P<facility>[A-Z]{2,6}|NOFAC)-(?P<stamp>\d{8}T\d{6}Z)-(?P<tail>[0-9a-f]{12})"
    r"(?P<ext>\.db(?:\.gz(?:\.age)?)?)$"
)
KEEP_DAILY = 7
KEEP_WEEKLY = 4
# The status warns when the newest good backup is older than this.
WARN_AFTER_S = 2 * 24 * 3600


@dataclass(frozen=True)
class BackupName:
    name: str
    facility: str
    made_at: datetime

    @property
    def day(self) -> date:
        return self.made_at.date()

    @property
    def week(self) -> tuple[int, int]:
        iso = self.made_at.isocalendar()
        return iso.year, iso.week


def new_name(facility_code: str | None, moment: datetime, ext: str = ".db") -> str:
    stamp = moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"keneya-{facility_code or 'NOFAC'}-{stamp}-{uuid7().replace('-', '')[-12:]}{ext}"


def parse(name: str) -> BackupName | None:
    found = NAME.match(name)
    if not found:
        return None
    made = datetime.strptime(found["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return BackupName(name, found["facility"], made)


def to_keep(
    names: list[str], *, daily: int = KEEP_DAILY, weekly: int = KEEP_WEEKLY
) -> tuple[list[str], list[str]]:
    """(kept, dropped) among backup file names: the newest backup of each of the `daily` most
    recent days that have one, and the newest of each of the `weekly` most recent ISO weeks.
    Names that are not backups are neither kept nor dropped (never deleted)."""
    parsed = sorted((p for p in map(parse, names) if p), key=lambda p: p.name)
    parsed.sort(key=lambda p: p.made_at, reverse=True)
    keep: set[str] = set()
    days: set[date] = set()
    weeks: set[tuple[int, int]] = set()
    for p in parsed:
        if p.day not in days and len(days) < daily:
            days.add(p.day)
            keep.add(p.name)
        if p.week not in weeks and len(weeks) < weekly:
            weeks.add(p.week)
            keep.add(p.name)
    kept = [p.name for p in parsed if p.name in keep]
    dropped = [p.name for p in parsed if p.name not in keep]
    return kept, dropped


def written_order(folder: Path, name: BackupName) -> tuple[datetime, int]:
    """Sort key, oldest first: the time in the name, then (several in one second, whose random
    tails say nothing of their order) when the file was written."""
    try:
        mtime = (folder / name.name).stat().st_mtime_ns
    except OSError:
        mtime = 0
    return name.made_at, mtime
