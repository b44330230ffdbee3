"""The hotspot's generated files against golden copies and the real tools: dnsmasq's own syntax
check, a strict INI parser, and NetworkManager's nmcli (`scripts/setup.sh` installs both)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from provisioning.hotspot import dnsmasq_dropin, nm_keyfile

pytestmark = pytest.mark.component

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "hotspot"
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
UUID = "7d6a0c8e-2f4b-4d7e-9b1a-3c5e8f0a1b2c"
# Every key NetworkManager needs to start a WPA2 access point with a shared IPv4 network.
REQUIRED = {
    "connection": {"id", "uuid", "type", "interface-name", "autoconnect"},
    "wifi": {"mode", "ssid", "band", "channel"},
    "wifi-security": {"key-mgmt", "psk"},
    "ipv4": {"method", "address1"},
    "ipv6": {"method"},
}


def golden_keyfile() -> str:
    return nm_keyfile("CSCom Kalaban", "k7rw-m3ha-9xte", channel=6, uuid=UUID)


def dnsmasq_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DNSMASQ, "--test", f"--conf-file={path}"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive in a keyfile
    parser.read_string(text)
    return parser


def test_keyfile_matches_its_golden_copy():
    assert golden_keyfile() == (GOLDEN / "keneya-hotspot.nmconnection").read_text()


def test_dropin_matches_its_golden_copy():
    assert dnsmasq_dropin("keneya-klb") == (GOLDEN / "keneya.conf").read_text()


def test_keyfile_parses_strictly_and_has_every_key_for_an_access_point():
    kf = parse(golden_keyfile())
    for section, keys in REQUIRED.items():
        assert keys <= set(kf[section]), section
    assert kf["connection"]["type"] == "wifi" and kf["connection"]["uuid"] == UUID
    assert kf["wifi"]["mode"] == "ap" and kf["wifi"]["ap-isolation"] == "1"
    assert kf["wifi-security"]["key-mgmt"] == "wpa-psk" and kf["wifi-security"]["pmf"] == "1"
    assert kf["wifi-security"]["proto"] == "rsn;"
    assert kf["ipv4"]["method"] == "shared" and kf["ipv4"]["address1"] == "10.42.0.1/24"
    assert kf["ipv6"]["method"] == "disabled"


def test_keyfile_is_accepted_by_nmcli(tmp_path):
    """`nmcli --offline` (NetworkManager >= 1.42) reads a keyfile on stdin, validates it as
    the daemon would and prints it back."""
    text = nm_keyfile("CSCom; Kalaban", " k7rw\\m3ha", channel=11, uuid=UUID)
    kf = parse(text)
    assert kf["wifi"]["ssid"] == "CSCom\\\\; Kalaban"
    assert kf["wifi-security"]["psk"] == "\\sk7rw\\\\m3ha"
    nmcli = shutil.which("nmcli")
    assert nmcli, "nmcli is missing: apt-get install network-manager (scripts/setup.sh does)"
    for keyfile in (golden_keyfile(), text):
        done = subprocess.run(
            [nmcli, "--offline", "connection", "modify", "connection.autoconnect", "yes"],
            input=keyfile,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        back = parse(done.stdout)
        original = parse(keyfile)
        # nmcli leaves out values equal to NetworkManager's defaults (autoconnect=true).
        for section, keys in REQUIRED.items():
            for key in keys - {"autoconnect"}:
                assert back[section][key] == original[section][key], (section, key)


def test_dropin_passes_dnsmasq_syntax_check(tmp_path):
    conf = tmp_path / "keneya.conf"
    conf.write_text(dnsmasq_dropin("keneya-klb"))
    done = dnsmasq_check(conf)
    assert done.returncode == 0, done.stderr
    assert "syntax check OK" in done.stdout + done.stderr


def test_a_broken_dropin_fails_the_same_check(tmp_path):
    """Proves the check above really reads the file."""
    conf = tmp_path / "broken.conf"
    conf.write_text(dnsmasq_dropin("keneya-klb").replace("10.42.0.1", "10.42.0.999", 1))
    done = dnsmasq_check(conf)
    assert done.returncode != 0
    assert "syntax check OK" not in done.stdout + done.stderr
