"""Hotspot configuration as pure text: escaping, refusals, kernel arguments, QR code, passphrase."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import segno

from appliance.services.status import wifi_join_payload
from appliance.web.qr import qr_png, qr_svg
from provisioning.hotspot import (
    PASSPHRASE_ALPHABET,
    HotspotConfigError,
    add_kernel_arg,
    dnsmasq_dropin,
    generate_passphrase,
    nm_keyfile,
    regulatory_domain_arg,
    wifi_qr_payload,
)

UUID = "7d6a0c8e-2f4b-4d7e-9b1a-3c5e8f0a1b2c"
PSK = "k7rw-m3ha-9xte"


def value(keyfile: str, key: str) -> str:
    m = re.search(rf"^{re.escape(key)}=(.*)$", keyfile, re.M)
    assert m, key
    return m.group(1)


def keyfile(ssid: str = "CSCom Kalaban", psk: str = PSK, **kw) -> str:
    kw.setdefault("channel", 6)
    kw.setdefault("uuid", UUID)
    return nm_keyfile(ssid, psk, **kw)


# -- keyfile escaping ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ssid", "written"),
    [
        ("CSCom Kalaban", "CSCom Kalaban"),
        ("a;b", "a\\\\;b"),  # NetworkManager's '\;', then GKeyFile's backslash escape
        ("back\\slash", "back\\\\slash"),
        ("Santé", "83;97;110;116;195;169;"),  # not printable ASCII: the byte list form
    ],
)
def test_ssid_is_written_as_networkmanager_would(ssid, written):
    assert value(keyfile(ssid), "ssid") == written


@pytest.mark.parametrize(
    ("psk", "written"),
    [
        (PSK, PSK),
        (" leading space", "\\sleading space"),
        ("with\\backslash", "with\\\\backslash"),
        ("a" * 64, "a" * 64),  # 64 hex digits: the raw key, as is
    ],
)
def test_passphrase_is_escaped_per_gkeyfile(psk, written):
    assert value(keyfile(psk=psk), "psk") == written


def test_connection_name_with_a_newline_is_refused_and_backslash_escaped():
    with pytest.raises(HotspotConfigError, match="control character"):
        keyfile(name="two\nlines")
    assert value(keyfile(name="a\\b"), "id") == "a\\\\b"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"ssid": ""}, "empty"),
        ({"ssid": "x" * 33}, "at most 32"),
        ({"ssid": "é" * 17}, "34 bytes"),
        ({"ssid": "tab\there"}, "control character"),
        ({"ssid": " padded"}, "space"),
        ({"ssid": "123"}, "byte values"),
        ({"psk": "short"}, "8 to 63"),
        ({"psk": "x" * 64}, "8 to 63"),
        ({"psk": "mot-de-passe-été"}, "ASCII"),
        ({"channel": 14}, "1 to 13"),
        ({"channel": 0}, "1 to 13"),
        ({"channel": True}, "1 to 13"),
        ({"interface": "wlan0/evil"}, "interface"),
        ({"interface": "a" * 16}, "interface"),
        ({"uuid": "not-a-uuid"}, "UUID"),
    ],
)
def test_values_that_cannot_be_written_are_refused_clearly(kw, message):
    with pytest.raises(HotspotConfigError, match=message):
        keyfile(**kw)


def test_keyfile_sections_in_order():
    sections = re.findall(r"^\[(.+)\]$", keyfile(), re.M)
    assert sections == ["connection", "wifi", "wifi-security", "ipv4", "ipv6"]


# -- dnsmasq -----------------------------------------------------------------------------------
def test_dropin_names_and_address():
    text = dnsmasq_dropin("Keneya-KLB.lan", address="10.42.0.1")
    assert "address=/keneya.lan/10.42.0.1" in text.splitlines()
    assert "address=/keneya-klb.lan/10.42.0.1" in text.splitlines()
    assert "address=/keneya-klb/10.42.0.1" in text.splitlines()
    assert "local=/lan/" in text.splitlines()
    assert "dhcp-host=*:*:*:*:*:*,12h" in text.splitlines()
    # Every non-comment line is explained by a comment somewhere above it.
    assert text.splitlines()[0].startswith("#")


def test_dropin_with_keneya_as_host_name_lists_it_once():
    assert dnsmasq_dropin("keneya").count("address=/keneya.lan/") == 1


@pytest.mark.parametrize("bad", ["", "-lead", "trail-", "has space", "under_score", "é"])
def test_dropin_refuses_bad_host_names(bad):
    with pytest.raises(HotspotConfigError, match="host name"):
        dnsmasq_dropin(bad)


def test_dropin_refuses_a_bad_address():
    with pytest.raises(HotspotConfigError, match="IPv4"):
        dnsmasq_dropin("keneya-klb", address="10.42.0.999")


# -- kernel command line -----------------------------------------------------------------------
def test_regulatory_domain_arg():
    assert regulatory_domain_arg() == "cfg80211.ieee80211_regdom=ML"
    assert regulatory_domain_arg(" sn ") == "cfg80211.ieee80211_regdom=SN"
    for bad in ("", "MLI", "M1"):
        with pytest.raises(HotspotConfigError, match="ISO 3166"):
            regulatory_domain_arg(bad)


ARG = "cfg80211.ieee80211_regdom=ML"


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (
            "console=tty1 root=PARTUUID=ab-02 rootwait\n",
            f"console=tty1 root=PARTUUID=ab-02 rootwait {ARG}\n",
        ),
        (
            "console=tty1 cfg80211.ieee80211_regdom=GB rootwait\n",
            f"console=tty1 {ARG} rootwait\n",
        ),
        (
            "cfg80211.ieee80211_regdom=GB quiet cfg80211.ieee80211_regdom=US\n",
            f"{ARG} quiet\n",
        ),
        (f"quiet {ARG}\n", f"quiet {ARG}\n"),
        ("console=tty1\nrootwait\n", f"console=tty1 rootwait {ARG}\n"),  # back to one line
        ("", f"{ARG}\n"),
    ],
)
def test_add_kernel_arg(cmdline, expected):
    out = add_kernel_arg(cmdline, ARG)
    assert out == expected
    assert out.count("\n") == 1
    assert add_kernel_arg(out, ARG) == out  # idempotent


def test_add_kernel_arg_keeps_similar_names_and_refuses_spaces():
    out = add_kernel_arg("cfg80211.ieee80211_regdom_x=1\n", ARG)
    assert out == f"cfg80211.ieee80211_regdom_x=1 {ARG}\n"
    with pytest.raises(HotspotConfigError, match="one word"):
        add_kernel_arg("quiet\n", "a b")


# -- QR code -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ssid", "psk", "payload"),
    [
        ("CSCom", PSK, f"WIFI:T:WPA;S:CSCom;P:{PSK};;"),
        ("a;b", "c,d:e", "WIFI:T:WPA;S:a\\;b;P:c\\,d\\:e;;"),
        ('say "hi"', "back\\slash", 'WIFI:T:WPA;S:say \\"hi\\";P:back\\\\slash;;'),
        ("Santé", "x y", "WIFI:T:WPA;S:Santé;P:x y;;"),
    ],
)
def test_wifi_payload_escaping(ssid, psk, payload):
    assert wifi_qr_payload(ssid, psk) == payload
    assert wifi_join_payload(ssid, psk) == payload  # one implementation, in appliance


def test_qr_svg_is_inline_well_formed_and_scalable():
    svg = qr_svg(wifi_qr_payload("CSCom Kalaban", PSK), title="Rejoindre le Wi-Fi")
    assert svg.startswith("<svg") and "<?xml" not in svg
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag in ("svg", f"{ns}svg")
    assert re.fullmatch(r"0 0 \d+ \d+", root.get("viewBox"))
    assert root.get("width") is None and root.get("height") is None
    title = root.find("title") if root.find("title") is not None else root.find(f"{ns}title")
    assert title is not None and title.text == "Rejoindre le Wi-Fi"
    assert "style=" not in svg and "<script" not in svg  # the page's CSP


def test_qr_svg_escapes_its_title():
    svg = qr_svg("WIFI:T:WPA;S:a;P:b;;", title="<b>&")
    ET.fromstring(svg)  # still well-formed
    assert "<b>" not in svg


def test_qr_png_signature_and_scale():
    payload = wifi_qr_payload("CSCom Kalaban", PSK)
    small, big = qr_png(payload, scale=2), qr_png(payload)
    assert small.startswith(b"\x89PNG\r\n\x1a\n") and big.startswith(b"\x89PNG\r\n\x1a\n")
    # IHDR width (bytes 16-20): the symbol's modules plus 2 x 4 quiet zone, times the scale.
    modules = segno.make(payload, error="m").symbol_size(scale=1, border=4)[0]
    assert int.from_bytes(small[16:20], "big") == modules * 2
    assert int.from_bytes(big[16:20], "big") == modules * 8
    with pytest.raises(ValueError, match="scale"):
        qr_png(payload, scale=0)


def test_qr_symbol_is_a_small_regular_qr_code():
    qr = segno.make(wifi_qr_payload("CSCom Kalaban", PSK), error="m")
    assert not qr.is_micro
    assert 1 <= qr.version <= 6  # small enough to scan off a 7" screen at arm's length
    assert qr.error in ("M", "Q", "H")  # segno may raise the level when it costs no size
    assert re.fullmatch(r"\d+-[MQH]", qr.designator)
    with pytest.raises(ValueError, match="nothing"):
        qr_svg("")


# -- passphrase --------------------------------------------------------------------------------
def test_generated_passphrases_follow_the_rules():
    seen = set()
    for _ in range(1000):
        p = generate_passphrase()
        seen.add(p)
        assert len(p.replace("-", "")) >= 12
        assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", p), p
        assert not set(p) & set("0o1li")
        assert set(p.replace("-", "")) <= set(PASSPHRASE_ALPHABET)
        keyfile(psk=p)  # a valid WPA2 passphrase
    assert len(seen) == 1000  # 31^12 possibilities: a repeat means a broken generator
    assert set(PASSPHRASE_ALPHABET) == set("abcdefghjkmnpqrstuvwxyz23456789")
