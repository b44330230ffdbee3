"""The SQLite connection, its settings, migrations and transactions.

Every process on the Pi (web, kiosk, power, modem) opens its own Store on the same file; they
share state only through it. WAL lets readers go on while one writer writes; `synchronous=FULL`
makes every commit survive a power cut; `busy_timeout` makes a writer wait its turn instead of
failing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from appliance.clock import to_iso
from appliance.paths import private_dir, private_file
from appliance.store.schema import MIGRATIONS

BUSY_TIMEOUT_MS = 10_000


class StoreError(Exception):
    """Base of the store's errors."""


class SchemaTooNew(StoreError):
    """The database was written by a newer Keneya than this one."""


class NotInitialised(StoreError, FileNotFoundError):
    """No database at that path yet (run `keneya db init`)."""


class RestoreInProgress(StoreError, TimeoutError):
    """A restore holds the database: writes wait for it, then give up with this."""


def lock_paths(database: Path) -> tuple[Path, Path]:
    """The two files a restore and every write transaction lock (flock): the lock and its gate."""
    return database.with_name(database.name + ".lock"), database.with_name(database.name + ".gate")


def _open_lock_file(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        try:
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None  # a read-only home: nothing can be written there anyway


def _flock(fd: int, mode: int, deadline: float) -> None:
    """flock with a deadline (flock itself has none); polls, since waits are rare and short."""
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise RestoreInProgress(
                    "une restauration de sauvegarde est en cours : réessayez dans une minute"
                    " / a backup restore is in progress: try again in a minute"
                ) from None
            time.sleep(0.02)


class DatabaseLock:
    """What keeps a restore and the writers of every process apart.

    Each write transaction holds `.lock` shared; a restore holds it exclusively. Under load the
    shared holders overlap without a gap, so a restore would wait for ever: it first closes
    the gate (`.gate` exclusively), which writers hold only while taking their shared lock,
    then waits for the transactions under way to end."""

    def __init__(self, database: Path):
        self.database = database
        self._fds: tuple[int, int] | None = None

    def _open(self) -> tuple[int, int] | None:
        if self._fds is None:
            fds = [_open_lock_file(p) for p in lock_paths(self.database)]
            if None in fds:
                for fd in fds:
                    if fd is not None:
                        os.close(fd)
                return None
            self._fds = (fds[0], fds[1])  # type: ignore[assignment]
        return self._fds

    def share(self, timeout_s: float) -> bool:
        """Take the writer's share; False when no lock file can exist here."""
        fds = self._open()
        if fds is None:
            return False
        lock, gate = fds
        deadline = time.monotonic() + timeout_s
        _flock(gate, fcntl.LOCK_SH, deadline)
        try:
            _flock(lock, fcntl.LOCK_SH, deadline)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        return True

    def take_all(self, timeout_s: float) -> None:
        """The restore's: the gate, then the lock, both exclusively."""
        fds = self._open()
        if fds is None:
            raise StoreError(f"cannot lock {self.database} (read-only folder?)")
        lock, gate = fds
        deadline = time.monotonic() + timeout_s
        _flock(gate, fcntl.LOCK_EX, deadline)
        try:
            _flock(lock, fcntl.LOCK_EX, deadline)
        except BaseException:
            fcntl.flock(gate, fcntl.LOCK_UN)
            raise

    def release(self) -> None:
        if self._fds is not None:
            for fd in self._fds:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fds is not None:
            for fd in self._fds:
                os.close(fd)  # closing also releases
            self._fds = None


def utc_now_iso() -> str:
    return to_iso(datetime.now(UTC))


def split_sql(script: str) -> list[str]:
    """Split a script into statements (triggers keep their inner semicolons)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        raise StoreError(f"incomplete SQL statement: {current.strip()[:60]}")
    return statements


class Store:
    """One connection to the record store. Use as a context manager, or call close()."""

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = False,
        migrate: bool = True,
        read_only: bool = False,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ):
        """`read_only`: the file as it is on disk, through SQLite's immutable mode (no -shm or
        -wal file made, no migration, every write refused), for reading a full or read-only
        disk where a normal open fails: see diskspace.open_store, the one caller.
        `busy_timeout_ms`: how long a write waits for another writer (and for a restore); a
        background job that can wait (a backup) gives more than the staff's screens do."""
        self.path = Path(path)
        self.read_only = read_only
        if (read_only or not create) and not self.path.exists():
            raise NotInitialised(f"no database at {self.path} (run `keneya db init`)")
        if not read_only:
            private_dir(self.path.parent)
            if create:
                private_file(self.path)  # a new database is 0600, and so are its -wal and -shm
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a writer takes the write
        # lock up front (waiting on busy_timeout) instead of failing half-way through.
        self.conn = sqlite3.connect(
            f"{self.path.resolve().as_uri()}?mode=ro&immutable=1" if read_only else self.path,
            uri=read_only,
            isolation_level=None,
            timeout=busy_timeout_ms / 1000,
            check_same_thread=False,
        )
        self.conn.row_factory = sqlite3.Row
        self.busy_timeout_ms = int(busy_timeout_ms)
        self.conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
        if not read_only:
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.db = sqlite_utils.Database(self.conn)
        self._depth = 0
        self.lock = DatabaseLock(self.path)
        # The migrations this opening applied (none in the usual case).
        self.migrated: list[int] = []
        if migrate and not read_only:
            self.migrated = self.migrate()
        from appliance.store.repos import attach_repositories

        attach_repositories(self)
        if migrate and not read_only:
            # After a change of the phonetic key: stored search columns rebuilt, in batches.
            self.patients.refresh_search_columns()

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        if self.conn is not None:
            # another process may hold the database; its own close will checkpoint
            with contextlib.suppress(sqlite3.OperationalError):
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.close()
            self.conn = None  # type: ignore[assignment]
        self.lock.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; nested calls join the outer one.

        Every outermost transaction holds a shared flock on the database's lock file, which a
        restore takes exclusively: a write is then either wholly before a restore (and in the
        copy it keeps of the replaced database) or wholly after it (in the restored one)."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        locked = self.lock.share(self.busy_timeout_ms / 1000)
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                self._depth = 0
        finally:
            if locked:
                self.lock.release()

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sql, params)]

    def query_one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        row = self.conn.execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    # -- schema ------------------------------------------------------------------------------
    def schema_version(self) -> int:
        if "schema_migrations" not in self.db.table_names():
            return 0
        row = self.conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return row[0] or 0

    def migrate(self) -> list[int]:
        """Apply the steps not yet applied, each in its own transaction. Idempotent."""
        latest = MIGRATIONS[-1][0]
        if self.schema_version() == latest:
            return []  # the usual case: no write lock taken just to open the store
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
        current = self.schema_version()
        if current > latest:
            raise SchemaTooNew(
                f"{self.path} has schema version {current}; this Keneya knows up to {latest}"
            )
        applied = []
        for version, name, sql in MIGRATIONS:
            if version <= current:
                continue
            with self.transaction() as conn:
                for statement in split_sql(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, utc_now_iso()),
                )
            applied.append(version)
        return applied

    # -- settings ----------------------------------------------------------------------------
    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_settings(self, values: dict[str, str | None]) -> None:
        """Several settings in one transaction; None deletes a key."""
        with self.transaction() as conn:
            for key, value in values.items():
                if value is None:
                    conn.execute("DELETE FROM settings WHERE key = ?", (key,))
                else:
                    conn.execute(
                        "INSERT INTO settings (key, value) VALUES (?, ?)"
                        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (key, value),
                    )

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- health ------------------------------------------------------------------------------
    def integrity_check(self) -> list[str]:
        """Empty when the file is sound; else SQLite's complaints."""
        rows = [r[0] for r in self.conn.execute("PRAGMA integrity_check")]
        problems = [] if rows == ["ok"] else rows
        problems += [
            f"foreign key: {tuple(r)}" for r in self.conn.execute("PRAGMA foreign_key_check")
        ]
        return problems

    def counts(self) -> dict[str, int]:
        tables = ("staff", "patients", "encounters", "audit", "merges", "clock_events")
        return {t: self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
