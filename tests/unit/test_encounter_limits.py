"""Limits on what one encounter or registration may hold: the text checker that runs before
any JSON parsing, the list and string lengths of the models, the care date's bounds."""

from __future__ import annotations

import json
from datetime import date

import pytest

from appliance.domain import limits
from appliance.domain.encounters import (
    ANC_DANGER_SIGNS,
    IMCI_DANGER_SIGNS,
    MAX_DIAGNOSES,
    MAX_MEDICINES,
    InvalidEncounter,
    validate,
)
from appliance.domain.patient import InvalidPatient, validate_patient
from appliance.web.forms import explain
from appliance.web.i18n import Translator

TODAY = date(2026, 10, 15)
FR = Translator("fr")


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- the text checker ---------------------------------------------------------------------------
def test_sixty_thousand_brackets_are_refused_before_parsing():
    text = nested(60_000)
    with pytest.raises(limits.DataTooLarge):  # 120 kB: the length is checked first
        limits.loads(text)
    with pytest.raises(limits.DataTooDeep):  # even when the size is allowed: no RecursionError
        limits.loads(text, max_bytes=10**6)


def test_depth_eight_passes_and_nine_is_refused():
    assert limits.loads(nested(8)) == [[[[[[[[]]]]]]]]
    with pytest.raises(limits.DataTooDeep):
        limits.loads(nested(9))
    assert limits.text_depth(nested(50), stop_above=8) == 9  # stops counting past the limit


@pytest.mark.parametrize(
    "text, depth",
    [
        ('{"notes": "[[[[[[[[[[[[ {{{{"}', 1),  # brackets inside strings do not count
        ('{"notes": "a \\" [[[[[[[[[[["}', 1),  # nor after an escaped quote
        ('{"notes": "\\\\", "x": [[[1]]]}', 4),  # an escaped backslash ends before the quote
        ('{"diagnoses": [{"code": "pneumonia"}]}', 3),
        ("42", 0),
    ],
)
def test_text_depth_skips_strings(text, depth):
    assert limits.text_depth(text, stop_above=8) == depth
    assert limits.value_depth(json.loads(text), stop_above=8) == depth


def test_bytes_and_multibyte_text_are_measured_in_bytes():
    text = json.dumps({"notes": "é" * 40_000}, ensure_ascii=False)  # 80 kB in UTF-8
    assert len(text) < limits.MAX_ENCOUNTER_BYTES
    with pytest.raises(limits.DataTooLarge):
        limits.check_text(text)
    with pytest.raises(limits.DataTooLarge):
        limits.check_text(text.encode())


def test_parsed_data_has_the_same_limits():
    deep: list = []
    for _ in range(20):
        deep = [deep]
    with pytest.raises(limits.DataTooDeep):
        limits.check_data({"notes": deep})
    with pytest.raises(limits.DataTooLarge):
        limits.check_data({"diagnoses": [{"code": "malaria_confirmed"}] * 500_000})
    limits.check_data({"care_date": "2026-10-14", "diagnoses": [{"code": "pneumonia"}]})


def test_limit_errors_are_invalid_encounters_explained_in_french():
    with pytest.raises(InvalidEncounter) as large:
        limits.check_text("x" * 70_000)
    assert explain(large.value.details, FR) == {"": ["Trop de données (au plus 64 Ko)."]}
    with pytest.raises(InvalidEncounter) as deep:
        limits.check_text(nested(12))
    assert explain(deep.value.details, FR) == {
        "": ["Données imbriquées trop profondément (au plus 8 niveaux)."]
    }


# -- the models' lengths ------------------------------------------------------------------------
CONSULTATION = {"care_date": "2026-10-14", "diagnoses": [{"code": "malaria_confirmed"}]}
PRESCRIPTION = {"drug": "paracétamol", "dose": "500 mg", "times_per_day": 3, "days": 3}


@pytest.mark.parametrize(
    "kind, base, field, item, most",
    [
        ("consultation", CONSULTATION, "diagnoses", {"code": "pneumonia"}, MAX_DIAGNOSES),
        ("consultation", CONSULTATION, "prescriptions", PRESCRIPTION, MAX_MEDICINES),
        ("consultation", CONSULTATION, "complaints", "fièvre", 20),
        ("chronic", {"care_date": "2026-10-14", "condition": "hiv"}, "treatment", PRESCRIPTION, 30),
        (
            "postnatal",
            {"care_date": "2026-10-14", "subject": "mother", "days_after_birth": 3},
            "danger_signs",
            "saignement",
            20,
        ),
    ],
)
def test_lists_have_a_clinical_maximum(kind, base, field, item, most):
    validate(kind, {**base, field: [item] * most}, today=TODAY)
    with pytest.raises(InvalidEncounter) as e:
        validate(kind, {**base, field: [item] * (most + 1)}, today=TODAY)
    assert [d["type"] for d in e.value.details] == ["too_long"]
    assert explain(e.value.details, FR) == {field: [f"Trop de lignes (au plus {most})."]}


def test_danger_signs_are_at_most_the_signs_there_are():
    data = {**CONSULTATION, "danger_signs": list(IMCI_DANGER_SIGNS)}
    validate("consultation", data, today=TODAY)
    with pytest.raises(InvalidEncounter, match="danger_signs"):
        validate(
            "consultation", {**data, "danger_signs": [*IMCI_DANGER_SIGNS, "lethargic"]}, today=TODAY
        )
    anc = {"care_date": "2026-10-14", "danger_signs": [*ANC_DANGER_SIGNS, "fever"]}
    with pytest.raises(InvalidEncounter, match="danger_signs"):
        validate("anc", anc, today=TODAY)


def test_a_delivery_links_a_child_by_id_not_by_a_novel():
    data = {"care_date": "2026-10-14", "child_id": "x" * 41}
    with pytest.raises(InvalidEncounter, match="child_id"):
        validate("delivery", data, today=TODAY)


@pytest.mark.parametrize(
    "field, value", [("phone", "7" * 31), ("mother_id", "m" * 41), ("village", "v" * 81)]
)
def test_registration_strings_have_a_maximum(field, value):
    data = {"family_name": "Sow", "given_names": "Awa", "sex": "F", "birth_date": "2001-01-01"}
    with pytest.raises(InvalidPatient) as e:
        validate_patient({**data, field: value}, today=TODAY)
    assert e.value.problems[0][0] == field


# -- the care date ------------------------------------------------------------------------------
def test_a_care_date_before_2000_is_refused_beside_the_field():
    with pytest.raises(InvalidEncounter) as e:
        validate("consultation", {**CONSULTATION, "care_date": "1999-12-31"}, today=TODAY)
    assert explain(e.value.details, FR) == {
        "care_date": ["Cette date est trop ancienne (au plus tôt le 01/01/2000) : vérifiez-la."]
    }
    validate("consultation", {**CONSULTATION, "care_date": "2000-01-01"}, today=TODAY)
    with pytest.raises(InvalidEncounter, match="before 2000"):  # with no clock to compare too
        validate("consultation", {**CONSULTATION, "care_date": "1970-01-02"}, today=None)


def test_future_care_dates_with_and_without_leeway():
    tomorrow = {**CONSULTATION, "care_date": "2026-10-16"}
    with pytest.raises(InvalidEncounter, match="future"):
        validate("consultation", tomorrow, today=TODAY)
    validate("consultation", tomorrow, today=TODAY, future_days=1)
    with pytest.raises(InvalidEncounter, match="future"):
        validate(
            "consultation", {**tomorrow, "care_date": "2026-10-17"}, today=TODAY, future_days=1
        )
    # no today (a clock that cannot be believed): only the floor applies
    validate("consultation", {**tomorrow, "care_date": "2027-01-01"}, today=None)
