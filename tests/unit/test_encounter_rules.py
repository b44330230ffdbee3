"""Which encounter types a patient may have on a date: every type both ways, and the edges."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from appliance.clinical.pregnancy import PNC_DAYS_LISTED
from appliance.domain.encounter_rules import (
    MESSAGES,
    PatientFacts,
    age_years,
    encounter_types_allowed,
    refusal,
)
from appliance.domain.encounters import ENCOUNTER_TYPES

ON = date(2026, 6, 15)


def born_years_ago(years: int, *, days_more: int = 0) -> date:
    """The birth date of someone exactly `years` old on ON, `days_more` days older."""
    return date(ON.year - years, ON.month, ON.day) - timedelta(days=days_more)


def woman(years: int, **kw) -> PatientFacts:
    return PatientFacts("F", born_years_ago(years), **kw)


def man(years: int) -> PatientFacts:
    return PatientFacts("M", born_years_ago(years))


def child(days: int, sex: str = "M") -> PatientFacts:
    return PatientFacts(sex, ON - timedelta(days=days))


def allowed(facts: PatientFacts, on: date = ON) -> set[str]:
    return {k for k, why in encounter_types_allowed(facts, on).items() if why is None}


def test_every_type_has_an_answer_and_every_code_a_message():
    for facts in (man(30), woman(25), child(10), woman(88)):
        answer = encounter_types_allowed(facts, ON)
        assert set(answer) == set(ENCOUNTER_TYPES)
        assert all(code is None or code in MESSAGES for code in answer.values())


def test_consultation_and_chronic_for_everyone():
    for facts in (man(30), woman(88), child(0), child(400, "F"), man(119)):
        assert {"consultation", "chronic"} <= allowed(facts)


@pytest.mark.parametrize("kind", ["anc", "delivery"])
def test_pregnancy_care_only_for_a_woman_of_10_to_55(kind):
    assert kind in allowed(woman(10))
    assert kind in allowed(woman(55))
    assert kind in allowed(woman(25))
    # the day before her 10th birthday, and her 56th birthday
    assert kind not in allowed(PatientFacts("F", born_years_ago(10) + timedelta(days=1)))
    assert kind not in allowed(woman(56))
    assert kind in allowed(PatientFacts("F", born_years_ago(56) + timedelta(days=1)))
    assert kind not in allowed(woman(88))
    assert kind not in allowed(man(30))
    assert encounter_types_allowed(man(30), ON)[kind] == f"{kind}_not_childbearing"


def test_anc_refused_in_the_42_days_after_a_delivery():
    for days, ok in ((0, False), (42, False), (43, True), (-1, True)):
        facts = woman(25, deliveries=(ON - timedelta(days=days),))
        assert ("anc" in allowed(facts)) is ok, days
    why = encounter_types_allowed(woman(25, deliveries=(ON - timedelta(days=10),)), ON)["anc"]
    assert why == "anc_after_delivery"


def test_anc_of_a_pregnancy_a_delivery_already_closed():
    delivered = ON - timedelta(days=100)
    facts = woman(25, deliveries=(delivered,))
    old_lmp = {"care_date": ON, "lmp": (delivered - timedelta(days=200)).isoformat()}
    closed = refusal("anc", old_lmp, facts)
    assert closed is not None and (closed.code, closed.field) == ("pregnancy_closed", "lmp")
    assert closed.date == delivered and "/" in closed.message()
    by_age = refusal("anc", {"care_date": ON, "gestational_age_weeks": 30}, facts)
    assert by_age is not None and by_age.field == "gestational_age_weeks"
    # a new pregnancy after that birth, and a visit that dates nothing
    assert refusal("anc", {"care_date": ON, "gestational_age_weeks": 8}, facts) is None
    assert refusal("anc", {"care_date": ON}, facts) is None


def test_a_second_delivery_within_24_weeks_is_the_same_delivery():
    for days, ok in ((0, False), (167, False), (168, True), (-30, False), (400, True)):
        facts = woman(30, deliveries=(ON - timedelta(days=days),))
        assert ("delivery" in allowed(facts)) is ok, days
    assert "delivery" in allowed(woman(30))


def test_postnatal_for_a_newborn_up_to_day_60_the_last_day_the_6_week_contact_is_listed():
    assert PNC_DAYS_LISTED["6sem"] == 60
    assert "postnatal" in allowed(child(0))
    assert "postnatal" in allowed(child(60))
    assert "postnatal" not in allowed(child(61))
    # the 14-month-old boy of the report
    assert "postnatal" not in allowed(child(426))
    assert encounter_types_allowed(child(426), ON)["postnatal"] == "postnatal_window"


def test_postnatal_for_a_mother_up_to_day_60_after_a_birth():
    for days, ok in ((0, True), (42, True), (60, True), (61, False)):
        delivered = ON - timedelta(days=days)
        assert ("postnatal" in allowed(woman(25, deliveries=(delivered,)))) is ok, days
        # a birth elsewhere: her child registered with that birth date says it too
        assert ("postnatal" in allowed(woman(25, children_born=(delivered,)))) is ok, days
    assert "postnatal" not in allowed(woman(25))
    assert "postnatal" not in allowed(man(25))


def test_postnatal_subject_must_fit_the_record():
    newborn = {"care_date": ON, "subject": "newborn", "days_after_birth": 3}
    mother = {"care_date": ON, "subject": "mother", "days_after_birth": 3}
    recent_mother = woman(25, deliveries=(ON - timedelta(days=3),))
    assert refusal("postnatal", mother, recent_mother) is None
    wrong = refusal("postnatal", newborn, recent_mother)
    assert wrong is not None and (wrong.code, wrong.field) == ("newborn_too_old", "subject")
    assert refusal("postnatal", newborn, child(3)) is None
    wrong = refusal("postnatal", mother, child(3, "F"))
    assert wrong is not None and wrong.code == "mother_no_birth"


def test_growth_to_19_years_within_the_who_standards_and_reference():
    assert "growth" in allowed(child(0))
    assert "growth" in allowed(child(1856))
    assert "growth" in allowed(child(1857))  # WHO 2007 reference from 61 months
    assert "growth" in allowed(child(6939))  # 227.98 months
    assert "growth" not in allowed(child(6940))  # past 228 months (19 years)
    assert "growth" not in allowed(woman(25))


def test_immunization_for_children_girls_for_hpv_and_women_for_td():
    assert "immunization" in allowed(child(0))
    assert "immunization" in allowed(child(1826))
    assert "immunization" not in allowed(child(1827, "M"))
    assert "immunization" in allowed(child(14 * 365, "F"))  # HPV up to 15
    assert "immunization" in allowed(woman(30))  # Td
    assert "immunization" not in allowed(woman(56))
    assert "immunization" not in allowed(man(30))
    assert encounter_types_allowed(man(30), ON)["immunization"] == "immunization_age"


def test_each_dose_within_its_series_age_and_sex():
    def dose(antigen: str, facts: PatientFacts):
        return refusal("immunization", {"care_date": ON, "antigen": antigen, "dose": 1}, facts)

    assert dose("bcg", child(10)) is None
    assert dose("bcg", child(365)) is None
    past = dose("bcg", child(366))
    assert past is not None and (past.code, past.field) == ("antigen_past_age", "antigen")
    assert dose("rota", child(731)).code == "antigen_past_age"
    assert dose("hpv", child(10 * 365, "F")) is None
    assert dose("hpv", child(1000, "M")).code == "antigen_other_sex"
    assert dose("td", woman(20)) is None
    assert dose("td", child(12 * 365, "F")) is None
    assert dose("td", child(1000, "F")).code == "td_not_childbearing"
    # a dose given before its minimum age was still given: recorded
    assert dose("mr", child(180)) is None


def test_family_planning_10_to_55_either_sex():
    for facts in (woman(10), woman(55), man(10), man(55), man(30)):
        assert "family_planning" in allowed(facts)
    for facts in (woman(56), man(56), child(9 * 365 + 300, "F")):
        assert "family_planning" not in allowed(facts)
    assert encounter_types_allowed(woman(60), ON)["family_planning"] == "family_planning_age"


def test_family_planning_method_fits_the_sex():
    def method(name: str, facts: PatientFacts):
        return refusal("family_planning", {"care_date": ON, "method": name, "user": "new"}, facts)

    assert method("vasectomy", man(40)) is None
    assert method("vasectomy", woman(40)).code == "method_men_only"
    assert method("implant", man(40)).code == "method_women_only"
    assert method("implant", woman(40)) is None
    for either in ("condom_male", "pill_coc", "standard_days"):
        assert method(either, man(30)) is None and method(either, woman(30)) is None


def test_the_rules_are_judged_on_the_care_date_not_today():
    # an ANC recorded now for a visit she had at 54 is kept; the same date at 56 is not
    facts = woman(56)
    two_years_ago = ON - timedelta(days=2 * 365)
    assert refusal("anc", {"care_date": two_years_ago}, facts) is None
    assert refusal("anc", {"care_date": ON}, facts).code == "anc_not_childbearing"
    assert refusal("anc", {"care_date": ON.isoformat()}, facts).field == "type"


def test_age_in_completed_years():
    assert age_years(date(2016, 6, 15), ON) == 10
    assert age_years(date(2016, 6, 16), ON) == 9
    assert age_years(date(2012, 2, 29), date(2026, 2, 28)) == 13
    assert age_years(date(2012, 2, 29), date(2026, 3, 1)) == 14


def test_facts_from_a_record_leave_out_the_version_corrected_and_voided_ones():
    patient = {"sex": "F", "birth_date": "1995-03-01"}
    encounters = [
        {"id": "a", "type": "delivery", "care_date": "2026-01-10", "voided": False},
        {"id": "b", "type": "delivery", "care_date": "2025-01-10", "voided": True},
        {"id": "c", "type": "anc", "care_date": "2025-12-01", "voided": False},
    ]
    facts = PatientFacts.of(patient, encounters, [{"birth_date": "2024-02-02"}])
    assert facts.deliveries == (date(2026, 1, 10),)
    assert facts.children_born == (date(2024, 2, 2),)
    assert PatientFacts.of(patient, encounters, leave_out="a").deliveries == ()


# -- what the record shows beside the rules: exact ages, decimals in the reader's language ---
def test_an_age_typed_in_months_comes_back_as_typed():
    from appliance.domain.patient import age_in_months, estimated_birth_date
    from appliance.web.i18n import Translator
    from appliance.web.labels import age_label

    fr = Translator("fr")
    for today in (date(2026, 12, 5), date(2026, 3, 31), date(2027, 2, 28), date(2028, 2, 29)):
        for months in (2, 11, 15, 23):
            birth = estimated_birth_date(today, months=months)
            assert age_in_months(birth, today) == months, (today, months)
            assert age_label(birth.isoformat(), today, fr) == f"{months} mois"
    assert age_label("2026-11-20", date(2026, 12, 5), fr) == "15 j"
    assert age_label("2020-12-06", date(2026, 12, 5), Translator("en")) == "5 years"


def test_decimals_follow_the_language():
    from appliance.web.i18n import Translator
    from appliance.web.labels import decimal_text, value_text

    assert decimal_text(-3.56, Translator("fr"), signed=True) == "\N{MINUS SIGN}3,6"
    assert decimal_text(-3.56, Translator("en"), signed=True) == "\N{MINUS SIGN}3.6"
    assert decimal_text(0.44, Translator("fr"), signed=True) == "+0,4"
    assert value_text(38.5, Translator("fr")) == "38,5"
    assert value_text(38.5, Translator("en")) == "38.5"
    assert value_text(12, Translator("fr")) == "12"
