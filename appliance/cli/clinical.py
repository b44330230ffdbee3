"""Clinical calculators that need no patient record (no login)."""

from __future__ import annotations

import click

from appliance.cli.common import as_option, emit, json_option, login_as, open_context
from appliance.clinical.dosing import DosingRefused, suggest
from appliance.clinical.growth import MAX_AGE_DAYS, nutrition_status
from appliance.services import clinical


@click.command("zscore")
@click.option("--sex", required=True, type=click.Choice(["F", "M"], case_sensitive=False))
@click.option("--age-days", required=True, type=click.IntRange(0, MAX_AGE_DAYS))
@click.option("--weight", "weight_kg", type=click.FloatRange(0.3, 60), help="kg")
@click.option("--height", "height_cm", type=click.FloatRange(30, 140), help="cm")
@click.option("--muac", "muac_mm", type=click.IntRange(60, 400), help="mm")
@click.option("--oedema", is_flag=True, help="Bilateral pitting oedema.")
@click.option(
    "--measured",
    type=click.Choice(["lying", "standing"]),
    help="How the length/height was taken (default: by age).",
)
@json_option
def zscore(sex, age_days, weight_kg, height_cm, muac_mm, oedema, measured, as_json):
    """WHO 2006 z-scores (wfa, hfa, wfh) and the nutrition status of a child 0–59 months."""
    if weight_kg is None and height_cm is None and muac_mm is None and not oedema:
        raise click.UsageError("give at least one of --weight, --height, --muac, --oedema")
    out = nutrition_status(
        sex.upper(),
        age_days,
        weight_kg=weight_kg,
        height_cm=height_cm,
        muac_mm=muac_mm,
        oedema=oedema,
        measured=measured,
    )
    result = {
        "wfa": out["wfa"],
        "hfa": out["hfa"],
        "wfh": out["wfh"],
        "nutrition_status": out["status"],
        "reasons": out["reasons"],
    }
    emit(result, as_json, "  ".join(f"{k}: {v}" for k, v in result.items()))


@click.command("due")
@click.option("--from", "start", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--to", "end", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--village", help="Only this village (outreach).")
@click.option("--by-village", is_flag=True, help="Group the list by village.")
@as_option
@json_option
@click.pass_context
def due(ctx, start, end, village, by_village, as_user, as_json):
    """Who is due or overdue (vaccines, ANC, PNC, weighing, family planning, chronic care)."""
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        items = clinical.facility_due(
            kctx, actor, start=start.date(), end=end.date(), village=village
        )
    if by_village:
        grouped: dict[str, list] = {}
        for item in items:
            grouped.setdefault(item["contact"].get("village") or "", []).append(item)
        emit(
            grouped,
            as_json,
            "\n".join(
                f"{v or '(village inconnu)'}: {len(rows)}" for v, rows in sorted(grouped.items())
            ),
        )
        return
    emit(
        items,
        as_json,
        "\n".join(
            f"P{i['priority']}  {i['due_date']}  {i['days_overdue']:>3} j  {i['reason']:<28}"
            f"  {i['contact'].get('village') or ''}  {i['contact'].get('phone') or ''}"
            for i in items
        )
        or "nobody is due",
    )


@click.command("dose")
@click.option(
    "--diagnosis",
    required=True,
    help="malaria_confirmed, malaria_suspected, pneumonia, diarrhoea, fever",
)
@click.option("--weight", "weight_kg", type=float, help="kg")
@click.option("--age-days", required=True, type=click.IntRange(0, 45_000))
@click.option("--sex", type=click.Choice(["F", "M"], case_sensitive=False))
@json_option
def dose(diagnosis, weight_kg, age_days, sex, as_json):
    """Suggested treatment by weight band, for the clinician to confirm (never automatic)."""
    try:
        rows = [
            s.to_json()
            for s in suggest(diagnosis, weight_kg, age_days, sex=sex.upper() if sex else None)
        ]
    except DosingRefused as e:
        raise click.UsageError(str(e)) from None
    emit(
        rows,
        as_json,
        "\n".join(
            f"{r['drug']}: {r['dose']}"
            + (f", {r['times_per_day']}×/j" if r["times_per_day"] else "")
            + (f", {r['days']} j" if r["days"] else "")
            + (f"  ({r['note']})" if r["note"] else "")
            for r in rows
        )
        or "no suggestion for this diagnosis",
    )


COMMANDS = (zscore, due, dose)
