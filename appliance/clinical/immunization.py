"""Routine childhood immunization (Mali PEV): which dose of each antigen is due, and when.

The calendar lives in data/epi_schedule.json (versioned; a district can replace it), with its
sources per dose. Rules applied here, for each antigen series:

- the next dose is the first scheduled dose above the highest dose already given;
- due date = max(birth + recommended age, previous dose + minimum interval);
- earliest date = max(birth + minimum age, previous dose + minimum interval): never before;
- a dose whose maximum age has passed (or cannot be reached in time) is not proposed and its
  series stops, except a dose marked skip_if_missed (OPV birth dose);
- a late child is simply due now once minimum age and interval have passed (catch-up);
- a seasonal dose (the malaria vaccine's doses 4 and 5 in Mali) is due in the first season
  window (e.g. 1 May - 30 June) that is still open once its minimum age and interval have
  passed: from the window's first day, or from the earliest day when that falls inside it.
  It is not given outside a window: once a window closes without it, the next one applies;
- "overdue" once more than `grace_days` past the due date; "upcoming" when the due date is
  within `horizon_days`.

Dates are handled as proleptic ordinals internally: the due list runs this for every child of
the facility, and integer arithmetic keeps it cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

# Days past the due date before a dose counts as overdue (a defaulter to trace). Not a WHO
# figure: one minimum infant interval (4 weeks) late is the programme choice made here;
# callers pass their own value.
GRACE_DAYS = 28
HORIZON_DAYS = 30

_DEFAULT = "data/epi_schedule.json"
_KEYS = ("antigen", "dose", "recommended_age_days", "min_age_days", "min_interval_days")


@dataclass(frozen=True, slots=True)
class DoseRule:
    antigen: str
    dose: int
    recommended_age_days: int
    min_age_days: int
    min_interval_days: int | None
    max_age_days: int | None
    sex: str | None = None
    flag: str | None = None
    skip_if_missed: bool = False
    # Given only in a yearly window: (first month, first day, last month, last day)
    season: tuple[int, int, int, int] | None = None


@dataclass(frozen=True, slots=True)
class Series:
    antigen: str
    rules: tuple[DoseRule, ...]  # by dose number
    sex: str | None  # every dose of a series shares sex and flag
    flag: str | None
    max_age_days: int | None  # the series' last day, None = no limit


@dataclass(frozen=True, slots=True)
class Schedule:
    version: str
    source: str
    doses: tuple[DoseRule, ...]
    series: tuple[Series, ...]
    fully_immunized: tuple[tuple[str, int], ...]  # (antigen, dose) pairs
    oldest: tuple[tuple[str | None, int | None], ...] = ()  # (sex, max age) precomputed

    def max_age_days(self, sex: str | None = None) -> int | None:
        """The oldest age at which any dose can be proposed to this sex (None = no limit)."""
        for s, age in self.oldest:
            if s == sex:
                return age
        return _oldest(self.series, sex)


@dataclass(frozen=True, slots=True)
class DoseDue:
    antigen: str
    dose: int
    due_date: date
    earliest_date: date
    overdue_days: int  # days past the due date, 0 when not yet due
    status: str  # "due" | "overdue" | "upcoming"
    # the dose's maximum age, or its season window's last day: it is not given after this day
    last_date: date | None = None


def _oldest(series: tuple[Series, ...], sex: str | None) -> int | None:
    ages = [s.max_age_days for s in series if s.sex in (None, sex)]
    return None if None in ages else max(ages, default=0)  # type: ignore[type-var]


def _month_day(text: Any, what: str) -> tuple[int, int]:
    try:
        month, day = (int(x) for x in str(text).split("-"))
        date(2001, month, day)  # a day every year has (not 29 February)
    except ValueError:
        raise ValueError(f"{what}: season days are MM-DD, got {text!r}") from None
    return month, day


def _season(raw: Any, what: str) -> tuple[int, int, int, int] | None:
    if raw is None:
        return None
    start = _month_day(raw.get("from"), what)
    end = _month_day(raw.get("to"), what)
    if end < start:
        raise ValueError(f"{what}: a season ends after it starts, within one year")
    return (*start, *end)


def season_window(season: tuple[int, int, int, int], not_before: int) -> tuple[int, int]:
    """The first window of a yearly season (ordinals of its first and last day) that is
    still open on day `not_before` (an ordinal)."""
    year = date.fromordinal(not_before).year
    while True:
        end = date(year, season[2], season[3]).toordinal()
        if end >= not_before:
            return date(year, season[0], season[1]).toordinal(), end
        year += 1


def _rule(raw: dict[str, Any]) -> DoseRule:
    missing = [k for k in _KEYS if k not in raw]
    if missing:
        raise ValueError(f"EPI schedule dose {raw!r} lacks {', '.join(missing)}")
    rule = DoseRule(
        antigen=str(raw["antigen"]),
        dose=int(raw["dose"]),
        recommended_age_days=int(raw["recommended_age_days"]),
        min_age_days=int(raw["min_age_days"]),
        min_interval_days=None
        if raw["min_interval_days"] is None
        else int(raw["min_interval_days"]),
        max_age_days=None if raw.get("max_age_days") is None else int(raw["max_age_days"]),
        sex=raw.get("sex"),
        flag=raw.get("flag"),
        skip_if_missed=bool(raw.get("skip_if_missed", False)),
        season=_season(raw.get("season"), f"{raw['antigen']} {raw['dose']}"),
    )
    if not 0 <= rule.min_age_days <= rule.recommended_age_days:
        raise ValueError(f"{rule.antigen} {rule.dose}: need 0 <= min age <= recommended age")
    if rule.max_age_days is not None and rule.max_age_days < rule.min_age_days:
        raise ValueError(f"{rule.antigen} {rule.dose}: max age below min age")
    if rule.min_interval_days is not None and rule.min_interval_days < 1:
        raise ValueError(f"{rule.antigen} {rule.dose}: min interval must be at least 1 day")
    return rule


def parse_schedule(raw: dict[str, Any]) -> Schedule:
    """Check and index a schedule read from JSON; raise ValueError naming the bad entry."""
    doses = tuple(_rule(d) for d in raw["doses"])
    by_antigen: dict[str, list[DoseRule]] = {}
    for d in doses:
        by_antigen.setdefault(d.antigen, []).append(d)
    series = []
    for antigen, rules in by_antigen.items():
        rules.sort(key=lambda r: r.dose)
        if len({r.dose for r in rules}) != len(rules):
            raise ValueError(f"{antigen}: a dose number appears twice")
        if len({(r.sex, r.flag) for r in rules}) != 1:
            raise ValueError(f"{antigen}: every dose of a series needs the same sex and flag")
        ages = [r.max_age_days for r in rules]
        series.append(
            Series(
                antigen=antigen,
                rules=tuple(rules),
                sex=rules[0].sex,
                flag=rules[0].flag,
                max_age_days=None if None in ages else max(ages),  # type: ignore[type-var]
            )
        )
    fic = raw.get("fully_immunized") or {}
    pairs = tuple((str(e["antigen"]), int(n)) for e in fic.get("doses", ()) for n in e["doses"])
    return Schedule(
        version=str(raw.get("version", "")),
        source=str(raw.get("source", "")),
        doses=doses,
        series=tuple(series),
        fully_immunized=pairs,
        oldest=tuple((sex, _oldest(tuple(series), sex)) for sex in (None, "F", "M")),
    )


@cache
def _default_schedule() -> Schedule:
    text = resources.files("appliance.clinical").joinpath(_DEFAULT).read_text(encoding="utf-8")
    return parse_schedule(json.loads(text))


def load_schedule(path: str | Path | None = None) -> Schedule:
    """The shipped Mali PEV schedule (read once), or the district's file at `path`."""
    if path is None:
        return _default_schedule()
    return parse_schedule(json.loads(Path(path).read_text(encoding="utf-8")))


def due_doses(
    sex: str | None,
    birth_date: date,
    given: list[tuple[str, int, date]],
    on: date,
    *,
    malaria_vaccine: bool = False,
    schedule: Schedule | None = None,
    horizon_days: int = HORIZON_DAYS,
    grace_days: int = GRACE_DAYS,
) -> list[DoseDue]:
    """The next dose of each antigen series that is due, overdue or due within the horizon.

    `given` holds (antigen, dose, date given). Series flagged `malaria_vaccine` are offered
    only where the district has the vaccine; sex-specific series (HPV) only to that sex.
    """
    sched = schedule or _default_schedule()
    birth = birth_date.toordinal()
    today = on.toordinal()
    horizon = today + horizon_days
    highest: dict[str, int] = {}
    last: dict[str, int] = {}
    for antigen, dose, when in given:
        if dose > highest.get(antigen, -1):
            highest[antigen] = dose
        w = when.toordinal()
        if w > last.get(antigen, -1):
            last[antigen] = w

    out: list[DoseDue] = []
    for s in sched.series:
        if s.flag is not None and not (s.flag == "malaria_vaccine" and malaria_vaccine):
            continue
        if s.sex is not None and s.sex != sex:
            continue
        if s.max_age_days is not None and today > birth + s.max_age_days:
            continue  # the whole series is closed for this child
        top = highest.get(s.antigen, -1)
        prev = last.get(s.antigen)
        for r in s.rules:
            if r.dose <= top:
                continue
            earliest = birth + r.min_age_days
            due = birth + r.recommended_age_days
            if prev is not None and r.min_interval_days is not None:
                after = prev + r.min_interval_days
                if after > earliest:
                    earliest = after
                if after > due:
                    due = after
            window_end = None
            if r.season is not None:
                # the first window still open once the dose may be given (and today)
                first, window_end = season_window(r.season, max(earliest, today))
                earliest = max(earliest, first)
                due = earliest
            limit = None
            if r.max_age_days is not None:
                limit = birth + r.max_age_days
                if today > limit or earliest > limit:
                    if r.skip_if_missed:
                        continue
                    break  # a missed dose past its window ends the series
                due = min(due, limit)  # still possible: give it before the window closes
            if window_end is not None and (limit is None or window_end < limit):
                limit = window_end  # a seasonal dose is not given after its window
            if due > horizon:
                break
            late = today - due
            if late < 0:
                status = "upcoming"
            elif late > grace_days:
                status = "overdue"
            else:
                status = "due"
            out.append(
                DoseDue(
                    r.antigen,
                    r.dose,
                    date.fromordinal(due),
                    date.fromordinal(earliest),
                    late if late > 0 else 0,
                    status,
                    None if limit is None else date.fromordinal(limit),
                )
            )
            break  # only the next dose of each series
    return out


def _first_birthday(birth: date) -> date:
    try:
        return birth.replace(year=birth.year + 1)
    except ValueError:  # born 29 February
        return date(birth.year + 1, 3, 1)


def fully_immunized_before_12_months(
    birth_date: date,
    given: list[tuple[str, int, date]],
    *,
    schedule: Schedule | None = None,
) -> bool:
    """True when every dose of the schedule's "fully immunized child" list (WHO/UNICEF
    indicator; see the data file) was given before the first birthday."""
    sched = schedule or _default_schedule()
    birthday = _first_birthday(birth_date)
    done = {(a, d) for a, d, when in given if when < birthday}
    return bool(sched.fully_immunized) and all(p in done for p in sched.fully_immunized)
