"""`keneya provision new | check | write-card` as a technician runs them: the real executable,
a real FAT image made with mkfs.vfat and read back with mtools."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning.facility import load
from tests.component.backups_for_cards import age_identity, encrypted, facts, seeded_backup

pytestmark = pytest.mark.component

KENEYA = str(Path(sys.executable).parent / "keneya")
EXAMPLE = Path(__file__).parents[2] / "provisioning" / "facility.example.toml"
ANSWERS = {
    "facility.name": "CSCom de Boni",
    "facility.code": "BONI",
    "facility.district": "Douentza",
    "facility.region": "Mopti",
    "facility.org_unit": "Kx7Bn2MpQ4r",
    "dhis2.url": "https://dhis2.sante.gov.ml",
    "dhis2.data_set": "Mr4FvT8sLd2",
    "dhis2.token": "d2p_Rk4uVq9ZcWn2Ts7LxH3mPb8YeJ6aFg1D0oNiQ5lCzA",
    "hotspot.ssid": "Keneya-BONI",
    "admin.name": "Awa Traoré",
    "admin.username": "awa.traore",
}


def keneya(*args: str, cwd: Path | None = None, stdin: str | None = None, tmp: Path | None = None):
    env = {k: v for k, v in os.environ.items() if k != "KENEYA_HOME"}
    env["MTOOLS_SKIP_CHECK"] = "1"
    if tmp is not None:  # where the command's temporary files go (TMPDIR)
        env["TMPDIR"] = str(tmp)
    return subprocess.run(
        [KENEYA, *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd, input=stdin
    )


def test_the_example_passes_check():
    r = keneya("provision", "check", str(EXAMPLE), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["valid"] is True and out["facility"] == "BONI" and out["hostname"] == "keneya-boni"


def test_check_gives_every_problem_with_its_line_and_exit_status_2(tmp_path):
    bad = tmp_path / "facility.toml"
    bad.write_text(
        EXAMPLE.read_text()
        .replace("channel = 6", "channel = 14")
        .replace('code = "BONI"', 'code = "boni"')
    )
    r = keneya("provision", "check", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert any(":13: facility.code:" in line or "facility.code" in line for line in lines)
    assert any("hotspot.channel" in line and "14" in line for line in lines)
    js = json.loads(keneya("provision", "check", str(bad), "--json").stdout)
    assert js["valid"] is False and {p["key"] for p in js["problems"]} == {
        "facility.code",
        "hotspot.channel",
    }
    assert all(isinstance(p["line"], int) for p in js["problems"])
    missing = keneya("provision", "check", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "nope.toml" in missing.stderr


def test_new_writes_a_file_that_passes_and_says_what_to_keep_safe(tmp_path):
    out = tmp_path / "facility.toml"
    sets = [f"--set={k}={v}" for k, v in ANSWERS.items()]
    r = keneya("provision", "new", "--no-input", "-o", str(out), *sets)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    facility = load(out, check_mapping=False)
    assert facility.code == "BONI" and facility.admin_pin_hash.startswith("$argon2id$")
    assert "Keep these safe" in r.stdout and "PIN" in r.stdout
    again = keneya("provision", "new", "--no-input", "-o", str(out), *sets)
    assert again.returncode == 2 and "--force" in again.stderr
    typo = keneya(
        "provision", "new", "--no-input", "-o", str(tmp_path / "x.toml"), "--set=facilty.name=x"
    )
    assert typo.returncode == 2 and "unknown question" in typo.stderr


def test_new_asks_the_questions_when_run_interactively(tmp_path):
    out = tmp_path / "facility.toml"
    # every question answered on stdin, in order; empty lines take defaults or generate secrets
    from provisioning.new import QUESTIONS

    lines = [ANSWERS.get(key, default or "") for key, _, default, _ in QUESTIONS]
    r = keneya("provision", "new", "-o", str(out), stdin="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert load(out, check_mapping=False).ssid == "Keneya-BONI"


@pytest.fixture
def fat_image(tmp_path) -> Path:
    image = tmp_path / "boot.img"
    with open(image, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    subprocess.run(
        ["mkfs.vfat", "-F", "32", "-s", "1", "-n", "BOOT", str(image)],
        check=True,
        capture_output=True,
    )
    return image


def test_write_card_puts_the_file_on_the_fat_and_reads_it_back(tmp_path, fat_image):
    facility = tmp_path / "facility.toml"
    facility.write_text(EXAMPLE.read_text())
    r = keneya("provision", "write-card", str(facility), "--image", str(fat_image), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["dest"] == "keneya/facility.toml" and out["bytes"] == len(facility.read_bytes())
    back = subprocess.run(
        ["mtype", "-i", str(fat_image), "::keneya/facility.toml"],
        capture_output=True,
        env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
        check=True,
    ).stdout
    assert back.replace(b"\r\n", b"\n") == facility.read_bytes()


def test_write_card_copies_the_mapping_the_file_names(tmp_path, fat_image):
    facility = tmp_path / "facility.toml"
    facility.write_text(
        EXAMPLE.read_text().replace(
            '# mapping = "dhis2-mapping.json"  ', 'mapping = "dhis2-mapping.json"    '
        )
    )
    (tmp_path / "dhis2-mapping.json").write_text('{"dataSet": "Mr4FvT8sLd2"}')
    r = keneya("provision", "write-card", str(facility), "--image", str(fat_image))
    assert r.returncode == 0, r.stderr
    listing = subprocess.run(
        ["mdir", "-b", "-i", str(fat_image), "::keneya"],
        capture_output=True,
        text=True,
        env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
        check=True,
    ).stdout
    assert "DHIS2-MAPPING.JSON" in listing.upper() and "FACILITY.TOML" in listing.upper()


def test_write_card_refuses_a_bad_file_and_leaves_the_card_alone(tmp_path, fat_image):
    facility = tmp_path / "facility.toml"
    facility.write_text(EXAMPLE.read_text().replace("channel = 6", "channel = 14"))
    before = fat_image.read_bytes()
    r = keneya("provision", "write-card", str(facility), "--image", str(fat_image))
    assert r.returncode == 2 and "hotspot.channel" in r.stderr and "not written" in r.stderr
    assert fat_image.read_bytes() == before
    neither = keneya("provision", "write-card", str(EXAMPLE))
    assert neither.returncode == 2 and "exactly one target" in neither.stderr


# -- write-card --restore: the new card comes back with its records --------------------------


def mtools_read(image: Path, path: str) -> bytes:
    return subprocess.run(
        ["mtype", "-i", str(image), f"::{path}"],
        capture_output=True,
        env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
        check=True,
    ).stdout


@pytest.fixture(scope="module")
def stick_backup(tmp_path_factory) -> dict:
    """A USB stick's backup of BONI (gzipped, encrypted to the district's key)."""
    folder = tmp_path_factory.mktemp("stick")
    key, public = age_identity(folder)
    plain = seeded_backup(folder, "BONI", patients=20)
    age_file = encrypted(plain, folder / "keneya-BONI.db.gz.age", public)
    return {"key": key, "public": public, "plain": plain, "age": age_file, "folder": folder}


def test_write_card_restore_decrypts_checks_and_writes_the_backup(
    tmp_path, fat_image, stick_backup
):
    facility = tmp_path / "facility.toml"
    facility.write_text(EXAMPLE.read_text())
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    r = keneya(
        "provision", "write-card", str(facility), "--image", str(fat_image),
        "--restore", str(stick_backup["age"]), "--identity", str(stick_backup["key"]), "--json",
        tmp=scratch,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["dest"] == "keneya/facility.toml"
    restore = out["restore"]
    assert restore["dest"] == "keneya/restore.db.gz" and restore["facility_code"] == "BONI"
    assert restore["counts"]["patients"] == 20
    on_card = mtools_read(fat_image, "keneya/restore.db.gz")
    assert len(on_card) == restore["bytes"]
    unpacked = tmp_path / "back.db"
    unpacked.write_bytes(gzip.decompress(on_card))
    assert facts(unpacked) == {"facility_code": "BONI", "patients": 20}
    # nothing decrypted stays behind on the laptop
    assert list(scratch.iterdir()) == []
    assert not list(stick_backup["folder"].glob("*.db.gz"))
    human = keneya(
        "provision", "write-card", str(facility), "--image", str(fat_image),
        "--restore", str(stick_backup["plain"]),
    )  # fmt: skip
    assert human.returncode == 0, human.stderr
    assert "20 patients" in human.stdout and "restore.db.gz" in human.stdout


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("other facility", "is a backup of facility DTZ, the facility file is BONI"),
        ("no identity", "is encrypted: give the district's key with --identity"),
        ("wrong identity", "cannot decrypt"),
        ("not a backup", "is not a Keneya backup"),
    ],
)
def test_write_card_restore_refuses_in_one_line_and_leaves_the_card_alone(
    tmp_path, fat_image, stick_backup, case, said
):
    facility = tmp_path / "facility.toml"
    facility.write_text(EXAMPLE.read_text())
    args = ["--restore", str(stick_backup["age"]), "--identity", str(stick_backup["key"])]
    if case == "other facility":
        other = seeded_backup(tmp_path, "DTZ", patients=2)
        args = ["--restore", str(encrypted(other, tmp_path / "dtz.age", stick_backup["public"]))]
        args += ["--identity", str(stick_backup["key"])]
    elif case == "no identity":
        args = args[:2]
    elif case == "wrong identity":
        args[3] = str(age_identity(tmp_path)[0])
    elif case == "not a backup":
        (tmp_path / "notes.txt").write_text("pas une sauvegarde\n")
        args = ["--restore", str(tmp_path / "notes.txt")]
    before = fat_image.read_bytes()
    r = keneya("provision", "write-card", str(facility), "--image", str(fat_image), *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert said in r.stderr and "the card was not written" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert fat_image.read_bytes() == before


def test_write_card_restore_refuses_a_backup_too_big_for_the_fat(tmp_path):
    small = tmp_path / "small.img"
    with open(small, "wb") as f:
        f.truncate(8 * 1024 * 1024)
    subprocess.run(
        ["mkfs.vfat", "-F", "16", "-s", "1", str(small)], check=True, capture_output=True
    )
    big = seeded_backup(tmp_path, "BONI", patients=2)
    conn = sqlite3.connect(big)
    conn.execute("CREATE TABLE ballast (b BLOB)")
    conn.execute("INSERT INTO ballast VALUES (?)", (os.urandom(9 * 1024 * 1024),))
    conn.commit()
    conn.close()
    facility = tmp_path / "facility.toml"
    facility.write_text(EXAMPLE.read_text())
    before = small.read_bytes()
    r = keneya(
        "provision", "write-card", str(facility), "--image", str(small), "--restore", str(big)
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert "ne tient pas sur la partition de démarrage" in r.stderr
    assert "keneya backup restore" in r.stderr and "Traceback" not in r.stderr
    assert small.read_bytes() == before
