"""The dashboard's pure parts: targets from [population], its checks, the follow-up count,
the first trimester's edge, and how monthly counts become rates to date."""

from __future__ import annotations

from datetime import date

import pytest

from appliance.facility_file import (
    PopulationSettings,
    PopulationSettingsError,
    population_settings_from,
)
from appliance.reports import dashboard_counts as count
from appliance.reports import dashboard_definitions as defs
from appliance.reports.monthly import Period


def test_population_grows_from_its_year() -> None:
    settings = PopulationSettings(total=12000, year=2026, growth_pct=3.0)
    assert defs.population_of(settings, 2026) == {
        "total": 12000,
        "expected_pregnancies": 480,
        "live_births": 456,
        "surviving_infants": 432,
        "under_five": 2160,
    }
    assert defs.population_of(settings, 2027)["total"] == 12360
    assert defs.population_of(settings, 2025)["total"] == 11650


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"total": 100}, "x: [population] year is missing"),
        ({"total": 0, "year": 2026}, "x: [population] total must be a whole number from 1 to"),
        ({"total": 10, "year": 2026, "births": 4}, "x: [population] has no key 'births'"),
        (
            {"total": 10, "year": 2026, "under_five_pct": "6"},
            "x: [population] under_five_pct must be a number from 0 to 40, not '6'",
        ),
    ],
)
def test_population_errors_are_one_line(section, message) -> None:
    with pytest.raises(PopulationSettingsError) as err:
        population_settings_from(section, where="x")
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_no_population_table_is_none() -> None:
    assert population_settings_from({}) is None
    assert population_settings_from({"total": 9000, "year": 2025, "under_five_pct": 6}) == (
        PopulationSettings(total=9000, year=2025, under_five_pct=6.0)
    )


RULES = [("penta", 1, 42), ("penta", 2, 70)]


def test_follow_up_due_done_and_traced_by_hand() -> None:
    # born 1 January: Penta1 due 12 February (given 28 February), Penta2 due 12 March (given
    # 1 May, 50 days late: a defaulter traced in May); another child born 31 December 2025
    # has Penta1 due on 11 February and never came
    children = [
        (date(2026, 1, 1), {("penta", 1): date(2026, 2, 28), ("penta", 2): date(2026, 5, 1)}),
        (date(2025, 12, 31), {}),
    ]

    def month(text):
        return dict(count.follow_up(Period.parse(text), children, RULES))

    assert month("2026-02") == {("followup_due", "", ""): 2, ("followup_done", "", ""): 1}
    assert month("2026-03") == {("followup_due", "", ""): 2}
    assert month("2026-05") == {("followup_traced", "", ""): 1}
    # due on the last day of a month: that month's
    late = [(date(2026, 2, 17), {("penta", 1): date(2026, 3, 31)})]  # due 31 March
    assert dict(count.follow_up(Period.parse("2026-03"), late, RULES[:1])) == {
        ("followup_due", "", ""): 1,
        ("followup_done", "", ""): 1,
    }


def test_first_trimester_edge() -> None:
    march = Period.parse("2026-03")
    on = date(2026, 3, 31)
    women = {
        "a": [(on, 1, None, date(2026, 1, 7), None)],  # 83 days: 11 weeks 6 days
        "b": [(on, 1, None, date(2026, 1, 6), None)],  # 84 days: 12 weeks
        "c": [(on, 1, None, None, 11)],
        "d": [(on, 1, None, date(2026, 1, 20), 12)],  # the recorded age wins over the LMP
    }
    cells = count.antenatal(march, women)
    assert cells[("anc1", "", "")] == 4 and cells[("anc1_t1", "", "")] == 2


def test_rates_to_date_against_the_target() -> None:
    months = ["2026-01", "2026-02", "2026-03"]
    counts = {
        ("2026-01", "penta1", "F", ""): 20,
        ("2026-01", "penta1", "M", ""): 16,
        ("2026-02", "penta1", "M", ""): 30,
        ("2026-02", "penta3", "F", ""): 12,
        ("2026-03", "penta3", "M", ""): 30,
    }
    population = {"surviving_infants": 432, "total": 12000}
    series = defs.indicator_series(defs.BY_CODE["penta1"], months, counts, population)
    assert series["monthly"][0] == {
        "month": "2026-01",
        "numerator": 36,
        "denominator": 36.0,
        "rate": 1.0,
        "by_sex": {"F": 20, "M": 16},
    }
    assert series["to_date"][1] == {
        "month": "2026-02",
        "numerator": 66,
        "denominator": 72.0,
        "rate": 0.917,
    }
    assert series["annual_target"] == 432 and series["cumulative"] is True
    # on the 10th of March (10/31 of the month gone), March's target is that share of a month
    running = defs.indicator_series(
        defs.BY_CODE["penta1"], months, counts, population, last_month_share=10 / 31
    )
    assert running["monthly"][2]["denominator"] == 11.6  # 36 × 10/31
    assert running["to_date"][2]["denominator"] == 83.6  # 72 + 11.6
    assert running["to_date"][1] == series["to_date"][1]
    drops = {d["code"]: d["to_date"] for d in defs.dropouts(months, counts)}
    assert drops["penta1_penta3"][2] == {"month": "2026-03", "first": 66, "last": 42, "rate": 0.364}
    assert drops["penta1_mr1"][0]["rate"] == 1.0


def test_every_indicator_is_defined_in_both_languages() -> None:
    for i in defs.INDICATORS:
        assert i.label_fr and i.label_en and i.definition_fr and i.definition_en
        assert i.family in defs.FAMILIES
        assert (
            i.denominator is None
            or i.denominator in defs.TARGETS
            or (i.denominator.removeprefix("count:") in defs.BY_CODE)
        )
