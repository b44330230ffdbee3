"""A card that comes back with its records: a backup travels on the new card's FAT partition.

When a facility's SD card dies, the technician flashes a new one and runs
`keneya provision write-card facility.toml --restore BACKUP.db.gz.age --identity district.key`.
On the laptop (`prepare`), the backup is decrypted with the district's key (the appliance never
holds one), checked (a sound Keneya database of the same facility, with a schema this Keneya
knows), and written gzipped as `keneya/restore.db.gz` beside the facility file, then read back.

At first boot (`install`, called by provisioning.firstboot before the facility is applied) the
backup becomes the database, when there is none yet: an appliance that already holds records is
never overwritten from a card (`keneya backup restore` does that, keeping the replaced database
aside). Once first boot has succeeded the card's copy is overwritten in place and deleted
(`scrub`): deleting a file on FAT only frees its clusters, and the records would stay readable
by anyone who pulls the card.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning import card

RESTORE_NAME = "restore.db.gz"
RESTORE_DEST = f"keneya/{RESTORE_NAME}"
# Room left on the FAT beyond the backup: the facility file, the receipt, an error file.
FAT_MARGIN = 1 << 20
AGE_HEADER = b"age-encryption.org/v1\n"
SQLITE_HEADER = b"SQLite format 3\x00"
GZIP_MAGIC = b"\x1f\x8b"


class RestoreRefused(ValueError):
    """The backup must not go onto this card (or into this appliance); nothing was touched."""


# ------------------------------------------------------------------ on the technician's laptop


@dataclass(frozen=True)
class Prepared:
    """A checked backup, gzipped, ready for the card (in a private folder of the caller's)."""

    path: Path
    report: dict[str, Any]


def _kind(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(len(AGE_HEADER))
    if head.startswith(AGE_HEADER):
        return "age"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(SQLITE_HEADER):
        return "sqlite"
    return "unknown"


def prepare(backup: Path, *, identity: Path | None, facility_code: str, work_dir: Path) -> Prepared:
    """Decrypt (an `.age` backup needs `identity`), gzip if needed, and check the backup;
    RestoreRefused with one line when it is not this facility's sound backup."""
    from appliance.backup import BackupError, decrypt, verify

    backup = Path(backup)
    if not backup.is_file():
        raise RestoreRefused(f"{backup}: no such file")
    try:
        source = backup
        if _kind(backup) == "age":
            if identity is None:
                raise RestoreRefused(
                    f"{backup} is encrypted: give the district's key with --identity district.key"
                )
            source = decrypt(backup, identity, work_dir / "decrypted")
        gz = work_dir / RESTORE_NAME
        kind = _kind(source)
        if kind == "gzip":
            shutil.copyfile(source, gz)
        elif kind == "sqlite":
            with open(source, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as out:
                shutil.copyfileobj(src, out, 1 << 20)
        else:
            raise RestoreRefused(
                f"{backup} is not a Keneya backup (neither age-encrypted, gzip nor SQLite)"
            )
        if source != backup:
            source.unlink()  # the decrypted copy: the gzipped one below is all that is kept
        report = verify(gz)
    except BackupError as e:
        raise RestoreRefused(str(e)) from None
    if not report["ok"]:
        raise RestoreRefused(f"{backup}: not a sound backup: {'; '.join(report['problems'])}")
    theirs = report.get("facility_code")
    if theirs != facility_code:
        raise RestoreRefused(
            f"{backup} is a backup of facility {theirs or '(none)'}, the facility file is"
            f" {facility_code}: use this facility's backup, or its own facility file"
        )
    return Prepared(gz, report)


def _cluster_bytes(target: Path, spec: str) -> int:
    """The FAT's cluster size (minfo: "sector size: 512 bytes", "cluster size: 2 sectors")."""
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    done = subprocess.run(
        ["minfo", "-i", spec, "::"], capture_output=True, text=True, env=env, timeout=60
    )
    sector = re.search(r"sector size: (\d+) bytes", done.stdout)
    cluster = re.search(r"cluster size: (\d+) sectors", done.stdout)
    if done.returncode != 0 or not sector or not cluster:
        raise card.CardError(f"minfo could not read the boot partition of {target}")
    return int(sector[1]) * int(cluster[1])


def free_bytes(target: Path) -> tuple[int, int]:
    """(free bytes, cluster size) of the card's FAT boot partition, read with mtools."""
    card.mtools_available()
    spec = f"{target}@@{card.boot_partition(target).start}"
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    done = subprocess.run(
        ["mdir", "-i", spec, "::/"], capture_output=True, text=True, env=env, timeout=60
    )
    found = re.search(r"([\d ]+) bytes free", done.stdout)
    if done.returncode != 0 or not found:
        raise card.CardError(f"mdir could not tell the free space of {target}'s boot partition")
    return int(found[1].replace(" ", "")), _cluster_bytes(target, spec)


def check_room(target: Path, size: int) -> dict[str, int]:
    """RestoreRefused when a backup of `size` bytes does not fit on the FAT (an earlier
    restore.db.gz on the card is replaced, so its room counts as free)."""
    free, cluster = free_bytes(target)
    previous = len(card.read_file(target, RESTORE_DEST) or b"")
    available = free + -(-previous // cluster) * cluster
    need = -(-size // cluster) * cluster + FAT_MARGIN
    if need > available:
        raise RestoreRefused(
            f"la sauvegarde ({size / 1e6:.1f} Mo compressée) ne tient pas sur la partition de"
            f" démarrage ({available / 1e6:.1f} Mo libres) / the backup does not fit on the"
            " card's boot partition: restore it on the running appliance instead (flash, boot,"
            " then `keneya backup restore FILE --identity district.key`)"
        )
    return {"free_bytes": available, "needed_bytes": need}


def write(target: Path, prepared: Prepared) -> dict[str, Any]:
    """Put the checked backup on the card as keneya/restore.db.gz and read it back."""
    result = card.write_file(target, prepared.path.read_bytes(), dest=RESTORE_DEST)
    counts = prepared.report.get("counts") or {}
    return result | {
        "facility_code": prepared.report.get("facility_code"),
        "schema_version": prepared.report.get("schema_version"),
        "database_id": prepared.report.get("database_id"),
        "counts": counts,
    }


# ------------------------------------------------------------------ on the Pi, at first boot


def holds_records(database: Path) -> bool:
    """Whether a database is there with anything in it (staff, patients, encounters or a
    facility code). An empty one, left by a first boot that failed, may be replaced; a file
    that cannot be read is never overwritten."""
    if not database.exists():
        return False
    if database.stat().st_size == 0:
        return False
    try:
        conn = sqlite3.connect(database)
    except sqlite3.DatabaseError:
        return True
    try:
        for table in ("staff", "patients", "encounters"):
            try:
                if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
                    return True
            except sqlite3.OperationalError as e:
                if "no such table" not in str(e):
                    return True
        try:
            row = conn.execute("SELECT value FROM settings WHERE key = 'facility_code'").fetchone()
        except sqlite3.OperationalError as e:
            return "no such table" not in str(e)
        return bool(row and row[0])
    except sqlite3.DatabaseError:
        return True
    finally:
        conn.close()


def install(
    restore_file: Path, database: Path, *, backups_dir: Path, facility_code: str
) -> dict[str, Any]:
    """The card's backup becomes the database. RestoreRefused (nothing changed) when a
    database with records is there, or the backup is not this facility's sound backup."""
    from appliance.backup import BackupError, restore

    if holds_records(database):
        raise RestoreRefused(
            "une base de données avec des dossiers existe déjà sur cet appareil : la sauvegarde"
            " de la carte n'a pas été installée et a été effacée de la carte / this appliance"
            " already holds records: the backup on the card was not installed, and was erased"
            " from the card. To replace them: keneya backup restore FILE --identity"
            " district.key"
        )
    try:
        report = restore(
            restore_file, database, backups_dir=backups_dir, accept_other_database=True
        )
    except (BackupError, OSError, sqlite3.DatabaseError) as e:
        undo(database)
        raise RestoreRefused(
            f"la sauvegarde de la carte n'a pas pu être installée / the card's backup could"
            f" not be installed: {e}"
        ) from None
    if report.get("facility_code") != facility_code:
        undo(database)
        raise RestoreRefused(
            f"la sauvegarde de la carte est celle de {report.get('facility_code')}, la fiche est"
            f" celle de {facility_code} / the card's backup is another facility's"
        )
    if not report.get("ok", True):
        undo(database)
        raise RestoreRefused(
            f"la sauvegarde installée n'est pas saine / the restored database is not sound:"
            f" {report.get('problems')}"
        )
    return report


def undo(database: Path) -> None:
    """Remove a database installed from the card (there was none with records before)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)


def scrub(path: Path) -> bool:
    """Overwrite a file's bytes where they lie, flush them to the card, then delete it (on FAT
    a deletion only frees the clusters). False when there was no file."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        overwrite(fd)
    finally:
        os.close(fd)
    path.unlink()
    sync_dir(path.parent)
    return True


def overwrite(fd: int) -> None:
    """Zeros over every byte of an open file, in place, flushed to the device."""
    size = os.fstat(fd).st_size
    zeros = bytes(1 << 20)
    os.lseek(fd, 0, os.SEEK_SET)
    left = size
    while left > 0:
        left -= os.write(fd, zeros[: min(len(zeros), left)])
    os.fsync(fd)


def sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
