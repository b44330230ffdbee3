"""The Wi-Fi hotspot staff tablets join: its NetworkManager profile, the dnsmasq drop-in that
makes http://keneya.lan/ resolve, the regulatory domain, the join QR code and the passphrase.

Pure functions, text in and text out: first boot writes what they return (the profile as root
0600 in /etc/NetworkManager/system-connections/, the drop-in in
/etc/NetworkManager/dnsmasq-shared.d/). NetworkManager is the network stack of Debian and
Raspberry Pi OS bookworm; its "shared" IPv4 method runs dnsmasq for DHCP and DNS on the hotspot.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import uuid as uuid_module
from collections.abc import Iterable

from appliance.services.status import HOTSPOT_ADDRESS, LAN_NAME, wifi_join_payload

__all__ = [
    "HOTSPOT_ADDRESS",
    "HOTSPOT_INTERFACE",
    "HOTSPOT_NETWORK",
    "LAN_NAME",
    "LEASE_TIME_S",
    "HotspotConfigError",
    "add_kernel_arg",
    "dnsmasq_dropin",
    "generate_passphrase",
    "nm_keyfile",
    "regulatory_domain_arg",
    "wifi_qr_payload",
]

HOTSPOT_NETWORK = f"{HOTSPOT_ADDRESS}/24"
# The Pi's own Wi-Fi (brcmfmac keeps the kernel's name); the firewall opens the tablets' ports
# on this interface only (provisioning/firewall.py).
HOTSPOT_INTERFACE = "wlan0"
# A clinic day: a tablet that joins in the morning keeps its address until the evening.
LEASE_TIME_S = 12 * 3600
# Above the modem's and any other Wi-Fi profile: the hotspot is what the appliance is for.
AUTOCONNECT_PRIORITY = 100
# 2.4 GHz channels allowed in Mali (ETSI-like plan, as in most of Africa): 1 to 13.
CHANNELS = range(1, 14)
REGDOM_PARAMETER = "cfg80211.ieee80211_regdom"

# Passphrase alphabet: lowercase letters and digits a person reads off a screen and types on a
# tablet without doubt, so no 0/o, 1/l/i.
PASSPHRASE_ALPHABET = "".join(c for c in "abcdefghijklmnopqrstuvwxyz23456789" if c not in "0o1li")
PASSPHRASE_GROUPS = 3
PASSPHRASE_GROUP_LEN = 4

# Linux interface names: at most 15 bytes (IFNAMSIZ 16 with the NUL), no '/', no whitespace.
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
# RFC 1123 host name label.
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# How NetworkManager's keyfile reader recognises an SSID written as a list of byte values
# (libnm-core keyfile reader, get_bytes): a printable SSID of that shape would read back wrong.
_LOOKS_LIKE_BYTE_LIST = re.compile(r"^\s*\d{1,3}\s*(;\s*\d{1,3}\s*)*(;\s*)?$")
_ISO_COUNTRY = re.compile(r"^[A-Z]{2}$")


class HotspotConfigError(ValueError):
    """A value the hotspot configuration cannot hold; the message says which and why."""


# -- GKeyFile ----------------------------------------------------------------------------------
def _keyfile_string(value: str) -> str:
    """Escape a value as GLib's g_key_file_set_string does (GLib "Key-value file parser",
    section "Escape sequences"): backslash, newline, tab and carriage return are escaped, and
    a leading space becomes \\s so it is not trimmed away when read back."""
    out = []
    for i, c in enumerate(value):
        if c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif c == " " and i == 0:
            out.append("\\s")
        else:
            out.append(c)
    return "".join(out)


def _refuse_control(what: str, value: str) -> None:
    if not value:
        raise HotspotConfigError(f"{what}: must not be empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise HotspotConfigError(f"{what}: {value!r} contains a control character (a line break?)")


def _ssid_value(ssid: str) -> str:
    """The SSID as NetworkManager's keyfile writer stores it (libnm-core keyfile writer,
    ssid_writer): printable ASCII as a string with ';' escaped as '\\;', anything else as a
    list of byte values; then GKeyFile escaping."""
    _refuse_control("SSID", ssid)
    raw = ssid.encode("utf-8")
    if len(raw) > 32:  # IEEE 802.11: an SSID is 0 to 32 octets
        raise HotspotConfigError(f"SSID {ssid!r}: {len(raw)} bytes, at most 32 are allowed")
    if ssid != ssid.strip():
        raise HotspotConfigError(
            f"SSID {ssid!r}: starts or ends with a space, which no one can see to type it"
        )
    if ssid.isascii():
        if _LOOKS_LIKE_BYTE_LIST.match(ssid):
            raise HotspotConfigError(
                f"SSID {ssid!r}: NetworkManager would read it as byte values; add a letter"
            )
        return _keyfile_string(ssid.replace(";", "\\;"))
    return "".join(f"{b};" for b in raw)


def _psk_value(passphrase: str) -> str:
    """A WPA2 passphrase: 8 to 63 printable ASCII characters, or 64 hexadecimal digits (the
    raw key) — IEEE 802.11i-2004, annex H.4.1, as nm-settings-nmcli(5) says for `psk`."""
    if re.fullmatch(r"[0-9A-Fa-f]{64}", passphrase):
        return passphrase
    if not all(0x20 <= ord(c) <= 0x7E for c in passphrase):
        raise HotspotConfigError(
            "Wi-Fi passphrase: only ASCII letters, digits, spaces and punctuation are allowed"
        )
    if not 8 <= len(passphrase) <= 63:
        raise HotspotConfigError(
            f"Wi-Fi passphrase: {len(passphrase)} characters, it needs 8 to 63"
        )
    return _keyfile_string(passphrase)


def _section(name: str, pairs: Iterable[tuple[str, str | int]]) -> str:
    return f"[{name}]\n" + "".join(f"{k}={v}\n" for k, v in pairs)


def nm_keyfile(
    ssid: str,
    passphrase: str,
    *,
    channel: int,
    interface: str = HOTSPOT_INTERFACE,
    name: str = "keneya-hotspot",
    uuid: str,
) -> str:
    """The hotspot's NetworkManager connection profile (a keyfile).

    Keys from nm-settings-nmcli(5) and the file layout from nm-settings-keyfile(5)
    (networkmanager.dev, "settings-802-11-wireless", "settings-802-11-wireless-security",
    "nm-settings-keyfile"): [wifi] and [wifi-security] are the keyfile aliases of
    802-11-wireless and 802-11-wireless-security; lists end with ';' as NetworkManager writes
    them. The file must be root 0600 or NetworkManager ignores it.
    """
    _refuse_control("connection name", name)
    try:
        connection_uuid = str(uuid_module.UUID(uuid))
    except (ValueError, TypeError, AttributeError):
        raise HotspotConfigError(f"connection UUID {uuid!r}: not a UUID") from None
    if not _IFNAME.match(interface):
        raise HotspotConfigError(
            f"interface {interface!r}: a Linux interface name has 1 to 15 letters, digits, "
            "'_', '.' or '-'"
        )
    if isinstance(channel, bool) or not isinstance(channel, int) or channel not in CHANNELS:
        raise HotspotConfigError(
            f"Wi-Fi channel {channel!r}: choose 1 to 13 (2.4 GHz; 1, 6 or 11 do not overlap)"
        )
    ssid_value, psk_value = _ssid_value(ssid), _psk_value(passphrase)
    sections = [
        _section(
            "connection",
            [
                ("id", _keyfile_string(name)),
                ("uuid", connection_uuid),
                ("type", "wifi"),
                ("interface-name", interface),
                ("autoconnect", "true"),
                ("autoconnect-priority", AUTOCONNECT_PRIORITY),
            ],
        ),
        _section(
            "wifi",
            [
                ("mode", "ap"),
                # 2.4 GHz: every tablet has it, and it carries further through clinic walls.
                ("band", "bg"),
                ("channel", channel),
                ("ssid", ssid_value),
                # NM >= 1.28: tablets cannot reach one another, only the Pi.
                ("ap-isolation", 1),
            ],
        ),
        _section(
            "wifi-security",
            [
                ("key-mgmt", "wpa-psk"),
                # WPA2 with AES only: no WPA1/TKIP.
                ("proto", "rsn;"),
                ("pairwise", "ccmp;"),
                ("group", "ccmp;"),
                # 1 = disable protected management frames (0 default, 2 optional,
                # 3 required): some older tablets cannot join an AP that offers them.
                ("pmf", 1),
                ("psk", psk_value),
            ],
        ),
        _section(
            "ipv4",
            [
                # shared: NetworkManager gives the address and runs dnsmasq (DHCP and DNS).
                ("method", "shared"),
                ("address1", HOTSPOT_NETWORK),
            ],
        ),
        _section("ipv6", [("method", "disabled")]),
    ]
    return "\n".join(sections)


# -- dnsmasq -----------------------------------------------------------------------------------
def dnsmasq_dropin(hostname: str, *, address: str = HOTSPOT_ADDRESS) -> str:
    """/etc/NetworkManager/dnsmasq-shared.d/keneya.conf: NetworkManager's dnsmasq reads that
    folder (--conf-dir) for every shared connection. Options from dnsmasq(8)."""
    host = (hostname or "").strip().lower()
    if host.endswith(".lan"):
        host = host[: -len(".lan")]
    if not _HOST_LABEL.match(host):
        raise HotspotConfigError(
            f"host name {hostname!r}: use 1 to 63 letters, digits or '-' (not first or last)"
        )
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        raise HotspotConfigError(f"hotspot address {address!r}: not an IPv4 address") from None
    names = [LAN_NAME, f"{host}.lan", host]
    names = list(dict.fromkeys(names))  # keneya.lan given as the host name: once only
    lines = [
        "# Keneya: names on the clinic's Wi-Fi hotspot (written by first boot; do not edit).",
        "# Tablets open http://keneya.lan/: Android resolves .local (mDNS) names poorly,",
        "# so the appliance answers a plain DNS name from NetworkManager's dnsmasq.",
        "",
        "# The appliance's names all answer with the hotspot address.",
        *(f"address=/{n}/{ip}" for n in names),
        "",
        "# .lan is this hotspot's own domain: never ask the 3G link's DNS about it",
        "# (answered here, or 'no such name' at once instead of a slow timeout).",
        "local=/lan/",
        "# Nor about bare names without a dot: they cannot exist on the Internet.",
        "domain-needed",
        "",
        "# Leases last a clinic day (12 h) instead of NetworkManager's 1 h: a tablet keeps",
        "# its address all day. A dhcp-host line with a lease time applies to every client",
        "# it matches; the wildcard matches every Wi-Fi address (dnsmasq(8), --dhcp-host).",
        "# (NetworkManager 1.42 in bookworm has no ipv4.shared-dhcp-lease-time, and a",
        "# second dhcp-range would compete with the one NetworkManager passes.)",
        f"dhcp-host=*:*:*:*:*:*,{LEASE_TIME_S // 3600}h",
        "",
    ]
    return "\n".join(lines)


# -- kernel command line -----------------------------------------------------------------------
def regulatory_domain_arg(country: str = "ML") -> str:
    """The kernel parameter that sets the Wi-Fi regulatory domain (which channels and power
    are legal) before any Wi-Fi driver loads; Raspberry Pi OS reads it from cmdline.txt."""
    code = (country or "").strip().upper()
    if not _ISO_COUNTRY.match(code):
        raise HotspotConfigError(
            f"country {country!r}: expected a two-letter ISO 3166 code such as ML"
        )
    return f"{REGDOM_PARAMETER}={code}"


def add_kernel_arg(cmdline: str, arg: str) -> str:
    """cmdline.txt with `arg` added once: an earlier value of the same parameter is replaced,
    other parameters keep their order, and the file stays one line (the firmware reads only
    the first line)."""
    arg = arg.strip()
    if not arg or any(c.isspace() for c in arg):
        raise HotspotConfigError(f"kernel argument {arg!r}: must be one word without spaces")
    key = arg.split("=", 1)[0]
    words = cmdline.split()
    kept = [w for w in words if w.split("=", 1)[0] != key]
    if len(kept) == len(words):
        kept.append(arg)
    else:
        first = next(i for i, w in enumerate(words) if w.split("=", 1)[0] == key)
        before = sum(1 for w in words[:first] if w.split("=", 1)[0] != key)
        kept.insert(before, arg)
    return " ".join(kept) + "\n"


# -- QR code -----------------------------------------------------------------------------------
def wifi_qr_payload(ssid: str, passphrase: str) -> str:
    """The text of the QR code that joins the hotspot (one implementation, in appliance, which
    the status page and the kiosk use too)."""
    return wifi_join_payload(ssid, passphrase)


# -- passphrase --------------------------------------------------------------------------------
def generate_passphrase() -> str:
    """A new hotspot passphrase such as `k7rw-m3ha-9xte`: 12 characters from 31 (about 59
    bits, far beyond what a Wi-Fi attacker can try) in groups of 4 that are easy to read
    aloud and type on a tablet."""
    groups = (
        "".join(secrets.choice(PASSPHRASE_ALPHABET) for _ in range(PASSPHRASE_GROUP_LEN))
        for _ in range(PASSPHRASE_GROUPS)
    )
    return "-".join(groups)
