"""The pure parts of the emulated boot test: command lines, cmdline.txt, systemd's console
lines, sizes. No qemu here (the boot itself runs in `make image-test`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from image_build import boottest as bt

PI_CMDLINE = "console=tty0 console=ttyS1,115200 root=LABEL=keneya-root rw fsck.repair=yes rootwait"


# -- cmdline.txt -----------------------------------------------------------------------------
def test_every_console_is_replaced_by_the_emulated_uart():
    out = bt.rewrite_cmdline(PI_CMDLINE + "\n")
    args = out.split()
    assert [a for a in args if a.startswith("console=")] == ["console=ttyAMA0"]
    assert "root=LABEL=keneya-root" in args and "rootwait" in args and "rw" in args


def test_root_is_rewritten_only_when_asked():
    text = "console=serial0,115200 root=/dev/mmcblk0p2 rootwait"
    assert "root=/dev/mmcblk0p2" in bt.rewrite_cmdline(text).split()
    assert "root=/dev/vda2" in bt.rewrite_cmdline(text, root="/dev/vda2").split()
    assert "root=/dev/mmcblk0p2" not in bt.rewrite_cmdline(text, root="/dev/vda2")


def test_extra_arguments_come_last_and_replace_the_same_key():
    text = "root=LABEL=r systemd.show_status=0 quiet"
    out = bt.rewrite_cmdline(text, extra=["modprobe.blacklist=vchiq", "systemd.show_status=1"])
    args = out.split()
    assert args[-2:] == ["modprobe.blacklist=vchiq", "systemd.show_status=1"]
    assert "systemd.show_status=0" not in args and "quiet" in args


def test_config_txt_names_the_kernel_and_initrd():
    config = (
        "# written by raspi-firmware\n"
        "arm_64bit=1\n"
        "[pi4]\nmax_framebuffers=2\n[all]\n"
        "kernel=vmlinuz-6.1.0-57-arm64\n"
        "initramfs initrd.img-6.1.0-57-arm64 followkernel\n"
    )
    assert bt.config_boot_files(config) == ("vmlinuz-6.1.0-57-arm64", "initrd.img-6.1.0-57-arm64")
    assert bt.config_boot_files("arm_64bit=1\n") == (None, None)


def test_the_newest_versioned_kernel_is_picked():
    names = ["config.txt", "vmlinuz", "vmlinuz-6.1.0-9-arm64", "vmlinuz-6.1.0-57-arm64", "keneya/"]
    assert bt.pick_boot_file(names, "vmlinuz") == "vmlinuz-6.1.0-57-arm64"
    assert bt.pick_boot_file(["initrd.img"], "initrd.img") == "initrd.img"
    assert bt.pick_boot_file(["config.txt"], "vmlinuz") is None


# -- qemu command lines -----------------------------------------------------------------------
def _pairs(cmd: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for flag, value in zip(cmd, cmd[1:], strict=False):
        if flag.startswith("-") and not value.startswith("-"):
            out.setdefault(flag, []).append(value)
    return out


def test_virt_command_forwards_the_web_port_and_uses_virtio():
    cmd = bt.virt_command(
        kernel=Path("/w/vmlinuz"),
        initrd=Path("/w/initrd"),
        append="root=LABEL=r console=ttyAMA0",
        disk=Path("/w/virt.img"),
        port=18080,
        log=Path("/w/console.log"),
        monitor=Path("/w/mon.sock"),
    )
    flags = _pairs(cmd)
    assert cmd[0] == "qemu-system-aarch64"
    assert flags["-M"] == ["virt"] and flags["-cpu"] == ["cortex-a72"]
    assert flags["-append"] == ["root=LABEL=r console=ttyAMA0"]  # one argument, spaces kept
    assert flags["-drive"] == ["file=/w/virt.img,format=raw,if=virtio"]
    assert "hostfwd=tcp:127.0.0.1:18080-:80" in flags["-netdev"][0]
    assert flags["-serial"] == ["file:/w/console.log"]
    assert flags["-monitor"] == ["unix:/w/mon.sock,server,nowait"]


def test_virt_command_with_a_stick_has_its_drive_but_does_not_plug_it_in():
    common = dict(
        kernel=Path("k"), initrd=Path("i"), append="a", disk=Path("/w/virt.img"), port=1,
        log=Path("l"), monitor=Path("m"),
    )  # fmt: skip
    without = bt.virt_command(**common)
    assert "qemu-xhci,id=xhci" not in without
    cmd = bt.virt_command(**common, stick=Path("/w/stick.img"))
    flags = _pairs(cmd)
    assert "qemu-xhci,id=xhci" in flags["-device"]
    assert "if=none,id=stick,format=raw,file=/w/stick.img" in flags["-drive"]
    # plugged in later through the monitor (device_add), as a hand would
    assert not any(d.startswith("usb-storage") for d in flags["-device"])


def test_the_stick_partition_table_is_one_fat32_lba_partition():
    from image_build import bootbackup

    script = bootbackup.stick_sfdisk_script(64 << 20)
    assert script.startswith("label: dos\n")
    assert "start=2048, size=129024, type=c" in script


def test_raspi_command_has_the_device_tree_an_sd_card_and_no_network():
    cmd = bt.raspi_command(
        kernel=Path("k"),
        initrd=Path("i"),
        dtb=Path("/w/bcm2837-rpi-3-b.dtb"),
        append="a",
        disk=Path("/w/raspi.img"),
        log=Path("l"),
        monitor=Path("m"),
    )
    flags = _pairs(cmd)
    assert flags["-M"] == ["raspi3b"] and flags["-smp"] == ["4"] and flags["-m"] == ["1G"]
    assert flags["-dtb"] == ["/w/bcm2837-rpi-3-b.dtb"]
    assert flags["-drive"] == ["file=/w/raspi.img,format=raw,if=sd"]
    assert "-netdev" not in flags and not any("hostfwd" in c for c in cmd)


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, 1), (2, 2), (3, 4), (1 << 30, 1 << 30), ((1 << 30) + 1, 1 << 31), (1610612736, 1 << 31)],
)
def test_next_power_of_two(n, expected):
    assert bt.next_power_of_two(n) == expected


# -- systemd on the console -------------------------------------------------------------------
CONSOLE = (
    "[    3.2] EXT4-fs (vda2): mounted filesystem\r\n"
    "[\x1b[0;32m  OK  \x1b[0m] Finished \x1b[0;1;39mkeneya-firstboot.service\x1b[0m - Keneya "
    "first boot: apply the facility file from the card.\r\n"
    "[\x1b[0;32m  OK  \x1b[0m] Started \x1b[0;1;39mkeneya-web.service\x1b[0m - Keneya web.\r\n"
    "[\x1b[0;1;31mFAILED\x1b[0m] Failed to start \x1b[0;1;39mkeneya-power.service\x1b[0m - P.\r\n"
    "[   40.1] systemd[1]: keneya-power.service: Scheduled restart job, restart counter is at 1.\n"
    "[   71.1] systemd[1]: keneya-power.service: Scheduled restart job, restart counter is at 2.\n"
    "[   72.0] systemd[1]: Started keneya-modem.service - Keneya 3G modem and report sender.\n"
    "[   90.0] reboot: Power down\n"
)


def test_console_lines_give_started_finished_and_failed_units():
    facts = bt.parse_console(CONSOLE)
    assert facts.finished == {"keneya-firstboot"}
    assert {"keneya-web", "keneya-modem"} <= facts.started
    assert "keneya-power" in facts.failed and not facts.up("keneya-power")
    assert facts.up("keneya-firstboot") and facts.up("keneya-web")


def test_restart_counter_reveals_a_loop():
    facts = bt.parse_console(CONSOLE)
    assert facts.restarts == {"keneya-power": 2}
    assert facts.looping() == ["keneya-power"]
    assert facts.looping(threshold=3) == []


def test_power_down_is_seen_only_when_the_kernel_says_it():
    assert bt.parse_console(CONSOLE).power_down
    assert not bt.parse_console(
        CONSOLE.replace("reboot: Power down", "reboot: Restarting")
    ).power_down


def test_a_description_mentioning_a_unit_is_not_a_start():
    facts = bt.parse_console("Starting keneya-web.service - Keneya web...\n")
    assert not facts.up("keneya-web")


# -- outside checks ---------------------------------------------------------------------------
def test_dumpe2fs_block_count():
    text = "Filesystem volume name:   keneya-data\nBlock count:              262144\nReserved"
    assert bt.dumpe2fs_block_count(text) == 262144
    assert bt.dumpe2fs_block_count("Bad magic number in super-block") is None


def _table(p3_start: int, p3_size: int) -> dict:
    return {
        "partitiontable": {
            "label": "dos",
            "sectorsize": 512,
            "partitions": [
                {"node": "x.img1", "start": 8192, "size": 524288, "type": "c"},
                {"node": "x.img2", "start": 532480, "size": 2097152, "type": "83"},
                {"node": "x.img3", "start": p3_start, "size": p3_size, "type": "83"},
            ],
        }
    }


def test_partition_three_must_reach_the_end_of_the_disk():
    disk = 4 << 30
    start = 2629632
    assert bt.partition_fills_disk(_table(start, disk // 512 - start), 3, disk)
    assert not bt.partition_fills_disk(_table(start, 262144), 3, disk)
    assert not bt.partition_fills_disk(_table(start, 262144), 4, disk)


def test_secrets_left_on_the_card():
    public = '[facility]\ncode = "BOOT"\n[hotspot]\nssid = "Keneya-BOOT"\n# passphrase = moved\n'
    assert bt.secrets_left(public) == []
    hashes = public + '[admin]\npin_hash = "$argon2id$v=19$m"\n'
    assert bt.secrets_left(hashes) == ["pin_hash"]  # hashes leave the card too
    leaked = public + '[dhis2]\ntoken = "x"\n[modem]\nsim_pin = "1234"\n'
    assert set(bt.secrets_left(leaked)) == {"token", "sim_pin"}
    assert "hotspot.passphrase" in bt.secrets_left(public + bt.SECRET_VALUES["hotspot.passphrase"])


def test_last_month_wraps_the_year():
    assert bt.last_month(date(2027, 1, 3)) == "2026-12"
    assert bt.last_month(date(2026, 11, 30)) == "2026-10"


def test_unit_state_tells_never_started_from_stuck_and_failed():
    text = CONSOLE + "[   80.0] systemd[1]: Starting keneya-kiosk.service - Keneya kiosk...\n"
    facts = bt.parse_console(text)
    assert facts.state("keneya-web") == "up"
    assert facts.state("keneya-power") == "failed"
    assert facts.state("keneya-kiosk") == "starting"
    assert facts.state("keneya-growdata") == "never"
