"""The nightly backup on the data partition, its rotation, and how old the newest one is."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.backup import files
from appliance.backup.copy import BackupError, create, sweep_partials
from appliance.paths import private_dir
from appliance.store.db import Store

# Room kept free beyond the backup itself, so a backup never fills the disk the records need.
SPARE_FRACTION = 0.05


def backup_files(backups_dir: Path) -> list[str]:
    """Names of the finished backups in `backups_dir` (temporary files are dot-files)."""
    try:
        return sorted(n for n in os.listdir(backups_dir) if files.parse(n))
    except FileNotFoundError:
        return []


def newest(backups_dir: Path, *, now: datetime | None = None) -> dict[str, Any]:
    """The newest good backup and its age; `warn` after `files.WARN_AFTER_S` or with none.
    A backup file exists under its final name only once it passed its check."""
    now = now or datetime.now(UTC)
    parsed = [p for p in map(files.parse, backup_files(backups_dir)) if p]
    if not parsed:
        return {"file": None, "made_at": None, "age_s": None, "warn": True, "count": 0}
    last = max(parsed, key=lambda p: p.made_at)
    age_s = max(0.0, (now - last.made_at).total_seconds())
    return {
        "file": str(backups_dir / last.name),
        "made_at": last.made_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "age_s": round(age_s),
        "warn": age_s > files.WARN_AFTER_S,
        "count": len(parsed),
    }


def _room(database: Path, folder: Path) -> tuple[bool, int, int]:
    need = database.stat().st_size
    st = os.statvfs(folder)
    free, total = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
    return free - need >= total * SPARE_FRACTION, need, free


def check_room(database: Path, folder: Path) -> list[str]:
    """Make room for a backup that would leave less than SPARE_FRACTION of the disk free:
    the oldest backups go first, the newest is always kept. Returns what was deleted;
    BackupError when even that is not enough."""
    deleted: list[str] = []
    fits, need, free = _room(database, folder)
    older = sorted(
        (p for p in map(files.parse, backup_files(folder)) if p), key=lambda p: p.made_at
    )[:-1]
    while not fits and older:
        name = older.pop(0).name
        (folder / name).unlink(missing_ok=True)
        deleted.append(name)
        fits, need, free = _room(database, folder)
    if not fits:
        raise BackupError(
            f"disque plein : pas de place pour une sauvegarde de {need // 2**20} Mo dans {folder}"
            f" ({free // 2**20} Mo libres) / disk full: no room for a backup"
        )
    return deleted


def nightly(
    store: Store,
    backups_dir: Path,
    *,
    keep_daily: int = files.KEEP_DAILY,
    keep_weekly: int = files.KEEP_WEEKLY,
    moment: datetime | None = None,
) -> dict[str, Any]:
    """A verified backup, then the older ones beyond 7 daily and 4 weekly are deleted (only
    after the new one is safely written, unless the disk has no room for it: then the oldest
    go first, never the newest)."""
    private_dir(backups_dir)
    swept = sweep_partials(backups_dir) + sweep_partials(store.path.parent)
    made_room = check_room(store.path, backups_dir)
    report = create(store, backups_dir, moment=moment)
    written = Path(report["file"]).name
    kept, dropped = files.to_keep(backup_files(backups_dir), daily=keep_daily, weekly=keep_weekly)
    # The rotation goes by the time in the names; with the machine clock behind (a boot with
    # no network after a power cut) the backup just written would look the oldest. It stays.
    dropped = [name for name in dropped if name != written]
    if written not in kept:
        kept.insert(0, written)
    for name in dropped:
        (backups_dir / name).unlink(missing_ok=True)
    return report | {"kept": kept, "dropped": made_room + dropped, "swept": swept}
