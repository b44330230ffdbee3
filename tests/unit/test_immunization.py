"""Mali PEV schedule: data file, next dose per series, catch-up, limits, FIC indicator."""

import json
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.clinical import immunization as imm
from appliance.domain.encounters import ANTIGENS

BIRTH = date(2026, 1, 10)
SCHED = imm.load_schedule()
RULES = {(r.antigen, r.dose): r for r in SCHED.doses}


def day(n: int) -> date:
    return BIRTH + timedelta(days=n)


def due(given=(), on_day=0, sex="F", **kw):
    out = imm.due_doses(sex, BIRTH, list(given), day(on_day), **kw)
    return {(d.antigen, d.dose): d for d in out}


# --- the data file -----------------------------------------------------------------------


def test_schedule_is_versioned_and_sourced():
    assert SCHED.version
    assert "WHO" in SCHED.source and "Mali" in SCHED.source
    assert imm.load_schedule() is SCHED  # read once


def test_every_dose_is_a_known_antigen_with_coherent_ages():
    for r in SCHED.doses:
        assert r.antigen in ANTIGENS
        assert 0 <= r.min_age_days <= r.recommended_age_days
        assert r.max_age_days is None or r.max_age_days >= r.recommended_age_days


def test_first_dose_of_each_series_has_no_interval_and_later_doses_do():
    for s in SCHED.series:
        assert s.rules[0].min_interval_days is None
        assert all(r.min_interval_days and r.min_interval_days >= 28 for r in s.rules[1:])


@pytest.mark.parametrize(
    ("antigen", "dose", "age"),
    [
        ("bcg", 1, 0),
        ("opv", 0, 0),
        ("opv", 1, 42),
        ("opv", 3, 98),
        ("penta", 1, 42),
        ("penta", 2, 70),
        ("penta", 3, 98),
        ("pcv", 3, 98),
        ("rota", 1, 42),
        ("rota", 2, 70),
        ("ipv", 1, 98),
        ("mr", 1, 274),
        ("yf", 1, 274),
        ("menafrivac", 1, 274),
        ("mr", 2, 456),
        ("malaria", 1, 152),
        ("hpv", 1, 3652),
    ],
)
def test_recommended_ages_follow_the_mali_calendar(antigen, dose, age):
    assert RULES[(antigen, dose)].recommended_age_days == age


def test_known_limits():
    assert RULES[("opv", 0)].max_age_days == 14
    assert RULES[("bcg", 1)].max_age_days == 365
    assert RULES[("rota", 1)].max_age_days == 730
    assert RULES[("hpv", 1)].sex == "F"
    assert {r.flag for r in SCHED.doses if r.antigen == "malaria"} == {"malaria_vaccine"}


def test_parse_schedule_refuses_a_min_age_above_the_recommended_age():
    bad = {
        "doses": [
            dict(
                antigen="bcg",
                dose=1,
                recommended_age_days=0,
                min_age_days=5,
                min_interval_days=None,
                max_age_days=None,
            )
        ]
    }
    with pytest.raises(ValueError, match="min age"):
        imm.parse_schedule(bad)


def test_parse_schedule_refuses_a_missing_key():
    with pytest.raises(ValueError, match="lacks"):
        imm.parse_schedule({"doses": [{"antigen": "bcg", "dose": 1}]})


# --- next dose per series ----------------------------------------------------------------


def test_at_birth_bcg_and_opv0_are_due():
    got = due(on_day=0)
    assert set(got) == {("bcg", 1), ("opv", 0)}
    assert all(d.status == "due" and d.due_date == BIRTH for d in got.values())


def test_opv0_closes_after_14_days_but_the_opv_series_goes_on():
    assert ("opv", 0) in due(on_day=14)
    got = due(on_day=15)
    assert ("opv", 0) not in got
    assert ("opv", 1) in got  # 6 weeks within the 30-day horizon
    assert got[("opv", 1)].due_date == day(42)


def test_upcoming_only_within_the_horizon():
    assert ("penta", 1) not in due(on_day=11)  # due at day 42, 31 days ahead
    got = due(on_day=12)
    assert got[("penta", 1)].status == "upcoming"
    assert got[("penta", 1)].overdue_days == 0
    assert ("penta", 1) in due(on_day=0, horizon_days=42)


def test_only_the_next_dose_of_each_series():
    given = [("penta", 1, day(42))]
    got = due(given, on_day=75)
    assert ("penta", 2) in got and ("penta", 1) not in got and ("penta", 3) not in got


def test_next_dose_waits_for_the_minimum_interval_after_a_late_dose():
    got = due([("penta", 1, day(60))], on_day=75)
    assert got[("penta", 2)].due_date == day(88)  # 60 + 28, not 70
    assert got[("penta", 2)].earliest_date == day(88)
    assert got[("penta", 2)].status == "upcoming"


def test_late_child_is_due_now_catch_up():
    got = due(on_day=200)
    d = got[("penta", 1)]
    assert d.due_date == day(42) and d.overdue_days == 158 and d.status == "overdue"
    assert ("malaria", 1) not in got


def test_overdue_only_after_the_grace_days():
    assert due(on_day=42 + 28)[("penta", 1)].status == "due"
    assert due(on_day=42 + 29)[("penta", 1)].status == "overdue"
    assert due(on_day=42 + 10, grace_days=7)[("penta", 1)].status == "overdue"


def test_bcg_not_proposed_after_the_first_year():
    assert ("bcg", 1) in due(on_day=365)
    assert ("bcg", 1) not in due(on_day=366)


def test_rotavirus_stops_at_24_months():
    assert ("rota", 1) in due(on_day=730)
    assert ("rota", 1) not in due(on_day=731)
    # dose 2 could not be given before the limit: the series stops
    got = due([("rota", 1, day(720))], on_day=725)
    assert ("rota", 2) not in got


def test_dose_due_after_its_window_is_brought_back_inside_it():
    got = due([("rota", 1, day(650))], on_day=700)
    d = got[("rota", 2)]
    assert d.due_date == day(678) and d.due_date <= day(730)


def test_a_recommended_age_past_the_limit_is_pulled_back_to_the_limit():
    # a district file may set a dose's last day before its usual age (e.g. a campaign)
    raw = {
        "doses": [
            dict(
                antigen="yf",
                dose=1,
                recommended_age_days=100,
                min_age_days=42,
                min_interval_days=None,
                max_age_days=90,
            )
        ]
    }
    got = due(on_day=80, schedule=imm.parse_schedule(raw))
    assert got[("yf", 1)].due_date == day(90) and got[("yf", 1)].earliest_date == day(42)


def test_ipv_at_14_weeks():
    assert due(on_day=98)[("ipv", 1)].due_date == day(98)


def test_nine_month_antigens_and_mr2():
    got = due(on_day=274)
    assert {("mr", 1), ("yf", 1), ("menafrivac", 1)} <= set(got)
    got = due([("mr", 1, day(274))], on_day=450)
    assert got[("mr", 2)].due_date == day(456)
    late = due([("mr", 1, day(450))], on_day=460)
    assert late[("mr", 2)].due_date == day(478)  # at least 4 weeks after MR1


def test_malaria_vaccine_only_where_the_district_has_it():
    assert ("malaria", 1) not in due(on_day=152)
    got = due(on_day=152, malaria_vaccine=True)
    assert got[("malaria", 1)].due_date == day(152)


# R21 in Mali (April 2025): doses 1-3 monthly from 5 months, doses 4 and 5 in May-June.
R21_BIRTH = date(2024, 6, 1)


def r21(given, on):
    out = imm.due_doses("F", R21_BIRTH, given, on, malaria_vaccine=True, horizon_days=400)
    return {d.dose: d for d in out if d.antigen == "malaria"}


def test_r21_has_five_doses_the_last_two_seasonal():
    rules = [r for r in SCHED.doses if r.antigen == "malaria"]
    assert [r.dose for r in rules] == [1, 2, 3, 4, 5]
    assert [r.season for r in rules] == [None, None, None, (5, 1, 6, 30), (5, 1, 6, 30)]


def test_r21_doses_1_to_3_are_monthly_from_5_months_all_year():
    born = R21_BIRTH
    got = r21([], born + timedelta(days=152))
    assert got[1].due_date == born + timedelta(days=152)  # 31 October: outside the season
    d1 = born + timedelta(days=152)
    assert r21([("malaria", 1, d1)], d1)[2].due_date == born + timedelta(days=183)
    d2 = born + timedelta(days=183)
    got = r21([("malaria", 1, d1), ("malaria", 2, d2)], d2)
    assert got[3].due_date == born + timedelta(days=213)


def primary(d3: date) -> list[tuple[str, int, date]]:
    return [
        ("malaria", 1, d3 - timedelta(days=60)),
        ("malaria", 2, d3 - timedelta(days=30)),
        ("malaria", 3, d3),
    ]


@pytest.mark.parametrize(
    ("dose3", "dose4_due"),
    [
        (date(2025, 4, 28), date(2026, 5, 1)),  # just before the window: next year's
        (date(2025, 5, 20), date(2026, 5, 1)),  # inside the window: not the same season
        (date(2025, 7, 2), date(2026, 5, 1)),  # just after the window
        (date(2025, 11, 1), date(2026, 5, 2)),  # 182 days fall inside the window
        (date(2025, 12, 30), date(2026, 6, 30)),  # 182 days later: the window's last day
        (date(2025, 12, 31), date(2027, 5, 1)),  # 182 days reach 1 July: next season
    ],
)
def test_r21_dose_4_in_the_first_may_june_window_6_months_after_dose_3(dose3, dose4_due):
    got = r21(primary(dose3), dose4_due - timedelta(days=10))
    d4 = got[4]
    assert d4.due_date == d4.earliest_date == dose4_due
    assert d4.last_date == date(dose4_due.year, 6, 30)
    assert d4.status == "upcoming"
    assert (dose4_due - dose3).days >= 182


def test_r21_dose_4_missed_in_its_window_moves_to_the_next_one():
    given = primary(date(2025, 7, 2))
    assert r21(given, date(2026, 6, 30))[4].status == "overdue"  # late but still in season
    got = r21(given, date(2026, 7, 1))
    assert got[4].due_date == date(2027, 5, 1) and got[4].status == "upcoming"


@pytest.mark.parametrize(
    ("dose4", "dose5_due"),
    [
        (date(2026, 5, 1), date(2027, 5, 1)),
        (date(2026, 6, 30), date(2027, 5, 1)),  # 305 days later: the next window
    ],
)
def test_r21_dose_5_in_the_next_years_window(dose4, dose5_due):
    given = [*primary(date(2025, 7, 2)), ("malaria", 4, dose4)]
    got = r21(given, dose4 + timedelta(days=1))
    assert got[5].due_date == dose5_due and got[5].last_date == date(dose5_due.year, 6, 30)
    assert r21([*given, ("malaria", 5, dose5_due)], dose5_due) == {}  # five doses: done


def test_r21_seasonal_doses_stop_at_5_years():
    born = date(2020, 1, 1)
    given = [("malaria", n, born + timedelta(days=150 + 30 * n)) for n in (1, 2, 3)]
    on = date(2025, 1, 2)  # 1828 days: past the 5-year limit
    assert not [
        d
        for d in imm.due_doses("F", born, given, on, malaria_vaccine=True)
        if d.antigen == "malaria"
    ]


def test_a_season_must_be_month_day_within_one_year():
    base = {
        "antigen": "malaria",
        "dose": 1,
        "recommended_age_days": 0,
        "min_age_days": 0,
        "min_interval_days": None,
    }
    for bad in (
        {"from": "05-01", "to": "02-30"},
        {"from": "13-01", "to": "06-30"},
        {"from": "06-30", "to": "05-01"},
    ):
        with pytest.raises(ValueError):
            imm.parse_schedule({"doses": [{**base, "season": bad}]})


def test_hpv_for_girls_9_to_14_only():
    assert due(on_day=3652, sex="F")[("hpv", 1)].due_date == day(3652)
    assert ("hpv", 1) not in due(on_day=3652, sex="M")
    assert ("hpv", 1) not in due(on_day=5479, sex="F")
    assert due([("hpv", 1, day(3700))], on_day=3800, sex="F") == {}


def test_a_completed_series_proposes_nothing():
    given = [("penta", n, day(14 + 28 * n)) for n in (1, 2, 3)]
    assert not any(a == "penta" for a, _ in due(given, on_day=200))


def test_district_schedule_file_two_dose_rotavirus(tmp_path):
    raw = json.loads(
        imm.resources.files("appliance.clinical").joinpath("data/epi_schedule.json").read_text()
    )
    raw["doses"] = [d for d in raw["doses"] if (d["antigen"], d["dose"]) != ("rota", 3)]
    for entry in raw["fully_immunized"]["doses"]:
        if entry["antigen"] == "rota":
            entry["doses"] = [1, 2]
    path = tmp_path / "district.json"
    path.write_text(json.dumps(raw))
    district = imm.load_schedule(path)
    given = [("rota", 1, day(42)), ("rota", 2, day(70))]
    assert ("rota", 3) not in due(given, on_day=98, schedule=district)
    assert ("rota", 3) in due(given, on_day=98)


# --- fully immunized child ---------------------------------------------------------------


def _on_time():
    return [(r.antigen, r.dose, day(r.recommended_age_days)) for r in SCHED.doses]


def test_fully_immunized_when_every_indicator_dose_is_before_the_first_birthday():
    assert imm.fully_immunized_before_12_months(BIRTH, _on_time())


def test_not_fully_immunized_when_mr1_is_on_the_first_birthday():
    given = [g for g in _on_time() if g[:2] != ("mr", 1)] + [("mr", 1, date(2027, 1, 10))]
    assert not imm.fully_immunized_before_12_months(BIRTH, given)


def test_not_fully_immunized_without_pcv3():
    given = [g for g in _on_time() if g[:2] != ("pcv", 3)]
    assert not imm.fully_immunized_before_12_months(BIRTH, given)


def test_opv0_and_ipv_are_not_part_of_the_indicator():
    given = [g for g in _on_time() if g[:2] not in (("opv", 0), ("ipv", 1))]
    assert imm.fully_immunized_before_12_months(BIRTH, given)


def test_born_on_29_february_the_first_birthday_is_1_march():
    birth = date(2024, 2, 29)
    base = [
        (r.antigen, r.dose, birth + timedelta(days=r.recommended_age_days))
        for r in SCHED.doses
        if (r.antigen, r.dose) != ("mr", 1)
    ]
    assert imm.fully_immunized_before_12_months(birth, [*base, ("mr", 1, date(2025, 2, 28))])
    assert not imm.fully_immunized_before_12_months(birth, [*base, ("mr", 1, date(2025, 3, 1))])


# --- properties --------------------------------------------------------------------------

SERIES = {s.antigen: s for s in SCHED.series}


@st.composite
def histories(draw):
    """A birth date, an `on` date and a (possibly messy) list of doses given."""
    age = draw(st.integers(0, 5600))
    given = []
    for antigen, s in SERIES.items():
        n = draw(st.integers(0, len(s.rules)))
        for r in s.rules[:n]:
            given.append((antigen, r.dose, day(draw(st.integers(0, age)))))
    return draw(st.sampled_from(["F", "M"])), age, given, draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(histories())
def test_never_before_min_age_or_interval_never_past_max_age(case):
    sex, age, given, malaria = case
    on = day(age)
    for d in imm.due_doses(sex, BIRTH, given, on, malaria_vaccine=malaria):
        r = RULES[(d.antigen, d.dose)]
        assert d.earliest_date >= day(r.min_age_days)
        assert d.due_date >= d.earliest_date
        prev = [w for a, _, w in given if a == d.antigen]
        if prev and r.min_interval_days:
            assert d.earliest_date >= max(prev) + timedelta(days=r.min_interval_days)
        if r.max_age_days is not None:
            assert on <= day(r.max_age_days) and d.due_date <= day(r.max_age_days)
        assert d.dose > max((n for a, n, _ in given if a == d.antigen), default=-1)
        assert d.due_date <= on + timedelta(days=imm.HORIZON_DAYS)
        assert (d.status == "upcoming") == (d.due_date > on)
        assert r.sex in (None, sex) and (r.flag is None or malaria)


@settings(max_examples=200, deadline=None)
@given(histories())
def test_giving_a_proposed_dose_on_its_due_date_resolves_it(case):
    sex, age, given, malaria = case
    on = day(age)
    for d in imm.due_doses(sex, BIRTH, given, on, malaria_vaccine=malaria):
        later = max(on, d.due_date)
        after = imm.due_doses(
            sex, BIRTH, [*given, (d.antigen, d.dose, d.due_date)], later, malaria_vaccine=malaria
        )
        same = [x for x in after if x.antigen == d.antigen]
        assert all(x.dose > d.dose and x.due_date > d.due_date for x in same)


@settings(max_examples=30, deadline=None)
@given(st.dates(date(2015, 1, 1), date(2035, 12, 31)), st.booleans())
def test_a_child_vaccinated_on_every_due_date_follows_the_calendar(birth, malaria):
    given: list[tuple[str, int, date]] = []
    on = birth
    while on < birth + timedelta(days=5600):
        for d in imm.due_doses("F", birth, given, on, malaria_vaccine=malaria):
            if d.due_date == on:
                given.append((d.antigen, d.dose, on))
        on += timedelta(days=1)
    expected = {(r.antigen, r.dose) for r in SCHED.doses if malaria or r.flag is None}
    assert {(a, n) for a, n, _ in given} == expected
    for a, n, when in given:
        r = RULES[(a, n)]
        if r.season is None:
            assert (when - birth).days == r.recommended_age_days
        else:  # seasonal: on the first day it may be given, within its window
            assert (when.month, when.day) >= r.season[:2] and (when.month, when.day) <= r.season[2:]
    assert imm.fully_immunized_before_12_months(birth, given)
