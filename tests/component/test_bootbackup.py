"""The boot test's records part, without qemu: the USB stick image it plugs in, how it reads
the stick's backup back (mtools, age, SQLite), and the raw search of a partition for bytes a
deleted file left behind."""

from __future__ import annotations

import gzip
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from image_build import bootbackup as bb
from provisioning import card
from tests.component.backups_for_cards import seeded_backup

pytestmark = pytest.mark.component


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> bb.District:
    return bb.district_key(tmp_path_factory.mktemp("district"))


def test_the_stick_is_one_fat32_partition_from_1_mib(tmp_path):
    stick = tmp_path / "stick.img"
    bb.make_stick(stick)
    assert stick.stat().st_size == bb.STICK_MIB << 20
    part = card.boot_partition(stick)
    assert (part.number, part.start, part.type_id) == (1, 1 << 20, 0x0C)
    assert part.start + part.size == stick.stat().st_size
    with open(stick, "rb") as f:
        f.seek(part.start + 82)
        assert f.read(8) == b"FAT32   "
    assert card.list_dir(stick, bb.STICK_FOLDER) == []


def test_the_district_key_is_age_keygens(district):
    assert district.public.startswith("age1") and len(district.public) == 62
    assert "AGE-SECRET-KEY-1" in district.key.read_text()


def test_a_stick_backup_is_read_back_decrypted_and_opened(tmp_path, district):
    plain = seeded_backup(tmp_path, bb.FACILITY_CODE, patients=12)
    stick = tmp_path / "stick.img"
    bb.make_stick(stick)
    encrypted = subprocess.run(
        ["age", "--encrypt", "-r", district.public],
        input=gzip.compress(plain.read_bytes()),
        capture_output=True,
        check=True,
    ).stdout
    name = "keneya-BOOT-20261204T021503Z-0193a1c2e4f5.db.gz.age"
    card.write_file(stick, encrypted, dest=f"{bb.STICK_FOLDER}/{name}")
    conn = sqlite3.connect(plain)
    number, family = conn.execute("SELECT health_number, family_name FROM patients").fetchone()
    conn.close()
    sample = {"health_number": number, "family_name": family}
    found = bb.read_stick(stick, district, tmp_path, sample)
    assert found["files"] == [name] and found["leftovers"] == []
    assert found["facility_code"] == "BOOT" and found["patients"] == 12
    assert found["integrity"] == "ok" and found["sample_found"] is True
    assert (
        bb.read_stick(stick, district, tmp_path, {**sample, "family_name": "X"})["sample_found"]
        is False
    )
    # another key cannot open it: said, not raised
    (tmp_path / "other").mkdir()
    other = bb.district_key(tmp_path / "other")
    refused = bb.read_stick(stick, other, tmp_path, sample)
    assert "cannot decrypt" in refused["error"] and refused["patients"] is None


def test_an_empty_stick_has_no_backup(tmp_path, district):
    stick = tmp_path / "stick.img"
    bb.make_stick(stick)
    found = bb.read_stick(stick, district, tmp_path, {"health_number": "", "family_name": ""})
    assert found["files"] == [] and found["patients"] is None


def test_a_deleted_file_is_still_found_on_the_fat_but_not_once_overwritten(tmp_path):
    """Why first boot overwrites before deleting: mdel frees the clusters, the bytes stay."""
    stick = tmp_path / "fat.img"
    bb.make_stick(stick)
    secret = os.urandom(8192)
    card.write_file(stick, secret, dest="keneya/restore.db.gz")
    part = card.boot_partition(stick)
    needles = {f"piece {i}": p for i, p in enumerate(bb.pieces(secret))}
    assert len(needles) == 3 and all(len(p) == bb.PIECE for p in needles.values())
    # mdel itself (card.remove_file zeroes the clusters first, for this very reason)
    subprocess.run(
        ["mdel", "-i", f"{stick}@@{part.start}", "::/keneya/restore.db.gz"],
        env=dict(os.environ, MTOOLS_SKIP_CHECK="1"),
        check=True,
        capture_output=True,
    )
    assert card.read_file(stick, "keneya/restore.db.gz") is None
    assert bb.found_on_partition(stick, part, needles) == list(needles)  # deleted, still there
    card.write_file(stick, bytes(8192), dest="keneya/restore.db.gz")  # what a scrub leaves
    with open(stick, "r+b") as f:  # overwrite the freed clusters as the Pi's scrub does
        data = f.read()
        for needle in needles.values():
            at = data.find(needle)
            while at >= 0:
                f.seek(at)
                f.write(bytes(len(needle)))
                at = data.find(needle, at + 1)
    assert bb.found_on_partition(stick, part, needles) == []


def test_pieces_come_from_inside_the_data():
    data = os.urandom(4096)
    found = bb.pieces(data)
    assert [data.find(p) for p in found] == [1024, 2048, 3072]
    assert all(len(p) == bb.PIECE for p in found)
    assert bb.pieces(b"short") == [b"short"] and bb.pieces(b"") == []


def test_the_hotplug_command_names_the_drive_qemu_was_given():
    command = bb.hotplug_command()
    assert command.startswith("device_add usb-storage,") and "drive=stick" in command
    assert "bus=xhci.0" in command and "removable=on" in command


def test_the_nightly_backups_are_listed_from_debugfs_output(tmp_path, monkeypatch):
    listing = (
        " 2  40755 (2)      0      0    4096 04-Dec-2026 02:30 .\n"
        " 12 100600 (1)      0      0  409600 04-Dec-2026 02:31 "
        "keneya-BOOT-20261204T023102Z-0193a1c2e4f5.db\n"
        " 13 100600 (1)      0      0       0 04-Dec-2026 02:31 .keneya-x.partial\n"
    )
    monkeypatch.setattr(bb, "tool", lambda args, **kw: listing.encode())
    part = card.Partition(3, 0, 1 << 20)
    assert bb.data_backups(Path("disk.img"), part) == [
        "keneya-BOOT-20261204T023102Z-0193a1c2e4f5.db"
    ]
