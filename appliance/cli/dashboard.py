"""`keneya dashboard --year Y`: the facility's indicators by month against its targets."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import click

from appliance.cli.common import as_option, login_as, open_context, paths
from appliance.services import dashboard as service


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:g}"


def to_table(data: dict[str, Any]) -> str:
    """The dashboard in French: each indicator by month, its month and its year to date."""
    lines = [f"{data['facility']} — tableau de bord {data['year']} (jusqu'à {data['through']})"]
    population = data["population"]
    if population is None:
        lines.append(
            "Pas de [population] dans le fichier de la structure : les comptes seulement,"
            " sans taux (ajoutez [population] pour les couvertures)."
        )
    else:
        lines.append(
            f"Population {data['year']} : {population['total']} ; grossesses attendues"
            f" {population['expected_pregnancies']} ; naissances vivantes"
            f" {population['live_births']} ; enfants survivants"
            f" {population['surviving_infants']} ; 0-59 mois {population['under_five']}"
        )
    header = (
        f"  {'mois':<8} {'num.':>6} {'dén.':>8} {'taux':>6}   {'cumul':>6} {'dén.':>8} {'taux':>6}"
    )
    for ind in data["indicators"]:
        lines.append("")
        target = ""
        if ind["denominator"]:
            target = f" — dénominateur : {ind['denominator']['fr']}"
            if ind["annual_target"] is not None:
                target += f" {ind['annual_target']}"
        lines.append(f"{ind['label']['fr']}{target}")
        lines.append(header)
        for month, cum in zip(ind["monthly"], ind["to_date"], strict=True):
            lines.append(
                f"  {month['month']:<8} {month['numerator']:>6} {_number(month['denominator']):>8}"
                f" {_rate(month['rate']):>6}   {cum['numerator']:>6}"
                f" {_number(cum['denominator']):>8} {_rate(cum['rate']):>6}"
            )
    for drop in data["dropouts"]:
        last = drop["to_date"][-1]
        lines.append("")
        lines.append(
            f"{drop['label']['fr']} : {last['first']} → {last['last']}, {_rate(last['rate'])}"
        )
    lines.append("")
    lines.append("Patients vus dans l'année (F / M)")
    for row in data["pyramid"]:
        lines.append(f"  {row['group']:<8} {row['F']:>6} {row['M']:>6}")
    lines.append("")
    lines.append("Diagnostics les plus fréquents (F / M)")
    for row in data["top_diagnoses"]:
        sexes = f"({row['by_sex']['F']} / {row['by_sex']['M']})"
        lines.append(f"  {row['label']['fr']:<32} {row['n']:>6} {sexes}")
    lines.append("")
    lines.append("Suivi (vaccins de l'enfant) : prévus, faits, perdus de vue récupérés")
    for row in data["follow_up"]:
        lines.append(
            f"  {row['month']:<8} {row['due']:>6} {row['done']:>6} {row['defaulters_traced']:>6}"
        )
    return "\n".join(lines) + "\n"


def _pdf_available() -> bool:
    return importlib.util.find_spec("appliance.reports.dashboard_pdf") is not None


@click.command("dashboard")
@click.option("--year", type=int, required=True, help="The year, e.g. 2026.")
@click.option("--json", "as_json", is_flag=True, help="Print the dashboard as JSON.")
@click.option("--format", "fmt", type=click.Choice(("table", "pdf")), default="table")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write to FILE.")
@as_option
@click.pass_context
def dashboard(ctx, year, as_json, fmt, out, as_user):
    """The facility's indicators by month (numerator, denominator, rate) against the targets
    of [population] in the facility file."""
    if fmt == "pdf" and as_json:
        raise click.UsageError("--json and --format pdf: choose one")
    if fmt == "pdf" and not out:
        raise click.UsageError("--format pdf needs --out FILE")
    if fmt == "pdf" and not _pdf_available():
        raise click.UsageError("PDF not available yet")
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        data = service.dashboard(kctx, actor, year, facility_file=paths(ctx).facility_file)
    if fmt == "pdf":
        from appliance.reports.dashboard_pdf import to_pdf

        payload: bytes = to_pdf(data)
    elif as_json:
        payload = (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode()
    else:
        payload = to_table(data).encode()
    if out:
        Path(out).write_bytes(payload)
    else:
        click.echo(payload.decode(), nl=False)


COMMANDS = (dashboard,)
