"""Telling a full or read-only disk from other errors, and the words used to say it."""

from __future__ import annotations

import errno
import sqlite3

import pytest

from appliance.store.db import StoreError
from appliance.store.diskspace import (
    DiskFull,
    DiskProblem,
    FolderMissing,
    ReadOnlyFolder,
    Space,
    classify,
    disk_errors,
    size_text,
)
from appliance.web import disk
from appliance.web.i18n import Translator
from power.config import from_mapping
from power.errors import ConfigurationError

MB = 1024 * 1024


def test_sizes_are_written_the_way_each_language_writes_them():
    assert size_text(0) == "0,0 Mo" and size_text(0, "en") == "0.0 MB"
    assert size_text(int(12.34 * MB)) == "12,3 Mo"
    assert size_text(3 * 1024 * MB + 512 * MB, "en") == "3.5 GB"


def test_the_messages_name_the_cause_in_french_then_english(tmp_path):
    full = DiskFull(
        tmp_path, Space(free_bytes=int(1.5 * MB), total_bytes=30 * 1024 * MB, read_only=False)
    )
    assert str(full) == (
        f"disque plein : libérez de la place sur {tmp_path} (1,5 Mo libres sur 30,0 Go)"
        f" / disk full: free some space on {tmp_path} (1.5 MB free of 30.0 GB)"
    )
    assert str(ReadOnlyFolder(tmp_path)) == (
        f"dossier en lecture seule : {tmp_path} / read-only folder: {tmp_path}"
    )
    assert str(FolderMissing(tmp_path / "gone")).startswith("dossier introuvable : ")


def test_callers_catch_them_by_meaning(tmp_path):
    for problem, code in (
        (DiskFull(tmp_path), errno.ENOSPC),
        (ReadOnlyFolder(tmp_path), errno.EROFS),
    ):
        assert isinstance(problem, DiskProblem)
        assert isinstance(problem, StoreError) and isinstance(problem, OSError)
        assert problem.errno == code and problem.filename == str(tmp_path)
    assert not isinstance(ReadOnlyFolder(tmp_path), PermissionError)  # not "access denied"


def test_the_web_and_kiosk_words_are_the_same_and_translated(tmp_path):
    """The catalog's msgids are the store's French templates; their English is its English."""
    en = Translator("en")
    for cls in (DiskFull, ReadOnlyFolder, FolderMissing):
        problem = cls(tmp_path, Space(0, 4 * MB, read_only=False))
        assert disk.MESSAGES[problem.kind] == cls.fr_template
        assert en(cls.fr_template) == cls.en_template
        assert disk.disk_text(problem, Translator("fr")) == problem.text("fr")
        assert disk.disk_text(problem, en) == problem.text("en")
    assert disk.http_status(DiskFull(tmp_path)) == 507
    assert disk.http_status(ReadOnlyFolder(tmp_path)) == 503


def test_sqlite_full_is_always_a_full_disk(tmp_path):
    problem = classify(sqlite3.OperationalError("database or disk is full"), tmp_path / "k.db")
    assert isinstance(problem, DiskFull) and problem.folder == tmp_path


def test_an_io_error_with_room_left_is_not_called_a_full_disk(tmp_path):
    # tmp_path has room and is writable: the disk is not the cause
    for message in ("disk I/O error", "attempt to write a readonly database"):
        assert classify(sqlite3.OperationalError(message), tmp_path / "k.db") is None
    assert classify(sqlite3.OperationalError("database is locked"), tmp_path / "k.db") is None
    assert classify(sqlite3.IntegrityError("UNIQUE constraint failed"), tmp_path / "k.db") is None


def test_os_errors_are_judged_on_their_own_file(tmp_path):
    full = classify(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x")), None)
    assert isinstance(full, DiskFull) and full.folder == tmp_path
    ro = classify(OSError(errno.EROFS, "Read-only file system", "/media/usb/x"), tmp_path)
    assert isinstance(ro, ReadOnlyFolder) and str(ro.folder) == "/media/usb"
    # a file kept 0600 in a folder this process may write is not a read-only folder
    secret = tmp_path / "secret"
    assert classify(PermissionError(errno.EACCES, "Permission denied", str(secret)), None) is None
    assert classify(FileNotFoundError(errno.ENOENT, "No such file", str(secret)), None) is None


def test_disk_errors_passes_other_errors_through(tmp_path):
    with pytest.raises(DiskFull) as caught, disk_errors(tmp_path / "k.db"):
        raise sqlite3.OperationalError("database or disk is full")
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    with pytest.raises(sqlite3.OperationalError, match="locked"), disk_errors(tmp_path / "k.db"):
        raise sqlite3.OperationalError("database is locked")


@pytest.mark.parametrize("value", [-1, 51, "5"])
def test_the_free_space_floor_is_checked_when_the_facility_file_is_read(value):
    assert from_mapping({}).min_free_percent == 5.0
    assert from_mapping({"min_free_percent": 10}).min_free_percent == 10.0
    with pytest.raises(ConfigurationError, match="min_free_percent"):
        from_mapping({"min_free_percent": value})
