"""Backups and restore on real SQLite files: unique names, refusals that touch nothing, a
restore under concurrent writers that loses nothing, kills mid-restore, the USB stick flow
with age, the nightly rotation and the status."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.backup import age, files, local, usb
from appliance.backup import copy as backups
from appliance.backup.restore import BEFORE_RESTORE, restore
from appliance.services import encounters
from appliance.services.context import Context
from appliance.services.status import backup_status
from appliance.store import Store
from appliance.store.db import RestoreInProgress
from tests.conftest import KENEYA, SmallDisk
from tests.conftest import keneya as run

pytestmark = pytest.mark.component


def fingerprint(database: Path) -> dict[str, str]:
    """The bytes of the database and its WAL, as a refused restore must leave them (an empty
    WAL, which a reader may create, holds nothing)."""
    out = {}
    for path in (database, database.with_name(database.name + "-wal")):
        if path.exists() and path.stat().st_size:
            out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def add_weighing(ctx: Context, actor, patient_id: str, kg: float) -> str:
    # a consultation: growth measures are for under-fives (the encounter rules refuse an adult)
    data = {"care_date": "2026-10-14", "weight_kg": kg, "diagnoses": [{"code": "other"}]}
    row = encounters.add(ctx, actor, patient_id, "consultation", data)
    return row["id"]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """A seeded facility (DEMO, 300 patients) in its own home, never written by the tests."""
    home = tmp_path_factory.mktemp("seeded")
    r = run(home, "seed", "--patients", "300", "--seed", "3")
    assert r.returncode == 0, r.stderr
    return home


@pytest.fixture
def home(seeded, tmp_path) -> Path:
    """A private copy of the seeded home (same facility, same database identity)."""
    copy = tmp_path / "home"
    shutil.copytree(seeded, copy)
    return copy


@pytest.fixture(scope="module")
def district_key(tmp_path_factory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("district")
    key = folder / "district.key"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run(
        ["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return key, public


# -- names and rotation (pure) ---------------------------------------------------------------
def test_names_are_unique_within_one_second_and_parse_back():
    moment = datetime(2026, 12, 4, 2, 15, 3, tzinfo=UTC)
    names = {files.new_name("BOKO", moment) for _ in range(1000)}
    assert len(names) == 1000
    parsed = files.parse(next(iter(names)))
    assert parsed.facility == "BOKO" and parsed.made_at == moment
    assert files.parse("keneya.db") is None and files.parse(".keneya-X.partial") is None


def test_rotation_keeps_seven_days_and_four_weeks():
    start = datetime(2026, 8, 1, 2, 30, tzinfo=UTC)
    names = [files.new_name("BOKO", start + timedelta(days=d)) for d in range(60)]
    names += [files.new_name("BOKO", start + timedelta(days=59, hours=1))]  # a manual one
    kept, dropped = files.to_keep(names)
    days = sorted({files.parse(n).day for n in kept})
    # the 7 newest days, plus the newest of each of the 4 newest weeks (some are the same)
    newest_day = (start + timedelta(days=59)).date()
    assert all(newest_day - timedelta(days=d) in days for d in range(7))
    weeks = {files.parse(n).week for n in kept}
    assert len(weeks) == 4
    assert len(kept) + len(dropped) == len(names) and len(kept) <= 11
    # the newest of the last day is the manual one, not the nightly one
    assert names[-1] in kept and names[-2] in dropped
    assert files.to_keep(["notes.txt"]) == ([], [])


# -- create -----------------------------------------------------------------------------------
def test_six_backups_at_once_are_six_sound_files(home):
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: run(home, "backup", "create", "--json"), range(6)))
    assert [r.returncode for r in results] == [0] * 6, [r.stderr for r in results]
    made = {json.loads(r.stdout)["file"] for r in results}
    assert len(made) == 6
    on_disk = local.backup_files(home / "backups")
    assert len(on_disk) == 6 and not [n for n in os.listdir(home / "backups") if "partial" in n]
    for name in on_disk:
        assert backups.verify(home / "backups" / name)["ok"]


def test_a_backup_carries_facility_and_database_identity(home):
    r = run(home, "backup", "create", "--json")
    report = json.loads(r.stdout)
    with Store(home / "keneya.db") as store:
        assert report["facility_code"] == store.get_setting("facility_code") == "DEMO"
        assert report["database_id"] == store.get_setting("database_id")
        assert len(report["database_id"]) == 32


# -- refusals leave the database byte-identical ----------------------------------------------
def _refused(home: Path, backup: Path, *extra: str) -> str:
    before = fingerprint(home / "keneya.db")
    r = run(home, "backup", "restore", str(backup), *extra)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert fingerprint(home / "keneya.db") == before
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (home / "backups" / BEFORE_RESTORE).exists()
    return r.stderr


def test_backup_of_another_facility_is_refused(home, tmp_path):
    other = tmp_path / "boni"
    assert run(other, "db", "init", "--facility-code", "BONI").returncode == 0
    made = json.loads(run(other, "backup", "create", "--json").stdout)["file"]
    assert "facility BONI, this appliance is DEMO" in _refused(home, Path(made))
    with Store(home / "keneya.db") as store:
        assert store.get_setting("facility_code") == "DEMO"


def test_backup_of_another_database_of_the_same_facility_needs_saying_so(home, tmp_path):
    other = tmp_path / "again"
    assert run(other, "db", "init", "--facility-code", "DEMO").returncode == 0
    made = Path(json.loads(run(other, "backup", "create", "--json").stdout)["file"])
    assert "--accept-other-database" in _refused(home, made)
    r = run(home, "backup", "restore", str(made), "--accept-other-database", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"]["patients"] == 0


def test_backup_of_a_newer_schema_is_refused(home, tmp_path):
    made = Path(json.loads(run(home, "backup", "create", "--json").stdout)["file"])
    newer = tmp_path / made.name
    shutil.copy(made, newer)
    conn = sqlite3.connect(newer)
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'from the future', '2030-01-01')")
    conn.commit()
    conn.close()
    assert "newer than this Keneya" in _refused(home, newer)


def test_a_damaged_backup_is_refused(home, tmp_path):
    made = Path(json.loads(run(home, "backup", "create", "--json").stdout)["file"])
    data = bytearray(made.read_bytes())
    conn = sqlite3.connect(made)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'encounters'").fetchone()
    conn.close()
    start = (root[0] - 1) * 4096
    data[start : start + 12] = b"\xff" * 12
    damaged = tmp_path / made.name
    damaged.write_bytes(bytes(data))
    _refused(home, damaged)
    junk = tmp_path / "junk.db"
    junk.write_text("not a database" * 300)
    _refused(home, junk)


def test_an_encrypted_backup_without_its_key_is_refused(home, district_key, tmp_path):
    key, public = district_key
    made = Path(json.loads(run(home, "backup", "create", "--json").stdout)["file"])
    sealed = tmp_path / (made.name + ".gz.age")
    age.encrypt(made, sealed, [public])
    assert "--identity" in _refused(home, sealed)
    wrong = tmp_path / "wrong.key"
    subprocess.run(["age-keygen", "-o", str(wrong)], check=True, capture_output=True)
    assert "cannot decrypt" in _refused(home, sealed, "--identity", str(wrong))
    r = run(home, "backup", "restore", str(sealed), "--identity", str(key))
    assert r.returncode == 0, r.stderr
    assert not [p for p in (home).iterdir() if p.name.startswith(".decrypt-")]


# -- restore loses nothing ---------------------------------------------------------------------
def test_restore_brings_back_an_older_state_and_keeps_the_newer_aside(store, ctx, actors, aminata):
    backups_dir = store.path.parent / "backups"
    before = backups.create(store, backups_dir)
    later = add_weighing(ctx, actors["nurse"], aminata["id"], 41.5)
    out = restore(before["file"], store.path, backups_dir=backups_dir)
    assert out["ok"] and out["counts"]["encounters"] == 0
    # the open connection reads the restored records without reopening
    assert store.encounters.get(later) is None
    with Store(out["replaced_kept_at"]) as aside:
        assert aside.encounters.get(later) is not None
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # the same connection can go on writing
    assert add_weighing(ctx, actors["nurse"], aminata["id"], 42.0)


def test_restore_under_concurrent_writers_loses_no_acknowledged_write(store, ctx, actors, aminata):
    """Three writers add weighings without pause (each on its own connection, as the web
    app, kiosk and a daemon would) while the same old backup is restored 20 times. Every
    write acknowledged must be in the final database or in one of the copies kept aside."""
    backups_dir = store.path.parent / "backups"
    base = backups.create(store, backups_dir)["file"]
    acknowledged: list[str] = []
    refused = []
    stop = threading.Event()

    def writer(n: int) -> None:
        with Store(store.path) as own:
            own_ctx = Context.open(own, machine_time=ctx.clock.machine_time, boot_id="boot-1")
            while not stop.is_set():
                try:
                    acknowledged.append(
                        add_weighing(own_ctx, actors["nurse"], aminata["id"], 50 + n)
                    )
                except RestoreInProgress:
                    refused.append(n)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(20):
            time.sleep(random.uniform(0.01, 0.1))
            restore(base, store.path, backups_dir=backups_dir, keep_aside=20)
    finally:
        stop.set()
        for t in threads:
            t.join()
    found: set[str] = set()
    kept = sorted((backups_dir / BEFORE_RESTORE).iterdir())
    assert len(kept) == 20
    for path in [*kept, store.path]:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        found |= {r[0] for r in conn.execute("SELECT id FROM encounters")}
        conn.close()
    assert len(acknowledged) > 20, "the writers hardly wrote: the test proves nothing"
    missing = set(acknowledged) - found
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged writes lost"


def test_restore_killed_at_any_moment_leaves_one_sound_database(home, tmp_path):
    """SIGKILL `keneya backup restore` at random moments: the live database is always sound
    and is either the one before or the backup, never a mixture."""
    with Store(home / "keneya.db") as store:
        old_backup = backups.create(store, tmp_path)["file"]
        before = store.counts()["patients"]
        store.set_setting("marker", "live")  # what tells the live database from the backup
    outcomes = set()
    for i in range(12):
        proc = subprocess.Popen(
            [KENEYA, "--home", str(home), "backup", "restore", old_backup],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(random.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        conn = sqlite3.connect(home / "keneya.db")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"kill {i}"
        marker = conn.execute("SELECT value FROM settings WHERE key = 'marker'").fetchone()
        assert conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == before
        conn.close()
        outcomes.add("live" if marker else "restored")
        with Store(home / "keneya.db") as store:
            store.set_setting("marker", "live")
    assert outcomes <= {"live", "restored"}  # which ones happened depends on timing
    leftovers = [p.name for p in home.iterdir() if p.name.endswith(".partial")]
    assert leftovers == [] or all(n.startswith(".") for n in leftovers)


def test_restore_of_a_gzipped_backup_into_a_new_home(seeded, tmp_path):
    made = Path(
        json.loads(run(seeded, "backup", "create", "--to", str(tmp_path), "--json").stdout)["file"]
    )
    packed = tmp_path / (made.name + ".gz")
    backups.gzip_file(made, packed)
    assert backups.verify(packed)["ok"]
    fresh = tmp_path / "fresh"
    r = run(fresh, "backup", "restore", str(packed), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["replaced_kept_at"] is None and out["counts"]["patients"] == 300


# -- nightly and status ------------------------------------------------------------------------
def test_nightly_rotates_and_the_status_says_how_old_the_newest_is(home):
    folder = home / "backups"
    folder.mkdir()
    now = datetime.now(UTC)
    for d in range(1, 30):  # four weeks of old nightly backups (empty files are enough here)
        (folder / files.new_name("DEMO", now - timedelta(days=d))).write_bytes(b"")
    (folder / "notes.txt").write_text("kept: not a backup")
    with Store(home / "keneya.db") as store:
        stale = backup_status(store, folder, now - timedelta(days=-2))
        assert stale["warn"] and stale["age_s"] > 2 * 86400
    r = run(home, "backup", "nightly", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["kept"]) <= 11 and len(out["dropped"]) >= 18
    assert (folder / "notes.txt").exists()
    assert sorted(local.backup_files(folder)) == sorted(out["kept"])
    with Store(home / "keneya.db") as store:
        fresh = backup_status(store, folder, datetime.now(UTC))
    assert not fresh["warn"] and fresh["age_s"] < 120 and fresh["file"] == out["file"]
    empty = local.newest(home / "nowhere")
    assert empty["warn"] and empty["file"] is None


# -- the USB stick -----------------------------------------------------------------------------
def _facility_file(home: Path, recipients: list[str]) -> None:
    keys = ", ".join(f'"{r}"' for r in recipients)
    (home / "facility.toml").write_text(f"[backup]\nrecipients = [{keys}]\n")


@pytest.fixture
def stick(tmp_path):
    """A small real filesystem standing for the stick (tmpfs: this machine mounts no FAT)."""
    disk = SmallDisk(tmp_path / "stick").mount()
    try:
        yield disk.path
    finally:
        disk.unmount()


def test_usb_backup_decrypts_with_the_district_key_and_keeps_three(home, district_key, stick):
    key, public = district_key
    _facility_file(home, [public])
    for _ in range(4):
        r = run(home, "backup", "usb", "--dir", str(stick), "--json")
        assert r.returncode == 0, r.stderr
    on_stick = sorted((stick / usb.STICK_FOLDER).iterdir())
    assert len(on_stick) == usb.KEEP_ON_STICK
    assert all(p.read_bytes().startswith(age.HEADER) for p in on_stick)
    assert b"SQLite format" not in on_stick[-1].read_bytes()
    r = run(
        home,
        "backup",
        "decrypt",
        str(on_stick[-1]),
        "--identity",
        str(key),
        "--out",
        str(stick.parent / "out"),
        "--json",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"]["patients"] == 300
    with Store(home / "keneya.db") as store:
        status = usb.read_status(store)
    # the last one written is kept (four in one second: the names' random tails decide
    # their order, not the time)
    assert status["state"] == "done" and status["file"] in [p.name for p in on_stick]
    assert not [p for p in (home / "backups").iterdir() if p.name.startswith(".")]


def test_usb_backup_without_recipients_says_so(home, stick):
    r = run(home, "backup", "usb", "--dir", str(stick))
    assert r.returncode == 2 and "[backup] recipients" in r.stderr
    with Store(home / "keneya.db") as store:
        assert usb.read_status(store)["reason"] == "no_recipients"


def test_a_full_stick_keeps_what_it_had(home, district_key, stick):
    _facility_file(home, [district_key[1]])
    assert run(home, "backup", "usb", "--dir", str(stick)).returncode == 0
    previous = sorted((stick / usb.STICK_FOLDER).iterdir())
    (stick / "films.bin").write_bytes(b"\0" * (4 * 2**20 - previous[0].stat().st_size - 65536))
    r = run(home, "backup", "usb", "--dir", str(stick))
    assert r.returncode == 2 and "clé USB pleine" in r.stderr, r.stderr
    assert sorted((stick / usb.STICK_FOLDER).iterdir()) == previous
    assert not [p for p in (stick / usb.STICK_FOLDER).iterdir() if p.name.startswith(".")]
    with Store(home / "keneya.db") as store:
        assert usb.read_status(store)["reason"] == "full"


def test_a_read_only_stick_says_so(home, district_key, stick):
    _facility_file(home, [district_key[1]])
    assert subprocess.run(["mount", "-o", "remount,ro", str(stick)]).returncode == 0
    r = run(home, "backup", "usb", "--dir", str(stick))
    assert r.returncode == 2 and "lecture seule" in r.stderr, r.stderr


def test_a_stick_pulled_out_mid_write_keeps_its_previous_backup(
    home, district_key, stick, monkeypatch
):
    _facility_file(home, [district_key[1]])
    assert run(home, "backup", "usb", "--dir", str(stick)).returncode == 0
    previous = {p.name: p.read_bytes() for p in (stick / usb.STICK_FOLDER).iterdir()}
    real = usb.encrypt_stream

    def pulled(src, write, recipients):
        def failing(chunk):
            write(chunk[: len(chunk) // 2])
            raise OSError(5, "Input/output error")  # the stick is gone half-way

        return real(src, failing, recipients)

    monkeypatch.setattr(usb, "encrypt_stream", pulled)
    with Store(home / "keneya.db") as store, pytest.raises(usb.UsbError) as caught:
        usb.write_to_folder(store, stick, [district_key[1]], work_dir=home / "backups", moment=None)
    assert caught.value.reason == "pulled" and "retirée" in str(caught.value)
    now = {p.name: p.read_bytes() for p in (stick / usb.STICK_FOLDER).iterdir()}
    assert now == previous


# -- what staff and the technician see ----------------------------------------------------------
def test_the_kiosk_banner_says_when_the_stick_may_be_removed(store):
    from appliance.clock import to_iso
    from kiosk_ui.viewmodels.power import PowerVM

    now = [datetime(2026, 12, 4, 10, 0, tzinfo=UTC).timestamp()]
    vm = PowerVM(store, now=lambda: now[0])
    for state, fields, expected in (
        ("writing", {}, "ne retirez pas la clé"),
        ("done", {"file": "k.age"}, "vous pouvez retirer la clé"),
        ("failed", {"reason": "full"}, "la clé est pleine"),
        ("failed", {"reason": "read_only"}, "lecture seule"),
        ("failed", {"reason": "something new"}, "réessayez avec une autre clé"),
    ):
        at = to_iso(datetime.fromtimestamp(now[0] - 30, UTC))
        store.set_setting(usb.STATUS_SETTING, json.dumps({"state": state, "at": at, **fields}))
        vm.poll()
        assert expected in vm.banner, (state, vm.banner)
    now[0] += usb_banner_seconds() + 60  # long after: the banner is gone
    vm.poll()
    assert vm.banner is None
    vm.set_lang("en")
    now[0] -= usb_banner_seconds()
    store.set_setting(
        usb.STATUS_SETTING,
        json.dumps({"state": "done", "at": to_iso(datetime.fromtimestamp(now[0], UTC))}),
    )
    vm.poll()
    assert vm.banner == "Backup to the USB stick finished: you may remove the stick"


def usb_banner_seconds() -> int:
    from kiosk_ui.viewmodels.power import USB_SHOWN_S

    return USB_SHOWN_S


def test_status_shows_backups_on_the_page_the_kiosk_and_the_console(home):
    r = run(home, "status")
    assert r.returncode == 0, r.stderr
    assert "! Dernière sauvegarde: aucune sauvegarde" in r.stdout and "  disk: " in r.stdout
    assert run(home, "backup", "nightly").returncode == 0
    r = run(home, "status", "--json")
    backup = json.loads(r.stdout)["backup"]
    assert backup["count"] == 1 and not backup["warn"]
    r = run(home, "status", "--lang", "en")
    assert "  Last backup: " in r.stdout and "(0 h ago)" in r.stdout and "! Last" not in r.stdout


def test_a_usb_backup_cut_by_a_power_failure_shows_as_interrupted(store, tmp_path):
    from appliance.clock import to_iso

    now = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    for minutes, expected in ((2, "writing"), (40, "interrupted")):
        at = to_iso(now - timedelta(minutes=minutes))
        store.set_setting(usb.STATUS_SETTING, json.dumps({"state": "writing", "at": at}))
        assert backup_status(store, tmp_path, now)["usb"]["state"] == expected


def test_nightly_on_a_nearly_full_disk_deletes_the_oldest_first_and_keeps_the_newest(
    seeded, tmp_path
):
    # room for the database and three old backups of its size, not for a fourth: the
    # nightly must delete the oldest (sized from the seed, whose size follows its care plan)
    room_mb = 4 * (seeded / "keneya.db").stat().st_size // 2**20 + 2
    disk = SmallDisk(tmp_path / "data", size=f"{room_mb}M").mount()
    try:
        home = disk.path
        shutil.copy(seeded / "keneya.db", home / "keneya.db")
        folder = home / "backups"
        folder.mkdir()
        now = datetime.now(UTC)
        size = (home / "keneya.db").stat().st_size
        old = [files.new_name("DEMO", now - timedelta(days=d)) for d in (9, 8, 1)]
        for name in old:
            (folder / name).write_bytes(b"\0" * size)
        r = run(home, "backup", "nightly", "--json")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert old[0] in out["dropped"] and old[2] not in out["dropped"]
        assert old[2] in local.backup_files(folder)
        # with no old backup left to delete, a full disk says so in one line
        for name in local.backup_files(folder):
            (folder / name).unlink()
        disk.fill()
        r = run(home, "backup", "nightly")
        assert r.returncode == 2 and "disque plein" in r.stderr and "Traceback" not in r.stderr
    finally:
        disk.unmount()


def test_the_status_page_answers_on_a_full_disk(store, ctx, actors, tmp_path):
    """Machine state, no patient data: its audit row may wait for room, the page may not."""
    from appliance.services.status import status

    filler = SmallDisk(tmp_path / "full").mount()
    try:
        with Store(filler.path / "keneya.db", create=True) as full:
            full_ctx = Context.open(full, machine_time=ctx.clock.machine_time, boot_id="b")
            from appliance.services import auth

            admin = auth.add_staff(
                full_ctx, None, username="adm", display_name="A", role="admin", pin="482913"
            )
            tech = auth.login(full_ctx, admin["username"], pin="482913")
            filler.fill()
            out = status(full_ctx, tech, data_dir=filler.path)
            assert out["disk"]["free_bytes"] == 0 and out["backup"]["warn"]
    finally:
        filler.unmount()


# -- leftovers of runs that died, a clock behind, the kept-aside copies ------------------------
def test_nightly_with_the_clock_behind_keeps_the_backup_it_just_wrote(home):
    folder = home / "backups"
    folder.mkdir()
    now = datetime.now(UTC)
    for d in range(0, 14):  # two weeks of backups made while the clock was right
        (folder / files.new_name("DEMO", now - timedelta(days=d))).write_bytes(b"")
    with Store(home / "keneya.db") as store:
        out = local.nightly(store, folder, moment=now - timedelta(days=400))  # no RTC, no NTP
    written = Path(out["file"]).name
    assert (folder / written).exists() and written in out["kept"]
    assert written not in out["dropped"]


def test_copies_left_by_killed_runs_are_swept_and_live_ones_are_not(home):
    folder = home / "backups"
    folder.mkdir()
    old = time.time() - 2 * backups.STALE_PARTIAL_S
    stale = [folder / ".keneya-DEMO-x.db.abc.partial", home / ".restore.def.partial"]
    for path in stale:
        path.write_bytes(b"SQLite format 3\0" + b"\0" * 4096)  # a plaintext copy
        os.utime(path, (old, old))
    live = folder / ".keneya-DEMO-y.db.ghi.partial"  # a backup being written right now
    live.write_bytes(b"SQLite format 3\0")
    r = run(home, "backup", "nightly", "--json")
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(r.stdout)["swept"]) == sorted(p.name for p in stale)
    assert not any(p.exists() for p in stale) and live.exists()


def test_a_decrypted_backup_is_private_and_a_wrong_key_is_named(
    home, district_key, stick, tmp_path
):
    key, public = district_key
    _facility_file(home, [public])
    assert run(home, "backup", "usb", "--dir", str(stick)).returncode == 0
    (encrypted,) = (stick / usb.STICK_FOLDER).iterdir()
    out = age.decrypt(encrypted, key, tmp_path / "out")
    assert out.stat().st_mode & 0o777 == 0o600
    other = tmp_path / "other.key"
    subprocess.run(["age-keygen", "-o", str(other)], check=True, capture_output=True)
    with pytest.raises(backups.BackupError, match="no identity matched"):
        age.decrypt(encrypted, other, tmp_path / "out2")
    assert not list((tmp_path / "out2").iterdir())


def test_a_full_stick_makes_room_with_this_facilitys_oldest_backups(home, district_key, stick):
    _facility_file(home, [district_key[1]])
    for _ in range(2):
        assert run(home, "backup", "usb", "--dir", str(stick)).returncode == 0
    folder = stick / usb.STICK_FOLDER
    before = sorted(
        folder.iterdir(), key=lambda p: files.written_order(folder, files.parse(p.name))
    )
    size = before[-1].stat().st_size
    # room for less than one more backup, unless the oldest of ours goes first
    (stick / "films.bin").write_bytes(b"\0" * (shutil.disk_usage(stick).free - size // 2))
    r = run(home, "backup", "usb", "--dir", str(stick), "--json")
    assert r.returncode == 0, r.stderr
    after = {p.name for p in (stick / usb.STICK_FOLDER).iterdir()}
    assert before[-1].name in after and before[0].name not in after
    assert json.loads(r.stdout)["file"].rsplit("/", 1)[-1] in after
    assert (stick / "films.bin").exists()


def test_restores_keep_only_the_newest_copies_set_aside(home, tmp_path):
    with Store(home / "keneya.db") as store:
        made = backups.create(store, tmp_path / "b")
    for _ in range(5):
        r = run(home, "backup", "restore", made["file"], "--json")
        assert r.returncode == 0, r.stderr
    aside = [p for p in (home / "backups" / BEFORE_RESTORE).iterdir() if files.parse(p.name)]
    assert len(aside) == 3
