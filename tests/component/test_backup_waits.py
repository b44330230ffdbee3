"""A backup and a writer that holds the database longer than the screens' 10 s (a busy boot on
a Pi: every service starts at once): the nightly backup needs no write lock and goes on; the
stick's status line waits for the writer instead of being lost to « database is locked »."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time

import pytest

from appliance.paths import Paths
from appliance.store import Store
from appliance.store.db import BUSY_TIMEOUT_MS
from tests.conftest import keneya

pytestmark = pytest.mark.component

HELD_S = BUSY_TIMEOUT_MS / 1000 + 5  # longer than a screen would wait


def _hold_the_database(database, held: threading.Event) -> threading.Thread:
    def hold() -> None:
        conn = sqlite3.connect(database, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('busy', 'yes')")
        held.set()
        time.sleep(HELD_S)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


def test_the_nightly_backup_waits_for_a_long_writer(tmp_path):
    paths = Paths.for_home(tmp_path)
    with Store(paths.database, create=True) as store:
        store.set_setting("facility_code", "KLB")
    held = threading.Event()
    writer = _hold_the_database(paths.database, held)
    held.wait(10)
    r = keneya(tmp_path, "backup", "nightly", "--json")
    writer.join()
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["file"].endswith(".db")


def _hold_once_writing(database, held_s: float) -> threading.Thread:
    """Take the write lock as soon as the stick's backup has said « writing », and hold it
    past the end of that backup: its « done » has to wait for this writer."""

    def hold() -> None:
        reader = sqlite3.connect(database)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = reader.execute("SELECT value FROM settings WHERE key = 'backup.usb'").fetchone()
            if row and json.loads(row[0]).get("state") == "writing":
                break
            time.sleep(0.01)
        reader.close()
        conn = sqlite3.connect(database, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('busy', 'yes')")
        time.sleep(held_s)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


def test_the_sticks_status_is_written_after_a_long_writer(tmp_path):
    paths = Paths.for_home(tmp_path)
    with Store(paths.database, create=True) as store:
        store.set_setting("facility_code", "KLB")
    key = tmp_path / "district.key"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run(
        ["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True
    ).stdout.strip()
    paths.facility_file.write_text(f'[backup]\nrecipients = ["{public}"]\n')
    stick = tmp_path / "stick"
    stick.mkdir()
    writer = _hold_once_writing(paths.database, BUSY_TIMEOUT_MS / 1000 + 5)
    r = keneya(tmp_path, "backup", "usb", "--dir", str(stick), "--json")
    writer.join()
    assert r.returncode == 0, r.stderr
    with Store(paths.database) as store:
        status = json.loads(store.get_setting("backup.usb") or "{}")
    assert status.get("state") == "done", status
