"""The emulated boot test's records part: a card that comes back with its records, and a USB
stick that leaves with them.

Before boot 1 (virt): a district key is made with `age-keygen` (its public line goes into the
facility file's `[backup] recipients`); a facility BOOT is seeded with the real `keneya`
command and backed up; the backup is gzipped and encrypted with `age`, as a USB stick's is,
and `keneya provision write-card --restore … --identity …` puts it on the card. A USB stick
image (an MBR, one FAT32 partition, as sticks come) is made with sfdisk and mkfs.vfat, and a
small training library (`keneya-bibliotheque/`, generated PDFs) is put on it with mtools.

During the boot the stick is plugged in through qemu's monitor (`device_add usb-storage`): a
real insertion, which udev turns into `keneya-usb-backup@sda1.service`, then
`keneya-library-usb@sda1.service`, after which the web app's library import page (the admin's)
must offer the stick's library: mounted read-only by systemd, seen inside the web app's sandbox.
Then the stick is pulled out (`device_del`): the mount must go, and the page no longer offer it.

After the poweroff, from outside: the stick is read with mtools, its backup decrypted with the
district key and opened with SQLite (facility BOOT, every seeded patient); the card's FAT is
searched byte by byte for any piece of the backup it carried and for the secrets (a deleted
file's bytes stay on FAT until overwritten); the data partition's /backups is listed with
debugfs.
"""

from __future__ import annotations

import gzip
import json
import mmap
import os
import re
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from appliance.library.index import FOLDER
from appliance.library.stick import LIBRARY_MOUNT_ROOT
from appliance.seed.library import Document, write_stick
from image_build.bootmachine import (
    Http,
    Qemu,
    clean_console,
    parse_console,
    say,
    show_tail,
    wait_for,
)
from provisioning import card

FACILITY_CODE = "BOOT"
SEEDED_PATIENTS = 300
SEED = 7
STICK_MIB = 64
STICK_LABEL = "CLE-USB"
STICK_FOLDER = "KENEYA-SAUVEGARDES"
STICK_DEVICE_ID = "stick0"
# The stick's one partition starts at 1 MiB, as partitioning tools put it.
STICK_FIRST_SECTOR = 2048
PIECE = 512  # bytes of the card's backup looked for on the FAT after first boot
USB_UNIT = "keneya-usb-backup@"
LIBRARY_UNIT = "keneya-library-usb@"
USB_BACKUP_TIMEOUT_S = 300.0  # from the stick's insertion to its unit's end
NIGHTLY_TIMEOUT_S = 180.0


class RecordsError(RuntimeError):
    """A step of the preparation failed: one line naming it."""


def tool(args: list[str], *, timeout: float = 300.0, input: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout, input=input)
    except subprocess.TimeoutExpired:
        raise RecordsError(f"{args[0]} did not finish in {timeout:.0f} s") from None
    except FileNotFoundError:
        raise RecordsError(f"{args[0]} is missing (apt-get install age dosfstools)") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip()[-400:]
        raise RecordsError(f"{' '.join(args[:3])} failed ({done.returncode}): {said}")
    return done.stdout


# ------------------------------------------------------------------------ before the boot


@dataclass(frozen=True)
class District:
    key: Path  # the identity: stays with the district (here: with the test)
    public: str  # what goes into [backup] recipients


def district_key(work: Path) -> District:
    key = work / "district.key"
    key.unlink(missing_ok=True)
    tool(["age-keygen", "-o", str(key)])
    public = tool(["age-keygen", "-y", str(key)]).decode().strip()
    return District(key, public)


@dataclass(frozen=True)
class SeededBackup:
    plain: Path  # the checked .db `keneya backup create` wrote
    gz: bytes  # what the card will carry (gzip of plain)
    encrypted: Path  # the .db.gz.age a USB stick would hold
    patients: int
    sample: dict[str, str]  # one seeded patient, looked for after the boot


def seeded_backup(work: Path, keneya: Path, district: District) -> SeededBackup:
    """Facility BOOT seeded, backed up with `keneya backup create`, gzipped, encrypted."""
    home = work / "seeded-home"
    shutil.rmtree(home, ignore_errors=True)
    base = [str(keneya), "--home", str(home)]
    tool([*base, "db", "init", "--facility-code", FACILITY_CODE], timeout=120)
    tool([*base, "seed", "--patients", str(SEEDED_PATIENTS), "--seed", str(SEED)], timeout=300)
    out = work / "seeded-backup"
    shutil.rmtree(out, ignore_errors=True)
    tool([*base, "backup", "create", "--to", str(out)], timeout=300)
    (plain,) = out.glob(f"keneya-{FACILITY_CODE}-*.db")
    conn = sqlite3.connect(f"file:{plain}?mode=ro", uri=True)
    try:
        patients = conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0]
        row = conn.execute(
            "SELECT health_number, family_name FROM patients ORDER BY sequence LIMIT 1 OFFSET ?",
            (patients // 2,),
        ).fetchone()
    finally:
        conn.close()
    gz = gzip.compress(plain.read_bytes(), compresslevel=6)
    encrypted = work / f"{plain.name}.gz.age"
    tool(["age", "--encrypt", "-r", district.public, "-o", str(encrypted)], input=gz)
    return SeededBackup(
        plain, gz, encrypted, patients, {"health_number": row[0], "family_name": row[1]}
    )


def stick_sfdisk_script(size: int) -> str:
    """One FAT32 (LBA) partition from 1 MiB to the end."""
    sectors = size // 512 - STICK_FIRST_SECTOR
    return f"label: dos\nunit: sectors\n\nstart={STICK_FIRST_SECTOR}, size={sectors}, type=c\n"


def make_stick(path: Path, size_mib: int = STICK_MIB) -> None:
    """A USB stick image: an MBR and one empty FAT32 partition, nothing mounted."""
    size = size_mib << 20
    path.unlink(missing_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
    tool(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(path)],
         input=stick_sfdisk_script(size).encode())  # fmt: skip
    blocks = (size - STICK_FIRST_SECTOR * 512) // 1024
    tool(["mkfs.vfat", "-F", "32", "-s", "1", "-n", STICK_LABEL,
          f"--offset={STICK_FIRST_SECTOR}", str(path), str(blocks)])  # fmt: skip


def copy_onto_stick(stick: Path, source: Path) -> None:
    """A file or a folder copied to the top of the stick image's FAT, with mtools."""
    done = subprocess.run(
        ["mcopy", "-s", "-i", f"{stick}@@{STICK_FIRST_SECTOR * 512}", str(source),
         f"::/{source.name}"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
    )  # fmt: skip
    if done.returncode != 0:
        raise RecordsError(f"mcopy of {source.name} onto {stick}: {done.stderr.strip()}")


def put_library(stick: Path, work: Path) -> None:
    """A small library on the stick's FAT (generated PDFs and their index)."""
    top = work / "stick-library"
    shutil.rmtree(top, ignore_errors=True)
    pages = ("Malnutrition aiguë sévère : prise en charge.",)
    folder = write_stick(top, [Document("pcima.pdf", "Protocole PCIMA (essai)", "pcima", pages)])
    copy_onto_stick(stick, folder / FOLDER)


def hotplug_command(bus: str = "xhci.0") -> str:
    """The monitor command that plugs the stick in (its drive is given at qemu's start)."""
    return f"device_add usb-storage,bus={bus},drive=stick,id={STICK_DEVICE_ID},removable=on"


# ------------------------------------------------------------------------ after the boot


def read_stick(stick: Path, district: District, work: Path, sample: dict[str, str]) -> dict:
    """The stick's backups, the newest decrypted with the district key and opened."""
    found: dict = {"files": [], "facility_code": None, "patients": None, "sample_found": False}
    try:
        names = card.list_dir(stick, STICK_FOLDER)
    except card.CardError as e:
        found["error"] = str(e)
        return found
    backups = sorted(n for n in names if n.endswith(".db.gz.age"))
    found["files"] = backups
    found["leftovers"] = [n for n in names if n not in backups]
    if not backups:
        return found
    data = card.read_file(stick, f"{STICK_FOLDER}/{backups[-1]}") or b""
    found["bytes"] = len(data)
    try:
        gz = tool(["age", "--decrypt", "-i", str(district.key)], input=data)
        plain = gzip.decompress(gz)
    except (RecordsError, OSError, EOFError) as e:
        found["error"] = f"cannot decrypt or unpack {backups[-1]}: {e}"
        return found
    db = work / "stick-backup.db"
    db.write_bytes(plain)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        found["integrity"] = conn.execute("PRAGMA integrity_check").fetchone()[0]
        row = conn.execute("SELECT value FROM settings WHERE key = 'facility_code'").fetchone()
        found["facility_code"] = row[0] if row else None
        found["patients"] = conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0]
        hit = conn.execute(
            "SELECT 1 FROM patients WHERE health_number = ? AND family_name = ?",
            (sample["health_number"], sample["family_name"]),
        ).fetchone()
        found["sample_found"] = hit is not None
    except sqlite3.DatabaseError as e:
        found["error"] = f"the stick's backup does not open: {e}"
    finally:
        conn.close()
    return found


def pieces(data: bytes, count: int = 3, size: int = PIECE) -> list[bytes]:
    """`count` slices from inside `data` (not its start: a gzip header is much alike)."""
    if len(data) < size * (count + 1):
        return [data] if data else []
    step = len(data) // (count + 1)
    return [data[step * (i + 1) : step * (i + 1) + size] for i in range(count)]


def found_on_partition(disk: Path, part: card.Partition, needles: dict[str, bytes]) -> list[str]:
    """The names of the needles whose bytes are anywhere in the partition (deleted files
    included: this reads the raw bytes, not the file system)."""
    with open(disk, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        end = part.start + part.size
        return [name for name, needle in needles.items() if mm.find(needle, part.start, end) >= 0]


_LS_NAME = re.compile(r"\s(keneya-[A-Z]+-\d{8}T\d{6}Z-[0-9a-f]{12}\.db)\s*$", re.M)


def data_backups(disk: Path, part: card.Partition) -> list[str]:
    """The nightly backups in /backups on the data partition (debugfs, nothing mounted)."""
    try:
        listing = tool(["debugfs", "-R", "ls -l /backups", f"{disk}?offset={part.start}"])
    except RecordsError:
        return []
    return sorted(_LS_NAME.findall(listing.decode("utf-8", "replace")))


# ---------------------------------------------------------------- the checks of boot 1


def check_restored_patient(web: Http, seeded: SeededBackup, figures: dict, checks: dict) -> None:
    """A patient of the backup the card carried answers a search, from outside."""
    number = seeded.sample["health_number"]
    status, body = web.request(f"/api/v1/patients?q={number}", timeout=60)
    checks["restored_patient_found"] = status == 200 and number in body
    figures["restore"]["patient_search"] = {"q": number, "status": status}


def ended_unit(qemu: Qemu, prefix: str) -> str | None:
    """The first unit named `prefix…` that finished or failed, as the console says."""
    facts = parse_console(qemu.console())
    return next((u for u in sorted(facts.finished | facts.failed) if u.startswith(prefix)), None)


def usb_stick_backup(web: Http, qemu: Qemu, figures: dict, checks: dict) -> None:
    """Plug the stick in through the monitor; its backup unit must finish, and the status
    the kiosk shows must say the stick may be removed."""
    command = hotplug_command()
    say(f"boot 1 (virt): USB stick in ({command})")
    t0 = time.monotonic()
    answer = qemu.ask(command)
    figures["usb_hotplug_answer"] = answer
    checks["usb_stick_inserted"] = answer is not None and not answer.strip()

    unit = wait_for(lambda: ended_unit(qemu, USB_UNIT), USB_BACKUP_TIMEOUT_S, qemu, every=0.5)
    facts = parse_console(qemu.console())
    figures["usb_backup_unit"] = unit
    checks["usb_backup_unit_finished"] = bool(unit) and unit in facts.finished
    if unit:
        figures["usb_backup_s"] = round(time.monotonic() - t0, 1)
        say(f"boot 1 (virt): {unit} ended {figures['usb_backup_s']} s after the stick went in")
    else:
        say("boot 1 (virt): no USB backup unit ended: console tail follows")
        show_tail(qemu)
    status, body = web.request("/api/v1/status", timeout=30)
    try:
        stick = json.loads(body)["backup"]["usb"] if status == 200 else None
    except (ValueError, KeyError, TypeError):
        stick = None
    figures["usb_status"] = stick
    checks["usb_status_says_done"] = isinstance(stick, dict) and stick.get("state") == "done"
    library_stick_offered(web, qemu, figures, checks)


def library_stick_offered(web: Http, qemu: Qemu, figures: dict, checks: dict) -> None:
    """After the backup, the stick's library unit keeps it mounted read-only, and the admin's
    import page in the web app (its own sandbox) offers it."""
    t0 = time.monotonic()

    unit = wait_for(lambda: ended_unit(qemu, LIBRARY_UNIT), USB_BACKUP_TIMEOUT_S, qemu, every=0.5)
    checks["library_stick_unit_finished"] = (
        bool(unit) and unit in parse_console(qemu.console()).finished
    )
    status, body = web.request("/library/import", timeout=60)
    offered = re.findall(re.escape(f"{LIBRARY_MOUNT_ROOT}/") + r"[\w/-]*" + re.escape(FOLDER), body)
    figures["library_stick"] = {
        "unit": unit,
        "s_after_backup": round(time.monotonic() - t0, 1),
        "import_page_status": status,
        "offered": offered,
    }
    checks["library_stick_offered"] = status == 200 and bool(offered)
    if not checks["library_stick_offered"]:
        say(f"boot 1 (virt): the library stick is not offered ({status}): console tail follows")
        show_tail(qemu)
        return
    # Pulled out: the unit stops with the stick, lets go of the mount, and the page no longer
    # offers it.
    say(f"boot 1 (virt): USB stick out (device_del {STICK_DEVICE_ID})")
    qemu.ask(f"device_del {STICK_DEVICE_ID}")

    def let_go() -> bool:
        console = clean_console(qemu.console())
        return bool(re.search(r"Unmounted run-keneya\\x2dlibrary-\w+\.mount", console))

    unmounted = wait_for(let_go, USB_BACKUP_TIMEOUT_S, qemu, every=0.5)
    status, body = web.request("/library/import", timeout=60)
    figures["library_stick"]["after_removal"] = {"unmounted": bool(unmounted), "status": status}
    checks["library_stick_let_go_when_pulled_out"] = (
        bool(unmounted) and status == 200 and f"{LIBRARY_MOUNT_ROOT}/" not in body
    )


_TIMER_STARTED = re.compile(r"Started keneya-backup\.timer\b")


def check_nightly_unit(qemu: Qemu, figures: dict, checks: dict) -> None:
    """The timer is active, and the nightly unit (pulled in once by systemd.wants=) ran to
    its end under its own sandbox."""
    checks["backup_timer_started"] = bool(_TIMER_STARTED.search(clean_console(qemu.console())))

    def ended() -> bool:
        facts = parse_console(qemu.console())
        return "keneya-backup" in facts.finished or "keneya-backup" in facts.failed

    wait_for(ended, NIGHTLY_TIMEOUT_S, qemu, every=2.0)
    facts = parse_console(qemu.console())
    checks["nightly_backup_unit_finished"] = "keneya-backup" in facts.finished
    figures["nightly_unit"] = facts.state("keneya-backup")
    if not checks["nightly_backup_unit_finished"]:
        # what the command said (journald forwards it to the console): the reason in the log
        said = [
            line
            for line in clean_console(qemu.console()).splitlines()
            if "backup" in line.lower() or "database" in line.lower()
        ]
        figures["nightly_console"] = said[-20:]
        for line in said[-8:]:
            say(f"nightly backup: {line}")


def check_card_bytes(
    disk: Path, seeded: SeededBackup, secrets: dict[str, str], figures: dict, checks: dict
) -> None:
    """Neither the records in clear nor a secret may stay anywhere on the FAT, not even in
    the clusters of a deleted file: the partition's raw bytes are searched."""
    listed = card.list_dir(disk, "keneya")
    part = card.boot_partition(disk)
    needles = {f"restore piece {i + 1}": p for i, p in enumerate(pieces(seeded.gz))}
    needles |= {f"secret {k}": v.encode() for k, v in secrets.items()}
    found = found_on_partition(disk, part, needles)
    figures["card_bytes_found"] = found
    figures["card_listing"] = listed
    checks["card_restore_copy_erased"] = "restore.db.gz" not in listed and not any(
        f.startswith("restore") for f in found
    )
    checks["card_has_no_secret_bytes"] = not any(f.startswith("secret") for f in found)
