"""Encounter and registration forms, derived from the domain's pydantic models so a new field
in a model appears on the form; and the French explanation of each validation error."""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from appliance.clinical import texts
from appliance.clock import ClockReading, plausible
from appliance.domain import encounter_rules
from appliance.domain.encounters import MODELS, Diagnosis, Prescription, Referral
from appliance.domain.patient import PatientIn
from appliance.web.i18n import N_, Translator, dmy

ROWS = {"diagnoses": 3, "prescriptions": 3, "treatment": 3}
_NESTED_LISTS = {Diagnosis: "diagnoses", Prescription: "prescriptions"}
# Fields the form leaves out: links set by other screens.
_HIDDEN = {"child_id"}
# A short record first, the rest below a fold: what each form shows open.
PRIMARY = {
    "consultation": {"care_date", "temperature_c", "weight_kg", "malaria_rdt", "diagnoses"},
    "anc": {"care_date", "lmp", "gestational_age_weeks", "bp_systolic", "bp_diastolic"},
    "growth": {"care_date", "weight_kg", "height_cm", "measured", "muac_mm", "oedema"},
    "immunization": {"care_date", "antigen", "dose"},
}


@dataclass(frozen=True)
class Field:
    name: str
    widget: str  # number | decimal | date | text | textarea | lines | select | checkbox |
    #              checkboxes | diagnoses | prescriptions | referral
    required: bool = False
    choices: tuple[str, ...] = ()
    primary: bool = True


def _strip(annotation: Any) -> tuple[Any, bool]:
    """The type inside Optional[...] / Annotated[...], and whether None is allowed."""
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(get_args(annotation))
            annotation = args[0]
        else:
            return annotation, optional


def _widget(name: str, annotation: Any) -> tuple[str, tuple[str, ...]]:
    inner, _ = _strip(annotation)
    origin = get_origin(inner)
    if origin is Literal:
        return "select", tuple(get_args(inner))
    if origin is list:
        item, _ = _strip(get_args(inner)[0])
        if get_origin(item) is Literal:
            return "checkboxes", tuple(get_args(item))
        if item in (Diagnosis, Prescription):
            return ("diagnoses" if item is Diagnosis else "prescriptions"), ()
        return "lines", ()
    if inner is Referral:
        return "referral", ()
    if inner is bool:
        return "checkbox", ()
    if inner is int:
        return "number", ()
    if inner is float:
        return "decimal", ()
    if inner is date:
        return "date", ()
    return ("textarea" if name == "notes" else "text"), ()


@cache
def fields_of(kind: str) -> tuple[Field, ...]:
    model: type[BaseModel] = MODELS[kind]
    primary = PRIMARY.get(kind)
    out = []
    # notes last: the measures first, free text at the end
    names = sorted(model.model_fields, key=lambda n: n == "notes")
    for name in names:
        info = model.model_fields[name]
        if name in _HIDDEN:
            continue
        widget, choices = _widget(name, info.annotation)
        out.append(
            Field(
                name,
                widget,
                required=info.is_required(),
                choices=choices,
                primary=primary is None or name in primary,
            )
        )
    return tuple(out)


def number(text: str) -> Any:
    """Numbers as typed on a French keyboard (12,5); anything else is left for the model to
    refuse with its own message."""
    text = text.strip().replace(",", ".").replace(" ", "")
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _rows(form: Any, prefix: str, keys: tuple[str, ...], numeric: set[str]) -> list[dict]:
    rows = []
    for i in range(ROWS[prefix]):
        row = {}
        for key in keys:
            value = (form.get(f"{prefix}-{i}-{key}") or "").strip()
            if value:
                row[key] = number(value) if key in numeric else value
        if any(k != "confirmed" for k in row):
            if "confirmed" in keys:
                row["confirmed"] = "confirmed" in row
            rows.append(row)
    return rows


def _max_lengths(model: type[BaseModel]) -> dict[str, int]:
    out = {}
    for name, info in model.model_fields.items():
        limits = [m.max_length for m in info.metadata if getattr(m, "max_length", None)]
        if limits:
            out[name] = min(limits)
    return out


# The registration's text limits, from the model that enforces them: the inputs carry them as
# maxlength, and a longer value sent anyway is refused beside its field.
PATIENT_MAX_LENGTHS = _max_lengths(PatientIn)


def patient_data(values: dict[str, str]) -> dict[str, Any]:
    """Registration fields as typed → what services.patients.register expects: empty fields
    left out, ages as numbers, and a birth date (when given) winning over an age."""
    data: dict[str, Any] = {k: v.strip() for k, v in values.items() if v and v.strip()}
    for k in ("age_years", "age_months"):
        if k in data:
            data[k] = number(data[k])
    if "birth_date" in data:
        data.pop("age_years", None), data.pop("age_months", None)
    return data


PRESCRIPTION_KEYS = ("drug", "dose", "times_per_day", "days", "quantity")
CLOCK_UNTRUSTED = N_("L'horloge de l'appareil n'est pas confirmée : vérifiez la date des soins")


def care_date_default(reading: ClockReading) -> date | None:
    """The care date a new form starts with: today, unless the clock shows a date that cannot
    be right (1970 after a power cut), which a busy nurse would save unread: then nothing."""
    return reading.today if reading.trusted or plausible(reading.now) else None


def clock_warnings(reading: ClockReading, t: Translator) -> dict[str, list[str]]:
    """field → warnings: the care date, while nobody has confirmed the clock since boot."""
    return {} if reading.trusted else {"care_date": [t(CLOCK_UNTRUSTED)]}


def parse(kind: str, form: Any) -> dict[str, Any]:
    """Form fields → the dict the encounter service expects (empty fields left out)."""
    data: dict[str, Any] = {}
    for f in fields_of(kind):
        raw = form.get(f.name)
        if f.widget == "checkbox":
            data[f.name] = raw is not None
        elif f.widget == "checkboxes":
            data[f.name] = [v for v in form.getlist(f.name) if v]
        elif f.widget == "lines":
            data[f.name] = [line.strip() for line in (raw or "").splitlines() if line.strip()]
        elif f.widget == "diagnoses":
            data[f.name] = _rows(form, f.name, ("code", "confirmed"), set())
        elif f.widget == "prescriptions":
            data[f.name] = _rows(
                form, f.name, PRESCRIPTION_KEYS, {"times_per_day", "days", "quantity"}
            )
        elif f.widget == "referral":
            to = (form.get("referral-to") or "").strip()
            reason = (form.get("referral-reason") or "").strip()
            if to or reason:
                data[f.name] = {
                    "to": to,
                    "reason": reason,
                    "urgent": form.get("referral-urgent") is not None,
                }
        elif raw is not None and str(raw).strip() != "":
            data[f.name] = number(raw) if f.widget in ("number", "decimal") else str(raw).strip()
    return data


# pydantic error type → French explanation (a msgid); the values come from the error's ctx.
MESSAGES = {
    "missing": N_("Obligatoire."),
    "int_parsing": N_("Un nombre entier est attendu."),
    "int_from_float": N_("Un nombre entier est attendu."),
    "float_parsing": N_("Un nombre est attendu."),
    "date_parsing": N_("Une date est attendue (jj/mm/aaaa)."),
    "date_from_datetime_parsing": N_("Une date est attendue (jj/mm/aaaa)."),
    "literal_error": N_("Choisissez une valeur de la liste."),
    "greater_than_equal": N_("Doit être au moins %(ge)s."),
    "less_than_equal": N_("Doit être au plus %(le)s."),
    "too_short": N_("Indiquez au moins une ligne."),
    "too_long": N_("Trop de lignes (au plus %(max_length)s)."),
    "too_large": N_("Trop de données (au plus %(max_kb)s Ko)."),
    "too_deep": N_("Données imbriquées trop profondément (au plus %(max_depth)s niveaux)."),
    "string_too_short": N_("Trop court."),
    "string_too_long": N_("Trop long (au plus %(max_length)s caractères)."),
    "implausible": N_(
        "%(value)s %(unit)s est hors des valeurs plausibles (%(lo)s–%(hi)s %(unit)s)."
    ),
    "future_date": N_("Cette date est dans le futur (aujourd'hui : %(t)s)."),
    "before_birth": N_("Cette date est avant la naissance (%(b)s)."),
    "too_old": N_("Cette date est trop ancienne (au plus tôt le %(e)s) : vérifiez-la."),
    "bp_pair": N_("La tension demande la systolique et la diastolique."),
    "bp_order": N_("La diastolique doit être plus basse que la systolique."),
    "lmp_range": N_("La DDR doit être de 0 à 44 semaines avant la date des soins."),
    "parity": N_("La parité doit être plus petite que la gestité."),
    "no_measure": N_("Indiquez au moins le poids, la taille ou le PB."),
    "next_visit": N_("Le rendez-vous doit être après la date des soins."),
    "name": N_("Lettres seulement (espaces, - et ' permis)."),
    "birth": N_("Indiquez la date de naissance ou l'âge."),
    "birth_future": N_("La date de naissance est dans le futur."),
    "birth_past": N_("La date de naissance est trop ancienne."),
    "phone": N_("Numéro de téléphone non valable."),
    "value_error": N_("Valeur non valable."),
    # the referral and its counter-referral (appliance/domain/referrals.py)
    "time_format": N_("Écrivez l'heure comme 14:20."),
    "reason_detail": N_("Précisez le motif en quelques mots."),
    "unknown_facility": N_("Ce centre n'est pas dans le fichier de la structure."),
    "before_referral": N_("Cette date est avant la référence (%(d)s)."),
    "diagnosis": N_("Indiquez le diagnostic du CSRéf."),
    "next_visit_died": N_("Pas de rendez-vous pour un patient décédé."),
    # the encounter rules (who may have which type): their own French messages
    **{f"rule_{code}": text for code, text in encounter_rules.MESSAGES.items()},
}
# Model-level checks about a pair of fields: shown beside the first of them.
_PAIRS = {
    "bp_pair": "bp_systolic",
    "bp_order": "bp_systolic",
    "lmp_range": "lmp",
    "parity": "parity",
    "no_measure": "weight_kg",
    "next_visit": "next_visit",
    "future_date": "care_date",
    "before_birth": "care_date",
    "too_old": "care_date",
    "birth": "birth_date",
    "birth_future": "birth_date",
    "birth_past": "birth_date",
    "time_format": "departure",
    "reason_detail": "reason_detail",
    "diagnosis": "diagnosis",
    "next_visit_died": "next_visit",
}


def refusal_text(refusal: encounter_rules.Refusal, t: Translator) -> str:
    """An encounter rule's refusal in the reader's language."""
    text = t(encounter_rules.MESSAGES[refusal.code])
    return text % {"date": dmy(refusal.date)} if refusal.date else text


def explain(details: list[dict[str, Any]], t: Translator) -> dict[str, list[str]]:
    """field name → messages, in the reader's language ('' for the form as a whole)."""
    out: dict[str, list[str]] = {}
    for e in details:
        loc = [str(p) for p in e.get("loc", ()) if p != "__root__"]
        field = loc[0] if loc else _PAIRS.get(e.get("type", ""), "")
        message = MESSAGES.get(e.get("type", ""))
        if message is None:
            text = e.get("msg", "")
        else:
            values = {k: _show(v, t) for k, v in (e.get("ctx") or {}).items()}
            try:
                text = t(message) % values
            except (KeyError, TypeError, ValueError):
                text = t(message)
        if len(loc) > 1 and loc[1].isdigit():
            line = t("Ligne")
            text = f"{line} {int(loc[1]) + 1} : {text}"
        out.setdefault(field, []).append(text)
    return out


def _show(value: Any, t: Translator) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # "400 kg", not "400.0 kg"
    if isinstance(value, float):
        return texts.value_text(texts.num(value), t)  # "0,3 kg" in French, "0.3 kg" in English
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":
        return dmy(value)
    return value
