"""Commands that read or write records, acting as a named staff member."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from appliance.cli.common import (
    as_option,
    emit,
    json_option,
    login_as,
    open_context,
    secret_from_stdin,
)
from appliance.domain import limits
from appliance.domain.names import fold
from appliance.services import audit as audit_service
from appliance.services import auth
from appliance.services import encounters as encounter_service
from appliance.services import patients as patient_service
from appliance.services.errors import PossibleDuplicates


def _line(p: dict[str, Any]) -> str:
    est = "~" if p.get("birth_date_estimated") else ""
    return (
        f"{p['health_number']}  {p['family_name'].upper()} {p['given_names']}  {p['sex']}"
        f"  {est}{p['birth_date']}  {p.get('village') or ''}"
    )


# -- patients --------------------------------------------------------------------------------
@click.group()
def patient() -> None:
    """Find, register, open and merge patient records."""


@patient.command("search")
@click.argument("query")
@click.option("--sex", type=click.Choice(["F", "M"], case_sensitive=False))
@click.option("--age-min", type=click.IntRange(0, 130), help="In years.")
@click.option("--age-max", type=click.IntRange(0, 130), help="In years.")
@click.option("--village")
@click.option(
    "--limit",
    type=click.IntRange(1, patient_service.MAX_PAGE_SIZE),
    default=patient_service.PAGE_SIZE,
    show_default=True,
    help="Results per page.",
)
@click.option(
    "--offset",
    type=click.IntRange(0, 100_000),
    default=0,
    show_default=True,
    help="Results to skip: the next page starts at the offset given after a full page.",
)
@as_option
@json_option
@click.pass_context
def patient_search(ctx, query, sex, age_min, age_max, village, limit, offset, as_user, as_json):
    """Search by name (accents, spelling variants and clan-name equivalents ignored), health
    number or phone: closest first, then the most recently seen, one page at a time."""
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        page = patient_service.search_page(
            kctx,
            actor,
            query,
            sex=sex,
            age_min=age_min,
            age_max=age_max,
            village=village,
            limit=limit,
            offset=offset,
        )
    rows = page["results"]
    human = "\n".join(_line(r) for r in rows)
    nobody = (
        f"pas d'autres résultats après les {offset} premiers / no more results after {offset}"
        if offset
        else "aucun patient trouvé / no patient found"
    )
    emit(rows, as_json, human or nobody)
    if page["more"]:
        # On stderr with --json, so that the output stays the list of patients.
        click.echo(
            f"plus de résultats : --offset {offset + len(rows)}"
            f" / more results: --offset {offset + len(rows)}",
            err=as_json,
        )


@patient.command("show")
@click.argument("patient_ref", metavar="ID_OR_HEALTH_NUMBER")
@as_option
@json_option
@click.pass_context
def patient_show(ctx, patient_ref, as_user, as_json):
    """The whole record, with every current encounter."""
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        rec = patient_service.record(kctx, actor, patient_ref)
    human = "\n".join(
        [_line(rec)] + [f"  {e['care_date']}  {e['type']:<16} {e['id']}" for e in rec["encounters"]]
    )
    emit(rec, as_json, human)


def _json_arg(text: str | None, file: str | None) -> dict[str, Any]:
    if file:
        size = Path(file).stat().st_size
        if size > limits.MAX_ENCOUNTER_BYTES:  # said before reading a huge file
            raise click.UsageError(str(limits.DataTooLarge(size)))
        text = Path(file).read_text(encoding="utf-8")
    if not text:
        raise click.UsageError("give the data as --data JSON or --data-file FILE")
    try:
        value = limits.loads(text)  # size and nesting checked before parsing
    except (limits.DataTooLarge, limits.DataTooDeep) as e:
        raise click.UsageError(str(e)) from None
    except json.JSONDecodeError as e:
        raise click.UsageError(
            f"the data is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None
    if not isinstance(value, dict):
        raise click.UsageError("the data must be a JSON object")
    return value


@patient.command("register")
@click.option("--family-name", required=True)
@click.option("--given-names", required=True)
@click.option("--sex", required=True, type=click.Choice(["F", "M"], case_sensitive=False))
@click.option("--birth-date", help="YYYY-MM-DD")
@click.option("--age-years", type=int, help="When the birth date is not known.")
@click.option("--age-months", type=int)
@click.option("--village")
@click.option("--phone")
@click.option("--mother", "mother_id", help="The mother's or guardian's record id.")
@click.option(
    "--accept-duplicates",
    is_flag=True,
    help="Register even though similar patients exist (after checking them).",
)
@as_option
@json_option
@click.pass_context
def patient_register(ctx, accept_duplicates, as_user, as_json, **fields):
    """Register a new patient (warns about possible duplicates first)."""
    data = {k: v for k, v in fields.items() if v is not None}
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        try:
            row = patient_service.register(kctx, actor, data, accept_duplicates=accept_duplicates)
        except PossibleDuplicates as dup:
            if as_json:
                emit({"registered": False, "duplicates": dup.candidates}, True)
            else:
                click.echo("Similar patients are already registered:", err=True)
                for c in dup.candidates:
                    click.echo("  " + _line(c), err=True)
                click.echo(
                    "Open one of them, or register anyway with --accept-duplicates.", err=True
                )
            raise SystemExit(3) from None
    emit(row, as_json, _line(row))


@patient.command("merge")
@click.option("--keep", required=True, help="The record kept.")
@click.option("--merge", "merge_from", required=True, help="The duplicate merged into it.")
@click.option("--reason", required=True)
@as_option
@json_option
@click.pass_context
def patient_merge(ctx, keep, merge_from, reason, as_user, as_json):
    """Merge a duplicate record into the one kept (every encounter moves)."""
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        out = patient_service.merge(kctx, actor, keep=keep, merge_from=merge_from, reason=reason)
    emit(out, as_json, f"merged; {out['encounters_moved']} encounter(s) moved")


# -- encounters ------------------------------------------------------------------------------
@click.group()
def encounter() -> None:
    """Record care, correct it, void it, see its versions."""


@encounter.command("add")
@click.argument("patient_ref", metavar="ID_OR_HEALTH_NUMBER")
@click.option("--type", "kind", required=True)
@click.option("--data", help="The encounter as a JSON object.")
@click.option("--data-file", type=click.Path(exists=True, dir_okay=False))
@as_option
@json_option
@click.pass_context
def encounter_add(ctx, patient_ref, kind, data, data_file, as_user, as_json):
    """Record one encounter (its fields depend on --type)."""
    payload = _json_arg(data, data_file)
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        row = encounter_service.add(kctx, actor, patient_ref, kind, payload)
    emit(row, as_json, f"recorded {row['type']} {row['id']}")


@encounter.command("correct")
@click.argument("encounter_id")
@click.option("--data", help="The corrected encounter as a JSON object.")
@click.option("--data-file", type=click.Path(exists=True, dir_okay=False))
@click.option("--reason", required=True)
@as_option
@json_option
@click.pass_context
def encounter_correct(ctx, encounter_id, data, data_file, reason, as_user, as_json):
    """Write a corrected version; the old one is kept."""
    payload = _json_arg(data, data_file)
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        row = encounter_service.correct(kctx, actor, encounter_id, payload, reason=reason)
    emit(row, as_json, f"corrected: {row['id']} supersedes {row['supersedes']}")


@encounter.command("void")
@click.argument("encounter_id")
@click.option("--reason", required=True)
@as_option
@json_option
@click.pass_context
def encounter_void(ctx, encounter_id, reason, as_user, as_json):
    """Withdraw an encounter entered in error; it stays readable in its history."""
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        row = encounter_service.void(kctx, actor, encounter_id, reason=reason)
    emit(row, as_json, f"voided {row['supersedes']}")


@encounter.command("history")
@click.argument("encounter_id")
@as_option
@json_option
@click.pass_context
def encounter_history(ctx, encounter_id, as_user, as_json):
    """Every version of one encounter."""
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        rows = encounter_service.history(kctx, actor, encounter_id)
    emit(
        rows,
        as_json,
        "\n".join(
            f"{r['recorded_at']}  {r['id']}  {'VOID ' if r['voided'] else ''}"
            f"{r['correction_reason'] or 'first version'}"
            for r in rows
        ),
    )


# -- audit -----------------------------------------------------------------------------------
@click.command("audit")
@click.option("--patient", "patient_ref", required=True, metavar="ID_OR_HEALTH_NUMBER")
@as_option
@json_option
@click.pass_context
def audit(ctx, patient_ref, as_user, as_json):
    """Who read or wrote a patient's record, newest first."""
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        rows = audit_service.for_patient(kctx, actor, patient_ref)
    emit(
        rows,
        as_json,
        "\n".join(
            f"{r['at']}  {r['username'] or '-':<12} {r['role'] or '-':<13} {r['action']}"
            for r in rows
        ),
    )


# -- staff -----------------------------------------------------------------------------------
@click.group()
def staff() -> None:
    """Staff accounts (no default accounts: the first one added is the admin)."""


@staff.command("add")
@click.option("--name", "display_name", required=True)
@click.option("--role", required=True)
@click.option("--username", help="Default: made from the name.")
@click.option("--pin-stdin", is_flag=True, help="Read the new PIN from standard input.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the new password from standard input (after the PIN, if both).",
)
@click.option("--no-password", is_flag=True, help="Kiosk PIN only; no tablet password.")
@as_option
@json_option
@click.pass_context
def staff_add(
    ctx, display_name, role, username, pin_stdin, password_stdin, no_password, as_user, as_json
):
    """Add a staff member. Secrets are asked for (or read from stdin), never given as flags.

    With --as and secrets on stdin, the first line is your own PIN (unless KENEYA_PIN is set),
    then the new PIN, then the new password."""
    username = username or ".".join(fold(display_name).split())[:32]
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user) if as_user else None
        pin = (
            secret_from_stdin("new PIN")
            if pin_stdin
            else click.prompt("New PIN (4–8 digits)", hide_input=True, confirmation_prompt=True)
        )
        password = None
        if password_stdin:
            password = secret_from_stdin("new password")
        elif not no_password and not pin_stdin:
            password = click.prompt(
                "New tablet password (8+ characters)", hide_input=True, confirmation_prompt=True
            )
        row = auth.add_staff(
            kctx,
            actor,
            username=username,
            display_name=display_name,
            role=role.lower(),
            pin=pin,
            password=password,
        )
    emit(row, as_json, f"added {row['username']} ({row['role']})")


@staff.command("list")
@as_option
@json_option
@click.pass_context
def staff_list(ctx, as_user, as_json):
    """Every account (admins only)."""
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        rows = auth.list_staff(kctx, actor)
    emit(
        rows,
        as_json,
        "\n".join(
            f"{r['username']:<20} {r['role']:<14} {r['display_name']}"
            f"{'' if r['active'] else '  (inactive)'}"
            for r in rows
        ),
    )


@staff.command("unlock")
@click.argument("username", required=False)
@click.option("--client", help="Clear a client address's throttling instead (e.g. 10.42.0.57).")
@as_option
@click.pass_context
def staff_unlock(ctx, username, client, as_user):
    """Clear the login throttling of an account (on every device), or of one client address."""
    if bool(username) == bool(client):
        raise click.UsageError("give a USERNAME or --client ADDRESS, one of them")
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        if client:
            cleared = auth.unblock_client(kctx, actor, client)
        else:
            cleared = auth.unlock(kctx, actor, username)
    click.echo(f"unlocked {username or client} ({cleared} counter(s) cleared)")


@staff.command("failures")
@as_option
@json_option
@click.pass_context
def staff_failures(ctx, as_user, as_json):
    """Failed logins of the last hour (admins only): accounts and client addresses tried,
    how many failures, the last attempt, and until when each is throttled."""
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        found = auth.login_failures(kctx, actor)
    lines = []
    for title, key, name in (
        ("accounts", "accounts", lambda e: e["account"] + ("" if e["known_account"] else " (?)")),
        ("client addresses", "clients", lambda e: e["client"]),
        ("account from client", "pairs", lambda e: f"{e['account']} from {e['client']}"),
    ):
        lines.append(f"{title}:")
        for e in found[key]:
            until = f"  throttled until {e['throttled_until']}" if e["throttled_until"] else ""
            lines.append(
                f"  {name(e):<40} {e['failures']:>4} failure(s)  last {e['last_attempt']}{until}"
            )
        if not found[key]:
            lines.append("  none")
    lines.append("(?) no such account")
    emit(found, as_json, "\n".join(lines))


# -- clock -----------------------------------------------------------------------------------
@click.group()
def clock() -> None:
    """Is the date right? (The Pi has no battery-backed clock.)"""


@clock.command("status")
@json_option
@click.pass_context
def clock_status(ctx, as_json):
    """Now, and whether it is trusted since this boot."""
    with open_context(ctx) as kctx:
        status = kctx.clock.status()
    if status["trusted"]:
        trust = f"trusted ({status['source']})"
    elif status["stepped_at"]:
        trust = f"NOT trusted: clock stepped at {status['stepped_at']}, confirm it again"
    else:
        trust = "NOT trusted"
    emit(status, as_json, f"{status['now']}  {trust}")


@clock.command("confirm")
@click.option(
    "--time",
    "true_time",
    help="The right date and time (YYYY-MM-DDTHH:MM, UTC = Mali time), if the shown one is wrong.",
)
@as_option
@json_option
@click.pass_context
def clock_confirm(ctx, true_time, as_user, as_json):
    """Confirm (or correct) the date and time: the clock becomes trusted for this boot."""
    when = None
    if true_time:
        try:
            when = datetime.fromisoformat(true_time)
        except ValueError:
            raise click.UsageError(f"--time {true_time!r}: expected YYYY-MM-DDTHH:MM") from None
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        reading = audit_service.confirm_clock(kctx, actor, when)
        status = kctx.clock.status()
    emit(status, as_json, f"clock trusted: {reading.iso()}")


COMMANDS = (patient, encounter, audit, staff, clock)
