"""What an update weighs: the bundle of a whole root, and what an app-only change costs.

Usage (root: debugfs rdump keeps owners): python benchmarks/update.py [RAW_IMAGE]

From an image's slot A: the root tree (debugfs rdump), made into ext4 twice the way the image
build makes it (`mke2fs -d`, same label and epoch), once as it is and once after a typical
app change (one module of the venv edited, as a new commit would); then
- the signed bundle of that root (what a USB stick carries, whatever changed);
- the 4 KiB blocks of the new root whose content the installed root does not already have:
  what RAUC's adaptive update (`block-hash-index`) would fetch over 3G when streaming, and
  the size of that index (32 bytes a block), fetched first;
- the venv alone as tar.xz: the size of an "app-only" bundle, had it its own slot;
- the file-level delta of the same change with its signed index: what goes over 3G.
Prints one JSON object.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from image_build.build import (  # noqa: E402
    DEV_CERT,
    DEV_KEY,
    MIB,
    ROOT_LABEL,
    ROOT_SPARE_MIB,
    make_ext4,
    round_mib,
    tree_size,
)
from image_build.bundle import make_bundle, root_from_image  # noqa: E402
from provisioning.delta import entry_for, make_delta, write_index  # noqa: E402
from provisioning.update import CARRIED  # noqa: E402

BLOCK = 4096
CHANGED = "opt/keneya/venv/lib/python3.11/site-packages/provisioning/slots.py"


def block_hashes(path: Path) -> list[bytes]:
    out = []
    with open(path, "rb") as f:
        while chunk := f.read(BLOCK):
            out.append(hashlib.sha256(chunk).digest()[:16])
    return out


def main() -> None:
    images = sorted((REPO / "build").glob("keneya-*-arm64.img"), key=lambda p: p.stat().st_mtime)
    image = Path(sys.argv[1]) if len(sys.argv) > 1 else images[-1]
    figures: dict = {"image": image.name}
    with tempfile.TemporaryDirectory(dir=REPO / "build") as tmp:
        work = Path(tmp)
        original = work / "a.ext4"
        root_from_image(image, original)
        tree = work / "tree"
        tree.mkdir()
        t0 = time.monotonic()
        subprocess.run(["debugfs", "-R", f"rdump / {tree}", str(original)], check=True,
                       capture_output=True)  # fmt: skip
        figures["rdump_s"] = round(time.monotonic() - t0, 1)
        epoch = int(original.stat().st_mtime)
        # rdump writes hard links as copies (Mesa's driver under 43 names): sized as the build
        # sizes a root, from this tree
        size = round_mib(tree_size(tree) * 11 // 10 + ROOT_SPARE_MIB * MIB)
        old, new = work / "old.ext4", work / "new.ext4"
        make_ext4(tree, old, size, ROOT_LABEL, epoch)
        # the same change as a delta (what is fetched over 3G): the new tree is the old one
        # hard-linked, the module and the release written anew, and make_delta walks both
        # whole trees as the district's publish does
        edited = work / "edited"
        subprocess.run(["cp", "-al", str(tree), str(edited)], check=True)
        for rel, extra in ((CHANGED, "\n# a typical app change: one module edited\n"),
                           ("etc/keneya-release", "")):  # fmt: skip
            text = (edited / rel).read_text()
            (edited / rel).unlink()
            (edited / rel).write_text(text.strip() + "-delta\n" if not extra else text + extra)
        t0 = time.monotonic()
        patch = work / "delta.tar.xz"
        manifest = make_delta(tree, edited, patch, carried=CARRIED, kernel="bench")
        figures.update(
            delta_bytes=patch.stat().st_size,
            delta_files=len(manifest["files"]),
            delta_make_s=round(time.monotonic() - t0, 1),
        )
        with tempfile.TemporaryDirectory() as keys:
            index = write_index(Path(keys), [entry_for(patch, kind="delta", version="b",
                                kernel="bench")], latest="b", compatible="bench", key=DEV_KEY,
                                cert=DEV_CERT)  # fmt: skip
            signed = index.stat().st_size + index.with_name(index.name + ".sig").stat().st_size
        # over 3G for this app update: the signed index and the delta (no HTTP headers)
        figures["over_3g_bytes"] = signed + figures["delta_bytes"]
        shutil.rmtree(edited)
        module = tree / CHANGED
        module.write_text(module.read_text() + "\n# a typical app change: one module edited\n")
        make_ext4(tree, new, size, ROOT_LABEL, epoch)
        old_blocks, new_blocks = block_hashes(old), block_hashes(new)
        have = set(old_blocks)
        missing = {h for h in new_blocks if h not in have}
        differ = sum(1 for a, b in zip(old_blocks, new_blocks, strict=True) if a != b)
        figures.update(
            root_bytes=size,
            blocks=len(new_blocks),
            blocks_at_a_different_place=differ,
            blocks_not_in_installed_root=len(missing),
            adaptive_fetch_bytes=len(missing) * BLOCK,
            # RAUC's block-hash-index: 32 bytes of sha256 per 4 KiB block of the image
            block_hash_index_bytes=len(new_blocks) * 32,
        )
        t0 = time.monotonic()
        facts = make_bundle(new, work / "full.raucb", version="bench", key=DEV_KEY, cert=DEV_CERT)
        figures["full_root_bundle_bytes"] = facts["bytes"]
        figures["full_root_bundle_s"] = round(time.monotonic() - t0, 1)
        venv = work / "venv.tar.xz"
        subprocess.run(["tar", "-C", str(tree), "-cJf", str(venv), "opt/keneya/venv"], check=True)
        figures["venv_tar_xz_bytes"] = venv.stat().st_size
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
