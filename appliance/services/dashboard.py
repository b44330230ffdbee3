"""The facility's dashboard: a year of indicators by month against the population's targets,
read from stored monthly counts that are computed again only for the months a write made
stale (appliance/store/dashboard.py)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

from appliance.clinical.immunization import Schedule, load_schedule
from appliance.domain.encounters import DIAGNOSES
from appliance.domain.permissions import VIEW_DASHBOARD
from appliance.facility_file import PopulationSettings, population_settings
from appliance.reports import dashboard_counts as count
from appliance.reports import dashboard_definitions as defs
from appliance.reports.definitions import AGE_GROUPS
from appliance.reports.labels import value_label
from appliance.reports.monthly import Period
from appliance.services.context import Actor, Context

FIRST_YEAR = 2000  # no care is recorded before (appliance.domain.encounters)


def follow_up_rules(schedule: Schedule, *, malaria_vaccine: bool = False) -> list[tuple]:
    """The child schedule's doses the follow-up counts: for both sexes, due before the
    second birthday, the malaria vaccine only where the district gives it."""
    return sorted(
        (r.antigen, r.dose, r.recommended_age_days)
        for r in schedule.doses
        if r.sex is None
        and r.recommended_age_days < defs.FOLLOW_UP_MAX_AGE_DAYS
        and (r.flag is None or (malaria_vaccine and r.antigen == "malaria"))
    )


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return date(day.year - 1, 2, 28)


def _compute(ctx: Context, period: Period, family: str, schedule: Schedule, rules: list) -> dict:
    repo = ctx.store.dashboard
    if family == "immunization":
        return count.immunization(period, repo.immunizations(period))
    if family == "fic":
        doses = repo.doses_of_children_born(
            _year_before(period.start) - date.resolution, _year_before(period.end)
        )
        return count.fully_immunized(period, doses, schedule)
    if family == "anc":
        return count.antenatal(period, repo.antenatal(period))
    if family == "birth":
        return count.births(period, repo.deliveries(period), repo.postnatal(period))
    if family == "growth":
        return count.growth(period, repo.growth(period))
    if family == "consultation":
        return count.consultations(period, repo.consultations(period))
    if family == "seen":
        return count.seen(repo.first_visits(period))
    if family == "followup":
        return count.follow_up(period, repo.children_due(period, rules), rules)
    raise ValueError(f"unknown family {family!r}")


def refresh(ctx: Context, months: list[str], *, schedule: Schedule, rules: list) -> int:
    """Compute again every (month, family) never computed or marked stale; how many."""
    repo = ctx.store.dashboard
    if repo.schedule() != [tuple(r) for r in rules]:
        repo.set_schedule(rules)
    marks_until, stale = repo.stale()
    fresh = repo.fresh(months)
    done = 0
    for month in months:
        period = Period.parse(month)
        for family in defs.FAMILIES:
            if (month, family) in fresh and not ((month, family) in stale or (month, "*") in stale):
                continue
            cells = _compute(ctx, period, family, schedule, rules)
            repo.replace(
                month,
                family,
                defs.FAMILY_CODES[family],
                dict(cells),
                marks_until=marks_until,
                computed_at=ctx.now().iso(),
            )
            done += 1
    return done


def _population(facility_file: Path | None) -> PopulationSettings | None:
    return population_settings(facility_file) if facility_file else None


def dashboard(
    ctx: Context, actor: Actor, year: int, *, facility_file: Path | None = None
) -> dict[str, Any]:
    """The year's dashboard (the contract in tests/data/dashboard_example.json): each
    indicator by month with numerator, denominator and rate, to date against the year's
    target; drop-outs, the pyramid of patients seen, the top diagnoses, the follow-up.
    Without [population] in the facility file, rates are None (counts only)."""
    ctx.require(actor, VIEW_DASHBOARD)
    started = time.monotonic()
    reading = ctx.now()
    today = reading.today
    if not FIRST_YEAR <= year <= today.year:
        raise ValueError(f"year must be from {FIRST_YEAR} to {today.year} (got {year})")
    settings = _population(facility_file)
    last = 12 if year < today.year else today.month
    months = [f"{year:04d}-{m:02d}" for m in range(1, last + 1)]
    schedule = load_schedule()
    rules = follow_up_rules(schedule, malaria_vaccine=ctx.malaria_vaccine)
    computed = refresh(ctx, months, schedule=schedule, rules=rules)
    counts = ctx.store.dashboard.counts(months[0], months[-1])
    index = defs.CountIndex(counts)
    population = defs.population_of(settings, year) if settings else None
    labels = {code: {lang: value_label("diagnosis", code, lang) for lang in ("fr", "en")}
              for code in DIAGNOSES}  # fmt: skip
    result = {
        "year": year,
        "through": months[-1],
        "facility": ctx.store.get_setting("facility_name") or "",
        "population": population,
        "months": months,
        "indicators": [
            defs.indicator_series(i, months, index, population) for i in defs.INDICATORS
        ],
        "dropouts": defs.dropouts(months, index),
        "pyramid": defs.pyramid(months, counts, tuple(g[0] for g in AGE_GROUPS)),
        "top_diagnoses": defs.top_diagnoses(months, counts, labels),
        "follow_up": defs.follow_up(months, index),
        "follow_up_definition": defs.FOLLOW_UP_DEFINITION,
        "computed_ms": 0,
    }
    ctx.audit(actor, "dashboard.view", detail={"year": year, "computed": computed}, reading=reading)
    result["computed_ms"] = round((time.monotonic() - started) * 1000)
    return result
