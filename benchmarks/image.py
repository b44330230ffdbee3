"""SD-card image figures, printed as JSON.

* build: seconds for `make image`'s build (cold when the root filesystem is not cached yet, as
  after `--cold`, which builds into an empty cache folder), raw and compressed bytes (goal:
  at most 200 MB compressed);
* reproducible (`--twice`): a second build of the same commit into another folder, and whether
  the two .img.xz files have the same sha256 (the root filesystem comes from the same cache:
  the comparison is of everything the build makes from it and the commit);
* boot: the emulated boot test's figures: seconds from power-on to the web app's login page
  under `qemu -M virt` (goal: at most 60 s here), to the Keneya units being up under
  `-M raspi3b` (goal: at most 110 s), to power-off; bytes the guest writes to its card per
  day idle and on a busy clinic day (goal: at most 200 MB a day); each Keneya unit's
  `systemd-analyze security` exposure (goal: 3.0, first boot 5.0); the failed checks.

Run as root: .venv/bin/python benchmarks/image.py [--cold] [--twice] [--no-boot] [--no-raspi]
(about 5 minutes cached, 20 to 25 cold, 5 more with --twice, plus 6 for the boot test, on
2 cores)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from image_build import boottest, build  # noqa: E402
from image_build.__main__ import DEFAULT_CACHE  # noqa: E402

BOOT_FIGURES = (
    "passed",
    "failed_checks",
    "boot_to_login_s",
    "virt_poweroff_s",
    "raspi3b_units_started_s",
    "card_writes",
    "unit_security",
    "unit_users",
    "modes",
    "qemu",
)


def timed_build(out: Path, cache: Path, work: Path) -> tuple[dict, float]:
    t0 = time.monotonic()
    manifest = build.build(out, cache, work, keep_raw=False)
    return manifest, time.monotonic() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", action="store_true", help="build into an empty cache")
    parser.add_argument("--twice", action="store_true", help="build again and compare hashes")
    parser.add_argument("--no-boot", action="store_true", help="skip the boot test")
    parser.add_argument("--no-raspi", action="store_true", help="skip the raspi3b boot")
    args = parser.parse_args()
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="keneya-bench-") as tmp:
        cache = Path(tmp) / "cache" if args.cold else Path(DEFAULT_CACHE)
        cached = build.rootfs_tar(cache).exists()
        manifest, seconds = timed_build(ROOT / "build", cache, Path(tmp) / "work")
        figures["build"] = {
            "rootfs_cached": cached,
            "seconds": round(seconds, 1),
            "raw_bytes": manifest["raw_bytes"],
            "compressed_bytes": manifest["compressed_bytes"],
            "compressed_goal_bytes": 200_000_000,
            "debian_packages": len(manifest["debian_packages"]),
            "python_packages": len(manifest["python_packages"]),
        }
        if args.twice:
            again, seconds = timed_build(Path(tmp) / "again", cache, Path(tmp) / "work")
            figures["reproducible"] = {
                "first_sha256": manifest["image_sha256"],
                "second_sha256": again["image_sha256"],
                "same": manifest["image_sha256"] == again["image_sha256"],
                "second_build_seconds": round(seconds, 1),
            }
        if not args.no_boot:
            image = ROOT / "build" / manifest["image"]
            boot = boottest.run(image, Path(tmp) / "boot", raspi=not args.no_raspi)
            figures["boot"] = {key: boot.get(key) for key in BOOT_FIGURES}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
