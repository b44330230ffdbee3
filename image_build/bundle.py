"""Update bundles: the root file system an image has, as a signed RAUC bundle (`make bundle`).

The bundle is made from the image file itself (slot A's ext4, copied sparse), so that what a
clinic installs is byte for byte the root that was boot-tested. Format `verity` (RAUC checks
each block as it reads it: a bundle cut short or altered on a stick fails, it is never half
installed), signed with the district's key; `rauc info` on the appliance checks it against the
keyring the image carries (image_build/build.py, --update-cert).

A bundle holds the whole root (about 1.5 GB raw, ~200 MB compressed): a stick carries it
easily; over 3G see the README ("Updating a facility").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from image_build.boothardening import debugfs_names
from image_build.build import (
    MIB,
    ROOT_A_PARTITION,
    BuildError,
)
from provisioning import card, delta
from provisioning.update import COMPATIBLE

# The district's key pair, kept off this repository (and off any appliance).
PRODUCTION_KEY = Path(os.environ.get("KENEYA_BUNDLE_KEY", "/etc/keneya-district/bundle.key.pem"))
PRODUCTION_CERT = Path(os.environ.get("KENEYA_BUNDLE_CERT", "/etc/keneya-district/bundle.cert.pem"))
# zstd: 1.5 GB of root in about a minute on two cores, within a few % of xz's size; the
# kernel's squashfs reads it (CONFIG_SQUASHFS_ZSTD).
MKSQUASHFS_ARGS = "-comp zstd -Xcompression-level 15 -b 128K"


def tool(args: list[str], *, timeout: float = 1800.0) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise BuildError(f"{args[0]} is missing: run `scripts/setup.sh image`") from None
    if done.returncode != 0:
        raise BuildError(f"{' '.join(args[:3])}… failed: {done.stderr.strip()[-800:]}")
    return done.stdout


def root_from_image(image: Path, dest: Path) -> int:
    """Copy slot A's ext4 file system (its own size, not the partition's) to dest; its bytes."""
    parts = {p.number: p for p in card.partitions(image)}
    if ROOT_A_PARTITION not in parts:
        raise BuildError(f"{image} has no partition {ROOT_A_PARTITION}: not a Keneya image")
    part = parts[ROOT_A_PARTITION]
    header = tool(["dumpe2fs", "-h", f"{image}?offset={part.start}"])
    blocks = int(re.search(r"^Block count:\s+(\d+)", header, re.M)[1])
    size = int(re.search(r"^Block size:\s+(\d+)", header, re.M)[1])
    length = blocks * size
    dest.unlink(missing_ok=True)
    with open(image, "rb") as src, open(dest, "wb") as out:
        out.truncate(length)
        src.seek(part.start)
        remaining = length
        pos = 0
        zero = bytes(MIB)
        while remaining:
            chunk = src.read(min(MIB, remaining))
            if not chunk:
                break
            if chunk != zero[: len(chunk)]:
                out.seek(pos)
                out.write(chunk)
            pos += len(chunk)
            remaining -= len(chunk)
    return length


def read_file(ext4: Path, path: str) -> str:
    return tool(["debugfs", "-R", f"cat {path}", str(ext4)])


def kernel_release(ext4: Path) -> str:
    """The root's kernel (its /usr/lib/modules folder): the card's kernel is on the boot
    partition, shared by both slots, so a bundle must be for the same one."""
    names = debugfs_names(tool(["debugfs", "-R", "ls -p /usr/lib/modules", str(ext4)]))
    if len(names) != 1:
        raise BuildError(f"{ext4}: expected one kernel in /usr/lib/modules, found {names}")
    return names[0]


def put_files(ext4: Path, files: dict[str, bytes], *, mode: int = 0o644) -> None:
    """Replace (or add) files in an ext4 image, root-owned, with debugfs (nothing mounted).
    Their folders must exist."""
    with tempfile.TemporaryDirectory() as tmp:
        commands = []
        for i, (path, data) in enumerate(files.items()):
            local = Path(tmp) / str(i)
            local.write_bytes(data)
            commands += [
                f"rm {path}",
                f"write {local} {path}",
                f"sif {path} mode 0{0o100000 | mode:o}",
                f"sif {path} uid 0",
                f"sif {path} gid 0",
            ]
        script = Path(tmp) / "commands"
        script.write_text("\n".join(commands) + "\n")
        # debugfs carries on past a failed `rm` of a file that was not there
        subprocess.run(["debugfs", "-w", "-f", str(script), str(ext4)], capture_output=True)
    for path, data in files.items():
        if read_file(ext4, path).encode() != data:
            raise BuildError(f"debugfs could not write {path} into {ext4}")


def make_bundle(
    root_ext4: Path,
    out: Path,
    *,
    version: str,
    key: Path,
    cert: Path,
    description: str = "",
    mksquashfs_args: str = MKSQUASHFS_ARGS,
) -> dict:
    """A verity bundle for slot class rootfs; returns its facts."""
    for path, what in ((key, "signing key"), (cert, "certificate")):
        if not path.is_file():
            raise BuildError(f"no {what} at {path}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        content = Path(tmp) / "content"
        content.mkdir()
        if root_ext4.stat().st_dev == content.stat().st_dev:
            os.link(root_ext4, content / "root.ext4")  # 1.5 GB: no copy when it can be linked
        else:
            shutil.copyfile(root_ext4, content / "root.ext4")
        (content / "manifest.raucm").write_text(
            "[update]\n"
            f"compatible={COMPATIBLE}\n"
            f"version={version}\n"
            f"description={description or 'Keneya ' + version}\n"
            "\n[bundle]\nformat=verity\n"
            "\n[image.rootfs]\nfilename=root.ext4\n"
        )
        out.unlink(missing_ok=True)
        tool(["rauc", "bundle", f"--cert={cert}", f"--key={key}",
              f"--mksquashfs-args={mksquashfs_args}", str(content), str(out)])  # fmt: skip
    return {
        "bundle": str(out),
        "version": version,
        "bytes": out.stat().st_size,
        "root_bytes": root_ext4.stat().st_size,
        "sha256": delta.sha256_file(out),
        "seconds": round(time.monotonic() - started, 1),
    }


def bundle_from_image(
    image: Path,
    out: Path,
    *,
    key: Path,
    cert: Path,
    version: str | None = None,
    files: dict[str, bytes] | None = None,
    description: str = "",
    work: Path | None = None,
) -> dict:
    """The image's root as a bundle; `version` (and `files`) change that root first."""
    work = work or out.parent
    work.mkdir(parents=True, exist_ok=True)
    root = work / f".{out.name}.root.ext4"
    try:
        root_from_image(image, root)
        release = read_file(root, "/etc/keneya-release").strip()
        changes = dict(files or {})
        if version and version != release:
            changes["/etc/keneya-release"] = (version + "\n").encode()
        if changes:
            put_files(root, changes)
        kernel = kernel_release(root)
        facts = make_bundle(
            root, out, version=version or release, key=key, cert=cert,
            description=f"{description or 'Keneya ' + (version or release)}; kernel {kernel}",
        )  # fmt: skip
    finally:
        root.unlink(missing_ok=True)
    return facts | {"image": str(image), "image_version": release}


def info(bundle: Path, keyring: Path) -> dict:
    return json.loads(
        tool(["rauc", "info", f"--keyring={keyring}", "--output-format=json", str(bundle)])
    )


def tree_from_image(image: Path, dest: Path, work: Path) -> Path:
    """Slot A's root of an image as a folder (debugfs rdump: owners kept when run as root)."""
    root = work / f"{image.stem}.root.ext4"
    try:
        root_from_image(image, root)
        dest.mkdir(parents=True)
        tool(["debugfs", "-R", f"rdump / {dest}", str(root)], timeout=3600)
        return dest
    finally:
        root.unlink(missing_ok=True)


def publish(
    old_image: Path, new_image: Path, out: Path, *, key: Path, cert: Path,
    bundles: tuple[Path, ...] = (),
) -> dict:  # fmt: skip
    """The district's folder for 3G (and for a stick's keneya-update/): the delta from the old
    image's root to the new one's, any bundles given, and the signed index naming them."""
    from provisioning.update import CARRIED

    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        work = Path(tmp)
        old = tree_from_image(old_image, work / "old", work)
        new = tree_from_image(new_image, work / "new", work)
        kernel = next(iter(sorted((new / "usr/lib/modules").iterdir()))).name
        name = "keneya-{to}-from-{frm}.delta.tar.xz"
        frm = (old / delta.RELEASE_PATH).read_text().strip()
        to = (new / delta.RELEASE_PATH).read_text().strip()
        path = out / name.format(to=to, frm=frm)
        manifest = delta.make_delta(old, new, path, carried=CARRIED, kernel=kernel)
    entries = [delta.entry_for(path, kind="delta", version=to, kernel=kernel, **{"from": frm})]
    for b in bundles:
        shutil.copy2(b, out / b.name)
        entries.append(delta.entry_for(out / b.name, kind="bundle", version=to, kernel=kernel))
    delta.write_index(out, entries, latest=to, compatible=COMPATIBLE, key=key, cert=cert)
    return {
        "folder": str(out),
        "from": frm,
        "to": to,
        "delta": path.name,
        "delta_bytes": path.stat().st_size,
        "files_changed": len(manifest["files"]),
        "deleted": len(manifest["delete"]),
        "seconds": round(time.monotonic() - started, 1),
    }
