from datetime import date

import pytest

from appliance.domain.encounters import InvalidEncounter, validate
from appliance.domain.patient import InvalidPatient, estimated_birth_date, validate_patient

TODAY = date(2026, 10, 15)

VALID = {
    "consultation": {
        "care_date": "2026-10-14",
        "temperature_c": 38.6,
        "weight_kg": 14.2,
        "malaria_rdt": "positive",
        "diagnoses": [{"code": "malaria_confirmed", "confirmed": True}],
        "prescriptions": [
            {
                "drug": "artemether-lumefantrine 20/120",
                "dose": "1 cp",
                "times_per_day": 2,
                "days": 3,
            }
        ],
    },
    "anc": {
        "care_date": "2026-10-14",
        "lmp": "2026-06-01",
        "gravida": 3,
        "parity": 2,
        "bp_systolic": 118,
        "bp_diastolic": 76,
        "hb_g_dl": 10.5,
        "td_dose": 1,
    },
    "delivery": {"care_date": "2026-10-14", "mode": "vaginal", "birth_weight_g": 3100},
    "postnatal": {"care_date": "2026-10-14", "subject": "newborn", "days_after_birth": 3},
    "immunization": {"care_date": "2026-10-14", "antigen": "penta", "dose": 1},
    "growth": {
        "care_date": "2026-10-14",
        "weight_kg": 8.1,
        "height_cm": 70.2,
        "measured": "lying",
        "muac_mm": 131,
    },
    "family_planning": {"care_date": "2026-10-14", "method": "injectable_dmpa_sc", "user": "new"},
    "chronic": {
        "care_date": "2026-10-14",
        "condition": "hypertension",
        "bp_systolic": 162,
        "bp_diastolic": 98,
        "next_visit": "2026-11-14",
    },
}


@pytest.mark.parametrize("kind", VALID)
def test_each_type_accepts_a_valid_encounter(kind):
    model = validate(kind, VALID[kind], today=TODAY)
    assert model.care_date == date(2026, 10, 14)


def _problems(kind, data, **kw):
    with pytest.raises(InvalidEncounter) as e:
        validate(kind, data, today=TODAY, **kw)
    return e.value.problems


def test_a_weight_of_300_kg_is_refused_naming_the_field():
    problems = _problems("consultation", {**VALID["consultation"], "weight_kg": 300})
    assert problems[0][0] == "weight_kg"
    assert "300" in problems[0][1] and "kg" in problems[0][1]


def test_grams_typed_as_kilograms_for_a_child_are_refused():
    problems = _problems("growth", {**VALID["growth"], "weight_kg": 8100})
    assert problems[0][0] == "weight_kg"


def test_a_future_care_date_is_refused():
    problems = _problems("immunization", {**VALID["immunization"], "care_date": "2026-10-16"})
    assert "future" in problems[0][1]


def test_care_before_birth_is_refused():
    problems = _problems("immunization", VALID["immunization"], birth_date=date(2026, 10, 15))
    assert "before the birth date" in problems[0][1]


def test_unknown_fields_are_refused_not_silently_dropped():
    problems = _problems("growth", {**VALID["growth"], "wieght_kg": 8})
    assert problems[0][0] == "wieght_kg"


def test_blood_pressure_needs_both_numbers_in_order():
    assert "both" in _problems("chronic", {**VALID["chronic"], "bp_diastolic": None})[0][1]
    assert "lower" in _problems("chronic", {**VALID["chronic"], "bp_diastolic": 170})[0][1]


def test_growth_needs_a_measure():
    assert "at least one" in _problems("growth", {"care_date": "2026-10-14"})[0][1]


def test_consultation_needs_a_diagnosis():
    data = {k: v for k, v in VALID["consultation"].items() if k != "diagnoses"}
    assert _problems("consultation", data)[0][0] == "diagnoses"


def test_anc_parity_must_be_below_gravida():
    assert "parity" in _problems("anc", {**VALID["anc"], "parity": 3})[0][1]


def test_anc_lmp_must_be_plausible():
    assert "lmp" in _problems("anc", {**VALID["anc"], "lmp": "2025-01-01"})[0][1]


def test_unknown_type_is_named():
    assert "unknown encounter type" in _problems("surgery", {})[0][1]


def test_patient_with_age_gets_an_estimated_birth_date():
    p = validate_patient(
        {"family_name": "Diarra", "given_names": "Oumar", "sex": "m", "age_years": 30}, today=TODAY
    )
    assert p.birth_date == date(1996, 10, 15) and p.birth_date_estimated and p.sex == "M"


def test_estimated_birth_date_handles_month_ends():
    assert estimated_birth_date(date(2026, 3, 31), months=1) == date(2026, 2, 1)


@pytest.mark.parametrize(
    "data,field",
    [
        ({"birth_date": "2027-01-01"}, "future"),
        ({"birth_date": "1890-01-01"}, "years ago"),
        ({"phone": "1234"}, "phone"),
        ({"family_name": "Tr4oré"}, "letters"),
        ({"sex": "X"}, "sex"),
    ],
)
def test_patient_bad_input_is_explained(data, field):
    base = {"family_name": "Keïta", "given_names": "Awa", "sex": "F", "birth_date": "1990-01-01"}
    with pytest.raises(InvalidPatient) as e:
        validate_patient({**base, **data}, today=TODAY)
    assert field in str(e.value)
    assert "{" not in str(e.value)  # every placeholder of the message was filled


def test_the_refused_value_is_quoted_in_the_message():
    with pytest.raises(InvalidPatient, match="'Tr4oré' must be letters"):
        validate_patient(
            {"family_name": "Tr4oré", "given_names": "Awa", "sex": "F", "birth_date": "1990-01-01"},
            today=TODAY,
        )


def test_phone_is_normalised():
    p = validate_patient(
        {
            "family_name": "Keïta",
            "given_names": "Awa",
            "sex": "F",
            "birth_date": "1990-01-01",
            "phone": "00223 76 12 34 56",
        },
        today=TODAY,
    )
    assert p.phone == "+22376123456"
