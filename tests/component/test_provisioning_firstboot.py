"""First boot on a fake root folder: the facility file applied all or nothing, its secrets
moved off the card, a failure half-way leaving everything as it was, and a new card applied
later without losing records."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from appliance.services import auth
from appliance.services.context import Context
from appliance.store import Store
from provisioning.facility import parse
from provisioning.firstboot import FirstBootError, SystemPaths, apply
from tests.component.backups_for_cards import gzipped, seeded_backup

pytestmark = pytest.mark.component

EXAMPLE = (Path(__file__).parents[2] / "provisioning" / "facility.example.toml").read_text()
KENEYA = str(Path(sys.executable).parent / "keneya")
PIN_HASH = auth.PIN_HASHER.hash("482916")
CMDLINE = "console=serial0,115200 console=tty1 root=LABEL=keneya-root rootwait\n"
HOSTS = "127.0.0.1\tlocalhost\n127.0.1.1\tkeneya\n::1\tlocalhost ip6-localhost\n"


def card_text(**changes: str) -> str:
    text = EXAMPLE.replace('# pin_hash = "$argon2id$v=19$…"    #', f'pin_hash = "{PIN_HASH}"  #', 1)
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


@pytest.fixture
def root(tmp_path) -> SystemPaths:
    sp = SystemPaths(root=tmp_path / "root")
    (sp.boot / "keneya").mkdir(parents=True)
    (sp.boot / "cmdline.txt").write_text(CMDLINE)
    (sp.root / "etc").mkdir(parents=True)
    (sp.root / "etc" / "hosts").write_text(HOSTS)
    (sp.root / "etc" / "hostname").write_text("keneya\n")
    return sp


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every file (bytes), symlink (its target) and folder under `folder`."""
    out: dict[str, bytes | str] = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = "-> " + str(p.readlink())
        elif p.is_file():
            out[rel] = p.read_bytes()
        else:
            out[rel] = "dir"
    return out


def test_first_boot_applies_everything(root):
    root.card_file.write_text(card_text())
    receipt = apply(root, image_version="1.0.0")
    etc = root.root / "etc"
    config = root.app.config_dir
    assert receipt["status"] == "applied" and receipt["facility"] == "BONI"
    assert (etc / "hostname").read_text() == "keneya-boni\n"
    assert "127.0.1.1\tkeneya-boni keneya-boni.lan" in (etc / "hosts").read_text()
    assert "127.0.1.1\tkeneya\n" not in (etc / "hosts").read_text()
    assert (etc / "timezone").read_text() == "Africa/Bamako\n"
    assert str((etc / "localtime").readlink()) == "/usr/share/zoneinfo/Africa/Bamako"
    # the secrets: root's only, never on the card any more
    secrets = config / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    names = sorted(p.name for p in secrets.iterdir())
    assert names == ["dhis2_token", "hotspot_passphrase", "sim_pin"]
    for p in secrets.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    token = (secrets / "dhis2_token").read_text().strip()
    passphrase = (secrets / "hotspot_passphrase").read_text().strip()
    card_now = root.card_file.read_text()
    assert token not in card_now and passphrase not in card_now and "passphrase" not in card_now
    public = (config / "facility.toml").read_text()
    assert token not in public and passphrase not in public
    assert parse(public, secrets_elsewhere=True).code == "BONI"
    # the hotspot, with the Wi-Fi key only in the root-only keyfile
    keyfile = etc / "NetworkManager" / "system-connections" / "keneya-hotspot.nmconnection"
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    assert "ssid=Keneya-BONI" in keyfile.read_text() and f"psk={passphrase}" in keyfile.read_text()
    dropin = (etc / "NetworkManager" / "dnsmasq-shared.d" / "keneya.conf").read_text()
    assert "keneya.lan" in dropin and "keneya-boni" in dropin
    assert "cfg80211.ieee80211_regdom=ML" in (root.boot / "cmdline.txt").read_text()
    assert (root.boot / "cmdline.txt").read_text().count("\n") == 1
    # the database: the facility's settings and its first admin, who can log in
    with Store(root.app.database) as store:
        assert store.get_setting("facility_code") == "BONI"
        assert store.get_setting("hotspot.ssid") == "Keneya-BONI"
        assert store.get_setting("dhis2_url") == "https://dhis2.sante.gov.ml"
        actor = auth.login(Context.open(store), "awa.traore", pin="482916")
        assert actor.role == "admin"
    # the receipt on the card, the marker, no error left
    receipt_text = root.receipt.read_text()
    assert "BONI" in receipt_text and "1.0.0" in receipt_text and "dhis2_token" in receipt_text
    assert json.loads(root.marker.read_text())["code"] == "BONI"
    assert not root.error_file.exists() and not root.card_error.exists()
    # no staged or backup file left anywhere
    leftovers = [p for p in root.root.rglob("*") if ".keneya-" in p.name]
    assert leftovers == []


def test_the_secrets_are_overwritten_where_they_lay_not_only_unlinked(root):
    """On FAT a deleted file's bytes stay on the card: the file that held the secrets is
    overwritten in place. A hard link to it (on the test's file system) sees the old inode."""
    root.card_file.write_text(card_text())
    old_inode = root.boot / "old-facility-file"
    os.link(root.card_file, old_inode)
    size = old_inode.stat().st_size
    apply(root)
    assert old_inode.read_bytes() == bytes(size)
    assert "d2p_" not in root.card_file.read_text()
    assert parse(root.card_file.read_text(), secrets_elsewhere=True).code == "BONI"


# -- a card that comes back with its records (write-card --restore) -------------------------


@pytest.fixture(scope="module")
def boni_backup(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("backups")
    return gzipped(seeded_backup(folder, "BONI", patients=25), folder / "boni.db.gz")


def test_the_cards_backup_becomes_the_database_and_leaves_the_card(root, boni_backup):
    root.card_file.write_text(card_text())
    root.restore_file.write_bytes(boni_backup.read_bytes())
    old_inode = root.boot / "old-restore"
    os.link(root.restore_file, old_inode)
    receipt = apply(root, image_version="1.0.0")
    assert receipt["restored"]["facility"] == "BONI"
    assert receipt["restored"]["counts"]["patients"] == 25
    assert receipt["admin_added"] is True  # the facility file's admin, beside the seeded staff
    with Store(root.app.database) as store:
        assert store.counts()["patients"] == 25
        assert store.get_setting("facility_code") == "BONI"
        assert store.get_setting("hotspot.ssid") == "Keneya-BONI"
        assert auth.login(Context.open(store), "awa.traore", pin="482916").role == "admin"
    # the records in clear left the FAT: overwritten in place, then deleted
    assert not root.restore_file.exists()
    assert old_inode.read_bytes() == bytes(boni_backup.stat().st_size)
    assert "25 patients" in root.receipt.read_text()
    assert "effacée de la carte" in root.receipt.read_text()
    # and the next boot has nothing to do
    assert apply(root)["status"] == "unchanged"


def test_an_appliance_with_records_is_never_overwritten_from_a_card(root, boni_backup):
    root.card_file.write_text(card_text())
    apply(root)
    with Store(root.app.database) as store:
        staff_before = store.staff.count()
    root.card_file.write_text(card_text(**{'ssid = "Keneya-BONI"': 'ssid = "Autre"'}))
    root.restore_file.write_bytes(boni_backup.read_bytes())
    with pytest.raises(FirstBootError, match="already holds records"):
        apply(root)
    with Store(root.app.database) as store:
        assert store.counts()["patients"] == 0 and store.staff.count() == staff_before
        assert store.get_setting("hotspot.ssid") == "Keneya-BONI"  # the new card not applied
    assert not root.restore_file.exists()  # patient data in clear does not stay on the FAT
    said = root.card_error.read_text()
    assert "existe déjà" in said and "keneya backup restore" in said


def test_an_empty_database_left_by_a_failed_first_boot_is_replaced(root, boni_backup):
    root.card_file.write_text(card_text())
    root.restore_file.write_bytes(boni_backup.read_bytes())
    Store(root.app.database, create=True).close()  # migrated, nothing in it
    receipt = apply(root)
    assert receipt["restored"]["counts"]["patients"] == 25


def test_a_backup_of_another_facility_is_refused_and_nothing_stays(root, tmp_path):
    other = gzipped(seeded_backup(tmp_path, "DTZ", patients=3), tmp_path / "dtz.db.gz")
    root.card_file.write_text(card_text())
    root.restore_file.write_bytes(other.read_bytes())
    with pytest.raises(FirstBootError, match="DTZ"):
        apply(root)
    assert not root.app.database.exists()
    assert not root.marker.exists() and "DTZ" in root.error_file.read_text()


@pytest.mark.parametrize("step", ["staged", "database", "swapped"])
def test_a_failure_after_the_restore_removes_it_and_keeps_the_cards_copy(root, boni_backup, step):
    root.card_file.write_text(card_text())
    root.restore_file.write_bytes(boni_backup.read_bytes())
    with pytest.raises(FirstBootError, match="reste sur la carte"):
        apply(root, fail_at=step)
    assert not root.app.database.exists()
    assert root.restore_file.read_bytes() == boni_backup.read_bytes()
    assert "d2p_" in root.card_file.read_text()
    # the next boot (the fault gone) installs it
    assert apply(root)["restored"]["counts"]["patients"] == 25


def test_running_again_with_the_same_card_changes_nothing(root):
    root.card_file.write_text(card_text())
    apply(root)
    before = snapshot(root.root)
    assert apply(root)["status"] == "unchanged"
    assert snapshot(root.root) == before


@pytest.mark.parametrize("step", ["staged", "database", "swapped"])
def test_a_failure_half_way_changes_nothing(root, step):
    root.card_file.write_text(card_text())
    before = snapshot(root.root)
    with pytest.raises(FirstBootError, match=f"injected failure at step '{step}'"):
        apply(root, fail_at=step)
    after = snapshot(root.root)
    # only the error reports were added: for the kiosk, and on the card for the technician
    added = set(after) - set(before)
    assert added <= {
        "etc/keneya",
        "etc/keneya/firstboot-error.txt",
        "boot/firmware/keneya/ERREUR.txt",
        "etc/keneya/secrets",
        "var",
        "var/lib",
        "var/lib/keneya",
        "var/lib/keneya/keneya.db",
        # the database's own lock files (appliance.store.db.lock_paths)
        "var/lib/keneya/keneya.db.lock",
        "var/lib/keneya/keneya.db.gate",
        "etc/NetworkManager",
        "etc/NetworkManager/system-connections",
        "etc/NetworkManager/dnsmasq-shared.d",
        # the folders of sshd's enabling links and of root's keys (empty)
        "etc/systemd",
        "etc/systemd/system",
        "etc/systemd/system/multi-user.target.wants",
        "root",
        "root/.ssh",
    }, added
    for name, content in before.items():
        assert after[name] == content, name
    # the card still holds the secrets: nothing was applied, so nothing was removed
    assert "d2p_" in root.card_file.read_text()
    with Store(root.app.database) as store:
        assert store.get_setting("facility_code") is None and store.staff.count() == 0


def test_an_invalid_card_is_refused_with_its_problems_and_nothing_changes(root):
    root.card_file.write_text(card_text(**{"channel = 6": "channel = 14"}))
    before = snapshot(root.root)
    with pytest.raises(FirstBootError, match="hotspot.channel"):
        apply(root)
    error = root.error_file.read_text()
    assert "n'a pas été appliquée" in error and "hotspot.channel" in error
    assert "hotspot.channel" in root.card_error.read_text()
    assert {k: v for k, v in snapshot(root.root).items() if k in before} == before


def test_a_new_card_later_reprovisions_and_keeps_the_records(root):
    root.card_file.write_text(card_text())
    apply(root)
    with Store(root.app.database) as store:
        ctx = Context.open(store)
        admin = auth.login(ctx, "awa.traore", pin="482916")
        from appliance.services import patients

        patients.register(
            ctx,
            admin,
            {
                "family_name": "Konaté",
                "given_names": "Mariam",
                "sex": "F",
                "birth_date": "1998-03-02",
                "village": "Boni",
            },
        )
    # the district changes the Wi-Fi name and the DHIS2 address; a second admin
    root.card_file.write_text(
        card_text(
            **{
                'ssid = "Keneya-BONI"': 'ssid = "CSCom-Boni"',
                'url = "https://dhis2.sante.gov.ml"': 'url = "https://dhis2.mopti.ml"',
                'username = "awa.traore"': 'username = "moussa.diallo"',
                'name = "Awa Traoré"': 'name = "Moussa Diallo"',
            }
        )
    )
    receipt = apply(root)
    assert receipt["status"] == "applied" and receipt["admin_added"] is True
    etc = root.root / "etc"
    keyfile = etc / "NetworkManager" / "system-connections" / "keneya-hotspot.nmconnection"
    assert "ssid=CSCom-Boni" in keyfile.read_text()
    with Store(root.app.database) as store:
        assert store.get_setting("dhis2_url") == "https://dhis2.mopti.ml"
        assert store.counts()["patients"] == 1
        assert {s["username"] for s in store.staff.all()} == {"awa.traore", "moussa.diallo"}


def test_the_cards_settings_are_applied_and_a_later_card_changes_them(root):
    root.card_file.write_text(card_text(**{"malaria_vaccine = false": "malaria_vaccine = true"}))
    assert apply(root)["status"] == "applied"
    public = (root.app.config_dir / "facility.toml").read_text()
    assert "[settings]\nmalaria_vaccine = true" in public  # kept without the secrets
    with Store(root.app.database) as store:
        ctx = Context.open(store)
        assert store.get_setting("malaria_vaccine") == "1" and ctx.malaria_vaccine
        admin = auth.login(ctx, "awa.traore", pin="482916")
        from appliance.services import follow_up, patients

        today = ctx.now().today
        child = patients.register(
            ctx,
            admin,
            {
                "family_name": "Konaté",
                "given_names": "Awa",
                "sex": "F",
                "birth_date": (today - timedelta(days=160)).isoformat(),
                "village": "Boni",
            },
        )["id"]
        follow_up.rebuild(ctx)
        codes = {i["reason_code"] for i in store.due_items.for_patient(child, today.isoformat())}
        assert "malaria:1" in codes  # 5 months old: R21 dose 1 is due
    # the district stops the vaccine: a new card says so, and the due items follow
    root.card_file.write_text(card_text(**{"malaria_vaccine = false": 'malaria_vaccine = "off"'}))
    assert apply(root)["status"] == "applied"
    with Store(root.app.database) as store:
        ctx = Context.open(store)
        assert store.get_setting("malaria_vaccine") == "0" and not ctx.malaria_vaccine
        assert follow_up.needs_rebuild(ctx)  # the rules fingerprint moved with the setting
        follow_up.rebuild(ctx)
        codes = {i["reason_code"] for i in store.due_items.for_patient(child, today.isoformat())}
        assert not [c for c in codes if c.startswith("malaria:")]


def test_a_bad_setting_on_the_card_is_refused_and_nothing_changes(root):
    root.card_file.write_text(card_text(**{"malaria_vaccine = false": "malaria_vaccine = 3"}))
    with pytest.raises(FirstBootError) as caught:
        apply(root)
    assert "settings.malaria_vaccine" in str(caught.value) and "on ou off" in str(caught.value)
    assert not root.app.database.exists() and not root.marker.exists()


def test_a_card_of_another_facility_is_refused(root):
    root.card_file.write_text(card_text())
    apply(root)
    root.card_file.write_text(card_text(**{'code = "BONI"': 'code = "DTZ"'}))
    with pytest.raises(FirstBootError, match="holds the records of facility BONI"):
        apply(root)
    with Store(root.app.database) as store:
        assert store.get_setting("facility_code") == "BONI"


def test_no_pin_on_the_card_leaves_the_admin_to_the_kiosk(root):
    root.card_file.write_text(EXAMPLE)
    apply(root)
    with Store(root.app.database) as store:
        assert store.staff.count() == 0
        assert store.get_setting("provision.admin_username") == "awa.traore"


def test_no_card_file_on_a_new_appliance_is_an_error(root):
    with pytest.raises(FirstBootError, match="no facility file on the card"):
        apply(root)


def test_the_command_applies_and_says_so(root):
    root.card_file.write_text(card_text())
    (root.root / "etc" / "keneya-release").write_text("1.2.3\n")
    r = subprocess.run(
        [KENEYA, "provision", "firstboot", "--root", str(root.root), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["facility"] == "BONI" and out["image_version"] == "1.2.3"
    again = subprocess.run(
        [KENEYA, "provision", "firstboot", "--root", str(root.root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "nothing to do" in again.stdout
    root.card_file.write_text("[facility\n")
    bad = subprocess.run(
        [KENEYA, "provision", "firstboot", "--root", str(root.root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "nothing changed" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_command_says_how_many_records_came_back(root, boni_backup):
    root.card_file.write_text(card_text())
    root.restore_file.write_bytes(boni_backup.read_bytes())
    r = subprocess.run(
        [KENEYA, "provision", "firstboot", "--root", str(root.root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "records restored from the card's backup: 25 patients" in r.stdout


def test_a_backup_that_cannot_be_erased_from_the_card_is_said_in_the_receipt(
    root, boni_backup, monkeypatch
):
    from provisioning import restore_card

    def read_only(path):
        raise PermissionError(30, "Read-only file system")

    root.card_file.write_text(card_text())
    root.restore_file.write_bytes(boni_backup.read_bytes())
    monkeypatch.setattr(restore_card, "scrub", read_only)
    receipt = apply(root)
    assert receipt["restored"]["counts"]["patients"] == 25
    assert any("n'a pas pu être effacée" in w for w in receipt["warnings"])
    assert "effacez keneya/restore.db.gz" in root.receipt.read_text()
