"""Online backups with SQLite's backup API, and their verification.

A backup is one self-contained SQLite file (rollback journal, no -wal beside it) that passed
`PRAGMA integrity_check` after it was written, named so that it is unique (`files.new_name`)
and written through a private temporary file renamed into place, so a half-written backup is
never taken for a good one. A `.db.gz` is the same file gzipped (what leaves the appliance).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.backup import files
from appliance.paths import private_dir
from appliance.store.db import Store, StoreError
from appliance.store.schema import MIGRATIONS

# Pages copied per step of the online backup: a writer waits at most one step.
STEP_PAGES = 1024
COUNTED = ("staff", "patients", "encounters", "audit")


class BackupError(StoreError):
    """A backup could not be made, or a file is not a sound Keneya backup."""


class BackupRefused(BackupError):
    """A restore that was refused before anything was touched."""


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)  # a rename must survive a power cut too
    finally:
        os.close(fd)


@contextlib.contextmanager
def private_temp(folder: Path, name: str) -> Iterator[Path]:
    """A new, private (0600) temporary file in `folder`, removed unless renamed away."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder)
    os.close(fd)
    path = Path(tmp)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


# A temporary copy untouched this long belongs to a run that was killed or cut by a power
# failure (a live copy writes to it all the time): it is a plaintext database, so it goes.
STALE_PARTIAL_S = 3600.0


def sweep_partials(folder: Path, *, older_than_s: float = STALE_PARTIAL_S) -> list[str]:
    """Delete our temporary files (`.….partial`) left in `folder` by a run that died."""
    now = time.time()
    swept = []
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    for name in names:
        if not (name.startswith(".") and name.endswith(".partial")):
            continue
        path = folder / name
        try:
            if now - path.stat().st_mtime >= older_than_s:
                path.unlink()
                swept.append(name)
        except OSError:
            continue  # gone meanwhile, or not ours to delete
    return swept


def copy_database(src: sqlite3.Connection, dest: Path) -> None:
    """Copy a live database page by page into `dest` (an existing empty file), then make it a
    single file and flush it to the card."""
    out = sqlite3.connect(dest)
    try:
        src.backup(out, pages=STEP_PAGES)
        out.execute("PRAGMA journal_mode = DELETE")
        out.commit()
    finally:
        out.close()
    with open(dest, "rb") as f:
        os.fsync(f.fileno())


def _read(conn: sqlite3.Connection) -> dict[str, Any]:
    integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
    settings = dict(
        conn.execute(
            "SELECT key, value FROM settings WHERE key IN ('facility_code', 'database_id')"
        ).fetchall()
    )
    counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in COUNTED}
    return {
        "integrity": integrity,
        "schema_version": version,
        "facility_code": settings.get("facility_code"),
        "database_id": settings.get("database_id"),
        "counts": counts,
    }


def describe(path: Path) -> dict[str, Any]:
    """What a plain SQLite file holds, read-only; BackupError when it is not a Keneya one."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return _read(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{path} is not a Keneya database ({e})") from None


@contextlib.contextmanager
def plain_file(path: Path, work_dir: Path | None = None) -> Iterator[Path]:
    """The SQLite file itself: `path`, or a private unpacked copy of a `.db.gz`."""
    if not path.name.endswith(".gz"):
        yield path
        return
    folder = work_dir or path.parent
    with private_temp(folder, path.name) as tmp:
        try:
            with gzip.open(path, "rb") as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        except (OSError, EOFError) as e:
            if isinstance(e, OSError) and e.errno is not None:
                raise  # the disk, not the file (a full disk says so upstream)
            raise BackupError(f"{path} is not a gzipped Keneya backup ({e})") from None
        yield tmp


def verify(path: str | Path, *, work_dir: Path | None = None) -> dict[str, Any]:
    """Open a backup (`.db` or `.db.gz`) read-only and report whether it is sound."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    with plain_file(path, work_dir) as plain:
        facts = describe(plain)
    problems = [] if facts["integrity"] == ["ok"] else facts.pop("integrity")
    facts.pop("integrity", None)
    version = facts["schema_version"]
    if version is None or version > MIGRATIONS[-1][0]:
        problems.append(
            f"schema version {version} is newer than this Keneya knows ({MIGRATIONS[-1][0]}):"
            " update Keneya first"
        )
    return {"file": str(path), "ok": not problems, "problems": problems, **facts} | {
        "bytes": path.stat().st_size
    }


def create(store: Store, dest_dir: str | Path, *, moment: datetime | None = None) -> dict[str, Any]:
    """A verified backup of the live database into `dest_dir`; returns its report."""
    dest_dir = Path(dest_dir)
    moment = moment or datetime.now(UTC)
    name = files.new_name(store.get_setting("facility_code"), moment)
    dest = dest_dir / name
    try:
        private_dir(dest_dir)
        with private_temp(dest_dir, name) as tmp:
            copy_database(store.conn, tmp)
            report = verify(tmp)
            if not report["ok"]:
                raise BackupError(f"the backup failed its check: {report['problems']}")
            os.replace(tmp, dest)
        fsync_dir(dest_dir)
    except OSError as e:
        raise BackupError(f"cannot write a backup to {dest_dir}: {e.strerror or e}") from e
    except sqlite3.OperationalError as e:
        raise BackupError(f"cannot write a backup to {dest_dir}: {e}") from e
    return report | {"file": str(dest)}


def gzip_file(src: Path, dest: Path, *, level: int = 6) -> None:
    with open(src, "rb") as f, gzip.open(dest, "wb", compresslevel=level) as out:
        shutil.copyfileobj(f, out, 1 << 20)
