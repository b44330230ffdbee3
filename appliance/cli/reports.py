"""`keneya report monthly`: the month's activity report in the format asked for."""

from __future__ import annotations

import json
from pathlib import Path

import click

from appliance.cli.common import as_option, emit, json_option, login_as, open_context, paths
from appliance.reports import formats
from appliance.services import reports

FORMATS = ("table", "dhis2-json", "adx", "csv", "pdf")


@click.group("report")
def report() -> None:
    """Monthly activity reports (DHIS2 JSON, ADX, CSV, PDF)."""


@report.command("monthly")
@click.option("--period", required=True, metavar="YYYY-MM", help="The month, e.g. 2026-10.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False, exists=True),
    help="DHIS2 mapping file for dhis2-json (default: the demo mapping).",
)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write to FILE.")
@as_option
@click.pass_context
def monthly(ctx, period, fmt, mapping, out, as_user):
    """The month's activity report (counts of current, non-voided encounters)."""
    if fmt == "pdf" and not out:
        raise click.UsageError("--format pdf needs --out FILE")
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        result = reports.monthly(kctx, actor, period)
    if fmt == "pdf":
        from appliance.reports.pdf import to_pdf

        data: bytes = to_pdf(result)
    elif fmt == "dhis2-json":
        payload, unmapped = formats.to_dhis2(result, formats.load_mapping(mapping))
        if unmapped:
            click.echo(
                f"keneya: {len(unmapped)} value(s) not in the mapping: "
                + ", ".join(sorted({u["indicator"] for u in unmapped})),
                err=True,
            )
        data = (json.dumps(payload, ensure_ascii=False, indent=2) + "\n").encode()
    elif fmt == "adx":
        data = formats.to_adx(result) + b"\n"
    elif fmt == "csv":
        data = formats.to_csv(result).encode()
    else:
        data = (formats.to_table(result) + "\n").encode()
    if out:
        Path(out).write_bytes(data)
    else:
        click.echo(data.decode(), nl=False)


@report.command("send")
@click.option("--period", required=True, metavar="YYYY-MM", help="The month, e.g. 2026-10.")
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False, exists=True),
    help="DHIS2 mapping file (default: dhis2-mapping.json in the config folder).",
)
@as_option
@json_option
@click.pass_context
def send(ctx, period, mapping, as_user, as_json):
    """Put the month's report in the outbox for the district's DHIS2 (sent by `outbox drain`
    or the modem when there is a connection)."""
    mapping = Path(mapping) if mapping else paths(ctx).config_dir / "dhis2-mapping.json"
    if not mapping.is_file():
        raise click.UsageError(
            f"no DHIS2 mapping at {mapping}: provision the district's mapping file or give "
            "--mapping FILE"
        )
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        item, payload, unmapped = reports.queue_for_dhis2(kctx, actor, period, mapping)
    out = {"item": item, "values": len(payload["dataValues"]), "unmapped": unmapped}
    emit(
        out,
        as_json,
        f"queued {item['idempotency_key']}: {len(payload['dataValues'])} values"
        f" ({item['status']}); {len(unmapped)} not in the mapping",
    )


COMMANDS = (report,)
