"""First boot and the firewall and SSH: /etc/nftables.conf from the facility file, root's
authorized_keys and ssh.service enabled when [ssh] gives a key, disabled and the keys removed by
a later card without one, all undone with the rest when first boot fails half-way."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from provisioning import firewall
from provisioning.facility import parse
from provisioning.firstboot import SSH_UNIT_PATH, FirstBootError, apply
from tests import ssh_keys
from tests.component.test_provisioning_firstboot import card_text, root, snapshot

pytestmark = pytest.mark.component

__all__ = ["root"]  # the fixture, used by name
REPO = Path(__file__).parents[2]
EXAMPLE_SSH = card_text().split("[ssh]")[1].split("[settings]")[0]


def card_with(ssh: str | None, fw: str = "") -> str:
    """The test card with its [ssh] table replaced (None: no [ssh]) and [firewall] as given."""
    text = card_text()
    tables = (f"[ssh]\n{ssh}\n\n" if ssh is not None else "") + (
        f"[firewall]\n{fw}\n\n" if fw else ""
    )
    return text.replace("[ssh]" + EXAMPLE_SSH, tables, 1)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def ssh_links(sp) -> dict[str, str | None]:
    units = sp.root / "etc" / "systemd" / "system"
    found = {}
    for link in ("multi-user.target.wants/ssh.service", "sshd.service"):
        path = units / link
        found[link] = str(path.readlink()) if path.is_symlink() else None
    return found


def test_a_card_with_a_key_gets_the_firewall_the_key_and_sshd(root):
    a, b = ssh_keys.ed25519("awa@portable"), ssh_keys.rsa(3072, "moussa@pc")
    text = card_with(f'authorized_keys = ["{a}", "{b}"]\nfrom = ["hotspot", "ethernet"]')
    root.card_file.write_text(text)
    receipt = apply(root)
    assert receipt["ssh"] == "enabled from hotspot and ethernet"
    rules = root.root / "etc" / "nftables.conf"
    assert rules.read_text() == firewall.ruleset(parse(text)) and mode(rules) == 0o644
    assert "tcp dport 22" in rules.read_text()
    keys = root.root / "root" / ".ssh" / "authorized_keys"
    assert mode(keys) == 0o600 and mode(keys.parent) == 0o700
    lines = [line for line in keys.read_text().splitlines() if not line.startswith("#")]
    assert lines == [a, b]
    assert ssh_links(root) == {
        "multi-user.target.wants/ssh.service": SSH_UNIT_PATH,
        "sshd.service": SSH_UNIT_PATH,
    }
    assert "SSH : activé depuis le Wi-Fi et le câble Ethernet" in root.receipt.read_text()
    # the keys are public: they stay in /etc/keneya/facility.toml for a later card to compare
    assert a in (root.app.config_dir / "facility.toml").read_text()


def test_a_card_without_a_key_leaves_sshd_off_and_port_22_shut(root):
    root.card_file.write_text(card_with(None, "ethernet_web = true"))
    receipt = apply(root)
    assert receipt["ssh"] == "disabled"
    rules = (root.root / "etc" / "nftables.conf").read_text()
    assert "tcp dport 22" not in rules
    assert rules.split("chain ethernet_in")[1].count("tcp dport 80") == 1
    assert not (root.root / "root" / ".ssh" / "authorized_keys").exists()
    assert ssh_links(root) == {"multi-user.target.wants/ssh.service": None, "sshd.service": None}


def test_a_later_card_without_a_key_disables_sshd_and_removes_the_keys(root):
    root.card_file.write_text(card_with(f'authorized_keys = ["{ssh_keys.ed25519()}"]'))
    apply(root)
    assert ssh_links(root)["sshd.service"] == SSH_UNIT_PATH
    root.card_file.write_text(card_with(None))
    assert apply(root)["ssh"] == "disabled"
    assert ssh_links(root) == {"multi-user.target.wants/ssh.service": None, "sshd.service": None}
    assert not (root.root / "root" / ".ssh" / "authorized_keys").exists()
    assert "tcp dport 22" not in (root.root / "etc" / "nftables.conf").read_text()
    leftovers = [p for p in root.root.rglob("*") if p.name.endswith((".keneya-old", ".keneya-new"))]
    assert leftovers == []


@pytest.mark.parametrize("step", ["staged", "database", "swapped"])
def test_a_failure_half_way_keeps_sshd_and_the_keys_as_they_were(root, step):
    key = ssh_keys.ed25519()
    root.card_file.write_text(card_with(f'authorized_keys = ["{key}"]'))
    apply(root)
    before = snapshot(root.root / "root") | {
        k: v for k, v in snapshot(root.root / "etc").items() if "systemd" in k or "nft" in k
    }
    root.card_file.write_text(card_with(None, "ethernet_web = true"))
    with pytest.raises(FirstBootError, match="injected failure"):
        apply(root, fail_at=step)
    after = snapshot(root.root / "root") | {
        k: v for k, v in snapshot(root.root / "etc").items() if "systemd" in k or "nft" in k
    }
    assert after == before
    assert key in (root.root / "root" / ".ssh" / "authorized_keys").read_text()


def test_the_sshd_drop_in_refuses_passwords_and_forwarding():
    text = (REPO / "image_build/overlay/etc/ssh/sshd_config.d/keneya.conf").read_text()
    settings = dict(
        line.split(None, 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert settings["PasswordAuthentication"] == "no"
    assert settings["KbdInteractiveAuthentication"] == "no"
    assert settings["PermitRootLogin"] == "prohibit-password"
    assert settings["X11Forwarding"] == "no" and settings["AllowAgentForwarding"] == "no"
    assert settings["AuthenticationMethods"] == "publickey"
