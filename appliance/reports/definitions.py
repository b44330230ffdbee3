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
# How a patient referred to the CSRéf travelled: an evacuation (the district's ambulance or a
# moto-ambulance) or a referral by other means. Each referral is in exactly one, so the two
# are the options of one DHIS2 category and add up to the referrals of a reason.
REFERRAL_TRANSFERS = ("referral", "evacuation")


@dataclass(frozen=True)
class Indicator:
    code: str
    label: str  # French, as printed on the report
    dimensions: tuple[str, ...]  # the disaggregation keys, in print order
    definition: str  # the counting rule, in French (the report's definitions page)
    label_en: str = ""
    definition_en: str = ""

    def label_in(self, lang: str) -> str:
        return self.label_en if lang == "en" and self.label_en else self.label

    def definition_in(self, lang: str) -> str:
        return self.definition_en if lang == "en" and self.definition_en else self.definition


# A pregnancy's antenatal contacts: contact numbers restart at 1 with each pregnancy, and a
# pregnancy lasts at most 44 weeks (the ANC form refuses an LMP older than that).
PREGNANCY_MAX_DAYS = 44 * 7

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "CONSULT",
        "Consultations curatives",
        ("case", "sex", "age"),
        "Consultations curatives du mois, nouveaux cas et anciens cas (revus pour la même "
        "maladie), par sexe et par tranche d'âge le jour de la visite.",
        "Outpatient consultations",
        "Consultation encounters of the month, new cases and returning visits, by sex and "
        "age group at the visit.",
    ),
    Indicator(
        "DIAG",
        "Diagnostics",
        ("diagnosis", "sex", "age"),
        "Chaque diagnostic de chaque consultation curative (une consultation à deux "
        "diagnostics compte une fois sous chacun), par sexe et tranche d'âge le jour de la "
        "visite.",
        "Diagnoses",
        "Each diagnosis of each consultation (a consultation with two diagnoses counts once "
        "under each), by sex and age group at the visit.",
    ),
    Indicator(
        "ANC1",
        "CPN1 (premier contact)",
        (),
        "Contacts prénatals enregistrés comme 1er contact de la grossesse.",
        "ANC1 (first contact)",
        "Antenatal contacts recorded as the pregnancy's first contact.",
    ),
    Indicator(
        "ANC4",
        "CPN4 (4e contact)",
        (),
        "Grossesses ayant eu leur 4e contact prénatal dans le mois : chaque grossesse compte "
        "une seule fois, le mois de son premier contact numéroté 4 ou plus ; les contacts "
        "suivants (5e, 6e, etc.) ne la comptent plus. Une nouvelle grossesse commence quand la "
        "numérotation des contacts repart plus bas ou 44 semaines après le premier contact.",
        "ANC4 (4th contact)",
        "Pregnancies whose 4th antenatal contact falls in the month: each pregnancy counts "
        "once, in the month of its first contact numbered 4 or more; later contacts (5th, "
        "6th, etc.) do not count it again. A new pregnancy starts when the contact numbering goes "
        "back down or 44 weeks after its first contact.",
    ),
    Indicator(
        "ANC8",
        "CPN8 (8e contact)",
        (),
        "Comme CPN4 pour le 8e contact (modèle OMS 2016 de soins prénatals : huit contacts).",
        "ANC8 (8th contact)",
        "As ANC4 for the 8th contact (WHO 2016 antenatal care model: eight contacts).",
    ),
    Indicator(
        "IPTP1",
        "TPI1 (1re dose de SP)",
        (),
        "Grossesses ayant reçu la 1re dose de traitement préventif intermittent à la "
        "sulfadoxine-pyriméthamine (SP) lors d'une CPN du mois, chaque grossesse une fois "
        "(OMS, politique TPIp-SP 2012-2014 ; recommandations OMS 2016 sur les soins "
        "prénatals).",
        "IPTp1 (1st SP dose)",
        "Pregnancies given the 1st dose of intermittent preventive treatment with "
        "sulfadoxine-pyrimethamine (SP) at an antenatal contact of the month, each pregnancy "
        "once (WHO IPTp-SP policy 2012-2014; WHO 2016 ANC recommendations).",
    ),
    Indicator(
        "IPTP2",
        "TPI2 (2e dose de SP)",
        (),
        "Comme TPI1 pour la 2e dose de SP.",
        "IPTp2 (2nd SP dose)",
        "As IPTp1 for the 2nd SP dose.",
    ),
    Indicator(
        "IPTP3",
        "TPI3 et plus (3e dose de SP ou au-delà)",
        (),
        "Grossesses ayant atteint 3 doses de SP dans le mois : chaque grossesse compte une "
        "fois, le mois de sa première dose numérotée 3 ou plus (les doses 4, 5, 6 ne la "
        "comptent plus).",
        "IPTp3+ (3rd SP dose or more)",
        "Pregnancies reaching 3 SP doses in the month: each pregnancy counts once, in the "
        "month of its first dose numbered 3 or more (doses 4, 5, 6 do not count it again).",
    ),
    Indicator(
        "DELIV_SKILLED",
        "Accouchements assistés par du personnel qualifié",
        (),
        "Accouchements assistés par du personnel qualifié, où qu'ils aient eu lieu.",
        "Deliveries with a skilled attendant",
        "Delivery encounters with a skilled attendant, wherever they took place.",
    ),
    Indicator(
        "DELIV_FACILITY",
        "Accouchements au centre",
        (),
        "Accouchements ayant eu lieu au centre de santé.",
        "Deliveries in the facility",
        "Delivery encounters that took place in the facility.",
    ),
    Indicator(
        "PNC",
        "Consultations postnatales",
        ("subject",),
        "Consultations postnatales, pour la mère ou pour le nouveau-né.",
        "Postnatal consultations",
        "Postnatal encounters, by subject (mother or newborn).",
    ),
    Indicator(
        "IMM",
        "Vaccinations",
        ("antigen", "dose", "age"),
        "Doses de vaccin données, par vaccin et numéro de dose, aux enfants de 0-11 et "
        "12-23 mois le jour de la vaccination ; les personnes plus âgées (Td, VPH) ne sont pas "
        "dans ce tableau.",
        "Immunizations",
        "Vaccine doses given, by antigen and dose number, to children aged 0-11 and 12-23 "
        "months at the visit; older patients (Td, HPV) are not in this table.",
    ),
    Indicator(
        "FIC",
        "Enfants complètement vaccinés",
        ("sex",),
        "Enfants dont le premier anniversaire tombe dans le mois et qui ont reçu avant lui "
        "toutes les doses de la liste « enfant complètement vacciné » (indicateur OMS/UNICEF : "
        "BCG, 3 doses de vaccin contenant le DTC, 3 doses de polio, 1re dose de vaccin contre "
        "la rougeole, avant 12 mois ; complétée par VPC3 et la dernière dose de rotavirus, "
        "selon le calendrier PEV de l'appareil). Toutes les doses avant "
        "l'anniversaire comptent, pas seulement celles du mois.",
        "Fully immunized children",
        "Children whose first birthday falls in the month and who received, before it, every "
        "dose of the 'fully immunized child' list (WHO/UNICEF indicator: BCG, DTP-containing "
        "vaccine 3 doses, polio 3 doses, first measles-containing dose, before 12 months; "
        "extended with PCV3 and the last rotavirus dose, as in the appliance's EPI "
        "schedule). Doses given at any date before the "
        "birthday count, not only those of the month.",
    ),
    Indicator(
        "WEIGHED",
        "Enfants de 0-59 mois pesés",
        ("sex",),
        "Enfants distincts de 0-59 mois pesés lors d'une visite de croissance du mois.",
        "Children 0-59 months weighed",
        "Distinct children aged 0-59 months at the visit with a growth encounter recording a "
        "weight in the month.",
    ),
    Indicator(
        "MAM_NEW",
        "Nouveaux cas de MAM",
        ("sex",),
        "Enfants distincts de 0-59 mois classés en malnutrition aiguë modérée lors d'une "
        "visite de croissance du mois (critères OMS 2009/2013) dont la première visite MAM du "
        "mois n'a été précédée d'aucune visite MAM dans les 60 jours.",
        "New MAM cases",
        "Distinct children 0-59 months with a growth encounter classified MAM in the month "
        "(WHO 2009/2013 criteria) whose first MAM visit of the month had no MAM visit in the "
        "60 days before it.",
    ),
    Indicator(
        "SAM_NEW",
        "Nouveaux cas de MAS",
        ("sex",),
        "Comme MAM pour la malnutrition aiguë sévère. Un enfant passant de MAM à MAS est un "
        "nouveau cas de MAS (une admission au programme thérapeutique ambulatoire) : un même "
        "enfant peut compter dans les deux.",
        "New SAM cases",
        "As MAM for SAM. A child moving from MAM to SAM is a new SAM case (an admission to "
        "the outpatient therapeutic programme), so one child may count in both.",
    ),
    Indicator(
        "FP",
        "Utilisatrices de planification familiale",
        ("method", "user"),
        "Personnes distinctes vues en planification familiale dans le mois, par méthode, "
        "nouvelles ou anciennes utilisatrices ; les visites de retrait (implant ou DIU "
        "enlevé) ne comptent pas.",
        "Family planning users",
        "Distinct patients with a family-planning encounter in the month, by method and new "
        "or continuing user; removal visits (implant or IUD taken out) are not users.",
    ),
    Indicator(
        "CHRONIC",
        "Malades chroniques suivis",
        ("condition",),
        "Personnes distinctes vues en suivi de maladie chronique dans le mois, par affection.",
        "Chronic patients followed",
        "Distinct patients with a chronic-care encounter in the month, by condition.",
    ),
    Indicator(
        "REFERRAL",
        "Références",
        ("source",),
        "Consultations curatives, CPN, accouchements et consultations postnatales ayant donné "
        "lieu à une référence, par service.",
        "Referrals",
        "Consultation, ANC, delivery and postnatal encounters carrying a referral, by service.",
    ),
    Indicator(
        "REFERRAL_CSREF",
        "Références au CSRéf et évacuations",
        ("reason", "transfer"),
        "Fiches de référence du mois (date de la référence) vers le CSRéf ou plus loin, par "
        "motif ; chacune compte une fois, comme évacuation si le patient est parti en "
        "ambulance ou en moto-ambulance, sinon comme référence. Les fiches annulées ne "
        "comptent pas. « Références » ci-dessus compte les consultations qui notent une "
        "référence, pas les fiches.",
        "Referrals to the CSRéf and evacuations",
        "Referral forms of the month (by referral date) to the CSRéf or further, by reason; "
        "each counts once, as an evacuation when the patient travelled by ambulance or "
        "motorbike ambulance, otherwise as a referral. Voided forms do not count. "
        "'Referrals' above counts the encounters that note a referral, not the forms.",
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
