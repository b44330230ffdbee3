"""`keneya provision …`: write a facility file, check one, put it on a flashed card, and apply
it at first boot. `appliance.cli.main` loads this group through the `keneya.commands` entry
point."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from appliance.cli.common import emit, json_option

EXIT_INVALID = 2  # like a usage error: the file, not the machine, is wrong


@click.group()
def provision() -> None:
    """A facility's card: write the facility file, check it, copy it onto the card, apply it."""


@provision.command("new")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    default="facility.toml",
    show_default=True,
)
@click.option(
    "--set",
    "answers",
    multiple=True,
    metavar="KEY=VALUE",
    help="Answer a question without being asked (e.g. --set facility.code=BONI). "
    "ssh.authorized_keys may be given several times, one key each, or as @FILE (a .pub file "
    "or an authorized_keys file): --set ssh.authorized_keys=@~/.ssh/id_ed25519.pub",
)
@click.option("--no-input", is_flag=True, help="Never ask: take --set answers and defaults.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def new(output: str, answers: tuple[str, ...], no_input: bool, force: bool) -> None:
    """Ask the questions that make a facility file, write it, and print what to keep safe."""
    from provisioning import new as questions

    out = Path(output)
    if out.exists() and not force:
        raise click.UsageError(f"{out} exists; give --force to replace it")
    given: dict[str, str] = {}
    for item in answers:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.UsageError(f"--set {item!r}: expected KEY=VALUE")
        key = key.strip()
        if key in questions.LIST_ANSWERS and key in given:
            given[key] += "\n" + value  # one line per key
        else:
            given[key] = value
    known = {q[0] for q in questions.QUESTIONS}
    unknown = sorted(set(given) - known)
    if unknown:
        raise click.UsageError(
            f"unknown question(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    for key, prompt, default, validate in questions.QUESTIONS:
        if key in given or no_input:
            continue
        while True:
            value = click.prompt(prompt, default=default or "", show_default=bool(default))
            problem = validate(value) if validate else None
            if not problem:
                given[key] = value
                break
            click.echo(f"  {problem}", err=True)
    try:
        text, keep_safe = questions.build(given)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    out.write_text(text, encoding="utf-8")
    out.chmod(0o600)  # it holds the DHIS2 token, the SIM PIN and the Wi-Fi key until first boot
    click.echo(f"wrote {out}. Keep these safe (they are not stored in clear anywhere):")
    for what, value in keep_safe.items():
        click.echo(f"  {what}: {value}")


@provision.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
def check(file: str, as_json: bool) -> None:
    """Check a facility file: every problem with its line, what is wrong and what would be right."""
    from provisioning.facility import FacilityFileError, load

    try:
        facility = load(Path(file))
    except FacilityFileError as e:
        if as_json:
            problems = [
                {"key": p.key, "line": p.line, "message": p.message, "hint": p.hint}
                for p in e.problems
            ]
            click.echo(json.dumps({"valid": False, "problems": problems}, indent=2))
        else:
            click.echo(str(e), err=True)
        sys.exit(EXIT_INVALID)
    out = {
        "valid": True,
        "facility": facility.code,
        "name": facility.name,
        "hostname": facility.hostname(),
        "warnings": list(facility.warnings),
    }
    text = f"{file}: OK: {facility.name} ({facility.code}), hostname {facility.hostname()}"
    text += "".join(f"\n  warning: {w}" for w in facility.warnings)
    emit(out, as_json, text)


@provision.command("write-card")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--image", type=click.Path(dir_okay=False), help="A flashed image file.")
@click.option("--device", type=click.Path(dir_okay=False), help="The card, e.g. /dev/sdb.")
@click.option(
    "--restore",
    "backup",
    type=click.Path(dir_okay=False),
    help="A backup of this facility (.db.gz.age from a USB stick, or .db.gz / .db) that first"
    " boot installs as the database: the new card comes back with its records.",
)
@click.option(
    "--identity",
    type=click.Path(dir_okay=False),
    help="The district's age key (district.key) that decrypts the --restore backup.",
)
@json_option
def write_card(
    file: str,
    image: str | None,
    device: str | None,
    backup: str | None,
    identity: str | None,
    as_json: bool,
) -> None:
    """Copy FILE onto the card's boot partition (keneya/facility.toml), without mounting, and
    read it back to verify. The file is checked first: a card with a bad file would not boot
    into a working appliance. With --restore, the backup is decrypted and checked here and
    written beside it (keneya/restore.db.gz) for first boot to install."""
    from provisioning import card, restore_card
    from provisioning.facility import FacilityFileError, load

    if identity and not backup:
        raise click.UsageError("--identity goes with --restore BACKUP")
    try:
        facility = load(Path(file))
    except FacilityFileError as e:
        click.echo(str(e), err=True)
        click.echo("keneya: the card was not written: fix the file first", err=True)
        sys.exit(EXIT_INVALID)
    with tempfile.TemporaryDirectory(prefix="keneya-restore-") as scratch:
        prepared = None
        try:
            target = card.check_target(
                image=Path(image) if image else None, device=Path(device) if device else None
            )
            if backup:
                prepared = restore_card.prepare(
                    Path(backup),
                    identity=Path(identity) if identity else None,
                    facility_code=facility.code,
                    work_dir=Path(scratch),
                )
                room = restore_card.check_room(target, prepared.path.stat().st_size)
            if facility.mapping_file:  # first boot reads it from beside the facility file
                mapping = Path(file).parent / facility.mapping_file
                card.write_file(
                    target, mapping.read_bytes(), dest=f"keneya/{facility.mapping_file}"
                )
            restored = restore_card.write(target, prepared) if prepared else None
            # the facility file last: it is what makes first boot act
            result = card.write_file(target, Path(file).read_bytes())
        except restore_card.RestoreRefused as e:
            click.echo(f"keneya: the card was not written: {e}", err=True)
            sys.exit(EXIT_INVALID)
        except card.CardError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:  # the laptop's own disk (the decrypted copy), or a file unread
            where = f"{e.filename}: " if e.filename else ""
            raise click.ClickException(f"{where}{e.strerror or e}") from None
    text = f"wrote {result['dest']} ({result['bytes']} bytes) on {result['target']}"
    text += " and read it back"
    if restored:
        result["restore"] = restored | room
        counts = restored["counts"]
        text += (
            f"\nwrote {restored['dest']} ({restored['bytes']} bytes, facility"
            f" {restored['facility_code']}: {counts.get('patients', '?')} patients,"
            f" {counts.get('encounters', '?')} encounters) and read it back; first boot installs"
            " it, then erases it from the card"
        )
    emit(result, as_json, text)


@provision.command("firstboot")
@click.option("--root", type=click.Path(file_okay=False), default="/", show_default=True)
@click.option(
    "--boot",
    type=click.Path(file_okay=False),
    help="The boot partition (default: ROOT/boot/firmware).",
)
@click.option(
    "--image-version", help="Default: ROOT/etc/keneya-release, written by the image build."
)
@json_option
def firstboot(root: str, boot: str | None, image_version: str, as_json: bool) -> None:
    """Apply the card's facility file (the keneya-firstboot service). All or nothing."""
    from provisioning.firstboot import FirstBootError, SystemPaths, apply

    paths = SystemPaths(root=Path(root), boot_dir=Path(boot) if boot else None)
    if image_version is None:
        release = Path(root) / "etc" / "keneya-release"
        image_version = release.read_text().strip() if release.exists() else "unknown"
    try:
        receipt = apply(paths, image_version=image_version)
    except FirstBootError as e:
        click.echo(f"keneya: the facility file was not applied; nothing changed.\n{e}", err=True)
        sys.exit(1)
    if receipt["status"] != "unchanged":
        _ssh_now(receipt["ssh"], root)
    if receipt["status"] == "unchanged":
        text = "already provisioned with this card: nothing to do"
        text += "".join(f"\n  warning: {w}" for w in receipt.get("warnings") or ())
        emit(receipt, as_json, text)
    else:
        text = (
            f"applied: {receipt['name']} ({receipt['facility']}), hostname {receipt['hostname']};"
            f" secrets moved off the card: {', '.join(receipt['secrets_moved']) or 'none'};"
            f" hashes kept in the database only: {', '.join(receipt['hashes_moved']) or 'none'}"
        )
        if receipt.get("restored"):
            counts = receipt["restored"]["counts"]
            text += (
                f"; records restored from the card's backup: {counts.get('patients', 0)}"
                f" patients, {counts.get('encounters', 0)} encounters (its copy erased)"
            )
        emit(receipt, as_json, text)


def _ssh_now(state: str, root: str, *, running: Path = Path("/run/systemd/system")) -> None:
    """sshd as the facility says, in this boot too: the wants link first boot wrote counts from
    the next boot (this boot's jobs were decided before first boot ran). --no-block, since
    first boot runs before the network and ssh.service after it."""
    if Path(root).resolve() != Path("/") or not running.is_dir():
        return  # a folder being prepared, or a machine without systemd: nothing to start
    verb = "stop" if state == "disabled" else "start"
    try:
        subprocess.run(
            ["systemctl", "--no-block", verb, "ssh.service"],
            check=False,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        click.echo(
            f"keneya: ssh.service not {verb}ed now ({e}); it follows at the next boot", err=True
        )
