"""The facility's dashboard: a year of indicators by month against the population's targets,
read from stored monthly counts that are computed again only for the months a write made
stale (appliance/store/dashboard.py)."""

from __future__ import annotations

import logging
import threading
import time
from calendar import monthrange
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from appliance.clinical.immunization import Schedule, load_schedule
from appliance.domain.encounters import DIAGNOSES
from appliance.domain.permissions import VIEW_DASHBOARD
from appliance.facility_file import PopulationSettings, population_settings
from appliance.reports import dashboard_counts as count
from appliance.reports import dashboard_definitions as defs
from appliance.reports.definitions import AGE_GROUPS, NEW_CASE_LOOKBACK_DAYS
from appliance.reports.labels import value_label
from appliance.reports.monthly import Period
from appliance.services.context import Actor, Context

log = logging.getLogger(__name__)
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


def _growth_visits(repo, period: Period) -> list[tuple]:
    """The month's growth visits and, for the children malnourished in it, their visits
    around it, each with its nutrition status: worked out once per visit and stored."""

    def with_status(rows) -> list[tuple]:
        new = {
            eid: count.nutrition_status(sex, birth, care_date, data)
            for eid, _p, sex, birth, care_date, _w, status, data in rows
            if status is None
        }
        repo.keep_growth_statuses(
            (eid, new[eid], sex, birth) for eid, _p, sex, birth, *_rest in rows if eid in new
        )
        return [
            (pid, sex, birth, care_date, weighed, new.get(eid, status))
            for eid, pid, sex, birth, care_date, weighed, status, _d in rows
        ]

    month = with_status(repo.growth_visits(period.start, period.end))
    ill = {pid for pid, _s, _b, _c, _w, status in month if status in ("mam", "sam")}
    if not ill:
        return month
    around = with_status(
        repo.growth_visits(
            period.start - timedelta(days=NEW_CASE_LOOKBACK_DAYS),
            period.end + timedelta(days=defs.OUTCOME_DAYS),
            ill,
        )
    )
    return [v for v in around if not (period.start <= v[3] <= period.end)] + month


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
        return count.growth(period, _growth_visits(repo, period))
    if family == "consultation":
        return count.consultations(period, repo.consultations(period))
    if family == "seen":
        return count.seen(repo.first_visits(period))
    if family == "followup":
        return count.follow_up(period, repo.children_due(period, rules), rules)
    raise ValueError(f"unknown family {family!r}")


def _out_of_date(ctx: Context, months: list[str], rules: list) -> tuple[int, list, bool]:
    """(the newest stale mark's id, every (month, family) never computed or marked stale
    with the newest month first (the one most looked at), whether one was never computed)."""
    repo = ctx.store.dashboard
    if repo.schedule() != [tuple(r) for r in rules]:
        repo.set_schedule(rules)
    marks_until, stale = repo.stale()
    fresh = repo.fresh(months)
    todo = [
        (month, family)
        for month in reversed(months)
        for family in defs.FAMILIES
        if (month, family) not in fresh or (month, family) in stale
    ]
    return marks_until, todo, any(key not in fresh for key in todo)


def refresh(ctx: Context, months: list[str], *, schedule: Schedule, rules: list) -> int:
    """Compute again every (month, family) never computed or marked stale; how many."""
    repo = ctx.store.dashboard
    marks_until, todo, _ = _out_of_date(ctx, months, rules)
    for month, family in todo:
        cells = _compute(ctx, Period.parse(month), family, schedule, rules)
        repo.replace(
            month,
            family,
            defs.FAMILY_CODES[family],
            dict(cells),
            marks_until=marks_until,
            computed_at=ctx.now().iso(),
        )
    return len(todo)


def _months(year: int, today: date) -> list[str]:
    last = 12 if year < today.year else today.month
    return [f"{year:04d}-{m:02d}" for m in range(1, last + 1)]


def _rules(ctx: Context) -> tuple[Schedule, list]:
    schedule = load_schedule()
    return schedule, follow_up_rules(schedule, malaria_vaccine=ctx.malaria_vaccine)


# One refresh thread at a time in a process: pages reloading while it runs wait for it
# instead of counting the same months again.
_starting = threading.Lock()
_thread: threading.Thread | None = None


def refresh_in_background(
    open_context: Callable[[], AbstractContextManager[Context]], year: int, *, wait_s: float = 0
) -> bool:
    """Bring the year's stored counts up to date on a thread of its own (with its own
    connection), unless a refresh is running in this process already; wait for it at most
    `wait_s`. True when it has finished by then."""
    global _thread

    def run() -> None:
        try:
            with open_context() as ctx:
                schedule, rules = _rules(ctx)
                done = refresh(ctx, _months(year, ctx.now().today), schedule=schedule, rules=rules)
                log.info("dashboard %s: %s month counts computed", year, done)
        except Exception as e:  # a full or read-only disk: said in one line, tried again later
            log.warning("the dashboard could not be brought up to date: %s", e)

    with _starting:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=run, name="dashboard-refresh", daemon=True)
            _thread.start()
        thread = _thread
    thread.join(wait_s)
    return not thread.is_alive()


def wait_for_refresh(timeout: float) -> bool:
    """Wait for this process's background refresh, if any; True when none is running."""
    thread = _thread
    if thread is not None:
        thread.join(timeout)
    return thread is None or not thread.is_alive()


def dashboard_at_once(
    ctx: Context,
    actor: Actor,
    year: int,
    *,
    open_context: Callable[[], AbstractContextManager[Context]],
    wait_s: float,
    facility_file: Path | None = None,
) -> dict[str, Any]:
    """The year's dashboard for a page that must open at once: when months are out of
    date, the background refresh counts them (started unless one runs) and is waited for
    `wait_s` at most; then the stored counts as they are ("pending", "incomplete")."""
    ctx.require(actor, VIEW_DASHBOARD)
    today = ctx.now().today
    if FIRST_YEAR <= year <= today.year:
        _, todo, _ = _out_of_date(ctx, _months(year, today), _rules(ctx)[1])
        if todo:
            refresh_in_background(open_context, year, wait_s=wait_s)
    return dashboard(ctx, actor, year, facility_file=facility_file, compute=False)


def _population(facility_file: Path | None) -> PopulationSettings | None:
    return population_settings(facility_file) if facility_file else None


def dashboard(
    ctx: Context,
    actor: Actor,
    year: int,
    *,
    facility_file: Path | None = None,
    compute: bool = True,
) -> dict[str, Any]:
    """The year's dashboard (the contract in tests/data/dashboard_example.json): each
    indicator by month with numerator, denominator and rate, to date against the year's
    target; drop-outs, the pyramid of patients seen, the top diagnoses, the follow-up.
    Without [population] in the facility file, rates are None (counts only).

    With `compute` false, nothing is counted: the stored counts are read as they are (a
    page must open at once; a cold year at 100,000 patients takes seconds, counted by
    refresh_in_background), "pending" lists the months whose counts are not current, and
    "incomplete" says that some of them were never computed (figures missing, not merely
    late). Otherwise every month is brought up to date first (the command line, the PDF,
    the kiosk)."""
    ctx.require(actor, VIEW_DASHBOARD)
    started = time.monotonic()
    reading = ctx.now()
    today = reading.today
    if not FIRST_YEAR <= year <= today.year:
        raise ValueError(f"year must be from {FIRST_YEAR} to {today.year} (got {year})")
    settings = _population(facility_file)
    months = _months(year, today)
    # the running month's targets only for the days gone (the year's last day is whole)
    share = today.day / monthrange(today.year, today.month)[1] if year == today.year else 1.0
    schedule, rules = _rules(ctx)
    if compute:
        computed, left, missing = refresh(ctx, months, schedule=schedule, rules=rules), [], False
    else:
        computed, (_, left, missing) = 0, _out_of_date(ctx, months, rules)
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
            defs.indicator_series(i, months, index, population, last_month_share=share)
            for i in defs.INDICATORS
        ],
        "dropouts": defs.dropouts(months, index),
        "pyramid": defs.pyramid(months, counts, tuple(g[0] for g in AGE_GROUPS)),
        "top_diagnoses": defs.top_diagnoses(months, counts, labels),
        "follow_up": defs.follow_up(months, index),
        "follow_up_definition": defs.FOLLOW_UP_DEFINITION,
        "computed_ms": 0,
        "pending": sorted({month for month, _family in left}),
        "incomplete": missing,
    }
    ctx.audit(actor, "dashboard.view", detail={"year": year, "computed": computed}, reading=reading)
    result["computed_ms"] = round((time.monotonic() - started) * 1000)
    return result
