"""A full or read-only data folder: told apart from other database errors, and said plainly.

SQLite says "database or disk is full", but also "disk I/O error" when it cannot size its
-shm file on a full disk, "attempt to write a readonly database" or "unable to open database
file" on a read-only one; the OS says ENOSPC, EROFS or EACCES. `classify` turns any of them
into one `DiskProblem` (or None when the disk is not the cause), looking at the folder's free
space (os.statvfs) when the error alone cannot tell. Callers catch by meaning:

    except DiskFull: ...          # also an OSError (ENOSPC) and a StoreError

`open_store` opens the database for reading even where SQLite cannot make its -shm file, so
records stay readable on a full or read-only disk (writes then fail with the same message).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.store.db import StoreError

if TYPE_CHECKING:
    from appliance.store.db import Store

# Below this much free space a folder counts as full: SQLite needs room for its -shm file
# (32 KiB) and WAL frames, so an I/O error this close to the end is the disk being full.
FULL_BYTES = 1024 * 1024

# SQLite's primary result codes (the low byte of the extended code Python gives).
SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN = 8, 10, 13, 14


@dataclass(frozen=True, slots=True)
class Space:
    """Free space of one filesystem, as the calling user may use it."""

    free_bytes: int
    total_bytes: int
    read_only: bool

    @property
    def free_fraction(self) -> float:
        return self.free_bytes / self.total_bytes if self.total_bytes else 0.0

    @property
    def full(self) -> bool:
        return self.free_bytes < FULL_BYTES


def space(folder: str | os.PathLike[str]) -> Space | None:
    """statvfs of `folder`, or of its nearest existing parent; None if nothing answers."""
    path = Path(folder)
    for candidate in (path, *path.parents):
        try:
            st = os.statvfs(candidate)
        except OSError:
            continue
        return Space(
            free_bytes=st.f_bavail * st.f_frsize,
            total_bytes=st.f_blocks * st.f_frsize,
            read_only=bool(st.f_flag & os.ST_RDONLY),
        )
    return None


def size_text(n: int, lang: str = "fr") -> str:
    """1,5 Mo in French, 1.5 MB in English (binary units, one decimal)."""
    if n >= 1024**3:
        value, unit = n / 1024**3, ("Go" if lang == "fr" else "GB")
    else:
        value, unit = n / 1024**2, ("Mo" if lang == "fr" else "MB")
    text = f"{value:.1f}"
    return f"{text.replace('.', ',') if lang == 'fr' else text} {unit}"


# -- the errors --------------------------------------------------------------------------------
class DiskProblem(StoreError, OSError):
    """The data folder cannot take writes. `str()` is one line, French then English; the web
    app and the kiosk translate `fr_template` % `values(lang)` through their catalog."""

    errno_code = errno.EIO
    kind = "disk"
    fr_template = en_template = ""

    def __init__(self, folder: str | os.PathLike[str], space: Space | None = None):
        self.folder = Path(folder)
        self.space = space
        super().__init__(self.errno_code, self.text("en"), str(folder))

    def values(self, lang: str = "fr") -> dict[str, str]:
        s = self.space
        return {
            "folder": str(self.folder),
            "free": size_text(s.free_bytes, lang) if s else "?",
            "total": size_text(s.total_bytes, lang) if s else "?",
        }

    def text(self, lang: str = "fr") -> str:
        template = self.fr_template if lang == "fr" else self.en_template
        return template % self.values(lang)

    def __str__(self) -> str:
        return f"{self.text('fr')} / {self.text('en')}"

    def to_dict(self) -> dict[str, Any]:
        s = self.space
        return {
            "problem": self.kind,
            "folder": str(self.folder),
            "free_bytes": s.free_bytes if s else None,
            "total_bytes": s.total_bytes if s else None,
        }


class DiskFull(DiskProblem):
    errno_code = errno.ENOSPC
    kind = "disk_full"
    fr_template = (
        "disque plein : libérez de la place sur %(folder)s (%(free)s libres sur %(total)s)"
    )
    en_template = "disk full: free some space on %(folder)s (%(free)s free of %(total)s)"


class ReadOnlyFolder(DiskProblem):
    """Read-only for this process: a filesystem mounted read-only (an SD card that had errors)
    or a folder it may not write."""

    errno_code = errno.EROFS
    kind = "read_only"
    fr_template = "dossier en lecture seule : %(folder)s"
    en_template = "read-only folder: %(folder)s"


class FolderMissing(DiskProblem):
    errno_code = errno.ENOENT
    kind = "folder_missing"
    fr_template = "dossier introuvable : %(folder)s"
    en_template = "folder not found: %(folder)s"


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def check(folder: str | os.PathLike[str]) -> DiskProblem | None:
    """The problem `folder` has right now, from its free space and mode alone (no write)."""
    folder = Path(folder)
    if not folder.is_dir():
        return FolderMissing(folder)
    s = space(folder)
    if s is not None and s.read_only:
        return ReadOnlyFolder(folder, s)
    if s is not None and s.full:
        return DiskFull(folder, s)
    if not _writable(folder):
        return ReadOnlyFolder(folder, s)
    return None


def classify(exc: BaseException, path: str | os.PathLike[str] | None) -> DiskProblem | None:
    """The disk problem behind `exc`, or None when the disk is not the cause.

    `path` is the database (or the data folder) the failed operation was about; an OSError
    that names its own file is judged on that file's folder instead."""
    if isinstance(exc, DiskProblem):
        return exc
    if isinstance(exc, sqlite3.Error):
        if path is None:
            return None
        folder = _folder_of(Path(path))
        code = getattr(exc, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else _code_from_message(str(exc))
        if primary == SQLITE_FULL:
            return DiskFull(folder, space(folder))
        if primary in (SQLITE_IOERR, SQLITE_READONLY, SQLITE_CANTOPEN):
            found = check(folder)
            if found is None and primary == SQLITE_READONLY and not _file_writable(Path(path)):
                found = ReadOnlyFolder(folder, space(folder))
            return found
        return None
    if isinstance(exc, OSError):
        named = exc.filename or path
        folder = _folder_of(Path(named)) if named else None
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return DiskFull(folder or Path("."), space(folder or "."))
        if folder is None:
            return None
        if exc.errno == errno.EROFS:
            return ReadOnlyFolder(folder, space(folder))
        if exc.errno in (errno.EACCES, errno.EPERM):
            # only when the folder itself refuses writes (not a secret file kept 0600)
            return None if _writable(folder) else ReadOnlyFolder(folder, space(folder))
    return None


def _folder_of(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def _file_writable(path: Path) -> bool:
    return not path.is_file() or os.access(path, os.W_OK)


def _code_from_message(message: str) -> int | None:
    """Result code of an error raised without one (Python before 3.11, tests)."""
    message = message.lower()
    for text, code in (
        ("database or disk is full", SQLITE_FULL),
        ("disk i/o error", SQLITE_IOERR),
        ("readonly database", SQLITE_READONLY),
        ("unable to open database file", SQLITE_CANTOPEN),
    ):
        if text in message:
            return code
    return None


@contextmanager
def disk_errors(path: str | os.PathLike[str]) -> Iterator[None]:
    """Raise a database or OS error that a full or read-only disk caused as its DiskProblem
    (chained to the original); any other error goes through unchanged."""
    try:
        yield
    except DiskProblem:
        raise
    except (sqlite3.Error, OSError) as exc:
        problem = classify(exc, path)
        if problem is None:
            raise
        raise problem from exc


def _wal_is_empty(database: Path) -> bool:
    wal = database.with_name(database.name + "-wal")
    try:
        return wal.stat().st_size == 0
    except FileNotFoundError:
        return True


def open_store(path: str | os.PathLike[str], **options: Any) -> Store:
    """`Store(path, **options)`; on a full or read-only disk, the database as it is on disk,
    read-only (`store.read_only`), when that is all of it (no WAL left to fold in). Raises the
    DiskProblem when even that cannot be done. A read-only store never becomes writable:
    open again once the disk has room."""
    from appliance.store.db import Store

    database = Path(path)
    try:
        return Store(database, **options)
    except (sqlite3.Error, OSError) as exc:
        problem = classify(exc, database)
        if problem is None:
            raise
        if not database.is_file() or not _wal_is_empty(database):
            raise problem from exc
        try:
            return Store(database, read_only=True)
        except (sqlite3.Error, OSError):
            raise problem from exc
