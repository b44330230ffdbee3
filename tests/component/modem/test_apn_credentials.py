"""The APN's credentials where the links need them: NetworkManager's keyfile (checked by
`nmcli --offline`, which scripts/setup.sh installs with network-manager) and pppd's peer and
secrets files, all root-only; built from the real mobile-broadband-provider-info entries."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from modem.apn import DATABASE, Apn, apn_for, database_missing_hint
from modem.errors import ConfigurationError
from modem.link import (
    ModemManagerLink,
    PppLink,
    nm_connection_keyfile,
    nmcli_add_args,
    ppp_peer_file,
    ppp_secrets_text,
)

pytestmark = pytest.mark.component

DEVICE = "/dev/serial/by-id/usb-HUAWEI_Technology_HUAWEI_Mobile-if00-port0"
DEBIAN_PAP_SECRETS = """# /etc/ppp/pap-secrets
#
# This is a pap-secrets file to be used with the AUTO_PPP function of
# mgetty.

# INBOUND connections

# Every regular user can use PPP and has to use passwords from /etc/passwd
*\thostname\t""\t*

# OUTBOUND connections
"""


@pytest.fixture(scope="module")
def malian() -> dict[str, Apn]:
    assert DATABASE.exists(), database_missing_hint(DATABASE)
    return {code: apn_for(code) for code in ("61001", "61002", "61003")}


def parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str
    parser.read_string(text)
    return parser


def nmcli_offline(keyfile: str) -> subprocess.CompletedProcess[str]:
    """`nmcli --offline` (NetworkManager >= 1.42) reads a keyfile on stdin, validates it as the
    daemon would and prints it back."""
    nmcli = shutil.which("nmcli")
    assert nmcli, "nmcli is missing: apt-get install network-manager (scripts/setup.sh does)"
    return subprocess.run(
        [nmcli, "--offline", "connection", "modify", "connection.autoconnect", "no"],
        input=keyfile,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def test_nm_keyfiles_of_the_malian_networks_carry_the_credentials(malian):
    for code, apn in malian.items():
        text = nm_connection_keyfile(apn, name="keneya-3g", sim_pin="4821")
        gsm = parse(text)["gsm"]
        assert gsm["apn"] == apn.name and gsm["pin"] == "4821"
        if apn.sends_credentials:
            assert (gsm["username"], gsm["password"]) == (apn.username, apn.password)
            assert gsm["password-flags"] == "0"  # kept in the file: no secret agent to ask
        else:
            assert "username" not in gsm and "password" not in gsm, code
        done = nmcli_offline(text)
        assert done.returncode == 0, done.stderr
        back = parse(done.stdout)["gsm"]
        assert back["apn"] == apn.name
        assert back.get("username") == (apn.username or None)
        assert back.get("password") == (apn.password or None)


def test_a_stated_method_refuses_the_others_in_nm_and_pppd():
    pap = Apn("sante.ml", "u", "p", "pap")
    kf = parse(nm_connection_keyfile(pap))
    assert kf["ppp"]["refuse-chap"] == "true" and "refuse-pap" not in kf["ppp"]
    chap = parse(nm_connection_keyfile(Apn("sante.ml", "u", "p", "chap")))
    assert chap["ppp"]["refuse-pap"] == "true" and "refuse-chap" not in chap["ppp"]
    assert "ppp" not in parse(nm_connection_keyfile(Apn("sante.ml", "u", "p")))
    for apn in (pap, Apn("sante.ml", "u", "p", "chap")):
        done = nmcli_offline(nm_connection_keyfile(apn))
        assert done.returncode == 0, done.stderr
        assert parse(done.stdout)["ppp"] == parse(nm_connection_keyfile(apn))["ppp"]
    peer = ppp_peer_file(DEVICE, pap, chat_path="/etc/ppp/peers/keneya.chat")
    assert "refuse-chap" in peer.splitlines() and "refuse-pap" not in peer.splitlines()


def test_a_broken_keyfile_fails_the_same_nmcli_check():
    """Proves the check above really validates."""
    text = nm_connection_keyfile(Apn("internet", "u", "p")).replace("type=gsm", "type=nope")
    assert nmcli_offline(text).returncode != 0


def test_the_profile_is_written_0600_with_the_credentials(malian, tmp_path):
    calls = []

    def run(args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, "", "")

    link = ModemManagerLink(apn=malian["61001"], run=run, connections_dir=tmp_path)
    assert link.ensure_profile() is True
    profile = tmp_path / "keneya-3g.nmconnection"
    assert profile.stat().st_mode & 0o777 == 0o600
    gsm = parse(profile.read_text())["gsm"]
    assert (gsm["apn"], gsm["username"], gsm["password"]) == (
        "web.malitel3.ml",
        "internet",
        "internet",
    )
    assert link.ensure_profile() is False  # the same: not rewritten, not reloaded
    link.apn = malian["61002"]  # another SIM
    assert link.ensure_profile() is True
    assert parse(profile.read_text())["gsm"]["apn"] == "internet"
    assert calls.count(["nmcli", "connection", "reload"]) == 2
    assert not list(tmp_path.glob("*.tmp"))


def secret_lines(path: Path) -> list[list[str]]:
    return [
        words
        for line in path.read_text().splitlines()
        if (words := shlex.split(line, comments=True))
    ]


def ours(path: Path) -> list[list[str]]:
    return [words for words in secret_lines(path) if words[1] == "keneya"]


@pytest.fixture
def etc_ppp(tmp_path: Path) -> Path:
    etc = tmp_path / "ppp"
    (etc / "peers").mkdir(parents=True)
    (etc / "pap-secrets").write_text(DEBIAN_PAP_SECRETS)
    (etc / "pap-secrets").chmod(0o600)
    return etc


def ppp_link(etc: Path, apn: Apn | None) -> PppLink:
    return PppLink(device=DEVICE, apn=apn, peers_dir=etc / "peers", run=lambda *a, **k: None)


def test_pppd_gets_user_in_the_peer_and_the_secret_in_both_files(malian, etc_ppp):
    link = ppp_link(etc_ppp, malian["61001"])
    link.write_config()
    peer = (etc_ppp / "peers" / "keneya").read_text().splitlines()
    assert 'user "internet"' in peer and "remotename keneya" in peer and "noauth" in peer
    assert not any(line.startswith("refuse-") for line in peer)  # the network picks
    for name in ("pap-secrets", "chap-secrets", "peers/keneya", "peers/keneya.chat"):
        assert (etc_ppp / name).stat().st_mode & 0o777 == 0o600, name
    for name in ("pap-secrets", "chap-secrets"):
        assert ["internet", "keneya", "internet", "*"] in secret_lines(etc_ppp / name), name
    # Debian's own lines stay as they were
    assert (etc_ppp / "pap-secrets").read_text().startswith(DEBIAN_PAP_SECRETS)
    assert ["*", "hostname", "", "*"] in secret_lines(etc_ppp / "pap-secrets")


def test_another_apn_replaces_our_line_and_none_removes_it(malian, etc_ppp):
    link = ppp_link(etc_ppp, Apn("sante.ml", "cscom", "s3cret", "chap"))
    link.write_config()
    assert ours(etc_ppp / "pap-secrets") == []
    assert ["cscom", "keneya", "s3cret", "*"] in secret_lines(etc_ppp / "chap-secrets")
    assert "refuse-pap" in (etc_ppp / "peers" / "keneya").read_text().splitlines()
    link.apn = malian["61002"]
    link.write_config()
    assert ours(etc_ppp / "chap-secrets") == [["internet", "keneya", "internet", "*"]]
    link.apn = malian["61003"]  # Telecel: no credentials known
    link.write_config()
    for name in ("pap-secrets", "chap-secrets"):
        assert ours(etc_ppp / name) == []
    peer = (etc_ppp / "peers" / "keneya").read_text()
    assert "user " not in peer and "remotename" not in peer
    assert (etc_ppp / "pap-secrets").read_text() == DEBIAN_PAP_SECRETS


def test_a_loose_secrets_file_is_made_root_only(malian, etc_ppp):
    (etc_ppp / "chap-secrets").write_text("# nothing\n")
    (etc_ppp / "chap-secrets").chmod(0o644)
    ppp_link(etc_ppp, malian["61003"]).write_config()  # nothing to add, still tightened
    assert (etc_ppp / "chap-secrets").stat().st_mode & 0o777 == 0o600


def test_secrets_text_keeps_foreign_lines_and_odd_ones():
    existing = 'odd "unclosed\nother\tpeer2\t"pw"\t*\n'
    text = ppp_secrets_text(existing, Apn("a", "u", "p"), method="pap")
    assert text.startswith(existing) and text.count("keneya") == 1
    assert ppp_secrets_text(text, None, method="pap") == existing


@pytest.mark.parametrize("bad", [Apn("internet", "a b", "p"), Apn("internet", "u", 'p"q')])
def test_credentials_that_would_break_the_files_are_refused(bad):
    with pytest.raises(ConfigurationError):
        nm_connection_keyfile(bad)
    with pytest.raises(ConfigurationError):
        ppp_peer_file(DEVICE, bad, chat_path="/x")


# -- the profile when the daemon may not write /etc (the appliance's keneya user) ------------


@pytest.mark.parametrize(
    "apn",
    [
        Apn("internet"),
        Apn("web.malitel3.ml", "internet", "internet"),
        Apn("sante.ml", "u", "p:x", "chap"),
    ],
    ids=["no-credentials", "pap-or-chap", "chap"],
)
def test_nmcli_add_makes_the_same_profile_as_the_keyfile(apn):
    """`nmcli --offline connection add` prints the keyfile NetworkManager would store for
    those arguments: it must say what nm_connection_keyfile says."""
    nmcli = shutil.which("nmcli")
    assert nmcli, "nmcli is missing: apt-get install network-manager (scripts/setup.sh does)"
    wanted = nm_connection_keyfile(apn)
    done = subprocess.run(
        [nmcli, "--offline", *nmcli_add_args(wanted)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    made, expected = parse(done.stdout), parse(wanted)
    for section in expected.sections():
        for key, value in expected[section].items():
            if (section, key, value) == ("gsm", "password-flags", "0"):
                continue  # NetworkManager's default, which it does not write out
            assert made[section][key] == value, (section, key)


def test_without_write_access_the_profile_goes_through_networkmanager(malian, tmp_path):
    """As keneya, /etc/NetworkManager/system-connections is not writable: the profile is
    added through nmcli (NetworkManager writes it), left alone when NetworkManager already
    holds the same values, and deleted and added again for another APN."""
    calls: list[list[str]] = []
    profiles: dict[str, dict[str, str]] = {}

    def run(args, **kwargs):
        calls.append(args)
        verb = args[args.index("connection") + 1]
        if verb == "show":
            if "keneya-3g" not in profiles:
                return subprocess.CompletedProcess(args, 10, "", "Error: no such connection")
            fields = args[args.index("--fields") + 1].split(",")
            have = profiles["keneya-3g"]
            out = "".join(f"{f}:{have.get(f, '')}\n" for f in fields)
            return subprocess.CompletedProcess(args, 0, out, "")
        if verb == "delete":
            profiles.pop("keneya-3g")
        elif verb == "add":
            pairs = args[args.index("ifname") + 2 :]
            have = dict(zip(pairs[::2], pairs[1::2], strict=True))
            # how nmcli prints them back: yes/no, flags with their names, ':' escaped
            have = {k: {"true": "yes", "false": "no"}.get(v, v) for k, v in have.items()}
            have = {k: v.replace(":", "\\:") for k, v in have.items()}
            have.setdefault("gsm.password-flags", "0 (none)")
            for m in ("pap", "chap", "eap", "mschap", "mschapv2"):
                have.setdefault(f"ppp.refuse-{m}", "no")
            profiles["keneya-3g"] = have
        return subprocess.CompletedProcess(args, 0, "", "")

    absent = tmp_path / "system-connections"  # not writable for this process
    link = ModemManagerLink(apn=malian["61001"], run=run, connections_dir=absent)
    assert link.ensure_profile() is True
    assert [c[c.index("connection") + 1] for c in calls] == ["show", "add"]
    assert profiles["keneya-3g"]["gsm.apn"] == "web.malitel3.ml"
    assert link.ensure_profile() is False  # NetworkManager holds the same: nothing written
    link.apn = Apn("sante.ml", "u", "p:x", "chap")
    assert link.ensure_profile() is True
    assert profiles["keneya-3g"]["gsm.apn"] == "sante.ml"
    assert link.ensure_profile() is False  # its ':' escaped by nmcli, read back the same
    verbs = [c[c.index("connection") + 1] for c in calls]
    assert verbs == ["show", "add", "show", "show", "delete", "add", "show"]
    assert not absent.exists() and ["nmcli", "connection", "reload"] not in calls
