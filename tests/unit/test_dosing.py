"""Dose suggestions: weight bands at their edges, age limits, refusals, and the mapping from
diagnosis to suggestions."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.clinical import dosing as ds

# Ages (days) at which the weights below are plausible (WHO weight-for-age within +/-5 z).
INFANT, TODDLER, CHILD_3Y, CHILD_8Y, CHILD_12Y, ADULT = 120, 1100, 1278, 2922, 4383, 10_000


# -- artemether-lumefantrine -------------------------------------------------------------------


@pytest.mark.parametrize(
    "weight, age, tablets",
    [
        (5.0, INFANT, 1),
        (14.9, TODDLER, 1),
        (15.0, TODDLER, 2),
        (24.9, CHILD_8Y, 2),
        (25.0, CHILD_8Y, 3),
        (34.9, CHILD_12Y, 3),
        (35.0, CHILD_12Y, 4),
        (70.0, ADULT, 4),
    ],
)
def test_al_weight_bands(weight, age, tablets):
    s = ds.artemether_lumefantrine(weight, age)
    assert s.dose.startswith(f"{tablets} comprimé")
    assert f"({20 * tablets}/{120 * tablets} mg)" in s.dose
    assert (s.times_per_day, s.days, s.quantity) == (2, 3, 6 * tablets)
    assert "8 heures" in s.note
    assert "malaria" in s.source


# WHO 2015: infants under 5 kg get an ACT at the same mg/kg as a 5 kg child (1 tablet / 5 kg)
@pytest.mark.parametrize(
    "weight, age, dose, quantity",
    [
        (5.0, INFANT, "1 comprimé par prise (20/120 mg)", 6),
        (4.9, INFANT, "¾ comprimé par prise (15/90 mg)", 5),  # 0.98 tablet, rounded down
        (3.75, 70, "¾ comprimé par prise (15/90 mg)", 5),
        (3.7, 70, "½ comprimé par prise (10/60 mg)", 3),
    ],
)
def test_al_under_5_kg_same_mg_per_kg_as_5_kg(weight, age, dose, quantity):
    s = ds.artemether_lumefantrine(weight, age)
    assert s.dose == dose and s.quantity == quantity and (s.times_per_day, s.days) == (2, 3)
    under = weight < 5.0
    assert ("même dose par kg qu'un enfant de 5 kg" in s.note) == under
    assert ("< 5 kg" in s.source) == under and "2015" in s.source
    artemether_mg = int(s.dose.split("(")[1].split("/")[0])
    assert artemether_mg / weight <= 20 / 5.0  # never more per kg than a 5 kg child gets


def test_al_young_infant_is_referred_whatever_the_weight():
    for weight in (4.9, 5.0):
        with pytest.raises(ds.DosingRefused) as e:
            ds.artemether_lumefantrine(weight, 60)
        assert e.value.code == "young_infant"
        assert "référer" in str(e.value) and "refer" in str(e.value)
    assert ds.artemether_lumefantrine(4.9, 61).quantity == 5


# -- amoxicillin --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "weight, age, tablets",
    [
        (4.0, 61, 1),
        (9.9, 335, 1),
        (10.0, 400, 2),
        (13.9, 731, 2),
        (14.0, CHILD_3Y, 3),
        (19.0, CHILD_3Y, 3),
    ],
)
def test_amoxicillin_imci_bands(weight, age, tablets):
    s = ds.amoxicillin_pneumonia(weight, age)
    assert s.dose.startswith(f"{tablets} comprimé") and f"({250 * tablets} mg)" in s.dose
    assert (s.times_per_day, s.days, s.quantity) == (2, 5, 10 * tablets)
    assert "PCIME" in s.source and "2014" in s.source


def test_amoxicillin_above_the_table_says_so():
    s = ds.amoxicillin_pneumonia(21.0, 1700)
    assert s.dose.startswith("3 comprimés") and "au-delà du tableau" in s.note


@pytest.mark.parametrize(
    "weight, age, code",
    [
        (5.0, 60, "young_infant"),
        (3.9, 61, "below_band"),
        (18.0, 1827, "outside_table"),
    ],
)
def test_amoxicillin_refusals(weight, age, code):
    with pytest.raises(ds.DosingRefused) as e:
        ds.amoxicillin_pneumonia(weight, age)
    assert e.value.code == code


def test_amoxicillin_last_day_under_five_is_in_the_table():
    assert ds.amoxicillin_pneumonia(18.0, 1826).dose.startswith("3 comprimés")


# -- paracetamol --------------------------------------------------------------------------------


def mg_of(s: ds.Suggestion) -> float:
    return float(s.dose.split("(")[-1].split(" mg")[0])


@pytest.mark.parametrize(
    "weight, age, drug, dose",
    [
        (7.0, 200, "Paracétamol 100 mg, comprimé", "1 comprimé à 100 mg par prise (100 mg)"),
        (10.0, 400, "Paracétamol 500 mg, comprimé", "¼ comprimé à 500 mg par prise (125 mg)"),
        (5.0, INFANT, "Paracétamol sirop 120 mg/5 mL", "2,5 mL de sirop à 120 mg/5 mL par prise"),
        (60.0, ADULT, "Paracétamol 500 mg, comprimé", "1½ comprimé à 500 mg par prise (750 mg)"),
        (100.0, ADULT, "Paracétamol 500 mg, comprimé", "2 comprimés à 500 mg par prise (1000 mg)"),
    ],
)
def test_paracetamol_practical_forms(weight, age, drug, dose):
    s = ds.paracetamol(weight, age)
    assert s.drug == drug and s.dose.startswith(dose)
    assert (s.times_per_day, s.days) == (4, 3)


def test_paracetamol_amounts_leave_no_gap():
    # successive measurable amounts at most 1.5x apart: some amount fits 10-15 mg/kg
    amounts = {n * mg for _, _, _, mg, ns in ds._PARA_FORMS for n in ns}
    amounts = sorted(amounts | {ml * 24 for ml in ds._SYRINGE_ML})
    assert all(b <= 1.5 * a for a, b in pairwise(amounts))
    assert 10 * 4.0 <= amounts[0] <= 15 * 4.0  # from 4 kg
    assert amounts[-1] == 1000  # the adult maximum


def test_paracetamol_infant_between_60_and_100_mg():
    s = ds.paracetamol(6.5, INFANT)
    assert s.dose.startswith("3 mL de sirop") and "seringue orale" in s.note


def test_paracetamol_quantity_counts_whole_tablets():
    assert ds.paracetamol(10.0, 400).quantity == 3  # 1/4 tablet x 4 a day x 3 days
    assert ds.paracetamol(60.0, ADULT).quantity == 18
    assert ds.paracetamol(5.0, INFANT).quantity is None  # syrup: a bottle, not counted


def test_paracetamol_lists_other_forms():
    s = ds.paracetamol(10.0, 400)
    assert "1 comprimé à 100 mg" in s.note and "5 mL de sirop" in s.note


@given(st.floats(min_value=25.0, max_value=150.0))
def test_paracetamol_adult_dose_within_range(weight):
    mg = mg_of(ds.paracetamol(weight, ADULT))
    assert min(10 * weight, 1000) - 1e-6 <= mg <= min(15 * weight, 1000) + 1e-6


@given(st.floats(min_value=4.0, max_value=25.0))
def test_paracetamol_child_dose_within_range(weight):
    # an age at which the weight is plausible (WHO weight-for-age, or the bounds from 5 years)
    age = INFANT if weight < 6 else 365 if weight < 10 else TODDLER if weight < 18 else CHILD_8Y
    mg = mg_of(ds.paracetamol(weight, age))
    assert 10 * weight - 1e-6 <= mg <= 15 * weight + 1e-6


def test_paracetamol_young_infant_refers():
    with pytest.raises(ds.DosingRefused) as e:
        ds.paracetamol(4.0, 60)
    assert e.value.code == "young_infant"


def test_paracetamol_no_measurable_amount():
    # 3 kg at 3 months: plausible (if very thin), but 30-45 mg fits no form
    with pytest.raises(ds.DosingRefused) as e:
        ds.paracetamol(3.0, 91)
    assert e.value.code == "no_practical_dose"


# -- ORS and zinc ------------------------------------------------------------------------------


@pytest.mark.parametrize("age, mg, quantity", [(182, 10, 5), (183, 20, 10)])
def test_zinc_by_age(age, mg, quantity):
    ors, zinc = ds.ors_zinc(age)
    assert f"({mg} mg)" in zinc.dose
    assert (zinc.times_per_day, zinc.days, zinc.quantity) == (1, 10, quantity)
    assert "2004" in zinc.source


@pytest.mark.parametrize(
    "age, volume",
    [(730, "50 à 100 mL"), (731, "100 à 200 mL"), (3652, "100 à 200 mL"), (3653, "autant")],
)
def test_ors_plan_a_volume(age, volume):
    ors = ds.ors_zinc(age)[0]
    assert ors.dose.startswith(volume) and ors.quantity == 2 and ors.times_per_day is None


def test_no_zinc_from_five_years():
    assert len(ds.ors_zinc(1826)) == 2
    assert [s.drug for s in ds.ors_zinc(1827)] == [ds.ors_zinc(1827)[0].drug]


# -- refusals -----------------------------------------------------------------------------------

WEIGHT_BASED = (ds.artemether_lumefantrine, ds.amoxicillin_pneumonia, ds.paracetamol)


@pytest.mark.parametrize("fn", WEIGHT_BASED)
def test_missing_weight_refused(fn):
    with pytest.raises(ds.DosingRefused) as e:
        fn(None, 400)
    assert e.value.code == "weight_missing"
    assert "Poids manquant" in str(e.value) and "Weight missing" in str(e.value)


@pytest.mark.parametrize("fn", WEIGHT_BASED)
@pytest.mark.parametrize(
    "weight, age",
    [(300.0, ADULT), (40.0, 730), (0.0, 400), (-5.0, 400), (float("nan"), 400), (1.0, 400)],
)
def test_implausible_weight_refused(fn, weight, age):
    with pytest.raises(ds.DosingRefused) as e:
        fn(weight, age)
    assert e.value.code == "weight_implausible"
    assert "invraisemblable" in str(e.value) and "implausible" in str(e.value)


def test_refusal_is_a_value_error():
    assert issubclass(ds.DosingRefused, ValueError)


@pytest.mark.parametrize(
    "weight, age, ok",
    [
        (12.0, 2000, True),  # 5-10 years: 10-80 kg
        (9.0, 2000, False),
        (81.0, 2000, False),
        (120.0, 4000, True),  # 10-15 years: 15-150 kg
        (160.0, 4000, False),
        (24.0, ADULT, False),  # from 15 years: 25-250 kg
        (250.0, ADULT, True),
    ],
)
def test_bounds_beyond_five_years(weight, age, ok):
    if ok:
        assert ds.check_weight(weight, age) == weight
    else:
        with pytest.raises(ds.DosingRefused):
            ds.check_weight(weight, age)


def test_sex_narrows_the_check():
    # 3 kg at 3 months is below -5 z for a boy, above it for a girl
    assert ds.check_weight(3.0, 91, "F") == 3.0
    with pytest.raises(ds.DosingRefused):
        ds.check_weight(3.0, 91, "M")


def test_missing_age_refused():
    with pytest.raises(ds.DosingRefused) as e:
        ds.check_weight(10.0, None)
    assert e.value.code == "age_missing"
    with pytest.raises(ds.DosingRefused):
        ds.ors_zinc(-1)


# -- suggest ------------------------------------------------------------------------------------


def test_suggest_malaria_confirmed_gives_al():
    (s,) = ds.suggest("malaria_confirmed", 12.0, TODDLER)
    assert s.drug.startswith("Artéméther-luméfantrine")


def test_suggest_malaria_suspected_gives_a_test_not_al():
    got = ds.suggest("malaria_suspected", 12.0, TODDLER)
    assert [s.drug for s in got] == ["TDR paludisme (test de diagnostic rapide)"]
    # no weight needed to ask for a test
    assert ds.suggest("malaria_suspected", None, TODDLER) == got


def test_suggest_pneumonia_diarrhoea_fever():
    assert ds.suggest("pneumonia", 12.0, TODDLER)[0].drug.startswith("Amoxicilline")
    assert [s.drug.split()[0] for s in ds.suggest("diarrhoea", None, 400)] == ["SRO", "Zinc"]
    assert ds.suggest("fever", 12.0, TODDLER)[0].drug.startswith("Paracétamol")


def test_suggest_unknown_diagnosis_gives_nothing():
    assert ds.suggest("measles", 12.0, TODDLER) == []


def test_suggest_propagates_refusal():
    with pytest.raises(ds.DosingRefused):
        ds.suggest("pneumonia", None, TODDLER)


def test_suggestion_json():
    s = ds.artemether_lumefantrine(15.0, TODDLER)
    assert set(s.to_json()) == {
        "drug",
        "dose",
        "times_per_day",
        "days",
        "quantity",
        "note",
        "source",
    }
    json.dumps([x.to_json() for x in ds.ors_zinc(400)])
