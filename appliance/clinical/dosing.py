"""Prescription assistance: dose suggestions that the clinician reads, corrects and confirms.

Nothing here prescribes. Each function returns Suggestions, or raises DosingRefused when the
weight is missing or implausible for the age, or the patient is outside the table (then the
clinician refers or doses by hand). Every table names its source where it is defined. Forms
assumed stocked at the CSCom: artemether-lumefantrine 20/120 mg tablets, amoxicillin 250 mg
dispersible tablets, paracetamol 100 mg and 500 mg tablets and 120 mg/5 mL syrup, reduced-
osmolarity ORS sachets, zinc 20 mg dispersible tablets.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from appliance.clinical import growth
from appliance.clinical.texts import N_, Translate, msg, num, render, value_text

# Ages in days, from WHO's average month (30.4375 d) and year (365.25 d).
YOUNG_INFANT_DAYS = 61  # "2 months": IMCI's young infant is 0 up to 2 months (< 60.9 days)
SIX_MONTHS_DAYS = 183  # 182.6 days: first whole day of the 7th month, as growth.MUAC_FROM_DAYS
TWO_YEARS_DAYS = 731  # as growth.HEIGHT_FROM_DAYS
FIVE_YEARS_DAYS = 1827  # 1826.25 days: IMCI's "up to 5 years" ends before this day
TEN_YEARS_DAYS = 3653
FIFTEEN_YEARS_DAYS = 5479

# Weight plausibility. Under 5, WHO weight-for-age: a z beyond +/-5 is a typing slip (grams
# for kilograms, a lost decimal point) rather than a child (WHO flags wfa below -6 or above 5
# as implausible; -5 is kept symmetrical here, still far beyond severe underweight at -3).
WFA_Z_LIMIT = 5.0
# From 5 years there is no WHO weight-for-age standard; these bounds only catch slips and
# make no clinical judgement: (age below, in days; lowest kg; highest kg).
_BOUNDS = ((TEN_YEARS_DAYS, 10.0, 80.0), (FIFTEEN_YEARS_DAYS, 15.0, 150.0), (math.inf, 25.0, 250.0))


@dataclass(frozen=True)
class Suggestion:
    drug: str
    dose: str  # per intake, in units the carer measures, with the mg
    times_per_day: int | None  # None: "after each loose stool" (ORS) or a test
    days: int | None
    quantity: int | None  # units to dispense (tablets, sachets); None if not countable
    note: str
    source: str
    # drug, dose and note as French templates and values (texts.render), for text_of
    parts: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["parts"]
        return out


def _suggestion(drug: Any, dose: Any, note: list[Any], **rest: Any) -> Suggestion:
    """A suggestion whose texts are French templates: the French is kept in drug, dose and
    note, the templates in parts for the reader's language."""
    parts = {"drug": drug, "dose": dose, "note": note}
    return Suggestion(
        drug=value_text(drug), dose=value_text(dose), note=_sentences(note), parts=parts, **rest
    )


def _sentences(note: list[Any], t: Translate | None = None) -> str:
    return " ".join(value_text(n, t) for n in note)


def text_of(s: Suggestion, part: str, t: Translate | None = None) -> str:
    """A suggestion's "drug", "dose" or "note" in the reader's language."""
    if part not in s.parts:
        return getattr(s, part)
    value = s.parts[part]
    return _sentences(value, t) if part == "note" else value_text(value, t)


class DosingRefused(ValueError):
    """No suggestion: `code` says why (weight_missing, weight_implausible, age_missing,
    below_band, young_infant, outside_table, no_practical_dose); the message is French / English
    (the CLI's); refusal_text gives it in the reader's language."""

    def __init__(self, code: str, template: str, english: str, **values: Any):
        super().__init__(f"{render(template, values)} / {english}")
        self.code = code
        self.template = template
        self.values = values


def refusal_text(e: DosingRefused, t: Translate | None = None) -> str:
    return render(e.template, e.values, t)


def _age(age_days: int | None) -> int:
    if age_days is None or age_days < 0:
        raise DosingRefused(
            "age_missing", N_("Âge manquant ou invalide."), "Age missing or invalid."
        )
    return int(age_days)


def check_weight(weight_kg: float | None, age_days: int, sex: str | None = None) -> float:
    """The weight, if plausible for the age; else DosingRefused. With the sex unknown, a
    weight is kept if it is plausible for either sex."""
    age = _age(age_days)
    if weight_kg is None:
        raise DosingRefused(
            "weight_missing",
            N_("Poids manquant : peser le patient avant de calculer la dose."),
            "Weight missing: weigh the patient before dosing.",
        )
    w = float(weight_kg)
    refused = DosingRefused(
        "weight_implausible",
        N_("Poids %(w)s kg invraisemblable pour l'âge : repeser et vérifier la saisie."),
        f"Weight {w:g} kg implausible for the age: weigh again and check the entry.",
        w=num(w),
    )
    if not 0 < w < math.inf:
        raise refused
    if age <= growth.MAX_AGE_DAYS:
        zs = [growth.wfa(s, age, w) for s in ((sex,) if sex else ("M", "F"))]
        if not any(z is not None and -WFA_Z_LIMIT <= z <= WFA_Z_LIMIT for z in zs):
            raise refused
        return w
    lo, hi = next((lo, hi) for below, lo, hi in _BOUNDS if age < below)
    if not lo <= w <= hi:
        raise refused
    return w


_FRACTIONS = {0.25: "¼", 0.5: "½", 0.75: "¾"}


TABLET = N_("%(n)s comprimé")
TABLETS = N_("%(n)s comprimés")  # from 2, as French writes it
ML = N_("%(n)s mL")
PER_INTAKE = N_("%(amount)s par prise (%(mg)s mg)")


def _units(n: float, unit: str) -> dict[str, Any]:
    """1.5 -> "1½ comprimé" (tablets: the only unit counted in pieces)."""
    whole, frac = int(n), n - int(n)
    text = (str(whole) if whole else "") + _FRACTIONS.get(frac, "")
    return msg(TABLETS if n >= 2 else TABLET, n=text)


def _measure(n: float, unit: str) -> dict[str, Any]:
    return _units(n, unit) if unit == "comprimé" else msg(ML, n=num(n))


# -- artemether-lumefantrine ----------------------------------------------------------------

# WHO Guidelines for the treatment of malaria, 3rd ed. (2015), AL dosing table, unchanged in
# the WHO guidelines for malaria (living guideline): 20/120 mg tablets by weight band,
# twice daily for 3 days (6 doses). (lowest kg of the band, tablets per dose)
_AL_BANDS = ((5.0, 1), (15.0, 2), (25.0, 3), (35.0, 4))
_AL_SOURCE = "OMS, Guidelines for the treatment of malaria, 3e éd. 2015 : AL 20/120 mg par poids"
# Infants under 5 kg. Decision: treat, do not refuse. WHO 2015 (same guidelines, section
# 7.2.2, "Infants weighing < 5 kg"): uncomplicated falciparum malaria in infants under 5 kg is
# treated with an ACT at the same mg/kg target dose as for children weighing 5 kg, i.e.
# 1 tablet (20/120 mg) per 5 kg, here rounded down to the quarter tablet so the dose never
# exceeds a 5 kg child's 4/24 mg/kg. Referral stays where the source puts it: a young infant
# (under 2 months) with fever has a possible serious bacterial infection and is referred
# urgently (WHO/UNICEF IMCI chart booklet 2014, the basis of Mali's PCIME), and danger signs
# are the IMCI alerts' business (alerts.py), not this table's.
_AL_SOURCE_UNDER_5_KG = (
    "OMS, Guidelines for the treatment of malaria, 3e éd. 2015 : nourrisson < 5 kg, "
    "même dose en mg/kg qu'un enfant de 5 kg"
)


def _band(bands: tuple[tuple[float, int], ...], weight: float) -> int:
    """Tablets of the highest weight band whose lower bound the weight reaches."""
    return [tablets for lowest, tablets in bands if weight >= lowest][-1]


def artemether_lumefantrine(
    weight_kg: float | None, age_days: int, *, sex: str | None = None
) -> Suggestion:
    """Uncomplicated falciparum malaria (confirmed by a test): AL 20/120 mg."""
    w = check_weight(weight_kg, age_days, sex)
    if age_days < YOUNG_INFANT_DAYS:
        raise DosingRefused(
            "young_infant",
            N_(
                "Nourrisson de moins de 2 mois : infection bactérienne grave possible, référer "
                "en urgence (PCIME)."
            ),
            "Young infant under 2 months: refer urgently.",
        )
    how = N_(
        "6 prises en 3 jours : 2e prise 8 heures après la 1re, puis matin et soir les "
        "jours 2 et 3. Avec un repas ou du lait (les graisses aident l'absorption)."
    )
    lowest = _AL_BANDS[0][0]
    if w >= lowest:
        n: float = _band(_AL_BANDS, w)
        note: list[Any] = [how]
        source = _AL_SOURCE
    else:
        n = math.floor(w / lowest * 4) / 4  # quarter tablets, rounded down
        if n == 0:
            raise DosingRefused(
                "no_practical_dose",
                N_(
                    "Poids %(w)s kg : moins d'un quart de comprimé, dose à fixer par le "
                    "prescripteur (référer au CSRéf)."
                ),
                "Less than a quarter tablet: dose by hand (refer).",
                w=num(w),
            )
        note = [
            how,
            msg(
                N_(
                    "Nourrisson < %(kg)s kg : même dose par kg qu'un enfant de %(kg)s kg (OMS "
                    "2015), arrondie au quart de comprimé inférieur ; disperser dans un peu "
                    "d'eau ou de lait maternel ; surveiller de près, référer s'il vomit ou "
                    "s'aggrave."
                ),
                kg=num(lowest),
            ),
        ]
        source = _AL_SOURCE_UNDER_5_KG
    return _suggestion(
        drug=N_("Artéméther-luméfantrine 20/120 mg, comprimé"),
        dose=msg(PER_INTAKE, amount=_units(n, "comprimé"), mg=f"{20 * n:g}/{120 * n:g}"),
        times_per_day=2,
        days=3,
        quantity=math.ceil(6 * n),
        note=note,
        source=source,
    )


# -- amoxicillin ----------------------------------------------------------------------------

# WHO/UNICEF IMCI chart booklet (March 2014), "Give an appropriate oral antibiotic":
# amoxicillin 250 mg dispersible tablet, twice daily for 5 days, by age or weight:
# 2 up to 12 months (4 - <10 kg): 1; 12 months up to 3 years (10 - <14 kg): 2;
# 3 up to 5 years (14-19 kg): 3. Bands are chosen by weight (measured here); age only bounds
# the table. (lowest kg of the band, tablets per dose)
_AMOX_BANDS = ((4.0, 1), (10.0, 2), (14.0, 3))
_AMOX_TOP_KG = 19.0
_AMOX_SOURCE = "OMS/UNICEF, PCIME livret des tableaux 2014 : amoxicilline 250 mg, 2 fois/j, 5 j"


def amoxicillin_pneumonia(
    weight_kg: float | None, age_days: int, *, sex: str | None = None
) -> Suggestion:
    """Pneumonia (fast breathing or chest indrawing), child 2 months up to 5 years."""
    w = check_weight(weight_kg, age_days, sex)
    if age_days < YOUNG_INFANT_DAYS:
        raise DosingRefused(
            "young_infant",
            N_(
                "Nourrisson de moins de 2 mois : infection bactérienne grave possible, référer "
                "en urgence (PCIME)."
            ),
            "Young infant under 2 months: refer urgently.",
        )
    if age_days >= FIVE_YEARS_DAYS:
        raise DosingRefused(
            "outside_table",
            N_("5 ans ou plus : hors du tableau PCIME, dose à fixer par le prescripteur."),
            "5 years or older: outside the IMCI table, dose by hand.",
        )
    if w < _AMOX_BANDS[0][0]:
        raise DosingRefused(
            "below_band",
            N_("Poids %(w)s kg < 4 kg : sous le tableau PCIME, référer."),
            "Below the 4 kg IMCI band: refer.",
            w=num(w),
        )
    n = _band(_AMOX_BANDS, w)
    note: list[Any] = [N_("Disperser le comprimé dans un peu d'eau ou de lait maternel.")]
    if w > _AMOX_TOP_KG:
        above = N_("Poids > %(kg)s kg : au-delà du tableau, vérifier ~40 mg/kg/prise.")
        note.append(msg(above, kg=num(_AMOX_TOP_KG)))
    return _suggestion(
        drug=N_("Amoxicilline 250 mg, comprimé dispersible"),
        dose=msg(PER_INTAKE, amount=_units(n, "comprimé"), mg=250 * n),
        times_per_day=2,
        days=5,
        quantity=10 * n,
        note=note,
        source=_AMOX_SOURCE,
    )


# -- paracetamol ----------------------------------------------------------------------------

# 10-15 mg/kg per dose every 6 hours, at most 4 doses in 24 h (WHO Pocket book of hospital
# care for children, 2nd ed. 2013, drug doses annex; IMCI chart booklet 2014: every 6 hours),
# 1 g per dose at most (adult dose). Each form comes in the amounts a carer can measure:
# (drug, unit, what the unit is, mg per unit, amounts in units). Syrup goes by the 5 mL spoon
# and its half. Those leave a gap between 60 and 100 mg that infants of 6-6.7 kg fall into:
# only then is the syrup measured with an oral syringe (_SYRINGE_ML). With it, no two
# successive amounts are more than 1.5 times apart, so every weight from 4 kg has one within
# 10-15 mg/kg.
_PARA_FORMS = (
    (
        N_("Paracétamol 100 mg, comprimé"),
        "comprimé",
        N_("%(amount)s à 100 mg"),
        100,
        (0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4),
    ),
    (
        N_("Paracétamol 500 mg, comprimé"),
        "comprimé",
        N_("%(amount)s à 500 mg"),
        500,
        (0.25, 0.5, 1, 1.5, 2),
    ),
    (
        N_("Paracétamol sirop 120 mg/5 mL"),
        "mL",
        N_("%(amount)s de sirop à 120 mg/5 mL"),
        24,
        (2.5, 5, 7.5, 10, 15),
    ),
)
_SYRINGE_ML = (3, 4)
_PARA_MG_PER_KG = (10.0, 15.0)
_PARA_MAX_MG = 1000.0
_PARA_DAYS = 3
_PARA_SOURCE = "OMS, Pocket book 2013 et PCIME 2014 : 10-15 mg/kg toutes les 6 h, max 4 prises/24 h"


def _nearest(forms, lo: float, hi: float, target: float) -> list[tuple]:
    """Per form, its amount within lo-hi nearest the target: (distance, pieces, amount, form),
    best first; a tie goes to fewer tablets."""
    fits = []
    for form in forms:
        mg, amounts = form[3], form[4]
        ok = [n for n in amounts if lo - 1e-9 <= n * mg <= hi + 1e-9]
        if ok:
            n = min(ok, key=lambda n: abs(n * mg - target))
            fits.append((abs(n * mg - target), n if form[1] == "comprimé" else 1, n, form))
    return sorted(fits, key=lambda f: f[:2])


def paracetamol(weight_kg: float | None, age_days: int, *, sex: str | None = None) -> Suggestion:
    """Fever or pain: the measurable amount nearest 12.5 mg/kg within 10-15 mg/kg; a tie goes
    to the fewer tablets. The other forms that fit are listed in the note."""
    w = check_weight(weight_kg, age_days, sex)
    if age_days < YOUNG_INFANT_DAYS:
        raise DosingRefused(
            "young_infant",
            N_(
                "Nourrisson de moins de 2 mois : la fièvre est un signe de danger, référer (PCIME)."
            ),
            "Young infant under 2 months with fever: refer.",
        )
    lo, hi = (min(k * w, _PARA_MAX_MG) for k in _PARA_MG_PER_KG)
    target = (lo + hi) / 2
    fits = _nearest(_PARA_FORMS, lo, hi, target)
    if not fits:
        syrup = _PARA_FORMS[-1]
        fits = _nearest([(*syrup[:4], _SYRINGE_ML)], lo, hi, target)
    if not fits:
        raise DosingRefused(
            "no_practical_dose",
            N_(
                "Aucune forme mesurable entre %(lo)s et %(hi)s mg pour %(w)s kg : dose à fixer "
                "par le prescripteur."
            ),
            "No measurable form fits: dose by hand.",
            lo=f"{lo:.0f}",
            hi=f"{hi:.0f}",
            w=num(w),
        )
    _, _, n, (drug, unit, what, mg, _) = fits[0]
    others = [msg(form[2], amount=_measure(m, form[1])) for _, _, m, form in fits[1:]]
    note: list[Any] = [
        N_("Toutes les 6 heures si fièvre ou douleur, au plus 4 prises par 24 h ; réévaluer à 3 j.")
    ]
    if unit == "mL" and n % 2.5:
        note.append(N_("Mesurer avec une seringue orale."))
    if others:
        other_forms = N_("Autres formes possibles : %(forms)s.")
        note.append(msg(other_forms, forms={"join": " ; ", "items": others}))
    per_day = 4
    tablets = math.ceil(n * per_day * _PARA_DAYS) if unit == "comprimé" else None
    return _suggestion(
        drug=drug,
        dose=msg(PER_INTAKE, amount=msg(what, amount=_measure(n, unit)), mg=num(n * mg)),
        times_per_day=per_day,
        days=_PARA_DAYS,
        quantity=tablets,
        note=note,
        source=_PARA_SOURCE,
    )


# -- diarrhoea: ORS and zinc ----------------------------------------------------------------

# IMCI Plan A and WHO "The treatment of diarrhoea" (2005): ORS after each loose stool,
# 50-100 mL under 2 years, 100-200 mL from 2 up to 10 years, as much as wanted from 10 years;
# give the mother 2 sachets. Zinc: WHO/UNICEF joint statement (2004), 10 mg a day under
# 6 months, 20 mg a day from 6 months, 10-14 days (IMCI 2014: 10 days); children under 5.
_ORS_SOURCE = "OMS, The treatment of diarrhoea 2005 et PCIME 2014 : plan A"
_ZINC_SOURCE = "OMS/UNICEF, déclaration conjointe 2004 ; PCIME 2014 : zinc 10 jours"


def ors_zinc(age_days: int) -> list[Suggestion]:
    """Diarrhoea without dehydration (IMCI Plan A): ORS, and zinc for children under 5."""
    age = _age(age_days)
    if age < TWO_YEARS_DAYS:
        volume = N_("50 à 100 mL")
    elif age < TEN_YEARS_DAYS:
        volume = N_("100 à 200 mL")
    else:
        volume = N_("autant que souhaité")
    out = [
        _suggestion(
            drug=N_("SRO (sels de réhydratation orale, osmolarité réduite), sachet"),
            dose=msg(N_("%(volume)s après chaque selle liquide"), volume=volume),
            times_per_day=None,
            days=None,
            quantity=2,
            note=[
                N_(
                    "Jusqu'à l'arrêt de la diarrhée ; continuer l'allaitement et l'alimentation. "
                    "Plan A : sans déshydratation (plan B ou C sinon)."
                )
            ],
            source=_ORS_SOURCE,
        )
    ]
    if age < FIVE_YEARS_DAYS:
        half = age < SIX_MONTHS_DAYS
        out.append(
            _suggestion(
                drug=N_("Zinc 20 mg, comprimé dispersible"),
                dose=N_("½ comprimé (10 mg) par jour")
                if half
                else N_("1 comprimé (20 mg) par jour"),
                times_per_day=1,
                days=10,
                quantity=5 if half else 10,
                note=[
                    N_(
                        "Disperser dans un peu d'eau ou de lait maternel ; 10 jours même si la "
                        "diarrhée s'arrête."
                    )
                ],
                source=_ZINC_SOURCE,
            )
        )
    return out


# -- by diagnosis ---------------------------------------------------------------------------


def _malaria_test() -> Suggestion:
    return _suggestion(
        drug=N_("TDR paludisme (test de diagnostic rapide)"),
        dose=N_("1 test avant tout antipaludique"),
        times_per_day=None,
        days=None,
        quantity=1,
        note=[N_("Artéméther-luméfantrine seulement si le test est positif (paludisme confirmé).")],
        source="OMS, Guidelines for malaria : confirmation parasitologique avant traitement",
    )


def suggest(
    diagnosis_code: str, weight_kg: float | None, age_days: int, *, sex: str | None = None
) -> list[Suggestion]:
    """Suggestions for one diagnosis code (the encounter model's, plus "fever"); [] for a
    diagnosis without a rule here. DosingRefused propagates: the clinician must see why."""
    if diagnosis_code == "malaria_confirmed":
        return [artemether_lumefantrine(weight_kg, age_days, sex=sex)]
    if diagnosis_code == "malaria_suspected":
        return [_malaria_test()]
    if diagnosis_code == "pneumonia":
        return [amoxicillin_pneumonia(weight_kg, age_days, sex=sex)]
    if diagnosis_code == "diarrhoea":
        return ors_zinc(age_days)
    if diagnosis_code == "fever":
        return [paracetamol(weight_kg, age_days, sex=sex)]
    return []
