"""`keneya provision new` and the [ssh] and [firewall] answers: keys given by repeating --set
or as @FILE, the sides, Ethernet web; a wrong key refused before any file is written."""

from __future__ import annotations

import pytest

from provisioning.facility import load
from tests import ssh_keys
from tests.component.test_provisioning_cli import ANSWERS, keneya

pytestmark = pytest.mark.component

SETS = [f"--set={k}={v}" for k, v in ANSWERS.items()]


def test_keys_by_repeating_set_the_sides_and_ethernet_web(tmp_path):
    a, b = ssh_keys.ed25519("awa@portable"), ssh_keys.ecdsa("moussa@pc")
    out = tmp_path / "facility.toml"
    r = keneya(
        "provision", "new", "--no-input", "-o", str(out), *SETS,
        f"--set=ssh.authorized_keys={a}", f"--set=ssh.authorized_keys={b}",
        "--set=ssh.from=hotspot,ethernet", "--set=firewall.ethernet_web=on",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    facility = load(out, check_mapping=False)
    assert facility.ssh_authorized_keys == (a, b)
    assert facility.ssh_from == ("hotspot", "ethernet") and facility.ethernet_web is True


def test_keys_from_a_file_and_the_defaults(tmp_path):
    keys = tmp_path / "keys.pub"
    a, b = ssh_keys.ed25519("a"), ssh_keys.rsa(4096, "b")
    keys.write_text(f"# the district's technicians\n{a}\n\n{b}\n")
    out = tmp_path / "facility.toml"
    r = keneya(
        "provision", "new", "--no-input", "-o", str(out), *SETS,
        f"--set=ssh.authorized_keys=@{keys}",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    facility = load(out, check_mapping=False)
    assert facility.ssh_authorized_keys == (a, b)
    assert facility.ssh_from == ("hotspot",) and facility.ethernet_web is False


def test_no_key_no_ssh_table(tmp_path):
    out = tmp_path / "facility.toml"
    r = keneya("provision", "new", "--no-input", "-o", str(out), *SETS)
    assert r.returncode == 0, r.stderr
    assert "[ssh]" not in out.read_text() and "[firewall]" not in out.read_text()


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (f"--set=ssh.authorized_keys={ssh_keys.rsa(2048)}", "2048 bits"),
        ("--set=ssh.authorized_keys=@/nonexistent/id.pub", "cannot be read"),
        ("--set=ssh.from=wifi", '"wifi" is not a side'),
        ("--set=firewall.ethernet_web=maybe", "neither on nor off"),
    ],
)
def test_a_wrong_answer_is_refused_and_nothing_written(tmp_path, answer, words):
    out = tmp_path / "facility.toml"
    r = keneya("provision", "new", "--no-input", "-o", str(out), *SETS, answer)
    assert r.returncode == 2 and words in r.stderr, r.stderr
    assert answer.split("=")[1].split(".")[0] in r.stderr  # the question is named
    assert not out.exists()
