"""`keneya backup …`: online backups, the nightly rotation, the USB stick, restore."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

from appliance.backup import age, files, local, usb
from appliance.backup import copy as backups
from appliance.backup.restore import restore as restore_backup
from appliance.cli.common import emit, json_option, paths
from appliance.facility_file import read_section
from appliance.paths import SYSTEM_DATA_DIR, Paths
from appliance.store import Store

# What a restore stops on the appliance (and starts again after). keneya-power goes on: the
# battery is watched even during a restore; its writes wait at the database's lock.
WRITER_UNITS = ("keneya-web.service", "keneya-kiosk.service", "keneya-modem.service")
# A backup runs in the background and can wait for the database: at a boot on a busy Pi every
# service starts at once and a writer may hold the database past the screens' 10 s; the
# nightly backup and the stick's status line must not fail for that.
BACKUP_BUSY_TIMEOUT_MS = 180_000


@click.group()
def backup() -> None:
    """Online backups, the nightly rotation, the USB stick, and restore."""


def _settings(p: Paths) -> dict:
    section = read_section(p.facility_file, "backup", error=backups.BackupError)
    recipients = section.get("recipients") or []
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise backups.BackupError(f"{p.facility_file}: [backup] recipients must be a list of keys")
    return {
        "recipients": recipients,
        "keep_daily": int(section.get("keep_daily", files.KEEP_DAILY)),
        "keep_weekly": int(section.get("keep_weekly", files.KEEP_WEEKLY)),
    }


@backup.command("create")
@click.option("--to", "dest", type=click.Path(file_okay=False), help="Default: the backups folder.")
@json_option
@click.pass_context
def backup_create(ctx, dest, as_json):
    """Copy the live database to a checked backup file."""
    with Store(paths(ctx).database, busy_timeout_ms=BACKUP_BUSY_TIMEOUT_MS) as store:
        report = backups.create(store, dest or paths(ctx).backups_dir)
    emit(report, as_json, f"backup written: {report['file']} ({report['bytes']} bytes, checked)")


@backup.command("nightly")
@json_option
@click.pass_context
def backup_nightly(ctx, as_json):
    """A checked backup into the backups folder, keeping 7 daily and 4 weekly (the timer's)."""
    p = paths(ctx)
    keep = _settings(p)
    with Store(p.database, busy_timeout_ms=BACKUP_BUSY_TIMEOUT_MS) as store:
        report = local.nightly(
            store, p.backups_dir, keep_daily=keep["keep_daily"], keep_weekly=keep["keep_weekly"]
        )
    emit(
        report,
        as_json,
        f"backup written: {report['file']} ({report['bytes']} bytes, checked);"
        f" {len(report['kept'])} kept, {len(report['dropped'])} removed",
    )


@backup.command("list")
@json_option
@click.pass_context
def backup_list(ctx, as_json):
    """The backups in the backups folder, and how old the newest is."""
    p = paths(ctx)
    out = local.newest(p.backups_dir) | {"files": local.backup_files(p.backups_dir)}
    human = "\n".join(out["files"]) or "no backup yet"
    if out["age_s"] is not None:
        human += f"\nnewest: {out['made_at']} ({out['age_s'] // 3600} h ago)"
    emit(out, as_json, human + ("\nWARNING: no backup in the last 2 days" if out["warn"] else ""))


@backup.command("verify")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
@click.pass_context
def backup_verify(ctx, file, as_json):
    """Check a backup file (.db or .db.gz); exit 1 when it is not sound."""
    report = backups.verify(file)
    emit(
        report, as_json, f"{file}: {'ok' if report['ok'] else 'NOT OK ' + str(report['problems'])}"
    )
    if not report["ok"]:
        raise SystemExit(1)


@contextlib.contextmanager
def _decrypted(file: Path, identity: str | None, work: Path) -> Iterator[Path]:
    """The backup itself, or its decrypted `.db.gz` in a private folder removed after."""
    if not file.name.endswith(".age") and not (file.is_file() and age.looks_encrypted(file)):
        yield file
        return
    if not identity:
        raise click.UsageError(
            f"{file} is encrypted: give the district's key with --identity KEYFILE"
        )
    work.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".decrypt-", dir=work))
    try:
        yield age.decrypt(file, identity, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@backup.command("decrypt")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--identity", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@json_option
def backup_decrypt(file, identity, out_dir, as_json):
    """Decrypt a stick's backup with the district's key, and check it."""
    plain = age.decrypt(file, identity, out_dir)
    report = backups.verify(plain)
    emit(report, as_json, f"{plain}: {'ok' if report['ok'] else 'NOT OK'} {report['counts']}")
    if not report["ok"]:
        raise SystemExit(1)


def _on_appliance(p: Paths) -> bool:
    return p.data_dir == SYSTEM_DATA_DIR and Path("/run/systemd/system").is_dir()


@contextlib.contextmanager
def _writers_stopped(p: Paths) -> Iterator[list[str]]:
    """On the appliance, the web app, kiosk and modem daemon are stopped during a restore and
    started again after (on a laptop, they wait at the database's lock instead)."""
    if not _on_appliance(p):
        yield []
        return
    active = [
        u
        for u in WRITER_UNITS
        if subprocess.run(["systemctl", "is-active", "--quiet", u]).returncode == 0
    ]
    if active:
        subprocess.run(["systemctl", "stop", *active], check=False)
    try:
        yield active
    finally:
        if active:
            subprocess.run(["systemctl", "start", *active], check=False)


@backup.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--identity",
    type=click.Path(dir_okay=False, exists=True),
    help="The district's age key, for an encrypted backup (.age).",
)
@click.option(
    "--accept-other-database",
    is_flag=True,
    help="Restore a backup of this facility made on another card (a card made anew).",
)
@json_option
@click.pass_context
def backup_restore(ctx, file, identity, accept_other_database, as_json):
    """Replace the database with a backup; a checked copy of the replaced one is kept."""
    p = paths(ctx)
    with (
        _decrypted(Path(file), identity, p.data_dir) as plain,
        _writers_stopped(p) as stopped,
    ):
        report = restore_backup(
            plain,
            p.database,
            backups_dir=p.backups_dir,
            accept_other_database=accept_other_database,
        )
    report["restored_from"] = str(file)
    report["units_restarted"] = stopped
    emit(
        report,
        as_json,
        f"restored from {file} ({report['counts']['patients']} patients);"
        f" the replaced database is kept at {report['replaced_kept_at']}",
    )


@backup.command("usb")
@click.argument("device", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, exists=True),
    help="A stick already mounted at this folder (instead of DEVICE).",
)
@json_option
@click.pass_context
def backup_usb(ctx, device, folder, as_json):
    """An encrypted backup onto a USB stick (DEVICE, e.g. /dev/sda1, mounted and unmounted
    here; run by udev when a stick goes in). Exit 0: the stick may be removed."""
    if bool(device) == bool(folder):
        raise click.UsageError("give the stick's DEVICE or --dir FOLDER (one of them)")
    p = paths(ctx)
    with Store(p.database, busy_timeout_ms=BACKUP_BUSY_TIMEOUT_MS) as store:
        where = device or folder
        point = None
        try:
            recipients = _settings(p)["recipients"]
            if device:
                point = usb.mount(Path(device))
            if usb.holds_update(point or Path(folder)):
                # an update stick (keneya-update-usb@ offers its bundle): no backup onto it
                said = "clé de mise à jour : pas de sauvegarde / update stick: no backup"
                emit({"skipped": "update_stick", "device": where}, as_json, said)
                return
            usb.record(store, "writing", device=where)
            result = usb.write_to_folder(
                store, point or Path(folder), recipients, work_dir=p.backups_dir
            )
        except backups.BackupError as e:
            usb.record(
                store, "failed", device=where, reason=getattr(e, "reason", "failed"), message=str(e)
            )
            raise
        finally:
            if point is not None:
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    usb.unmount(point)
        usb.record(
            store,
            "done",
            device=where,
            file=os.path.basename(result["file"]),
            bytes=result["bytes"],
            seconds=result["seconds"],
        )
    emit(
        result,
        as_json,
        f"sauvegarde chiffrée écrite et relue : {result['file']} ({result['bytes']} octets);"
        " vous pouvez retirer la clé / encrypted backup written and read back: remove the stick",
    )


COMMANDS = (backup,)
