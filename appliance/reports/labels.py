"""Every code the monthly report shows, with its French and English label: one catalog for the
web page, the PDF, the CSV and the terminal table (the web app reads it too, so the report's
words live beside the report and `appliance` never needs `appliance.web`).

Values are keyed by their dimension, because one code can read differently in two places
(a new consultation case is "nouveau", a new family-planning user "nouvelle").
"""

from __future__ import annotations

from appliance.domain.encounters import ANTIGENS, CHRONIC_CONDITIONS, DIAGNOSES, FP_METHODS
from appliance.domain.referrals import REASONS

LANGUAGES = ("fr", "en")

# Disaggregation keys (the report's dimensions).
DIMENSIONS: dict[str, tuple[str, str]] = {
    "sex": ("Sexe", "Sex"),
    "age": ("Âge", "Age"),
    "case": ("Cas", "Case"),
    "diagnosis": ("Diagnostic", "Diagnosis"),
    "subject": ("Pour", "For"),
    "antigen": ("Vaccin", "Vaccine"),
    "dose": ("Dose", "Dose"),
    "method": ("Méthode", "Method"),
    "user": ("Utilisatrice", "User"),
    "condition": ("Affection", "Condition"),
    "source": ("Service", "Service"),
    "reason": ("Motif", "Reason"),
    "transfer": ("Transport", "Transport"),
}

_AGES: dict[str, tuple[str, str]] = {
    "0-11m": ("0-11 mois", "0-11 months"),
    "12-23m": ("12-23 mois", "12-23 months"),
    "1-4y": ("1-4 ans", "1-4 years"),
    "5-14y": ("5-14 ans", "5-14 years"),
    "15-24y": ("15-24 ans", "15-24 years"),
    "25-49y": ("25-49 ans", "25-49 years"),
    "50+y": ("50 ans et plus", "50 years and over"),
}
_SEXES = {"F": ("Féminin", "Female"), "M": ("Masculin", "Male")}
_DIAGNOSES: dict[str, tuple[str, str]] = {
    "malaria_confirmed": ("Paludisme confirmé", "Confirmed malaria"),
    "malaria_severe": ("Paludisme grave", "Severe malaria"),
    "malaria_suspected": ("Paludisme suspect", "Suspected malaria"),
    "pneumonia": ("Pneumonie", "Pneumonia"),
    "respiratory_infection": ("Infection respiratoire", "Respiratory infection"),
    "diarrhoea": ("Diarrhée", "Diarrhoea"),
    "dysentery": ("Dysenterie", "Dysentery"),
    "malnutrition": ("Malnutrition", "Malnutrition"),
    "anaemia": ("Anémie", "Anaemia"),
    "measles": ("Rougeole", "Measles"),
    "meningitis": ("Méningite", "Meningitis"),
    "skin_infection": ("Infection cutanée", "Skin infection"),
    "eye_infection": ("Infection oculaire", "Eye infection"),
    "ear_infection": ("Otite", "Ear infection"),
    "urinary_infection": ("Infection urinaire", "Urinary tract infection"),
    "sti": ("IST", "STI"),
    "typhoid": ("Fièvre typhoïde", "Typhoid fever"),
    "hypertension": ("Hypertension artérielle", "High blood pressure"),
    "diabetes": ("Diabète", "Diabetes"),
    "hiv": ("VIH", "HIV"),
    "tuberculosis": ("Tuberculose", "Tuberculosis"),
    "trauma": ("Traumatisme", "Injury"),
    "intestinal_worms": ("Parasitose intestinale", "Intestinal worms"),
    "other": ("Autre", "Other"),
}
# Antigen names as Mali's EPI (PEV) cards write them.
_ANTIGENS: dict[str, tuple[str, str]] = {
    "bcg": ("BCG", "BCG"),
    "opv": ("VPO (polio oral)", "OPV (oral polio)"),
    "penta": ("Penta (DTC-HepB-Hib)", "Penta (DTP-HepB-Hib)"),
    "pcv": ("Pneumo (VPC)", "Pneumococcal (PCV)"),
    "rota": ("Rotavirus", "Rotavirus vaccine"),
    "ipv": ("VPI (polio injectable)", "IPV (inactivated polio)"),
    "mr": ("RR (rougeole-rubéole)", "MR (measles-rubella)"),
    "yf": ("VAA (fièvre jaune)", "YF (yellow fever)"),
    "menafrivac": ("MenAfriVac (méningite A)", "MenAfriVac (meningitis A)"),
    "malaria": ("Vaccin antipaludique (RTS,S/R21)", "Malaria vaccine (RTS,S/R21)"),
    "hpv": ("VPH (papillomavirus)", "HPV (papillomavirus)"),
    "td": ("Td (tétanos-diphtérie)", "Td (tetanus-diphtheria)"),
}
_METHODS: dict[str, tuple[str, str]] = {
    "pill_coc": ("Pilule combinée", "Combined pill"),
    "pill_pop": ("Pilule progestative", "Progestogen-only pill"),
    "injectable_dmpa_im": ("Injectable DMPA-IM", "Injectable DMPA-IM"),
    "injectable_dmpa_sc": (
        "Injectable DMPA-SC (Sayana Press)",
        "Injectable DMPA-SC (Sayana Press)",
    ),
    "implant": ("Implant", "Implant"),
    "iud": ("DIU (stérilet)", "IUD"),
    "condom_male": ("Préservatif masculin", "Male condom"),
    "condom_female": ("Préservatif féminin", "Female condom"),
    "lam": ("MAMA (allaitement)", "LAM (breastfeeding)"),
    "standard_days": ("Jours fixes (collier)", "Standard days (beads)"),
    "tubal_ligation": ("Ligature des trompes", "Tubal ligation"),
    "vasectomy": ("Vasectomie", "Vasectomy"),
}
_CONDITIONS: dict[str, tuple[str, str]] = {
    "hypertension": ("Hypertension artérielle", "High blood pressure"),
    "diabetes": ("Diabète", "Diabetes"),
    "hiv": ("VIH", "HIV"),
    "tb": ("Tuberculose", "Tuberculosis"),
    "epilepsy": ("Épilepsie", "Epilepsy"),
    "asthma": ("Asthme", "Asthma"),
    "sickle_cell": ("Drépanocytose", "Sickle cell disease"),
}

# Referral reasons: the French is the referral form's own (domain/referrals.py REASONS, as the
# fiche prints it), capitalised as a report row; the English is the web catalog's for it.
_REASONS_EN = {
    "severe_preeclampsia": "Severe pre-eclampsia",
    "eclampsia": "Eclampsia",
    "haemorrhage": "Haemorrhage",
    "obstructed_labour": "Obstructed or prolonged labour",
    "pregnancy_danger_sign": "Danger sign in pregnancy",
    "postpartum_complication": "Postpartum complication",
    "newborn_danger_sign": "Newborn in danger",
    "sam_complicated": "Severe acute malnutrition with complications",
    "child_danger_sign": "Child with a general danger sign",
    "severe_malaria": "Severe malaria",
    "severe_anaemia": "Severe anaemia",
    "hypertensive_crisis": "Hypertensive crisis",
    "trauma": "Trauma",
    "surgery": "Surgical opinion",
    "other": "Other reason",
}
_REASONS: dict[str, tuple[str, str]] = {
    code: (french[:1].upper() + french[1:], _REASONS_EN.get(code, french))
    for code, french in REASONS.items()
}

VALUES: dict[str, dict[str, tuple[str, str]]] = {
    "sex": _SEXES,
    "age": _AGES,
    "case": {"new": ("Nouveaux cas", "New cases"), "returning": ("Anciens cas", "Returning")},
    "diagnosis": _DIAGNOSES,
    "subject": {"mother": ("Mère", "Mother"), "newborn": ("Nouveau-né", "Newborn")},
    "antigen": _ANTIGENS,
    "method": _METHODS,
    "user": {
        "new": ("Nouvelle utilisatrice", "New user"),
        "continuing": ("Ancienne utilisatrice", "Continuing user"),
    },
    "condition": _CONDITIONS,
    "source": {
        "consultation": ("Consultation curative", "Outpatient consultation"),
        "anc": ("Consultation prénatale (CPN)", "Antenatal care (ANC)"),
        "delivery": ("Accouchement", "Delivery"),
        "postnatal": ("Consultation postnatale", "Postnatal care"),
    },
    "reason": _REASONS,
    # short, for the report's rows: the definition says what an evacuation is
    "transfer": {"referral": ("Référence", "Referral"), "evacuation": ("Évacuation", "Evacuation")},
}
# Every code the domain can put in a report has a label (checked at import, so a new diagnosis,
# antigen, method or condition added to the forms cannot reach a report as a bare code).
for _dimension, _codes in (
    ("diagnosis", DIAGNOSES),
    ("antigen", ANTIGENS),
    ("method", FP_METHODS),
    ("condition", CHRONIC_CONDITIONS),
):
    _missing = set(_codes) - set(VALUES[_dimension])
    if _missing:
        raise RuntimeError(f"report labels lack {_dimension} {sorted(_missing)}")
if set(REASONS) - set(_REASONS_EN):
    raise RuntimeError(
        f"report labels lack English reason {sorted(set(REASONS) - set(_REASONS_EN))}"
    )

_DOSE = ("Dose %s", "Dose %s")
_BIRTH_DOSE = ("Dose 0 (naissance)", "Dose 0 (birth)")


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def dimension_label(dimension: str, lang: str = "fr") -> str:
    return _pick(DIMENSIONS.get(dimension, (dimension, dimension)), lang)


def value_label(dimension: str, value: str, lang: str = "fr") -> str:
    """The label of one disaggregation value; an unknown code is shown as it is (never lost)."""
    if dimension == "dose":
        return _pick(_BIRTH_DOSE, lang) if value == "0" else _pick(_DOSE, lang) % value
    pair = VALUES.get(dimension, {}).get(value)
    return _pick(pair, lang) if pair else value


def describe(dimensions: tuple[str, ...], disaggregation: dict[str, str], lang: str = "fr") -> str:
    """'Féminin, 1-4 ans' for one value's disaggregation, in the indicator's dimension order."""
    return ", ".join(value_label(d, disaggregation[d], lang) for d in dimensions)


def language(lang: str | None) -> str:
    return lang if lang in LANGUAGES else "fr"
