"""A library stick on the appliance: the udev rule starts `keneya-library-usb@DEV` for every
stick, after its backup and update units are done with it. When the stick holds
`keneya-bibliotheque/` with its index, it stays mounted read-only under LIBRARY_MOUNT_ROOT,
readable by the service user, for the web app's import page, the admin's (files.find_sticks
looks there first); otherwise it is let go at once. The unit is bound to the stick's device:
pulling the stick out stops it, which lets go of the mount (`keneya library stick-out`).

The mount must be the system's, seen by the web app in its own namespace, not a private one
as the backup's: systemd makes it (`systemd-mount`, a transient mount unit), so the unit keeps
its sandbox and one capability (reading past file modes, to find the index). Read-only, so a
stick pulled out mid-import harms neither the stick nor the records (the import stops, naming
the file it could not read)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from appliance.backup.usb import FILESYSTEMS
from appliance.library.index import FOLDER, INDEX_FILE

# Not under /run/keneya: the backup's unit makes that folder root's 0700 (UMask=0077), which
# the service user could not cross; systemd makes this one 0755 for the mount point.
LIBRARY_MOUNT_ROOT = Path("/run/keneya-library")
# Read by the service user (the data folder's owner) and its group; nothing on it runs.
OPTIONS = "ro,nosuid,nodev,noexec,noatime,uid={uid},gid={gid},fmask=0337,dmask=0227"


class StickError(RuntimeError):
    """Said in the unit's log: French first."""


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """A tool's run; a stick that hangs (or a tool missing) is a StickError, said in one line.
    The timeouts of one `stick_in` add up to less than the unit's TimeoutStartSec."""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise StickError(f"{args[0]} : pas de réponse en {timeout:.0f} s / no answer") from None
    except FileNotFoundError:
        raise StickError(f"{args[0]} : outil absent / tool missing") from None


def fs_type(device: Path) -> str | None:
    found = _run(["blkid", "-o", "value", "-s", "TYPE", str(device)], timeout=15)
    return found.stdout.strip() or None


def mount_point(device: Path, root: Path = LIBRARY_MOUNT_ROOT) -> Path:
    return root / device.name


def mount_command(device: Path, kind: str, uid: int, gid: int, point: Path) -> list[str]:
    """systemd-mount, read-only, never checked or repaired (fsck would write to the stick)."""
    options = OPTIONS.format(uid=uid, gid=gid)
    return ["systemd-mount", "--no-ask-password", "--fsck=no", "--collect", "-t", kind,
            "-o", options, str(device), str(point)]  # fmt: skip


def stick_in(device: Path, owner_of: Path, root: Path = LIBRARY_MOUNT_ROOT) -> Path | None:
    """Mount `device` read-only for the library when it holds one; its mount point, or None
    (not a FAT or exFAT stick, or no library on it: nothing left mounted)."""
    if not device.exists():
        raise StickError(f"{device} : clé absente (retirée ?) / no such device")
    kind = fs_type(device)
    if kind not in FILESYSTEMS:
        return None
    point = mount_point(device, root)
    stick_out(device, root)  # a mount left from a stick pulled out while the unit was down
    owner = owner_of.stat()
    done = _run(mount_command(device, kind, owner.st_uid, owner.st_gid, point), timeout=60)
    if done.returncode != 0:
        said = " ".join(done.stderr.split())
        raise StickError(f"impossible de monter {device} : {said}")
    try:
        holds_library = (point / FOLDER / INDEX_FILE).is_file()
    except OSError as e:  # a stick that fails to read: let go, and say why
        stick_out(device, root)
        raise StickError(f"clé illisible {device} : {e.strerror or e}") from None
    if not holds_library:
        stick_out(device, root)
        return None
    return point


def stick_out(device: Path, root: Path = LIBRARY_MOUNT_ROOT) -> None:
    """Let go of the stick's mount (the stick may be gone already)."""
    point = mount_point(device, root)
    if _run(["mountpoint", "-q", str(point)], timeout=10).returncode == 0:
        _run(["systemd-umount", "--no-ask-password", str(point)], timeout=30)
