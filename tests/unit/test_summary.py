"""Which forms a record offers."""

import pytest


@pytest.mark.parametrize(
    ("sex", "age_days", "offered", "not_offered"),
    [
        ("F", 3 * 365, {"growth", "immunization", "consultation"}, {"anc", "family_planning"}),
        ("F", 24 * 365, {"anc", "delivery", "family_planning"}, {"growth"}),
        ("M", 30 * 365, {"family_planning", "chronic"}, {"anc", "delivery", "growth"}),
        ("F", 70 * 365, {"consultation", "chronic"}, {"anc"}),
        ("M", 10, {"growth", "postnatal", "immunization"}, {"anc", "family_planning"}),
    ],
)
def test_forms_offered_suit_the_patient(sex, age_days, offered, not_offered):
    from appliance.clinical.summary import suitable_kinds

    kinds = suitable_kinds({"sex": sex, "age_days": age_days})
    assert offered <= kinds and not (not_offered & kinds)
