"""Write the facility file onto a flashed SD card's FAT boot partition, without mounting.

The technician flashes the image, then `keneya provision write-card` puts `keneya/facility.toml`
into the boot partition (the only partition any laptop can read) for first boot to apply. mtools
addresses a FAT file system inside a disk image or a card reader as `target@@OFFSET`, so neither
mounting nor root is needed for an image file; every write is read back and compared.
A file replaced or removed is first overwritten where it lies (provisioning/fat.py): mtools
only frees its clusters, and a facility file's secrets or a backup's records would stay in
the free space for anyone holding the card.

The partition table is parsed here rather than with sfdisk so that the one fact we need (where
the FAT starts) comes from 512 bytes we can test, not from another tool's output format.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from provisioning import fat

# MBR layout (Wikipedia "Master boot record", classical generic MBR): 4 entries of 16 bytes at
# 446, the signature 0x55 0xAA at 510. Entry: status, CHS first, type, CHS last, LBA start (u32
# LE), sector count (u32 LE). LBA units are 512-byte logical sectors on SD cards and images.
SECTOR = 512
_TABLE_OFFSET = 446
_ENTRY_SIZE = 16
_SIGNATURE = b"\x55\xaa"
GPT_PROTECTIVE = 0xEE
# FAT12 (0x01), FAT16 <32M (0x04), FAT16 (0x06), FAT32 CHS (0x0b), FAT32 LBA (0x0c),
# FAT16 LBA (0x0e); the Raspberry Pi images use 0x0c.
FAT_TYPES = frozenset({0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E})
EXTENDED_TYPES = frozenset({0x05, 0x0F, 0x85})

DEFAULT_DEST = "keneya/facility.toml"
MTOOLS_COMMANDS = ("mcopy", "mmd", "mdir", "mdel")
_MTOOLS_TIMEOUT = 120.0


class CardError(RuntimeError):
    """Something a person can fix (wrong file, wrong device, missing tool); the message says how."""


@dataclass(frozen=True)
class Partition:
    """One primary MBR partition; number 0 means a bare file system with no partition table."""

    number: int
    start: int  # bytes from the start of the target
    size: int  # bytes
    type_id: int = 0


# ---------------------------------------------------------------------------- partition table


def _target_size(target: Path) -> int:
    """Size in bytes of an image file or a block device (st_size is 0 for devices)."""
    with open(target, "rb") as handle:
        return handle.seek(0, os.SEEK_END)


def _read_head(target: Path, offset: int = 0, length: int = SECTOR) -> bytes:
    try:
        with open(target, "rb") as handle:
            handle.seek(offset)
            return handle.read(length)
    except FileNotFoundError:
        raise CardError(f"{target} does not exist: check the path of the image or device") from None
    except PermissionError:
        raise CardError(
            f"cannot read {target}: permission denied "
            "(run as root or add yourself to the disk group)"
        ) from None
    except IsADirectoryError:
        raise CardError(f"{target} is a folder, not a disk image or a device") from None
    except OSError as error:
        raise CardError(f"cannot read {target}: {error.strerror or error}") from None


def _is_fat_boot_sector(sector: bytes) -> bool:
    """A FAT volume boot record: jump, a sane BPB and "FAT" in the type field.

    Offsets from Microsoft's "FAT: General Overview of On-Disk Format" (BPB_BytsPerSec at 11,
    BPB_SecPerClus 13, BPB_RsvdSecCnt 14, BPB_NumFATs 16, BS_FilSysType at 54 or 82 for FAT32).
    The "FAT" string rules out MBR boot code that happens to start with a jump (GRUB's does).
    """
    if len(sector) < SECTOR or sector[510:512] != _SIGNATURE:
        return False
    if not (sector[0] == 0xEB and sector[2] == 0x90) and sector[0] != 0xE9:
        return False
    bytes_per_sector = int.from_bytes(sector[11:13], "little")
    sectors_per_cluster = sector[13]
    reserved = int.from_bytes(sector[14:16], "little")
    fat_count = sector[16]
    if bytes_per_sector not in (512, 1024, 2048, 4096):
        return False
    if sectors_per_cluster == 0 or sectors_per_cluster & (sectors_per_cluster - 1):
        return False
    if reserved == 0 or fat_count not in (1, 2):
        return False
    return sector[54:57] == b"FAT" or sector[82:87] == b"FAT32"


def partitions(target: Path) -> list[Partition]:
    """The primary partitions of the MBR at the start of `target` (empty entries left out)."""
    target = Path(target)
    head = _read_head(target)
    if len(head) < SECTOR or head[510:512] != _SIGNATURE:
        raise CardError(
            f"{target} is not a disk image: it has no partition table (no 0x55AA signature in its "
            "first sector); give the .img file of Keneya, decompressed, or the SD card's device"
        )
    total = _target_size(target)
    found: list[Partition] = []
    for index in range(4):
        entry = head[
            _TABLE_OFFSET + index * _ENTRY_SIZE : _TABLE_OFFSET + (index + 1) * _ENTRY_SIZE
        ]
        type_id = entry[4]
        first = int.from_bytes(entry[8:12], "little")
        count = int.from_bytes(entry[12:16], "little")
        if type_id == GPT_PROTECTIVE:
            raise CardError(
                f"{target} has a GPT partition table: the Keneya image for the Raspberry Pi uses "
                "an MBR (DOS) table; check that you flashed the Keneya image and not another one"
            )
        if type_id == 0 or count == 0:
            continue
        if entry[0] not in (0x00, 0x80):
            raise CardError(
                f"{target} has a damaged partition table (entry {index + 1}): reflash it"
            )
        part = Partition(index + 1, first * SECTOR, count * SECTOR, type_id)
        if part.start + part.size > total:
            raise CardError(
                f"partition {part.number} of {target} ends at byte {part.start + part.size} "
                f"but the target has only {total} bytes: the image is truncated or the card "
                "was not fully flashed; flash it again"
            )
        found.append(part)
    return found


def boot_partition(target: Path) -> Partition:
    """The first FAT partition, or the whole target when it is a bare FAT file system."""
    target = Path(target)
    head = _read_head(target)
    if _is_fat_boot_sector(head):
        return Partition(0, 0, _target_size(target), 0)
    for part in partitions(target):
        if part.type_id in FAT_TYPES:
            if not _is_fat_boot_sector(_read_head(target, part.start)):
                raise CardError(
                    f"partition {part.number} of {target} is marked FAT "
                    f"(type 0x{part.type_id:02x}) but holds no FAT file system: "
                    "the flash was incomplete; flash it again"
                )
            return part
    raise CardError(
        f"{target} has no FAT partition (the boot partition of the Raspberry Pi image): "
        "it is not a Keneya image or card; flash the Keneya image first"
    )


# -------------------------------------------------------------------------------------- mtools


def mtools_available() -> None:
    """Fail early, naming the Debian package, rather than with a FileNotFoundError mid-write."""
    missing = [name for name in MTOOLS_COMMANDS if shutil.which(name) is None]
    if missing:
        raise CardError(
            f"mtools is not installed ({', '.join(missing)} not found on PATH): "
            "install it with `sudo apt-get install mtools` (scripts/setup.sh does it)"
        )


def _spec(target: Path, part: Partition) -> str:
    """mtools' name for a file system at a byte offset inside a file (man mtools, "@@offset")."""
    if "@@" in str(target):
        raise CardError(f"{target}: mtools cannot use a path containing '@@'; rename the image")
    return f"{target}@@{part.start}"


def _mtools(command: str, spec: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run one mtools command on `spec`; the caller decides what a non-zero exit means."""
    mtools_available()
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    try:
        return subprocess.run(
            [command, "-i", spec, *args],
            capture_output=True,
            env=env,
            timeout=_MTOOLS_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CardError(
            f"{command} did not finish in {_MTOOLS_TIMEOUT:.0f} s: the card or reader may be "
            "failing; try another reader or card"
        ) from None


def _failure(command: str, target: Path, result: subprocess.CompletedProcess[bytes]) -> CardError:
    said = result.stderr.decode("utf-8", "replace").strip() or f"exit status {result.returncode}"
    hint = ""
    if "Permission denied" in said:
        hint = " (run as root or add yourself to the disk group)"
    elif "Disk full" in said or "No space" in said:
        hint = " (the boot partition is full)"
    return CardError(f"{command} failed on {target}: {said}{hint}")


def _not_found(result: subprocess.CompletedProcess[bytes]) -> bool:
    return result.returncode != 0 and b"not found" in result.stderr


def _clean_path(path: str) -> PurePosixPath:
    """A relative path inside the FAT; refuse what cannot be one (empty, .., backslashes)."""
    parts = PurePosixPath(path.strip()).parts
    parts = tuple(part for part in parts if part not in ("/", "."))
    if not parts or any(part == ".." or "\\" in part or ":" in part for part in parts):
        raise CardError(
            f"{path!r} is not a valid path inside the boot partition (use e.g. {DEFAULT_DEST})"
        )
    return PurePosixPath(*parts)


def _entries(target: Path, spec: str, folder: PurePosixPath | None) -> dict[str, bool] | None:
    """Names in `folder` (None = root) mapped to whether each is a folder; None when absent."""
    where = "::/" if folder is None else f"::/{folder}/"
    result = _mtools("mdir", spec, "-b", "-a", where)
    if _not_found(result):
        return None
    if result.returncode != 0:
        raise _failure("mdir", target, result)
    entries: dict[str, bool] = {}
    for line in result.stdout.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line.startswith("::"):
            continue
        is_folder = line.endswith("/")
        name = line.rstrip("/").rsplit("/", 1)[-1]
        if name:
            entries[name] = is_folder
    return entries


def _kind(target: Path, spec: str, path: PurePosixPath) -> str | None:
    """'folder', 'file' or None; FAT names compare without case."""
    parent = None if len(path.parts) == 1 else path.parent
    entries = _entries(target, spec, parent)
    if entries is None:
        return None
    for name, is_folder in entries.items():
        if name.casefold() == path.name.casefold():
            return "folder" if is_folder else "file"
    return None


def _flush(target: Path) -> None:
    """Sync, then drop it from the page cache: the read-back must read the card."""
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _read(target: Path, spec: str, path: PurePosixPath) -> bytes | None:
    kind = _kind(target, spec, path)
    if kind is None:
        return None
    if kind == "folder":
        raise CardError(f"{path} on {target} is a folder, not a file")
    result = _mtools("mcopy", spec, "-n", f"::/{path}", "-")
    if _not_found(result):
        return None
    if result.returncode != 0:
        raise _failure("mcopy", target, result)
    return result.stdout


def _scrub(target: Path, part: Partition, spec: str, path: PurePosixPath) -> None:
    """Zeros over the clusters of the file at `path`, checked by reading it back through
    mtools (all zeros proves they were the file's)."""
    try:
        extents = fat.file_extents(target, part.start, path)
    except (fat.FatError, OSError) as error:
        raise CardError(
            f"cannot find where {path} lies on {target} to erase it ({error}): "
            "the file system may be damaged; reflash the card"
        ) from None
    if not extents:
        return
    try:
        fat.overwrite(target, extents)
    except OSError as error:
        raise CardError(f"cannot erase {path} on {target}: {error.strerror or error}") from None
    _flush(target)
    back = _read(target, spec, path)
    if back is None or back.strip(b"\0"):
        raise CardError(
            f"the old {path} on {target} could not be erased where it lies: its secrets may "
            "still be on the card; reflash the card before writing the facility file again"
        )


def write_file(target: Path, data: bytes, *, dest: str = DEFAULT_DEST) -> dict:
    """Copy `data` to `dest` in the boot partition (folders made as needed), then read it back."""
    target = Path(target)
    path = _clean_path(dest)
    mtools_available()
    part = boot_partition(target)
    spec = _spec(target, part)
    for depth in range(1, len(path.parts)):
        folder = PurePosixPath(*path.parts[:depth])
        kind = _kind(target, spec, folder)
        if kind == "file":
            raise CardError(
                f"{folder} on {target} is a file, so it cannot hold {path}; remove it first"
            )
        if kind is None:
            result = _mtools("mmd", spec, f"::/{folder}")
            if result.returncode != 0:
                raise _failure("mmd", target, result)
    kind = _kind(target, spec, path)
    if kind == "folder":
        raise CardError(f"{path} on {target} is a folder; cannot write a file over it")
    if kind == "file":
        _scrub(target, part, spec, path)  # mcopy -o would leave its bytes in the free space
    with tempfile.TemporaryDirectory(prefix="keneya-card-") as scratch:
        source = Path(scratch) / path.name
        source.write_bytes(data)
        result = _mtools("mcopy", spec, "-o", str(source), f"::/{path}")
    if result.returncode != 0:
        raise _failure("mcopy", target, result)
    _flush(target)
    back = _read(target, spec, path)
    if back != data:
        got = "nothing" if back is None else f"{len(back)} different bytes"
        raise CardError(
            f"read-back of {path} on {target} gave {got} instead of the {len(data)} bytes written: "
            "the card or reader is failing; try another card or reader"
        )
    return {
        "target": str(target),
        "partition_offset": part.start,
        "dest": str(path),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def read_file(target: Path, path: str) -> bytes | None:
    """The bytes of `path` in the boot partition, None when there is no such file."""
    target = Path(target)
    clean = _clean_path(path)
    mtools_available()
    spec = _spec(target, boot_partition(target))
    return _read(target, spec, clean)


def remove_file(target: Path, path: str) -> bool:
    """Delete `path` from the boot partition; False when it was not there."""
    target = Path(target)
    clean = _clean_path(path)
    mtools_available()
    spec = _spec(target, boot_partition(target))
    kind = _kind(target, spec, clean)
    if kind is None:
        return False
    if kind == "folder":
        raise CardError(f"{clean} on {target} is a folder; only files are removed")
    _scrub(target, boot_partition(target), spec, clean)
    result = _mtools("mdel", spec, f"::/{clean}")
    if _not_found(result):
        return False
    if result.returncode != 0:
        raise _failure("mdel", target, result)
    _flush(target)
    return True


def list_dir(target: Path, path: str = "keneya") -> list[str]:
    """Sorted names in a folder of the boot partition (folders end in "/"); [] when absent."""
    target = Path(target)
    mtools_available()
    spec = _spec(target, boot_partition(target))
    stripped = path.strip().strip("/")
    folder = None if stripped in ("", ".") else _clean_path(stripped)
    if folder is not None:
        kind = _kind(target, spec, folder)
        if kind is None:
            return []
        if kind == "file":
            raise CardError(f"{folder} on {target} is a file, not a folder")
    entries = _entries(target, spec, folder) or {}
    return sorted(name + "/" if is_folder else name for name, is_folder in entries.items())


# --------------------------------------------------------------------------------- the target


def _mount_sources(mounts_file: Path) -> list[tuple[str, str]]:
    """(source, mount point) pairs; fields escape spaces as octal (man 5 fstab, proc_pid_mounts)."""
    try:
        text = mounts_file.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise CardError(
            f"cannot read {mounts_file} to check what is mounted: {error.strerror}"
        ) from None
    pairs = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            pairs.append((_unescape(fields[0]), _unescape(fields[1])))
    return pairs


def _unescape(field: str) -> str:
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field


def _whole_disk(rdev: int, sys_dev_block: Path) -> int:
    """The whole disk's device number (in sysfs a partition's parent folder is its disk)."""
    entry = sys_dev_block / f"{os.major(rdev)}:{os.minor(rdev)}"
    try:
        if not (entry / "partition").exists():
            return rdev
        major, minor = (entry.resolve().parent / "dev").read_text().strip().split(":")
        return os.makedev(int(major), int(minor))
    except (OSError, ValueError):
        return rdev


def _is_partition_name(candidate: str, disk: str) -> bool:
    """sdb1 of sdb, mmcblk0p1 of mmcblk0, nvme0n1p2 of nvme0n1, loop0p1 of loop0."""
    if not candidate.startswith(disk) or candidate == disk:
        return False
    rest = candidate[len(disk) :]
    if rest.startswith("p") and disk[-1:].isdigit():
        rest = rest[1:]
    return rest.isdigit()


def check_target(
    *,
    image: Path | None,
    device: Path | None,
    mounts_file: Path = Path("/proc/mounts"),
    sys_dev_block: Path = Path("/sys/dev/block"),
    root_device: int | None = None,
) -> Path:
    """The one target to write; refused when wrong or dangerous (mounted, this machine's disk).

    `root_device` is the device number holding "/" (default: read from "/").
    """
    if (image is None) == (device is None):
        raise CardError("give exactly one target: --image FILE.img or --device /dev/sdX")
    if image is not None:
        image = Path(image)
        if not image.exists():
            raise CardError(f"image {image} does not exist: check the path")
        if not image.is_file():
            raise CardError(
                f"image {image} is not a regular file (for a card in a reader use --device)"
            )
        if not os.access(image, os.R_OK | os.W_OK):
            raise CardError(f"cannot read and write {image}: check its permissions (chmod u+rw)")
        return image
    device = Path(device)  # type: ignore[arg-type]
    try:
        info = device.stat()
    except FileNotFoundError:
        raise CardError(
            f"device {device} does not exist: is the card in the reader? (see lsblk)"
        ) from None
    except OSError as error:
        raise CardError(f"cannot look at {device}: {error.strerror}") from None
    if not stat.S_ISBLK(info.st_mode):
        raise CardError(
            f"{device} is not a block device: give the card's device (e.g. /dev/sdb, see lsblk), "
            "or use --image for an image file"
        )
    disk = _whole_disk(info.st_rdev, sys_dev_block)
    if disk != info.st_rdev:
        raise CardError(
            f"{device} is a partition: give the whole card (e.g. /dev/sdb, not /dev/sdb1)"
        )
    real = os.path.realpath(device)
    name = os.path.basename(real)
    for source, mount_point in _mount_sources(mounts_file):
        if not source.startswith("/"):
            continue
        source_real = os.path.realpath(source)
        same = source_real == real or (
            os.path.dirname(source_real) == os.path.dirname(real)
            and _is_partition_name(os.path.basename(source_real), name)
        )
        if not same:
            try:
                source_info = os.stat(source_real)
            except OSError:
                source_info = None
            if source_info is not None and stat.S_ISBLK(source_info.st_mode):
                same = _whole_disk(source_info.st_rdev, sys_dev_block) == info.st_rdev
        if same:
            if mount_point == "/":
                raise CardError(
                    f"{device} holds / : that would be this machine's own disk; refusing"
                )
            raise CardError(
                f"{device} is mounted ({source} on {mount_point}): unmount it first "
                f"(udisksctl unmount -b {source} or sudo umount {mount_point})"
            )
    if root_device is None:
        root_device = os.stat("/").st_dev
    if _whole_disk(root_device, sys_dev_block) == info.st_rdev:
        raise CardError(
            f"{device} is the disk holding / : that would be this machine's own disk; refusing"
        )
    if not os.access(device, os.R_OK | os.W_OK):
        raise CardError(
            f"permission denied on {device}: run as root or add yourself to the disk group "
            "(sudo adduser $USER disk, then log in again)"
        )
    return device
