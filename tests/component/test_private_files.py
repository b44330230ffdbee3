"""What the app creates under the data folder is private from its first byte, whatever the
process's umask: the folder 0700, the database and its -wal and -shm 0600, backups 0700/0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from appliance.backup import local
from appliance.backup.restore import restore
from appliance.store import Store

pytestmark = pytest.mark.component


@pytest.fixture
def open_umask():
    """The usual 022, which would give 0644 files and 0755 folders."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_its_wal_and_its_folder_are_private(tmp_path, open_umask):
    data = tmp_path / "var" / "lib" / "keneya"
    with Store(data / "keneya.db", create=True) as store:
        store.set_setting("facility_code", "BONI")
        names = {p.name: mode(p) for p in data.iterdir()}
        assert {"keneya.db", "keneya.db-wal", "keneya.db-shm"} <= set(names)
        assert set(names.values()) == {0o600}, names
    assert mode(data) == 0o700


def test_backups_and_a_restored_database_are_private(tmp_path, open_umask):
    data = tmp_path / "data"
    with Store(data / "keneya.db", create=True) as store:
        store.set_setting("facility_code", "BONI")
        report = local.nightly(store, data / "backups")
    assert mode(data / "backups") == 0o700
    assert mode(Path(report["file"])) == 0o600
    elsewhere = tmp_path / "new" / "keneya.db"
    restore(Path(report["file"]), elsewhere, backups_dir=tmp_path / "new" / "backups")
    assert mode(elsewhere.parent) == 0o700
    assert mode(elsewhere) == 0o600
    leftovers = [p for p in elsewhere.parent.rglob("*") if p.is_file() and mode(p) != 0o600]
    assert leftovers == []


def test_the_backups_folder_root_makes_is_the_service_users(tmp_path):
    """The stick's backup (root) making the backups folder, or finding it root's from an
    older card, leaves it owned like the data folder: the nightly backup (not root) writes
    there. The race of the two at a boot left the nightly refused (« read-only folder »)."""
    from appliance.paths import private_dir_owned_like_parent

    assert os.geteuid() == 0, "this check needs root (chown), as the stick's unit has"
    data = tmp_path / "keneya"
    data.mkdir()
    os.chown(data, 4321, 4321)  # the service user's data folder
    made = private_dir_owned_like_parent(data / "backups")
    assert (made.stat().st_uid, made.stat().st_gid) == (4321, 4321)
    assert made.stat().st_mode & 0o777 == 0o700
    os.chown(made, 0, 0)  # an older card: root made it
    private_dir_owned_like_parent(made)
    assert (made.stat().st_uid, made.stat().st_gid) == (4321, 4321)
