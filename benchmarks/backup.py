"""Backup figures at facility scale: the online backup (seconds, MB), its check, the
age-encrypted copy for a USB stick (size, and seconds from "stick in" to "remove the stick"),
and a restore. Prints JSON; never passes or fails on time.

    .venv/bin/python benchmarks/backup.py [--patients 20000 100000] [--years 5]

Each facility is seeded once into a temporary folder. The USB stick is a folder here (the
appliance mounts the real one first: a few hundred ms more on a Pi).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from appliance.backup import copy, local, usb
from appliance.backup.restore import restore
from appliance.seed.facility import seed_facility
from appliance.store import Store

MB = 1_000_000


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return round(time.perf_counter() - t0, 2), out


def district_key(work: Path) -> str:
    key = work / "district.key"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    return subprocess.run(
        ["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True
    ).stdout.strip()


def measure(patients: int, years: int, work: Path, recipient: str) -> dict[str, object]:
    home = work / f"p{patients}"
    home.mkdir()
    db = home / "keneya.db"
    seed_s, _ = timed(seed_facility, db, patients=patients, seed=1, years=years, logins_dir=home)
    out: dict[str, object] = {"patients": patients, "seed_s": seed_s}
    with Store(db) as store:
        out["database_mb"] = round(db.stat().st_size / MB, 1)
        backup_s, report = timed(local.nightly, store, home / "backups")
        out["backup_s"] = backup_s  # the copy and its integrity check
        out["backup_mb"] = round(report["bytes"] / MB, 1)
        verify_s, _ = timed(copy.verify, report["file"])
        out["verify_s"] = verify_s
        stick = work / f"stick{patients}"
        stick.mkdir()
        usb_s, written = timed(
            usb.write_to_folder, store, stick, [recipient], work_dir=home / "backups"
        )
        out["usb_insert_to_remove_s"] = usb_s
        out["encrypted_mb"] = round(written["bytes"] / MB, 1)
    restore_s, restored = timed(restore, report["file"], db, backups_dir=home / "backups")
    out["restore_s"] = restore_s  # includes the checked copy of the replaced database
    out["restore_ok"] = restored["ok"]
    shutil.rmtree(home)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, nargs="+", default=[20_000, 100_000])
    ap.add_argument("--years", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="keneya-bench-backup-"))
    try:
        recipient = district_key(work)
        figures = [measure(n, args.years, work, recipient) for n in args.patients]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"backup": figures}, indent=2))


if __name__ == "__main__":
    main()
