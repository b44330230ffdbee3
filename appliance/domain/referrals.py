"""Referral to the district's reference centre (CSRéf) and its counter-referral.

Pure: the form's model, the reasons and the alerts that suggest them, the urgent SMS's words,
and the [referral] table of the facility file. The store keeps the rows (store/referrals.py),
the service writes them (services/referrals.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from appliance.clinical.texts import N_
from appliance.domain.encounters import (
    EARLIEST_CARE_DATE,
    Diastolic,
    InvalidEncounter,
    MuacMm,
    PulseBpm,
    RespRate,
    SpO2,
    Systolic,
    TemperatureC,
    WeightKg,
    problems_of,
)

# Why a patient is sent on: French labels as the fiche prints them (a msgid: the web and the
# kiosk translate them). The SMS carries the same words, so they stay within the GSM 7-bit
# alphabet (é and è are in it, ê and â are not).
REASONS: dict[str, str] = {
    "severe_preeclampsia": N_("pré-éclampsie sévère"),
    "eclampsia": N_("éclampsie"),
    "haemorrhage": N_("hémorragie"),
    "obstructed_labour": N_("dystocie, travail prolongé"),
    "pregnancy_danger_sign": N_("signe de danger pendant la grossesse"),
    "postpartum_complication": N_("complication du post-partum"),
    "newborn_danger_sign": N_("nouveau-né en danger"),
    "sam_complicated": N_("malnutrition aiguë sévère avec complications"),
    "child_danger_sign": N_("enfant avec signe général de danger"),
    "severe_malaria": N_("paludisme grave"),
    "severe_anaemia": N_("anémie sévère"),
    "hypertensive_crisis": N_("crise hypertensive"),
    "trauma": N_("traumatisme"),
    "surgery": N_("avis chirurgical"),
    "other": N_("autre motif"),
}
URGENCIES = ("urgent", "non_urgent")
URGENCY_LABELS = {"urgent": "urgente", "non_urgent": "non urgente"}
# How the patient travels. The district's ambulance is an evacuation (the monthly report
# counts evacuations apart).
TRANSPORTS: dict[str, str] = {
    "ambulance": N_("ambulance du district (évacuation)"),
    "motorbike_ambulance": N_("moto-ambulance"),
    "own_means": N_("moyens propres de la famille"),
    "public_transport": N_("transport en commun"),
}
GENERIC_REASONS = frozenset({"pregnancy_danger_sign", "child_danger_sign", "other"})
EVACUATION_TRANSPORTS = frozenset({"ambulance", "motorbike_ambulance"})
OUTCOMES: dict[str, str] = {
    "treated_returned": N_("traité(e) et renvoyé(e) au CSCom"),
    "admitted_discharged": N_("hospitalisé(e) puis sorti(e)"),
    "transferred": N_("transféré(e) plus loin (hôpital)"),
    "died": N_("décédé(e)"),
    "not_arrived": N_("n'est pas arrivé(e) au CSRéf"),
    "left_against_advice": N_("sorti(e) contre avis médical"),
}

# The gravity alert that prompted a referral pre-fills its reason (codes of clinical/alerts.py;
# the longest matching prefix wins).
_ALERT_REASONS: tuple[tuple[str, str], ...] = (
    ("anc.hypertension.severe", "severe_preeclampsia"),
    ("anc.danger_sign.convulsions", "eclampsia"),
    ("anc.danger_sign.bleeding", "haemorrhage"),
    ("anc.danger_sign.", "pregnancy_danger_sign"),
    ("anc.vital.", "pregnancy_danger_sign"),
    ("anc.anaemia.severe", "severe_anaemia"),
    ("pregnancy.high_risk.severe_anaemia", "severe_anaemia"),
    ("child.sam", "sam_complicated"),
    ("child.imci_danger_sign.", "child_danger_sign"),
    ("chronic.bp_crisis", "hypertensive_crisis"),
)
# What a referral reason tells when a delivery or a consultation has it (encounter data).
_DELIVERY_REASONS = {
    "pph": "haemorrhage",
    "eclampsia": "eclampsia",
    "obstructed_labour": "obstructed_labour",
    "retained_placenta": "haemorrhage",
    "sepsis": "postpartum_complication",
}
_DIAGNOSIS_REASONS = {"malaria_severe": "severe_malaria", "trauma": "trauma"}

# A referral with no counter-referral after this many days is late (default of [referral]).
DEFAULT_RETURN_AFTER_DAYS = 14
# A referral with no answer after this is no longer chased (most papers never come back; after
# years they would bury the recent ones): it stays on the record and in its month's list.
AWAITING_WINDOW_DAYS = 90
MAX_TEXT = 1000
MAX_RECEIVING = 30
SMS_DETAILS = ("reason", "urgency")


def reason_for_alert(code: str) -> str | None:
    """The referral reason an alert suggests, or None."""
    best: tuple[int, str] | None = None
    for prefix, reason in _ALERT_REASONS:
        matches = code == prefix or (prefix.endswith(".") and code.startswith(prefix))
        if matches and (best is None or len(prefix) > best[0]):
            best = (len(prefix), reason)
    return best[1] if best else None


def suggested_reason(alerts: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """(reason, alert code) from the most severe alerts that suggest one, a named condition
    (pre-eclampsia) before a generic danger sign (the headache that comes with it)."""
    rank = {"urgent": 0, "high": 1, "moderate": 2}
    found = [
        (rank.get(a.get("severity", ""), 3), reason in GENERIC_REASONS, i, reason, a["code"])
        for i, a in enumerate(alerts)
        if (reason := reason_for_alert(a["code"]))
    ]
    if not found:
        return None, None
    best = min(found)
    return best[3], best[4]


def reason_from_encounter(enc: dict[str, Any]) -> str | None:
    """A reason a recorded encounter already says (a delivery's complication, a severe
    malaria diagnosis), to pre-fill when no alert suggests one."""
    data = enc.get("data") or {}
    for c in data.get("complications") or []:
        if c in _DELIVERY_REASONS:
            return _DELIVERY_REASONS[c]
    for d in data.get("diagnoses") or []:
        if d.get("code") in _DIAGNOSIS_REASONS:
            return _DIAGNOSIS_REASONS[d["code"]]
    return None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Notes = Annotated[str, Field(max_length=MAX_TEXT)]


class Vitals(_Model):
    bp_systolic: Systolic | None = None
    bp_diastolic: Diastolic | None = None
    temperature_c: TemperatureC | None = None
    pulse_bpm: PulseBpm | None = None
    resp_rate: RespRate | None = None
    spo2_pct: SpO2 | None = None
    weight_kg: WeightKg | None = None
    muac_mm: MuacMm | None = None

    @model_validator(mode="after")
    def _bp(self) -> Vitals:
        if (self.bp_systolic is None) != (self.bp_diastolic is None):
            raise PydanticCustomError("bp_pair", "blood pressure needs both systolic and diastolic")
        if self.bp_systolic is not None and self.bp_diastolic >= self.bp_systolic:  # type: ignore[operator]
            raise PydanticCustomError("bp_order", "diastolic must be lower than systolic")
        return self


class ReferralForm(_Model):
    """What the referring clinician fills in. The case summary (history, alerts) is added by
    the service from the record, not typed."""

    care_date: date
    reason: Literal[tuple(REASONS)]  # type: ignore[valid-type]
    reason_detail: str | None = Field(None, max_length=300)
    urgency: Literal[URGENCIES]  # type: ignore[valid-type]
    to_facility: str = Field(min_length=2, max_length=40)  # a code of [referral] receiving
    transport: Literal[tuple(TRANSPORTS)]  # type: ignore[valid-type]
    departure: str | None = None  # HH:MM
    done_given: Notes | None = None  # what was done and given before leaving
    clinical_notes: Notes | None = None
    vitals: Vitals = Field(default_factory=Vitals)
    accompanied_by: str | None = Field(None, max_length=120)
    # The patient (or the guardian) agreed that the receiving facility be told by SMS; the SMS
    # never carries the name in any case.
    sms_consent: bool = False
    alert_code: str | None = Field(None, max_length=80)  # the alert that prompted it

    @model_validator(mode="after")
    def _checks(self) -> ReferralForm:
        if self.care_date < EARLIEST_CARE_DATE:
            raise PydanticCustomError(
                "too_old", "care_date is before {e}", {"e": EARLIEST_CARE_DATE.isoformat()}
            )
        if self.departure is not None and not _HHMM.match(self.departure):
            raise PydanticCustomError("time_format", "departure: write a time as 14:20")
        if self.reason == "other" and not self.reason_detail:
            raise PydanticCustomError("reason_detail", "say the reason (reason_detail)")
        # the alert that prompted the form, kept only when it suggests the reason chosen
        if self.alert_code and reason_for_alert(self.alert_code) != self.reason:
            self.alert_code = None
        return self


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class CounterReferral(_Model):
    """What the CSRéf answered, typed from its paper when the patient comes back."""

    returned_on: date
    outcome: Literal[tuple(OUTCOMES)]  # type: ignore[valid-type]
    diagnosis: str | None = Field(None, max_length=300)
    treatment: Notes | None = None
    instructions: Notes | None = None  # follow-up the CSCom is asked to give
    next_visit: date | None = None
    seen_by: str | None = Field(None, max_length=120)  # the CSRéf clinician who answered

    @model_validator(mode="after")
    def _dates(self) -> CounterReferral:
        if self.next_visit is not None and self.next_visit < self.returned_on:
            raise PydanticCustomError("next_visit", "next_visit is before the return date")
        if self.outcome == "died" and self.next_visit is not None:
            raise PydanticCustomError("next_visit_died", "no next visit for a patient who died")
        if self.outcome not in ("died", "not_arrived") and not self.diagnosis:
            raise PydanticCustomError("diagnosis", "give the CSRéf's diagnosis")
        return self


def _validate(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(data)
    except PydanticValidationError as e:
        raise InvalidEncounter(problems_of(e), e.errors()) from None


def _refused(field_name: str, kind: str, message: str, **ctx: str) -> InvalidEncounter:
    """A refusal the forms explain beside `field_name` in the reader's language (`kind` is
    a key of web.forms.MESSAGES, `ctx` its values)."""
    return InvalidEncounter(
        [(field_name, message)],
        [{"loc": (field_name,), "type": kind, "msg": message, "ctx": ctx}],
    )


def validate_form(
    data: dict[str, Any], *, today: date | None, receiving: dict[str, ReceivingFacility]
) -> ReferralForm:
    form = _validate(ReferralForm, data)
    assert isinstance(form, ReferralForm)
    if today is not None and form.care_date > today + timedelta(days=1):
        raise _refused(
            "care_date", "future_date", f"{form.care_date} is in the future", t=today.isoformat()
        )
    if form.to_facility not in receiving:
        known = ", ".join(receiving) or "none: add [referral] receiving to the facility file"
        raise _refused(
            "to_facility",
            "unknown_facility",
            f"no receiving facility {form.to_facility!r} (known: {known})",
        )
    return form


def validate_return(
    data: dict[str, Any], *, referred_on: date, today: date | None
) -> CounterReferral:
    back = _validate(CounterReferral, data)
    assert isinstance(back, CounterReferral)
    if back.returned_on < referred_on:
        raise _refused(
            "returned_on",
            "before_referral",
            f"{back.returned_on} is before the referral ({referred_on})",
            d=referred_on.isoformat(),
        )
    if today is not None and back.returned_on > today + timedelta(days=1):
        raise _refused(
            "returned_on",
            "future_date",
            f"{back.returned_on} is in the future",
            t=today.isoformat(),
        )
    return back


# The vital signs as the fiche, the web page and the kiosk write them on one line.
VITAL_SIGNS = (
    (N_("Tension"), ("bp_systolic", "bp_diastolic"), "{}/{} mmHg"),
    (N_("Température"), ("temperature_c",), "{} °C"),
    (N_("Pouls"), ("pulse_bpm",), "{} /min"),
    (N_("Fréq. resp."), ("resp_rate",), "{} /min"),
    (N_("SpO2"), ("spo2_pct",), "{} %"),
    (N_("Poids"), ("weight_kg",), "{} kg"),
    (N_("PB"), ("muac_mm",), "{} mm"),
)
NOT_TAKEN = N_("non prises")


def vitals_line(vitals: dict[str, Any], t: Any = str) -> str:
    """'Tension 170/112 mmHg · Pouls 96 /min', or 'non prises'; `t` translates the words."""
    parts = [
        f"{t(name)} {fmt.format(*(vitals[k] for k in keys))}"
        for name, keys, fmt in VITAL_SIGNS
        if all(vitals.get(k) is not None for k in keys)
    ]
    return " · ".join(parts) or t(NOT_TAKEN)


# -- the facility file's [referral] table ---------------------------------------------------


class ReferralSettingsError(ValueError):
    """[referral] of the facility file is wrong; the message is one line naming the key."""


@dataclass(frozen=True)
class ReceivingFacility:
    code: str
    name: str
    phone: str | None = None  # the duty phone the urgent SMS goes to
    kind: str = "csref"


@dataclass(frozen=True)
class ReferralRules:
    """[referral]: where patients are sent, how the urgent SMS reads, when a return is late."""

    receiving: dict[str, ReceivingFacility] = field(default_factory=dict)
    # "reason": the SMS names the reason (pré-éclampsie sévère); "urgency": only the urgency
    # class, for districts that want no diagnosis in an SMS.
    sms_detail: str = "reason"
    return_after_days: int = DEFAULT_RETURN_AFTER_DAYS
    transport_note: str | None = None  # the district's evacuation arrangement, printed


_PHONE = re.compile(r"^\+?[0-9]{8,15}$")
_CODE = re.compile(r"^[A-Za-z0-9_-]{2,40}$")


def referral_rules_from(section: dict[str, Any], *, where: str = "facility file") -> ReferralRules:
    known = {"receiving", "sms_detail", "return_after_days", "transport_note"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ReferralSettingsError(
            f"{where}: [referral] has no key {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    values: dict[str, Any] = {}
    rows = section.get("receiving", [])
    if not isinstance(rows, list) or len(rows) > MAX_RECEIVING:
        raise ReferralSettingsError(
            f"{where}: [referral] receiving must be a list of at most {MAX_RECEIVING} tables"
            " ([[referral.receiving]] with code, name, phone)"
        )
    receiving: dict[str, ReceivingFacility] = {}
    for i, row in enumerate(rows, 1):
        at = f"{where}: [[referral.receiving]] number {i}"
        if not isinstance(row, dict):
            raise ReferralSettingsError(f"{at} must be a table with code, name, phone")
        extra = sorted(set(row) - {"code", "name", "phone", "kind"})
        if extra:
            raise ReferralSettingsError(f"{at} has no key {extra[0]!r} (known: code, name, phone)")
        code, name, phone = row.get("code"), row.get("name"), row.get("phone")
        if not isinstance(code, str) or not _CODE.match(code):
            raise ReferralSettingsError(f"{at}: code must be 2–40 letters, digits, - or _")
        if code in receiving:
            raise ReferralSettingsError(f"{at}: code {code!r} is given twice")
        if not isinstance(name, str) or not 2 <= len(name.strip()) <= 80:
            raise ReferralSettingsError(f"{at}: name must be 2–80 characters")
        if phone is not None and (not isinstance(phone, str) or not _PHONE.match(phone)):
            raise ReferralSettingsError(
                f"{at}: phone must be a number like +22376123456, not {phone!r}"
            )
        kind = row.get("kind", "csref")
        if kind not in ("csref", "hospital", "cscom", "other"):
            raise ReferralSettingsError(f"{at}: kind must be csref, hospital, cscom or other")
        receiving[code] = ReceivingFacility(code, name.strip(), phone, kind)
    values["receiving"] = receiving
    if "sms_detail" in section:
        if section["sms_detail"] not in SMS_DETAILS:
            raise ReferralSettingsError(
                f'{where}: [referral] sms_detail must be "reason" or "urgency"'
            )
        values["sms_detail"] = section["sms_detail"]
    if "return_after_days" in section:
        n = section["return_after_days"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 365:
            raise ReferralSettingsError(
                f"{where}: [referral] return_after_days must be a whole number from 1 to 365"
            )
        values["return_after_days"] = n
    if "transport_note" in section:
        note = section["transport_note"]
        if not isinstance(note, str) or len(note) > 300:
            raise ReferralSettingsError(
                f"{where}: [referral] transport_note must be text of at most 300 characters"
            )
        values["transport_note"] = note.strip() or None
    return ReferralRules(**values)


# -- the urgent SMS ------------------------------------------------------------------------

SMS_MAX = 160  # one GSM 7-bit SMS: the duty phone gets it whole, and it costs one


def age_words(birth: date, on: date) -> str:
    """'24 ans', '8 mois', '12 jours': what a clinician says on the phone."""
    days = (on - birth).days
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    if years >= 2:
        return f"{years} ans"
    months = (on.year - birth.year) * 12 + on.month - birth.month - (on.day < birth.day)
    if months >= 1:
        return f"{months} mois"
    return f"{max(days, 0)} jours"


def _who(sex: str, birth: date, on: date) -> str:
    years = (on - birth).days // 365
    if years < 15:
        noun = "fille" if sex == "F" else "garçon"
        if (on - birth).days < 28:
            noun = "nouveau-né"
    else:
        noun = "femme" if sex == "F" else "homme"
    return f"{noun} {age_words(birth, on)}"


def _gsm_safe(text: str) -> str:
    """Letters outside the GSM 7-bit alphabet lose their accent (ê → e), so that the SMS stays
    one 160-character part instead of a 70-character UCS-2 one."""
    keep = set("éèùìòÉàäöüñÄÖÜÑÇ")  # GSM 03.38's basic table (ç is not in it, Ç is)
    out = []
    for ch in text:
        if ch in keep or ord(ch) < 128:
            out.append(ch)
        else:
            out.append(unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode())
    return "".join(out)


def sms_text(
    *,
    urgency: str,
    reason: str,
    sex: str,
    birth_date: date,
    on: date,
    departure: str | None,
    from_name: str,
    health_number: str,
    detail: str,
) -> str:
    """The urgent SMS to the receiving facility: who (sex and age), why (the reason, or only
    the urgency class when the district says so), when the patient left, from where, and the
    health number to find the fiche. Never the name."""
    parts = [f"Référence {URGENCY_LABELS[urgency]} en route: {_who(sex, birth_date, on)}"]
    if detail == "reason":
        parts.append(REASONS[reason])
    if departure:
        parts.append(f"départ {departure}")
    parts.append(from_name)
    tail = _gsm_safe(f". Dossier {health_number}")  # "N°": ° is not in GSM 7-bit
    head = _gsm_safe(", ".join(parts))
    # a long facility name is cut, never the health number
    return head[: SMS_MAX - len(tail)].rstrip(" ,") + tail


def departure_of(moment: datetime) -> str:
    return moment.strftime("%H:%M")
