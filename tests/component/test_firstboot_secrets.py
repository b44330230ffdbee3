"""After first boot the admin's hashes and the secrets are nowhere on the card (not in its
files, not in the bytes of the file they were in) nor in /etc/keneya outside the secrets
folder; the hashes are in the database only, and every file has its owner and mode.

First boot runs on a fake root folder, as in test_provisioning_firstboot.py. The old card file
is kept reachable through a hard link: on FAT its clusters are what a deleted file leaves in
the free space, and they must read as zeros. The owner is a parameter: `nobody` when the tests
run as root (a real change of owner to check), else the current user."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import stat
import tomllib
from pathlib import Path

import argon2
import pytest

from appliance.services import auth
from appliance.services.context import Context
from appliance.store import Store
from provisioning.facility import dump, parse
from provisioning.firstboot import SystemPaths, apply
from tests.component.backups_for_cards import gzipped, seeded_backup
from tests.component.test_provisioning_firstboot import CMDLINE, EXAMPLE, HOSTS

pytestmark = pytest.mark.component

PIN, PASSWORD = "482916", "soleil-du-sahel"
PIN_HASH = auth.PIN_HASHER.hash(PIN)
PASSWORD_HASH = auth.PASSWORD_HASHER.hash(PASSWORD)
OWNER = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
UID = pwd.getpwnam(OWNER).pw_uid
GID = pwd.getpwnam(OWNER).pw_gid


def card_text(pin_hash: str = PIN_HASH, password_hash: str = PASSWORD_HASH, **changes) -> str:
    text = EXAMPLE.replace(
        '# pin_hash = "$argon2id$v=19$…"    #', f'pin_hash = "{pin_hash}"  #', 1
    ).replace('# password_hash = "$argon2id$v=19$…"', f'password_hash = "{password_hash}"', 1)
    assert text.count("$argon2id$v=19$m=") == 2, "the example's [admin] lines changed"
    # a Wi-Fi key of its own, not "generate": the test must know what to look for
    text = text.replace('passphrase = "generate"', 'passphrase = "tablettes-du-cscom-boni"', 1)
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


@pytest.fixture
def root(tmp_path) -> SystemPaths:
    sp = SystemPaths(root=tmp_path / "root", service_user=OWNER)
    (sp.boot / "keneya").mkdir(parents=True)
    (sp.boot / "cmdline.txt").write_text(CMDLINE)
    (sp.root / "etc").mkdir(parents=True)
    (sp.root / "etc" / "hosts").write_text(HOSTS)
    (sp.root / "etc" / "hostname").write_text("keneya\n")
    return sp


def needles(text: str) -> dict[str, bytes]:
    """What must not be left: both hashes (and any argon2 hash), and every secret value."""
    facility = parse(text)
    found = {f"secret {k}": v.encode() for k, v in facility.secrets().items()}
    found |= {f"hash {k}": v.encode() for k, v in facility.admin_hashes().items()}
    assert len(found) == 5  # token, SIM PIN, Wi-Fi key, 2 hashes: the example has them all
    return found | {"any argon2 hash": b"$argon2"}


def left_in(folder: Path, what: dict[str, bytes]) -> list[str]:
    """`name: file` for each needle found in the bytes of any file under `folder`."""
    hits = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            hits += [f"{name}: {path.relative_to(folder)}" for name, v in what.items() if v in data]
    return hits


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def assert_owned(sp: SystemPaths) -> None:
    config, secrets, data = sp.app.config_dir, sp.app.secrets_dir, sp.app.data_dir
    root_uid = os.geteuid()  # what first boot runs as; it keeps /etc/keneya's files
    assert (mode(config), config.stat().st_uid, config.stat().st_gid) == (0o750, root_uid, GID)
    files = [p for p in config.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"facility.toml", "provisioned.json"}
    for path in files:
        assert (mode(path), path.stat().st_uid, path.stat().st_gid) == (0o640, root_uid, GID), path
    assert (mode(secrets), secrets.stat().st_uid, secrets.stat().st_gid) == (0o700, UID, GID)
    for path in secrets.iterdir():
        assert (mode(path), path.stat().st_uid, path.stat().st_gid) == (0o600, UID, GID), path
    assert (mode(data), data.stat().st_uid, data.stat().st_gid) == (0o700, UID, GID)
    under = list(data.rglob("*"))
    assert sp.app.database in under
    for path in under:
        want = 0o700 if path.is_dir() else 0o600
        assert (mode(path), path.stat().st_uid, path.stat().st_gid) == (want, UID, GID), path
    # nothing anywhere under /etc/keneya or /var/lib/keneya that others may read
    for path in [config, data, *config.rglob("*"), *under]:
        assert not mode(path) & 0o007, path


def assert_admin_logs_in_with_both(sp: SystemPaths) -> None:
    with Store(sp.app.database) as store:
        row = store.staff.by_username("awa.traore", with_secrets=True)
        assert row["pin_hash"].startswith("$argon2id$")
        assert row["password_hash"].startswith("$argon2id$")
        ctx = Context.open(store)
        assert auth.login(ctx, "awa.traore", pin=PIN).role == "admin"
        assert auth.login(ctx, "awa.traore", password=PASSWORD, client="10.42.0.2").role == "admin"


def test_no_hash_and_no_secret_stays_on_the_card_or_in_etc(root):
    text = card_text()
    what = needles(text)
    root.card_file.write_text(text)
    old_card_file = root.boot / "old-facility-file"  # where FAT would leave its clusters
    os.link(root.card_file, old_card_file)
    receipt = apply(root)
    assert receipt["hashes_moved"] == ["password_hash", "pin_hash"]
    assert left_in(root.boot, what) == []
    assert old_card_file.read_bytes().strip(b"\0") == b""
    # /etc: the hashes nowhere; the secrets only in their own files (and the Wi-Fi key in
    # NetworkManager's root-only keyfile, which needs it)
    etc = root.root / "etc"
    assert left_in(etc, {k: v for k, v in what.items() if "hash" in k}) == []
    public = (root.app.config_dir / "facility.toml").read_text()
    assert [k for k, v in what.items() if v.decode() in public] == []
    assert parse(public, secrets_elsewhere=True).admin_username == "awa.traore"
    outside = {k: v for k, v in what.items() if k.startswith("secret")}
    assert left_in(root.app.config_dir, outside) == [
        "secret dhis2_token: secrets/dhis2_token",
        "secret hotspot_passphrase: secrets/hotspot_passphrase",
        "secret sim_pin: secrets/sim_pin",
    ]
    assert "empreintes du PIN et du mot de passe" in root.receipt.read_text()
    assert_admin_logs_in_with_both(root)
    assert_owned(root)


def test_the_same_card_at_the_next_boot_changes_nothing_and_puts_modes_right(root):
    root.card_file.write_text(card_text())
    apply(root)
    facility_file = root.app.config_dir / "facility.toml"
    os.chmod(facility_file, 0o644)
    os.chmod(root.app.database, 0o644)
    os.chmod(root.app.secrets_dir / "sim_pin", 0o644)
    assert apply(root)["status"] == "unchanged"
    assert_owned(root)
    root.card_file.unlink()  # the technician took the card's folder away
    os.chmod(facility_file, 0o644)
    assert apply(root)["status"] == "unchanged"
    assert_owned(root)


def test_a_card_applied_again_keeps_the_hashes_off_and_the_modes(root):
    """A later card (the district changes the Wi-Fi name, adds an admin): the records, both
    admins' logins, no hash left, and the owners and modes again."""
    root.card_file.write_text(card_text())
    apply(root)
    second_pin_hash = auth.PIN_HASHER.hash("735142")
    text = card_text(
        pin_hash=second_pin_hash,
        **{
            'ssid = "Keneya-BONI"': 'ssid = "CSCom-Boni"',
            'username = "awa.traore"': 'username = "moussa.diallo"',
            'name = "Awa Traoré"': 'name = "Moussa Diallo"',
        },
    )
    what = needles(text)
    root.card_file.write_text(text)
    old_card_file = root.boot / "second-card-file"
    os.link(root.card_file, old_card_file)
    receipt = apply(root)
    assert receipt["status"] == "applied" and receipt["admin_added"] is True
    assert left_in(root.boot, what) == []
    assert left_in(root.root / "etc", {k: v for k, v in what.items() if "hash" in k}) == []
    assert_admin_logs_in_with_both(root)
    with Store(root.app.database) as store:
        assert auth.login(Context.open(store), "moussa.diallo", pin="735142").role == "admin"
    assert_owned(root)


def test_an_appliance_provisioned_by_an_older_image_loses_the_hashes_at_its_next_boot(root):
    """Before, the public copy kept the hashes, on the card and in /etc/keneya (0644)."""
    root.card_file.write_text(card_text())
    apply(root)
    data = tomllib.loads(parse(card_text()).public_toml())
    data["admin"] |= {"pin_hash": PIN_HASH, "password_hash": PASSWORD_HASH}
    older_public = dump(data)  # what older images kept: the hashes, without the secrets
    assert parse(older_public, secrets_elsewhere=True).admin_pin_hash == PIN_HASH
    facility_file = root.app.config_dir / "facility.toml"
    for path in (root.card_file, facility_file):
        path.write_text(older_public)
    os.chmod(facility_file, 0o644)
    marker = json.loads(root.marker.read_text())
    marker["card_sha256"] = hashlib.sha256(older_public.encode()).hexdigest()
    root.marker.write_text(json.dumps(marker))
    old_card_file = root.boot / "older-card-file"
    os.link(root.card_file, old_card_file)
    assert apply(root)["status"] == "applied"
    assert left_in(root.boot, {"hash": b"$argon2"}) == []
    assert left_in(root.root / "etc", {"hash": b"$argon2"}) == []
    assert_admin_logs_in_with_both(root)
    assert_owned(root)
    # without the card's file, /etc/keneya's copy is put right all the same
    root.card_file.unlink()
    facility_file.write_text(older_public)
    assert apply(root)["status"] == "unchanged"
    assert b"$argon2" not in facility_file.read_bytes()
    assert parse(facility_file.read_text(), secrets_elsewhere=True).code == "BONI"


def test_a_restored_database_and_its_backups_folder_belong_to_the_service_user(root, tmp_path):
    backup = gzipped(seeded_backup(tmp_path, "BONI", patients=3), tmp_path / "boni.db.gz")
    root.card_file.write_text(card_text())
    root.restore_file.write_bytes(backup.read_bytes())
    (root.app.data_dir / "backups" / "daily").mkdir(parents=True)
    (root.app.data_dir / "backups" / "daily" / "left-by-an-older-image.db").write_bytes(b"x")
    (root.app.data_dir / "lost+found").mkdir(mode=0o700)
    assert apply(root)["restored"]["counts"]["patients"] == 3
    lost = root.app.data_dir / "lost+found"
    assert lost.stat().st_uid == os.geteuid()  # the file system's own folder is left alone
    lost.rmdir()
    assert_owned(root)


def test_where_the_service_user_does_not_exist_only_the_modes_are_set(root):
    sp = SystemPaths(root=root.root, service_user="keneya-nobody-has-this-name")
    sp.card_file.write_text(card_text())
    assert apply(sp)["status"] == "applied"
    me, my_group = os.geteuid(), os.getegid()
    for path, want in [
        (sp.app.config_dir, 0o750),
        (sp.app.config_dir / "facility.toml", 0o640),
        (sp.app.secrets_dir, 0o700),
        (sp.app.secrets_dir / "dhis2_token", 0o600),
        (sp.app.data_dir, 0o700),
        (sp.app.database, 0o600),
    ]:
        assert (mode(path), path.stat().st_uid, path.stat().st_gid) == (want, me, my_group), path


def test_the_service_user_is_keneya_by_default():
    assert SystemPaths().service_user == "keneya"


def test_the_card_file_from_provision_new_has_the_pin_hashed_with_the_stronger_parameters():
    from provisioning import new
    from tests.unit.test_provisioning_facility import ANSWERS

    text, _ = new.build(dict(ANSWERS))
    facility = parse(text)
    pin = argon2.extract_parameters(facility.admin_pin_hash)
    password = argon2.extract_parameters(facility.admin_password_hash)
    assert (pin.time_cost, pin.memory_cost) == (12, 19 * 1024)
    assert (password.time_cost, password.memory_cost) == (2, 19 * 1024)
