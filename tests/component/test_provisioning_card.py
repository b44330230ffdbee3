"""The facility file on a real FAT boot partition inside real disk images, through real mtools.

Images are built like the Pi's (MBR, FAT32 type 0x0c at 4 MiB, a Linux partition after) with
sfdisk and mkfs.vfat; nothing is mounted. Device checks use a block-device node (made with mknod
when allowed, else one found in /dev) with fake /proc/mounts and /sys/dev/block files.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

from provisioning import card
from provisioning.card import CardError, Partition

MIB = 1024 * 1024
FAT_START = 4 * MIB
FAT_SIZE = 256 * MIB
LINUX_START = FAT_START + FAT_SIZE
DISK_SIZE = 320 * MIB
CONFIG_TXT = b"# Raspberry Pi firmware settings\narm_64bit=1\ndtparam=i2c_arm=on\n"
FACILITY = b'[facility]\nname = "CSCom de Koulikoro"\ncode = "ML-KK-0042"\n'
MTOOLS_ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1")


def run(*command: str, stdin: bytes | None = None) -> bytes:
    result = subprocess.run(command, input=stdin, capture_output=True, env=MTOOLS_ENV, check=False)
    assert result.returncode == 0, f"{command}: {result.stderr.decode()}"
    return result.stdout


def sfdisk(image: Path, script: str) -> None:
    run("sfdisk", "-q", str(image), stdin=script.encode())


def mtype(image: Path, offset: int, path: str) -> bytes:
    """Independent of the module: mtools' own cat."""
    return run("mtype", "-i", f"{image}@@{offset}", f"::{path}")


def put(image: Path, offset: int, name: str, data: bytes, scratch: Path) -> None:
    source = scratch / name
    source.write_bytes(data)
    run("mcopy", "-i", f"{image}@@{offset}", str(source), f"::{name}")


@pytest.fixture
def pi_image(tmp_path: Path) -> Path:
    """A sparse 320 MiB disk like the flashed Keneya image, config.txt in its boot partition."""
    image = tmp_path / "keneya.img"
    with open(image, "wb") as handle:
        handle.truncate(DISK_SIZE)
    sfdisk(
        image,
        "label: dos\n"
        f"start={FAT_START // 512}, size={FAT_SIZE // 512}, type=c\n"
        f"start={LINUX_START // 512}, type=83\n",
    )
    # BLOCKS is in KiB (man mkfs.fat); -s 2 so mtools reads it as FAT32 (measured: see brief)
    run(
        "mkfs.vfat",
        "-F",
        "32",
        "-s",
        "2",
        "-n",
        "BOOT",
        "--offset",
        str(FAT_START // 512),
        str(image),
        str(FAT_SIZE // 1024),
    )
    put(image, FAT_START, "config.txt", CONFIG_TXT, tmp_path)
    return image


@pytest.fixture
def bare_fat(tmp_path: Path) -> Path:
    image = tmp_path / "boot.img"
    run("mkfs.vfat", "-F", "32", "-s", "1", "-n", "BOOT", "-C", str(image), str(64 * 1024))
    return image


def _region_hash(image: Path, start: int, end: int) -> str:
    digest = hashlib.sha256()
    with open(image, "rb") as handle:
        handle.seek(start)
        remaining = end - start
        while remaining:
            chunk = handle.read(min(remaining, 4 * MIB))
            assert chunk
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------- partition table


def test_partitions_of_a_pi_like_image(pi_image: Path) -> None:
    assert card.partitions(pi_image) == [
        Partition(1, FAT_START, FAT_SIZE, 0x0C),
        Partition(2, LINUX_START, DISK_SIZE - LINUX_START, 0x83),
    ]
    assert card.boot_partition(pi_image) == Partition(1, FAT_START, FAT_SIZE, 0x0C)


def test_boot_partition_skips_a_linux_partition_listed_first(tmp_path: Path) -> None:
    image = tmp_path / "swapped.img"
    with open(image, "wb") as handle:
        handle.truncate(DISK_SIZE)
    sfdisk(
        image,
        "label: dos\nstart=2048, size=4096, type=83\n"
        f"start={FAT_START // 512}, size={FAT_SIZE // 512}, type=c\n",
    )
    run(
        "mkfs.vfat",
        "-F",
        "32",
        "-s",
        "2",
        "--offset",
        str(FAT_START // 512),
        str(image),
        str(FAT_SIZE // 1024),
    )
    assert card.boot_partition(image) == Partition(2, FAT_START, FAT_SIZE, 0x0C)


def test_bare_fat_file_system_is_the_whole_target(bare_fat: Path) -> None:
    assert card.boot_partition(bare_fat) == Partition(0, 0, 64 * MIB, 0)
    card.write_file(bare_fat, FACILITY)
    assert mtype(bare_fat, 0, "keneya/facility.toml") == FACILITY


# -------------------------------------------------------------------------------- write/read


def test_write_file_lands_in_the_boot_partition_and_is_read_back(pi_image: Path) -> None:
    linux_before = _region_hash(pi_image, LINUX_START, DISK_SIZE)
    result = card.write_file(pi_image, FACILITY)
    assert result == {
        "target": str(pi_image),
        "partition_offset": FAT_START,
        "dest": "keneya/facility.toml",
        "bytes": len(FACILITY),
        "sha256": hashlib.sha256(FACILITY).hexdigest(),
    }
    assert mtype(pi_image, FAT_START, "keneya/facility.toml") == FACILITY
    # the bytes are physically inside the FAT partition, and nothing else moved
    with open(pi_image, "rb") as handle:
        handle.seek(FAT_START)
        assert FACILITY in handle.read(FAT_SIZE)
    assert _region_hash(pi_image, LINUX_START, DISK_SIZE) == linux_before
    assert mtype(pi_image, FAT_START, "config.txt") == CONFIG_TXT
    assert card.read_file(pi_image, "keneya/facility.toml") == FACILITY
    assert card.read_file(pi_image, "KENEYA/Facility.TOML") == FACILITY  # FAT ignores case


def test_overwrite_replaces_the_content(pi_image: Path) -> None:
    card.write_file(pi_image, FACILITY + b"# a much longer first version\n" * 200)
    card.write_file(pi_image, b'[facility]\nname = "CSCom de Kati"\n')
    assert (
        mtype(pi_image, FAT_START, "keneya/facility.toml")
        == b'[facility]\nname = "CSCom de Kati"\n'
    )
    assert card.list_dir(pi_image) == ["facility.toml"]


# A facility file as `keneya provision new` writes it: secrets and the admin's hashes, long
# enough to take several clusters.
OLD_SECRETS = {
    "hash": b"$argon2id$v=19$m=19456,t=12,p=1$c2VjcmV0LXNhbHQ$",
    "token": b"d2p_4f7a9c1e8b2d6f0a3c5e7b9d1f3a5c7e",
    "passphrase": b"tablettes-du-cscom-boni",
}
OLD_FILE = b"".join(
    b'pin_hash = "' + OLD_SECRETS["hash"] + b'%d"\ntoken = "' % i + OLD_SECRETS["token"]
    + b'"\npassphrase = "' + OLD_SECRETS["passphrase"] + b'"\n'
    for i in range(60)
)  # fmt: skip


def bare(tmp_path: Path, bits: int, kib: int) -> Path:
    """A bare FAT12, FAT16 or FAT32 file system of `kib` KiB, one sector per cluster."""
    image = tmp_path / f"fat{bits}.img"
    run("mkfs.vfat", "-F", str(bits), "-s", "1", "-n", "BOOT", "-C", str(image), str(kib))
    return image


@pytest.mark.parametrize(("bits", "kib"), [(12, 2048), (16, 16 * 1024), (32, 64 * 1024)])
def test_a_replaced_file_leaves_none_of_its_bytes_in_the_free_space(
    tmp_path: Path, bits: int, kib: int
) -> None:
    """Re-provisioning: mcopy -o only frees the old file's clusters; they are zeroed first."""
    from image_build.bootbackup import found_on_partition

    image = bare(tmp_path, bits, kib)
    put(image, 0, "config.txt", CONFIG_TXT, tmp_path)
    card.write_file(image, b"# another file first, so the clusters are not the first ones\n")
    card.write_file(image, OLD_FILE, dest="keneya/old-notes.txt")
    card.write_file(image, OLD_FILE)
    part = card.boot_partition(image)
    assert found_on_partition(image, part, OLD_SECRETS) == list(OLD_SECRETS)
    card.remove_file(image, "keneya/old-notes.txt")
    card.write_file(image, FACILITY)
    assert found_on_partition(image, part, OLD_SECRETS) == []
    assert card.read_file(image, "keneya/facility.toml") == FACILITY
    assert mtype(image, 0, "config.txt") == CONFIG_TXT
    run("fsck.vfat", "-n", str(image))  # the file system is sound (exit 0)


def test_a_replaced_file_in_the_pi_image_is_erased_where_it_lay(pi_image: Path) -> None:
    from image_build.bootbackup import found_on_partition

    card.write_file(pi_image, OLD_FILE)
    linux_before = _region_hash(pi_image, LINUX_START, DISK_SIZE)
    card.write_file(pi_image, FACILITY)
    assert found_on_partition(pi_image, card.boot_partition(pi_image), OLD_SECRETS) == []
    assert _region_hash(pi_image, LINUX_START, DISK_SIZE) == linux_before
    assert mtype(pi_image, FAT_START, "keneya/facility.toml") == FACILITY


def test_erasing_clusters_that_are_not_the_files_is_refused(
    pi_image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mtools reading the file back as zeros is what proves the right clusters were zeroed."""
    card.write_file(pi_image, OLD_FILE)
    monkeypatch.setattr(card.fat, "file_extents", lambda *a: [(LINUX_START, 512)])
    with pytest.raises(CardError, match="could not be erased where it lies"):
        card.write_file(pi_image, FACILITY)


def test_nested_folders_are_made_and_listed(pi_image: Path) -> None:
    card.write_file(pi_image, b"abc", dest="keneya/secrets/wifi.psk")
    card.write_file(pi_image, FACILITY)
    assert mtype(pi_image, FAT_START, "keneya/secrets/wifi.psk") == b"abc"
    assert card.list_dir(pi_image) == ["facility.toml", "secrets/"]
    assert card.list_dir(pi_image, "keneya/secrets") == ["wifi.psk"]
    assert card.list_dir(pi_image, "/") == ["config.txt", "keneya/"]
    assert card.list_dir(pi_image, "nothing-here") == []


def test_binary_and_empty_contents_survive(pi_image: Path) -> None:
    blob = bytes(range(256)) * 50 + b"\r\n\x00\x1a"
    card.write_file(pi_image, blob, dest="keneya/blob.bin")
    card.write_file(pi_image, b"", dest="keneya/empty")
    assert card.read_file(pi_image, "keneya/blob.bin") == blob
    assert card.read_file(pi_image, "keneya/empty") == b""


def test_read_and_remove(pi_image: Path) -> None:
    assert card.read_file(pi_image, "keneya/facility.toml") is None
    assert card.read_file(pi_image, "nothing/at/all") is None
    card.write_file(pi_image, FACILITY)
    assert card.remove_file(pi_image, "keneya/facility.toml") is True
    assert card.remove_file(pi_image, "keneya/facility.toml") is False
    assert card.read_file(pi_image, "keneya/facility.toml") is None
    assert card.list_dir(pi_image) == []
    assert mtype(pi_image, FAT_START, "config.txt") == CONFIG_TXT


def test_folders_are_not_files(pi_image: Path) -> None:
    card.write_file(pi_image, FACILITY)
    with pytest.raises(CardError, match="is a folder"):
        card.read_file(pi_image, "keneya")
    with pytest.raises(CardError, match="is a folder"):
        card.remove_file(pi_image, "keneya")
    with pytest.raises(CardError, match="is a folder"):
        card.write_file(pi_image, b"x", dest="keneya")
    with pytest.raises(CardError, match="is a file"):
        card.write_file(pi_image, b"x", dest="config.txt/inside")
    with pytest.raises(CardError, match="is a file"):
        card.list_dir(pi_image, "config.txt")


@pytest.mark.parametrize("dest", ["", "/", "../facility.toml", "keneya/../../x", "a\\b", "c:x"])
def test_bad_destination_paths(pi_image: Path, dest: str) -> None:
    with pytest.raises(CardError, match="not a valid path"):
        card.write_file(pi_image, FACILITY, dest=dest)


def test_read_back_mismatch_is_an_error(pi_image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(card, "_read", lambda target, spec, path: b"corrupted")
    with pytest.raises(CardError, match="read-back .* gave 9 different bytes .* try another card"):
        card.write_file(pi_image, FACILITY)


def test_full_partition_is_a_clear_error(tmp_path: Path) -> None:
    small = tmp_path / "small.img"
    run("mkfs.vfat", "-n", "BOOT", "-C", str(small), "1024")
    with pytest.raises(CardError, match="mcopy failed on .*small.img"):
        card.write_file(small, b"x" * (2 * MIB))


# -------------------------------------------------------------------------- what is not a card


def test_random_bytes_are_not_a_disk_image(tmp_path: Path) -> None:
    junk = tmp_path / "junk.img"
    junk.write_bytes(bytes((i * 37 + 11) % 251 for i in range(4096)))
    with pytest.raises(CardError, match="not a disk image"):
        card.partitions(junk)
    with pytest.raises(CardError, match="not a disk image"):
        card.write_file(junk, FACILITY)


def test_empty_file_is_not_a_disk_image(tmp_path: Path) -> None:
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    with pytest.raises(CardError, match="not a disk image"):
        card.boot_partition(empty)


def test_gpt_is_refused(tmp_path: Path) -> None:
    image = tmp_path / "gpt.img"
    with open(image, "wb") as handle:
        handle.truncate(64 * MIB)
    sfdisk(image, "label: gpt\nstart=2048, size=65536, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n")
    with pytest.raises(CardError, match="GPT partition table.*MBR"):
        card.boot_partition(image)


def test_image_without_fat_partition(tmp_path: Path) -> None:
    image = tmp_path / "linux.img"
    with open(image, "wb") as handle:
        handle.truncate(64 * MIB)
    sfdisk(image, "label: dos\nstart=2048, type=83\n")
    assert [part.type_id for part in card.partitions(image)] == [0x83]
    with pytest.raises(CardError, match="no FAT partition"):
        card.boot_partition(image)


def test_fat_partition_never_formatted(tmp_path: Path) -> None:
    image = tmp_path / "unformatted.img"
    with open(image, "wb") as handle:
        handle.truncate(64 * MIB)
    sfdisk(image, "label: dos\nstart=2048, size=65536, type=c\n")
    with pytest.raises(CardError, match="holds no FAT file system"):
        card.write_file(image, FACILITY)


def test_truncated_image(pi_image: Path) -> None:
    with open(pi_image, "r+b") as handle:
        handle.truncate(100 * MIB)
    with pytest.raises(CardError, match="truncated"):
        card.partitions(pi_image)


def test_missing_target(tmp_path: Path) -> None:
    with pytest.raises(CardError, match="does not exist"):
        card.write_file(tmp_path / "nope.img", FACILITY)
    with pytest.raises(CardError, match="does not exist"):
        card.check_target(image=tmp_path / "nope.img", device=None)
    with pytest.raises(CardError, match="does not exist.*lsblk"):
        card.check_target(image=None, device=tmp_path / "sdq")


def test_mcopy_missing(pi_image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(CardError, match=r"mtools is not installed.*apt-get install mtools"):
        card.mtools_available()
    with pytest.raises(CardError, match="mtools is not installed"):
        card.write_file(pi_image, FACILITY)
    with pytest.raises(CardError, match="mtools is not installed"):
        card.read_file(pi_image, "config.txt")


# ------------------------------------------------------------------------------ check_target


def test_image_target(pi_image: Path, tmp_path: Path) -> None:
    assert card.check_target(image=pi_image, device=None) == pi_image
    with pytest.raises(CardError, match="not a regular file"):
        card.check_target(image=tmp_path, device=None)


@pytest.mark.parametrize("both", [True, False])
def test_exactly_one_target(pi_image: Path, both: bool) -> None:
    with pytest.raises(CardError, match="exactly one target"):
        card.check_target(image=pi_image if both else None, device=pi_image if both else None)


def test_a_regular_file_is_not_a_device(pi_image: Path) -> None:
    with pytest.raises(CardError, match="not a block device.*--image"):
        card.check_target(image=None, device=pi_image)


@pytest.fixture
def block_device(tmp_path: Path) -> Path:
    """A real block-device node: made here when allowed, else the first one found in /dev."""
    node = tmp_path / "sdz"
    try:
        os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(8, 240))
        return node
    except OSError:
        pass
    for candidate in sorted(Path("/dev").iterdir()):
        try:
            if stat.S_ISBLK(candidate.stat().st_mode):
                return candidate
        except OSError:
            continue
    pytest.fail("no block device node can be made or found for the device checks")


def _sysfs(tmp_path: Path, disk: Path, *, disk_is_partition: bool = False) -> Path:
    """A fake /sys/dev/block where `disk` is a whole disk with one partition (minor + 1)."""
    rdev = disk.stat().st_rdev
    major, minor = os.major(rdev), os.minor(rdev)
    devices = tmp_path / "sys" / "devices" / "disk"
    (devices / "part1").mkdir(parents=True)
    (devices / "dev").write_text(f"{major}:{minor}\n")
    (devices / "part1" / "dev").write_text(f"{major}:{minor + 1}\n")
    (devices / "part1" / "partition").write_text("1\n")
    block = tmp_path / "sys" / "dev" / "block"
    block.mkdir(parents=True)
    (block / f"{major}:{minor + 1}").symlink_to(devices / "part1")
    if disk_is_partition:  # the node given is itself a partition of some other disk
        other = tmp_path / "sys" / "devices" / "other"
        (other / "p").mkdir(parents=True)
        (other / "dev").write_text(f"{major}:{minor + 7}\n")
        (other / "p" / "partition").write_text("1\n")
        (block / f"{major}:{minor}").symlink_to(other / "p")
    else:
        (block / f"{major}:{minor}").symlink_to(devices)
    return block


def _mounts(tmp_path: Path, *lines: str) -> Path:
    mounts = tmp_path / "mounts"
    base = ["proc /proc proc rw 0 0", "/dev/nonexistent9 /srv ext4 rw 0 0"]
    mounts.write_text("\n".join(base + list(lines)) + "\n")
    return mounts


def _partition_path(disk: Path) -> str:
    real = os.path.realpath(disk)
    return f"{real}p1" if real[-1].isdigit() else f"{real}1"


def _device_check(
    tmp_path: Path, device: Path, mounts: Path, sysfs: Path, root: int | None = None
) -> Path:
    return card.check_target(
        image=None,
        device=device,
        mounts_file=mounts,
        sys_dev_block=sysfs,
        root_device=os.makedev(0, 4242) if root is None else root,
    )


def test_unmounted_device_is_accepted(
    tmp_path: Path, block_device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "access", lambda path, mode: True)
    sysfs = _sysfs(tmp_path, block_device)
    assert _device_check(tmp_path, block_device, _mounts(tmp_path), sysfs) == block_device


def test_device_without_permission(
    tmp_path: Path, block_device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    sysfs = _sysfs(tmp_path, block_device)
    with pytest.raises(CardError, match="run as root or add yourself to the disk group"):
        _device_check(tmp_path, block_device, _mounts(tmp_path), sysfs)


def test_mounted_device_is_refused(tmp_path: Path, block_device: Path) -> None:
    sysfs = _sysfs(tmp_path, block_device)
    point = "/media/tech/BOOT\\040CARD"
    mounts = _mounts(tmp_path, f"{_partition_path(block_device)} {point} vfat rw 0 0")
    with pytest.raises(CardError, match="is mounted .* on /media/tech/BOOT CARD.*unmount it first"):
        _device_check(tmp_path, block_device, mounts, sysfs)
    whole = _mounts(tmp_path, f"{os.path.realpath(block_device)} /mnt vfat rw 0 0")
    with pytest.raises(CardError, match="is mounted"):
        _device_check(tmp_path, block_device, whole, sysfs)


def test_the_disk_holding_root_is_refused(tmp_path: Path, block_device: Path) -> None:
    sysfs = _sysfs(tmp_path, block_device)
    mounts = _mounts(tmp_path, f"{_partition_path(block_device)} / ext4 rw 0 0")
    with pytest.raises(CardError, match="this machine's own disk"):
        _device_check(tmp_path, block_device, mounts, sysfs)
    # "/" seen as /dev/root in the mounts (as on a Pi): found through the device number instead
    rdev = block_device.stat().st_rdev
    root = os.makedev(os.major(rdev), os.minor(rdev) + 1)
    rooted = _mounts(tmp_path, "/dev/root / ext4 rw 0 0")
    with pytest.raises(CardError, match="this machine's own disk"):
        _device_check(tmp_path, block_device, rooted, sysfs, root=root)


def test_a_partition_is_not_the_card(tmp_path: Path, block_device: Path) -> None:
    sysfs = _sysfs(tmp_path, block_device, disk_is_partition=True)
    with pytest.raises(CardError, match="is a partition: give the whole card"):
        _device_check(tmp_path, block_device, _mounts(tmp_path), sysfs)
