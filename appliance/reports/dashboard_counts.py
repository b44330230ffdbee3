"""One month of the dashboard's counts, family by family, from rows of records read by
appliance/store/dashboard.py. Pure: no I/O, no clock. Each function returns
{(indicator, sex, key): n} for its family (sex and key "" when they do not apply); the
definitions are in dashboard_definitions.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from appliance.clinical.growth import nutrition_of
from appliance.clinical.immunization import Schedule, fully_immunized_before_12_months
from appliance.reports.dashboard_definitions import (
    DEFAULTER_AFTER_DAYS,
    DIAGNOSIS,
    OUTCOME_DAYS,
    SEEN,
)
from appliance.reports.definitions import (
    AGE_GROUPS,
    NEW_CASE_LOOKBACK_DAYS,
    UNDER_FIVE_MONTHS,
    age_group,
)
from appliance.reports.monthly import Dose, Period, age_months, pregnancies

Cell = tuple[str, str, str]  # (indicator, sex, key)
FIRST_TRIMESTER_DAYS = 12 * 7  # ANC1 "before 12 weeks" of gestation
PNC_WITHIN_DAYS = 2  # day 0, 1 or 2 after birth: within 48 hours
_DOSES = {("penta", 1): "penta1", ("penta", 3): "penta3", ("mr", 1): "mr1"}


def _in(period: Period, day: date) -> bool:
    return period.start <= day <= period.end


def immunization(
    period: Period, doses: Iterable[tuple[str, date, date, str, int]]
) -> Counter[Cell]:
    """`doses`: (sex, birth date, care date, antigen, dose) of the month's vaccinations."""
    out: Counter[Cell] = Counter()
    for sex, birth, care_date, antigen, dose in doses:
        code = _DOSES.get((antigen, dose))
        if code and _in(period, care_date) and age_months(birth, care_date) < 12:
            out[(code, sex, "")] += 1
    return out


def _first_birthday(birth: date) -> date:
    try:
        return birth.replace(year=birth.year + 1)
    except ValueError:  # 29 February
        return date(birth.year + 1, 3, 1)


def fully_immunized(period: Period, doses: Iterable[Dose], schedule: Schedule) -> Counter[Cell]:
    """`doses`: every dose of the children whose first birthday may fall in the month."""
    children: dict[str, tuple[str, date, list[tuple[str, int, date]]]] = {}
    for d in doses:
        if _in(period, _first_birthday(d.birth_date)):
            children.setdefault(d.patient_id, (d.sex, d.birth_date, []))[2].append(
                (d.antigen, d.dose, d.care_date)
            )
    out: Counter[Cell] = Counter()
    for sex, birth, given in children.values():
        if fully_immunized_before_12_months(birth, given, schedule=schedule):
            out[("fic", sex, "")] += 1
    return out


# (care date, contact number, IPTp dose, LMP, gestational age in weeks)
AncRow = tuple[date, int | None, int | None, date | None, int | None]


def _first_trimester(row: AncRow) -> bool:
    care_date, _n, _d, lmp, ga_weeks = row
    if ga_weeks is not None:
        return ga_weeks < 12
    return lmp is not None and (care_date - lmp).days < FIRST_TRIMESTER_DAYS


_MILESTONES = (("anc4", 1, 4), ("anc8", 1, 8), ("iptp3", 2, 3))


def antenatal(period: Period, women: dict[str, list[AncRow]]) -> Counter[Cell]:
    """`women`: each woman seen for ANC in the month, with her contacts of the pregnancies
    still running in the month (from Period.anc_lookback_start)."""
    out: Counter[Cell] = Counter()
    for rows in women.values():
        by_date = {(r[0], r[1] or 0): r for r in rows}
        for row in rows:
            if row[1] == 1 and _in(period, row[0]):
                out[("anc1", "", "")] += 1
                if _first_trimester(row):
                    out[("anc1_t1", "", "")] += 1
        for pregnancy in pregnancies([(r[0], r[1], r[2]) for r in by_date.values()]):
            for code, index, least in _MILESTONES:
                first = next(
                    (c[0] for c in pregnancy if c[index] is not None and c[index] >= least), None
                )
                if first is not None and _in(period, first):
                    out[(code, "", "")] += 1
    return out


def births(
    period: Period,
    deliveries: Iterable[tuple[date, bool]],
    postnatal: Iterable[tuple[str, str, date, str, int]],
) -> Counter[Cell]:
    """`deliveries`: (care date, skilled attendant); `postnatal`: (patient, sex, care date,
    subject, days after birth)."""
    out: Counter[Cell] = Counter()
    for care_date, skilled in deliveries:
        if skilled and _in(period, care_date):
            out[("skilled_births", "", "")] += 1
    seen: set[tuple[str, str]] = set()
    for pid, sex, care_date, subject, days in postnatal:
        if days is None or days > PNC_WITHIN_DAYS or not _in(period, care_date):
            continue
        if (pid, subject) in seen:
            continue
        seen.add((pid, subject))
        if subject == "mother":
            out[("pnc48_mother", "", "")] += 1
        elif subject == "newborn":
            out[("pnc48_newborn", sex, "")] += 1
    return out


def nutrition_status(sex: str, birth: date, care_date: date, data: dict[str, Any]) -> str:
    """A growth visit's status (normal, mam, sam, unknown…) from its measures."""
    return nutrition_of(sex, (care_date - birth).days, data)["status"]


def growth(
    period: Period, visits: Iterable[tuple[str, str, date, date, bool, str]]
) -> Counter[Cell]:
    """`visits`: (patient, sex, birth date, care date, weighed, nutrition status) of every
    growth visit of the month, and of the children malnourished in it their visits from
    NEW_CASE_LOOKBACK_DAYS before the month to OUTCOME_DAYS after it."""
    out: Counter[Cell] = Counter()
    by_child: dict[str, tuple[str, list[tuple[date, bool, str]]]] = {}
    for pid, sex, birth, care_date, weighed, status in visits:
        if age_months(birth, care_date) >= UNDER_FIVE_MONTHS:
            continue
        by_child.setdefault(pid, (sex, []))[1].append((care_date, weighed, status))
    for sex, rows in by_child.values():
        rows.sort(key=lambda r: r[0])
        in_month = [r for r in rows if _in(period, r[0])]
        if not in_month:
            continue
        if any(weighed for _c, weighed, _s in in_month):
            out[("weighed", sex, "")] += 1
        statuses = {c: s for c, _w, s in in_month}
        if not any(s in ("mam", "sam") for s in statuses.values()):
            continue
        for c, _w, s in rows:
            statuses.setdefault(c, s)
        for status in ("mam", "sam"):
            first = next((c for c, _w, _s in in_month if statuses[c] == status), None)
            if first is None:
                continue
            since = first - timedelta(days=NEW_CASE_LOOKBACK_DAYS)
            if any(since <= c < first and statuses[c] == status for c, _w, _s in rows):
                continue
            out[(f"{status}_new", sex, "")] += 1
            until = first + timedelta(days=OUTCOME_DAYS)
            later = [c for c, _w, _s in rows if first < c <= until]
            measured = [c for c in later if statuses[c] != "unknown"]
            if not later:
                out[(f"{status}_not_seen", sex, "")] += 1
            elif measured and statuses[measured[-1]] == "normal":
                out[(f"{status}_recovered", sex, "")] += 1
    return out


def consultations(
    period: Period, visits: Iterable[tuple[str, date, date, bool, list[str]]]
) -> Counter[Cell]:
    """`visits`: (sex, birth date, care date, new case, diagnosis codes)."""
    out: Counter[Cell] = Counter()
    for sex, birth, care_date, new_case, codes in visits:
        if not _in(period, care_date):
            continue
        if new_case:
            group = age_group(age_months(birth, care_date), AGE_GROUPS) or ""
            out[("consultations", sex, group)] += 1
        for code in codes:
            out[(DIAGNOSIS, sex, code)] += 1
    return out


def seen(first_visits: Iterable[tuple[str, date, date]]) -> Counter[Cell]:
    """`first_visits`: (sex, birth date, first care date of the year) of the patients whose
    first visit of the year falls in the month, by age group at that visit."""
    out: Counter[Cell] = Counter()
    for sex, birth, care_date in first_visits:
        out[(SEEN, sex, age_group(age_months(birth, care_date), AGE_GROUPS) or "")] += 1
    return out


def add_days(day: date, days: int) -> date:
    return day + timedelta(days=days)


def follow_up(
    period: Period,
    children: Iterable[tuple[date, dict[tuple[str, int], date]]],
    rules: Iterable[tuple[str, int, int]],
) -> Counter[Cell]:
    """`children`: (birth date, {(antigen, dose): date given}) of every child with a dose due
    or given in the month; `rules`: the schedule's (antigen, dose, recommended age in days)
    counted (dashboard_definitions.FOLLOW_UP_MAX_AGE_DAYS)."""
    rules = list(rules)
    out: Counter[Cell] = Counter()
    for birth, given in children:
        for antigen, dose, days in rules:
            due = add_days(birth, days)
            when = given.get((antigen, dose))
            if _in(period, due):
                out[("followup_due", "", "")] += 1
                if when is not None and when <= period.end:
                    out[("followup_done", "", "")] += 1
            if when is not None and _in(period, when) and (when - due).days > DEFAULTER_AFTER_DAYS:
                out[("followup_traced", "", "")] += 1
    return out
