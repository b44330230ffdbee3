"""The data link: one small interface over the ways a USB stick gets the Pi online.

Backends: :class:`ModemManagerLink` (ModemManager + NetworkManager, the normal case on
Debian bookworm), :class:`PppLink` (pppd + chat, the fallback when ModemManager is not
running), :class:`HiLinkLink` (sticks that are a USB network card with an HTTP API) and
:class:`SimulatedLink` (tests, soak runs and the laptop demo). :func:`choose_link` picks one.

Nothing here owns the AT port: the AT driver keeps it for SMS and signal while a link runs.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import random
import shlex
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from modem.apn import Apn, check_credential
from modem.errors import ConfigurationError, ModemError, ModemGone, ModemTimeout
from modem.ports import find_data_port, find_hilink_interface

__all__ = [
    "DataLink",
    "HiLinkError",
    "HiLinkLink",
    "LinkError",
    "LinkStatus",
    "ModemManagerLink",
    "PppLink",
    "SimulatedLink",
    "chat_script",
    "choose_link",
    "flaky_schedule",
    "nm_connection_keyfile",
    "parse_mmcli_modem",
    "ppp_peer_file",
    "ppp_secrets_text",
]

Runner = Callable[..., subprocess.CompletedProcess[str]]


@dataclass
class LinkStatus:
    """What the kiosk and ``keneya modem status`` show about the link."""

    backend: str
    up: bool
    interface: str | None = None
    operator: str | None = None
    mcc_mnc: str | None = None
    signal_dbm: int | None = None
    registration: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LinkError(ModemError):
    """An external command of a link backend (nmcli, mmcli, pppd) failed."""

    def __init__(self, message: str, *, command: Sequence[str] = (), returncode: int = 0):
        self.command = list(command)
        self.returncode = returncode
        super().__init__(message)


class DataLink(ABC):
    """Bring the data connection up and down and say how it is. Every backend is a resource."""

    name: str = "link"
    # True when the backend holds the whole stick (ModemManager, a HiLink's own firmware), so
    # Keneya's AT driver must not open a port of it and reads status from the link instead.
    owns_modem: bool = False

    @abstractmethod
    def up(self, *, timeout_s: float = 60) -> bool:
        """Connect; True once the link carries traffic, False if it did not come up in time."""

    @abstractmethod
    def down(self) -> None:
        """Disconnect; a link already down is not an error."""

    @abstractmethod
    def is_up(self) -> bool: ...

    @abstractmethod
    def status(self) -> LinkStatus: ...

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release what the backend holds (nothing by default; the link stays as it is)."""

    def __enter__(self) -> DataLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_apn(apn: str | Apn | None) -> str:
    # An APN is a DNS-style label list (3GPP TS 23.003 §9.1); anything with quotes, spaces or
    # line breaks would break the chat script or the keyfile it is written into.
    if isinstance(apn, Apn):
        apn = apn.name
    if apn is None:
        raise ConfigurationError("no APN: set [modem] apn or wait until the network is known")
    if not apn or any(c in apn for c in "\"'\\\n\r\t ") or len(apn) > 100:
        raise ConfigurationError(f"invalid APN {apn!r}")
    return apn


def _as_apn(apn: str | Apn | None) -> Apn | None:
    """An APN name alone (the tests, an old caller) is an APN without credentials."""
    if apn is None:
        return None
    settings = apn if isinstance(apn, Apn) else Apn(apn)
    _check_apn(settings.name)
    check_credential("username", settings.username)
    check_credential("password", settings.password)
    return settings


class _SettableApn:
    """The `apn` of a link that writes it into a profile: settable later (the daemon learns
    it from the network found), an APN name alone is taken as one without credentials, and
    every value is checked as it is set."""

    _apn: Apn | None

    @property
    def apn(self) -> Apn | None:
        return self._apn

    @apn.setter
    def apn(self, value: str | Apn | None) -> None:
        self._apn = _as_apn(value)


# pppd(8) / nm-settings-nmcli(5) [ppp]: what a stated method refuses. With "pap-or-chap" both
# stay allowed and the network picks; "none" sends no credentials at all.
_REFUSE = {
    "pap": ("chap", "eap", "mschap", "mschapv2"),
    "chap": ("eap", "mschap", "mschapv2", "pap"),
}


def _run_command(
    run: Runner, args: Sequence[str], *, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """Run one external command; a missing program or a hang becomes a modem error."""
    try:
        return run(list(args), capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError as exc:
        raise ConfigurationError(f"{args[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise ModemTimeout(f"{' '.join(args)} did not finish in {timeout_s:g} s") from exc


def write_private(path: Path, text: str) -> None:
    """Write a root-only file (mode 0600 from its first byte) whole, then rename it into
    place: a power cut leaves the old file or the new one, never half of either."""
    tmp = path.with_name(path.name + ".tmp")  # NetworkManager skips *.tmp
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)  # an older tmp file keeps its mode through O_CREAT
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------- ModemManager + NetworkManager


def nm_connection_keyfile(
    apn: str | Apn, *, name: str = "keneya-3g", sim_pin: str | None = None
) -> str:
    """NetworkManager keyfile text (/etc/NetworkManager/system-connections/<name>.nmconnection,
    mode 0600) for a mobile broadband connection.

    Keys from nm-settings-keyfile(5) and nm-settings-nmcli(5): [connection] id/uuid/type
    ("gsm" names the setting), autoconnect=false so only Keneya decides when money is spent;
    [gsm] apn, username, password with password-flags=0 (kept in this root-only file, not
    asked from a secret agent: there is nobody to ask) and pin; [ppp] refuse-* for a stated
    PAP or CHAP (ModemManager's allowed-auth); [ipv4] method=auto; [ipv6] method=ignore
    (Keneya asks for an IPv4 "IP" PDP context, as the pppd fallback does)."""
    settings = _as_apn(apn)
    assert settings is not None
    if sim_pin is not None and not (sim_pin.isdigit() and 4 <= len(sim_pin) <= 8):
        # 3GPP TS 31.101 §9.9: a PIN is 4 to 8 digits.
        raise ConfigurationError("the SIM PIN must be 4 to 8 digits")
    # Same name -> same uuid, so rewriting the file on every boot does not create a new
    # connection profile each time.
    connection_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"keneya:nm-connection:{name}")
    lines = [
        "[connection]",
        f"id={name}",
        f"uuid={connection_uuid}",
        "type=gsm",
        "autoconnect=false",
        "",
        "[gsm]",
        f"apn={settings.name}",
    ]
    if settings.sends_credentials:
        lines += [
            f"username={settings.username}",
            f"password={settings.password}",
            "password-flags=0",
        ]
    if sim_pin is not None:
        lines.append(f"pin={sim_pin}")
    if settings.sends_credentials and settings.auth in _REFUSE:
        lines += ["", "[ppp]"] + [f"refuse-{m}=true" for m in _REFUSE[settings.auth]]
    lines += ["", "[ipv4]", "method=auto", "", "[ipv6]", "method=ignore", ""]
    return "\n".join(lines)


# The profile's properties Keneya decides, with NetworkManager's value when the keyfile leaves
# one out (nm-settings-nmcli(5)); what `nmcli connection show` is compared on.
_NM_MANAGED = {
    "connection.autoconnect": "yes",
    "gsm.apn": "",
    "gsm.username": "",
    "gsm.password": "",
    "gsm.password-flags": "0",
    "gsm.pin": "",
    **{f"ppp.refuse-{m}": "no" for m in ("pap", "chap", "eap", "mschap", "mschapv2")},
    "ipv4.method": "",
    "ipv6.method": "",
}


def _nm_keyfile_values(keyfile: str) -> dict[str, str]:
    """section.key -> value of a keyfile's text (the flat names nmcli uses)."""
    out, section = {}, ""
    for line in keyfile.splitlines():
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif "=" in line:
            key, value = line.split("=", 1)
            out[f"{section}.{key}"] = value
    return out


def _nm_normal(value: str) -> str:
    """nmcli prints booleans as yes/no and flags with their names ("0 (none)")."""
    value = {"true": "yes", "false": "no"}.get(value, value)
    return value.split(" (", 1)[0]


def nmcli_add_args(keyfile: str) -> list[str]:
    """`nmcli connection add` arguments that make the profile `keyfile` describes, for a
    process that may not write /etc/NetworkManager (NetworkManager writes it, polkit's
    org.freedesktop.NetworkManager.settings.modify.system allowing). `ifname *`: any modem,
    as the keyfile's missing interface-name says."""
    values = _nm_keyfile_values(keyfile)
    args = ["connection", "add", "type", values.pop("connection.type")]
    args += ["con-name", values.pop("connection.id"), "ifname", "*"]
    for name, value in values.items():
        args += [name, value]
    return args


def _unescape_terse(value: str) -> str:
    # nmcli --terse escapes ':' and '\\' in values with a backslash (nmcli(1), --terse)
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            i += 1
        out.append(value[i])
        i += 1
    return "".join(out)


def _mm_value(value: Any) -> Any:
    # mmcli prints "--" for an empty property (mmcli -J output, ModemManager 1.x).
    return None if value in ("--", "", None) else value


def _csq_percent_to_dbm(percent: int) -> int:
    # ModemManager reports +CSQ as a percentage of 31 (quality * 100 / 31); 3GPP TS 27.007
    # §8.5 maps <rssi> 0..31 to -113..-51 dBm in 2 dB steps. So the dBm is an estimate.
    csq = round(max(0, min(100, percent)) * 31 / 100)
    return -113 + 2 * csq


def parse_mmcli_modem(data: dict[str, Any], *, interface: str | None = None) -> LinkStatus:
    """LinkStatus from ``mmcli -J -m <modem>`` output ({"modem": {"generic": ..., "3gpp": ...}})."""
    modem = data.get("modem") or {}
    generic = modem.get("generic") or {}
    gpp = modem.get("3gpp") or {}
    state = _mm_value(generic.get("state"))
    quality = _mm_value((generic.get("signal-quality") or {}).get("value"))
    signal_dbm = None
    if quality is not None:
        try:
            signal_dbm = _csq_percent_to_dbm(int(quality))
        except ValueError:
            signal_dbm = None
    technologies = [t for t in generic.get("access-technologies") or [] if _mm_value(t)]
    detail_parts = [
        f"state {state}" if state else None,
        f"quality {quality}%" if quality is not None else None,
        "/".join(technologies) or None,
        " ".join(
            p
            for p in (_mm_value(generic.get("manufacturer")), _mm_value(generic.get("model")))
            if p
        )
        or None,
        f"port {_mm_value(generic.get('primary-port'))}"
        if _mm_value(generic.get("primary-port"))
        else None,
    ]
    up = state == "connected"
    return LinkStatus(
        backend="modemmanager",
        up=up,
        interface=interface if up else None,
        operator=_mm_value(gpp.get("operator-name")),
        mcc_mnc=_mm_value(gpp.get("operator-code")),
        signal_dbm=signal_dbm,
        registration=_mm_value(gpp.get("registration-state")),
        detail=", ".join(p for p in detail_parts if p) or None,
    )


# nmcli(1) "EXIT STATUS": 3 timeout expired, 4 activation failed, 5 deactivation failed,
# 8 NetworkManager not running, 10 connection, device or access point does not exist.
_NMCLI_TIMEOUT, _NMCLI_NOT_RUNNING, _NMCLI_NO_SUCH = 3, 8, 10


class ModemManagerLink(_SettableApn, DataLink):
    """Status from ``mmcli -J``, connect and disconnect through a NetworkManager profile.

    The profile comes from :func:`nm_connection_keyfile`; NetworkManager asks ModemManager to
    dial, so this class never opens a serial port."""

    name = "modemmanager"
    owns_modem = True  # ModemManager probes and keeps the stick's AT ports
    CONNECTIONS_DIR = Path("/etc/NetworkManager/system-connections")

    def __init__(
        self,
        *,
        connection: str = "keneya-3g",
        apn: str | None = None,
        run: Runner = subprocess.run,
        modem: str = "any",
        command_timeout_s: float = 20.0,
        connections_dir: Path | None = None,
    ) -> None:
        self.connection = connection
        self.apn = apn  # only the keyfile needs it
        self.modem = modem
        self.command_timeout_s = command_timeout_s
        self.connections_dir = connections_dir or self.CONNECTIONS_DIR
        self._run = run

    def ensure_profile(self) -> bool:
        """Write the NetworkManager profile for the APN in use when it is missing or names
        another APN or credentials (the network found decides them), then have NetworkManager
        reload. The file is root's, 0600 (it holds the APN password and may hold the SIM PIN),
        written whole then renamed. True when it changed."""
        if self.apn is None:
            raise ConfigurationError("no APN yet: the network has not been identified")
        path = self.connections_dir / f"{self.connection}.nmconnection"
        text = self.keyfile()
        if not os.access(self.connections_dir, os.W_OK):
            # the appliance's keneya user: NetworkManager writes the profile itself
            return self._ensure_profile_by_nmcli(text)
        try:
            if path.read_text(encoding="utf-8") == text:
                return False
        except FileNotFoundError:
            pass
        write_private(path, text)
        args = ["nmcli", "connection", "reload"]
        result = _run_command(self._run, args, timeout_s=self.command_timeout_s)
        if result.returncode != 0:
            message = (result.stderr or result.stdout or "").strip()
            raise LinkError(f"NetworkManager did not reload: {message}", command=args)
        return True

    def _ensure_profile_by_nmcli(self, text: str) -> bool:
        """The profile through NetworkManager's D-Bus API (nmcli): left alone when its managed
        properties already hold these values, otherwise deleted and added again whole (a
        modify would keep properties the new APN no longer sets). True when it changed."""
        wanted = _nm_keyfile_values(text)
        expected = {k: _nm_normal(wanted.get(k, default)) for k, default in _NM_MANAGED.items()}
        show = ["nmcli", "--show-secrets", "--terse", "--mode", "multiline"]
        show += ["--fields", ",".join(_NM_MANAGED), "connection", "show", "id", self.connection]
        found = _run_command(self._run, show, timeout_s=self.command_timeout_s)
        if found.returncode == 0:
            have = {}
            for line in (found.stdout or "").splitlines():
                name, _, value = line.partition(":")
                have[name] = _nm_normal(_unescape_terse(value))
            if have == expected:
                return False
            delete = ["nmcli", "connection", "delete", "id", self.connection]
            _run_command(self._run, delete, timeout_s=self.command_timeout_s)
        add = ["nmcli", *nmcli_add_args(text)]
        result = _run_command(self._run, add, timeout_s=self.command_timeout_s)
        if result.returncode != 0:
            message = (result.stderr or result.stdout or "").strip()
            raise LinkError(f"NetworkManager did not take the profile: {message}", command=add[:4])
        return True

    def send_sms(self, number: str, text: str) -> int:
        """An SMS through ModemManager, which holds the AT ports: create it, then send it
        (mmcli(1) "--messaging-create-sms", "--send"). Returns ModemManager's SMS index."""
        if "'" in text or "'" in number or "," in number:
            raise ConfigurationError("an SMS text or number for mmcli may not hold ' or ,")
        create = [
            "mmcli",
            "-m",
            self.modem,
            f"--messaging-create-sms=text='{text}',number='{number}'",
        ]
        result = _run_command(self._run, create, timeout_s=self.command_timeout_s)
        path = (result.stdout or "").strip().split()[-1:] if result.returncode == 0 else []
        if not path or "/SMS/" not in path[0]:
            message = (result.stderr or result.stdout or "").strip()
            raise LinkError(f"ModemManager did not create the SMS: {message}", command=create)
        index = path[0].rsplit("/", 1)[1]
        send = ["mmcli", "-s", index, "--send"]
        result = _run_command(self._run, send, timeout_s=max(60.0, self.command_timeout_s))
        if result.returncode != 0:
            message = (result.stderr or result.stdout or "").strip()
            raise LinkError(f"ModemManager did not send the SMS: {message}", command=send)
        return int(index)

    def keyfile(self, *, sim_pin: str | None = None) -> str:
        if self.apn is None:
            raise ConfigurationError("no APN yet: the network has not been identified")
        return nm_connection_keyfile(self.apn, name=self.connection, sim_pin=sim_pin)

    def modem_json(self) -> dict[str, Any]:
        args = ["mmcli", "-J", "-m", self.modem]
        result = _run_command(self._run, args, timeout_s=self.command_timeout_s)
        if result.returncode != 0:
            text = (result.stderr or result.stdout or "").strip()
            if "couldn't find" in text.lower() or "no modems" in text.lower():
                raise ModemGone(f"ModemManager sees no modem: {text}")
            raise LinkError(f"mmcli failed: {text}", command=args, returncode=result.returncode)
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise LinkError(f"mmcli printed no JSON: {exc}", command=args) from exc

    def _bearer_interface(self, data: dict[str, Any]) -> str | None:
        """The network interface of the connected bearer (ppp0 for a PPP-only stick)."""
        bearers = ((data.get("modem") or {}).get("generic") or {}).get("bearers") or []
        for bearer in bearers:
            try:
                result = _run_command(
                    self._run, ["mmcli", "-J", "-b", bearer], timeout_s=self.command_timeout_s
                )
                info = json.loads(result.stdout) if result.returncode == 0 else {}
            except (ModemError, json.JSONDecodeError):
                continue
            bearer_status = (info.get("bearer") or {}).get("status") or {}
            if bearer_status.get("connected") == "yes":
                return _mm_value(bearer_status.get("interface"))
        return None

    def status(self) -> LinkStatus:
        data = self.modem_json()
        status = parse_mmcli_modem(data)
        if status.up:
            status.interface = self._bearer_interface(data)
        return status

    def is_up(self) -> bool:
        return self.status().up

    def _nmcli(self, verb: str, *, wait_s: float) -> subprocess.CompletedProcess[str]:
        args = ["nmcli", "--wait", str(round(wait_s)), "connection", verb, "id", self.connection]
        return _run_command(self._run, args, timeout_s=wait_s + self.command_timeout_s)

    def up(self, *, timeout_s: float = 60) -> bool:
        if self.apn is not None:
            self.ensure_profile()
        result = self._nmcli("up", wait_s=timeout_s)
        if result.returncode == 0:
            return True
        message = (result.stderr or result.stdout or "").strip()
        command = ["nmcli", "connection", "up", "id", self.connection]
        if result.returncode == _NMCLI_TIMEOUT:
            return False
        if result.returncode == _NMCLI_NOT_RUNNING:
            raise ConfigurationError(f"NetworkManager is not running: {message}")
        if result.returncode == _NMCLI_NO_SUCH:
            raise ConfigurationError(
                f"NetworkManager has no connection {self.connection!r}: write its keyfile "
                f"first ({message})"
            )
        raise LinkError(
            f"could not connect {self.connection!r}: {message}",
            command=command,
            returncode=result.returncode,
        )

    def down(self) -> None:
        result = self._nmcli("down", wait_s=self.command_timeout_s)
        # 10: "not an active connection" -- already down, which is what was asked.
        if result.returncode in (0, _NMCLI_NO_SUCH):
            return
        message = (result.stderr or result.stdout or "").strip()
        if result.returncode == _NMCLI_NOT_RUNNING:
            raise ConfigurationError(f"NetworkManager is not running: {message}")
        raise LinkError(
            f"could not disconnect {self.connection!r}: {message}",
            command=["nmcli", "connection", "down", "id", self.connection],
            returncode=result.returncode,
        )


def modemmanager_sees_modem(*, run: Runner = subprocess.run, timeout_s: float = 10.0) -> bool:
    """True when ModemManager runs and lists at least one modem (``mmcli -J -L``)."""
    try:
        result = _run_command(run, ["mmcli", "-J", "-L"], timeout_s=timeout_s)
    except ModemError:
        return False
    if result.returncode != 0:
        return False
    try:
        return bool(json.loads(result.stdout).get("modem-list"))
    except (json.JSONDecodeError, AttributeError):
        return False


# ---------------------------------------------------------------- pppd + chat


def chat_script(apn: str | Apn) -> str:
    """chat(8) script: abort on the modem's failure words, define PDP context 1 (3GPP TS 27.007
    §10.1.1 +CGDCONT) and dial the packet service (*99#, 3GPP TS 27.007 §10.2.1.1)."""
    apn = _check_apn(apn)
    return "\n".join(
        [
            "ABORT 'BUSY'",
            "ABORT 'NO CARRIER'",
            "ABORT 'NO DIALTONE'",
            "ABORT 'ERROR'",
            "ABORT 'NO ANSWER'",
            "TIMEOUT 30",
            "'' AT",
            f'OK \'AT+CGDCONT=1,"IP","{apn}"\'',
            "OK ATD*99#",
            "CONNECT ''",
            "",
        ]
    )


def ppp_peer_file(
    device: str,
    apn: str | Apn,
    *,
    chat_path: str | Path,
    lcp_echo_interval_s: int = 30,
    lcp_echo_failure: int = 4,
    peer: str = "keneya",
) -> str:
    """/etc/ppp/peers/keneya: options from pppd(8). ``nopersist``: Keneya redials itself, when
    it has something to send. LCP echoes every 30 s, four missed = dead link, so a silent
    drop is noticed in about two minutes. ``replacedefaultroute`` is Debian's pppd option.

    With credentials: ``user`` names them, ``remotename`` ties the lookup to this peer's own
    line in pap-secrets/chap-secrets (:func:`ppp_secrets_text`), and a stated PAP or CHAP
    refuses the other methods. ``noauth`` stays: the network is not asked to prove itself."""
    settings = _as_apn(apn)
    assert settings is not None
    auth_lines = []
    if settings.sends_credentials:
        auth_lines = [f'user "{settings.username}"', f"remotename {peer}"]
        auth_lines += [f"refuse-{m}" for m in _REFUSE.get(settings.auth, ())]
    return "\n".join(
        [
            f"# Keneya 3G data link, APN {settings.name}: written by modem.link, do not edit",
            device,
            "460800",
            "noauth",
            "defaultroute",
            "replacedefaultroute",
            "usepeerdns",
            "nopersist",
            "noipdefault",
            f"lcp-echo-interval {lcp_echo_interval_s}",
            f"lcp-echo-failure {lcp_echo_failure}",
            *auth_lines,
            f'connect "/usr/sbin/chat -v -f {chat_path}"',
            "",
        ]
    )


SECRETS_FILES = {"pap": "pap-secrets", "chap": "chap-secrets"}
_SECRETS_MARK = "# Keneya 3G data link: the next line is written by modem.link"


def ppp_secrets_text(existing: str, apn: Apn | None, *, method: str, peer: str = "keneya") -> str:
    """pap-secrets or chap-secrets (pppd(8) "AUTHENTICATION": client, server, secret, addresses)
    with this peer's line replaced: the other lines of the file (Debian's comments, another
    peer's) are kept as they are. The line is there only when the APN's auth allows `method`
    ("pap-or-chap" puts it in both files)."""
    kept = []
    lines = existing.splitlines()
    for line in lines:
        if line.strip() == _SECRETS_MARK:
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = []
        if len(words) >= 2 and words[1] == peer:
            continue  # ours, from an earlier APN
        kept.append(line)
    if apn is not None and apn.sends_credentials and apn.auth in (method, "pap-or-chap"):
        kept += [_SECRETS_MARK, f'"{apn.username}"\t{peer}\t"{apn.password}"\t*']
    return "\n".join(kept) + "\n" if kept else ""


class PppLink(_SettableApn, DataLink):
    """pppd on the stick's modem port; up when ppp0 appears in sysfs."""

    name = "ppp"

    def __init__(
        self,
        *,
        device: str,
        apn: str | Apn | None,
        peers_dir: Path = Path("/etc/ppp/peers"),
        secrets_dir: Path | None = None,
        run: Runner = subprocess.run,
        sys_class_net: Path = Path("/sys/class/net"),
        pid_dir: Path = Path("/run"),
        peer: str = "keneya",
        interface: str = "ppp0",
        kill: Callable[[int, int], None] = os.kill,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval_s: float = 0.25,
    ) -> None:
        self.device = device
        self.apn = apn  # settable: the daemon learns it
        self.peers_dir = Path(peers_dir)
        # pap-secrets and chap-secrets live in /etc/ppp, the parent of /etc/ppp/peers
        self.secrets_dir = Path(secrets_dir) if secrets_dir else self.peers_dir.parent
        self.sys_class_net = Path(sys_class_net)
        self.pid_dir = Path(pid_dir)
        self.peer = peer
        self.interface = interface
        self.poll_interval_s = poll_interval_s
        self._run = run
        self._kill = kill
        self._clock = clock
        self._sleep = sleep

    @property
    def peer_path(self) -> Path:
        return self.peers_dir / self.peer

    @property
    def chat_path(self) -> Path:
        return self.peers_dir / f"{self.peer}.chat"

    def write_config(self) -> None:
        """Write the peer and chat files and this peer's line of pap-secrets and chap-secrets,
        all root-only (0600): the secrets hold the APN password."""
        if self.apn is None:
            raise ConfigurationError("no APN: set [modem] apn or wait until the network is known")
        self.peers_dir.mkdir(parents=True, exist_ok=True)
        peer = ppp_peer_file(self.device, self.apn, chat_path=self.chat_path, peer=self.peer)
        write_private(self.chat_path, chat_script(self.apn))
        write_private(self.peer_path, peer)
        for method, name in SECRETS_FILES.items():
            path = self.secrets_dir / name
            try:
                existing = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                existing = ""
            text = ppp_secrets_text(existing, self.apn, method=method, peer=self.peer)
            if text != existing or (path.exists() and path.stat().st_mode & 0o077):
                write_private(path, text)

    def is_up(self) -> bool:
        folder = self.sys_class_net / self.interface
        if not folder.exists():
            return False
        try:
            operstate = (folder / "operstate").read_text().strip()
        except OSError:
            return False
        # The kernel's ppp driver reports "unknown" (it has no carrier notion) once the
        # interface is up; "down" or "dormant" means not carrying traffic.
        return operstate in ("up", "unknown")

    def up(self, *, timeout_s: float = 60) -> bool:
        if self.is_up():
            return True
        self.write_config()  # every time: the APN may have changed with the network
        args = ["pppd", "call", self.peer]
        deadline = self._clock() + timeout_s
        try:
            # pppd normally forks into the background at once; bounded anyway in case a
            # build or option keeps it in the foreground until the link is up.
            result = _run_command(self._run, args, timeout_s=timeout_s)
        except ModemTimeout:
            self.down()
            return False
        if result.returncode != 0:
            # pppd(8) "EXIT STATUS": 2 bad options, 3 not setuid root, 4 no ppp in kernel...
            raise LinkError(
                f"pppd call {self.peer} failed (exit {result.returncode}): "
                f"{(result.stderr or '').strip()}",
                command=args,
                returncode=result.returncode,
            )
        while True:
            if self.is_up():
                return True
            if self._clock() >= deadline:
                self.down()  # do not leave a half-dialled pppd holding the port
                return False
            self._sleep(self.poll_interval_s)

    def _pid(self) -> int | None:
        try:
            return int((self.pid_dir / f"{self.interface}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def down(self) -> None:
        pid = self._pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):  # already gone
            self._kill(pid, signal.SIGTERM)  # pppd hangs up cleanly on SIGTERM (pppd(8))

    def status(self) -> LinkStatus:
        up = self.is_up()
        return LinkStatus(
            backend=self.name,
            up=up,
            interface=self.interface if up else None,
            detail=f"pppd on {self.device}",
        )


# ---------------------------------------------------------------- Huawei HiLink


# Error codes of the HiLink web API. Sources: weselow/E3372-HiLink-Api-Docs
# (examples/error-handling.md) and Salamek/huawei-lte-api issues #61 and #187
# (125002 "Session error", 125003 "Wrong Session Token").
HILINK_ERRORS: dict[int, str] = {
    100002: "not available on this stick",
    100003: "not supported",
    100004: "system busy",
    100006: "invalid parameter",
    100008: "wrong password",
    100009: "not logged in",
    108003: "user already logged in",
    108007: "too many users logged in",
    112001: "wrong SIM PIN",
    112002: "SIM PUK required",
    125001: "invalid token",
    125002: "session error (wrong or stale verification token)",
    125003: "wrong session token",
}
_TOKEN_ERRORS = frozenset({125001, 125002, 125003})

# /api/monitoring/status ConnectionStatus (weselow/E3372-HiLink-Api-Docs modules/monitoring.md)
HILINK_CONNECTING, HILINK_CONNECTED, HILINK_DISCONNECTED, HILINK_DISCONNECTING = 900, 901, 902, 903
# CurrentNetworkType codes (same page), the ones a 3G stick reports.
HILINK_NETWORK_TYPES = {
    0: "no service",
    1: "GSM",
    2: "GPRS",
    3: "EDGE",
    4: "WCDMA",
    5: "HSDPA",
    6: "HSUPA",
    7: "HSPA",
    9: "HSPA+",
    19: "LTE",
}


class HiLinkError(ModemError):
    """The stick answered ``<error><code>…</code></error>``."""

    def __init__(self, code: int, path: str) -> None:
        self.code = code
        self.path = path
        meaning = HILINK_ERRORS.get(code, "unknown error")
        super().__init__(f"HiLink {path}: {meaning} (error {code})")


def _xml_fields(root: ET.Element) -> dict[str, str]:
    return {child.tag: (child.text or "").strip() for child in root}


def _dbm(text: str | None) -> int | None:
    """'-69dBm', '>=-51dBm' -> int; '' -> None (the stick leaves unknown values empty)."""
    if not text:
        return None
    digits = text.strip().lstrip("<>=").lower().removesuffix("dbm").removesuffix("db")
    try:
        return round(float(digits))
    except ValueError:
        return None


class HiLinkLink(DataLink):
    """The stick's own web API at 192.168.8.1: it dials, we only ask it to.

    Session dance (as the stick's web UI does it): GET /api/webserver/SesTokInfo gives a
    ``SessionID=…`` cookie and a verification token; a POST carries both (Cookie header and
    ``__RequestVerificationToken``), the token is good for one POST and the reply's
    ``__RequestVerificationToken`` header carries the next one."""

    name = "hilink"
    owns_modem = True  # the stick's firmware dials; there is no AT port to open

    def __init__(
        self,
        *,
        base_url: str = "http://192.168.8.1",
        timeout_s: float = 10,
        opener: urllib.request.OpenerDirector | None = None,
        interface: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval_s: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.interface = interface
        self.poll_interval_s = poll_interval_s
        # No proxy: the stick is on its own USB network, never behind the facility's proxy.
        self._opener = opener or urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._clock = clock
        self._sleep = sleep
        self._session: str | None = None
        self._token: str | None = None

    # -- HTTP

    def _request(
        self, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[ET.Element, dict[str, str]]:
        request = urllib.request.Request(
            self.base_url + path,
            data=body,
            headers=headers or {},
            method="POST" if body is not None else "GET",
        )
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                payload = response.read()
                reply_headers = {k.lower(): v for k, v in response.headers.items()}
        except TimeoutError as exc:
            raise ModemTimeout(f"HiLink {path}: no answer in {self.timeout_s:g} s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ModemTimeout(f"HiLink {path}: no answer in {self.timeout_s:g} s") from exc
            raise ModemGone(f"HiLink stick not reachable at {self.base_url}: {exc.reason}") from exc
        except OSError as exc:
            raise ModemGone(f"HiLink stick not reachable at {self.base_url}: {exc}") from exc
        try:
            root = ET.fromstring(payload)
        except ET.ParseError as exc:
            raise ModemError(f"HiLink {path}: reply is not XML") from exc
        if root.tag == "error":
            code_text = root.findtext("code") or "0"
            raise HiLinkError(int(code_text) if code_text.isdigit() else 0, path)
        return root, reply_headers

    def _refresh_session(self) -> None:
        root, _ = self._request("/api/webserver/SesTokInfo")
        fields = _xml_fields(root)
        self._session = fields.get("SesInfo") or None
        self._token = fields.get("TokInfo") or None

    def _auth_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self._session:
            headers["Cookie"] = self._session
        if self._token:
            headers["__RequestVerificationToken"] = self._token
        return headers

    def get(self, path: str) -> dict[str, str]:
        """GET an /api/... page as a flat dict of its fields."""
        if self._session is None:
            self._refresh_session()
        root, _ = self._request(path, headers=self._auth_headers())
        return _xml_fields(root)

    def post(self, path: str, fields: dict[str, str]) -> str:
        """POST ``<request>…</request>``; a rejected token is renewed and the POST retried once."""
        inner = "".join(f"<{key}>{value}</{key}>" for key, value in fields.items())
        body = f'<?xml version="1.0" encoding="UTF-8"?><request>{inner}</request>'.encode()
        for attempt in (1, 2):
            if self._token is None:
                self._refresh_session()
            headers = self._auth_headers()
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=UTF-8"
            try:
                root, reply_headers = self._request(path, body=body, headers=headers)
            except HiLinkError as exc:
                self._token = None  # spent or wrong either way
                if exc.code in _TOKEN_ERRORS and attempt == 1:
                    continue
                raise
            self._token = reply_headers.get("__requestverificationtoken") or None
            return (root.text or "").strip()
        raise AssertionError("unreachable")  # pragma: no cover

    # -- DataLink

    def connection_status(self) -> int:
        fields = self.get("/api/monitoring/status")
        try:
            return int(fields.get("ConnectionStatus", "0"))
        except ValueError:
            return 0

    def is_up(self) -> bool:
        return self.connection_status() == HILINK_CONNECTED

    def _dial(self, action: int) -> None:
        reply = self.post("/api/dialup/dial", {"Action": str(action)})
        if reply != "OK":
            raise ModemError(f"HiLink dial refused: {reply!r}")

    def _wait_for(self, wanted: int, timeout_s: float) -> bool:
        deadline = self._clock() + timeout_s
        while True:
            state = self.connection_status()
            if state == wanted:
                return True
            if self._clock() >= deadline:
                return False
            self._sleep(self.poll_interval_s)

    def up(self, *, timeout_s: float = 60) -> bool:
        if self.is_up():
            return True
        self._dial(1)
        return self._wait_for(HILINK_CONNECTED, timeout_s)

    def down(self) -> None:
        if self.connection_status() == HILINK_DISCONNECTED:
            return
        self._dial(0)
        self._wait_for(HILINK_DISCONNECTED, self.timeout_s)

    def status(self) -> LinkStatus:
        monitoring = self.get("/api/monitoring/status")
        try:
            signal_fields = self.get("/api/device/signal")
        except HiLinkError:
            signal_fields = {}
        try:
            plmn = self.get("/api/net/current-plmn")
        except HiLinkError:
            plmn = {}
        connection_text = monitoring.get("ConnectionStatus") or ""
        connection = int(connection_text) if connection_text.isdigit() else 0
        network_code = monitoring.get("CurrentNetworkType") or ""
        network = HILINK_NETWORK_TYPES.get(int(network_code)) if network_code.isdigit() else None
        # ServiceStatus 2 = service available; RoamingStatus 1 = roaming (monitoring.md).
        if monitoring.get("ServiceStatus") == "2":
            registration = "roaming" if monitoring.get("RoamingStatus") == "1" else "home"
        elif monitoring.get("ServiceStatus"):
            registration = "searching"
        else:
            registration = None
        bars = monitoring.get("SignalIcon") or monitoring.get("SignalStrength")
        signal_dbm = _dbm(signal_fields.get("rssi")) or _dbm(signal_fields.get("rscp"))
        detail = ", ".join(
            p
            for p in (
                f"ConnectionStatus {connection}",
                network,
                f"{bars}/5 bars" if bars else None,
            )
            if p
        )
        up = connection == HILINK_CONNECTED
        return LinkStatus(
            backend=self.name,
            up=up,
            interface=self.interface,
            operator=plmn.get("FullName") or plmn.get("ShortName") or None,
            mcc_mnc=plmn.get("Numeric") or None,
            signal_dbm=signal_dbm,
            registration=registration,
            detail=detail,
        )

    def close(self) -> None:
        self._session = self._token = None


# ---------------------------------------------------------------- simulation


def flaky_schedule(
    seed: int,
    *,
    mean_up_s: float,
    mean_down_s: float,
    start: float = 0.0,
    starts_up: bool = True,
) -> Callable[[float], bool]:
    """A deterministic "is the network there at time t" function for soak tests: periods of
    coverage and outage alternate, each exponentially distributed around its mean."""
    if mean_up_s <= 0 or mean_down_s <= 0:
        raise ConfigurationError("mean durations must be positive")
    rng = random.Random(seed)
    boundaries: list[float] = [start]  # boundaries[i] starts period i

    def schedule(t: float) -> bool:
        if t < start:
            return starts_up
        while boundaries[-1] <= t:
            period = len(boundaries) - 1
            is_up_period = (period % 2 == 0) == starts_up
            mean = mean_up_s if is_up_period else mean_down_s
            boundaries.append(boundaries[-1] + rng.expovariate(1.0 / mean))
        period = bisect.bisect_right(boundaries, t) - 1
        return (period % 2 == 0) == starts_up

    return schedule


class SimulatedLink(DataLink):
    """A link whose network comes and goes on a schedule; counts what a real one would cost.

    ``seconds_up`` runs from a successful ``up()`` until ``down()`` or until the schedule is
    seen to have dropped the link (the operator bills connected time, the "pays per minute"
    figure the uploader is tuned against)."""

    name = "simulated"

    def __init__(
        self,
        *,
        schedule: Callable[[float], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        operator: str = "Orange MALI",
        mcc_mnc: str = "61002",
        signal_dbm: int = -81,
        interface: str = "ppp0",
    ) -> None:
        self._schedule = schedule or (lambda _t: True)
        self._clock = clock
        self.operator = operator
        self.mcc_mnc = mcc_mnc
        self.signal_dbm = signal_dbm
        self.interface = interface
        self.up_calls = 0
        self.down_calls = 0
        self.drops = 0
        self._up_since: float | None = None
        self._seconds_closed = 0.0

    def _end_session(self, now: float) -> None:
        if self._up_since is not None:
            self._seconds_closed += max(0.0, now - self._up_since)
            self._up_since = None

    def is_up(self) -> bool:
        if self._up_since is None:
            return False
        now = self._clock()
        if not self._schedule(now):
            self.drops += 1
            self._end_session(now)
            return False
        return True

    def up(self, *, timeout_s: float = 60) -> bool:
        self.up_calls += 1
        if self.is_up():
            return True
        now = self._clock()
        if self._schedule(now):
            self._up_since = now
            return True
        return False

    def down(self) -> None:
        self.down_calls += 1
        self._end_session(self._clock())

    @property
    def seconds_up(self) -> float:
        running = self._clock() - self._up_since if self._up_since is not None else 0.0
        return self._seconds_closed + running

    def status(self) -> LinkStatus:
        up = self.is_up()
        coverage = self._schedule(self._clock())
        return LinkStatus(
            backend=self.name,
            up=up,
            interface=self.interface if up else None,
            operator=self.operator if coverage else None,
            mcc_mnc=self.mcc_mnc if coverage else None,
            signal_dbm=self.signal_dbm if coverage else None,
            registration="home" if coverage else "searching",
            detail=f"simulated; {self.up_calls} up, {self.down_calls} down, "
            f"{self.seconds_up:.0f} s connected",
        )


# ---------------------------------------------------------------- choice


LINK_PREFERENCES = ("auto", "modemmanager", "ppp", "hilink")


def choose_link(
    *,
    apn: str | None = None,
    preference: str = "auto",
    device: str | None = None,
    connection: str = "keneya-3g",
    run: Runner = subprocess.run,
    sys_root: Path = Path("/sys"),
    by_id: Path = Path("/dev/serial/by-id"),
    hilink_url: str = "http://192.168.8.1",
    peers_dir: Path = Path("/etc/ppp/peers"),
    pid_dir: Path = Path("/run"),
    may_run_pppd: bool | None = None,
) -> DataLink:
    """The backend for the stick that is plugged in.

    ``preference`` ("auto" unless the facility file says otherwise) forces one backend.
    "auto" tries, in this order:

    1. a HiLink stick's network interface is present -> :class:`HiLinkLink` (its firmware
       dials; ModemManager cannot drive it);
    2. ModemManager runs and lists a modem (``mmcli -J -L``) -> :class:`ModemManagerLink`;
    3. otherwise pppd on ``device`` or, if None, on the stick's modem port -> :class:`PppLink`.

    ``apn`` may be None until the network is known (the daemon sets ``link.apn`` later).
    Raises :class:`ModemGone` when no stick is found for the chosen backend, and instead of 3.
    when pppd cannot run: it needs root (its peers file in /etc/ppp, setuid pppd), which
    keneya-modem, the `keneya` user, does not have (default: whether this process is root). A
    stick ModemManager is still probing (tens of seconds after it appears) is then looked for
    again by the caller, instead of being given to pppd for the daemon's whole life.
    """
    if may_run_pppd is None:
        may_run_pppd = os.geteuid() == 0
    if preference not in LINK_PREFERENCES:
        raise ConfigurationError(f"link must be one of {', '.join(LINK_PREFERENCES)}")
    if preference in ("auto", "hilink"):
        interface = find_hilink_interface(sys_root=sys_root)
        if interface is not None or preference == "hilink":
            return HiLinkLink(base_url=hilink_url, interface=interface)
    if preference == "modemmanager" or (preference == "auto" and modemmanager_sees_modem(run=run)):
        return ModemManagerLink(connection=connection, apn=apn, run=run)
    port = device or find_data_port(by_id=by_id, sys_root=sys_root)
    if port is None:
        raise ModemGone("no 3G stick found: no HiLink interface, no ModemManager modem, no port")
    if not may_run_pppd:
        raise ModemGone(
            f"a stick on {port} that ModemManager does not list (yet); pppd would need root, "
            "which this daemon does not have"
        )
    return PppLink(
        device=port,
        apn=apn,
        peers_dir=peers_dir,
        run=run,
        sys_class_net=sys_root / "class" / "net",
        pid_dir=pid_dir,
    )


class PendingLink(DataLink):
    """No stick was found at start: a daemon that gave up would restart-loop under systemd,
    so this looks again (at most every `retry_s`) whenever it is asked, and passes every call
    to the backend once one is found."""

    name = "none yet"

    def __init__(
        self,
        find: Callable[[], DataLink],
        *,
        retry_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._find = find
        self._retry_s = retry_s
        self._clock = clock
        self._next_try = 0.0
        self.found: DataLink | None = None
        self.apn: str | None = None
        self.why = "no 3G stick found yet"

    @property
    def owns_modem(self) -> bool:  # type: ignore[override]
        return self.found is not None and self.found.owns_modem

    def _backend(self) -> DataLink | None:
        if self.found is None and self._clock() >= self._next_try:
            self._next_try = self._clock() + self._retry_s
            try:
                self.found = self._find()
                self.name = self.found.name
            except ModemError as e:
                self.why = str(e)
        if self.found is not None and self.apn and hasattr(self.found, "apn"):
            self.found.apn = self.apn
        return self.found

    def up(self, *, timeout_s: float = 60) -> bool:
        backend = self._backend()
        return backend.up(timeout_s=timeout_s) if backend else False

    def down(self) -> None:
        if self.found is not None:
            self.found.down()

    def is_up(self) -> bool:
        return self.found.is_up() if self.found is not None else False

    def status(self) -> LinkStatus:
        backend = self._backend()
        if backend is None:
            return LinkStatus(backend=self.name, up=False, detail=self.why)
        return backend.status()

    def close(self) -> None:
        if self.found is not None:
            self.found.close()
