"""`keneya update …`: the appliance's updates (provisioning/update.py says the flow).

`status` is for anyone; `scan`, `install`, `boot` and `health` are the root units' commands
(image_build/units/keneya-update-*.service), and work on a laptop's home for the tests.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import click

from appliance.backup import usb
from appliance.cli.common import emit, json_option, paths
from appliance.services import update_state
from appliance.store.db import StoreError
from provisioning import update as updates

UPDATE_MOUNT_ROOT = Path("/run/keneya/update-usb")


def _fail(message: str) -> None:
    click.echo(f"keneya update: {message}", err=True)
    sys.exit(1)


@click.group("update")
def update() -> None:
    """Updates: the two root slots, a signed bundle from a USB stick, trial and rollback."""


@update.command("status")
@json_option
@click.pass_context
def status(ctx, as_json):
    """Both slots' versions, which is booted, an update on offer, the last outcome."""
    state = update_state.read(paths(ctx).data_dir)
    lines = update_state.summary(state) or ["aucune information de mise à jour / no update yet"]
    emit(state, as_json, "\n".join(lines))


# the district's certificate the signatures are checked against
keyring_option = click.option("--keyring", type=click.Path(dir_okay=False, path_type=Path),
                              default=str(updates.KEYRING), show_default=True)  # fmt: skip


@update.command("scan")
@click.argument("device", required=False, type=click.Path(dir_okay=False))
@click.option("--dir", "folder", type=click.Path(file_okay=False, exists=True),
              help="A stick already mounted at this folder (instead of DEVICE).")  # fmt: skip
@keyring_option
@json_option
@click.pass_context
def scan(ctx, device, folder, keyring, as_json):
    """Check a stick's .raucb (signature, compatible), or the district's published folder
    (keneya-update/: signed index and delta), and offer it; run by udev."""
    if bool(device) == bool(folder):
        raise click.UsageError("give the stick's DEVICE or --dir FOLDER (one of them)")
    p = paths(ctx)
    point = None
    try:
        if device:
            # not usb.MOUNT_ROOT: the backup unit, started for the same stick, mounts it there
            # in its own namespace, and its rmdir of that same path when it is done would
            # take this unit's mount away mid-copy (a mount point removed in one namespace is
            # detached in all; seen under qemu as rauc's "No such file")
            point = usb.mount(Path(device), mount_root=UPDATE_MOUNT_ROOT)
        where = point or Path(folder)
        published = where / usb.UPDATE_FOLDER
        if updates.find_bundles(where):
            offered = updates.offer(p, where, keyring=keyring)
        elif (published / "index.json").is_file():
            # the district's folder as it publishes it for 3G (index, signature, deltas):
            # checked and offered exactly as a fetched one
            offered = updates.offer_downloaded(p, published, keyring=keyring)
        else:
            emit({"bundle": None}, as_json, "pas de mise à jour sur cette clé / no bundle")
            return
    except (updates.UpdateError, usb.UsbError) as e:
        _fail(str(e))
    finally:
        if point is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                usb.unmount(point)
    emit(offered, as_json, f"Mise à jour disponible : version {offered['version']}")


@update.command("fetched")
@click.option("--dir", "folder", type=click.Path(file_okay=False, exists=True),
              help="The download folder (default: the data folder's update/download).")  # fmt: skip
@keyring_option
@json_option
@click.pass_context
def fetched(ctx, folder, keyring, as_json):
    """Check what the modem daemon fetched over 3G (signed index, SHA-256) and offer it."""
    try:
        offered = updates.offer_downloaded(
            paths(ctx), Path(folder) if folder else None, keyring=keyring
        )
    except updates.UpdateError as e:
        _fail(str(e))
    emit(offered, as_json, f"Mise à jour disponible : version {offered['version']}")


@update.command("install")
@click.option("--reboot/--no-reboot", default=True, show_default=True,
              help="Reboot into the new slot once it is written.")  # fmt: skip
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Before the reboot, wait until nobody is mid-form on the kiosk or a tablet"
                   " (or night).")  # fmt: skip
@json_option
@click.pass_context
def install(ctx, reboot, wait, as_json):
    """Install the offered update (a pre-update backup first), then reboot into it."""
    p = paths(ctx)
    try:
        last = updates.install(p)
    except (updates.UpdateError, OSError, StoreError) as e:
        _fail(str(e))
    emit(last, as_json, f"version {last['version']} installée en partition {last['slot']}")
    if reboot:
        if wait:
            updates.wait_for_quiet(p)
        subprocess.run(["systemctl", "reboot"], check=False)


@update.command("boot")
@json_option
@click.pass_context
def boot(ctx, as_json):
    """At every boot: report a return from a failed slot (restoring the pre-update backup if
    that version changed the database beyond this one) and refresh the slots' state."""
    try:
        state = updates.at_boot(paths(ctx))
    except Exception as e:  # noqa: BLE001 - the boot goes on; the reason is in the journal
        _fail(f"{type(e).__name__}: {e}")
    emit(state, as_json, "\n".join(update_state.summary(state)))


@update.command("health")
@click.option("--minutes", type=float, default=updates.HEALTH_MINUTES, show_default=True)
@click.option("--reboot/--no-reboot", default=True, show_default=True)
@json_option
@click.pass_context
def health(ctx, minutes, reboot, as_json):
    """On a slot on trial: mark it good when healthy, else bad after MINUTES and reboot."""
    p = paths(ctx)
    try:
        result = updates.health(p, minutes=minutes)
    except (updates.UpdateError, OSError) as e:
        # could not mark or record: the slot stays on trial, and the initramfs's attempts
        # bring the previous version back after a few boots; this boot ends here
        click.echo(f"keneya update: {e}", err=True)
        if reboot:
            subprocess.run(["systemctl", "reboot"], check=False)
        sys.exit(1)
    if not result.get("trial"):
        said = "pas de version à l'essai / no version on trial"
    elif result.get("good"):
        said = f"partition {result['booted']} vérifiée / slot marked good"
    else:
        said = f"partition {result['booted']} refusée : {'; '.join(result['problems'])}"
    emit(result, as_json, said)
    if result.get("trial") and not result.get("good") and reboot:
        subprocess.run(["systemctl", "reboot"], check=False)


@update.command("carry-over")
def carry_over():
    """RAUC's post-install handler: the facility's files into the slot just written (RAUC
    gives it in RAUC_TARGET_SLOTS and RAUC_SLOT_DEVICE_<n>)."""
    targets = os.environ.get("RAUC_TARGET_SLOTS", "").split()
    if not targets:
        _fail("no RAUC_TARGET_SLOTS: this is run by RAUC after an install")
    for n in targets:
        device = os.environ.get(f"RAUC_SLOT_DEVICE_{n}")
        if not device:
            _fail(f"no RAUC_SLOT_DEVICE_{n}")
        try:
            carried = updates.carry_into_slot(device)
        except (updates.UpdateError, OSError) as e:
            _fail(str(e))
        click.echo(f"carried into {device}: {', '.join(carried)}")
