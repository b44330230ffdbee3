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
secrets removed from the FAT partition (anyone who pulls the card can read FAT, and a deleted
file's bytes stay there until overwritten): the card keeps the facility file without them,
and a receipt.

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
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.paths import Paths
from appliance.services import auth
from appliance.services.context import Context
from appliance.store import Store
from provisioning import hotspot, restore_card
from provisioning.facility import Facility, FacilityFileError, parse

log = logging.getLogger(__name__)

CARD_FOLDER = "keneya"
HOTSPOT_CONNECTION = "keneya-hotspot"


class FirstBootError(RuntimeError):
    """The facility file could not be applied; nothing was changed."""


@dataclass(frozen=True)
class SystemPaths:
    """Where first boot reads and writes; `root` is "/" on the Pi and a folder in tests."""

    root: Path = Path("/")
    boot_dir: Path | None = None  # default: root/boot/firmware (Debian's raspi-firmware)

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

    def write(self, path: Path, data: bytes | str, *, mode: int = 0o644) -> None:
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

    def symlink(self, path: Path, target: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = path.with_name(path.name + ".keneya-new")
        new.unlink(missing_ok=True)
        os.symlink(target, new)
        self._staged.append((new, path))

    def swap_in(self) -> None:
        for new, final in self._staged:
            backup = None
            if final.exists() or final.is_symlink():
                backup = final.with_name(final.name + ".keneya-old")
                os.replace(final, backup)
            self._swapped.append((final, backup))
            os.replace(new, final)

    def undo(self) -> None:
        for final, backup in reversed(self._swapped):
            if backup is not None:
                os.replace(backup, final)
            else:
                final.unlink(missing_ok=True)
        for new, _ in self._staged:
            new.unlink(missing_ok=True)
        self._staged, self._swapped = [], []

    def finish(self) -> None:
        for _, backup in self._swapped:
            if backup is not None:
                backup.unlink(missing_ok=True)
        _sync_dirs({final.parent for _, final in self._staged})
        self._staged, self._swapped = [], []


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
    files.write(config / "facility.toml", facility.public_toml(), mode=0o644)
    secrets_dir = config / "secrets"
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(secrets_dir, 0o700)  # only root reads the token, the PINs and the Wi-Fi key
    for name, value in facility.secrets().items():
        files.write(config / "secrets" / name, value + "\n", mode=0o600)
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
            return {"status": "unchanged", "reason": "no facility file on the card"}
        raise _fail(
            sp,
            f"no facility file on the card ({card_file}): write one with "
            "`keneya provision write-card`",
        )
    raw = card_file.read_bytes()
    marker = _read_marker(sp)
    restore_pending = sp.restore_file.exists()
    if marker and marker.get("card_sha256") == _sha256(raw) and not restore_pending:
        return {"status": "unchanged", "facility": marker.get("code")}
    try:
        facility = parse(raw.decode("utf-8"), source=str(card_file), secrets_elsewhere=bool(marker))
    except UnicodeDecodeError:
        raise _fail(sp, f"{card_file}: not UTF-8 text") from None
    except FacilityFileError as e:
        raise _fail(sp, str(e)) from None
    if marker:
        facility = _with_kept_secrets(facility, sp)
    sp.app.data_dir.mkdir(parents=True, exist_ok=True)
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
    log.info("facility %s applied", facility.code)
    return receipt


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


def _fail(sp: SystemPaths, message: str) -> FirstBootError:
    """The error where the kiosk shows it and on the card where the technician reads it."""
    text = "Keneya : la fiche de l'établissement n'a pas été appliquée.\n" + message + "\n"
    for path in (sp.error_file, sp.card_error):
        with contextlib.suppress(OSError):  # a read-only card must not hide the real error
            _write_plain(path, text)
    return FirstBootError(message)
