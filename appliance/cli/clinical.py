"""Clinical calculators (no login) and the follow-up lists (as a staff member)."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.cli.common import as_option, emit, json_option, login_as, open_context
from appliance.clinical.dosing import DosingRefused, suggest
from appliance.clinical.due import STATES
from appliance.clinical.growth import REF2007_TO_DAYS, nutrition_status
from appliance.services import follow_up
from appliance.store.due_items import SORTS


@click.command("zscore")
@click.option("--sex", required=True, type=click.Choice(["F", "M"], case_sensitive=False))
@click.option("--age-days", required=True, type=click.IntRange(0, REF2007_TO_DAYS))
@click.option("--weight", "weight_kg", type=click.FloatRange(0.3, 250), help="kg")
@click.option("--height", "height_cm", type=click.FloatRange(30, 230), help="cm")
@click.option("--muac", "muac_mm", type=click.IntRange(60, 400), help="mm")
@click.option("--oedema", is_flag=True, help="Bilateral pitting oedema.")
@click.option(
    "--measured",
    type=click.Choice(["lying", "standing"]),
    help="How the length/height was taken (default: by age).",
)
@json_option
def zscore(sex, age_days, weight_kg, height_cm, muac_mm, oedema, measured, as_json):
    """WHO z-scores (wfa, hfa, wfh, bfa) and the nutrition status, 0 to 228 months (19 years).

    "reference" says which WHO tables gave them: who2006 (Child Growth Standards) to 1856
    days, who2007 (Growth Reference 5-19 years) from 1857 days, where wfh is null and
    thinness is judged by BMI-for-age (bfa); "categories" lists the WHO 2007 categories met
    (thinness, overweight, obesity, stunting...). A z-score is null where it cannot be
    computed (no weight or height, oedema, past the table's age range).
    """
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
        "bfa": out["bfa"],
        "reference": out["reference"],
        "nutrition_status": out["status"],
        "reasons": out["reasons"],
        "categories": out["categories"],
    }
    emit(result, as_json, "  ".join(f"{k}: {v}" for k, v in result.items()))


def _fresh(kctx) -> None:
    """The lists read stored items: bring them to today first when the nightly rebuild has
    not run (the CLI can wait; the kiosk and the web app rebuild in the background)."""
    if follow_up.needs_rebuild(kctx):
        click.echo("mise à jour des rendez-vous…", err=True)
        follow_up.rebuild(kctx)


def _line(i: dict) -> str:
    c = i["contact"]
    late = f"{i['days_overdue']:>4} j" if i["days_overdue"] else "      "
    mother = " (mère)" if c.get("phone_of") == "mother" else ""
    return (
        f"P{i['priority']}  {i['due_date']}  {late}  {i['state']:<9}  {i['reason']:<30}"
        f"  {c.get('family_name', '')} {c.get('given_names', '')}  {c.get('village') or ''}"
        f"  {c.get('phone') or ''}{mother}"
    )


@click.group("due", invoke_without_command=True)
@click.option("--today", "for_today", is_flag=True, help="Today's work: due and overdue.")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First day (today).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last day (--from).")
@click.option("--village", help="Only this village.")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(STATES),
    help="Only these states (repeat); default upcoming, due and overdue.",
)
@click.option("--sort", type=click.Choice(sorted(SORTS)), default="priority", show_default=True)
@click.option("--limit", type=click.IntRange(1, 10_000), help="At most this many items.")
@click.option("--offset", type=click.IntRange(0), default=0, help="Skip this many items.")
@click.option("--by-village", is_flag=True, help="Count the list by village.")
@click.option(
    "--outreach",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The village's round on this day: all due by then, and its defaulters.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "pdf"]), default="text")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="PDF file to write.")
@as_option
@json_option
@click.pass_context
def due(
    ctx,
    for_today,
    start,
    end,
    village,
    states,
    sort,
    limit,
    offset,
    by_village,
    outreach,
    fmt,
    out,
    as_user,
    as_json,
):
    """Who is due, overdue or lost to follow-up (vaccines, ANC, PNC, weighing, family
    planning, chronic care): today's work, a period, defaulters, a village's round."""
    if ctx.invoked_subcommand is not None:
        return
    as_json = as_json or fmt == "json"
    if fmt == "pdf" and (outreach is None or not out):
        raise click.UsageError(
            "--format pdf is the outreach sheet: give --outreach DATE --out FILE"
        )
    if outreach is not None and not village:
        raise click.UsageError("--outreach needs --village")
    if not for_today and outreach is None and start is None and states != ("defaulter",):
        raise click.UsageError(
            "say which list: --today, --from DATE [--to DATE], --outreach"
            " DATE --village V, or --state defaulter"
        )
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        _fresh(kctx)
        if outreach is not None:
            data = follow_up.outreach(kctx, actor, village=village, on=outreach.date())
            if fmt == "pdf":
                from appliance.reports.outreach_pdf import render

                pdf = render(
                    data,
                    facility=kctx.store.get_setting("facility_name") or kctx.facility_code,
                    printed_on=kctx.now().today,
                )
                Path(out).write_bytes(pdf)
                click.echo(f"{out}: {len(data['items'])} rendez-vous, {village}")
                return
            emit(data, as_json, "\n".join(_line(i) for i in data["items"]) or "personne")
            return
        if for_today:
            data = follow_up.today(kctx, actor, limit=limit, offset=offset)
            head = (
                f"{data['on']} : {data['count']} à voir (dus et en retard),"
                f" {data['defaulters']} perdus de vue, {data['upcoming']} à venir"
            )
            emit(data, as_json, "\n".join([head, *(_line(i) for i in data["items"])]))
            return
        if states == ("defaulter",) and start is None:
            data = follow_up.defaulters(kctx, actor, village=village, limit=limit, offset=offset)
        else:
            first = start.date() if start else kctx.now().today
            data = follow_up.listing(
                kctx,
                actor,
                start=first,
                end=end.date() if end else first,
                village=village,
                states=states or ("upcoming", "due", "overdue"),
                sort=sort,
                limit=limit,
                offset=offset,
            )
    items = data["items"]
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
    if as_json and limit is None and offset == 0 and not for_today:
        emit(items, True)  # the whole list, as before paging existed
        return
    emit(data, as_json, "\n".join(_line(i) for i in items) or "nobody is due")


@due.command("rebuild")
@click.option("--if-needed", is_flag=True, help="Only when the day or the rules moved on.")
@click.pass_context
def due_rebuild(ctx, if_needed):
    """Recompute every patient's follow-up items for today (the nightly job; resumable)."""
    with open_context(ctx.parent) as kctx:
        if if_needed and not follow_up.needs_rebuild(kctx):
            click.echo(f"up to date ({kctx.store.get_setting(follow_up.BUILT_ON)})")
            return
        done = follow_up.rebuild(kctx)
    resumed = " (resumed)" if done["resumed"] else ""
    click.echo(f"{done['on']}: {done['patients']} patients, {done['items']} items{resumed}")


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
