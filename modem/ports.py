"""Which serial port of the USB stick carries AT commands, which carries PPP, which stick it is.

``/dev/ttyUSBn`` numbers change when the stick is re-plugged or the kernel enumerates it in
another order, so the AT driver is handed udev's stable ``/dev/serial/by-id`` name when one
exists, and a sysfs scan (vendor, product, interface number) otherwise.

Huawei serial-mode sticks expose interface 00 as the modem (PPP data) port, 01 as the
diagnostics port and 02 as the "PC UI" port that answers AT commands and carries unsolicited
result codes while PPP runs on 00. Source: Huawei's Mobile Partner udev rules, quoted on the
Arch Linux wiki page "Huawei E1550 3G modem" (bInterfaceNumber 00 -> ttyUSB_utps_modem,
01 -> ttyUSB_utps_diag, 02 -> ttyUSB_utps_pcui), the same layout the E173 shows in 12d1:140c
mode (ttyUSB0/1/2 on interfaces 1.0/1.1/1.2 in udevadm output of that mode).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "AT_INTERFACE",
    "DATA_INTERFACE",
    "KNOWN_STICKS",
    "UsbStick",
    "find_at_port",
    "find_data_port",
    "find_hilink_interface",
    "scan_sticks",
]

DATA_INTERFACE = 0  # "modem" port: PPP (source: module docstring)
AT_INTERFACE = 2  # "PC UI" port: AT commands and URCs (source: module docstring)

# (idVendor, idProduct) as sysfs prints them -> what the stick is and how it presents itself.
# "storage": still the virtual CD-ROM; usb_modeswitch must switch it before any port exists.
KNOWN_STICKS: dict[tuple[str, str], dict[str, str]] = {
    # E173 / E1550 family in CD-ROM mode; switched to 1436 or 140c. Sources: usb_modeswitch
    # commands in andreas-mausch.de "Surfstick Huawei E173 on Linux" (1446 -> 1436) and the
    # usb_modeswitch forum thread "Huawei E173 (E173u-2)" (1446 -> 140c); libqmi-devel
    # 2012-11 "Huawei E173 12d1:1446 alias 12d1:1436 alias 12d1:140c".
    ("12d1", "1446"): {"model": "Huawei E173/E1550 (CD-ROM mode)", "mode": "storage"},
    ("12d1", "140c"): {"model": "Huawei E173/E1550", "mode": "serial"},
    ("12d1", "1436"): {"model": "Huawei E173", "mode": "serial"},
    # DD-WRT's 3G device table (src/router/libutils/lib3g.c) lists 12d1:14a5 as "Huawei E173".
    ("12d1", "14a5"): {"model": "Huawei E173", "mode": "serial"},
    # E173s: 1c0b (CD-ROM) -> 1c05 (modem). Source: usb_modeswitch forum, "Huawei E173s
    # working config" (DefaultProduct 0x1c0b, TargetProduct 0x1c05).
    ("12d1", "1c0b"): {"model": "Huawei E173s (CD-ROM mode)", "mode": "storage"},
    ("12d1", "1c05"): {"model": "Huawei E173s", "mode": "serial"},
    # HiLink sticks start as 1f01 and switch to a CDC Ethernet device. Sources: usb_modeswitch
    # forum "Huawei E303 modes" (1f01 -> 14dc, cdc_ether; or -> 1001 serial fall-back with
    # three GSM modem ports) and forums.debian.net "Huawei E3131 and usb_modeswitch" (14db).
    ("12d1", "1f01"): {"model": "Huawei HiLink E303/E3131 (CD-ROM mode)", "mode": "storage"},
    ("12d1", "14dc"): {"model": "Huawei E303 (HiLink)", "mode": "hilink"},
    ("12d1", "14db"): {"model": "Huawei E3131 (HiLink)", "mode": "hilink"},
    ("12d1", "1001"): {"model": "Huawei E169/E620/E800/E303 (serial)", "mode": "serial"},
    # DD-WRT lib3g.c: 19d2:2000 "ONDA MT505UP/ZTE (cdrom mode)".
    ("19d2", "2000"): {"model": "ZTE (CD-ROM mode)", "mode": "storage"},
}

_BY_ID_INTERFACE = re.compile(r"-if(?P<number>[0-9a-fA-F]{2})-port\d+$")


@dataclass(frozen=True)
class UsbStick:
    """A known stick seen on the USB bus; ``needs_modeswitch`` when it is still a CD-ROM."""

    vendor: str
    product: str
    model: str
    mode: str
    sys_path: str

    @property
    def needs_modeswitch(self) -> bool:
        return self.mode == "storage"

    def explain(self) -> str:
        if self.needs_modeswitch:
            return (
                f"{self.model} ({self.vendor}:{self.product}) is in CD-ROM mode: usb_modeswitch "
                "must switch it to modem mode (is the usb-modeswitch package installed?)"
            )
        return f"{self.model} ({self.vendor}:{self.product}) in {self.mode} mode"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _usb_ids_above(path: Path) -> tuple[str, str, int | None] | None:
    """Vendor, product and interface number of the USB device/interface holding ``path``.

    Real sysfs: .../usb1/1-1/1-1:1.2/ttyUSB2 -- the interface folder has bInterfaceNumber,
    its parent (the device) has idVendor and idProduct."""
    interface: int | None = None
    for folder in [path, *path.parents]:
        if interface is None:
            number = _read(folder / "bInterfaceNumber")
            if number is not None:
                try:
                    interface = int(number, 16)
                except ValueError:
                    interface = None
        vendor = _read(folder / "idVendor")
        if vendor is not None:
            product = _read(folder / "idProduct") or ""
            return vendor.lower(), product.lower(), interface
        if folder.name in ("devices", "") or folder == folder.parent:
            break
    return None


def _tty_usb_ids(tty: str, sys_root: Path) -> tuple[str, str, int | None] | None:
    link = sys_root / "bus" / "usb-serial" / "devices" / tty
    if not link.exists():
        return None
    return _usb_ids_above(link.resolve())


def _serial_port(interface: int, *, by_id: Path, sys_root: Path) -> str | None:
    for name in sorted(os.listdir(by_id)) if by_id.is_dir() else []:
        match = _BY_ID_INTERFACE.search(name)
        if match is None or int(match["number"], 16) != interface:
            continue
        try:
            tty = Path(os.readlink(by_id / name)).name
        except OSError:
            tty = name
        ids = _tty_usb_ids(tty, sys_root)
        if ids is not None:
            stick = KNOWN_STICKS.get(ids[:2])
            if stick is not None and stick["mode"] == "serial":
                return str(by_id / name)
        elif "huawei" in name.lower():
            # sysfs not readable (container, tests): trust udev's name for a Huawei stick.
            return str(by_id / name)
    serial_devices = sys_root / "bus" / "usb-serial" / "devices"
    for tty in sorted(os.listdir(serial_devices)) if serial_devices.is_dir() else []:
        ids = _tty_usb_ids(tty, sys_root)
        if ids is None:
            continue
        stick = KNOWN_STICKS.get(ids[:2])
        if stick is not None and stick["mode"] == "serial" and ids[2] == interface:
            return f"/dev/{tty}"
    return None


def find_at_port(
    *, by_id: Path = Path("/dev/serial/by-id"), sys_root: Path = Path("/sys")
) -> str | None:
    """The stick's AT ("PC UI") port: the by-id path if udev made one, else ``/dev/ttyUSBn``."""
    return _serial_port(AT_INTERFACE, by_id=by_id, sys_root=sys_root)


def find_data_port(
    *, by_id: Path = Path("/dev/serial/by-id"), sys_root: Path = Path("/sys")
) -> str | None:
    """The stick's modem port, the one pppd dials on."""
    return _serial_port(DATA_INTERFACE, by_id=by_id, sys_root=sys_root)


def scan_sticks(*, sys_root: Path = Path("/sys")) -> list[UsbStick]:
    """Known sticks on the USB bus, so status can say "needs usb_modeswitch" instead of
    "no modem"."""
    devices = sys_root / "bus" / "usb" / "devices"
    found: list[UsbStick] = []
    for name in sorted(os.listdir(devices)) if devices.is_dir() else []:
        folder = devices / name
        vendor, product = _read(folder / "idVendor"), _read(folder / "idProduct")
        if vendor is None or product is None:
            continue
        stick = KNOWN_STICKS.get((vendor.lower(), product.lower()))
        if stick is not None:
            found.append(
                UsbStick(vendor.lower(), product.lower(), stick["model"], stick["mode"], name)
            )
    return found


def find_hilink_interface(*, sys_root: Path = Path("/sys")) -> str | None:
    """The network interface (eth1, usb0, enx...) of a HiLink stick, or None."""
    net = sys_root / "class" / "net"
    for name in sorted(os.listdir(net)) if net.is_dir() else []:
        ids = _usb_ids_above((net / name).resolve())
        if ids is None:
            continue
        stick = KNOWN_STICKS.get(ids[:2])
        if stick is not None and stick["mode"] == "hilink":
            return name
    return None
