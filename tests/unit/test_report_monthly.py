"""The monthly computation from rows: periods, ages at the visit, distinct counts, new cases."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.reports.definitions import AGE_GROUPS, age_group
from appliance.reports.monthly import Dose, Period, Report, Visit, age_months, compute, key

OCT = Period(2026, 10)


def visit(kind, day, data, *, pid="p1", sex="F", born=date(1995, 3, 14)):
    return Visit(pid, kind, day, sex, born, data)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-10", "", "2026/10", "x"])
def test_bad_periods_are_refused(text):
    with pytest.raises(ValueError, match="YYYY-MM"):
        Period.parse(text)


def test_period_bounds():
    assert (Period.parse("2024-02").start, Period.parse("2024-02").end) == (
        date(2024, 2, 1),
        date(2024, 2, 29),
    )
    assert str(OCT) == "2026-10" and OCT.end == date(2026, 10, 31)
    assert OCT.lookback_start == date(2026, 8, 2)


@pytest.mark.parametrize(
    "born, on, months",
    [
        (date(2025, 10, 20), date(2026, 10, 19), 11),
        (date(2025, 10, 20), date(2026, 10, 20), 12),
        (date(2026, 1, 31), date(2026, 2, 28), 0),
        (date(2024, 2, 29), date(2025, 2, 28), 11),
        (date(2024, 2, 29), date(2025, 3, 1), 12),
    ],
)
def test_age_in_completed_months(born, on, months):
    assert age_months(born, on) == months


@given(st.integers(0, 1500))
def test_every_age_has_exactly_one_group(months):
    labels = [label for label, lo, hi in AGE_GROUPS if months >= lo and (hi is None or months < hi)]
    assert len(labels) == 1 and age_group(months, AGE_GROUPS) == labels[0]


def test_configurable_age_groups():
    groups = (("under5", 0, 60), ("5+", 60, None))
    rows = [visit("consultation", date(2026, 10, 3), {"diagnoses": ["other"]})]
    values = compute(OCT, rows, age_groups=groups)
    assert values == {
        key("CONSULT", {"case": "new", "sex": "F", "age": "5+"}): 1,
        key("DIAG", {"diagnosis": "other", "sex": "F", "age": "5+"}): 1,
    }


def test_only_the_month_counts():
    rows = [
        visit("anc", date(2026, 9, 30), {"contact_number": 1}),
        visit("anc", date(2026, 10, 1), {"contact_number": 1}),
        visit("anc", date(2026, 10, 31), {"contact_number": 1}),
        visit("anc", date(2026, 11, 1), {"contact_number": 1}),
    ]
    assert compute(OCT, rows) == {key("ANC1", {}): 2}


def test_anc4_and_fp_count_each_woman_once():
    rows = [
        visit("anc", date(2026, 10, 2), {"contact_number": 4}),
        visit("anc", date(2026, 10, 29), {"contact_number": 5}),
        visit("family_planning", date(2026, 10, 2), {"method": "pill_coc", "user": "new"}),
        visit("family_planning", date(2026, 10, 9), {"method": "pill_coc", "user": "new"}),
        visit(
            "family_planning",
            date(2026, 10, 9),
            {"method": "implant", "user": "continuing", "removal": True},
        ),
    ]
    values = compute(OCT, rows)
    assert values[key("ANC4", {})] == 1
    assert values[key("FP", {"method": "pill_coc", "user": "new"})] == 1
    assert key("FP", {"method": "implant", "user": "continuing"}) not in values


def _muac(day, mm, pid="c1"):
    return visit("growth", day, {"muac_mm": mm}, pid=pid, sex="M", born=date(2024, 6, 1))


@pytest.mark.parametrize(
    "before, new",
    [
        (None, True),
        (date(2026, 8, 11), False),  # exactly 60 days before 10 October: inside the window
        (date(2026, 8, 10), True),  # 61 days before
    ],
)
def test_new_mam_case_window(before, new):
    rows = [_muac(date(2026, 10, 10), 120)]
    if before:
        rows.insert(0, _muac(before, 120))
    assert compute(OCT, rows).get(key("MAM_NEW", {"sex": "M"}), 0) == int(new)


def test_mam_becoming_sam_is_a_new_sam_case():
    rows = [_muac(date(2026, 9, 20), 120), _muac(date(2026, 10, 10), 110)]
    values = compute(OCT, rows)
    assert values.get(key("SAM_NEW", {"sex": "M"})) == 1
    assert key("MAM_NEW", {"sex": "M"}) not in values  # the MAM visit was in September


def test_oedema_is_sam_and_weight_makes_weighed():
    rows = [
        visit(
            "growth",
            date(2026, 10, 4),
            {"weight_kg": 8.0, "oedema": True},
            sex="F",
            born=date(2025, 1, 1),
        )
    ]
    values = compute(OCT, rows)
    assert values[key("SAM_NEW", {"sex": "F"})] == 1
    assert values[key("WEIGHED", {"sex": "F"})] == 1


FIC_DOSES = [("bcg", 1)] + [(a, n) for a in ("penta", "opv", "pcv", "rota") for n in (1, 2, 3)]


def _doses(born, mr_day, pid="c1"):
    out = [Dose(pid, "F", born, a, n, date(2026, 1, 15)) for a, n in FIC_DOSES]
    return [*out, Dose(pid, "F", born, "mr", 1, mr_day)]


def test_fully_immunized_needs_the_birthday_in_the_month_and_doses_before_it():
    born = date(2025, 10, 12)
    assert compute(OCT, [], _doses(born, date(2026, 10, 11))) == {key("FIC", {"sex": "F"}): 1}
    # MR on the birthday itself is too late.
    assert compute(OCT, [], _doses(born, date(2026, 10, 12))) == {}
    # Birthday in November: not this month's cohort.
    assert compute(OCT, [], _doses(date(2025, 11, 1), date(2026, 10, 11))) == {}


def test_immunization_age_groups_and_older_patients():
    rows = [
        visit(
            "immunization", date(2026, 10, 5), {"antigen": "mr", "dose": 1}, born=date(2026, 1, 1)
        ),
        visit(
            "immunization", date(2026, 10, 5), {"antigen": "mr", "dose": 2}, born=date(2025, 3, 1)
        ),
        visit("immunization", date(2026, 10, 5), {"antigen": "td", "dose": 2}),  # an adult
    ]
    assert compute(OCT, rows) == {
        key("IMM", {"antigen": "mr", "dose": "1", "age": "0-11m"}): 1,
        key("IMM", {"antigen": "mr", "dose": "2", "age": "12-23m"}): 1,
    }


def test_report_value_total_and_rows():
    values = compute(
        OCT,
        [
            visit("postnatal", date(2026, 10, 5), {"subject": "newborn"}),
            visit("anc", date(2026, 10, 5), {"contact_number": 1, "referral": True}),
        ],
    )
    report = Report(OCT, values)
    assert report.value("PNC", subject="newborn") == 1 and report.value("PNC", subject="x") == 0
    assert report.total("REFERRAL") == 1
    assert [c for c, _, _ in report.rows()] == ["ANC1", "PNC", "REFERRAL"]
    with pytest.raises(KeyError):
        report.value("NOPE")


def test_rows_list_age_groups_youngest_first_and_doses_by_number():
    values = {key("CONSULT", {"case": "new", "sex": "F", "age": a}): 1 for a, _, _ in AGE_GROUPS}
    values.update(
        {key("IMM", {"antigen": "opv", "dose": str(n), "age": "0-11m"}): 1 for n in (0, 3, 10)}
    )
    rows = Report(OCT, dict(reversed(values.items()))).rows()
    assert [d["age"] for c, d, _ in rows if c == "CONSULT"] == [a for a, _, _ in AGE_GROUPS]
    assert [d["dose"] for c, d, _ in rows if c == "IMM"] == ["0", "3", "10"]


def test_top_diagnoses_add_up_sexes_and_ages():
    values = {
        key("DIAG", {"diagnosis": "pneumonia", "sex": "F", "age": "1-4y"}): 2,
        key("DIAG", {"diagnosis": "pneumonia", "sex": "M", "age": "0-11m"}): 2,
        key("DIAG", {"diagnosis": "malaria_confirmed", "sex": "M", "age": "1-4y"}): 3,
        key("DIAG", {"diagnosis": "anaemia", "sex": "F", "age": "1-4y"}): 1,
    }
    report = Report(OCT, values)
    assert report.top_diagnoses() == [("pneumonia", 4), ("malaria_confirmed", 3), ("anaemia", 1)]
    assert report.top_diagnoses(1) == [("pneumonia", 4)]


@given(
    st.lists(
        st.tuples(
            st.integers(-40, 70),  # days from 1 October
            st.integers(0, 36_000),  # age in days at the visit
            st.sampled_from("FM"),
            st.lists(st.sampled_from(["pneumonia", "diarrhoea", "other"]), min_size=1, max_size=3),
        ),
        max_size=30,
    )
)
def test_consultation_totals_match_the_month(cases):
    rows = []
    for offset, age_days, sex, codes in cases:
        day = date(2026, 10, 1) + timedelta(days=offset)
        born = day - timedelta(days=age_days)
        rows.append(Visit("p", "consultation", day, sex, born, {"diagnoses": codes}))
    report = Report(OCT, compute(OCT, rows))
    in_month = [c for c in cases if 0 <= c[0] <= 30]
    assert report.total("CONSULT") == len(in_month)
    assert report.total("DIAG") == sum(len(c[3]) for c in in_month)


# -- antenatal milestones: each pregnancy once, in the month of its 4th (8th) contact ---------


def anc(day, number=None, *, iptp=None, pid="w1"):
    data = {} if number is None else {"contact_number": number}
    if iptp is not None:
        data["iptp_dose"] = iptp
    return visit("anc", day, data, pid=pid)


def anc_counts(period, rows):
    values = compute(period, rows)
    return {
        c: values.get(key(c, {}), 0) for c in ("ANC1", "ANC4", "ANC8", "IPTP1", "IPTP2", "IPTP3")
    }


def test_fourth_contact_on_the_last_day_counts_in_that_month_only():
    rows = [
        anc(date(2026, 7, 1), 1),
        anc(date(2026, 8, 1), 2),
        anc(date(2026, 9, 1), 3),
        anc(date(2026, 9, 30), 4),  # last day of September
        anc(date(2026, 10, 1), 5),  # first day of October
    ]
    assert anc_counts(Period(2026, 9), rows)["ANC4"] == 1
    assert anc_counts(OCT, rows)["ANC4"] == 0


def test_contacts_five_and_six_do_not_count_the_pregnancy_again():
    rows = [anc(date(2026, 9, 3), 4), anc(date(2026, 10, 2), 5), anc(date(2026, 10, 30), 6)]
    assert anc_counts(OCT, rows)["ANC4"] == 0
    assert anc_counts(Period(2026, 9), rows)["ANC4"] == 1


def test_two_contacts_numbered_four_or_more_in_one_month_count_once():
    rows = [anc(date(2026, 10, 2), 4), anc(date(2026, 10, 20), 5)]
    assert anc_counts(OCT, rows)["ANC4"] == 1


def test_a_skipped_number_still_reaches_the_fourth_contact():
    rows = [anc(date(2026, 8, 2), 3), anc(date(2026, 10, 2), 5)]  # contact 4 never recorded
    assert anc_counts(OCT, rows)["ANC4"] == 1


def test_a_woman_with_two_pregnancies_counts_once_for_each():
    first = [anc(date(2025, 12, 1), 1), anc(date(2026, 2, 1), 4), anc(date(2026, 4, 1), 5)]
    # numbering restarts at 1: a new pregnancy, whose own 4th contact is in October
    second = [anc(date(2026, 7, 1), 1), anc(date(2026, 8, 1), 2), anc(date(2026, 9, 1), 3)]
    rows = [*first, *second, anc(date(2026, 10, 5), 4)]
    assert anc_counts(Period(2026, 2), rows)["ANC4"] == 1
    assert anc_counts(OCT, rows)["ANC4"] == 1
    assert anc_counts(Period(2026, 7), rows)["ANC1"] == 1


def test_a_new_pregnancy_without_a_first_contact_is_told_by_time():
    # contact 4 in January, then contact 4 again eleven months later (the first three elsewhere)
    rows = [anc(date(2026, 1, 10), 4), anc(date(2026, 12, 10), 4)]
    assert anc_counts(Period(2026, 12), rows)["ANC4"] == 1


def test_women_are_counted_apart():
    rows = [anc(date(2026, 10, 2), 4, pid="w1"), anc(date(2026, 10, 2), 4, pid="w2")]
    assert anc_counts(OCT, rows)["ANC4"] == 2


def test_eighth_contact():
    rows = [anc(date(2026, 9, 2), 7), anc(date(2026, 10, 2), 8), anc(date(2026, 10, 29), 9)]
    assert anc_counts(OCT, rows)["ANC8"] == 1
    assert anc_counts(OCT, rows)["ANC4"] == 0  # reached in September (7)


def test_iptp_doses():
    rows = [
        anc(date(2026, 8, 3), 2, iptp=1),
        anc(date(2026, 9, 3), 3, iptp=2),
        anc(date(2026, 10, 1), 4, iptp=3),
        anc(date(2026, 10, 29), 5, iptp=4),  # a 4th dose: the pregnancy is already IPTp3+
        anc(date(2026, 10, 3), 1, iptp=1, pid="w2"),
        anc(date(2026, 10, 3), None, iptp=None, pid="w3"),  # a contact without SP
    ]
    assert anc_counts(OCT, rows) == {
        "ANC1": 1,
        "ANC4": 1,
        "ANC8": 0,
        "IPTP1": 1,
        "IPTP2": 0,
        "IPTP3": 1,
    }
    assert anc_counts(Period(2026, 9), rows)["IPTP2"] == 1
    assert anc_counts(Period(2026, 11), rows)["IPTP3"] == 0


def test_the_pregnancy_lookback_reaches_44_weeks_back():
    assert OCT.anc_lookback_start == date(2026, 10, 1) - timedelta(weeks=44)


def test_referrals_to_the_csref_split_each_reason_into_referrals_and_evacuations():
    rows = [  # as the store counts them: every form of the reason, evacuations among them
        {"reason": "haemorrhage", "referrals": 3, "evacuations": 2, "returned": 1},
        {"reason": "trauma", "referrals": 1, "evacuations": 0, "returned": 0},
        {"reason": "eclampsia", "referrals": 2, "evacuations": 2, "returned": 0},
    ]
    values = compute(OCT, [], referrals=rows)
    assert values == {
        key("REFERRAL_CSREF", {"reason": "haemorrhage", "transfer": "referral"}): 1,
        key("REFERRAL_CSREF", {"reason": "haemorrhage", "transfer": "evacuation"}): 2,
        key("REFERRAL_CSREF", {"reason": "trauma", "transfer": "referral"}): 1,
        key("REFERRAL_CSREF", {"reason": "eclampsia", "transfer": "evacuation"}): 2,
    }  # no zero cells
    report = Report(OCT, values)
    assert report.total("REFERRAL_CSREF") == 6 and report.total("REFERRAL") == 0
    # the referral form's order of reasons (eclampsia before haemorrhage before trauma)
    assert [(d["reason"], d["transfer"]) for _, d, _ in report.rows()] == [
        ("eclampsia", "evacuation"),
        ("haemorrhage", "referral"),
        ("haemorrhage", "evacuation"),
        ("trauma", "referral"),
    ]
