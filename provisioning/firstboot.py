"""First boot: make this card the appliance of the facility named in its facility file.

`keneya-firstboot.service` (oneshot, before the web and kiosk units) runs `keneya provision
firstboot`. It reads `keneya/facility.toml` from the FAT boot partition, validates it, and applies
it all or nothing:

1. every file is written beside its place first (`.keneya-new`, fsynced);
2. the database changes run in one transaction, left open;
3. the files are renamed into place, the old ones kept aside (`.keneya-old`) until the end;
4. the transaction commits.

An error anywhere undoes what was done (old files back, transaction rolled back, new files
removed) and leaves `firstboot-error.txt` for the kiosk and the technician. Only then are the
secrets and the first admin's PIN and password hashes removed from the FAT partition (anyone
who pulls the card can read FAT, and a deleted file's bytes stay there until overwritten): the
card keeps the facility file without them, and a receipt. The hashes live in the database
only; the secrets in /etc/keneya/secrets.

Last, every boot, the files get their owners and modes (`secure`): /etc/keneya root:keneya
0750 and its files 0640; the secrets and the data folder belong to the service user, 0700 for
folders and 0600 for files. Where that user does not exist (a laptop, the tests) only the
modes are set.

A card written with `write-card --restore` also carries `keneya/restore.db.gz`, a backup of the
facility: when no database with records is there yet it becomes the database before the
facility is applied (provisioning.restore_card), undone with the rest on an error, and scrubbed
off the card once first boot has succeeded. A later card with a different facility file is
applied the same way: the records stay, the settings and files are replaced; a card of another
facility code is refused, since it would relabel another facility's records.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import pwd
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.paths import SERVICE_USER, Paths, private_dir
from appliance.services import auth
from appliance.services.context import Context
from appliance.store import Store
from provisioning import firewall, hotspot, restore_card
from provisioning.facility import Facility, FacilityFileError, parse

log = logging.getLogger(__name__)

CARD_FOLDER = "keneya"
ARGON2_MARK = b"$argon2"  # how a PIN or password hash begins (the PHC string format)
HOTSPOT_CONNECTION = "keneya-hotspot"
# openssh-server's unit, enabled as `systemctl enable ssh` does on bookworm: the wants link and
# its Alias= (sshd.service), both to where the package puts the unit.
SSH_UNIT_PATH = "/lib/systemd/system/ssh.service"
SSH_LINKS = ("multi-user.target.wants/ssh.service", "sshd.service")


class FirstBootError(RuntimeError):
    """The facility file could not be applied; nothing was changed."""


@dataclass(frozen=True)
class SystemPaths:
    """Where first boot reads and writes; `root` is "/" on the Pi and a folder in tests."""

    root: Path = Path("/")
    boot_dir: Path | None = None  # default: root/boot/firmware (Debian's raspi-firmware)
    # who the services run as: owner of the secrets and of the data, group of /etc/keneya
    service_user: str = SERVICE_USER

    @property
    def boot(self) -> Path:
        return self.boot_dir or self.root / "boot" / "firmware"

    @property
    def card_file(self) -> Path:
        return self.boot / CARD_FOLDER / "facility.toml"

    @property
    def restore_file(self) -> Path:
        return self.boot / CARD_FOLDER / restore_card.RESTORE_NAME

    @property
    def receipt(self) -> Path:
        return self.boot / CARD_FOLDER / "receipt.txt"

    @property
    def card_error(self) -> Path:
        return self.boot / CARD_FOLDER / "ERREUR.txt"

    @property
    def app(self) -> Paths:
        return Paths(config_dir=self.root / "etc" / "keneya", data_dir=self.root / "var/lib/keneya")

    @property
    def marker(self) -> Path:
        return self.app.config_dir / "provisioned.json"

    @property
    def error_file(self) -> Path:
        return self.app.config_dir / "firstboot-error.txt"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class StagedFiles:
    """Files written beside their place, then swapped in together; undone together on error."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []  # (new, final)
        self._swapped: list[tuple[Path, Path | None]] = []  # (final, backup or None)
        self._scrubbed: set[Path] = set()  # finals whose old bytes are overwritten at the end
        self._removed: list[Path] = []

    def write(
        self, path: Path, data: bytes | str, *, mode: int = 0o644, scrub_old: bool = False
    ) -> None:
        """Stage `data` for `path`; with scrub_old, the file it replaces is overwritten with
        zeros before it is deleted (it held a secret)."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        path.parent.mkdir(parents=True, exist_ok=True)
        new = path.with_name(path.name + ".keneya-new")
        fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.fchmod(fd, mode)  # the umask must not widen or narrow it
            os.write(fd, raw)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._staged.append((new, path))
        if scrub_old:
            self._scrubbed.add(path)

    def symlink(self, path: Path, target: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = path.with_name(path.name + ".keneya-new")
        new.unlink(missing_ok=True)
        os.symlink(target, new)
        self._staged.append((new, path))

    def remove(self, path: Path) -> None:
        """Take `path` away with the rest: kept aside until finish, put back by undo."""
        if path.exists() or path.is_symlink():
            self._removed.append(path)

    def swap_in(self) -> None:
        for new, final in self._staged:
            backup = None
            if final.exists() or final.is_symlink():
                backup = final.with_name(final.name + ".keneya-old")
                os.replace(final, backup)
            self._swapped.append((final, backup))
            os.replace(new, final)
        for final in self._removed:
            backup = final.with_name(final.name + ".keneya-old")
            os.replace(final, backup)
            self._swapped.append((final, backup))

    def undo(self) -> None:
        for final, backup in reversed(self._swapped):
            if backup is not None:
                os.replace(backup, final)
            else:
                final.unlink(missing_ok=True)
        for new, _ in self._staged:
            new.unlink(missing_ok=True)
        self._staged, self._swapped, self._removed = [], [], []
        self._scrubbed = set()

    def finish(self) -> None:
        for final, backup in self._swapped:
            if backup is not None:
                if final in self._scrubbed:
                    with contextlib.suppress(OSError):  # gone already: nothing to overwrite
                        restore_card.scrub(backup)
                backup.unlink(missing_ok=True)
        _sync_dirs({final.parent for _, final in self._staged} | {p.parent for p in self._removed})
        self._staged, self._swapped, self._removed = [], [], []
        self._scrubbed = set()


def _sync_dirs(folders: set[Path]) -> None:
    """A rename is durable once its folder is fsynced (a power cut right after must not lose it)."""
    for folder in folders:
        try:
            fd = os.open(folder, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _hosts(current: str, hostname: str) -> str:
    """/etc/hosts with the 127.0.1.1 line naming this host (Debian's convention)."""
    lines = [line for line in current.splitlines() if not line.startswith("127.0.1.1")]
    if not any(line.startswith("127.0.0.1") for line in lines):
        lines.insert(0, "127.0.0.1\tlocalhost")
    lines.insert(1, f"127.0.1.1\t{hostname} {hostname}.lan")
    return "\n".join(lines) + "\n"


def stage_system_files(
    facility: Facility, files: StagedFiles, sp: SystemPaths, *, card_folder: Path
) -> None:
    """Every file the facility decides, staged (nothing is in place yet)."""
    etc = sp.root / "etc"
    config = sp.app.config_dir
    files.write(etc / "hostname", facility.hostname() + "\n")
    hosts = etc / "hosts"
    files.write(hosts, _hosts(hosts.read_text() if hosts.exists() else "", facility.hostname()))
    # an older file held the admin's hashes: its bytes go too
    files.write(config / "facility.toml", facility.public_toml(), mode=0o640, scrub_old=True)
    secrets_dir = config / "secrets"
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(secrets_dir, 0o700)  # `secure` gives it to the service user at the end
    for name, value in facility.secrets().items():
        files.write(config / "secrets" / name, value + "\n", mode=0o600, scrub_old=True)
    if facility.ca_bundle:
        files.write(config / "dhis2-ca.pem", facility.ca_bundle, mode=0o644)
    if facility.mapping_file:
        source = card_folder / facility.mapping_file
        if not source.is_file():
            raise FirstBootError(
                f"the facility file names the mapping {facility.mapping_file!r}, but it is not "
                f"on the card next to facility.toml"
            )
        files.write(config / "dhis2-mapping.json", source.read_bytes())
    nm = etc / "NetworkManager"
    previous = nm / "system-connections" / f"{HOTSPOT_CONNECTION}.nmconnection"
    files.write(
        previous,
        hotspot.nm_keyfile(
            facility.ssid,
            facility.passphrase,
            channel=facility.channel,
            uuid=_keep_uuid(previous),
        ),
        mode=0o600,  # NetworkManager ignores a keyfile others can read; it holds the PSK
        scrub_old=True,
    )
    files.write(
        nm / "dnsmasq-shared.d" / "keneya.conf", hotspot.dnsmasq_dropin(facility.hostname())
    )
    cmdline = sp.boot / "cmdline.txt"
    if cmdline.exists():
        files.write(
            cmdline,
            hotspot.add_kernel_arg(cmdline.read_text(), hotspot.regulatory_domain_arg("ML")).rstrip(
                "\n"
            )
            + "\n",  # the firmware reads one line
        )
    files.symlink(etc / "localtime", f"/usr/share/zoneinfo/{facility.time_zone}")
    files.write(etc / "timezone", facility.time_zone + "\n")
    # loaded by nftables.service, which keneya-firstboot.service runs before
    files.write(etc / "nftables.conf", firewall.ruleset(facility), mode=0o644)
    stage_ssh(facility, files, sp)


def stage_ssh(facility: Facility, files: StagedFiles, sp: SystemPaths) -> None:
    """SSH for the keys of [ssh], root's only (the sshd drop-in in the image refuses passwords);
    without a key, sshd is disabled and root's keys removed, also on a card applied again."""
    units = sp.root / "etc" / "systemd" / "system"
    keys_file = sp.root / "root" / ".ssh" / "authorized_keys"
    if not facility.ssh_authorized_keys:
        files.remove(keys_file)
        for link in SSH_LINKS:
            files.remove(units / link)
        return
    ssh_dir = keys_file.parent
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(ssh_dir, 0o700)  # sshd's StrictModes refuses keys in a folder others can write
    header = (
        "# Written by Keneya's first boot from the facility file's [ssh] authorized_keys;\n"
        "# a new card replaces it.\n"
    )
    files.write(keys_file, header + "\n".join(facility.ssh_authorized_keys) + "\n", mode=0o600)
    for link in SSH_LINKS:
        files.symlink(units / link, SSH_UNIT_PATH)


def ssh_state(facility: Facility) -> str:
    """What first boot did to sshd, as the receipt says it (and the CLI then does in this boot)."""
    if not facility.ssh_authorized_keys:
        return "disabled"
    return "enabled from " + " and ".join(facility.ssh_from)


def _keep_uuid(keyfile: Path) -> str:
    """The hotspot connection keeps its UUID across re-provisioning (NetworkManager tracks it)."""
    try:
        for line in keyfile.read_text().splitlines():
            if line.startswith("uuid="):
                return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return str(uuid.uuid4())


def apply_database(facility: Facility, store: Store, sp: SystemPaths) -> dict[str, Any]:
    """Settings and the first admin, inside the caller's transaction."""
    code = store.get_setting("facility_code")
    if code and code != facility.code:
        raise FirstBootError(
            f"this appliance holds the records of facility {code}; a card for {facility.code} "
            "cannot relabel them. Use the card of this facility, or a new appliance."
        )
    settings = {
        "facility_code": facility.code,
        "facility_name": facility.name,
        "facility_district": facility.district,
        "facility_region": facility.region,
        "dhis2_org_unit": facility.org_unit,
        "dhis2_data_set": facility.data_set,
        "dhis2_url": facility.dhis2_url,
        "dhis2_username": facility.dhis2_username,
        "dhis2_ca_file": str(sp.app.config_dir / "dhis2-ca.pem") if facility.ca_bundle else None,
        "hotspot.ssid": facility.ssid,
        "language": facility.language,
        "time_zone": facility.time_zone,
        # with no PIN or password hash on the card, the kiosk asks this admin for a PIN
        "provision.admin_username": facility.admin_username,
        "provision.admin_name": facility.admin_name,
        # [settings] (e.g. malaria_vaccine); a key the file leaves out keeps its value. The due
        # items follow through their rules fingerprint: rebuilt at the next start of a list.
        **facility.settings,
    }
    store.set_settings(settings)
    ctx = Context.open(store)
    admin = store.staff.by_username(facility.admin_username)
    added = False
    if admin is None and (facility.admin_pin_hash or facility.admin_password_hash):
        first = store.staff.count() == 0
        creator = None
        if not first:
            # later cards add their admin on behalf of the first admin account
            creator_row = next(
                (s for s in store.staff.all() if s["role"] == "admin" and s["active"]), None
            )
            creator = auth.actor_for(ctx, creator_row["id"]) if creator_row else None
        auth.add_staff(
            ctx,
            creator,
            username=facility.admin_username,
            display_name=facility.admin_name,
            role="admin",
            pin_hash=facility.admin_pin_hash,
            password_hash=facility.admin_password_hash,
        )
        added = True
    return {"settings": sorted(k for k, v in settings.items() if v), "admin_added": added}


def apply(
    sp: SystemPaths,
    *,
    image_version: str = "dev",
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    fail_at: str | None = None,
) -> dict[str, Any]:
    """Apply the card's facility file; the receipt. `fail_at` names a step at which to fail,
    for the tests that prove an error half-way changes nothing."""
    card_file = sp.card_file
    if not card_file.exists():
        if sp.marker.exists():
            warnings = _drop_hashes(sp.app.facility_file) + secure(sp)
            return {
                "status": "unchanged",
                "reason": "no facility file on the card",
                "warnings": warnings,
            }
        raise _fail(
            sp,
            f"no facility file on the card ({card_file}): write one with "
            "`keneya provision write-card`",
        )
    raw = card_file.read_bytes()
    marker = _read_marker(sp)
    restore_pending = sp.restore_file.exists()
    # A card applied before the hashes were kept off it still holds them: applied again.
    if (
        marker
        and marker.get("card_sha256") == _sha256(raw)
        and not restore_pending
        and ARGON2_MARK not in raw
    ):
        return {"status": "unchanged", "facility": marker.get("code"), "warnings": secure(sp)}
    try:
        facility = parse(raw.decode("utf-8"), source=str(card_file), secrets_elsewhere=bool(marker))
    except UnicodeDecodeError:
        raise _fail(sp, f"{card_file}: not UTF-8 text") from None
    except FacilityFileError as e:
        raise _fail(sp, str(e)) from None
    if marker:
        facility = _with_kept_secrets(facility, sp)
    private_dir(sp.app.data_dir)
    restored = _install_backup(facility, sp) if restore_pending else None
    try:
        db = _apply_files_and_database(facility, sp, fail_at)
    except FirstBootError as e:
        if restored is not None:
            restore_card.undo(sp.app.database)
            e = FirstBootError(
                f"{e}\nLa sauvegarde de la carte n'a pas été installée ; elle reste sur la carte"
                " pour le prochain essai / the card's backup was not installed; it stays on the"
                " card for the next try"
            )
        raise _fail(sp, str(e)) from None
    applied_at = now().strftime("%Y-%m-%dT%H:%M:%SZ")
    public = facility.public_toml()
    warnings = list(facility.warnings)
    if restored is not None:
        try:
            restore_card.scrub(sp.restore_file)  # the records in clear leave the FAT
        except OSError as e:
            log.error("could not erase %s: %s", sp.restore_file, e)
            warnings.append(
                f"la sauvegarde n'a pas pu être effacée de la carte ({e.strerror or e}) :"
                " effacez keneya/restore.db.gz / the backup could not be erased from the card"
            )
    receipt = {
        "status": "applied",
        "facility": facility.code,
        "name": facility.name,
        "hostname": facility.hostname(),
        "applied_at": applied_at,
        "image_version": image_version,
        "secrets_moved": sorted(facility.secrets()),
        "hashes_moved": sorted(facility.admin_hashes()),
        "ssh": ssh_state(facility),
        "admin_added": db["admin_added"],
        "warnings": warnings,
        "restored": _restored_summary(restored),
    }
    # The secrets leave the FAT partition: the card keeps the file without them, and the old
    # file's bytes are overwritten where they lie.
    _replace_scrubbing(card_file, public)
    _write_plain(sp.receipt, _receipt_text(receipt))
    sp.card_error.unlink(missing_ok=True)
    sp.error_file.unlink(missing_ok=True)
    _write_plain(
        sp.marker,
        json.dumps(
            {
                "code": facility.code,
                "applied_at": applied_at,
                "card_sha256": _sha256(public.encode()),
            },
            indent=2,
        )
        + "\n",
    )
    problems = secure(sp)
    if problems:
        receipt["warnings"] += problems
        with contextlib.suppress(OSError):
            _write_plain(sp.receipt, _receipt_text(receipt))
    log.info("facility %s applied", facility.code)
    return receipt


def _service_ids(user: str) -> tuple[int, int]:
    """The service user's uid and gid; (-1, -1), which chown leaves as they are, where there
    is no such user."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        log.info("no user %s here: modes set, owners left as they are", user)
        return -1, -1
    return entry.pw_uid, entry.pw_gid


def _own(path: Path, mode: int, uid: int, gid: int) -> None:
    os.chown(path, uid, gid, follow_symlinks=False)
    os.chmod(path, mode)


def secure(sp: SystemPaths) -> list[str]:
    """Owners and modes of what first boot made (done at every boot, so that an appliance
    provisioned by an older image is put right too); what could not be done, as warnings.

    /etc/keneya and its files: root, group of the service user, 0750 and 0640 (the services
    read the facility file, the mapping, the CA; only root changes them). The secrets folder
    and each secret: the service user's, 0700 and 0600 (the web app reads the Wi-Fi key for
    the join QR code, the modem daemon the SIM PIN and the DHIS2 token or password, the outbox
    sender the DHIS2 token or password; all run as that user). The data folder and all under
    it (database, -wal, -shm, lock files, backups): the service user's, 0700 and 0600."""
    uid, gid = _service_ids(sp.service_user)
    problems: list[str] = []

    def own(path: Path, mode: int, owner: int) -> None:
        try:
            _own(path, mode, owner, gid)
        except OSError as e:
            log.error("cannot set the owner or mode of %s: %s", path, e)
            problems.append(
                f"droits non appliqués à {path} / owner or mode not set on {path}:"
                f" {e.strerror or e}"
            )

    config, secrets_dir, data = sp.app.config_dir, sp.app.secrets_dir, sp.app.data_dir
    if config.is_dir():
        own(config, 0o750, -1)
        for path in sorted(config.iterdir()):
            if path.is_file() and not path.is_symlink():
                own(path, 0o640, -1)
    if secrets_dir.is_dir() and not secrets_dir.is_symlink():
        own(secrets_dir, 0o700, uid)
        for path in sorted(secrets_dir.iterdir()):
            if path.is_file() and not path.is_symlink():
                own(path, 0o600, uid)
    if data.is_dir() and not data.is_symlink():
        own(data, 0o700, uid)
        for folder, dirs, names in os.walk(data):
            here = Path(folder)
            if here == data and "lost+found" in dirs:
                dirs.remove("lost+found")  # the file system's own (mkfs.ext4), root's
            for name in dirs:
                if not (here / name).is_symlink():
                    own(here / name, 0o700, uid)
            for name in names:
                if (here / name).is_file() and not (here / name).is_symlink():
                    own(here / name, 0o600, uid)
    return problems


def _drop_hashes(path: Path) -> list[str]:
    """Rewrite a facility file that still holds the admin's hashes (from an older image)
    without them, its old bytes overwritten; what went wrong, as warnings."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    if ARGON2_MARK not in raw:
        return []
    try:
        facility = parse(raw.decode("utf-8"), source=str(path), secrets_elsewhere=True)
        _replace_scrubbing(path, facility.public_toml())
    except (UnicodeDecodeError, FacilityFileError, OSError) as e:
        log.error("could not take the hashes out of %s: %s", path, e)
        return [f"{path} : empreintes non retirées / hashes not removed: {e}"]
    return []


def _apply_files_and_database(
    facility: Facility, sp: SystemPaths, fail_at: str | None
) -> dict[str, Any]:
    """The files and the database changes, swapped in together; undone together on error."""
    files = StagedFiles()
    store = Store(sp.app.database, create=True)
    try:
        with store.transaction():
            try:
                stage_system_files(facility, files, sp, card_folder=sp.card_file.parent)
                _maybe_fail(fail_at, "staged")
                db = apply_database(facility, store, sp)
                _maybe_fail(fail_at, "database")
                files.swap_in()
                _maybe_fail(fail_at, "swapped")
            except BaseException:
                files.undo()
                raise
        files.finish()
    except (FirstBootError, ValueError, OSError) as e:
        raise FirstBootError(str(e)) from None
    finally:
        store.close()
    return db


def _install_backup(facility: Facility, sp: SystemPaths) -> dict[str, Any]:
    """The card's backup as the database, before the facility is applied. Refused when the
    appliance already holds records: then the copy is scrubbed off the card (the records in
    clear must not stay on the FAT) and first boot stops, saying so."""
    if _read_marker(sp) is not None or restore_card.holds_records(sp.app.database):
        with contextlib.suppress(OSError):  # a read-only card must not hide the real error
            restore_card.scrub(sp.restore_file)
        raise _fail(
            sp,
            "une base de données avec des dossiers existe déjà sur cet appareil : la sauvegarde"
            " de la carte n'a pas été installée et a été effacée de la carte / this appliance"
            " already holds records: the backup on the card was not installed, and was erased"
            " from the card. To replace the records: keneya backup restore FILE --identity"
            " district.key",
        )
    try:
        return restore_card.install(
            sp.restore_file,
            sp.app.database,
            backups_dir=sp.app.backups_dir,
            facility_code=facility.code,
        )
    except restore_card.RestoreRefused as e:
        raise _fail(sp, str(e)) from None


def _restored_summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {"facility": report.get("facility_code"), "counts": report.get("counts") or {}}


def _replace_scrubbing(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically, then overwrite the old file's bytes in place
    (held open across the rename) so that nothing of it stays on the FAT."""
    try:
        old = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        old = None
    try:
        _write_plain(path, text)
        if old is not None:
            restore_card.overwrite(old)
    finally:
        if old is not None:
            os.close(old)


def _with_kept_secrets(facility: Facility, sp: SystemPaths) -> Facility:
    """A later card may leave out the secrets already on the appliance: the Wi-Fi key is
    needed again for the hotspot's keyfile, so it is read back from the secrets folder."""
    if facility.passphrase:
        return facility
    kept = sp.app.secrets_dir / "hotspot_passphrase"
    if not kept.exists():
        raise FirstBootError("the card gives no hotspot passphrase and the appliance has none")
    return dataclasses.replace(facility, passphrase=kept.read_text().strip())


def _maybe_fail(fail_at: str | None, step: str) -> None:
    if fail_at == step:
        raise OSError(f"injected failure at step {step!r}")


def _read_marker(sp: SystemPaths) -> dict[str, Any] | None:
    try:
        return json.loads(sp.marker.read_text())
    except (OSError, ValueError):
        return None


def _write_plain(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".keneya-new")
    tmp.write_text(text, encoding="utf-8")
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _receipt_text(receipt: dict[str, Any]) -> str:
    lines = [
        "Keneya : fiche de l'établissement appliquée / facility file applied",
        f"établissement / facility: {receipt['name']} ({receipt['facility']})",
        f"nom sur le réseau / hostname: {receipt['hostname']}",
        f"appliqué le / applied at: {receipt['applied_at']} (UTC)",
        f"version de l'image / image version: {receipt['image_version']}",
        "secrets retirés de la carte / secrets removed from the card: "
        + (", ".join(receipt["secrets_moved"]) or "-"),
        "empreintes du PIN et du mot de passe, dans la base seulement / PIN and password hashes,"
        " in the database only: " + (", ".join(receipt.get("hashes_moved") or ()) or "-"),
        "SSH : " + _ssh_fr(receipt["ssh"]) + " / SSH: " + receipt["ssh"],
    ]
    restored = receipt.get("restored")
    if restored:
        counts = restored["counts"]
        lines.append(
            "dossiers restaurés depuis la sauvegarde / records restored from the backup:"
            f" {counts.get('patients', 0)} patients, {counts.get('encounters', 0)}"
            " consultations et actes / encounters (copie effacée de la carte / copy erased"
            " from the card)"
        )
    lines += [f"attention / warning: {w}" for w in receipt["warnings"]]
    return "\n".join(lines) + "\n"


def _ssh_fr(state: str) -> str:
    if state == "disabled":
        return "désactivé"
    sides = state.removeprefix("enabled from ").split(" and ")
    names = {"hotspot": "le Wi-Fi", "ethernet": "le câble Ethernet"}
    return "activé depuis " + " et ".join(names.get(s, s) for s in sides)


def _fail(sp: SystemPaths, message: str) -> FirstBootError:
    """The error where the kiosk shows it and on the card where the technician reads it."""
    text = "Keneya : la fiche de l'établissement n'a pas été appliquée.\n" + message + "\n"
    for path in (sp.error_file, sp.card_error):
        with contextlib.suppress(OSError):  # a read-only card must not hide the real error
            _write_plain(path, text)
    with contextlib.suppress(OSError):
        secure(sp)  # the kiosk, as the service user, reads the error
    return FirstBootError(message)
