"""[ssh] and [firewall] of the facility file: every key type accepted, a damaged or weak key
refused with its line, `from` and `ethernet_web` checked, unknown keys reported."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from provisioning import access_table
from provisioning import facility as F
from tests import ssh_keys

EX = (Path(__file__).parents[2] / "provisioning" / "facility.example.toml").read_text()
EXAMPLE_KEY_LINE = EX.split("authorized_keys = [")[1].split("\n")[1]


def with_access(ssh: str = "", firewall: str = "") -> str:
    """The example with its [ssh] and [firewall] tables replaced."""
    start, end = EX.index("[ssh]"), EX.index("[settings]")
    tables = ""
    if ssh:
        tables += "[ssh]\n" + ssh + "\n\n"
    if firewall:
        tables += "[firewall]\n" + firewall + "\n\n"
    return EX[:start] + tables + EX[end:]


def problems(text: str) -> list[F.Problem]:
    with pytest.raises(F.FacilityFileError) as caught:
        F.parse(text)
    return caught.value.problems


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.split("\n"), 1) if needle in line)


@pytest.mark.parametrize("make", [ssh_keys.ed25519, ssh_keys.ecdsa, ssh_keys.rsa])
def test_each_accepted_key_type_passes_and_stays_in_the_public_file(make):
    key = make()
    facility = F.parse(with_access(f'authorized_keys = ["{key}"]\nfrom = ["hotspot", "ethernet"]'))
    assert facility.ssh_authorized_keys == (key,)
    assert facility.ssh_from == ("hotspot", "ethernet")
    again = F.parse(facility.public_toml(), secrets_elsewhere=True)
    assert again.ssh_authorized_keys == (key,) and again.ssh_from == ("hotspot", "ethernet")


def test_without_the_tables_no_ssh_and_web_on_the_hotspot_only():
    facility = F.parse(with_access())
    assert facility.ssh_authorized_keys == () and facility.ssh_from == ("hotspot",)
    assert facility.ethernet_web is False
    assert "[ssh]" not in facility.public_toml() and "[firewall]" not in facility.public_toml()


def test_the_example_key_is_valid():
    assert access_table.check_public_key(EXAMPLE_KEY_LINE.strip().strip(",").strip('"'))


def test_a_key_cut_in_copying_is_refused_at_its_own_line():
    good = ssh_keys.ed25519()
    kind, data, comment = good.split(" ")
    cut = f"{kind} {data[:-8]} {comment}"  # base64 that no longer decodes to a whole key
    text = with_access(f'authorized_keys = [\n  "{good}",\n  "{cut}",\n]')
    [p] = problems(text)
    assert p.key == "ssh.authorized_keys" and p.line == line_of(text, data[:-8] + " ")
    assert "cut or changed" in p.message or "incomplete" in p.message


def test_a_weak_rsa_key_says_how_many_bits():
    text = with_access(f'authorized_keys = ["{ssh_keys.rsa(2048)}"]')
    [p] = problems(text)
    assert "2048 bits, fewer than 3072" in p.message and "ed25519" in p.hint


def test_a_key_whose_blob_names_another_type_is_refused():
    data = ssh_keys.ed25519().split(" ")[1]
    [p] = problems(with_access(f'authorized_keys = ["ssh-rsa {data} x"]'))
    assert 'says it is "ssh-ed25519", not "ssh-rsa"' in p.message


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP x", "not an accepted key type"),
        ("-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXk", "PRIVATE key"),
        ("ssh-ed25519 AAAA!!notbase64 x", "not valid base64"),
        ('from=\\"10.0.0.1\\" ssh-ed25519 AAAAC3Nza x', "options before the key type"),
    ],
)
def test_wrong_lines_are_refused_with_what_to_do(line, words):
    text = with_access(f'authorized_keys = ["{line}"]')
    [p] = problems(text)
    assert words in p.message and p.hint


def test_a_single_key_without_brackets_asks_for_a_list():
    [p] = problems(with_access(f'authorized_keys = "{ssh_keys.ed25519()}"'))
    assert p.message == "must be a list, even of one key"


def test_a_bad_side_is_named_at_its_line():
    text = with_access(f'authorized_keys = ["{ssh_keys.ed25519()}"]\nfrom = ["hotspot", "wifi"]')
    [p] = problems(text)
    assert p.key == "ssh.from" and p.line == line_of(text, '"wifi"')
    assert '"wifi" is not a side' in p.message and "ethernet" in p.hint


def test_unknown_keys_of_both_tables_are_errors_with_a_suggestion():
    text = with_access("authorised_keys = []", "ethernet_webb = true")
    found = {p.key: p for p in problems(text)}
    assert set(found) == {"ssh.authorised_keys", "firewall.ethernet_webb"}
    assert 'did you mean "authorized_keys"' in found["ssh.authorised_keys"].hint
    assert found["firewall.ethernet_webb"].line == line_of(text, "ethernet_webb")


def test_ethernet_web_must_be_a_boolean():
    [p] = problems(with_access(firewall='ethernet_web = "yes"'))
    assert p.key == "firewall.ethernet_web" and "true or false" in p.message
    assert F.parse(with_access(firewall="ethernet_web = true")).ethernet_web is True


def test_a_key_listed_twice_is_refused():
    key = ssh_keys.ed25519()
    [p] = problems(with_access(f'authorized_keys = ["{key}", "{key} other comment"]'))
    assert "listed twice" in p.message


def test_parse_keys_reads_an_authorized_keys_text_and_names_the_bad_line():
    a, b = ssh_keys.ed25519("a"), ssh_keys.ecdsa("b")
    assert access_table.parse_keys(f"# keys\n{a}\n\n{b}\n") == (a, b)
    bad = base64.b64encode(b"junk").decode()
    with pytest.raises(access_table.PublicKeyError, match="key line 2"):
        access_table.parse_keys(f"{a}\nssh-ed25519 {bad}\n")


def test_the_ruleset_refuses_an_unknown_side():
    from provisioning import firewall

    with pytest.raises(ValueError, match="wifi"):
        firewall.render(ssh_from=["wifi"])


@pytest.mark.parametrize(
    ("state", "verb"), [("enabled from hotspot", "start"), ("disabled", "stop")]
)
def test_first_boot_starts_or_stops_sshd_in_this_boot_only_on_the_live_system(
    monkeypatch, tmp_path, state, verb
):
    from provisioning import cli

    calls = []
    monkeypatch.setattr(cli.subprocess, "run", lambda args, **kw: calls.append(args))
    cli._ssh_now(state, "/", running=tmp_path)  # systemd runs (its folder exists)
    cli._ssh_now(state, str(tmp_path), running=tmp_path)  # a root being prepared: nothing
    cli._ssh_now(state, "/", running=tmp_path / "absent")  # no systemd: nothing
    assert calls == [["systemctl", "--no-block", verb, "ssh.service"]]
