"""`keneya opinion ask|list|exchange`: second opinions from the district over 3G."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.cli.common import as_option, emit, json_option, login_as, open_context, paths
from appliance.facility_file import OpinionSettingsError, opinion_settings
from appliance.opinion.photo import PhotoError
from appliance.services import opinions as service

PHOTO_MAX_READ = 30 * 1024 * 1024  # a tablet photo is a few MB; more is no photo

STATUS_FR = {
    "queued": "en attente",
    "sending": "en envoi",
    "sent": "envoyée",
    "answered": "répondue",
    "failed": "échec",
}


def _settings(ctx: click.Context):
    try:
        return opinion_settings(paths(ctx).facility_file)
    except OpinionSettingsError as e:
        raise click.ClickException(str(e)) from None


def _public(q: dict) -> dict:
    """A question as scripts see it: no photo bytes, the replies in."""
    keys = ("id", "patient_id", "health_number", "asked_at", "asked_by_name", "question",
            "name_consented", "status", "attempts", "last_error", "has_photo", "photo_bytes",
            "conversation_id", "sent_at", "answered_at", "replies")  # fmt: skip
    out = {k: q[k] for k in keys if k in q}
    out["has_photo"] = bool(out.get("has_photo"))
    out["name_consented"] = bool(out.get("name_consented"))
    return out


def _lines(rows: list[dict]) -> str:
    lines = []
    for q in rows:
        who = q.get("health_number") or q.get("asked_by_name") or ""
        photo = f", photo {q['photo_bytes'] // 1000} kB" if q.get("has_photo") else ""
        lines.append(
            f"{q['asked_at'][:16].replace('T', ' ')}  {who}  {STATUS_FR[q['status']]}"
            f" ({q['status']}){photo}" + (f"  — {q['last_error']}" if q.get("last_error") else "")
        )
        lines.append(f"    Q : {q['question']}")
        for r in q["replies"]:
            lines.append(f"    R ({r['sender'] or 'district'}, {r['created'] or ''}) : {r['text']}")
    return "\n".join(lines) or "aucune demande d'avis / no second opinion asked"


@click.group("opinion")
def opinion() -> None:
    """Second opinions: a question about a patient to the district's DHIS2, and its replies."""


@opinion.command("ask")
@click.argument("patient")
@click.argument("question")
@click.option(
    "--photo",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A photo (JPEG, PNG…): re-encoded to the budget, its metadata removed.",
)
@click.option(
    "--consent-name",
    is_flag=True,
    help="The patient agreed to their name being sent (else only the health number goes).",
)
@as_option
@json_option
@click.pass_context
def ask_cmd(ctx, patient, question, photo, consent_name, as_user, as_json):
    """Queue QUESTION about PATIENT (id or health number) for the district, with the case
    summary; keneya-modem sends it when the 3G link is up."""
    settings = _settings(ctx)
    data = None
    if photo is not None:
        if photo.stat().st_size > PHOTO_MAX_READ:
            raise click.ClickException(f"{photo}: larger than {PHOTO_MAX_READ // 2**20} MB")
        data = photo.read_bytes()
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        try:
            q = service.ask(
                kctx,
                actor,
                patient,
                question,
                settings=settings,
                photo=data,
                consent_name=consent_name,
            )
        except PhotoError as e:
            raise click.ClickException(f"photo: {e}") from None
    out = _public(q)
    emit(out, as_json, f"question en attente d'envoi / queued: {q['id']}\n{q['body']}")


@opinion.command("list")
@click.argument("patient", required=False)
@click.option("--status", "statuses", multiple=True, type=click.Choice(list(STATUS_FR)))
@as_option
@json_option
@click.pass_context
def list_cmd(ctx, patient, statuses, as_user, as_json):
    """The questions (of PATIENT, or all) with their status and replies, newest first."""
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        if patient:
            rows = service.for_patient(kctx, actor, patient)
            rows = [r for r in rows if not statuses or r["status"] in statuses]
        else:
            rows = service.listing(kctx, actor, statuses=tuple(statuses))
    out = [_public(r) for r in rows]
    emit(out, as_json, _lines(rows))


@opinion.command("exchange")
@click.option("--url", help="DHIS2 base URL (default: the dhis2_url setting).")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds per try.")
@json_option
@click.pass_context
def exchange_cmd(ctx, url, timeout, as_json):
    """Send the questions that are due and read the replies now (keneya-modem does it by
    itself whenever the link is up)."""
    from appliance.clock import Clock
    from appliance.outbox.conversations import exchange_once
    from appliance.outbox.sender import Dhis2SetupError, config_from_settings
    from appliance.store import Store

    settings = _settings(ctx)
    with Store(paths(ctx).database) as store:
        try:
            config = config_from_settings(store, paths(ctx).secrets_dir, url=url, timeout_s=timeout)
        except Dhis2SetupError as e:
            raise click.UsageError(str(e)) from None
        clock = Clock(store)
        out = exchange_once(store, config, settings, now=lambda: clock.now().now).as_dict()
        out["month"] = store.opinions.traffic(clock.now().iso()[:7])
    emit(
        out,
        as_json,
        f"envoyées {len(out['sent'])}, à réessayer {len(out['retrying'])}, échec"
        f" {len(out['failed'])}, réponses {out['replies']} ; {out['wire_bytes']} octets"
        f" (mois : {out['month']['bytes']} octets)",
    )


COMMANDS = (opinion,)
