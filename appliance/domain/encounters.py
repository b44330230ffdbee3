"""One model per encounter type, with units and plausible ranges.

Models check what can be checked without the store: ranges, coherent pairs, dates against the
`today` and `birth_date` passed in the validation context. A value outside its plausible range
is refused with a message naming the field, its value and the range — the person typing it
can correct it at once.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError


def _range(lo: float, hi: float, unit: str) -> AfterValidator:
    def check(value: float) -> float:
        if not lo <= value <= hi:
            raise PydanticCustomError(
                "implausible",
                "{value} {unit} is outside the plausible range {lo}–{hi} {unit}",
                {"value": value, "unit": unit, "lo": lo, "hi": hi},
            )
        return value

    return AfterValidator(check)


# Plausible ranges: wide enough for every real patient, narrow enough to catch a slipped digit
# (grams typed as kilograms, a missing decimal point).
WeightKg = Annotated[float, _range(0.3, 250, "kg")]
HeightCm = Annotated[float, _range(30, 230, "cm")]
MuacMm = Annotated[int, _range(60, 400, "mm")]
TemperatureC = Annotated[float, _range(30, 44, "°C")]
PulseBpm = Annotated[int, _range(20, 250, "/min")]
RespRate = Annotated[int, _range(5, 120, "/min")]
Systolic = Annotated[int, _range(50, 300, "mmHg")]
Diastolic = Annotated[int, _range(20, 200, "mmHg")]
SpO2 = Annotated[int, _range(50, 100, "%")]
HbGdl = Annotated[float, _range(2, 22, "g/dL")]
GlucoseMmol = Annotated[float, _range(1, 40, "mmol/L")]
BirthWeightG = Annotated[int, _range(300, 6500, "g")]
Count = Annotated[int, Field(ge=0, le=30)]

DIAGNOSES = (
    "malaria_confirmed",
    "malaria_severe",
    "malaria_suspected",
    "pneumonia",
    "respiratory_infection",
    "diarrhoea",
    "dysentery",
    "malnutrition",
    "anaemia",
    "measles",
    "meningitis",
    "skin_infection",
    "eye_infection",
    "ear_infection",
    "urinary_infection",
    "sti",
    "typhoid",
    "hypertension",
    "diabetes",
    "hiv",
    "tuberculosis",
    "trauma",
    "intestinal_worms",
    "other",
)
IMCI_DANGER_SIGNS = ("unable_to_drink", "vomits_everything", "convulsions", "lethargic")
# WHO ANC digital adaptation kit, ANC.DT.01 (danger signs).
ANC_DANGER_SIGNS = (
    "bleeding",
    "convulsions",
    "fever",
    "severe_headache",
    "visual_disturbance",
    "imminent_delivery",
    "looks_very_ill",
    "severe_vomiting",
    "severe_abdominal_pain",
    "unconscious",
    "central_cyanosis",
)
ANTIGENS = (
    "bcg",
    "opv",
    "penta",
    "pcv",
    "rota",
    "ipv",
    "mr",
    "yf",
    "menafrivac",
    "malaria",
    "hpv",
    "td",
)
FP_METHODS = (
    "pill_coc",
    "pill_pop",
    "injectable_dmpa_im",
    "injectable_dmpa_sc",
    "implant",
    "iud",
    "condom_male",
    "condom_female",
    "lam",
    "standard_days",
    "tubal_ligation",
    "vasectomy",
)
CHRONIC_CONDITIONS = ("hypertension", "diabetes", "hiv", "tb", "epilepsy", "asthma", "sickle_cell")
# Longest lists a real encounter needs: a form has a few rows, a very sick child a dozen
# diagnoses; anything longer is a mistake or an attack, refused before it is stored.
MAX_COMPLAINTS = 20
MAX_DIAGNOSES = 20
MAX_MEDICINES = 30
MAX_FREE_LINES = 20
# Care recorded here cannot predate Keneya by decades: an older date is a typing error (or a
# clock that was never set).
EARLIEST_CARE_DATE = date(2000, 1, 1)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Diagnosis(_Model):
    code: Literal[DIAGNOSES]  # type: ignore[valid-type]
    label: str | None = Field(None, max_length=200)
    confirmed: bool = False


class Prescription(_Model):
    drug: str = Field(min_length=2, max_length=120)
    dose: str = Field(min_length=1, max_length=60)
    times_per_day: int = Field(ge=1, le=6)
    days: int = Field(ge=1, le=365)
    quantity: int | None = Field(None, ge=1, le=1000)


class Referral(_Model):
    to: str = Field(min_length=2, max_length=120)
    reason: str = Field(min_length=2, max_length=500)
    urgent: bool = False


class EncounterData(_Model):
    care_date: date
    notes: str | None = Field(None, max_length=4000)

    @model_validator(mode="after")
    def _dates(self, info: ValidationInfo) -> EncounterData:
        ctx = info.context or {}
        today, birth = ctx.get("today"), ctx.get("birth_date")
        # a day of leeway when today comes from a clock nobody has confirmed
        latest = today + timedelta(days=ctx.get("future_days", 0)) if today else None
        if latest and self.care_date > latest:
            raise PydanticCustomError(
                "future_date",
                "care_date {d} is in the future (today is {t})",
                {"d": self.care_date.isoformat(), "t": today.isoformat()},
            )
        if self.care_date < EARLIEST_CARE_DATE:
            raise PydanticCustomError(
                "too_old",
                "care_date {d} is before {e}",
                {"d": self.care_date.isoformat(), "e": EARLIEST_CARE_DATE.isoformat()},
            )
        if birth and self.care_date < birth:
            raise PydanticCustomError(
                "before_birth",
                "care_date {d} is before the birth date {b}",
                {"d": self.care_date.isoformat(), "b": birth.isoformat()},
            )
        return self


class _BloodPressure(EncounterData):
    bp_systolic: Systolic | None = None
    bp_diastolic: Diastolic | None = None

    @model_validator(mode="after")
    def _bp_pair(self) -> _BloodPressure:
        if (self.bp_systolic is None) != (self.bp_diastolic is None):
            raise PydanticCustomError("bp_pair", "blood pressure needs both systolic and diastolic")
        if self.bp_systolic is not None and self.bp_diastolic >= self.bp_systolic:  # type: ignore[operator]
            raise PydanticCustomError("bp_order", "diastolic must be lower than systolic")
        return self


class Consultation(_BloodPressure):
    new_case: bool = True  # first visit for this illness (reports count new and returning)
    complaints: list[Annotated[str, Field(min_length=2, max_length=200)]] = Field(
        [], max_length=MAX_COMPLAINTS
    )
    temperature_c: TemperatureC | None = None
    weight_kg: WeightKg | None = None
    height_cm: HeightCm | None = None
    pulse_bpm: PulseBpm | None = None
    resp_rate: RespRate | None = None
    spo2_pct: SpO2 | None = None
    malaria_rdt: Literal["positive", "negative", "not_done"] = "not_done"
    danger_signs: list[Literal[IMCI_DANGER_SIGNS]] = Field(  # type: ignore[valid-type]
        [], max_length=len(IMCI_DANGER_SIGNS)
    )
    diagnoses: list[Diagnosis] = Field(min_length=1, max_length=MAX_DIAGNOSES)
    prescriptions: list[Prescription] = Field([], max_length=MAX_MEDICINES)
    referral: Referral | None = None


class Anc(_BloodPressure):
    contact_number: int | None = Field(None, ge=1, le=12)
    lmp: date | None = None
    gestational_age_weeks: int | None = Field(None, ge=4, le=44)
    gravida: Count | None = None
    parity: Count | None = None
    miscarriages: Count | None = None
    previous_caesarean: bool = False
    previous_stillbirth: bool = False
    previous_pph: bool = False
    previous_difficult_delivery: bool = False
    last_birth_date: date | None = None
    weight_kg: WeightKg | None = None
    height_cm: HeightCm | None = None
    temperature_c: TemperatureC | None = None
    pulse_bpm: PulseBpm | None = None
    spo2_pct: SpO2 | None = None
    hb_g_dl: HbGdl | None = None
    danger_signs: list[Literal[ANC_DANGER_SIGNS]] = Field(  # type: ignore[valid-type]
        [], max_length=len(ANC_DANGER_SIGNS)
    )
    known_conditions: list[Literal["hypertension", "diabetes", "heart_disease", "hiv"]] = Field(
        [], max_length=4
    )
    td_dose: int | None = Field(None, ge=1, le=5)
    iptp_dose: int | None = Field(None, ge=1, le=6)
    referral: Referral | None = None

    @model_validator(mode="after")
    def _lmp(self) -> Anc:
        if self.lmp is not None and not 0 <= (self.care_date - self.lmp).days <= 44 * 7:
            raise PydanticCustomError(
                "lmp_range",
                "lmp {lmp} must be 0–44 weeks before the care date",
                {"lmp": self.lmp.isoformat()},
            )
        if self.gravida is not None and self.parity is not None and self.parity >= self.gravida:
            raise PydanticCustomError(
                "parity", "parity (births before) must be lower than gravida (pregnancies)"
            )
        return self


class Delivery(_BloodPressure):
    place: Literal["facility", "home", "en_route"] = "facility"
    mode: Literal["vaginal", "assisted", "caesarean"] = "vaginal"
    skilled_attendant: bool = True
    outcome: Literal["live_birth", "stillbirth", "multiple"] = "live_birth"
    babies: int = Field(1, ge=1, le=4)
    birth_weight_g: BirthWeightG | None = None
    baby_sex: Literal["F", "M"] | None = None
    child_id: str | None = Field(None, max_length=40)
    complications: list[
        Literal[
            "pph",
            "eclampsia",
            "obstructed_labour",
            "sepsis",
            "retained_placenta",
            "perineal_tear",
            "other",
        ]
    ] = Field([], max_length=7)
    referral: Referral | None = None


class Postnatal(_BloodPressure):
    subject: Literal["mother", "newborn"]
    days_after_birth: int = Field(ge=0, le=60)
    temperature_c: TemperatureC | None = None
    weight_kg: WeightKg | None = None
    danger_signs: list[Annotated[str, Field(min_length=2, max_length=100)]] = Field(
        [], max_length=MAX_FREE_LINES
    )
    breastfeeding: bool | None = None
    referral: Referral | None = None


class Immunization(EncounterData):
    antigen: Literal[ANTIGENS]  # type: ignore[valid-type]
    dose: int = Field(ge=0, le=5)
    lot: str | None = Field(None, max_length=40)
    outreach: bool = False  # given at an advanced strategy (village) session


class Growth(EncounterData):
    # children and adolescents to 19 years (WHO 2007 reference): the adult ranges
    weight_kg: WeightKg | None = None
    height_cm: HeightCm | None = None
    measured: Literal["lying", "standing"] | None = None
    muac_mm: MuacMm | None = None
    oedema: bool = False

    @model_validator(mode="after")
    def _something_measured(self) -> Growth:
        if self.weight_kg is None and self.height_cm is None and self.muac_mm is None:
            raise PydanticCustomError(
                "no_measure", "give at least one of weight_kg, height_cm, muac_mm"
            )
        return self


class FamilyPlanning(EncounterData):
    method: Literal[FP_METHODS]  # type: ignore[valid-type]
    user: Literal["new", "continuing"]
    quantity: int | None = Field(None, ge=1, le=500)  # pill cycles, condoms, injections
    removal: bool = False  # implant or IUD taken out


class Chronic(_BloodPressure):
    condition: Literal[CHRONIC_CONDITIONS]  # type: ignore[valid-type]
    weight_kg: WeightKg | None = None
    glucose_mmol_l: GlucoseMmol | None = None
    adherence: Literal["good", "partial", "poor"] | None = None
    treatment: list[Prescription] = Field([], max_length=MAX_MEDICINES)
    next_visit: date | None = None

    @model_validator(mode="after")
    def _next_visit(self) -> Chronic:
        if self.next_visit is not None and self.next_visit <= self.care_date:
            raise PydanticCustomError("next_visit", "next_visit must be after the care date")
        return self


MODELS: dict[str, type[EncounterData]] = {
    "consultation": Consultation,
    "anc": Anc,
    "delivery": Delivery,
    "postnatal": Postnatal,
    "immunization": Immunization,
    "growth": Growth,
    "family_planning": FamilyPlanning,
    "chronic": Chronic,
}


ENCOUNTER_TYPES = tuple(MODELS)


class InvalidEncounter(ValueError):
    """The encounter was refused; `problems` lists (field, message) for each error."""

    def __init__(self, problems: list[tuple[str, str]], details: list[dict[str, Any]] = ()):
        self.problems = problems
        # pydantic's error dicts (loc, type, ctx): what a form needs to explain each error in
        # the reader's language
        self.details = list(details)
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in problems))


def problems_of(error: PydanticValidationError) -> list[tuple[str, str]]:
    out = []
    for e in error.errors():
        field = ".".join(str(p) for p in e["loc"])
        out.append((field, e["msg"]))
    return out


def validate(
    kind: str,
    data: dict[str, Any],
    *,
    today: date | None,
    birth_date: date | None = None,
    future_days: int = 0,
) -> EncounterData:
    """Check one encounter's data; raise InvalidEncounter naming each bad field. A care date
    after `today` + `future_days` is refused; `today` None when no clock can say it."""
    model = MODELS.get(kind)
    if model is None:
        raise InvalidEncounter(
            [("type", f"unknown encounter type {kind!r}; expected one of {', '.join(MODELS)}")]
        )
    try:
        return model.model_validate(
            data,
            context={"today": today, "birth_date": birth_date, "future_days": future_days},
        )
    except PydanticValidationError as e:
        raise InvalidEncounter(problems_of(e), e.errors()) from None
