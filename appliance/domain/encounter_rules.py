"""Which encounter types a patient may have on a date, by sex, age and what the record holds.

Pure: the patient's facts and the date are passed in. The encounter service refuses a type (or
a value) these rules refuse, on every path (web form, API, kiosk, CLI), and the web record page
and the kiosk record screen offer only the types allowed today.

The rules, and why:
- ANC and delivery: a woman of 10 to 55 years (completed years on the care date; the same
  childbearing range the record offered before these rules). ANC is refused within 42 days
  after a recorded delivery (the puerperium: she needs postnatal care, and no new pregnancy can
  be seen yet); an ANC whose LMP (or gestational age) dates its pregnancy to before a delivery
  already recorded belongs to the pregnancy that delivery closed. A second delivery within
  24 weeks of another one is the same delivery recorded twice (no new pregnancy reaches
  22 weeks, the WHO threshold of a birth, in less): correct the first one instead.
- Postnatal: up to day 60 after a birth, for the mother (a delivery on her record, or a child of
  hers registered with that birth date, since she may have given birth elsewhere) or for the
  newborn. WHO's postnatal period is six weeks (day 42), but the 6-week contact stays on the
  follow-up list until day 60 (clinical.pregnancy.PNC_LAST_DAY, the encounter model's limit
  too): a contact the list asks for must be recordable, late or not.
- Growth: a child or adolescent within WHO's growth references: the 2006 standards to 1856
  days, then the 2007 reference (BMI- and height-for-age) to 228 months (19 years).
- Immunization: the age range of the vaccination schedule (its oldest dose for the child's sex:
  five years, fifteen for a girl's HPV), or a woman of 10 to 55 years (Td). A dose past its
  series' maximum age, or for the other sex, is refused; a dose given before its minimum age is
  still recorded (it was given; the due list judges whether it counts).
- Family planning: 10 to 55 years, either sex (the methods include male condoms and
  vasectomy); a method done on one sex's body (vasectomy; implant, IUD, injectables, tubal
  ligation, LAM) is refused for the other. Pills, condoms and the standard days method may be
  handed to a partner.
- Consultation and chronic follow-up: everyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from appliance.clinical.growth import REF2007_TO_DAYS
from appliance.clinical.immunization import Schedule, load_schedule
from appliance.clinical.pregnancy import PNC_LAST_DAY
from appliance.domain.encounters import ENCOUNTER_TYPES

CHILDBEARING_YEARS = (10, 55)  # completed years, both ends included
POSTNATAL_DAYS = PNC_LAST_DAY  # a birth on day 0; day 60 is the last postnatal record
PUERPERIUM_DAYS = 42  # WHO: the six weeks after a birth, when no new pregnancy is seen
# WHO 2006 standards to 1856 days, WHO 2007 reference (BMI- and height-for-age) to 228 months
GROWTH_MAX_DAYS = REF2007_TO_DAYS
# 22 weeks (WHO's threshold of a birth) after a conception at least two weeks after the
# previous delivery: two deliveries closer than this are one delivery recorded twice.
DELIVERY_MIN_INTERVAL_DAYS = 24 * 7
TD = "td"
FP_WOMEN_ONLY = frozenset(
    {"implant", "iud", "injectable_dmpa_im", "injectable_dmpa_sc", "tubal_ligation", "lam"}
)
FP_MEN_ONLY = frozenset({"vasectomy"})


def N_(message: str) -> str:
    """Marks a French message for the catalogue; translated where it is shown."""
    return message


# reason code → French message (a msgid: English in the catalogue). %(date)s is an ISO date,
# written dd/mm/yyyy where shown.
MESSAGES = {
    "anc_not_childbearing": N_("Consultation prénatale : seulement pour une femme de 10 à 55 ans."),
    "anc_after_delivery": N_(
        "Consultation prénatale : un accouchement est enregistré le %(date)s, il y a moins de"
        " 42 jours ; faites une consultation postnatale."
    ),
    "delivery_not_childbearing": N_("Accouchement : seulement pour une femme de 10 à 55 ans."),
    "delivery_recorded": N_(
        "Accouchement : un accouchement est déjà enregistré le %(date)s pour cette grossesse ;"
        " corrigez-le plutôt."
    ),
    "postnatal_window": N_(
        "Consultation postnatale : seulement dans les 60 jours après un accouchement (mère) ou"
        " pour un nouveau-né de 60 jours au plus."
    ),
    "growth_age": N_("Pesée et mesures : seulement pour un enfant de moins de 19 ans."),
    "immunization_age": N_(
        "Vaccination : seulement pour un enfant (selon le calendrier vaccinal) ou une femme de"
        " 10 à 55 ans (Td)."
    ),
    "family_planning_age": N_("Planification familiale : seulement de 10 à 55 ans."),
    # value-level reasons, shown beside the field they name
    "pregnancy_closed": N_(
        "Cette grossesse s'est terminée par l'accouchement du %(date)s : vérifiez la DDR ou"
        " l'âge gestationnel."
    ),
    "newborn_too_old": N_(
        "Consultation postnatale du nouveau-né : seulement jusqu'à 60 jours après la naissance."
    ),
    "mother_no_birth": N_(
        "Consultation postnatale de la mère : seulement dans les 60 jours après un accouchement"
        " enregistré (ou la naissance d'un enfant enregistré)."
    ),
    "antigen_past_age": N_("Ce vaccin n'est plus donné à cet âge (calendrier vaccinal)."),
    "antigen_other_sex": N_("Ce vaccin n'est pas donné à ce sexe (calendrier vaccinal)."),
    "td_not_childbearing": N_("Td : seulement pour une femme de 10 à 55 ans."),
    "method_women_only": N_("Cette méthode est pour une femme."),
    "method_men_only": N_("Cette méthode est pour un homme."),
}


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """What the rules read from a record."""

    sex: str  # "F" | "M"
    birth_date: date
    deliveries: tuple[date, ...] = ()  # care dates of her current delivery encounters
    children_born: tuple[date, ...] = ()  # birth dates of children registered as hers

    @classmethod
    def of(
        cls,
        patient: dict[str, Any],
        encounters: list[dict[str, Any]] = (),  # type: ignore[assignment]
        children: list[dict[str, Any]] = (),  # type: ignore[assignment]
        *,
        leave_out: str | None = None,
    ) -> PatientFacts:
        """From a patient row, her current (not voided) encounters and her children's rows;
        `leave_out` is an encounter being corrected, which must not count against itself."""
        deliveries = sorted(
            date.fromisoformat(e["care_date"][:10])
            for e in encounters
            if e["type"] == "delivery" and not e.get("voided") and e.get("id") != leave_out
        )
        born = sorted(date.fromisoformat(c["birth_date"][:10]) for c in children)
        return cls(
            sex=patient["sex"],
            birth_date=date.fromisoformat(patient["birth_date"][:10]),
            deliveries=tuple(deliveries),
            children_born=tuple(born),
        )


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str  # a key of MESSAGES
    field: str  # "type", or the field whose value is refused
    date: date | None = None  # the delivery the message names, when it names one

    def message(self) -> str:
        """The French one-liner (the web and kiosk translate MESSAGES[code] themselves)."""
        text = MESSAGES[self.code]
        return text % {"date": self.date.strftime("%d/%m/%Y")} if self.date else text


def age_years(birth: date, on: date) -> int:
    """Completed years on `on` (a birthday on 29 February counts on 1 March)."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _childbearing(f: PatientFacts, on: date) -> bool:
    lo, hi = CHILDBEARING_YEARS
    return f.sex == "F" and lo <= age_years(f.birth_date, on) <= hi


def _births(f: PatientFacts) -> tuple[date, ...]:
    return tuple(sorted({*f.deliveries, *f.children_born}))


def _birth_within(f: PatientFacts, on: date, days: int) -> date | None:
    """Her latest birth from `days` before `on` up to `on`, if any."""
    recent = [b for b in _births(f) if 0 <= (on - b).days <= days]
    return recent[-1] if recent else None


def _type_refusal(kind: str, f: PatientFacts, on: date, schedule: Schedule) -> Refusal | None:
    age_days = (on - f.birth_date).days
    if kind in ("consultation", "chronic"):
        return None
    if kind == "anc":
        if not _childbearing(f, on):
            return Refusal("anc_not_childbearing", "type")
        recent = [d for d in f.deliveries if 0 <= (on - d).days <= PUERPERIUM_DAYS]
        return Refusal("anc_after_delivery", "type", recent[-1]) if recent else None
    if kind == "delivery":
        if not _childbearing(f, on):
            return Refusal("delivery_not_childbearing", "type")
        close = [d for d in f.deliveries if abs((on - d).days) < DELIVERY_MIN_INTERVAL_DAYS]
        return Refusal("delivery_recorded", "type", close[-1]) if close else None
    if kind == "postnatal":
        newborn = 0 <= age_days <= POSTNATAL_DAYS
        mother = _childbearing(f, on) and _birth_within(f, on, POSTNATAL_DAYS) is not None
        return None if newborn or mother else Refusal("postnatal_window", "type")
    if kind == "growth":
        return None if 0 <= age_days <= GROWTH_MAX_DAYS else Refusal("growth_age", "type")
    if kind == "immunization":
        oldest = schedule.max_age_days(f.sex)
        child = oldest is None or age_days <= oldest
        return None if child or _childbearing(f, on) else Refusal("immunization_age", "type")
    if kind == "family_planning":
        lo, hi = CHILDBEARING_YEARS
        allowed = lo <= age_years(f.birth_date, on) <= hi
        return None if allowed else Refusal("family_planning_age", "type")
    raise ValueError(f"unknown encounter type {kind!r}")


def type_refusals(
    facts: PatientFacts, on: date, *, schedule: Schedule | None = None
) -> dict[str, Refusal | None]:
    """Every encounter type → None when this patient may have it on `on`, else why not."""
    schedule = schedule or load_schedule()
    return {kind: _type_refusal(kind, facts, on, schedule) for kind in ENCOUNTER_TYPES}


def encounter_types_allowed(
    facts: PatientFacts, on: date, *, schedule: Schedule | None = None
) -> dict[str, str | None]:
    """Every encounter type → None when this patient may have it on `on`, else the reason
    code (a key of MESSAGES)."""
    return {
        kind: refusal.code if refusal else None
        for kind, refusal in type_refusals(facts, on, schedule=schedule).items()
    }


def _lmp_of(data: dict[str, Any], on: date) -> tuple[date | None, str]:
    lmp = data.get("lmp")
    if lmp:
        return (lmp if isinstance(lmp, date) else date.fromisoformat(str(lmp)[:10])), "lmp"
    weeks = data.get("gestational_age_weeks")
    if isinstance(weeks, int | float):
        return on - timedelta(days=round(weeks * 7)), "gestational_age_weeks"
    return None, ""


def _value_refusal(
    kind: str, data: dict[str, Any], f: PatientFacts, on: date, schedule: Schedule
) -> Refusal | None:
    age_days = (on - f.birth_date).days
    if kind == "anc":
        lmp, field = _lmp_of(data, on)
        if lmp is not None:
            closed = [d for d in f.deliveries if lmp <= d <= on]
            if closed:
                return Refusal("pregnancy_closed", field, closed[-1])
    elif kind == "postnatal":
        subject = data.get("subject")
        if subject == "newborn" and not 0 <= age_days <= POSTNATAL_DAYS:
            return Refusal("newborn_too_old", "subject")
        if subject == "mother" and not (
            _childbearing(f, on) and _birth_within(f, on, POSTNATAL_DAYS) is not None
        ):
            return Refusal("mother_no_birth", "subject")
    elif kind == "immunization":
        antigen = data.get("antigen")
        if antigen == TD:
            return None if _childbearing(f, on) else Refusal("td_not_childbearing", "antigen")
        series = next((s for s in schedule.series if s.antigen == antigen), None)
        if series is not None:
            if series.sex is not None and series.sex != f.sex:
                return Refusal("antigen_other_sex", "antigen")
            if series.max_age_days is not None and age_days > series.max_age_days:
                return Refusal("antigen_past_age", "antigen")
    elif kind == "family_planning":
        method = data.get("method")
        if method in FP_WOMEN_ONLY and f.sex != "F":
            return Refusal("method_women_only", "method")
        if method in FP_MEN_ONLY and f.sex != "M":
            return Refusal("method_men_only", "method")
    return None


def refusal(
    kind: str,
    data: dict[str, Any],
    facts: PatientFacts,
    *,
    schedule: Schedule | None = None,
) -> Refusal | None:
    """Why this encounter (its type, then its values) may not be recorded for this patient
    on its care date; None when it may. `data` is the model-checked data (care_date set)."""
    schedule = schedule or load_schedule()
    care = data["care_date"]
    on = care if isinstance(care, date) else date.fromisoformat(str(care)[:10])
    return _type_refusal(kind, facts, on, schedule) or _value_refusal(
        kind, data, facts, on, schedule
    )
