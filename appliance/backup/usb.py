"""An encrypted backup onto a USB stick, started by udev when a FAT or exFAT stick goes in.

`keneya-usb-backup@sdX1.service` runs `keneya backup usb /dev/sdX1`: mount the stick (no
desktop automounter on the appliance), write `KENEYA-SAUVEGARDES/<name>.db.gz.age` through a
temporary file, read it back from the stick and compare its hash, delete the older copies of
this facility beyond the newest few, unmount — and only then say the stick can be removed.
The previous backups on the stick are touched only once the new one is safe, so a stick pulled
out mid-write keeps them. Each step's outcome is kept in the `backup.usb` setting, which the
kiosk, the status page and the status LED show.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.backup import files
from appliance.backup.age import CHUNK, HEADER, encrypt_stream
from appliance.backup.copy import (
    BackupError,
    copy_database,
    fsync_dir,
    private_temp,
    sweep_partials,
    verify,
)
from appliance.clock import to_iso
from appliance.paths import private_dir_owned_like_parent
from appliance.store.db import Store, StoreError

STICK_FOLDER = "KENEYA-SAUVEGARDES"
KEEP_ON_STICK = 3
MOUNT_ROOT = Path("/run/keneya/usb")
STATUS_SETTING = "backup.usb"
FILESYSTEMS = ("vfat", "exfat")


class UsbError(BackupError):
    """The stick could not take the backup; `reason` is one of REASONS."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _stick_error(exc: OSError, folder: Path, need: int | None = None) -> UsbError:
    if exc.errno == errno.EROFS or exc.errno == errno.EACCES:
        return UsbError(
            "read_only",
            "clé USB en lecture seule : déverrouillez-la ou utilisez une autre clé"
            " / the USB stick is read-only",
        )
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        size = f" (il faut environ {need // 2**20 + 1} Mo)" if need else ""
        return UsbError(
            "full",
            f"clé USB pleine{size} : libérez de la place ou utilisez une autre clé"
            " / the USB stick is full",
        )
    if exc.errno in (errno.EIO, errno.ENODEV, errno.ENXIO, errno.ENOENT, errno.ESHUTDOWN):
        return UsbError(
            "pulled",
            "la clé USB a été retirée ou ne répond plus pendant l'écriture : remettez-la"
            " / the USB stick was removed or failed during the write",
        )
    return UsbError("failed", f"écriture impossible sur la clé USB ({exc.strerror or exc})")


def record(store: Store, state: str, **fields: Any) -> dict[str, Any]:
    """Leave the outcome where the kiosk, status page and LED read it. Best effort: a full or
    locked database must not stop the stick's backup (its exit status still tells)."""
    status = {"state": state, "at": to_iso(datetime.now(UTC)), **fields}
    with contextlib.suppress(sqlite3.Error, StoreError):
        store.set_setting(STATUS_SETTING, json.dumps(status, ensure_ascii=False))
    return status


def read_status(store: Store) -> dict[str, Any] | None:
    raw = store.get_setting(STATUS_SETTING)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _read_back(path: Path) -> str:
    """The file's hash as read from the stick, not from the page cache."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        with os.fdopen(fd, "rb", closefd=False) as f:
            if f.read(len(HEADER)) != HEADER:
                raise BackupError(f"{path} does not start as an age file")
            f.seek(0)
            while block := f.read(CHUNK):
                digest.update(block)
    finally:
        os.close(fd)
    return digest.hexdigest()


def _prune(folder: Path, facility: str, keep: int, written: str) -> list[str]:
    """Older backups of this facility beyond the newest `keep`, and our leftovers of a write
    that was cut (dot-files ending in .partial). Other files on the stick are never touched."""
    mine = sorted(
        (p for p in map(files.parse, os.listdir(folder)) if p and p.facility == facility),
        key=lambda p: (*files.written_order(folder, p), p.name == written),
        reverse=True,
    )
    dropped = [p.name for p in mine[keep:] if p.name != written]
    dropped += _cut_writes(folder)
    for name in dropped:
        (folder / name).unlink(missing_ok=True)
    return dropped


def _cut_writes(folder: Path) -> list[str]:
    """Our leftovers on the stick of a write that was cut (private_temp's dot-files)."""
    return [n for n in os.listdir(folder) if n.startswith(".keneya-") and n.endswith(".partial")]


def _make_room(folder: Path, facility: str, need: int) -> list[str]:
    """Before writing: our cut writes, then this facility's oldest backups while the stick
    lacks `need` bytes -- never its newest, which stays until the new one is read back."""
    freed = _cut_writes(folder)
    for name in freed:
        (folder / name).unlink(missing_ok=True)
    mine = sorted(
        (p for p in map(files.parse, os.listdir(folder)) if p and p.facility == facility),
        key=lambda p: files.written_order(folder, p),
    )[:-1]
    while mine and shutil.disk_usage(folder).free < need:
        name = mine.pop(0).name
        (folder / name).unlink(missing_ok=True)
        freed.append(name)
    return freed


def write_to_folder(
    store: Store,
    folder: Path,
    recipients: list[str],
    *,
    work_dir: Path,
    keep: int = KEEP_ON_STICK,
    moment: datetime | None = None,
) -> dict[str, Any]:
    """The encrypted, read-back backup in `folder/KENEYA-SAUVEGARDES` (a mounted stick)."""
    if not recipients:
        raise UsbError(
            "no_recipients",
            "aucune clé publique du district dans le fichier de la structure ([backup]"
            " recipients) : la sauvegarde sur clé n'est pas chiffrable / no [backup] recipients",
        )
    started = time.monotonic()
    facility = store.get_setting("facility_code") or "NOFAC"
    name = files.new_name(facility, moment or datetime.now(UTC), ".db.gz.age")
    private_dir_owned_like_parent(work_dir)  # the nightly backup (not root) writes there too
    sweep_partials(work_dir)  # plaintext copies left by a run that was killed
    with private_temp(work_dir, "usb") as plain:
        copy_database(store.conn, plain)
        checked = verify(plain)
        if not checked["ok"]:
            raise BackupError(f"the backup failed its check: {checked['problems']}")
        need = plain.stat().st_size // 3  # gzip leaves about a quarter; a margin on top
        dest_dir = folder / STICK_FOLDER
        try:
            dest_dir.mkdir(exist_ok=True)
            freed = _make_room(dest_dir, facility, need)
            with private_temp(dest_dir, name) as tmp:
                with open(tmp, "wb") as out:
                    size, sha = encrypt_stream(plain, out.write, recipients)
                    out.flush()
                    os.fsync(out.fileno())
                if _read_back(tmp) != sha:
                    raise UsbError("failed", "la copie sur la clé USB est différente : réessayez")
                os.replace(tmp, dest_dir / name)
            fsync_dir(dest_dir)
            dropped = freed + _prune(dest_dir, facility, keep, name)
        except OSError as e:
            raise _stick_error(e, folder, need) from e
    return {
        "file": str(dest_dir / name),
        "bytes": size,
        "sha256": sha,
        "counts": checked["counts"],
        "removed": dropped,
        "seconds": round(time.monotonic() - started, 2),
    }


UPDATE_FOLDER = "keneya-update"  # a signed index and its delta, as the district publishes them


def holds_update(folder: Path) -> bool:
    """A stick with an update bundle at its top, or the district's published folder, is for
    the update only (provisioning/update.py)."""
    return any(folder.glob("*.raucb")) or (folder / UPDATE_FOLDER / "index.json").is_file()


def _run(args: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def fs_type(device: Path) -> str | None:
    done = _run(["blkid", "-o", "value", "-s", "TYPE", str(device)])
    return done.stdout.strip() or None


def mount(device: Path, mount_root: Path = MOUNT_ROOT) -> Path:
    kind = fs_type(device)
    if kind not in FILESYSTEMS:
        raise UsbError(
            "unsupported",
            f"{device} : clé non reconnue ({kind or 'aucun système de fichiers'}) ; formatez-la"
            " en FAT32 ou exFAT / format the stick as FAT32 or exFAT",
        )
    point = mount_root / device.name
    point.mkdir(parents=True, exist_ok=True)
    # uid/umask: only root reads what is on the stick while it is in the appliance.
    done = _run(
        [
            "mount",
            "-t",
            kind,
            "-o",
            "nosuid,nodev,noexec,noatime,umask=077",
            str(device),
            str(point),
        ]
    )
    if done.returncode != 0:
        raise UsbError("mount", f"impossible de monter {device} : {done.stderr.strip()}")
    return point


def unmount(point: Path) -> None:
    os.sync()
    for _ in range(5):
        if _run(["umount", str(point)]).returncode == 0:
            break
        time.sleep(1)
    else:
        _run(["umount", "--lazy", str(point)])
    point.rmdir()
