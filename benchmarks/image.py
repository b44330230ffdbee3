"""SD-card image figures, printed as JSON.

* build: seconds for `make image`'s build (cold when the root filesystem is not cached yet, as
  after `--cold`, which builds into an empty cache folder), raw and compressed bytes (goal:
  at most 700 MB compressed);
* boot: the emulated boot test's figures: seconds from power-on to the web app's login page
  under `qemu -M virt`, to the Keneya units being up under `-M raspi3b`, and to power-off.

Run as root: .venv/bin/python benchmarks/image.py [--cold] [--no-raspi]
(about 6 minutes cached, 12 cold, plus 6 for the boot test, on 2 cores)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", action="store_true", help="build into an empty cache")
    parser.add_argument("--no-raspi", action="store_true", help="skip the raspi3b boot")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="keneya-bench-") as tmp:
        cache = Path(tmp) / "cache" if args.cold else Path(DEFAULT_CACHE)
        cached = build.rootfs_tar(cache).exists()
        t0 = time.monotonic()
        manifest = build.build(ROOT / "build", cache, Path(tmp) / "work", keep_raw=False)
        build_s = time.monotonic() - t0
        image = ROOT / "build" / manifest["image"]
        boot = boottest.run(image, Path(tmp) / "boot", raspi=not args.no_raspi)
    print(
        json.dumps(
            {
                "build": {
                    "rootfs_cached": cached,
                    "seconds": round(build_s, 1),
                    "raw_bytes": manifest["raw_bytes"],
                    "compressed_bytes": manifest["compressed_bytes"],
                    "debian_packages": len(manifest["debian_packages"]),
                    "python_packages": len(manifest["python_packages"]),
                },
                "boot": {
                    key: boot.get(key)
                    for key in (
                        "passed",
                        "failed_checks",
                        "boot_to_login_s",
                        "virt_poweroff_s",
                        "raspi3b_units_started_s",
                        "qemu",
                    )
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
