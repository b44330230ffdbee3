"""The monthly activity report, computed from rows: no I/O, no clock (see definitions.py)."""

from __future__ import annotations

import re
from calendar import monthrange
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import Any

from appliance.clinical.growth import nutrition_of
from appliance.clinical.immunization import (
    Schedule,
    fully_immunized_before_12_months,
    load_schedule,
)
from appliance.domain.referrals import REASONS
from appliance.reports.definitions import (
    AGE_GROUPS,
    BY_CODE,
    CASES,
    IMMUNIZATION_AGE_GROUPS,
    INDICATORS,
    NEW_CASE_LOOKBACK_DAYS,
    PREGNANCY_MAX_DAYS,
    REFERRAL_SOURCES,
    REFERRAL_TRANSFERS,
    UNDER_FIVE_MONTHS,
    age_group,
)

Disaggregation = tuple[tuple[str, str], ...]
Key = tuple[str, Disaggregation]
_PERIOD = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, slots=True)
class Visit:
    """One current, non-voided encounter with what the report needs of its patient."""

    patient_id: str
    type: str
    care_date: date
    sex: str
    birth_date: date
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Dose:
    """A vaccine dose of a child whose first birthday falls in the month (any date)."""

    patient_id: str
    sex: str
    birth_date: date
    antigen: str
    dose: int
    care_date: date


@dataclass(frozen=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD.fullmatch(text or "")
        if not m or not 1 <= int(m[2]) <= 12 or int(m[1]) < 1900:
            raise ValueError(f"period must be YYYY-MM, e.g. 2026-10 (got {text!r})")
        return cls(int(m[1]), int(m[2]))

    # Cached: the dashboard compares thousands of dates to a month's bounds.
    @cached_property
    def start(self) -> date:
        return date(self.year, self.month, 1)

    @cached_property
    def end(self) -> date:
        return date(self.year, self.month, monthrange(self.year, self.month)[1])

    @property
    def lookback_start(self) -> date:
        return self.start - timedelta(days=NEW_CASE_LOOKBACK_DAYS)

    @property
    def anc_lookback_start(self) -> date:
        """The earliest contact of a pregnancy still running in the month."""
        return self.start - timedelta(days=PREGNANCY_MAX_DAYS)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass
class Report:
    period: Period
    values: dict[Key, int]
    facility_code: str = ""
    facility_name: str = ""
    generated_on: date | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def value(self, code: str, **disaggregation: str) -> int:
        return self.values.get(key(code, disaggregation), 0)

    def total(self, code: str) -> int:
        return sum(v for (c, _), v in self.values.items() if c == code)

    def top_diagnoses(self, n: int = 10) -> list[tuple[str, int]]:
        """The `n` most frequent diagnosis codes of the month, all sexes and ages together."""
        totals: Counter[str] = Counter()
        for (code, disaggregation), value in self.values.items():
            if code == "DIAG":
                totals[dict(disaggregation)["diagnosis"]] += value
        return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def rows(self) -> list[tuple[str, dict[str, str], int]]:
        """(indicator, disaggregation, value): indicators in definition order, then each
        dimension in its natural order (age groups youngest first, doses by number)."""
        items = sorted(self.values.items(), key=lambda kv: _sort_key(kv[0]))
        return [(c, dict(d), v) for (c, d), v in items]


_INDICATOR_ORDER = {i.code: n for n, i in enumerate(INDICATORS)}
_VALUE_ORDER: dict[str, int] = {}
for _label in [g[0] for g in AGE_GROUPS + IMMUNIZATION_AGE_GROUPS] + list(CASES):
    _VALUE_ORDER.setdefault(_label, len(_VALUE_ORDER))
# Dimensions printed in their own list's order ("other" is last among reasons, not among
# diagnoses, so these stay apart from _VALUE_ORDER).
_DIMENSION_ORDER: dict[str, dict[str, int]] = {
    "reason": {code: n for n, code in enumerate(REASONS)},
    "transfer": {code: n for n, code in enumerate(REFERRAL_TRANSFERS)},
}


def _sort_key(k: Key) -> tuple:
    code, disaggregation = k
    values = dict(disaggregation)
    parts = []
    for dim in BY_CODE[code].dimensions:
        v = values.get(dim, "")
        rank = int(v) if v.isdigit() else _DIMENSION_ORDER.get(dim, _VALUE_ORDER).get(v, 1000)
        parts.append((rank, v))
    return (_INDICATOR_ORDER[code], parts)


def key(code: str, disaggregation: dict[str, Any]) -> Key:
    if code not in BY_CODE:
        raise KeyError(f"unknown indicator {code!r}")
    return code, tuple(sorted((k, str(v)) for k, v in disaggregation.items()))


def age_months(birth: date, on: date) -> int:
    """Completed months of age on a date."""
    months = (on.year - birth.year) * 12 + on.month - birth.month
    return months - 1 if on.day < birth.day else months


def _first_birthday(birth: date) -> date:
    try:
        return birth.replace(year=birth.year + 1)
    except ValueError:  # 29 February
        return date(birth.year + 1, 3, 1)


def compute(
    period: Period,
    visits: Iterable[Visit],
    cohort_doses: Iterable[Dose] = (),
    *,
    referrals: Iterable[Mapping[str, Any]] = (),
    age_groups: tuple[tuple[str, int, int | None], ...] = AGE_GROUPS,
    schedule: Schedule | None = None,
) -> dict[Key, int]:
    """Count every indicator. `visits` are the month's encounters plus the growth encounters
    of the lookback window before it (for new malnutrition cases), and the ANC encounters of
    the pregnancies still running in the month (from `Period.anc_lookback_start`).
    `referrals` are the month's non-voided referral forms counted by reason (rows of
    reason, referrals, evacuations: the store's `referrals.counts_by_reason`)."""
    counts: Counter[Key] = Counter()
    distinct: dict[Key, set[str]] = defaultdict(set)
    # patient -> [(date, status)] over lookback + month, for new MAM/SAM cases.
    nutrition: dict[str, list[tuple[date, str]]] = defaultdict(list)
    sexes: dict[str, str] = {}
    # woman -> [(date, contact number, IPTp dose)] over the pregnancy lookback and the month
    antenatal: dict[str, list[tuple[date, int | None, int | None]]] = defaultdict(list)
    start, end = period.start, period.end

    for v in visits:
        in_month = start <= v.care_date <= end
        d = v.data
        if v.type == "growth":
            _growth(v, in_month, distinct, nutrition, sexes)
            continue
        if v.type == "anc":
            antenatal[v.patient_id].append(
                (v.care_date, d.get("contact_number"), d.get("iptp_dose"))
            )
        if not in_month:
            continue
        if v.type in REFERRAL_SOURCES and d.get("referral"):
            counts[key("REFERRAL", {"source": v.type})] += 1
        if v.type == "consultation":
            age = age_group(age_months(v.birth_date, v.care_date), age_groups)
            case = "new" if d.get("new_case", True) else "returning"
            counts[key("CONSULT", {"case": case, "sex": v.sex, "age": age})] += 1
            for code in d.get("diagnoses") or ():
                counts[key("DIAG", {"diagnosis": code, "sex": v.sex, "age": age})] += 1
        elif v.type == "anc":
            if d.get("contact_number") == 1:
                counts[key("ANC1", {})] += 1
        elif v.type == "delivery":
            if d.get("skilled_attendant"):
                counts[key("DELIV_SKILLED", {})] += 1
            if d.get("place") == "facility":
                counts[key("DELIV_FACILITY", {})] += 1
        elif v.type == "postnatal":
            counts[key("PNC", {"subject": d.get("subject")})] += 1
        elif v.type == "immunization":
            age = age_group(age_months(v.birth_date, v.care_date), IMMUNIZATION_AGE_GROUPS)
            if age is not None:
                counts[
                    key("IMM", {"antigen": d.get("antigen"), "dose": d.get("dose"), "age": age})
                ] += 1
        elif v.type == "family_planning":
            if not d.get("removal"):
                k = key("FP", {"method": d.get("method"), "user": d.get("user")})
                distinct[k].add(v.patient_id)
        elif v.type == "chronic":
            distinct[key("CHRONIC", {"condition": d.get("condition")})].add(v.patient_id)

    for k, people in distinct.items():
        counts[k] += len(people)
    _new_malnutrition(period, nutrition, sexes, counts)
    for contacts in antenatal.values():
        for pregnancy in pregnancies(contacts):
            _antenatal_milestones(period, pregnancy, counts)
    _fully_immunized(period, cohort_doses, counts, schedule)
    _referrals_to_csref(referrals, counts)
    return {k: v for k, v in counts.items() if v}


def _referrals_to_csref(rows: Iterable[Mapping[str, Any]], counts: Counter[Key]) -> None:
    # an evacuation is a referral too: the rest of a reason's referrals went by other means
    for row in rows:
        evacuations = int(row["evacuations"] or 0)
        for transfer, n in (
            ("evacuation", evacuations),
            ("referral", row["referrals"] - evacuations),
        ):
            counts[key("REFERRAL_CSREF", {"reason": row["reason"], "transfer": transfer})] += n


def _growth(
    v: Visit,
    in_month: bool,
    distinct: dict[Key, set[str]],
    nutrition: dict[str, list[tuple[date, str]]],
    sexes: dict[str, str],
) -> None:
    months = age_months(v.birth_date, v.care_date)
    if months >= UNDER_FIVE_MONTHS:
        return
    d = v.data
    if in_month and d.get("weight_kg") is not None:
        distinct[key("WEIGHED", {"sex": v.sex})].add(v.patient_id)
    status = nutrition_of(v.sex, (v.care_date - v.birth_date).days, d)["status"]
    if status in ("mam", "sam"):
        nutrition[v.patient_id].append((v.care_date, status))
        sexes[v.patient_id] = v.sex


AncContact = tuple[date, int | None, int | None]  # (care date, contact number, IPTp dose)


def pregnancies(contacts: Iterable[AncContact]) -> list[list[AncContact]]:
    """One woman's antenatal contacts split into pregnancies: a new one starts when the contact
    number goes back down (numbering restarts with each pregnancy) or when a contact comes more
    than PREGNANCY_MAX_DAYS after the pregnancy's first one."""
    groups: list[list[AncContact]] = []
    last_number = 0
    for contact in sorted(contacts, key=lambda c: (c[0], c[1] or 0)):
        care_date, number, _dose = contact
        # a first contact always opens a pregnancy; any lower number means a restart
        restarted = number is not None and last_number > 0 and (number < last_number or number == 1)
        if not groups or restarted or (care_date - groups[-1][0][0]).days > PREGNANCY_MAX_DAYS:
            groups.append([])
            last_number = 0
        groups[-1].append(contact)
        if number is not None:
            last_number = number
    return groups


# (indicator, field index in AncContact, reached) — each pregnancy counts once, in the month
# of its first contact that reaches the milestone.
_MILESTONES = (
    ("ANC4", 1, lambda n: n >= 4),
    ("ANC8", 1, lambda n: n >= 8),
    ("IPTP1", 2, lambda n: n == 1),
    ("IPTP2", 2, lambda n: n == 2),
    ("IPTP3", 2, lambda n: n >= 3),
)


def _antenatal_milestones(period: Period, pregnancy: list[AncContact], counts: Counter) -> None:
    for code, index, reached in _MILESTONES:
        first = next((c[0] for c in pregnancy if c[index] is not None and reached(c[index])), None)
        if first is not None and period.start <= first <= period.end:
            counts[key(code, {})] += 1


def _new_malnutrition(
    period: Period,
    nutrition: dict[str, list[tuple[date, str]]],
    sexes: dict[str, str],
    counts: Counter[Key],
) -> None:
    for pid, visits in nutrition.items():
        for status, code in (("mam", "MAM_NEW"), ("sam", "SAM_NEW")):
            days = sorted(d for d, s in visits if s == status)
            first = next((d for d in days if period.start <= d <= period.end), None)
            if first is None:
                continue
            since = first - timedelta(days=NEW_CASE_LOOKBACK_DAYS)
            if not any(since <= d < first for d in days):
                counts[key(code, {"sex": sexes[pid]})] += 1


def _fully_immunized(
    period: Period, doses: Iterable[Dose], counts: Counter[Key], schedule: Schedule | None
) -> None:
    children: dict[str, tuple[str, date, list[tuple[str, int, date]]]] = {}
    for d in doses:
        if not period.start <= _first_birthday(d.birth_date) <= period.end:
            continue
        children.setdefault(d.patient_id, (d.sex, d.birth_date, []))[2].append(
            (d.antigen, d.dose, d.care_date)
        )
    schedule = schedule or load_schedule()
    for sex, birth, given in children.values():
        if fully_immunized_before_12_months(birth, given, schedule=schedule):
            counts[key("FIC", {"sex": sex})] += 1
