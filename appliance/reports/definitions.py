"""The monthly activity report's indicators, each defined in one place.

Every value of the report is keyed by (indicator code, disaggregation) and counts only the
current (non-superseded), non-voided encounters whose care date falls in the month. Ages are
computed at the date of each visit, in completed months.
"""

from __future__ import annotations

from dataclasses import dataclass

# Consultation age groups: (label, from months inclusive, to months exclusive or None).
# The groups of Mali's SLIS monthly curative report; a district using others edits this tuple.
AGE_GROUPS: tuple[tuple[str, int, int | None], ...] = (
    ("0-11m", 0, 12),
    ("1-4y", 12, 60),
    ("5-14y", 60, 180),
    ("15-24y", 180, 300),
    ("25-49y", 300, 600),
    ("50+y", 600, None),
)
# Immunization age groups: doses given before and after the first birthday (WHO/UNICEF
# coverage counts doses to under-ones; doses in the second year are catch-up).
IMMUNIZATION_AGE_GROUPS: tuple[tuple[str, int, int | None], ...] = (
    ("0-11m", 0, 12),
    ("12-23m", 12, 24),
)
UNDER_FIVE_MONTHS = 60
# New acute malnutrition case: no visit with the same status in the 60 days before.
NEW_CASE_LOOKBACK_DAYS = 60
# Consultations (and their diagnoses) are split into new cases and returning visits.
CASES = ("new", "returning")
REFERRAL_SOURCES = ("consultation", "anc", "delivery", "postnatal")


@dataclass(frozen=True)
class Indicator:
    code: str
    label: str  # French, as printed on the report
    dimensions: tuple[str, ...]  # the disaggregation keys, in print order
    definition: str


INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "CONSULT",
        "Consultations curatives",
        ("case", "sex", "age"),
        "Consultation encounters, new cases (new_case true) and returning visits, by sex and "
        "age group at the visit.",
    ),
    Indicator(
        "DIAG",
        "Diagnostics",
        ("diagnosis", "sex", "age"),
        "Each diagnosis code of each consultation (a consultation with two diagnoses counts "
        "once under each), by sex and age group at the visit.",
    ),
    Indicator(
        "ANC1",
        "CPN1 (premier contact)",
        (),
        "ANC encounters with contact_number 1.",
    ),
    Indicator(
        "ANC4",
        "CPN4 et plus",
        (),
        "Women with at least one ANC encounter with contact_number >= 4 in the month, each "
        "woman once.",
    ),
    Indicator(
        "ANC8",
        "CPN8 et plus",
        (),
        "Women with at least one ANC encounter with contact_number >= 8 in the month, each "
        "woman once (WHO 2016 ANC model: eight contacts).",
    ),
    Indicator(
        "DELIV_SKILLED",
        "Accouchements assistés par du personnel qualifié",
        (),
        "Delivery encounters with skilled_attendant true, wherever they took place.",
    ),
    Indicator(
        "DELIV_FACILITY",
        "Accouchements au centre",
        (),
        "Delivery encounters with place 'facility'.",
    ),
    Indicator(
        "PNC",
        "Consultations postnatales",
        ("subject",),
        "Postnatal encounters, by subject (mother or newborn).",
    ),
    Indicator(
        "IMM",
        "Vaccinations",
        ("antigen", "dose", "age"),
        "Immunization encounters (doses given) by antigen and dose number, for children aged "
        "0-11 and 12-23 months at the visit; older patients (Td, HPV) are not in this table.",
    ),
    Indicator(
        "FIC",
        "Enfants complètement vaccinés",
        ("sex",),
        "Children whose first birthday falls in the month and who received, before it, every "
        "dose of the 'fully immunized child' list (WHO/UNICEF indicator: BCG, DTP-containing "
        "vaccine 3 doses, polio 3 doses, first measles-containing dose, before 12 months; "
        "extended with PCV3 and the last rotavirus dose; the list is "
        "appliance/clinical/data/epi_schedule.json). Doses given at any date before the "
        "birthday count, not only those of the month.",
    ),
    Indicator(
        "WEIGHED",
        "Enfants de 0-59 mois pesés",
        ("sex",),
        "Distinct children aged 0-59 months at the visit with a growth encounter recording a "
        "weight in the month.",
    ),
    Indicator(
        "MAM_NEW",
        "Nouveaux cas de MAM",
        ("sex",),
        "Distinct children 0-59 months with a growth encounter classified MAM in the month "
        "(WHO 2009/2013 criteria, appliance.clinical.growth.nutrition_status) whose first MAM "
        "visit of the month had no MAM visit in the 60 days before it.",
    ),
    Indicator(
        "SAM_NEW",
        "Nouveaux cas de MAS",
        ("sex",),
        "As MAM_NEW for SAM. A child moving from MAM to SAM is a new SAM case (an admission "
        "to the outpatient therapeutic programme), so one child may count in both.",
    ),
    Indicator(
        "FP",
        "Utilisatrices de planification familiale",
        ("method", "user"),
        "Distinct patients with a family-planning encounter in the month, by method and "
        "new or continuing user; removal visits (implant or IUD taken out) are not users.",
    ),
    Indicator(
        "CHRONIC",
        "Malades chroniques suivis",
        ("condition",),
        "Distinct patients with a chronic-care encounter in the month, by condition.",
    ),
    Indicator(
        "REFERRAL",
        "Références",
        ("source",),
        "Consultation, ANC, delivery and postnatal encounters carrying a referral, by type.",
    ),
)
BY_CODE = {i.code: i for i in INDICATORS}
# Every disaggregation key, in the order of CSV columns.
DIMENSIONS: tuple[str, ...] = tuple(dict.fromkeys(d for i in INDICATORS for d in i.dimensions))


def age_group(months: int, groups: tuple[tuple[str, int, int | None], ...]) -> str | None:
    for label, lo, hi in groups:
        if months >= lo and (hi is None or months < hi):
            return label
    return None
