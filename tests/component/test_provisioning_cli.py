"""`keneya provision new | check | write-card` as a technician runs them: the real executable,
a real FAT image made with mkfs.vfat and read back with mtools."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning.facility import load

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


def keneya(*args: str, cwd: Path | None = None, stdin: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != "KENEYA_HOME"}
    env["MTOOLS_SKIP_CHECK"] = "1"
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
