"""Updates on real files: bundles made and checked by Debian's RAUC (signature, compatible,
cut short), the stick's offer, the pre-update backup, the health check's verdicts, the
facility's files carried into the new slot, and a rollback across a migration the old
version cannot read."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
from pathlib import Path

import pytest

from appliance.paths import Paths
from appliance.services import update_state
from appliance.store import Store
from appliance.store.schema import MIGRATIONS
from image_build import bundle as bundles
from image_build.build import DEV_CERT, DEV_KEY
from provisioning import slots
from provisioning import update as updates
from tests.conftest import keneya as run

pytestmark = pytest.mark.component


@pytest.fixture(scope="module")
def root_ext4(tmp_path_factory) -> Path:
    """A small ext4 image standing for a root file system."""
    tmp = tmp_path_factory.mktemp("root")
    tree = tmp / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/keneya-release").write_text("1.0.0\n")
    # a squashfs of a few KiB is too small for RAUC's verity format: some incompressible bytes
    (tree / "payload").write_bytes(random.Random(1).randbytes(256 * 1024))
    image = tmp / "root.ext4"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(tree), str(image), "8M"], check=True)
    return image


@pytest.fixture(scope="module")
def other_key(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("other")
    key, cert = tmp / "k.pem", tmp / "c.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
         cert, "-subj", "/CN=not the district", "-days", "30"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


@pytest.fixture(scope="module")
def good_bundle(tmp_path_factory, root_ext4) -> Path:
    out = tmp_path_factory.mktemp("good") / "keneya-2.0.0.raucb"
    bundles.make_bundle(root_ext4, out, version="2.0.0", key=DEV_KEY, cert=DEV_CERT,
                        description=f"test; kernel {os.uname().release}")  # fmt: skip
    return out


@pytest.fixture
def home(tmp_path, monkeypatch) -> Paths:
    r = run(tmp_path / "home", "seed", "--patients", "20", "--seed", "5")
    assert r.returncode == 0, r.stderr
    monkeypatch.setattr(slots, "RECORD", tmp_path / "fat/keneya/slots.txt")
    monkeypatch.setattr(slots, "BOOTED_ENV", tmp_path / "keneya-slot.env")
    (tmp_path / "keneya-slot.env").write_text("KENEYA_BOOTED_SLOT=A\n")
    return Paths.for_home(tmp_path / "home")


def patients(p: Paths) -> int:
    with Store(p.database) as s:
        return s.conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0]


def test_a_signed_bundle_is_offered_from_the_stick(home, good_bundle, tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / good_bundle.name).write_bytes(good_bundle.read_bytes())
    offered = updates.offer(home, stick, keyring=DEV_CERT)
    assert offered["version"] == "2.0.0"
    assert Path(offered["file"]).read_bytes() == good_bundle.read_bytes()
    state = update_state.read(home.data_dir)
    assert state["offer"]["version"] == "2.0.0"
    assert "Mise à jour disponible : version 2.0.0" in update_state.summary(state)


def test_a_bundle_signed_by_another_key_is_refused_and_nothing_copied(
    home, root_ext4, other_key, tmp_path
):
    stick = tmp_path / "stick"
    stick.mkdir()
    key, cert = other_key
    bundles.make_bundle(root_ext4, stick / "evil.raucb", version="6.6.6", key=key, cert=cert,
                        description=f"test; kernel {os.uname().release}")  # fmt: skip
    with pytest.raises(updates.UpdateError, match="signature invalide"):
        updates.offer(home, stick, keyring=DEV_CERT)
    state = update_state.read(home.data_dir)
    assert state["last"]["outcome"] == "refused" and not state.get("offer")
    assert not list((home.data_dir / "update").glob("incoming/*"))
    # the command says it in one line, exit 1, no traceback
    r = run(home.data_dir, "update", "scan", "--dir", str(stick), "--keyring", str(DEV_CERT))
    assert r.returncode == 1 and "signature invalide" in r.stderr and "Traceback" not in r.stderr
    # where there is no keyring (not an appliance), it says that
    r = run(home.data_dir, "update", "scan", "--dir", str(stick), "--keyring", "/nonexistent")
    assert r.returncode == 1 and "pas de certificat du district" in r.stderr


def test_a_bundle_cut_short_on_the_stick_is_refused(home, good_bundle, tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    data = good_bundle.read_bytes()
    (stick / "cut.raucb").write_bytes(data[: len(data) // 2])
    with pytest.raises(updates.UpdateError, match="refusé|invalide"):
        updates.offer(home, stick, keyring=DEV_CERT)


def test_a_bundle_for_another_appliance_is_refused(home, root_ext4, tmp_path, monkeypatch):
    stick = tmp_path / "stick"
    stick.mkdir()
    monkeypatch.setattr(bundles, "COMPATIBLE", "someone-else")
    bundles.make_bundle(root_ext4, stick / "x.raucb", version="2.0.0", key=DEV_KEY, cert=DEV_CERT,
                        description=f"test; kernel {os.uname().release}")  # fmt: skip
    with pytest.raises(updates.UpdateError, match="pas pour cet appareil"):
        updates.offer(home, stick, keyring=DEV_CERT)


def test_a_bundle_for_another_kernel_is_refused(home, root_ext4, tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    bundles.make_bundle(root_ext4, stick / "k.raucb", version="2.0.0", key=DEV_KEY,
                        cert=DEV_CERT, description="Keneya 2.0.0; kernel 9.9.9-arm64")  # fmt: skip
    with pytest.raises(updates.UpdateError, match="réécrivant la carte"):
        updates.offer(home, stick, keyring=DEV_CERT)
    assert update_state.read(home.data_dir)["last"]["outcome"] == "refused"


def test_a_stick_without_a_bundle_is_left_to_the_backup(home, tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    r = run(home.data_dir, "update", "scan", "--dir", str(stick))
    assert r.returncode == 0 and "pas de mise à jour" in r.stdout
    # and the backup skips a stick that holds one
    (stick / "a.raucb").write_bytes(b"x")
    r = run(home.data_dir, "backup", "usb", "--dir", str(stick), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["skipped"] == "update_stick"
    assert not (stick / "KENEYA-SAUVEGARDES").exists()


def test_install_takes_a_verified_backup_then_reports_progress(
    home, good_bundle, tmp_path, monkeypatch
):
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / good_bundle.name).write_bytes(good_bundle.read_bytes())
    updates.offer(home, stick, keyring=DEV_CERT)

    seen = []

    def fake_rauc(cmd):
        # stands for `rauc install` (activate-installed=false: it does not make B primary)
        seen.append(cmd)
        assert update_state.read(home.data_dir)["progress"]["percent"] == 0
        script = (
            "echo '  0% Installing'; echo ' 40% Copying image to rootfs.1';"
            " echo '100% Installing done.'"
        )
        return subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, text=True)

    def activate():  # `rauc status mark-active other`: RAUC's backend makes B primary
        assert slots.read().primary == "A"  # not before rauc install ended
        slots.write(slots.backend(slots.read(), ["set-primary", "B"])[1])

    steps = []
    change = updates.change

    def watch(p, **fields):
        if fields.get("progress"):
            steps.append(fields["progress"]["step"])
        return change(p, **fields)

    monkeypatch.setattr(updates, "change", watch)
    last = updates.install(home, runner=fake_rauc, activate=activate)
    # RAUC's English said in French on the screens, its own words kept
    assert "écriture de l'autre partition (Copying image to rootfs.1)" in steps
    assert seen[0][:2] == ["rauc", "install"]
    assert last["outcome"] == "installed" and last["slot"] == "B" and last["version"] == "2.0.0"
    state = update_state.read(home.data_dir)
    backup = state["pre_update"]
    assert Path(backup["file"]).is_file() and backup["counts"]["patients"] == patients(home)
    assert state["versions"]["B"] == "2.0.0" and state["offer"] is None
    assert state["slots"]["B"]["state"] == "trying" and not state.get("progress")
    assert backup["for_slot"] == "B"


def test_a_failed_rauc_install_says_the_running_version_goes_on(home, good_bundle, tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / good_bundle.name).write_bytes(good_bundle.read_bytes())
    updates.offer(home, stick, keyring=DEV_CERT)

    def failing(cmd):
        return subprocess.Popen(["sh", "-c", "echo ' 10% Checking'; exit 1"],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip

    activated = []
    with pytest.raises(updates.UpdateError, match="la version en service continue"):
        updates.install(home, runner=failing, activate=lambda: activated.append(1))
    state = update_state.read(home.data_dir)
    assert state["last"]["outcome"] == "failed" and not state.get("progress") and not activated
    assert slots.read().primary == "A"


def test_no_install_while_the_running_version_is_on_trial(home, good_bundle, tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / good_bundle.name).write_bytes(good_bundle.read_bytes())
    updates.offer(home, stick, keyring=DEV_CERT)
    slots.write(slots.SlotRecord("A", {"A": "trying", "B": "good"}, {"A": 2, "B": 0}))
    with pytest.raises(updates.UpdateError, match="encore à l'essai"):
        updates.install(home, runner=None, activate=None)


def test_a_stick_with_several_bundles_is_refused_with_what_to_do(home, good_bundle, tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    for name in ("keneya-9.9.9.raucb", "keneya-10.0.0.raucb"):
        (stick / name).write_bytes(good_bundle.read_bytes())
    with pytest.raises(updates.UpdateError, match="n'en laissez qu'un"):
        updates.offer(home, stick, keyring=DEV_CERT)


def test_install_without_an_offer_says_so(home):
    r = run(home.data_dir, "update", "install", "--no-reboot")
    assert r.returncode == 1 and "aucune mise à jour proposée" in r.stderr


def test_health_marks_a_healthy_trial_slot_good(home, tmp_path):
    slots.write(slots.SlotRecord("B", {"A": "good", "B": "trying"}, {"A": 0, "B": 2}))
    (tmp_path / "keneya-slot.env").write_text("KENEYA_BOOTED_SLOT=B\n")
    marks = []
    result = updates.health(
        home, minutes=1, check=lambda p: [], mark=marks.append, holding=lambda p: False
    )
    assert result["good"] and marks == ["good"]
    assert update_state.read(home.data_dir)["last"]["outcome"] == "good"


def test_health_marks_bad_after_the_time_allowed(home, tmp_path):
    slots.write(slots.SlotRecord("B", {"A": "good", "B": "trying"}, {"A": 0, "B": 2}))
    (tmp_path / "keneya-slot.env").write_text("KENEYA_BOOTED_SLOT=B\n")
    marks, calls = [], []

    def failing(p):
        calls.append(1)
        return ["web: connection refused"]

    result = updates.health(
        home, minutes=0, check=failing, mark=marks.append, sleep=lambda s: 0,
        holding=lambda p: False,
    )  # fmt: skip
    assert not result["good"] and marks == ["bad"]
    last = update_state.read(home.data_dir)["last"]
    assert last["outcome"] == "failed" and "connection refused" in last["reason"]


def test_no_verdict_while_the_battery_holds_the_web_app_stopped(home, tmp_path):
    slots.write(slots.SlotRecord("B", {"A": "good", "B": "trying"}, {"A": 0, "B": 2}))
    (tmp_path / "keneya-slot.env").write_text("KENEYA_BOOTED_SLOT=B\n")
    rounds = iter([["web: stopped"]] * 4 + [[]])
    holding = iter([True] * 4)
    marks = []
    result = updates.health(
        home, minutes=0, check=lambda p: next(rounds), mark=marks.append,
        sleep=lambda s: None, holding=lambda p: next(holding),
    )  # fmt: skip
    # minutes=0 would have given up at once; the hold kept the verdict open until healthy
    assert marks == ["good"] and result["good"]


def test_health_does_nothing_on_a_slot_already_good(home):
    marks = []
    assert updates.health(home, check=lambda p: ["x"], mark=marks.append)["trial"] is False
    assert marks == []


def test_the_real_checks_find_a_dead_web_app(home):
    problems = updates.checks(home, login_url="http://127.0.0.1:9/")
    assert any(p.startswith("web:") for p in problems)
    assert not any(p.startswith("database") for p in problems)


def test_rollback_across_a_migration_the_old_version_cannot_read(home):
    before = patients(home)
    pre = updates.pre_update_backup(home) | {"for_slot": "B"}
    updates.change(home, pre_update=pre, versions={"A": "1.0.0", "B": "2.0.0"})
    # the new version migrated the database beyond this one, then failed its health check
    latest = MIGRATIONS[-1][0]
    conn = sqlite3.connect(home.database)
    with conn:
        conn.execute("CREATE TABLE from_the_future (x)")
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'x', 'now')",
            (latest + 1,),
        )
    conn.close()
    slots.write(slots.SlotRecord("A", {"A": "good", "B": "bad"}, {"A": 0, "B": 0}, "B"))

    state = updates.at_boot(home)

    last = state["last"]
    assert last["outcome"] == "rolled_back" and last["version"] == "2.0.0"
    assert "restaurée" in last["message"] and last["restored"]["counts"]["patients"] == before
    kept = Path(last["restored"]["newer_database_kept_at"])  # nothing deleted
    assert sqlite3.connect(kept).execute("SELECT COUNT(*) FROM from_the_future").fetchone()
    with Store(home.database) as s:  # this version opens it again
        assert s.schema_version() == latest
        assert "from_the_future" not in s.db.table_names()
    assert patients(home) == before
    assert slots.read().fallback_from is None  # said once
    assert any("retour à la version précédente" in line for line in update_state.summary(state))


def test_a_power_cut_in_the_middle_of_the_restore_is_finished_at_the_next_boot(home):
    before = patients(home)
    pre = updates.pre_update_backup(home) | {"for_slot": "B"}
    updates.change(home, pre_update=pre, versions={"B": "2.0.0"})
    home.database.rename(home.database.with_name("set-aside.db"))  # cut after the rename
    slots.write(slots.SlotRecord("A", {"A": "good", "B": "bad"}, {"A": 0, "B": 0}, "B"))
    last = updates.at_boot(home)["last"]
    assert last["restored"] and patients(home) == before


def test_a_fallback_from_another_slot_never_brings_back_an_old_backup(home):
    """The pre-update backup was for B's trial; a later fallback from A must not restore it."""
    pre = updates.pre_update_backup(home) | {"for_slot": "B"}
    updates.change(home, pre_update=pre)
    conn = sqlite3.connect(home.database)
    with conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'x', 'now')",
            (MIGRATIONS[-1][0] + 1,),
        )
    conn.close()
    slots.write(slots.SlotRecord("B", {"A": "bad", "B": "good"}, {"A": 0, "B": 0}, "A"))
    last = updates.at_boot(home)["last"]
    assert last["outcome"] == "rolled_back" and "restored" not in last


def test_a_state_file_of_another_shape_is_no_state(home):
    for text in ("null", "[1, 2]", '{"slots": 5, "offer": "x", "last": "oops"}'):
        (home.data_dir / "update").mkdir(exist_ok=True)
        (home.data_dir / "update/state.json").write_text(text)
        update_state.summary(update_state.read(home.data_dir))  # no exception
        r = run(home.data_dir, "update", "status")
        assert r.returncode == 0 and "Traceback" not in r.stderr
        r = run(home.data_dir, "status")
        assert r.returncode == 0, r.stderr


def test_rollback_keeps_the_records_when_the_schema_did_not_change(home):
    updates.change(home, pre_update=updates.pre_update_backup(home), versions={"B": "2.0.0"})
    with Store(home.database) as s:  # written while the new version was on trial
        s.set_settings({"written_on_trial": "yes"})
    slots.write(slots.SlotRecord("A", {"A": "good", "B": "bad"}, {"A": 0, "B": 0}, "B"))
    last = updates.at_boot(home)["last"]
    assert last["outcome"] == "rolled_back" and "restored" not in last
    with Store(home.database) as s:
        assert s.get_setting("written_on_trial") == "yes"


def test_the_facility_files_are_carried_into_the_new_slot(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    (old / "etc/keneya/secrets").mkdir(parents=True)
    (old / "etc/keneya/provisioned.json").write_text("{}")
    (old / "etc/keneya/secrets/dhis2").write_text("token")
    (old / "etc/keneya/secrets/dhis2").chmod(0o600)
    (old / "etc/hostname").write_text("cscom-x\n")
    (old / "etc/localtime").parent.mkdir(parents=True, exist_ok=True)
    (old / "etc/localtime").symlink_to("/usr/share/zoneinfo/Africa/Bamako")
    (new / "etc/keneya").mkdir(parents=True)
    (new / "etc/keneya/stale").write_text("from the image")
    (new / "etc/hostname").write_text("keneya\n")
    carried = updates.carry_over(old, new)
    assert {"etc/keneya", "etc/hostname", "etc/localtime"} <= set(carried)
    assert (new / "etc/keneya/secrets/dhis2").read_text() == "token"
    assert (new / "etc/keneya/secrets/dhis2").stat().st_mode & 0o777 == 0o600
    assert not (new / "etc/keneya/stale").exists()
    assert (new / "etc/hostname").read_text() == "cscom-x\n"
    assert str((new / "etc/localtime").readlink()) == "/usr/share/zoneinfo/Africa/Bamako"


def test_bundle_from_an_image_changes_only_the_version(tmp_path, root_ext4):
    """The image's root into a bundle with another version: rauc reads it back."""
    out = tmp_path / "v.raucb"
    facts = bundles.make_bundle(root_ext4, out, version="3.1.4", key=DEV_KEY, cert=DEV_CERT)
    info = bundles.info(out, DEV_CERT)
    assert info["version"] == "3.1.4" and info["compatible"] == updates.COMPATIBLE
    assert facts["bytes"] == out.stat().st_size
    copy = tmp_path / "copy.ext4"
    copy.write_bytes(root_ext4.read_bytes())
    bundles.put_files(copy, {"/etc/keneya-release": b"3.1.4\n"})
    assert bundles.read_file(copy, "/etc/keneya-release") == "3.1.4\n"


def test_the_reboot_waits_for_a_form_on_the_kiosk_or_another_tablet_user(home):
    from datetime import UTC, datetime, timedelta

    from appliance.clock import to_iso

    day = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    with Store(home.database) as s:
        staff = s.query("SELECT id, username FROM staff ORDER BY username LIMIT 2")
        patient = s.conn.execute("SELECT id FROM patients LIMIT 1").fetchone()[0]
        admin, other = staff[0]["id"], staff[1]["id"]
        s.audit.append({"at": to_iso(day), "clock_trusted": True, "staff_id": admin,
                        "action": "update.install", "detail": {"version": "2"}})  # fmt: skip
        s.web_sessions.create(token_hash="a", csrf="c", lang="fr", staff_id=admin,
                              now_s=day.timestamp())  # fmt: skip
    # only the admin who asked is using a tablet: reboot at once
    assert updates.someone_busy(home, day) is None
    with Store(home.database) as s:
        s.drafts.save(staff_id=other, patient_id=patient, kind="anc", data={"bp": "12"},
                      at=to_iso(day - timedelta(minutes=2)))  # fmt: skip
    assert "kiosque" in updates.someone_busy(home, day)
    # a draft left 20 minutes ago is an abandoned form, not someone typing
    assert updates.someone_busy(home, day + timedelta(minutes=20)) is None
    with Store(home.database) as s:
        s.web_sessions.create(token_hash="b", csrf="c", lang="fr", staff_id=other,
                              now_s=(day + timedelta(minutes=19)).timestamp())  # fmt: skip
    assert "tablette" in updates.someone_busy(home, day + timedelta(minutes=20))

    clock = [day + timedelta(minutes=20)]
    slept = []

    def sleep(s):
        slept.append(s)
        clock[0] += timedelta(hours=6)  # 16:20, then 22:20: night
        with Store(home.database) as store:  # the other nurse is still at work on her tablet
            store.web_sessions.touch("b", clock[0].timestamp())

    assert updates.wait_for_quiet(home, now=lambda: clock[0], sleep=sleep) == "night"
    assert len(slept) == 2
    assert "redémarrage dès que possible" in update_state.read(home.data_dir)["progress"]["step"]
    with Store(home.database) as store:  # she logged out
        store.web_sessions.delete("b")

    def no_sleep(s):
        raise AssertionError("waited although nobody was busy")

    assert (
        updates.wait_for_quiet(home, now=lambda: day + timedelta(hours=1), sleep=no_sleep)
        == "quiet"
    )


def test_the_update_folder_is_roots_and_readable_by_the_service_group(home):
    # the service user's data folder, as on the card (uid and gid 950)
    os.chown(home.data_dir, 950, 950)
    updates.write_state(home, {"offer": {"version": "2"}})
    folder = updates.update_dir(home)
    st = folder.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 950, 0o750)
    state = (folder / "state.json").stat()
    assert (state.st_uid, state.st_gid, state.st_mode & 0o777) == (0, 950, 0o640)
    download = (folder / "download").stat()
    assert (download.st_uid, download.st_mode & 0o777) == (950, 0o700)
