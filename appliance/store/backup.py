"""Online backups with SQLite's backup API, their verification, and restore.

A backup is one self-contained file (rollback journal, no -wal beside it) that passed
`PRAGMA integrity_check`. Restore never deletes the database it replaces: it is copied aside
first.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.store.db import Store, StoreError
from appliance.store.schema import MIGRATIONS


class BackupError(StoreError):
    """A backup could not be made, or a file is not a sound Keneya backup."""


def _stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def _copy(src: sqlite3.Connection, dest_path: Path) -> None:
    """Copy a live database page by page into a new file, then make it a single file."""
    tmp = dest_path.with_name(dest_path.name + ".partial")
    tmp.unlink(missing_ok=True)
    dest = sqlite3.connect(tmp)
    try:
        src.backup(dest, pages=1024)  # in steps, so writers are not held up for long
        dest.execute("PRAGMA journal_mode = DELETE")
        dest.commit()
    finally:
        dest.close()
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, dest_path)
    dir_fd = os.open(dest_path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself must survive a power cut
    finally:
        os.close(dir_fd)


def verify(path: str | Path) -> dict[str, Any]:
    """Open a backup read-only and report whether it is sound."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
            counts = {
                t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("staff", "patients", "encounters", "audit")
            }
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{path} is not a Keneya database ({e})") from None
    problems = [] if integrity == ["ok"] else integrity
    if version is None or version > MIGRATIONS[-1][0]:
        problems.append(f"schema version {version} is not one this Keneya can read")
    return {
        "file": str(path),
        "ok": not problems,
        "problems": problems,
        "schema_version": version,
        "counts": counts,
        "bytes": path.stat().st_size,
    }


def create(store: Store, dest_dir: str | Path, *, moment: datetime | None = None) -> dict[str, Any]:
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"keneya-{_stamp(moment)}.db"
    try:
        _copy(store.conn, dest)
    except OSError as e:
        raise BackupError(f"cannot write a backup to {dest_dir}: {e.strerror or e}") from None
    report = verify(dest)
    if not report["ok"]:
        raise BackupError(f"the backup {dest} failed its check: {report['problems']}")
    return report


def restore(
    backup_file: str | Path, database: str | Path, *, moment: datetime | None = None
) -> dict[str, Any]:
    """Replace `database` with a verified backup; the replaced file is kept beside it."""
    report = verify(backup_file)
    if not report["ok"]:
        raise BackupError(f"{backup_file} is not sound, nothing restored: {report['problems']}")
    database = Path(database)
    aside = None
    if database.exists():
        aside = database.with_name(f"{database.name}.replaced-{_stamp(moment)}")
        with Store(database, migrate=False) as current:
            _copy(current.conn, aside)
    src = sqlite3.connect(f"file:{Path(backup_file)}?mode=ro", uri=True)
    live = sqlite3.connect(database)
    try:
        src.backup(live)
        live.execute("PRAGMA journal_mode = WAL")
    finally:
        live.close()
        src.close()
    with Store(database) as restored:  # brings an older backup up to today's schema
        problems = restored.integrity_check()
        counts = restored.counts()
    return {
        "restored_from": str(backup_file),
        "database": str(database),
        "replaced_kept_at": str(aside) if aside else None,
        "ok": not problems,
        "problems": problems,
        "counts": counts,
    }
