"""Bytes one SQLite commit costs the card, printed as JSON.

A 512 MiB file is made an ext4 file system (mounted noatime,commit=60 as the image mounts its
data partition) on a loop device; a demo facility's database is put on it, and the loop
device's own count of sectors written (/sys/block/loopN/stat) is read around:

* `back_to_back`: 20 small commits (two settings, as the modem daemon's status) 0.2 s apart;
* `spaced`: 5 of them 35 s apart (each then pays its own ext4 journal commit and `-shm` page);
* `power_monitor` (--power): `keneya power run --simulate sunny` at real speed for 300 s, then
  61 s of quiet so its last writes reach the "card".

Run as root (losetup, mount): .venv/bin/python benchmarks/card_writes.py [--power]
(about 4 minutes; 10 with --power)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.store.db import Store  # noqa: E402

KENEYA = str(ROOT / ".venv" / "bin" / "keneya")
DAY_S = 86400


def written(loop: str) -> int:
    os.sync()
    fields = Path(f"/sys/block/{Path(loop).name}/stat").read_text().split()
    return int(fields[6]) * 512  # sectors written, always 512-byte units


def per_commit(loop: str, db: Path, count: int, gap_s: float) -> dict:
    store = Store(db)
    try:
        time.sleep(1)
        before = written(loop)
        for i in range(count):
            store.set_settings({"bench.value": str(i), "bench.at": str(time.time())})
            time.sleep(gap_s)
        after = written(loop)
    finally:
        store.close()
    per = (after - before) / count
    return {"commits": count, "gap_s": gap_s, "bytes_per_commit": int(per),
            "bytes_per_day_at_one_a_minute": int(per * DAY_S / 60)}  # fmt: skip


def power_monitor(loop: str, home: Path) -> dict:
    before = written(loop)
    t0 = time.monotonic()
    subprocess.run(["timeout", "300", KENEYA, "--home", str(home), "power", "run",
                    "--simulate", "sunny", "--speed", "1"], capture_output=True)  # fmt: skip
    time.sleep(61)
    seconds = time.monotonic() - t0
    after = written(loop)
    return {"seconds": round(seconds, 1), "bytes": after - before,
            "bytes_per_day": int((after - before) * DAY_S / seconds)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--power", action="store_true", help="also run the power monitor 300 s")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark makes a loop device and mounts it")
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="keneya-writes-") as tmp:
        disk, mnt = Path(tmp) / "card.img", Path(tmp) / "mnt"
        with open(disk, "wb") as f:
            f.truncate(512 << 20)
        subprocess.run(["mkfs.ext4", "-q", str(disk)], check=True)
        loop = subprocess.run(["losetup", "-f", "--show", str(disk)], check=True,
                              capture_output=True, text=True).stdout.strip()  # fmt: skip
        mnt.mkdir()
        try:
            subprocess.run(["mount", "-o", "noatime,commit=60", loop, str(mnt)], check=True)
            home = mnt / "home"
            subprocess.run([KENEYA, "--home", str(home), "demo", "--patients", "500"],
                           check=True, capture_output=True)  # fmt: skip
            db = home / "keneya.db"
            figures["back_to_back"] = per_commit(loop, db, 20, 0.2)
            figures["spaced"] = per_commit(loop, db, 5, 35.0)
            if args.power:
                figures["power_monitor"] = power_monitor(loop, home)
        finally:
            subprocess.run(["umount", str(mnt)], check=False)
            subprocess.run(["losetup", "-d", loop], check=False)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
