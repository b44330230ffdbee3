"""Port discovery over a fake /dev/serial/by-id and a fake sysfs tree laid out like the kernel's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modem.ports import (
    KNOWN_STICKS,
    find_at_port,
    find_data_port,
    find_hilink_interface,
    scan_sticks,
)

BY_ID_PREFIX = "usb-HUAWEI_Technology_HUAWEI_Mobile"


def add_usb_device(sys_root: Path, bus_id: str, vendor: str, product: str) -> Path:
    device = sys_root / "devices" / "platform" / "usb1" / bus_id
    device.mkdir(parents=True)
    (device / "idVendor").write_text(vendor + "\n")
    (device / "idProduct").write_text(product + "\n")
    bus = sys_root / "bus" / "usb" / "devices"
    bus.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(device, bus), bus / bus_id)
    return device


def add_tty(sys_root: Path, device: Path, interface: int, tty: str) -> None:
    """ttyUSBn under <device>/<device>:1.<interface>, linked from bus/usb-serial/devices."""
    folder = device / f"{device.name}:1.{interface}"
    folder.mkdir()
    (folder / "bInterfaceNumber").write_text(f"{interface:02x}\n")
    (folder / tty).mkdir()
    serial = sys_root / "bus" / "usb-serial" / "devices"
    serial.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(folder / tty, serial), serial / tty)


def add_net(sys_root: Path, device: Path, interface: int, ifname: str) -> None:
    folder = device / f"{device.name}:1.{interface}"
    folder.mkdir()
    (folder / "bInterfaceNumber").write_text(f"{interface:02x}\n")
    (folder / "net" / ifname).mkdir(parents=True)
    net = sys_root / "class" / "net"
    net.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(folder / "net" / ifname, net), net / ifname)


def e173(sys_root: Path, *, first_tty: int = 0) -> None:
    device = add_usb_device(sys_root, "1-1", "12d1", "140c")
    for interface in range(3):
        add_tty(sys_root, device, interface, f"ttyUSB{first_tty + interface}")


@pytest.fixture
def by_id(tmp_path: Path) -> Path:
    folder = tmp_path / "dev" / "serial" / "by-id"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def sys_root(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    root.mkdir()
    return root


def test_by_id_names_win_and_point_at_pc_ui_and_modem_interfaces(by_id: Path, sys_root: Path):
    e173(sys_root, first_tty=3)  # re-enumerated: ttyUSB3..5
    for interface in range(3):
        os.symlink(f"../../ttyUSB{3 + interface}", by_id / f"{BY_ID_PREFIX}-if0{interface}-port0")
    assert find_at_port(by_id=by_id, sys_root=sys_root) == str(by_id / f"{BY_ID_PREFIX}-if02-port0")
    assert find_data_port(by_id=by_id, sys_root=sys_root) == str(
        by_id / f"{BY_ID_PREFIX}-if00-port0"
    )


def test_by_id_without_readable_sysfs_trusts_a_huawei_name(by_id: Path, sys_root: Path):
    os.symlink("../../ttyUSB2", by_id / f"{BY_ID_PREFIX}-if02-port0")
    os.symlink("../../ttyACM0", by_id / "usb-Arduino_Uno_1234-if00")
    assert find_at_port(by_id=by_id, sys_root=sys_root) == str(by_id / f"{BY_ID_PREFIX}-if02-port0")
    assert find_data_port(by_id=by_id, sys_root=sys_root) is None


def test_by_id_entry_of_an_unknown_usb_serial_device_is_ignored(by_id: Path, sys_root: Path):
    device = add_usb_device(sys_root, "1-2", "0403", "6001")  # an FTDI cable, not a modem
    add_tty(sys_root, device, 2, "ttyUSB0")
    os.symlink("../../ttyUSB0", by_id / "usb-FTDI_FT232R-if02-port0")
    assert find_at_port(by_id=by_id, sys_root=sys_root) is None


def test_sysfs_fallback_reads_vendor_product_and_interface(by_id: Path, sys_root: Path):
    e173(sys_root)
    assert find_at_port(by_id=by_id, sys_root=sys_root) == "/dev/ttyUSB2"
    assert find_data_port(by_id=by_id, sys_root=sys_root) == "/dev/ttyUSB0"


def test_missing_by_id_folder_still_falls_back(tmp_path: Path, sys_root: Path):
    e173(sys_root, first_tty=7)
    assert find_at_port(by_id=tmp_path / "absent", sys_root=sys_root) == "/dev/ttyUSB9"


def test_no_stick_means_none(by_id: Path, sys_root: Path):
    assert find_at_port(by_id=by_id, sys_root=sys_root) is None
    assert find_data_port(by_id=by_id, sys_root=sys_root) is None
    assert find_hilink_interface(sys_root=sys_root) is None
    assert scan_sticks(sys_root=sys_root) == []


def test_storage_mode_stick_is_reported_as_needing_usb_modeswitch(by_id: Path, sys_root: Path):
    add_usb_device(sys_root, "1-1", "12d1", "1446")
    sticks = scan_sticks(sys_root=sys_root)
    assert [(s.vendor, s.product, s.needs_modeswitch) for s in sticks] == [("12d1", "1446", True)]
    assert "usb_modeswitch" in sticks[0].explain()
    assert find_at_port(by_id=by_id, sys_root=sys_root) is None


def test_serial_mode_stick_does_not_need_usb_modeswitch(sys_root: Path):
    e173(sys_root)
    (stick,) = scan_sticks(sys_root=sys_root)
    assert not stick.needs_modeswitch
    assert stick.mode == "serial"


def test_hilink_interface_found_by_usb_ids(sys_root: Path):
    device = add_usb_device(sys_root, "1-1", "12d1", "14dc")
    add_net(sys_root, device, 0, "eth1")
    wifi = add_usb_device(sys_root, "1-2", "0bda", "8179")
    add_net(sys_root, wifi, 0, "wlan1")
    assert find_hilink_interface(sys_root=sys_root) == "eth1"


def test_network_interface_of_a_serial_stick_is_not_hilink(sys_root: Path):
    device = add_usb_device(sys_root, "1-1", "12d1", "1436")  # E173 also has a cdc_ether
    add_net(sys_root, device, 1, "usb0")
    assert find_hilink_interface(sys_root=sys_root) is None


def test_known_sticks_table_is_well_formed():
    for (vendor, product), entry in KNOWN_STICKS.items():
        assert len(vendor) == 4 and len(product) == 4
        assert vendor == vendor.lower() and product == product.lower()
        assert entry["mode"] in {"serial", "hilink", "storage"}
        assert entry["model"]
