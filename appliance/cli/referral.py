"""`keneya referral new|show|list|return|void`: referrals to the CSRéf and their answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from appliance.cli.common import as_option, emit, json_option, login_as, open_context, paths
from appliance.domain.referrals import OUTCOMES, REASONS, TRANSPORTS, URGENCIES
from appliance.reports.referral_pdf import fiche_pdf
from appliance.services import referrals as service


def _rules(ctx: click.Context):
    return service.rules_of(paths(ctx).facility_file)


def _write_pdf(referral: dict, out: str) -> str:
    path = Path(out)
    path.write_bytes(fiche_pdf(referral))
    return str(path)


def _line(r: dict) -> str:
    state = (
        "annulée"
        if r["voided_reason"]
        else f"revenu(e) le {r['returned_on']}"
        if r["returned_on"]
        else f"attend le retour ({r['days_waiting']} j{', EN RETARD' if r.get('late') else ''})"
        if "days_waiting" in r
        else "attend le retour"
    )
    return (
        f"{r['id']}  {r['care_date']}  {r['urgency']:<10}  {r['health_number']}"
        f"  {r['family_name']} {r['given_names']}  → {r['to_facility']}"
        f"  {REASONS.get(r['reason'], r['reason'])}  [{state}]  SMS: {r['sms_status']}"
    )


def _public(r: dict) -> dict:
    """A referral as --json prints it (the SMS text is the staff's to see)."""
    return {k: v for k, v in r.items() if k != "pdf"}


@click.group("referral")
def referral() -> None:
    """Refer a patient to the CSRéf and record the counter-referral."""


@referral.command("new")
@click.argument("patient_ref", metavar="ID_OR_HEALTH_NUMBER")
@click.option("--reason", type=click.Choice(list(REASONS)), help="Default: the alert's.")
@click.option("--detail", "reason_detail", help="The reason in words (needed for 'other').")
@click.option("--urgency", type=click.Choice(URGENCIES), help="Default: urgent if an alert is.")
@click.option("--to", "to_facility", required=True, help="A code of [referral] receiving.")
@click.option("--transport", type=click.Choice(list(TRANSPORTS)), default="ambulance")
@click.option("--departure", help="HH:MM (default: now).")
@click.option("--done", "done_given", help="What was done and given before leaving.")
@click.option("--notes", "clinical_notes", help="Examination findings.")
@click.option("--bp", help="Blood pressure, e.g. 165/112.")
@click.option("--temp", "temperature_c", type=float)
@click.option("--pulse", "pulse_bpm", type=int)
@click.option("--resp", "resp_rate", type=int)
@click.option("--spo2", "spo2_pct", type=int)
@click.option("--weight", "weight_kg", type=float)
@click.option("--muac", "muac_mm", type=int)
@click.option("--accompanied-by")
@click.option(
    "--sms-consent/--no-sms-consent",
    default=False,
    help="The patient agreed that the receiving facility be told by SMS (no name is sent).",
)
@click.option("--data", help="The whole form as a JSON object instead of the options.")
@click.option("--pdf", "pdf_out", type=click.Path(dir_okay=False), help="Write the fiche here.")
@as_option
@json_option
@click.pass_context
def referral_new(ctx, patient_ref, data, pdf_out, as_user, as_json, bp, **fields):
    """Refer a patient; the form starts from the record (alert, today's vital signs)."""
    rules = _rules(ctx)
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        if data:
            try:
                form = json.loads(data)
            except json.JSONDecodeError as e:
                raise click.UsageError(f"--data is not JSON: {e}") from None
            if not isinstance(form, dict):
                raise click.UsageError("--data must be a JSON object")
        else:
            start = service.prefill(kctx, actor, patient_ref)
            vitals = dict(start["vitals"])
            if bp:
                found = re.fullmatch(r"\s*(\d{2,3})\s*/\s*(\d{2,3})\s*", bp)
                if not found:
                    raise click.UsageError(f"--bp {bp!r}: write it as 165/112")
                vitals["bp_systolic"], vitals["bp_diastolic"] = int(found[1]), int(found[2])
            for k in (
                "temperature_c",
                "pulse_bpm",
                "resp_rate",
                "spo2_pct",
                "weight_kg",
                "muac_mm",
            ):
                if fields.get(k) is not None:
                    vitals[k] = fields.pop(k)
                else:
                    fields.pop(k, None)
            form = {k: v for k, v in fields.items() if v is not None}
            form.setdefault("reason", start["reason"])
            form.setdefault("urgency", start["urgency"])
            if form["reason"] is None:
                raise click.UsageError(
                    "no alert suggests a reason: give --reason (" + ", ".join(REASONS) + ")"
                )
            if start["alert_code"] and form["reason"] == start["reason"]:
                form["alert_code"] = start["alert_code"]
            form["care_date"] = start["care_date"]
            form["vitals"] = vitals
        row = service.create(kctx, actor, patient_ref, form, rules=rules)
    if pdf_out:
        row["pdf"] = _write_pdf(row, pdf_out)
    sms = {
        "queued": f"SMS en file pour {row['sms_phone']}: {row['sms_text']}",
        "no_consent": "pas de SMS : le patient n'a pas consenti (téléphonez au CSRéf)",
        "no_phone": "pas de SMS : pas de numéro pour ce centre dans le fichier de la structure",
        "not_urgent": "pas de SMS (référence non urgente)",
        "backdated": "pas de SMS : référence saisie après coup (date passée)",
    }[row["sms_status"]]
    emit(
        _public(row),
        as_json,
        f"référence {row['id']} enregistrée\n{sms}"
        + (f"\nfiche : {row['pdf']}" if pdf_out else ""),
    )


@referral.command("show")
@click.argument("referral_id")
@click.option("--pdf", "pdf_out", type=click.Path(dir_okay=False), help="Write the fiche here.")
@as_option
@json_option
@click.pass_context
def referral_show(ctx, referral_id, pdf_out, as_user, as_json):
    """One referral, its case history and its counter-referral."""
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        row = service.show(kctx, actor, referral_id)
    if pdf_out:
        row["pdf"] = _write_pdf(row, pdf_out)
    back = row["return_data"]
    human = _line(row) + (
        f"\ncontre-référence : {OUTCOMES[back['outcome']]}; {back.get('diagnosis', '')}"
        f"; {back.get('instructions', '')}"
        if back
        else ""
    )
    emit(_public(row), as_json, human + (f"\nfiche : {row['pdf']}" if pdf_out else ""))


@referral.command("list")
@click.option("--awaiting", is_flag=True, help="Only those awaiting their counter-referral.")
@click.option("--late", is_flag=True, help="Only those awaiting for longer than the district says.")
@click.option("--month", help="YYYY-MM: every referral of that month.")
@click.option("--patient", "patient_ref", help="One patient's referrals.")
@as_option
@json_option
@click.pass_context
def referral_list(ctx, awaiting, late, month, patient_ref, as_user, as_json):
    """Referrals: those awaiting return (default), late ones, a month's or a patient's."""
    from datetime import date, timedelta

    rules = _rules(ctx)
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        if patient_ref:
            rows = service.of_patient(kctx, actor, patient_ref)
        elif month:
            if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
                raise click.UsageError(f"--month {month!r}: write it as 2026-11")
            start = date.fromisoformat(month + "-01")
            end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            rows = service.between(kctx, actor, start, end)
        else:
            rows = service.awaiting(kctx, actor, rules=rules, late_only=late)
    emit(
        {"referrals": rows, "count": len(rows)},
        as_json,
        "\n".join(_line(r) for r in rows) or "aucune référence",
    )


@referral.command("return")
@click.argument("referral_id")
@click.option("--outcome", required=True, type=click.Choice(list(OUTCOMES)))
@click.option("--returned-on", help="YYYY-MM-DD (default: today).")
@click.option("--diagnosis", help="The CSRéf's diagnosis.")
@click.option("--treatment")
@click.option("--instructions", help="What the CSCom is asked to do next.")
@click.option("--next-visit", help="YYYY-MM-DD.")
@click.option("--seen-by", help="The CSRéf clinician who signed.")
@as_option
@json_option
@click.pass_context
def referral_return(ctx, referral_id, as_user, as_json, **fields):
    """Record the counter-referral the patient brought back."""
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        data = {k: v for k, v in fields.items() if v is not None}
        data.setdefault("returned_on", kctx.now().today.isoformat())
        row = service.record_return(kctx, actor, referral_id, data)
    emit(_public(row), as_json, f"contre-référence enregistrée pour {row['id']}")


@referral.command("void")
@click.argument("referral_id")
@click.option("--reason", required=True)
@as_option
@json_option
@click.pass_context
def referral_void(ctx, referral_id, reason, as_user, as_json):
    """Withdraw a referral written in error (its SMS, if not yet sent, stays unsent)."""
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        row = service.void(kctx, actor, referral_id, reason=reason)
    emit(_public(row), as_json, f"référence {row['id']} annulée")


COMMANDS = (referral,)
