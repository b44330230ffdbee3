"""Restore: put a verified backup in place of the live database without losing anything.

Every check happens first, reading only: a backup that is not sound, of a newer schema, of
another facility or of another database is refused, and the live file is left byte for byte as
it was. Then the restore takes the database's lock exclusively (every write transaction of
every process shares it, see `store.db.Store.transaction`), so no write is half-way; copies the
live database aside as a fresh verified backup; and copies the backup into the live file with
SQLite's backup API (same file, so the web app, kiosk and daemons keep their connections and
simply read the restored records). A write acknowledged before the lock is in the copy kept
aside; one after it is in the restored database.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.backup import files
from appliance.backup.copy import (
    BackupError,
    BackupRefused,
    copy_database,
    describe,
    fsync_dir,
    plain_file,
    private_temp,
    sweep_partials,
    verify,
)
from appliance.paths import private_dir, private_file
from appliance.store.db import DatabaseLock, Store, lock_paths

# Where the copy of a replaced database goes, under the backups folder. The newest few are
# kept: enough to undo a wrong restore or two, not a full database per restore for ever.
BEFORE_RESTORE = "avant-restauration"
KEEP_BEFORE_RESTORE = 3
LOCK_TIMEOUT_S = 60.0


def _current(database: Path) -> dict[str, Any] | None:
    if not database.exists():
        return None
    facts = describe(database)
    return {"facility_code": facts["facility_code"], "database_id": facts["database_id"]}


def check(
    backup: dict[str, Any], current: dict[str, Any] | None, *, accept_other_database: bool
) -> None:
    """Refuse, with one line, a backup that must not replace the current database."""
    if not backup["ok"]:
        first = " ".join(str(backup["problems"][0]).split())[:160]
        more = len(backup["problems"]) - 1
        raise BackupRefused(
            f"{backup['file']}: backup not sound, nothing restored: {first}"
            + (f" (and {more} more problems)" if more else "")
        )
    if current is None:
        return
    mine, theirs = current["facility_code"], backup["facility_code"]
    if mine and theirs and mine != theirs:
        raise BackupRefused(
            f"{backup['file']} is a backup of facility {theirs}, this appliance is {mine}:"
            " nothing restored"
        )
    other_db = current["database_id"] != backup["database_id"]
    if current["database_id"] and backup["database_id"] and other_db and not accept_other_database:
        raise BackupRefused(
            f"{backup['file']} comes from another database of {theirs or 'this facility'}"
            f" ({backup['database_id']}, this one is {current['database_id']}); if this card"
            " was made anew for the same facility, restore with --accept-other-database"
        )


def restore(
    backup_file: str | Path,
    database: str | Path,
    *,
    backups_dir: str | Path,
    accept_other_database: bool = False,
    moment: datetime | None = None,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
    keep_aside: int = KEEP_BEFORE_RESTORE,
) -> dict[str, Any]:
    """Replace `database` with the backup (`.db` or `.db.gz`); returns what was done. The
    `keep_aside` newest copies of replaced databases are kept."""
    backup_file, database = Path(backup_file), Path(database)
    moment = moment or datetime.now(UTC)
    private_dir(database.parent)
    sweep_partials(database.parent)  # plaintext copies left by a restore that was killed
    sweep_partials(Path(backups_dir) / BEFORE_RESTORE)
    with plain_file(backup_file, database.parent) as plain:
        report = verify(plain) | {"file": str(backup_file)}
        current = _current(database)
        check(report, current, accept_other_database=accept_other_database)
        with private_temp(database.parent, "restore") as staged:
            # Upgrade a copy of an older backup to today's schema before it goes live, so the
            # processes already running never see an old schema under their feet.
            src = sqlite3.connect(f"file:{plain}?mode=ro", uri=True)
            try:
                copy_database(src, staged)
            finally:
                src.close()
            with Store(staged) as upgraded:
                # A page-for-page copy of a checked file needs no second check; an upgraded
                # one does (a migration wrote to it).
                problems = upgraded.integrity_check() if upgraded.migrated else []
            for path in lock_paths(staged):
                path.unlink(missing_ok=True)
            if problems:
                raise BackupRefused(f"{backup_file}: not sound once upgraded: {problems[0]}")
            if current is None:
                os.replace(staged, database)
                fsync_dir(database.parent)
                kept = None
            else:
                kept = _swap(
                    staged, database, Path(backups_dir), moment, lock_timeout_s, keep_aside
                )
    with Store(database) as restored:  # the copy into the live file is page for page
        counts = restored.counts()
    return {
        "restored_from": str(backup_file),
        "database": str(database),
        "replaced_kept_at": kept,
        "ok": True,
        "counts": counts,
        "facility_code": report["facility_code"],
    }


def _swap(
    staged: Path,
    database: Path,
    backups_dir: Path,
    moment: datetime,
    lock_timeout_s: float,
    keep_aside: int,
) -> str:
    """With every writer held at the lock: keep the live database aside, then copy in."""
    lock = DatabaseLock(database)
    try:
        lock.take_all(lock_timeout_s)
        live = sqlite3.connect(private_file(database), isolation_level=None)
        try:
            live.execute("PRAGMA busy_timeout = 10000")
            facility = live.execute(
                "SELECT value FROM settings WHERE key = 'facility_code'"
            ).fetchone()
            aside_dir = backups_dir / BEFORE_RESTORE
            private_dir(aside_dir)
            aside = aside_dir / files.new_name(facility[0] if facility else None, moment)
            with private_temp(aside_dir, aside.name) as tmp:
                copy_database(live, tmp)
                kept = verify(tmp)
                if not kept["ok"]:
                    raise BackupError(
                        f"the copy of the current database failed its check, nothing restored:"
                        f" {kept['problems']}"
                    )
                os.replace(tmp, aside)
            fsync_dir(aside_dir)
            _prune_aside(aside_dir, aside.name, keep_aside)
            src = sqlite3.connect(staged)
            try:
                src.backup(live)
            finally:
                src.close()
            live.execute("PRAGMA journal_mode = WAL")
            live.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            live.close()
    finally:
        lock.close()  # releases both
    return str(aside)


def _prune_aside(aside_dir: Path, written: str, keep: int) -> None:
    """Keep the `keep` newest copies set aside (the one just written always)."""
    names = sorted(
        (p for p in map(files.parse, os.listdir(aside_dir)) if p and p.name != written),
        key=lambda p: files.written_order(aside_dir, p),
        reverse=True,
    )
    for p in names[max(0, keep - 1) :]:
        (aside_dir / p.name).unlink(missing_ok=True)
