"""Updates over 3G: the district's signed index, and app updates as file-level deltas.

A whole-root bundle (~260 MB) is out of reach of a clinic's data plan; an app update changes a
few files of the root (the venv's modules, /etc/keneya-release, a unit). So the district
publishes, beside the bundles, a *delta* from each version in the field to the new one: a
tar.xz of the files the new root has that the old one has not (whole files, owners, modes and
extended attributes kept) and a manifest (KENEYA-DELTA.json, its first member) naming the
versions, the kernel, the files' SHA-256 and the paths to delete.

The appliance installs a delta into the other slot: a fresh ext4, a copy of the running root,
the delta over it, every file checked against the manifest; then the same trial boot, health
check and rollback as a bundle (provisioning/update.py).

Trust: `index.json` lists what is published with each file's size and SHA-256, and is signed
(`index.json.sig`, CMS, DER, detached) with the district's bundle key; the appliance checks it
against the keyring RAUC uses (/etc/rauc/keyring.pem) with openssl, so one key signs both and
a file that does not hash to what the signed index says is never installed.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

INDEX_NAME = "index.json"
SIGNATURE_NAME = "index.json.sig"
MANIFEST_NAME = "KENEYA-DELTA.json"
FORMAT = 1
RELEASE_PATH = "etc/keneya-release"
# The kernel and its modules live with the boot partition, shared by both slots: a delta may
# not touch them (a kernel change needs the card written anew, as for a bundle).
KERNEL_PATHS = ("boot/", "usr/lib/modules/", "lib/modules/")
# What the running appliance writes and an update keeps (provisioning/update.py CARRIED) and
# what is state, not software: never in a delta, whatever the new build has there.
NOT_SOFTWARE = ("var/lib/", "var/log/", "var/cache/", "tmp/", "run/", "proc/", "sys/", "dev/")


class DeltaError(ValueError):
    """An index, a signature or a delta that must not be used; the message is for the admin."""


def sha256_file(path: Path) -> str:
    """A file's SHA-256, read in blocks (the image build's files too)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# --- the signed index ------------------------------------------------------------------------


def sign(path: Path, key: Path, cert: Path) -> Path:
    """`path`.sig: a detached CMS signature (DER) with the district's key (district side)."""
    sig = path.with_name(path.name + ".sig")
    _tool(["openssl", "cms", "-sign", "-binary", "-in", str(path), "-signer", str(cert),
              "-inkey", str(key), "-outform", "DER", "-out", str(sig)])  # fmt: skip
    return sig


def verify(content: bytes, signature: bytes, keyring: Path) -> None:
    """DeltaError unless `signature` is the district's signature of exactly `content`."""
    if not keyring.is_file():
        raise DeltaError(f"pas de certificat du district ({keyring}) / no keyring")
    with tempfile.TemporaryDirectory() as tmp:
        data, sig = Path(tmp) / "content", Path(tmp) / "sig"
        data.write_bytes(content)
        sig.write_bytes(signature)
        # -purpose any: the district's certificate is a signing certificate, not an
        # S/MIME one; what matters is that it chains to the keyring.
        done = subprocess.run(
            ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(sig),
             "-content", str(data), "-CAfile", str(keyring), "-purpose", "any",
             "-out", os.devnull],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            raise DeltaError(
                "signature invalide : l'index n'est pas signé par le district / bad signature"
                f" ({' '.join(done.stderr.split())[-160:]})"
            )


def parse_index(content: bytes, *, compatible: str) -> dict[str, Any]:
    try:
        index = json.loads(content)
    except ValueError:
        raise DeltaError("index illisible / unreadable index") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise DeltaError("index d'un autre format / index of another format")
    if index.get("compatible") != compatible:
        raise DeltaError(f"index pour « {index.get('compatible')} », pas pour {compatible}")
    files = index.get("files")
    if not isinstance(files, list) or not all(entry_ok(e) for e in files):
        raise DeltaError("index incomplet / entries missing fields")
    return index


def entry_ok(e: Any) -> bool:
    return (
        isinstance(e, dict)
        and e.get("kind") in ("delta", "bundle")
        and isinstance(e.get("file"), str)
        and "/" not in e["file"]
        and not e["file"].startswith(".")
        and isinstance(e.get("bytes"), int)
        and e["bytes"] > 0
        and isinstance(e.get("sha256"), str)
        and re.fullmatch(r"[0-9a-f]{64}", e["sha256"]) is not None
        and isinstance(e.get("version"), str)
    )


def choose(index: dict[str, Any], *, running: str, kernel: str) -> dict[str, Any] | None:
    """What this appliance should fetch: the delta from its version to the latest, else the
    latest's bundle; None when it runs the latest (or nothing fits its kernel)."""
    latest = index.get("latest")
    if not latest or latest == running:
        return None
    fitting = [e for e in index["files"] if e["version"] == latest and e.get("kernel") == kernel]
    for e in fitting:
        if e["kind"] == "delta" and e.get("from") == running:
            return e
    for e in fitting:
        if e["kind"] == "bundle":
            return e
    return None


def write_index(folder: Path, entries: list[dict[str, Any]], *, latest: str, compatible: str,
                key: Path, cert: Path) -> Path:  # fmt: skip
    """index.json and its signature in `folder` (district side)."""
    index = {
        "format": FORMAT,
        "compatible": compatible,
        "latest": latest,
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": entries,
    }
    path = folder / INDEX_NAME
    path.write_text(json.dumps(index, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    sign(path, key, cert)
    return path


def entry_for(path: Path, *, kind: str, version: str, kernel: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "version": version, "kernel": kernel, "file": path.name,
            "bytes": path.stat().st_size, "sha256": sha256_file(path), **extra}  # fmt: skip


# --- making a delta (district side) ----------------------------------------------------------


def _walk(root: Path) -> Iterator[str]:
    for folder, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(folder, root)
        for name in sorted(dirnames + filenames):
            yield name if rel == "." else f"{rel}/{name}"


def _is_kept(rel: str, carried: tuple[str, ...]) -> bool:
    return any(rel == c or rel.startswith(c + "/") for c in carried) or any(
        (rel + "/").startswith(p) for p in NOT_SOFTWARE
    )


def _same(a: Path, b: Path) -> bool:
    sa, sb = a.lstat(), b.lstat()
    if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode):
        return False
    if (sa.st_mode, sa.st_uid, sa.st_gid) != (sb.st_mode, sb.st_uid, sb.st_gid):
        return False
    if stat.S_ISLNK(sa.st_mode):
        return os.readlink(a) == os.readlink(b)
    if stat.S_ISREG(sa.st_mode):
        return sa.st_size == sb.st_size and sha256_file(a) == sha256_file(b)
    return True  # a directory whose owner and mode are the same


def _kind(path: Path) -> int:
    return stat.S_IFMT(path.lstat().st_mode)


def make_delta(old_root: Path, new_root: Path, out: Path, *, carried: tuple[str, ...],
               kernel: str) -> dict[str, Any]:  # fmt: skip
    """The delta taking old_root to new_root, as out (.tar.xz). Its manifest is returned."""
    old_version = (old_root / RELEASE_PATH).read_text().strip()
    new_version = (new_root / RELEASE_PATH).read_text().strip()
    if old_version == new_version:
        raise DeltaError(f"both roots are version {new_version}: nothing to publish")
    changed, files = [], {}
    for rel in _walk(new_root):
        if _is_kept(rel, carried):
            continue
        old, new = old_root / rel, new_root / rel
        if (old.exists() or old.is_symlink()) and _same(old, new):
            continue
        if any(rel.startswith(k) or rel + "/" == k for k in KERNEL_PATHS):
            raise DeltaError(
                f"{rel} differs: the kernel changed, which only a card written anew (or a"
                " bundle by stick) can bring"
            )
        changed.append(rel)
        if new.is_file() and not new.is_symlink():
            files[rel] = sha256_file(new)
    # gone, or of another kind (a folder that became a link: tar cannot put a link over a
    # folder): deleted first at the clinic, then the new one extracted
    deleted = [
        rel
        for rel in _walk(old_root)
        if not _is_kept(rel, carried)
        and (not os.path.lexists(new_root / rel) or _kind(new_root / rel) != _kind(old_root / rel))
    ]
    # a deleted folder takes its contents: name only the topmost
    deleted = [d for d in deleted if not any(d.startswith(o + "/") for o in deleted)]
    manifest = {
        "format": FORMAT,
        "from": old_version,
        "to": new_version,
        "kernel": kernel,
        "files": files,
        "members": changed,
        "delete": deleted,
    }
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
        listing = Path(tmp) / "list"
        listing.write_text("".join(f"./{rel}\n" for rel in changed))
        # GNU tar: owners, modes, symlinks and extended attributes (file capabilities) kept;
        # the manifest first, so an installer reads it before anything else
        # absolute: a second -C is relative to the first
        _tool(["tar", "--create", "--xz", "--file", str(out.resolve()), "--numeric-owner",
               "--xattrs", "--xattrs-include=*", "--no-recursion", "-C", tmp, MANIFEST_NAME,
               "-C", str(new_root.resolve()), "--files-from", str(listing)])  # fmt: skip
    return manifest


def _tool(args: list[str]) -> None:
    """tar or openssl, its complaint (the end of it) in the DeltaError."""
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise DeltaError(f"{args[0]} {args[1]}: {' '.join(done.stderr.split())[-300:]}")


# --- applying a delta (appliance side) --------------------------------------------------------


def read_manifest(delta: Path) -> dict[str, Any]:
    """The manifest of a delta file; DeltaError when it is not one."""
    try:
        with tarfile.open(delta, "r:xz") as tar:
            first = tar.next()
            if first is None or first.name.lstrip("./") != MANIFEST_NAME:
                raise DeltaError(f"{delta.name} n'est pas une mise à jour / not a delta")
            f = tar.extractfile(first)
            assert f is not None
            manifest = json.loads(f.read())
    except (tarfile.TarError, OSError, EOFError, ValueError) as e:
        raise DeltaError(f"{delta.name} illisible / unreadable ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DeltaError(f"{delta.name} : format inconnu / unknown format")
    for key in ("from", "to", "kernel"):
        if not isinstance(manifest.get(key), str):
            raise DeltaError(f"{delta.name} : manifeste incomplet / manifest lacks {key}")
    if not (
        isinstance(manifest.get("files"), dict)
        and isinstance(manifest.get("delete"), list)
        and isinstance(manifest.get("members"), list)
    ):
        raise DeltaError(f"{delta.name} : manifeste incomplet / manifest incomplete")
    for rel in [*manifest["files"], *manifest["delete"], *manifest["members"]]:
        if not isinstance(rel, str) or rel.startswith("/") or ".." in rel.split("/"):
            raise DeltaError(f"{delta.name} : chemin refusé {rel!r} / path refused")
    return manifest


def _inside(root: Path, rel: str) -> bool:
    """rel names something under root through real folders only (no link on the way): what
    the copied root has as links (var/run → /run) must not take a write outside it."""
    parts = Path(rel).parts
    if not parts or rel in (".", "./") or any(p in ("..", ".") for p in parts):
        return False
    return not any(root.joinpath(*parts[:i]).is_symlink() for i in range(1, len(parts)))


def check_members(delta: Path, manifest: dict[str, Any], root: Path) -> None:
    """Every member of the delta is one the manifest names, a plain file, folder or link, and
    lands under root through real folders (a link the delta itself brings included)."""
    named = set(manifest["members"])
    links: list[str] = []
    try:
        with tarfile.open(delta, "r:xz") as tar:
            for m in tar:
                name = m.name.removeprefix("./")
                if name == MANIFEST_NAME:
                    continue
                if name not in named or not (m.isreg() or m.isdir() or m.issym()):
                    raise DeltaError(f"{delta.name} : « {name} » refusé / member refused")
                if not _inside(root, name) or any(name.startswith(k + "/") for k in links):
                    raise DeltaError(f"{delta.name} : « {name} » passe par un lien / via a link")
                if m.issym():
                    links.append(name)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DeltaError(f"{delta.name} illisible / unreadable ({e})") from None


def apply_delta(delta: Path, root: Path, manifest: dict[str, Any]) -> None:
    """Apply `delta` over `root` (a copy of the running root) and check the result: every file
    the manifest lists has its SHA-256, every deleted path is gone, the release is `to`."""
    for rel in manifest["delete"]:
        if not _inside(root, rel):
            raise DeltaError(f"suppression refusée : {rel!r} / deletion refused")
    check_members(delta, manifest, root)
    for rel in manifest["delete"]:
        target = root / rel
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    # xz through Python's lzma into tar's stdin: the image has tar but no xz program. tar's
    # messages go to a file: a pipe left unread would stop it once full.
    with tempfile.TemporaryFile() as errors:
        tar = subprocess.Popen(
            ["tar", "--extract", "--file", "-", "-C", str(root), "--numeric-owner",
             "--same-permissions", "--same-owner", "--xattrs", "--xattrs-include=*",
             "--exclude", MANIFEST_NAME],
            stdin=subprocess.PIPE, stderr=errors,
        )  # fmt: skip
        assert tar.stdin is not None
        try:
            with lzma.open(delta) as unpacked:
                shutil.copyfileobj(unpacked, tar.stdin, 1 << 20)
        except (lzma.LZMAError, EOFError, BrokenPipeError) as e:
            tar.kill()
            tar.wait()
            raise DeltaError(f"{delta.name} illisible ({e})") from None
        finally:
            tar.stdin.close()
        if tar.wait() != 0:
            errors.seek(0)
            said = errors.read()[-2000:].decode(errors="replace")
            raise DeltaError(f"tar: {' '.join(said.split())[-300:]}")
    wrong = [rel for rel, digest in manifest["files"].items()
             if not (root / rel).is_file() or sha256_file(root / rel) != digest]  # fmt: skip
    if wrong:
        raise DeltaError(f"{len(wrong)} fichier(s) faux après application ({wrong[0]})")
    brought = set(manifest["members"])  # a path deleted for being of another kind
    left = [r for r in manifest["delete"] if r not in brought and os.path.lexists(root / r)]
    if left:
        raise DeltaError(f"{left[0]} aurait dû être supprimé / should have been deleted")
    release = (root / RELEASE_PATH).read_text().strip()
    if release != manifest["to"]:
        raise DeltaError(f"version {release} après application, {manifest['to']} attendue")
