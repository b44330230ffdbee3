"""The emulated boot test of the SD-card image (`make image-test`).

The image is copied (sparse) into a work folder, grown so that the first boot's growing of the
data partition is exercised, and provisioned with the real CLI (`keneya provision new`, then
`keneya provision write-card`). Boot 1 runs it under `qemu-system-aarch64 -M virt` with the
kernel, initrd and cmdline.txt taken from its own FAT partition and the web app forwarded to a
local port: the login page, an admin login, the technician status (power and modem degraded,
not restart-looping), last month's report, then a clean poweroff from the monitor, after which
the card and the data partition are read from outside (no secret left on the FAT, a receipt,
an intact database holding the facility, a grown data partition). Boot 1's card also carries
a seeded facility's encrypted backup (`write-card --restore`) that first boot must install, a
USB stick is plugged in through the monitor and must come back with an encrypted backup, and
the nightly backup unit runs once (image_build/bootbackup.py). Boot 2 runs a fresh copy
under `-M raspi3b` with the Pi 3's device tree and checks on the serial console that the
Keneya units started.

Nothing is mounted: the FAT is read with mtools (provisioning.card), ext4 with debugfs and
dumpe2fs at a byte offset, the partition table with sfdisk -J. Every wait is bounded.

    python -m image_build.boottest [IMAGE] [--work DIR] [--no-raspi]

prints progress on stderr and one JSON object of figures on stdout; exit 0 only when every
check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from image_build import bootbackup, boothardening, bootupdate
from image_build.bootmachine import (
    Http,
    Qemu,
    clean_console,
    free_port,
    parse_console,
    say,
    show_tail,
    wait_for,
)
from image_build.build import DATA_PARTITION
from provisioning import card

REPO = Path(__file__).resolve().parent.parent
GROW_BYTES = 1 << 30  # the copy grows by 1 GiB: first boot must grow the data partition (4) into it
FIRST_BOOT_TIMEOUT_S = 600.0
RASPI_BOOT_TIMEOUT_S = 900.0
POWEROFF_TIMEOUT_S = 120.0
RASPI_POWEROFF_TIMEOUT_S = 60.0
STATUS_TIMEOUT_S = 180.0  # the daemons write their state about once a minute
KENEYA_UNITS = ("keneya-firstboot", "keneya-web", "keneya-power", "keneya-modem")
UDEV_RULE = "90-keneya-usb-backup.rules"
RASPI_DTB = "bcm2837-rpi-3-b.dtb"
SETTLE_S = 180.0  # after multi-user.target, how long a missing unit may still take
OBSERVE_S = 90.0  # how long after the login page the console is watched for restart loops

# What the test provisions; the admin's password is known so the test can log in over HTTP.
ADMIN_USER = "awa.test"
ADMIN_PASSWORD = "boot-test-password"
ADMIN_PIN = "482913"
FACILITY_CODE = bootbackup.FACILITY_CODE
SECRET_VALUES = {
    "dhis2.token": "d2p_BootTestTokenSecret0123456789abcdefghij",
    "hotspot.passphrase": "boot-test-wifi-secret",
    "modem.sim_pin": "4821",
}
FACILITY_ANSWERS = {
    "facility.name": "CSCom de Test",
    "facility.code": FACILITY_CODE,
    "facility.district": "Douentza",
    "facility.region": "Mopti",
    "facility.org_unit": "Kx7Bn2MpQ4r",
    "dhis2.url": "https://dhis2.example.org",
    "dhis2.data_set": "Mr4FvT8sLd2",
    "hotspot.ssid": "Keneya-BOOT",
    "hotspot.channel": "6",
    "admin.name": "Awa Test",
    "admin.username": ADMIN_USER,
    "admin.pin": ADMIN_PIN,
    "admin.password": ADMIN_PASSWORD,
    "modem.sms_gateway": "+22370000000",
    # A technician's key, SSH allowed from the hotspot only; the web app also on Ethernet,
    # which is the side qemu's forwarded ports reach: web answers there, SSH must not.
    "ssh.authorized_keys": boothardening.SSH_TEST_KEY,
    "ssh.from": "hotspot",
    "firewall.ethernet_web": "true",
    **SECRET_VALUES,
}
# Keys that must not stay on the card after first boot: Facility.secrets(), and the admin's
# argon2id hashes (boothardening also searches the FAT's bytes for any hash).
SECRET_KEYS = ("token", "password", "passphrase", "sim_pin", "pin_hash", "password_hash")


class BootTestError(RuntimeError):
    """An expected failure (a missing tool, no image, a wrong image): one line, no traceback."""


# ------------------------------------------------------------------------------- pure parts


def next_power_of_two(n: int) -> int:
    """The smallest power of two >= n (raspi3b's SD card model wants such a size)."""
    if n <= 1:
        return 1
    return 1 << (n - 1).bit_length()


def rewrite_cmdline(
    text: str,
    *,
    console: str = "ttyAMA0",
    root: str | None = None,
    extra: Iterable[str] = (),
) -> str:
    """cmdline.txt with every console= replaced by one `console=<console>` (the emulated
    PL011), root= replaced when `root` is given, and `extra` arguments appended (an argument
    already there with the same key is replaced)."""
    extra = list(extra)
    extra_keys = {arg.split("=", 1)[0] for arg in extra}
    kept = []
    for arg in " ".join(text.split("\n")).split():
        key = arg.split("=", 1)[0]
        if key == "console" or key in extra_keys:
            continue
        if key == "root" and root is not None:
            arg = f"root={root}"
        kept.append(arg)
    return " ".join([*kept, f"console={console}", *extra])


def config_boot_files(config_txt: str) -> tuple[str | None, str | None]:
    """(kernel, initramfs) named by config.txt (`kernel=…`, `initramfs FILE [followkernel]`)."""
    kernel = initrd = None
    for raw in config_txt.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("[") and line not in ("[all]", "[pi3]", "[pi4]"):
            continue
        if line.startswith("kernel="):
            kernel = kernel or line.split("=", 1)[1].strip()
        elif line.startswith("initramfs"):
            parts = line.split()
            if len(parts) >= 2:
                initrd = initrd or parts[1]
    return kernel, initrd


def pick_boot_file(names: Iterable[str], prefix: str) -> str | None:
    """The newest `prefix*` file in a FAT root listing (a versioned name beats a bare one)."""
    found = [n for n in names if n.lower().startswith(prefix) and not n.endswith("/")]
    if not found:
        return None

    def version_key(name: str) -> tuple:
        return tuple(int(p) if p.isdigit() else -1 for p in re.split(r"[.\-]", name[len(prefix) :]))

    return max(found, key=lambda n: (len(n) > len(prefix), version_key(n)))


def _qemu_command(
    machine: list[str],
    devices: list[str],
    *,
    kernel: Path,
    initrd: Path,
    append: str,
    log: Path,
    monitor: Path,
    qemu: str,
) -> list[str]:
    """What both boots share: the image's kernel and initrd, the console to a file, the
    monitor on a unix socket (for system_powerdown)."""
    return [
        qemu, *machine, "-nographic",
        "-kernel", str(kernel), "-initrd", str(initrd), "-append", append,
        *devices,
        "-serial", f"file:{log}",
        "-monitor", f"unix:{monitor},server,nowait",
    ]  # fmt: skip


def virt_command(
    *,
    kernel: Path,
    initrd: Path,
    append: str,
    disk: Path,
    port: int,
    log: Path,
    monitor: Path,
    stick: Path | None = None,
    ssh_port: int | None = None,
    extra_devices: list[str] | None = None,
    qemu: str = "qemu-system-aarch64",
) -> list[str]:
    """`port` is forwarded to the guest's web app, `ssh_port` to its SSH. With `stick`: a
    USB 3 host controller and the stick's drive, not yet plugged in (the monitor's device_add
    plugs it, as a hand would)."""
    machine = ["-M", "virt", "-cpu", "cortex-a72", "-m", "1024", "-smp", "2"]
    devices = [
        "-drive", f"file={disk},format=raw,if=virtio",
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:80"
                   + (f",hostfwd=tcp:127.0.0.1:{ssh_port}-:22" if ssh_port else ""),
        "-device", "virtio-net-pci,netdev=n0,romfile=",  # no iPXE ROM needed (or installed)
        "-device", "virtio-rng-pci",
    ]  # fmt: skip
    if stick is not None:
        devices += [
            "-device", "qemu-xhci,id=xhci",
            "-drive", f"if=none,id=stick,format=raw,file={stick}",
        ]  # fmt: skip
    devices += extra_devices or []
    return _qemu_command(
        machine, devices, kernel=kernel, initrd=initrd, append=append, log=log,
        monitor=monitor, qemu=qemu,
    )  # fmt: skip


def raspi_command(
    *,
    kernel: Path,
    initrd: Path,
    dtb: Path,
    append: str,
    disk: Path,
    log: Path,
    monitor: Path,
    qemu: str = "qemu-system-aarch64",
) -> list[str]:
    machine = ["-M", "raspi3b", "-m", "1G", "-smp", "4"]
    devices = ["-dtb", str(dtb), "-drive", f"file={disk},format=raw,if=sd"]
    return _qemu_command(
        machine, devices, kernel=kernel, initrd=initrd, append=append, log=log,
        monitor=monitor, qemu=qemu,
    )  # fmt: skip


def dumpe2fs_block_count(text: str) -> int | None:
    m = re.search(r"^Block count:\s+(\d+)", text, re.M)
    return int(m.group(1)) if m else None


def partition_fills_disk(sfdisk_json: dict, number: int, disk_bytes: int) -> bool:
    """Partition `number` ends within the last MiB of the disk (growpart leaves alignment)."""
    table = sfdisk_json["partitiontable"]
    sector = int(table.get("sectorsize", 512))
    for part in table["partitions"]:
        if part["node"].endswith(str(number)):
            end = (int(part["start"]) + int(part["size"])) * sector
            return disk_bytes - end < (1 << 20)
    return False


def secrets_left(card_toml: str) -> list[str]:
    """Secret keys or values still present in the card's facility file."""
    found = []
    for raw in card_toml.splitlines():
        line = raw.split("#", 1)[0]
        key = line.split("=", 1)[0].strip()
        if "=" in line and key in SECRET_KEYS:
            found.append(key)
    found += [name for name, value in SECRET_VALUES.items() if value in card_toml]
    return found


def last_month(today: date) -> str:
    y, m = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{y:04d}-{m:02d}"


# ---------------------------------------------------------------------------- the machinery


def need_tools() -> None:
    needs = {
        "qemu-system-aarch64": "qemu-system-arm",
        "qemu-img": "qemu-utils",
        "xz": "xz-utils",
        "mcopy": "mtools",
        "debugfs": "e2fsprogs",
        "dumpe2fs": "e2fsprogs",
        "sfdisk": "fdisk",
        "mkfs.vfat": "dosfstools",
        "age": "age",
        "age-keygen": "age",
    }
    missing = sorted({pkg for tool, pkg in needs.items() if shutil.which(tool) is None})
    if missing:
        raise BootTestError(
            f"missing tools: {', '.join(t for t, p in needs.items() if p in missing)}: "
            f"apt-get install {' '.join(missing)}"
        )


def run_tool(args: list[str], *, timeout: float = 300.0, check: bool = True) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BootTestError(f"{args[0]} did not finish in {timeout:.0f} s") from None
    if check and done.returncode != 0:
        raise BootTestError(
            f"{' '.join(args[:3])} failed ({done.returncode}): {done.stderr.strip()[-500:]}"
        )
    return done.stdout


def sparse_copy(source: Path, dest: Path) -> None:
    """Decompress (.xz) or copy `source` into `dest`, leaving holes where it is all zeros."""
    block = 1 << 20
    zero = bytes(block)
    dest.unlink(missing_ok=True)
    proc = None
    if source.suffix == ".xz":
        proc = subprocess.Popen(["xz", "-dc", str(source)], stdout=subprocess.PIPE)
        reader = proc.stdout
    else:
        reader = open(source, "rb")  # noqa: SIM115
    try:
        with open(dest, "wb") as out:
            total = 0
            while True:
                chunk = reader.read(block)
                if not chunk:
                    break
                total += len(chunk)
                if chunk == zero[: len(chunk)]:
                    out.seek(len(chunk), os.SEEK_CUR)
                else:
                    out.write(chunk)
            out.truncate(total)
    finally:
        reader.close()
        if proc is not None and proc.wait() != 0:
            raise BootTestError(f"xz could not decompress {source} (exit {proc.returncode})")


def resize(disk: Path, size: int) -> None:
    run_tool(["qemu-img", "resize", "-f", "raw", str(disk), str(size)])


def keneya_command() -> Path:
    keneya = REPO / ".venv" / "bin" / "keneya"
    return keneya if keneya.exists() else Path(shutil.which("keneya") or "keneya")


def provision(
    copy: Path,
    work: Path,
    *,
    recipients: str | None = None,
    restore: Path | None = None,
    identity: Path | None = None,
) -> dict:
    """`provision new` then `write-card` (with --restore when given); write-card's JSON."""
    keneya = keneya_command()
    facility = work / "facility.toml"
    facility.unlink(missing_ok=True)
    args = [str(keneya), "provision", "new", "--no-input", "-o", str(facility)]
    answers = dict(FACILITY_ANSWERS)
    if recipients:
        answers["backup.recipients"] = recipients
    for key, value in answers.items():
        args += ["--set", f"{key}={value}"]
    run_tool(args, timeout=60)
    write = [str(keneya), "provision", "write-card", str(facility), "--image", str(copy), "--json"]
    if restore is not None:
        write += ["--restore", str(restore)]
    if identity is not None:
        write += ["--identity", str(identity)]
    return json.loads(run_tool(write))


@dataclass
class BootFiles:
    kernel: Path
    initrd: Path
    cmdline: str
    dtb: Path | None


def extract_boot_files(disk: Path, work: Path) -> BootFiles:
    """Kernel, initrd, cmdline.txt and the Pi 3 device tree from the image's FAT."""
    try:
        names = card.list_dir(disk, "")
        config = (card.read_file(disk, "config.txt") or b"").decode("utf-8", "replace")
        cmdline = card.read_file(disk, "cmdline.txt")
    except card.CardError as e:
        raise BootTestError(f"cannot read the image's boot partition: {e}") from None
    if cmdline is None:
        raise BootTestError(f"no cmdline.txt on the boot partition of {disk} (found {names})")
    kernel, initrd = config_boot_files(config)
    lower = {n.lower(): n for n in names}
    kernel = lower.get((kernel or "").lower()) or pick_boot_file(names, "vmlinuz")
    initrd = lower.get((initrd or "").lower()) or pick_boot_file(names, "initrd.img")
    if not kernel or not initrd:
        raise BootTestError(f"no kernel or initrd on the boot partition of {disk}: {names}")
    work.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in (kernel, initrd, lower.get(RASPI_DTB)):
        if name is None:
            continue
        data = card.read_file(disk, name)
        if not data:
            raise BootTestError(f"could not read {name} from the boot partition of {disk}")
        (work / name).write_bytes(data)
        files[name] = work / name
    return BootFiles(
        kernel=files[kernel],
        initrd=files[initrd],
        cmdline=cmdline.decode("utf-8", "replace").strip(),
        dtb=files.get(lower.get(RASPI_DTB, "")),
    )


def ext4_partition(disk: Path, number: int = DATA_PARTITION) -> card.Partition:
    parts = {p.number: p for p in card.partitions(disk)}
    if number not in parts:
        raise BootTestError(f"{disk} has no partition {number} (found {sorted(parts)})")
    return parts[number]


def block_count(disk: Path, number: int = DATA_PARTITION) -> int | None:
    part = ext4_partition(disk, number)
    out = run_tool(["dumpe2fs", "-h", f"{disk}?offset={part.start}"], check=False)
    return dumpe2fs_block_count(out)


def read_database(disk: Path, work: Path) -> dict:
    """Dump keneya.db (and a WAL if one was left) from the data partition; check it with SQLite."""
    part = ext4_partition(disk, DATA_PARTITION)
    spec = f"{disk}?offset={part.start}"
    out_dir = work / "db-after"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir()
    listing = run_tool(["debugfs", "-R", "ls -l /", spec], check=False)
    found = {}
    for name in ("keneya.db", "keneya.db-wal", "keneya.db-shm"):
        if re.search(rf"\s{re.escape(name)}\s*$", listing, re.M):
            run_tool(["debugfs", "-R", f"dump /{name} {out_dir / name}", spec], check=False)
            target = out_dir / name
            found[name] = target.stat().st_size if target.exists() else None
    result = {"files": found, "integrity": None, "facility_code": None, "patients": None}
    if not found.get("keneya.db"):
        return result
    conn = sqlite3.connect(out_dir / "keneya.db")
    try:
        result["integrity"] = conn.execute("PRAGMA integrity_check").fetchone()[0]
        row = conn.execute("SELECT value FROM settings WHERE key = 'facility_code'").fetchone()
        result["facility_code"] = row[0] if row else None
        result["patients"] = conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0]
    except sqlite3.DatabaseError as e:
        result["integrity"] = f"error: {e}"
    finally:
        conn.close()
    return result


# -------------------------------------------------------------------------------- the boots


def boot_virt(
    base: Path, work: Path, figures: dict, checks: dict, *, grow: int = GROW_BYTES
) -> None:
    disk = work / "virt.img"
    say(f"boot 1 (virt): copying the image to {disk} and growing it by {grow >> 20} MiB")
    run_tool(["cp", "--sparse=always", str(base), str(disk)])
    if grow:
        resize(disk, disk.stat().st_size + grow)
    blocks_before = block_count(disk, DATA_PARTITION)
    try:
        district = bootbackup.district_key(work)
        seeded = bootbackup.seeded_backup(work, keneya_command(), district)
        stick = work / "stick.img"
        bootbackup.make_stick(stick)
        bootbackup.put_library(stick, work)
    except bootbackup.RecordsError as e:
        raise BootTestError(f"preparing the backup and the USB stick: {e}") from None
    figures["restore"] = {
        "seeded_patients": seeded.patients,
        "backup_gz_bytes": len(seeded.gz),
        "backup_age_bytes": seeded.encrypted.stat().st_size,
    }
    written = provision(
        disk, work, recipients=district.public, restore=seeded.encrypted, identity=district.key
    )
    figures["restore"]["on_card"] = written.get("restore")
    say(
        "provisioned the copy with keneya provision new + write-card --restore"
        f" ({seeded.patients} seeded patients of {FACILITY_CODE})"
    )
    boot = extract_boot_files(disk, work / "virt-boot")
    root = None
    if re.search(r"root=/dev/mmcblk0p(\d)", boot.cmdline):
        root = "/dev/vda" + re.search(r"root=/dev/mmcblk0p(\d)", boot.cmdline).group(1)
    append = rewrite_cmdline(
        boot.cmdline,
        root=root,
        extra=[
            "systemd.show_status=1",
            "systemd.status_unit_format=combined",
            "systemd.journald.forward_to_console=1",
            # the nightly backup's own unit, once, at this boot (its timer waits for 02:30)
            "systemd.wants=keneya-backup.service",
        ],
    )
    figures["virt_append"] = append
    port, ssh_port = free_port(), free_port()
    log = work / "virt-console.log"
    qemu = Qemu(
        virt_command(
            kernel=boot.kernel, initrd=boot.initrd, append=append, disk=disk, port=port,
            log=log, monitor=work / "virt-monitor.sock", stick=stick, ssh_port=ssh_port,
        ),
        log,
        work / "virt-monitor.sock",
    )  # fmt: skip
    say(f"boot 1 (virt): qemu started, web app forwarded to 127.0.0.1:{port}; console {log}")
    web = Http(port)
    try:

        def login_page() -> str | None:
            status, body = web.request("/", timeout=10)
            return body if status == 200 else None

        page = wait_for(login_page, FIRST_BOOT_TIMEOUT_S, qemu, every=2.0, settle=SETTLE_S)
        if page:
            figures["boot_to_login_s"] = round(qemu.elapsed(), 1)
            say(f"boot 1 (virt): login page answered after {figures['boot_to_login_s']} s")
        checks["web_login_page"] = bool(page) and "<title>Connexion" in str(page)
        if page:
            status, body = web.request(
                "/api/v1/session", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
            )
            checks["firstboot_admin_login"] = status == 200 and ADMIN_USER in body
            figures["admin_login_status"] = status
            csrf = json.loads(body).get("csrf_token", "") if status == 200 else ""
            bootbackup.check_restored_patient(web, seeded, figures, checks)
            _check_status(web, qemu, figures, checks)
            period = last_month(date.today())
            status, body = web.request(f"/reports?period={period}", timeout=120)
            checks["monthly_report"] = status == 200 and f"/reports/{period}.csv" in body
            figures["report"] = {"period": period, "status": status}
            bootbackup.usb_stick_backup(web, qemu, figures, checks)
            # SSH runs (the facility gives a key) but only for the hotspot: from the Ethernet
            # side, where qemu forwards the host's ports, it must not answer.
            checks["ssh_refused_on_ethernet"] = not boothardening.ssh_answers(ssh_port)
            checks["card_writes_measured"] = boothardening.measure_writes(qemu, web, csrf, figures)
        else:
            for name in (
                "firstboot_admin_login",
                "restored_patient_found",
                "daemons_degraded",
                "monthly_report",
                "usb_stick_inserted",
                "usb_backup_unit_finished",
                "library_stick_unit_finished",
                "library_stick_offered",
                "library_stick_let_go_when_pulled_out",
                "ssh_refused_on_ethernet",
                "card_writes_measured",
            ):
                checks[name] = False
            say("boot 1 (virt): no login page: console tail follows")
            show_tail(qemu)
        if page:
            # Watch a while before judging: a daemon that crashes restarts after RestartSec.
            left = OBSERVE_S - (qemu.elapsed() - figures["boot_to_login_s"])
            if left > 0:
                say(f"boot 1 (virt): watching the console {left:.0f} s for restart loops")
                wait_for(lambda: False, left, qemu, every=2.0)
            checks["web_still_answers"] = web.request("/", timeout=20)[0] == 200
        bootbackup.check_nightly_unit(qemu, figures, checks)
        facts = parse_console(qemu.console())
        figures["virt_units"] = {u: facts.state(u) for u in KENEYA_UNITS}
        checks["units_up"] = all(facts.state(u) == "up" for u in KENEYA_UNITS)
        loops = [u for u in facts.looping() if u.startswith("keneya")]
        checks["no_restart_loop"] = not loops
        figures["virt_restarts"] = facts.restarts
        figures["virt_failed_units"] = sorted(facts.failed)
        shown = boothardening.console_facts(qemu.console())
        figures["console_hardening"] = shown
        checks.update(shown)
        # udev names the file and line of a rule it cannot read
        complaints = [ln for ln in clean_console(qemu.console()).splitlines() if UDEV_RULE in ln]
        checks["udev_rule_read_without_complaint"] = not complaints
        figures["udev_rule_complaints"] = complaints[:5]
        # clean poweroff from the monitor
        say("boot 1 (virt): system_powerdown on the monitor")
        sent = qemu.send("system_powerdown")
        t0 = time.monotonic()
        exited = sent and qemu.wait_exit(POWEROFF_TIMEOUT_S)
        facts = parse_console(qemu.console())
        if exited:
            figures["virt_poweroff_s"] = round(time.monotonic() - t0, 1)
        checks["clean_poweroff"] = bool(exited) and facts.power_down
        if not checks["clean_poweroff"]:
            say("boot 1 (virt): no clean poweroff: console tail follows")
            show_tail(qemu)
    finally:
        qemu.stop()
    figures["virt_console_log"] = str(log)
    # After the poweroff: the card, the database, the data partition, the stick.
    text = (card.read_file(disk, "keneya/facility.toml") or b"").decode("utf-8", "replace")
    left = secrets_left(text)
    receipt = card.read_file(disk, "keneya/receipt.txt")
    error = card.read_file(disk, "keneya/ERREUR.txt")
    figures["card_secrets_left"] = left
    figures["firstboot_error"] = error.decode("utf-8", "replace") if error else None
    checks["card_has_no_secret"] = bool(text) and not left
    checks["card_has_receipt"] = receipt is not None
    receipt_text = (receipt or b"").decode("utf-8", "replace")
    checks["card_receipt_says_restored"] = f"{seeded.patients} patients" in receipt_text
    bootbackup.check_card_bytes(disk, seeded, SECRET_VALUES, figures, checks)
    boothardening.check_card(disk, work, figures, checks)
    db = read_database(disk, work)
    figures["database"] = db
    checks["database_integrity_ok"] = db["integrity"] == "ok"
    checks["database_holds_facility"] = db["facility_code"] == FACILITY_CODE
    # the restored patients and those the card-writes measure registered through the web app
    registered = figures.get("card_writes", {}).get("registrations_done", 0)
    checks["database_holds_restored_patients"] = db["patients"] == seeded.patients + registered
    nightly = bootbackup.data_backups(disk, ext4_partition(disk, DATA_PARTITION))
    figures["nightly_backups"] = nightly
    checks["nightly_backup_on_data_partition"] = any(
        n.startswith(f"keneya-{FACILITY_CODE}-") for n in nightly
    )
    on_stick = bootbackup.read_stick(stick, district, work, seeded.sample)
    figures["usb_stick"] = on_stick
    checks["usb_backup_on_stick_decrypts"] = (
        on_stick.get("integrity") == "ok"
        and on_stick["facility_code"] == FACILITY_CODE
        and on_stick["patients"] == seeded.patients
        and on_stick["sample_found"]
    )
    checks["usb_stick_has_no_leftover"] = on_stick.get("files") and not on_stick.get("leftovers")
    table = json.loads(run_tool(["sfdisk", "-J", str(disk)]))
    blocks_after = block_count(disk, DATA_PARTITION)
    figures["data_blocks"] = {"before": blocks_before, "after": blocks_after}
    if not grow:  # nothing to grow into: the check is not exercised (and not counted)
        figures["data_partition_grew"] = "not exercised (--grow-mib 0)"
        return
    checks["data_partition_grew"] = (
        partition_fills_disk(table, DATA_PARTITION, disk.stat().st_size)
        and blocks_before is not None
        and blocks_after is not None
        and blocks_after > blocks_before
    )


def _check_status(web: Http, qemu: Qemu, figures: dict, checks: dict) -> None:
    """Power without a sensor says sensor_fault, the modem without a stick says absent."""
    seen: dict = {}

    def degraded() -> bool:
        status, body = web.request("/api/v1/status", timeout=30)
        if status != 200:
            seen["http"] = status
            return False
        s = json.loads(body)
        seen.update(power=s["power"]["state"], power_reason=s["power"].get("reason"))
        seen.update(modem=s["modem"]["state"])
        return seen["power"] == "sensor_fault" and seen["modem"] == "absent"

    ok = wait_for(degraded, STATUS_TIMEOUT_S, qemu, every=10.0)
    checks["daemons_degraded"] = bool(ok)
    figures["status"] = seen


def boot_raspi(base: Path, work: Path, figures: dict, checks: dict) -> None:
    disk = work / "raspi.img"
    say(f"boot 2 (raspi3b): copying the image to {disk}, size a power of two")
    run_tool(["cp", "--sparse=always", str(base), str(disk)])
    resize(disk, next_power_of_two(disk.stat().st_size + GROW_BYTES // 2))
    provision(disk, work)
    boot = extract_boot_files(disk, work / "raspi-boot")
    if boot.dtb is None:
        checks["raspi3b_units_started"] = False
        figures["raspi3b"] = f"no {RASPI_DTB} on the boot partition"
        say(f"boot 2 (raspi3b): no {RASPI_DTB} on the boot partition")
        return
    append = rewrite_cmdline(
        boot.cmdline,
        extra=[
            "modprobe.blacklist=vchiq",
            "systemd.show_status=1",
            "systemd.status_unit_format=combined",
            "systemd.journald.forward_to_console=1",
        ],
    )
    figures["raspi3b_append"] = append
    log = work / "raspi-console.log"
    monitor = work / "raspi-monitor.sock"
    qemu = Qemu(
        raspi_command(
            kernel=boot.kernel, initrd=boot.initrd, dtb=boot.dtb, append=append, disk=disk,
            log=log, monitor=monitor,
        ),
        log,
        monitor,
    )  # fmt: skip
    say(f"boot 2 (raspi3b): qemu started; console {log}")
    try:

        def all_up() -> bool:
            facts = parse_console(qemu.console())
            return all(facts.up(u) for u in KENEYA_UNITS)

        up = wait_for(all_up, RASPI_BOOT_TIMEOUT_S, qemu, every=1.0, settle=SETTLE_S)
        facts = parse_console(qemu.console())
        figures["raspi3b_units"] = {u: facts.state(u) for u in KENEYA_UNITS}
        figures["raspi3b_failed_units"] = sorted(facts.failed)
        checks["raspi3b_units_started"] = bool(up) and "keneya-firstboot" in facts.finished
        if up:
            figures["raspi3b_units_started_s"] = round(qemu.elapsed(), 1)
            say(f"boot 2 (raspi3b): Keneya units up after {figures['raspi3b_units_started_s']} s")
        else:
            say("boot 2 (raspi3b): the Keneya units did not all start: console tail follows")
            show_tail(qemu)
        qemu.send("system_powerdown")
        t0 = time.monotonic()
        if qemu.wait_exit(RASPI_POWEROFF_TIMEOUT_S):
            clean = parse_console(qemu.console()).power_down
            figures["raspi3b_poweroff"] = (
                f"{'clean' if clean else 'exited'} after {time.monotonic() - t0:.1f} s"
            )
        else:
            figures["raspi3b_poweroff"] = (
                f"no poweroff {RASPI_POWEROFF_TIMEOUT_S:.0f} s after system_powerdown "
                "(raspi3b has no power button): qemu stopped"
            )
    finally:
        qemu.stop()
    figures["raspi3b_console_log"] = str(log)


def boot_update(base: Path, work: Path, figures: dict, checks: dict) -> None:
    """Boot 3 (virt): updates from USB sticks, a trial, a rollback (image_build.bootupdate)."""
    work = work / "update"
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    try:
        sticks = bootupdate.prepare_or_fail(base, work, figures)
    except bootupdate.UpdateTestError as e:
        raise BootTestError(str(e)) from None
    figures["update"]["prepare_s"] = round(time.monotonic() - t0, 1)
    disk = work / "update.img"
    say(f"update (virt): copying the image to {disk}")
    run_tool(["cp", "--sparse=always", str(base), str(disk)])
    resize(disk, disk.stat().st_size + GROW_BYTES)  # the data partition receives the bundles
    provision(disk, work)
    boot = extract_boot_files(disk, work / "boot-files")
    append = rewrite_cmdline(
        boot.cmdline,
        extra=["systemd.show_status=1", "systemd.status_unit_format=combined",
               "systemd.journald.forward_to_console=1"],
    )  # fmt: skip
    port = free_port()
    log = work / "update-console.log"
    monitor = work / "update-monitor.sock"
    qemu = Qemu(
        virt_command(
            kernel=boot.kernel, initrd=boot.initrd, append=append, disk=disk, port=port,
            log=log, monitor=monitor, extra_devices=bootupdate.qemu_devices(sticks),
        ),
        log,
        monitor,
    )  # fmt: skip
    say(f"update (virt): qemu started, web app on 127.0.0.1:{port}; console {log}")
    web = Http(port)
    try:

        def login_page() -> bool:
            return web.request("/", timeout=10)[0] == 200

        if not wait_for(login_page, FIRST_BOOT_TIMEOUT_S, qemu, every=2.0):
            checks["update_first_boot"] = False
            show_tail(qemu)
            return
        checks["update_first_boot"] = True
        bootupdate.run_update_boots(qemu, web, (ADMIN_USER, ADMIN_PASSWORD), figures, checks)
        figures["update"]["total_s"] = round(time.monotonic() - t0, 1)
    finally:
        qemu.stop()
        for stick in sticks.values():
            stick.unlink(missing_ok=True)
    figures["update_console_log"] = str(log)


def run(
    image: Path,
    work: Path,
    *,
    raspi: bool = True,
    virt: bool = True,
    grow: int = GROW_BYTES,
    update: bool = True,
) -> dict:
    """Both boots (or one); the figures, with `checks` {name: passed}."""
    image, work = Path(image), Path(work)
    if not image.is_file():  # first: it is the likelier mistake, and needs no qemu to say
        raise BootTestError(f"no image at {image}: build it first (make image)")
    need_tools()
    work.mkdir(parents=True, exist_ok=True)
    version = run_tool(["qemu-system-aarch64", "--version"]).splitlines()[0]
    figures: dict = {"image": str(image), "image_bytes": image.stat().st_size, "qemu": version}
    checks: dict[str, bool] = {}
    figures["checks"] = checks
    base = work / "base.img"
    say(f"decompressing {image} into {base} (sparse)")
    t0 = time.monotonic()
    sparse_copy(image, base)
    figures["image_raw_bytes"] = base.stat().st_size
    figures["decompress_s"] = round(time.monotonic() - t0, 1)
    try:
        try:
            card.boot_partition(base)
            ext4_partition(base, DATA_PARTITION)
        except card.CardError as e:
            raise BootTestError(f"{image}: {e}") from None
        if virt:
            boot_virt(base, work, figures, checks, grow=grow)
        if raspi:
            boot_raspi(base, work, figures, checks)
        if update:
            boot_update(base, work, figures, checks)
    finally:
        base.unlink(missing_ok=True)  # the boots' own copies stay for a look afterwards
    figures["passed"] = all(checks.values())
    figures["failed_checks"] = sorted(k for k, v in checks.items() if not v)
    return figures


def default_image(build: Path = REPO / "build") -> Path | None:
    found = sorted(build.glob("keneya-*-arm64.img.xz"), key=lambda p: p.stat().st_mtime)
    found = found or sorted(build.glob("keneya-*-arm64.img"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m image_build.boottest", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("image", nargs="?", type=Path, help="default: the newest build/*.img.xz")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "boottest")
    parser.add_argument("--no-raspi", action="store_true", help="skip the raspi3b boot")
    parser.add_argument("--no-virt", action="store_true", help="skip the virt boot")
    parser.add_argument("--no-update", action="store_true", help="skip the update boots")
    parser.add_argument(
        "--grow-mib",
        type=int,
        default=GROW_BYTES >> 20,
        help="how much the virt copy grows before boot 1 (0: no growing of the data partition)",
    )
    args = parser.parse_args(argv)
    image = args.image or default_image()
    try:
        if image is None:
            raise BootTestError("no build/keneya-*-arm64.img.xz: build the image first")
        figures = run(
            image,
            args.work,
            raspi=not args.no_raspi,
            virt=not args.no_virt,
            grow=args.grow_mib << 20,
            update=not args.no_update,
        )
    except (BootTestError, card.CardError) as e:
        say(f"boot test not run: {e}")
        print(json.dumps({"passed": False, "error": str(e)}, indent=2))
        return 1
    print(json.dumps(figures, indent=2, sort_keys=True))
    if figures["failed_checks"]:
        say(f"FAILED: {', '.join(figures['failed_checks'])}")
        return 1
    say("every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
