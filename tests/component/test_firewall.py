"""The firewall's rulesets, checked by the real nft and then put to work: loaded into a network
namespace that plays the Pi (wlan0, end0, a HiLink stick's enx…, ppp0 as veth pairs), with
TCP listeners on ports 80 and 22, probed from namespaces that play a tablet, a wired laptop and
the 3G side. Every connection attempt waits at most 1 s: "timeout" is a dropped packet,
"refused" a packet the firewall let in to a closed port, "open" a connection.

Needs root (nft and network namespaces need CAP_NET_ADMIN) and Debian's nftables package
(scripts/setup.sh installs it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning import firewall
from provisioning.facility import parse
from tests import ssh_keys

pytestmark = pytest.mark.component

REPO = Path(__file__).parents[2]
EXAMPLE = (REPO / "provisioning" / "facility.example.toml").read_text()
NFT = shutil.which("nft") or "/usr/sbin/nft"
IP = shutil.which("ip") or "/usr/sbin/ip"
NSENTER = shutil.which("nsenter") or "/usr/bin/nsenter"


def need_root_and_nft() -> None:
    if os.geteuid() != 0:
        pytest.fail(
            "the firewall tests load rules with nft and make network namespaces: run as root"
        )
    if not Path(NFT).exists():
        pytest.fail("nft is missing: install Debian's nftables package (scripts/setup.sh does)")


def facility_text(ssh: str = "", fw: str = "") -> str:
    start, end = EXAMPLE.index("[ssh]"), EXAMPLE.index("[settings]")
    tables = (f"[ssh]\n{ssh}\n\n" if ssh else "") + (f"[firewall]\n{fw}\n\n" if fw else "")
    return EXAMPLE[:start] + tables + EXAMPLE[end:]


KEY = ssh_keys.ed25519()
CASES = {
    "default": None,
    "hotspot only": facility_text(),
    "ethernet_web": facility_text(fw="ethernet_web = true"),
    "ssh from hotspot": facility_text(ssh=f'authorized_keys = ["{KEY}"]'),
    "ssh from ethernet": facility_text(ssh=f'authorized_keys = ["{KEY}"]\nfrom = ["ethernet"]'),
    "ssh from ethernet, no key": facility_text(ssh='from = ["ethernet"]'),
}


def ruleset_of(case: str) -> str:
    text = CASES[case]
    return firewall.ruleset(None if text is None else parse(text))


@pytest.mark.parametrize("case", list(CASES))
def test_nft_accepts_the_ruleset(case, tmp_path):
    need_root_and_nft()
    path = tmp_path / "nftables.conf"
    path.write_text(ruleset_of(case))
    r = subprocess.run([NFT, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


# What nft resolves through netbase's /etc/protocols and /etc/services, which the image does
# not have ("Could not resolve protocol name" at boot, while `nft -c` here, with the host's
# files, passed): protocols and ports must be numbers there.
NAMED_OPERAND = re.compile(
    r"\b(?:meta l4proto|ip protocol|ip6 nexthdr|dport|sport)\s+(?:\{([^}]*)\}|(\S+))"
)


@pytest.mark.parametrize("case", list(CASES))
def test_protocols_and_ports_are_numbers_the_image_can_read(case):
    operands = []
    for group, single in NAMED_OPERAND.findall(ruleset_of(case)):
        operands += [w.strip() for w in (group.split(",") if group else [single])]
    assert operands and all(w.isdigit() for w in operands), operands
    # the pattern sees a name where the image would fail, in a set too
    assert NAMED_OPERAND.findall("meta l4proto ipv6-icmp jump x") == [("", "ipv6-icmp")]
    assert NAMED_OPERAND.findall("udp dport { 53, domain }") == [(" 53, domain ", "")]


def test_the_images_default_is_the_generators_output():
    committed = (REPO / firewall.DEFAULT_FILE).read_text()
    assert committed == firewall.ruleset(), f"regenerate it: {firewall.REGENERATE}"
    assert "tcp dport 22" not in committed and "policy drop" in committed


def test_ssh_opens_only_with_a_key_and_only_where_from_says():
    assert "tcp dport 22" not in ruleset_of("ssh from ethernet, no key")
    hotspot = ruleset_of("ssh from hotspot").split("chain hotspot_in")[1].split("}")[0]
    ethernet = ruleset_of("ssh from ethernet").split("chain ethernet_in")[1].split("}")[0]
    assert "tcp dport 22" in hotspot and "tcp dport 22" in ethernet
    assert "tcp dport 22" not in ruleset_of("ssh from hotspot").split("chain ethernet_in")[1]


# --- the rules at work ------------------------------------------------------------------------

LISTENER = r"""
import socket, sys, threading
socks = []
for port in map(int, sys.argv[1:]):
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port)); s.listen(16); socks.append(s)
def serve(s):
    while True:
        c, _ = s.accept(); c.close()
threads = [threading.Thread(target=serve, args=(s,), daemon=True) for s in socks]
for t in threads: t.start()
print("ready", flush=True)
sys.stdin.read()
"""

PROBE = r"""
import json, socket, sys, threading
targets = json.loads(sys.argv[1]); out = {}
def probe(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close(); out[f"{host}:{port}"] = "open"
    except ConnectionRefusedError:
        out[f"{host}:{port}"] = "refused"
    except OSError:
        out[f"{host}:{port}"] = "timeout"
threads = [threading.Thread(target=probe, args=t) for t in targets]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(out))
"""

# (pi side name, peer name, peer namespace, pi address, peer address)
LINKS = [
    ("wlan0", "cw", "tab", "10.42.0.1", "10.42.0.2"),
    ("end0", "ce", "lan", "192.168.50.1", "192.168.50.2"),
    ("enx0c5b8f279a64", "ch", "mob", "192.168.8.100", "192.168.8.1"),  # a HiLink stick
    ("ppp0", "cp", "mob", "10.64.0.1", "10.64.0.2"),
]


def sh(*args: str) -> str:
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"{' '.join(args)}: {r.stderr}"
    return r.stdout


class Net:
    def __init__(self) -> None:
        tag = str(os.getpid())
        self.ns = {role: f"kfw-{role}-{tag}" for role in ("pi", "tab", "lan", "mob")}
        self.procs: list[subprocess.Popen] = []

    def enter(self, name: str) -> list[str]:
        # nsenter, not `ip netns exec` or `ip -n`: those also remount / (make-rslave), which a
        # chroot such as the clean-room CI's refuses; the network namespace is all they need
        return [NSENTER, f"--net=/run/netns/{name}"]

    def run(self, role: str, *args: str) -> str:
        return sh(*self.enter(self.ns[role]), *args)

    def ip(self, name: str, *args: str) -> str:
        return sh(*self.enter(name), IP, *args)

    def up(self) -> None:
        for name in self.ns.values():
            sh(IP, "netns", "add", name)
            self.ip(name, "link", "set", "lo", "up")
        for pi_name, peer, role, pi_addr, peer_addr in LINKS:
            self.ip(self.ns["pi"], "link", "add", pi_name, "type", "veth", "peer", "name",
               peer, "netns", self.ns[role])  # fmt: skip
            self.ip(self.ns["pi"], "addr", "add", f"{pi_addr}/24", "dev", pi_name)
            self.ip(self.ns[role], "addr", "add", f"{peer_addr}/24", "dev", peer)
            self.ip(self.ns["pi"], "link", "set", pi_name, "up")
            self.ip(self.ns[role], "link", "set", peer, "up")
        # IPv6 on the hotspot side: reaching it needs neighbour discovery through the rules
        self.ip(self.ns["pi"], "-6", "addr", "add", "fd42::1/64", "dev", "wlan0", "nodad")
        self.ip(self.ns["tab"], "-6", "addr", "add", "fd42::2/64", "dev", "cw", "nodad")
        # the Pi could route between the tablet and the wired side: only the rules forbid it
        self.run("pi", "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        self.ip(self.ns["tab"], "route", "add", "default", "via", "10.42.0.1")
        self.ip(self.ns["lan"], "route", "add", "default", "via", "192.168.50.1")
        self.listen("pi", 80, 22)
        self.listen("lan", 8080)

    def listen(self, role: str, *ports: int) -> None:
        proc = subprocess.Popen(
            [*self.enter(self.ns[role]), sys.executable, "-c", LISTENER, *map(str, ports)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        assert proc.stdout.readline().strip() == "ready"

    def load(self, rules: str, tmp: Path) -> None:
        path = tmp / "rules.nft"
        path.write_text(rules)
        self.run("pi", NFT, "-f", str(path))

    def probe(self, role: str, *targets: tuple[str, int]) -> dict[str, str]:
        out = self.run(role, sys.executable, "-c", PROBE, json.dumps(targets))
        return json.loads(out)

    def down(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(timeout=10)
        for name in self.ns.values():
            subprocess.run([IP, "netns", "del", name], capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def net() -> Iterator[Net]:
    need_root_and_nft()
    n = Net()
    try:
        n.up()
        yield n
    finally:
        n.down()


HOTSPOT = [("10.42.0.1", 80), ("10.42.0.1", 22), ("10.42.0.1", 53), ("fd42::1", 80)]
ETHERNET = [("192.168.50.1", 80), ("192.168.50.1", 22)]
MOBILE = [("192.168.8.100", 80), ("192.168.8.100", 22), ("10.64.0.1", 80), ("10.64.0.1", 22)]
# what each case lets through: (hotspot 80, 22), (ethernet 80, 22)
EXPECTED = {
    "default": (("open", "timeout"), ("timeout", "timeout")),
    "ethernet_web": (("open", "timeout"), ("open", "timeout")),
    "ssh from hotspot": (("open", "open"), ("timeout", "timeout")),
    "ssh from ethernet": (("open", "timeout"), ("timeout", "open")),
    "ssh from ethernet, no key": (("open", "timeout"), ("timeout", "timeout")),
}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_the_rules_in_effect(net, tmp_path, case):
    net.load(ruleset_of(case), tmp_path)
    (web, ssh), (eth_web, eth_ssh) = EXPECTED[case]
    tab = net.probe("tab", *HOTSPOT)
    assert tab["10.42.0.1:80"] == web and tab["10.42.0.1:22"] == ssh
    # DNS is let in (nothing listens here: refused, not dropped); IPv6 neighbour discovery works
    assert tab["10.42.0.1:53"] == "refused" and tab["fd42::1:80"] == "open"
    lan = net.probe("lan", *ETHERNET)
    assert (lan["192.168.50.1:80"], lan["192.168.50.1:22"]) == (eth_web, eth_ssh)
    # the 3G side, a HiLink stick's enx… included, gets nothing in any case
    assert set(net.probe("mob", *MOBILE).values()) == {"timeout"}


def test_the_3g_side_stays_closed_with_everything_open_on_ethernet(net, tmp_path):
    net.load(firewall.render(ssh_from=["hotspot", "ethernet"], ethernet_web=True), tmp_path)
    assert set(net.probe("lan", *ETHERNET).values()) == {"open"}
    assert set(net.probe("mob", *MOBILE).values()) == {"timeout"}


def test_a_tablet_cannot_reach_through_the_pi(net, tmp_path):
    net.run("pi", NFT, "delete", "table", "inet", firewall.TABLE)
    # without our table the Pi forwards: the test would see a wrong rule
    assert net.probe("tab", ("192.168.50.2", 8080)) == {"192.168.50.2:8080": "open"}
    net.load(firewall.ruleset(), tmp_path)
    assert net.probe("tab", ("192.168.50.2", 8080)) == {"192.168.50.2:8080": "timeout"}


def test_loading_again_replaces_only_our_table(net, tmp_path):
    # a table of NetworkManager's shared mode, as it adds one for the hotspot
    net.run("pi", NFT, "add", "table", "ip", "nm-shared-wlan0")
    net.load(firewall.ruleset(), tmp_path)
    net.load(firewall.ruleset(), tmp_path)
    tables = net.run("pi", NFT, "list", "tables")
    assert "table ip nm-shared-wlan0" in tables and tables.count("table inet keneya") == 1
    net.run("pi", NFT, "delete", "table", "ip", "nm-shared-wlan0")
