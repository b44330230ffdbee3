"""The appliance's firewall: the facility file in, an nftables ruleset out (`table inet keneya`).

First boot writes it to /etc/nftables.conf, which Debian's nftables.service loads before the
network comes up; the image carries the same function's output for a card not yet provisioned
(`DEFAULT_FILE`, checked equal by a test; regenerate it with
`.venv/bin/python -m provisioning.firewall image_build/overlay/etc/nftables.conf`).

What comes in:
- the hotspot (the tablets' Wi-Fi): DHCP, DNS, the web app, mDNS; SSH when [ssh] allows it;
- Ethernet: nothing by default; the web app when [firewall] ethernet_web = true; SSH when
  [ssh] from lists "ethernet"; DHCPv6 replies (IPv4 DHCP replies are answers to the Pi's own
  requests, so conntrack already lets them in);
- the 3G side (ppp*, ww*, usb*, and a HiLink stick's enx<MAC>): nothing but replies;
- ICMP errors and a rate-limited ping everywhere but the 3G side; the ICMPv6 that IPv6 cannot
  work without (neighbour discovery, router advertisements, MLD; RFC 4890 section 4.4).

Which interface is Ethernet. Debian names a network device by its place (udev's predictable
names): the Pi 4's own port is end0, a PCI card (or qemu's virtio NIC) enp…, and every USB
network device enx<MAC> (Debian's 73-usb-net-by-mac.link). The Pi 3's own port is a USB chip,
so it is enx<MAC> too, like a HiLink 3G stick. They are told apart by the MAC's first three
bytes: the Pi's own port carries a Raspberry Pi OUI (IEEE registry), a 3G stick its maker's. So
a USB Ethernet adapter plugged into the Pi counts as the 3G side (nothing comes in): use the
Pi's own port. eth0 is the name of the Pi's port when predictable names are turned off.

Forwarding is dropped: a tablet reaches only the Pi, never the 3G side nor another tablet
through the Pi. NetworkManager's shared mode adds its own `table ip nm-shared-wlan0` that
accepts forwarding from the hotspot and masquerades it (NetworkManager >= 1.32 uses nft when
/usr/sbin/nft exists, NEWS for 1.32); a packet must pass every base chain on a hook, so our
drop wins over its accept. Tablets talking to each other over the air never reach the Pi's
IP stack: the hotspot profile sets ap-isolation (provisioning/hotspot.py).

The file replaces only our table (declared, deleted and declared again in one transaction), so
loading it again leaves NetworkManager's table alone.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from provisioning.hotspot import HOTSPOT_INTERFACE

if TYPE_CHECKING:
    from provisioning.facility import Facility

TABLE = "keneya"
DEFAULT_FILE = "image_build/overlay/etc/nftables.conf"
REGENERATE = f".venv/bin/python -m provisioning.firewall {DEFAULT_FILE}"
HTTP, SSH, DNS, DHCP_SERVER, MDNS = 80, 22, 53, 67, 5353
DHCPV6_CLIENT, DHCPV6_SERVER = 546, 547
# Raspberry Pi Foundation / Raspberry Pi Trading OUIs (IEEE MA-L registry): the Pi's own
# Ethernet port when udev names it by its MAC (Pi 3).
PI_OUIS = ("b827eb", "dca632", "e45f01", "28cdc1", "d83add", "2ccf67")
ETHERNET_PATTERNS = ("eth0", "end*", "enp*", *(f"enx{oui}*" for oui in PI_OUIS))
# The 3G side: pppd (ppp0), a QMI/MBIM stick (wwan0, or wwx<MAC> by Debian's naming), an
# RNDIS/CDC stick the kernel left as usb0. A HiLink stick's enx<MAC> matches no rule at all.
MOBILE_PATTERNS = ("ppp*", "ww*", "usb*")
ECHO_LIMIT = "limit rate 5/second burst 10 packets"


def _name(pattern: str) -> str:
    return f'"{pattern}"'


def render(
    *,
    ssh_from: Iterable[str] = (),
    ethernet_web: bool = False,
    hotspot_interface: str = HOTSPOT_INTERFACE,
) -> str:
    """The ruleset text. `ssh_from` is empty when no SSH key is given."""
    sides = set(ssh_from)
    unknown = sides - {"hotspot", "ethernet"}
    if unknown:
        raise ValueError(f"unknown side(s) for SSH: {', '.join(sorted(unknown))}")
    hotspot = _name(hotspot_interface)
    lines = [
        "#!/usr/sbin/nft -f",
        "# Keneya's firewall, made by provisioning/firewall.py: first boot writes it from the",
        "# facility file; the image carries the default for a card not yet provisioned:",
        f"#   {REGENERATE}",
        f"# SSH: {', '.join(sorted(sides)) or 'off'}; web app on Ethernet: "
        + ("yes" if ethernet_web else "no")
        + ".",
        "",
        "# Only our table is replaced; NetworkManager's (nm-shared-*) stays as it is.",
        f"table inet {TABLE}",
        f"delete table inet {TABLE}",
        "",
        f"table inet {TABLE} {{",
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy drop;",
        '\t\tiif "lo" accept',
        "\t\tct state invalid drop",
        "\t\tct state established,related accept",
        "\t\t# the 3G side: nothing but replies",
        *(f"\t\tiifname {_name(p)} drop" for p in MOBILE_PATTERNS),
        # protocol numbers, not names: the image has no /etc/protocols (netbase) to resolve them
        "\t\tmeta l4proto 1 jump icmp_in",
        "\t\tmeta l4proto 58 jump icmpv6_in",
        f"\t\tiifname {hotspot} jump hotspot_in",
        *(f"\t\tiifname {_name(p)} jump ethernet_in" for p in ETHERNET_PATTERNS),
        "\t}",
        "",
        "\tchain icmp_in {",
        f"\t\ticmp type echo-request {ECHO_LIMIT} accept",
        "\t\ticmp type { destination-unreachable, time-exceeded, parameter-problem } accept",
        "\t}",
        "",
        "\t# RFC 4890 section 4.4: what a host or router on a link needs; neighbour discovery",
        "\t# only from the link itself (hop limit 255, RFC 4861 section 6.1.1)",
        "\tchain icmpv6_in {",
        f"\t\ticmpv6 type echo-request {ECHO_LIMIT} accept",
        "\t\ticmpv6 type { destination-unreachable, packet-too-big, time-exceeded,"
        " parameter-problem } accept",
        "\t\ticmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit,"
        " nd-neighbor-advert, ind-neighbor-solicit, ind-neighbor-advert }"
        " ip6 hoplimit 255 accept",
        "\t\ticmpv6 type { mld-listener-query, mld-listener-report, mld-listener-done,"
        " mld2-listener-report } ip6 saddr { ::, fe80::/10 } accept",
        "\t}",
        "",
        "\t# the tablets' Wi-Fi: NetworkManager's dnsmasq (DHCP, DNS), the web app, avahi",
        "\tchain hotspot_in {",
        f"\t\tudp dport {DHCP_SERVER} accept",
        f"\t\tudp dport {DNS} accept",
        f"\t\ttcp dport {DNS} accept",
        f"\t\ttcp dport {HTTP} accept",
        f"\t\tudp dport {MDNS} accept",
    ]
    if "hotspot" in sides:
        lines.append(f"\t\ttcp dport {SSH} accept")
    lines += [
        "\t}",
        "",
        "\t# the cable port: DHCPv6 replies; the web app and SSH only when the facility says so",
        "\tchain ethernet_in {",
        f"\t\tip6 saddr fe80::/10 udp sport {DHCPV6_SERVER} udp dport {DHCPV6_CLIENT} accept",
    ]
    if ethernet_web:
        lines += [f"\t\ttcp dport {HTTP} accept", f"\t\tudp dport {MDNS} accept"]
    if "ethernet" in sides:
        lines.append(f"\t\ttcp dport {SSH} accept")
    lines += [
        "\t}",
        "",
        "\t# the Pi routes nothing: no tablet reaches the 3G side or another tablet through it",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy drop;",
        "\t}",
        "",
        "\tchain output {",
        "\t\ttype filter hook output priority filter; policy accept;",
        "\t}",
        "}",
        "",
    ]
    return "\n".join(lines)


def ruleset(facility: Facility | None = None) -> str:
    """The ruleset for a facility; None: the unprovisioned image's (web on the hotspot only,
    no SSH)."""
    if facility is None:
        return render()
    return render(
        ssh_from=facility.ssh_from if facility.ssh_authorized_keys else (),
        ethernet_web=facility.ethernet_web,
    )


def main(argv: list[str] | None = None) -> int:
    """Write the unprovisioned default to the path given (stdout without one)."""
    args = sys.argv[1:] if argv is None else argv
    text = ruleset()
    if args:
        Path(args[0]).parent.mkdir(parents=True, exist_ok=True)
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
