"""Clinical calculators that need no patient record (no login)."""

from __future__ import annotations

import click

from appliance.cli.common import emit, json_option
from appliance.clinical.growth import MAX_AGE_DAYS, nutrition_status


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


COMMANDS = (zscore,)
