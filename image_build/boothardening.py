"""What the boot test checks of the appliance's hardening, from outside the guest.

After boot 1 (image_build/boottest.py) the card image is read with debugfs and the FAT's raw
bytes, never mounted: no argon2id hash anywhere on the FAT, the modes and owners of /etc/keneya,
its secrets, the data partition and the database, no journal on the card. The units' files are
taken from the root partition and scored by `systemd-analyze security --offline=true` here, and
their User= read. While the guest runs: the firewall seen from the host (SSH, which the boot
test's facility opens only on the hotspot, gets no answer through the Ethernet side), what the
console says of fsck, the journal and /tmp, and the bytes the guest writes to its card (qemu's
own block statistics) while idle and while staff work.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from image_build import bootbackup
from image_build.bootmachine import Http, Qemu, clean_console
from image_build.build import DATA_PARTITION
from provisioning import card

SERVICE_USER = "keneya"
# A technician's public key for the boot test's [ssh] section (its private half was never
# kept: nobody can log in with it; sshd only has to start and the firewall to hide it).
SSH_TEST_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0DpiEOzLsxdrXZJRVBLsteYgZ40ZsGQ1yM4en1Dumm"
    " technicien@keneya-boot-test"
)
# Goals of `systemd-analyze security` (lower is safer): every Keneya unit, but first boot,
# which stays root with root's file powers (it writes /etc), as the issue sets them.
SECURITY_GOAL = 3.0
SECURITY_GOALS = {"keneya-firstboot.service": 5.0}
# The units that run as root (each with a reason in its file).
ROOT_UNITS = (
    "keneya-firstboot.service",
    "keneya-usb-backup@.service",
    "keneya-readonly.service",
    "keneya-clock-save.service",
    # updates: RAUC answers root only; the stick is mounted; the slot record is on the FAT
    "keneya-update-boot.service",
    "keneya-update-health.service",
    "keneya-update-install.service",
    "keneya-update-fetched.service",
    "keneya-update-usb@.service",
    # asks systemd (root only) to mount a library stick, then reads its index
    "keneya-library-usb@.service",
)
# (path on a partition, partition number, mode, owner: "root" or the service user)
EXPECTED_MODES = (
    ("/etc/keneya", 2, 0o750, "root"),
    ("/etc/keneya/facility.toml", 2, 0o640, "root"),
    ("/etc/keneya/secrets", 2, 0o700, SERVICE_USER),
    ("/", DATA_PARTITION, 0o700, SERVICE_USER),
    ("/keneya.db", DATA_PARTITION, 0o600, SERVICE_USER),
)
SECRET_FILES_DIR = "/etc/keneya/secrets"
DAY_S = 86400


# ------------------------------------------------------------------------------ pure parts


def parse_debugfs_stat(text: str) -> dict | None:
    """Mode (permission bits), uid and gid from `debugfs -R "stat PATH"` (None: not found)."""
    mode = re.search(r"Mode:\s+0?([0-7]{3,4})", text)
    user = re.search(r"User:\s+(\d+)\s+Group:\s+(\d+)", text)
    if not mode or not user:
        return None
    return {"mode": int(mode.group(1), 8) & 0o7777, "uid": int(user.group(1)),
            "gid": int(user.group(2))}  # fmt: skip


def debugfs_entries(listing: str) -> list[tuple[str, str]]:
    """(name, mode) of each entry of `debugfs ls -p` output (/inode/mode/uid/gid/name/size/),
    but . and .."""
    entries = []
    for line in listing.splitlines():
        fields = line.strip().split("/")
        if len(fields) >= 7 and fields[5] not in (".", ".."):
            entries.append((fields[5], fields[2]))
    return entries


def debugfs_names(listing: str) -> list[str]:
    return [name for name, _ in debugfs_entries(listing)]


def journal_folders(listing: str) -> list[str]:
    """The sub-folders (journald's machine-id folders) of /var/log/journal's `ls -p`."""
    return [
        f"/var/log/journal/{name}"
        for name, mode in debugfs_entries(listing)
        if mode.isdigit() and int(mode, 8) & 0o170000 == 0o040000
    ]


def passwd_ids(passwd: str, name: str) -> tuple[int, int] | None:
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) > 3 and fields[0] == name:
            return int(fields[2]), int(fields[3])
    return None


def unit_user(text: str) -> str:
    """The User= of a unit file's [Service] (root when none)."""
    section = ""
    user = "root"
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line.startswith("User="):
            user = line.split("=", 1)[1].strip() or "root"
    return user


def exposure(text: str) -> float | None:
    """The overall exposure of `systemd-analyze security UNIT`."""
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", text)
    return float(m.group(1)) if m else None


def blockstats_written(text: str) -> int | None:
    """Bytes written to the guest's disk (the first drive) from `info blockstats`."""
    m = re.search(r"wr_bytes=(\d+)", text)
    return int(m.group(1)) if m else None


def console_facts(text: str) -> dict[str, bool]:
    """What the boot's console shows of the card's protections."""
    text = clean_console(text)
    return {
        # initramfs-tools prints the fsck it runs on the root before mounting it
        "fsck_root_ran": bool(
            re.search(
                r"fsck\.ext4.*(/dev/\w+|keneya-root)|"
                r"keneya-root: clean",
                text,
            )
        ),  # fmt: skip
        "fsck_data_ran": bool(
            re.search(
                r"File System Check on .*keneya.x2ddata|"
                r"keneya-data: clean",
                text,
            )
        ),  # fmt: skip
        "tmp_in_ram": bool(re.search(r"Mounted tmp\.mount|Mounted .*/tmp\b", text)),
        "firewall_loaded": bool(re.search(r"Finished nftables\.service|Started nftables", text)),
        "ssh_started": bool(re.search(r"Started ssh\.service", text)),
    }


# -------------------------------------------------------------------- reading the card


def _debugfs(disk: Path, number: int, request: str) -> str:
    part = {p.number: p for p in card.partitions(disk)}[number]
    done = subprocess.run(
        ["debugfs", "-R", request, f"{disk}?offset={part.start}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return done.stdout


def check_card(disk: Path, work: Path, figures: dict, checks: dict) -> None:
    """After the poweroff: no hash on the FAT, modes and owners, units, no journal."""
    part = card.boot_partition(disk)
    found = bootbackup.found_on_partition(disk, part, {"argon2id hash": b"$argon2id$"})
    figures["card_hash_found"] = found
    checks["card_has_no_password_hash"] = not found

    passwd = _debugfs(disk, 2, "cat /etc/passwd")
    ids = passwd_ids(passwd, SERVICE_USER)
    figures["service_user_ids"] = ids
    checks["service_user_exists"] = ids is not None
    modes = {}
    wrong = []
    expected = list(EXPECTED_MODES)
    listing = _debugfs(disk, 2, f"ls {SECRET_FILES_DIR}")
    for name in sorted(set(re.findall(r"\b([a-z][a-z0-9_]+)\b", listing))):
        expected.append((f"{SECRET_FILES_DIR}/{name}", 2, 0o600, SERVICE_USER))
    for path, number, mode, owner in expected:
        st = parse_debugfs_stat(_debugfs(disk, number, f"stat {path}"))
        modes[f"p{number}:{path}"] = (
            None if st is None else f"{st['mode']:04o} {st['uid']}:{st['gid']}"
        )
        want_uid = 0 if owner == "root" else (ids or (None, None))[0]
        if st is None or st["mode"] != mode or st["uid"] != want_uid:
            wrong.append(f"{path} (want {mode:04o} {owner})")
    figures["modes"] = modes
    figures["modes_wrong"] = wrong
    checks["modes_and_owners"] = not wrong
    # The journal stays in RAM (Storage=volatile): after minutes of running and a clean
    # power-off, when a persistent journal would have been flushed, no journal file is on the
    # card, in /var/log/journal or in any of its machine-id folders.
    journal_files = []
    top = _debugfs(disk, 2, "ls -p /var/log/journal")
    for folder in ("/var/log/journal", *journal_folders(top)):
        listing = _debugfs(disk, 2, f"ls -p {folder}")
        journal_files += [f"{folder}/{n}" for n in debugfs_names(listing) if ".journal" in n]
    figures["journal_files_on_card"] = journal_files
    checks["no_journal_on_card"] = not journal_files
    # ... and its warnings are kept there, on the data partition (keneya-warnings.timer)
    ring = parse_debugfs_stat(_debugfs(disk, DATA_PARTITION, "stat /log/warnings.log"))
    figures["warnings_ring"] = ring
    checks["warnings_ring_on_data_partition"] = ring is not None
    _check_units(disk, work, figures, checks)


def _check_units(disk: Path, work: Path, figures: dict, checks: dict) -> None:
    """The image's own unit files, scored here and their User= read."""
    folder = work / "units-from-card"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    listing = _debugfs(disk, 2, "ls /usr/lib/systemd/system")
    names = sorted(set(re.findall(r"(keneya-[a-z0-9-]+@?\.service)", listing)))
    scores, users, over = {}, {}, []
    for name in names:
        target = folder / name
        _debugfs(disk, 2, f"dump /usr/lib/systemd/system/{name} {target}")
        if not target.exists():
            continue
        users[name] = unit_user(target.read_text(encoding="utf-8"))
        done = subprocess.run(
            ["systemd-analyze", "security", "--offline=true", "--no-pager", str(target)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        scores[name] = exposure(done.stdout + done.stderr)
        goal = SECURITY_GOALS.get(name, SECURITY_GOAL)
        if scores[name] is None or scores[name] > goal:
            over.append(name)
    figures["unit_security"] = scores
    figures["unit_users"] = users
    checks["units_found_on_card"] = len(names) >= 5
    checks["units_security_within_goal"] = bool(names) and not over
    checks["units_run_as_service_user"] = bool(users) and all(
        user == SERVICE_USER for name, user in users.items() if name not in ROOT_UNITS
    )  # fmt: skip
    if over:
        figures["units_over_goal"] = over


# --------------------------------------------------------------------- while it runs


def ssh_answers(port: int, wait: float = 10.0) -> bool:
    """Whether an SSH server's banner comes back through the host's forwarded port. qemu
    accepts the host's connection itself and forwards it; a guest that drops the packets
    sends nothing back."""
    deadline = time.monotonic() + wait
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
            s.settimeout(max(0.5, deadline - time.monotonic()))
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _letters(i: int) -> str:
    """A name's suffix from a number: letters only, as a name must be (0 -> a, 26 -> ba)."""
    text = ""
    while True:
        i, rest = divmod(i, 26)
        text = chr(ord("a") + rest) + text
        if not i:
            return text


def written_bytes(qemu: Qemu) -> int | None:
    return blockstats_written(qemu.ask("info blockstats") or "")


def measure_writes(
    qemu: Qemu,
    web: Http,
    csrf: str,
    figures: dict,
    *,
    idle_s: float = 240.0,
    busy_actions: int = 40,
) -> bool:
    """Card writes per day: idle (nothing asked of it), then per staff action (a patient
    registered through the web app, logged in, with the session's CSRF token), from qemu's
    counters of the guest's disk. True when both were measured (every registration done); the
    figures are reported, not judged: the goal is the README's, for the real card."""
    start, t0 = written_bytes(qemu), time.monotonic()
    time.sleep(idle_s)
    end, seconds = written_bytes(qemu), time.monotonic() - t0
    result: dict = {"idle_window_s": round(seconds, 1)}
    if start is not None and end is not None:
        result["idle_bytes"] = end - start
        result["idle_bytes_per_day"] = int((end - start) * DAY_S / seconds)
    before = written_bytes(qemu)
    done, refusals = 0, []
    for i in range(busy_actions):
        # accept_duplicates: the loop's patients are alike on purpose (same birth date, village)
        status, body = web.request(
            "/api/v1/patients?accept_duplicates=true",
            data={"given_names": "Essai", "family_name": "Ecriture" + _letters(i), "sex": "F",
                  "birth_date": "1990-01-01", "village": "Boni"},
            headers={"X-CSRF-Token": csrf},
            timeout=30,
        )  # fmt: skip
        done += status in (200, 201)
        if status not in (200, 201) and len(refusals) < 3:
            refusals.append(f"{status} {body[:200]}")
    time.sleep(35)  # commit=60 of the data partition: let the journal commit reach the card
    after = written_bytes(qemu)
    result["registrations_done"] = done
    if refusals:
        result["refusals"] = refusals
    if before is not None and after is not None and done:
        per = (after - before) / done
        result["bytes_per_registration"] = int(per)
        # A busy clinic day: 300 records written (registrations, consultations, vaccines).
        if "idle_bytes_per_day" in result:
            result["busy_day_bytes"] = int(result["idle_bytes_per_day"] + 300 * per)
    figures["card_writes"] = result
    return done == busy_actions and "idle_bytes_per_day" in result
