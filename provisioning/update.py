"""Updates on the appliance: a signed RAUC bundle into the other root slot, a trial boot, and
the health check that keeps it or goes back.

The flow, each step a root unit (image_build/units/keneya-update-*.service):
1. `scan` (a USB stick goes in): a `.raucb` at the stick's top is checked by `rauc info`
   against the district's keyring (/etc/rauc/keyring.pem) and this appliance's compatible,
   copied to the data partition and offered: "Mise à jour disponible : version X". A bad
   signature is refused with a clear message and nothing is copied.
2. `install` (the admin confirms): a verified copy of the database (the pre-update backup),
   then `rauc install`; its progress and outcome in the state file; then a reboot.
3. `boot` (every boot, before the web app): when the initramfs came back from a slot that
   failed (fallback_from in the slot record) the outcome says so, and if that version had
   migrated the database beyond what this one reads, the pre-update backup is restored.
4. `health` (every boot, after the web app): on a slot on trial, the database opens and passes
   quick_check with its migrations applied, the web app answers its login page and the power
   daemon runs: `rauc status mark-good`. Not within the time allowed: mark-bad and reboot, and
   the initramfs takes the other slot.

Everything the web app, kiosk and `keneya update status` show is in one JSON file on the data
partition (STATE_NAME), written through a temporary file by root and readable by the service
user, so that nothing but root ever talks to RAUC.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.backup import copy as backup_copy
from appliance.backup.copy import BackupError, fsync_dir
from appliance.backup.restore import restore as restore_backup
from appliance.clock import Clock, to_iso
from appliance.paths import Paths
from appliance.services import update_state
from appliance.services.update_state import STATE_NAME, UPDATE_DIR
from appliance.store.db import Store, StoreError
from appliance.store.schema import MIGRATIONS
from provisioning import delta, slots

KEYRING = Path("/etc/rauc/keyring.pem")
RELEASE = Path("/etc/keneya-release")
COMPATIBLE = "keneya-rpi-arm64"
ROOT_LABEL = "keneya-root"  # image_build/build.py's, for a slot made on the appliance
PRE_UPDATE = "avant-mise-a-jour"  # folder of the pre-update backup, in the update folder
HEALTH_MINUTES = 10
LOGIN_URL = "http://127.0.0.1/"  # the login page, for a request without a session
REQUIRED_UNITS = ("keneya-power.service",)


class UpdateError(RuntimeError):
    """A step that could not be done; the message is for the admin (French first)."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- the state file ----------------------------------------------------------------------


def update_dir(p: Paths) -> Path:
    return p.data_dir / UPDATE_DIR


def read_state(p: Paths) -> dict[str, Any]:
    state = update_state.read(p.data_dir)
    state.pop("download", None)  # the modem daemon's file, shown beside this one, not in it
    return state


def write_state(p: Paths, state: dict[str, Any]) -> dict[str, Any]:
    folder = update_folder(p)
    tmp = folder / (STATE_NAME + ".new")
    tmp.unlink(missing_ok=True)
    # root's file, the service user's group may read it (the web app, the kiosk)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(state, ensure_ascii=False, indent=2) + "\n")
        f.flush()
        if os.geteuid() == 0:
            os.fchown(f.fileno(), 0, p.data_dir.stat().st_gid)
        os.fchmod(f.fileno(), 0o640)
        os.fsync(f.fileno())
    os.replace(tmp, folder / STATE_NAME)
    return state


def update_folder(p: Paths) -> Path:
    """The update folder, root's (group: the service user's, who reads the state), so that
    nothing root writes or reads there can be swapped by the service user; inside it the
    modem daemon's own download folder. A card whose folder the service user owned (earlier
    versions) is put right here."""
    folder = update_dir(p)
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        st = p.data_dir.stat()
        if folder.is_symlink():
            raise UpdateError(f"{folder} est un lien : refusé / is a symlink")
        have = folder.stat()
        if (have.st_uid, have.st_gid) != (0, st.st_gid):
            os.chown(folder, 0, st.st_gid, follow_symlinks=False)
        folder.chmod(0o750)
        download = folder / update_state.DOWNLOAD_DIR
        if not download.is_dir() or download.is_symlink():
            download.unlink(missing_ok=True)
            download.mkdir(mode=0o700)
            os.chown(download, st.st_uid, st.st_gid)
    return folder


def _give_to_database_owner(p: Paths, path: Path, mode: int = 0o600) -> None:
    """A database root restored or set aside: the service user's, like the data."""
    try:
        path.chmod(mode)
        st = p.data_dir.stat()
        if os.geteuid() == 0:
            os.chown(path, st.st_uid, st.st_gid, follow_symlinks=False)
    except OSError as e:
        print(f"keneya update: cannot give {path} to the data's owner: {e}", file=sys.stderr)


def change(p: Paths, **fields: Any) -> dict[str, Any]:
    state = read_state(p)
    state.update(fields)
    return write_state(p, state)


def this_version() -> str:
    try:
        return RELEASE.read_text(encoding="utf-8").strip() or "?"
    except OSError:
        return "?"


def snapshot(p: Paths, rec: slots.SlotRecord | None = None) -> dict[str, Any]:
    """The slots as the status screens show them, refreshed from the slot record."""
    state = read_state(p)
    rec = rec or slots.read()
    booted = slots.booted()
    versions = dict(state.get("versions") or {})
    if booted:
        versions[booted] = this_version()
    state.update(
        booted=booted,
        primary=rec.primary,
        slots={s: {"state": rec.state[s], "version": versions.get(s)} for s in slots.SLOTS},
        versions=versions,
    )
    return write_state(p, state)


# --- 1. a bundle found on a stick --------------------------------------------------------


def rauc(*args: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rauc", *args], capture_output=True, text=True, timeout=timeout)


def bundle_info(bundle: Path, keyring: Path = KEYRING) -> dict[str, Any]:
    """`rauc info` checks the signature against the keyring; UpdateError when it fails."""
    if not keyring.is_file():
        raise UpdateError(
            f"pas de certificat du district ({keyring}) : aucune mise à jour ne peut être"
            " vérifiée / no keyring to check bundles against"
        )
    done = rauc("info", f"--keyring={keyring}", "--output-format=json", str(bundle))
    if done.returncode != 0:
        raise UpdateError(refusal(done.stderr))
    try:
        info = json.loads(done.stdout)
    except ValueError:
        raise UpdateError(f"{bundle.name} : rauc info illisible") from None
    if info.get("compatible") != COMPATIBLE:
        raise UpdateError(
            f"{bundle.name} est pour « {info.get('compatible')} », pas pour cet appareil"
            f" ({COMPATIBLE}) : refusé / not for this appliance"
        )
    # The kernel and initramfs are on the boot partition, shared by both slots: a root built
    # for another kernel would find no modules. Such a change needs the card written anew.
    m = re.search(r"\bkernel (\S+)", info.get("description") or "")
    running = running_kernel()
    if not m or m[1] != running:
        raise UpdateError(
            f"{bundle.name} est pour le noyau {m[1] if m else '(non indiqué)'}, cet appareil a"
            f" {running} : une telle mise à jour se fait en réécrivant la carte / a kernel"
            " change needs the card written anew: refused"
        )
    return info


def running_kernel() -> str:
    return os.uname().release


def refusal(stderr: str) -> str:
    """rauc's error, said for the admin: a bad signature above all."""
    text = " ".join(stderr.split())
    if re.search(r"signature|verif|certificate|CMS|self.signed|unable to get", text, re.I):
        return (
            "signature invalide : ce paquet n'est pas signé par le district, rien n'a été"
            " changé / bad signature: not signed by the district, nothing changed"
            f" ({text[-200:]})"
        )
    return f"paquet refusé, rien n'a été changé / bundle refused, nothing changed ({text[-200:]})"


def find_bundles(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.raucb"))


def offer(p: Paths, folder: Path, *, keyring: Path = KEYRING) -> dict[str, Any]:
    """The stick's bundle copied to the data partition, checked there, and offered.

    Checked after the copy: what gets installed is the copy (a stick may hand back other bytes
    the second time), and the stick can come out. A refused copy is deleted at once."""
    bundles = find_bundles(folder)
    if not bundles:
        raise UpdateError(f"aucun fichier .raucb dans {folder} / no bundle on the stick")
    if len(bundles) > 1:
        names = ", ".join(b.name for b in bundles)
        raise _refused(
            p,
            bundles[0],
            f"plusieurs paquets sur la clé ({names}) : n'en laissez qu'un, celui de la version"
            " à installer / more than one bundle on the stick: leave only one",
        )
    bundle = bundles[0]
    dest = _copy_in(p, bundle)
    try:
        info = bundle_info(dest, keyring)
        if info.get("version") == this_version():
            raise UpdateError(
                f"la version {this_version()} est déjà celle en service / already running"
            )
    except UpdateError as e:
        dest.unlink(missing_ok=True)
        raise _refused(p, bundle, str(e)) from None
    offered = {
        "version": info.get("version"),
        "file": str(dest),
        "bytes": dest.stat().st_size,
        "description": info.get("description"),
        "found_at": now_iso(),
    }
    change(p, offer=offered, progress=None)
    return offered


def _copy_in(p: Paths, source: Path) -> Path:
    """`source` copied (and synced) into the update folder's `incoming`, the only file there."""
    incoming = update_folder(p) / "incoming"
    incoming.mkdir(exist_ok=True)
    for old in incoming.glob("*"):
        old.unlink()
    need = source.stat().st_size
    free = shutil.disk_usage(incoming).free
    if free < need + 64 * 2**20:
        raise _refused(
            p,
            source,
            f"pas assez de place pour la mise à jour ({need // 2**20} Mo à copier,"
            f" {free // 2**20} Mo libres) / not enough room on the card",
        )
    dest = incoming / source.name
    tmp = incoming / (source.name + ".part")
    try:
        _copy_nofollow(source, tmp)
        os.replace(tmp, dest)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise _refused(p, source, f"copie impossible ({e.strerror or e}) / cannot copy it") from e
    return dest


def offer_downloaded(p: Paths, folder: Path | None = None, *,
                     keyring: Path = KEYRING) -> dict[str, Any]:  # fmt: skip
    """What the modem daemon fetched over 3G (modem/update_fetch.py), checked again by root as
    if it came from anyone: the index's signature, the file's SHA-256 in that signed index
    (after the copy out of the service user's folder), then a bundle as from a stick or a
    delta's manifest (versions, kernel), and offered. The signed index goes along with the
    file: the install checks both again (days may pass on the card between offer and install)."""
    folder = folder or update_dir(p) / update_state.DOWNLOAD_DIR
    try:
        entry = signed_entry(folder, keyring)
    except delta.DeltaError as e:
        raise _refused(p, folder / delta.INDEX_NAME, str(e)) from None
    if not (folder / entry["file"]).is_file():
        raise UpdateError("aucune mise à jour téléchargée pour cette version / nothing to offer")
    dest = _copy_in(p, folder / entry["file"])
    try:
        for name in (delta.INDEX_NAME, delta.SIGNATURE_NAME):
            _copy_nofollow(folder / name, dest.parent / name)
        if entry["kind"] == "bundle":
            _as_signed(dest, entry)
            info = bundle_info(dest, keyring)
            offered = {"version": info.get("version"), "kind": "bundle",
                       "description": info.get("description")}  # fmt: skip
        else:
            manifest = checked_delta(dest, entry)
            offered = {"version": manifest["to"], "kind": "delta", "from": manifest["from"],
                       "description": f"{len(manifest['files'])} fichier(s) changé(s)"}  # fmt: skip
        if offered["version"] == this_version():
            raise UpdateError(f"la version {this_version()} est déjà en service / already running")
    except (UpdateError, delta.DeltaError, OSError) as e:
        for left in dest.parent.iterdir():
            left.unlink()
        raise _refused(p, dest, str(e)) from None
    offered |= {"file": str(dest), "bytes": dest.stat().st_size, "source": "3G",
                "found_at": now_iso()}  # fmt: skip
    change(p, offer=offered, progress=None)
    return offered


def _as_signed(path: Path, entry: dict[str, Any]) -> None:
    """UpdateError unless the file is the one the signed index names, byte for byte."""
    if path.name != entry["file"] or delta.sha256_file(path) != entry["sha256"]:
        raise UpdateError(
            f"{path.name} ne correspond pas à l'index signé : refusé, rien n'a été changé"
            " / does not match the signed index"
        )


def signed_entry(folder: Path, keyring: Path) -> dict[str, Any]:
    """The index entry for this appliance from a folder's signed index; DeltaError when the
    signature is not the district's, UpdateError when nothing there is for this version."""
    try:
        content = _read_small(folder / delta.INDEX_NAME)
        signature = _read_small(folder / delta.SIGNATURE_NAME)
    except OSError:
        raise UpdateError("aucun index signé à vérifier / no signed index") from None
    delta.verify(content, signature, keyring)
    index = delta.parse_index(content, compatible=COMPATIBLE)
    entry = delta.choose(index, running=this_version(), kernel=running_kernel())
    if entry is None:
        raise UpdateError("rien dans l'index pour cette version / nothing for this version")
    return entry


def checked_delta(path: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """The delta's manifest once its bytes are the signed index's and it goes from this
    version, on this kernel, to the index's."""
    _as_signed(path, entry)
    manifest = delta.read_manifest(path)
    if (manifest["from"], manifest["to"]) != (this_version(), entry["version"]):
        raise UpdateError(
            f"{path.name} va de {manifest['from']} à {manifest['to']}, cet appareil a"
            f" {this_version()} : refusé / not from this version"
        )
    if manifest["kernel"] != running_kernel():
        raise UpdateError(f"{path.name} est pour le noyau {manifest['kernel']} : refusé")
    return manifest


def _read_small(path: Path, limit: int = 1 << 20) -> bytes:
    """A small regular file of the service user's folder: no link, no FIFO, no /dev/zero."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            raise OSError(f"{path.name}: not a small file")
        return f.read(limit)


def _copy_nofollow(src: Path, dest: Path) -> None:
    # O_NOFOLLOW: a folder of the service user's must not make root read another file
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f, open(dest, "wb") as out:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(f"{src.name}: not a regular file")
        shutil.copyfileobj(f, out, 4 << 20)
        out.flush()
        os.fsync(out.fileno())


def _refused(p: Paths, bundle: Path, message: str) -> UpdateError:
    last = {"outcome": "refused", "file": bundle.name, "message": message, "at": now_iso()}
    change(p, offer=None, last=last)
    return UpdateError(message)


# --- 2. install ----------------------------------------------------------------------------

# What first boot (provisioning/firstboot.py) and the running appliance wrote to the root and
# the new slot must keep: without them the new version would be an unprovisioned card (its
# secrets are no longer on the FAT to apply again). Copied by RAUC's post-install handler
# from the running root into the slot just written, owners and modes kept.
CARRIED = (
    "etc/keneya",  # facility, secrets, provisioned.json (first boot then finds it applied)
    "etc/hostname",
    "etc/hosts",
    "etc/timezone",
    "etc/localtime",
    "etc/nftables.conf",
    "etc/NetworkManager/system-connections",  # the hotspot and the 3G profile
    "etc/NetworkManager/dnsmasq-shared.d",
    "etc/machine-id",
    "etc/fake-hwclock.data",
    "etc/ssh/ssh_host_ecdsa_key",
    "etc/ssh/ssh_host_ecdsa_key.pub",
    "etc/ssh/ssh_host_ed25519_key",
    "etc/ssh/ssh_host_ed25519_key.pub",
    "etc/ssh/ssh_host_rsa_key",
    "etc/ssh/ssh_host_rsa_key.pub",
    "etc/systemd/system/multi-user.target.wants/ssh.service",
    "root/.ssh",
)


def carry_over(old_root: Path, new_root: Path, names: tuple[str, ...] = CARRIED) -> list[str]:
    """Copy each of `names` that exists in old_root over the same path in new_root."""
    carried = []
    for name in names:
        src, dest = old_root / name, new_root / name
        if not (src.exists() or src.is_symlink()):
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        elif dest.exists() or dest.is_symlink():
            dest.unlink()
        if src.is_dir() and not src.is_symlink():
            shutil.copytree(src, dest, symlinks=True, copy_function=_copy_owned)
            for folder, dirnames, _files in os.walk(src):
                for d in (".", *dirnames):
                    rel = (Path(folder) / d).relative_to(src)
                    _same_owner(src / rel, dest / rel)
        else:
            _copy_owned(src, dest)
        carried.append(name)
    os.sync()
    return carried


def _copy_owned(src: str | Path, dest: str | Path) -> None:
    shutil.copy2(src, dest, follow_symlinks=False)
    _same_owner(Path(src), Path(dest))


def _same_owner(src: Path, dest: Path) -> None:
    if os.geteuid() == 0:
        st = src.lstat()
        os.lchown(dest, st.st_uid, st.st_gid)


def carry_into_slot(device: str, mount_root: Path = Path("/run/keneya/new-slot")) -> list[str]:
    """RAUC's post-install handler: mount the slot just written and carry the files over."""
    mount_root.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "ext4", device, str(mount_root)], capture_output=True,
                          text=True)  # fmt: skip
    if done.returncode != 0:
        raise UpdateError(f"cannot mount the new slot {device}: {done.stderr.strip()}")
    try:
        return carry_over(Path("/"), mount_root)
    finally:
        subprocess.run(["umount", str(mount_root)], check=False)


def pre_update_backup(p: Paths) -> dict[str, Any]:
    folder = update_dir(p) / PRE_UPDATE
    if folder.exists():
        shutil.rmtree(folder)
    with Store(p.database) as store:
        report = backup_copy.create(store, folder)
    return {"file": report["file"], "schema_version": report["schema_version"],
            "counts": report["counts"]}  # fmt: skip


PERCENT = re.compile(r"(\d{1,3})%\s*(.*)")


def install(
    p: Paths,
    *,
    runner: Callable[[list[str]], subprocess.Popen] | None = None,
    activate: Callable[[], None] | None = None,
    write_slot: Callable[[Path, Callable[[int, str], None]], None] | None = None,
    keyring: Path = KEYRING,
) -> dict[str, Any]:
    """Install the offered bundle into the other slot. The caller reboots.

    RAUC writes the slot and runs the post-install handler (the facility's files carried
    over) without making it primary (system.conf: activate-installed=false); only then is it
    made primary, on trial: a power cut or a failed carry-over never leaves a blank version
    to boot."""
    state = read_state(p)
    offered = state.get("offer")
    if not isinstance(offered, dict) or not Path(str(offered.get("file"))).is_file():
        raise UpdateError("aucune mise à jour proposée / no update offered")
    booted, rec = slots.booted(), slots.read()
    if booted and rec.state.get(booted) != "good":
        raise UpdateError(
            "la version en service est encore à l'essai : attendez qu'elle soit vérifiée"
            " (quelques minutes) / the running version is still on trial"
        )
    try:
        return _install(
            p, offered, runner or _popen, activate or _rauc_activate_other, write_slot, keyring
        )
    finally:
        change(p, progress=None)  # whatever happened, nothing is under way any more


def _install(
    p: Paths, offered: dict, runner, activate, write_slot=None, keyring: Path = KEYRING
) -> dict[str, Any]:
    version = offered.get("version")
    change(p, progress={"percent": 0, "step": "sauvegarde avant mise à jour", "at": now_iso()})
    try:
        backup = pre_update_backup(p)
    except BackupError as e:
        fail = {"outcome": "failed", "version": version, "at": now_iso(),
                "message": f"sauvegarde impossible, rien n'a été installé : {e}"}  # fmt: skip
        change(p, last=fail)
        raise UpdateError(fail["message"]) from e
    if offered.get("kind") == "delta":
        # checked again, from a copy only this unit sees (its private /tmp), just before use:
        # days may pass on the card between the offer's check and the install
        with tempfile.TemporaryDirectory(prefix="delta-") as private:
            try:
                mine = _private_delta(Path(offered["file"]), Path(private), keyring)
                (write_slot or write_delta_slot)(
                    mine,
                    lambda percent, step: change(
                        p, progress={"percent": percent, "step": step, "at": now_iso()}
                    ),
                )
            except (UpdateError, delta.DeltaError, OSError, subprocess.SubprocessError) as e:
                _install_failed(p, version, str(e))
    else:
        proc = runner(["rauc", "install", offered["file"]])
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            if m := PERCENT.search(line):
                change(p, progress={"percent": int(m[1]), "step": rauc_step(m[2]), "at": now_iso()})
        if proc.wait() != 0:
            _install_failed(p, version, " ".join(" ".join(lines[-5:]).split())[-300:])
    activate()
    rec = slots.read()
    target = rec.primary
    state = read_state(p)
    versions = dict(state.get("versions") or {})
    versions[target] = version
    state.update(
        versions=versions,
        offer=None,
        # which slot's trial this backup is for: a later fallback from another slot must not
        # bring back records this old
        pre_update=backup | {"for_slot": target, "for_version": version},
        last={
            "outcome": "installed",
            "version": version,
            "slot": target,
            "from_version": this_version(),
            "at": now_iso(),
        },  # fmt: skip
    )
    write_state(p, state)
    Path(offered["file"]).unlink(missing_ok=True)
    snapshot(p, rec)
    return state["last"]


RAUC_STEPS_FR = (
    ("check", "vérification du paquet"),
    ("verif", "vérification du paquet"),
    ("copying", "écriture de l'autre partition"),
    ("install", "installation"),
)


def rauc_step(text: str) -> str:
    """RAUC's progress line said in French for the screens (its English kept in brackets)."""
    text = text.strip()
    for key, french in RAUC_STEPS_FR:
        if key in text.lower():
            return f"{french} ({text})"
    return text


def _private_delta(offered: Path, private: Path, keyring: Path = KEYRING) -> Path:
    for name in (offered.name, delta.INDEX_NAME, delta.SIGNATURE_NAME):
        _copy_nofollow(offered.parent / name, private / name)
    checked_delta(private / offered.name, signed_entry(private, keyring))
    return private / offered.name


def _install_failed(p: Paths, version: Any, detail: str) -> None:
    message = (
        "l'installation a échoué ; la version en service continue, l'autre partition sera"
        f" réécrite à la prochaine mise à jour / the install failed ({detail})"
    )
    change(p, last={"outcome": "failed", "version": version, "message": message,
                    "at": now_iso()})  # fmt: skip
    raise UpdateError(message)


def slot_device(slot: str) -> str:
    """The partition of a slot, as system.conf names it (the image's fixed MBR id)."""
    return f"/dev/disk/by-partuuid/4b4e5941-0{2 if slot == 'A' else 3}"


def copy_root(source: Path, target: Path, progress: Callable[[int], None]) -> None:
    """The running root (this file system only: not the data, boot, /proc…) into target, with
    owners, modes, links, hard links and extended attributes; progress in % of the bytes."""
    total = max(1, _used(source))
    # /dev left out: the partition's own has a few device nodes (made with the root), which
    # this unit may not create and no boot uses (devtmpfs is mounted over it)
    names = sorted(n for n in os.listdir(source) if n != "dev")
    # cp's complaints to a file: a pipe read only at the end would stop it once full
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(["cp", "-ax", "--sparse=always",
                                 *(f"{source}/{n}" for n in names), f"{target}/"],
                                stderr=errors)  # fmt: skip
        while proc.poll() is None:
            time.sleep(2)
            progress(min(99, _used(target) * 100 // total))
        if proc.returncode != 0:
            errors.seek(0)
            detail = errors.read()[-2000:].decode(errors="replace")[-300:]
            raise UpdateError(f"copie de la version en service impossible : {detail}")
    st = source.stat()
    (target / "dev").mkdir(mode=0o755, exist_ok=True)
    os.chown(target, st.st_uid, st.st_gid)
    target.chmod(stat.S_IMODE(st.st_mode))


def _used(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def prepare_delta_root(running_root: Path, target: Path, delta_file: Path,
                       progress: Callable[[int, str], None]) -> dict[str, Any]:  # fmt: skip
    """Into an empty `target`: the running root, then the delta over it, checked."""
    manifest = delta.read_manifest(delta_file)
    if manifest["from"] != this_version():
        raise UpdateError(f"cette mise à jour part de {manifest['from']}, pas de {this_version()}")
    step = "copie de la version en service"
    copy_root(running_root, target, lambda pc: progress(5 + pc * 80 // 100, step))
    progress(85, "application de la mise à jour")
    delta.apply_delta(delta_file, target, manifest)
    progress(95, "vérification")
    return manifest


def write_delta_slot(delta_file: Path, progress: Callable[[int, str], None]) -> None:
    """The other slot made from the running root and the delta: a fresh ext4 (what was there
    is a version no longer wanted), mounted in this unit's own namespace, filled, checked,
    unmounted. RAUC is not needed to write it; the slot record makes it primary after."""
    booted = slots.booted() or "A"
    device = slot_device(slots.read().other(booted))
    # what the other slot held is about to go: marked bad first, as RAUC does before it
    # writes a slot, so that it is never booted half made, and its activation after the copy
    # puts it on trial (a slot still "good" would be made primary without one). Through
    # RAUC's service: the slot record is on the boot partition, read-only in this unit.
    done = rauc("status", "mark-bad", "other", timeout=60)
    if done.returncode != 0:
        raise UpdateError(f"rauc status mark-bad other : {' '.join(done.stderr.split())[-200:]}")
    progress(1, "préparation de l'autre partition")
    _run(["mke2fs", "-q", "-F", "-t", "ext4", "-T", "default", "-L", ROOT_LABEL, device])
    mount_point = Path(tempfile.mkdtemp(prefix="new-slot-"))
    running = Path(tempfile.mkdtemp(prefix="running-root-"))
    _run(["mount", "-t", "ext4", device, str(mount_point)])
    try:
        # the running root as it is on its partition: a bind of / alone leaves out what this
        # unit's sandbox mounts over it (ProtectKernelModules hides /usr/lib/modules, PrivateTmp
        # /tmp…); copying / itself gave a slot without kernel modules (seen under qemu)
        _run(["mount", "--bind", "/", str(running)])
        try:
            prepare_delta_root(running, mount_point, delta_file, progress)
            os.sync()
        finally:
            subprocess.run(["umount", str(running)], check=False)
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)
        mount_point.rmdir()
        running.rmdir()


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise UpdateError(f"{cmd[0]} : {' '.join(done.stderr.split())[-300:]}")


def _rauc_activate_other() -> None:
    done = rauc("status", "mark-active", "other", timeout=120)
    if done.returncode != 0:
        raise UpdateError(
            "la nouvelle version est écrite mais n'a pas pu être activée ; la version en service"
            f" continue / written but not activated ({' '.join(done.stderr.split())[-200:]})"
        )


def _popen(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


# --- the reboot into it: when nobody is in the middle of a form, or at night --------------

QUIET_MINUTES = 10
NIGHT_HOURS = frozenset((22, 23, 0, 1, 2, 3, 4))  # Mali is on UTC all year
QUIET_CHECK_S = 30.0


def someone_busy(p: Paths, now: datetime) -> str | None:
    """Why not to reboot now: a form being typed on the kiosk (a draft saved in the last
    minutes) or a tablet in use by someone other than the admin who asked for the update.
    `now` is the machine's clock, as the web sessions are; drafts carry the corrected one."""
    since = now - timedelta(minutes=QUIET_MINUTES)
    with Store(p.database) as store:
        # drafts carry the corrected clock (set from the network or by staff), which the
        # machine's may be days behind after a long power cut
        reading = Clock(store).now()
        if store.drafts.saved_since(to_iso(since + (reading.now - reading.machine))):
            return "un formulaire est en cours au kiosque / a form is being filled in"
        asked = store.audit.last_of("update.install")
        others = store.web_sessions.active_since(
            since.timestamp(), except_staff=asked["staff_id"] if asked else None
        )
        if others:
            return f"{others} tablette(s) en cours d'utilisation / tablets in use"
    return None


def wait_for_quiet(
    p: Paths,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Wait until nobody is mid-form or it is night; says which (the state shows why it
    waits). A database that cannot be read is no reason to wait."""
    while True:
        moment = now()
        if moment.hour in NIGHT_HOURS:
            return "night"
        try:
            reason = someone_busy(p, moment)
        except (sqlite3.Error, OSError, StoreError):
            reason = None
        if reason is None:
            return "quiet"
        step = f"installée ; redémarrage dès que possible : {reason}"
        change(p, progress={"percent": 100, "step": step, "at": now_iso()})
        sleep(QUIET_CHECK_S)


# --- 3. at every boot: came back from a failed slot? ---------------------------------------


def database_schema(database: Path) -> int | None:
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def at_boot(p: Paths, *, rec: slots.SlotRecord | None = None) -> dict[str, Any]:
    rec = rec or slots.read()
    state = read_state(p)
    if rec.fallback_from:
        left = rec.fallback_from
        failed_version = (state.get("versions") or {}).get(left)
        outcome = {
            "outcome": "rolled_back",
            "version": failed_version,
            "slot": left,
            "at": now_iso(),
            "message": f"la version {failed_version} n'a pas démarré correctement : retour à"
            f" la version {this_version()} / the new version failed its checks, back to the"
            " previous one",
            "reason": (state.get("last") or {}).get("reason"),
        }
        schema = database_schema(p.database)
        backup = state.get("pre_update") or {}
        too_new = schema is not None and schema > MIGRATIONS[-1][0]
        # missing: a power cut came between setting the newer database aside and the restore
        ours = backup.get("for_slot") == left and backup.get("file")
        if (too_new or not p.database.exists()) and ours:
            outcome["restored"] = restore_pre_update(p, backup["file"], failed_version)
            outcome["message"] += (
                " ; les dossiers ont été remis comme avant la mise à jour (sauvegarde"
                " restaurée) / the records were restored from the pre-update backup"
            )
        change(p, last=outcome, pre_update=None)
        rec = slots.SlotRecord(rec.primary, rec.state, rec.attempts, None)
        slots.write(rec)
    # after a boot no install can be under way (one cut by a power failure left its progress)
    if read_state(p).get("progress"):
        change(p, progress=None)
    return snapshot(p, rec)


def restore_pre_update(p: Paths, backup: str, failed_version: str | None) -> dict[str, Any]:
    """The database as it was before the update. The one the failed version changed (a
    schema this version cannot open, so no verified backup can be made of it) is kept in the
    update folder, renamed, for the district to look at: nothing is deleted."""
    kept = None
    if p.database.exists():
        conn = sqlite3.connect(p.database)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all of it in the one file
        finally:
            conn.close()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = update_dir(p) / f"base-de-la-version-{failed_version or 'inconnue'}-{stamp}.db"
        os.replace(p.database, kept)
        for suffix in ("-wal", "-shm"):
            p.database.with_name(p.database.name + suffix).unlink(missing_ok=True)
        fsync_dir(p.database.parent)
    done = restore_backup(backup, p.database, backups_dir=p.backups_dir)
    # root restored it: the web app, kiosk and daemons (keneya) must open it
    for path in (p.database, *(p.database.with_name(p.database.name + s) for s in SIDE_FILES)):
        if path.exists():
            _give_to_database_owner(p, path)
    if kept:
        _give_to_database_owner(p, kept)
    return {"from": backup, "counts": done["counts"], "newer_database_kept_at": str(kept)}


SIDE_FILES = ("-wal", "-shm", ".lock", ".gate")


# --- 4. health of a slot on trial ----------------------------------------------------------


def checks(p: Paths, *, login_url: str = LOGIN_URL) -> list[str]:
    """What is wrong, empty when healthy."""
    problems = []
    try:
        with Store(p.database) as store:
            if store.schema_version() != MIGRATIONS[-1][0]:
                problems.append(f"migrations not applied ({store.schema_version()})")
            quick = [r[0] for r in store.conn.execute("PRAGMA quick_check")]
            if quick != ["ok"]:
                problems.append(f"quick_check: {quick[0]}")
    except Exception as e:  # noqa: BLE001 - any failure to open is a finding, not a crash
        problems.append(f"database: {e}")
    try:
        with urllib.request.urlopen(login_url, timeout=10) as r:
            if r.status != 200:
                problems.append(f"web: HTTP {r.status}")
    except Exception as e:  # noqa: BLE001
        problems.append(f"web: {e}")
    for unit in REQUIRED_UNITS:
        if subprocess.run(["systemctl", "is-active", "--quiet", unit]).returncode != 0:
            problems.append(f"{unit} not running")
    if not (p.config_dir / "provisioned.json").is_file():
        problems.append(f"not provisioned: no {p.config_dir / 'provisioned.json'}")
    return problems


POWER_HOLDS = ("low_power_wait", "critical", "shutdown_pending")


def power_holding(p: Paths) -> bool:
    """The power monitor stops the web app on a low battery: no verdict on the version then."""
    try:
        conn = sqlite3.connect(f"file:{p.database}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT state FROM power_state").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return bool(row) and row[0] in POWER_HOLDS


def health(
    p: Paths,
    *,
    minutes: float = HEALTH_MINUTES,
    check: Callable[[Paths], list[str]] = checks,
    mark: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    every_s: float = 10.0,
    holding: Callable[[Paths], bool] = power_holding,
) -> dict[str, Any]:
    """On a slot on trial: mark it good once every check passes, or bad after `minutes`."""
    rec = slots.read()
    booted = slots.booted()
    if booted is None or rec.state.get(booted) != "trying":
        return {"booted": booted, "trial": False}
    mark = mark or _rauc_mark
    deadline = time.monotonic() + minutes * 60
    problems = check(p)
    while problems:
        if holding(p):  # the battery's wait or hold: the time allowed starts again after it
            deadline = time.monotonic() + minutes * 60
        elif time.monotonic() >= deadline:
            break
        sleep(every_s)
        problems = check(p)
    version = this_version()
    if not problems:
        mark("good")
        last = {"outcome": "good", "version": version, "slot": booted, "at": now_iso()}
        # kept until now for a return to the previous version; not for a later one
        change(p, marked_good={booted: now_iso()}, last=last, pre_update=None)
        snapshot(p)
        return {"booted": booted, "trial": True, "good": True}
    try:
        mark("bad")
    finally:  # marked bad or not, the reason is said; the caller reboots
        change(p, last={"outcome": "failed", "version": version, "slot": booted,
                        "at": now_iso(), "reason": "; ".join(problems)})  # fmt: skip
    return {"booted": booted, "trial": True, "good": False, "problems": problems}


def _rauc_mark(what: str) -> None:
    done = rauc("status", f"mark-{what}", "booted", timeout=60)
    if done.returncode != 0:
        raise UpdateError(f"rauc status mark-{what}: {done.stderr.strip()}")
