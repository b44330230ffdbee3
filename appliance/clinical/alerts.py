"""Clinical alerts for the patient summary: pregnancy danger signs and risk factors, child
nutrition and IMCI danger signs, chronic-care follow-up.

Pure functions. Encounters come in as the store returns them ({"id", "type", "care_date",
"data"}; current versions, oldest first) and the date `on` is passed in. Thresholds,
severities and sources live in data/risk_factors.json, read once, so a district can align
them with Mali's national protocols without a code change. Texts are French: the midwife or
nurse reads them as they are.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from appliance.clinical import growth
from appliance.clinical.dates import as_date
from appliance.clinical.pregnancy import lmp_from_ga

SEVERITIES = ("urgent", "high", "moderate")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Alert:
    code: str  # stable machine code, e.g. "anc.hypertension.severe"
    severity: str  # "urgent" | "high" | "moderate"
    reason: str  # French, with the measured value
    action: str  # French, what to do
    source: str  # the rule's source, short
    encounter_id: str | None = None  # the encounter that raised it; None if from the patient

    def __post_init__(self) -> None:
        if self.severity not in _RANK:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@cache
def thresholds() -> dict[str, Any]:
    """The shipped table (data/risk_factors.json); severities are checked on load."""
    text = (
        resources.files("appliance.clinical")
        .joinpath("data/risk_factors.json")
        .read_text(encoding="utf-8")
    )
    table = json.loads(text)
    _check_severities(table, "risk_factors.json")
    return table


def _check_severities(node: Any, where: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "severity" and value not in _RANK:
                raise ValueError(f"{where}: severity {value!r} not in {SEVERITIES}")
            if key == "severity_by_condition":
                for cond, sev in value.items():
                    _check_severities({"severity": sev}, f"{where}.{cond}")
            else:
                _check_severities(value, f"{where}.{key}")


# -- small helpers ------------------------------------------------------------------------


def _data(enc: dict) -> dict:
    return enc.get("data") or {}


def _upto(encounters: list[dict], on: date, kind: str) -> list[dict]:
    """Encounters of one type up to `on`, oldest first (stable for same-day ones)."""
    found = [e for e in encounters if e.get("type") == kind and as_date(e["care_date"]) <= on]
    return sorted(found, key=lambda e: as_date(e["care_date"]))


def _num(x: float) -> str:
    """French decimal comma: 38.5 -> "38,5"."""
    return f"{x:g}".replace(".", ",").replace("-", "−")


def _dmy(d: date | str) -> str:
    return as_date(d).strftime("%d/%m/%Y")


def _age_years(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _birth(patient: dict) -> date | None:
    b = patient.get("birth_date")
    return as_date(b) if b else None


def _latest(encs: list[dict], *keys: str) -> tuple[dict, list] | None:
    """The latest encounter where every key has a value, with those values."""
    for e in reversed(encs):
        values = [_data(e).get(k) for k in keys]
        if all(v is not None for v in values):
            return e, values
    return None


def _exceeds(s: int, d: int, rule: dict) -> bool:
    return s >= rule["systolic_at_least"] or d >= rule["diastolic_at_least"]


def _alert(code: str, rule: dict, reason: str, action: str, enc: dict | None) -> Alert:
    """An alert whose severity and source come from its rule in the table."""
    eid = enc["id"] if enc else None
    return Alert(code, rule["severity"], reason, action, rule["source"], eid)


# -- pregnancy ------------------------------------------------------------------------------

_ANC_SIGNS = {
    "bleeding": "saignement vaginal",
    "convulsions": "convulsions",
    "fever": "fièvre",
    "severe_headache": "céphalées sévères",
    "visual_disturbance": "troubles visuels",
    "imminent_delivery": "accouchement imminent / travail",
    "looks_very_ill": "très mauvais état général",
    "severe_vomiting": "vomissements sévères",
    "severe_abdominal_pain": "douleur abdominale sévère",
    "unconscious": "inconsciente",
    "central_cyanosis": "cyanose centrale",
}
_REFER_NOW = "Référer en urgence au CSRéf"
_RISK_ACTION = (
    "Grossesse à risque : planifier l'accouchement au CSRéf (bloc opératoire, transfusion) ; "
    "plan d'accouchement et d'urgence avec la famille"
)
_KNOWN = {
    "hypertension": "HTA connue",
    "diabetes": "Diabète connu",
    "heart_disease": "Cardiopathie connue",
    "hiv": "VIH connu",
}
_INTERVAL_TO = {
    "lmp": "la DDR",
    "ga": "la DDR estimée (âge gestationnel)",
    "first_contact": "la 1re CPN de cette grossesse",
}


def _current_pregnancy(
    contacts: list[dict], on: date, lmp: date | None, max_days: int
) -> tuple[list[dict], date | None, str | None]:
    """The contacts of the pregnancy under way on `on`, its start and how that was known.

    Start: the LMP passed in; else the LMP (or care date minus gestational age) recorded at
    the latest contact that has one, among contacts up to max_days before the latest; else
    the first of those contacts. A pregnancy past max_days from its start is over.
    """
    if not contacts:
        return [], None, None
    basis = "lmp" if lmp is not None else None
    if lmp is None:
        newest = as_date(contacts[-1]["care_date"])
        chain = [c for c in contacts if (newest - as_date(c["care_date"])).days <= max_days]
        for c in reversed(chain):
            d = _data(c)
            if d.get("lmp"):
                lmp, basis = as_date(d["lmp"]), "lmp"
                break
            if d.get("gestational_age_weeks"):
                care = as_date(c["care_date"])
                lmp, basis = lmp_from_ga(d["gestational_age_weeks"], care), "ga"
                break
        if lmp is None:
            start = as_date(chain[0]["care_date"])
            return (
                (chain, start, "first_contact")
                if (on - start).days <= max_days
                else ([], None, None)
            )
    chain = [c for c in contacts if as_date(c["care_date"]) >= lmp]
    if not chain or (on - lmp).days > max_days:
        return [], None, None
    return chain, lmp, basis


def pregnancy_alerts(
    patient: dict, anc_encounters: list[dict], on: date, *, pregnancy_lmp: date | None = None
) -> list[Alert]:
    """Alerts for the pregnancy under way: danger signs of the latest contact, latest vitals
    and BP, and high-risk factors from any contact of this pregnancy."""
    cfg = thresholds()["pregnancy"]
    lmp = as_date(pregnancy_lmp) if pregnancy_lmp else None
    contacts, start, basis = _current_pregnancy(
        _upto(anc_encounters, on, "anc"), on, lmp, 7 * cfg["max_weeks"]["value"]
    )
    if not contacts:
        return []
    return (
        _danger_signs(contacts[-1], cfg["danger_signs"])
        + _anc_vitals(contacts, cfg)
        + _anc_bp(contacts, cfg)
        + _high_risk(patient, contacts, start, basis, cfg["high_risk"])
    )


def _danger_signs(contact: dict, rule: dict) -> list[Alert]:
    # Danger signs are a quick check of the visit itself: only the latest contact counts.
    what = "Signe de danger : {} (CPN du " + _dmy(contact["care_date"]) + ")"
    action = f"{_REFER_NOW} (signe de danger)"
    return [
        _alert(
            f"anc.danger_sign.{sign}",
            rule,
            what.format(_ANC_SIGNS.get(sign, sign)),
            action,
            contact,
        )
        for sign in _data(contact).get("danger_signs") or []
    ]


def _anc_vitals(contacts: list[dict], cfg: dict) -> list[Alert]:
    out = []
    action = "Référer au CSRéf (examen physique anormal)"

    def add(code: str, rule: dict, enc: dict, what: str) -> None:
        when = f" (CPN du {_dmy(enc['care_date'])})"
        out.append(_alert(code, rule, what + when, action, enc))

    if found := _latest(contacts, "temperature_c"):
        enc, (t,) = found
        rule = cfg["fever"]
        if t >= rule["temperature_c_at_least"]:
            limit = _num(rule["temperature_c_at_least"])
            add("anc.vital.fever", rule, enc, f"T° {_num(t)} °C (≥ {limit} °C)")
    if found := _latest(contacts, "pulse_bpm"):
        enc, (p,) = found
        rule = cfg["pulse"]
        if p < rule["bpm_below"]:
            add("anc.vital.pulse_low", rule, enc, f"Pouls {p} /min (< {rule['bpm_below']})")
        elif p > rule["bpm_above"]:
            add("anc.vital.pulse_high", rule, enc, f"Pouls {p} /min (> {rule['bpm_above']})")
    if found := _latest(contacts, "spo2_pct"):
        enc, (s,) = found
        rule = cfg["spo2"]
        if s < rule["pct_below"]:
            add("anc.vital.spo2_low", rule, enc, f"SpO₂ {s} % (< {rule['pct_below']} %)")
    return out


def _anc_bp(contacts: list[dict], cfg: dict) -> list[Alert]:
    found = _latest(contacts, "bp_systolic", "bp_diastolic")
    if not found:
        return []
    enc, (s, d) = found
    what = f"TA {s}/{d} mmHg (CPN du {_dmy(enc['care_date'])})"
    severe, raised = cfg["severe_hypertension"], cfg["hypertension"]
    if _exceeds(s, d, severe):
        action = f"{_REFER_NOW} (voie de la pré-éclampsie sévère)"
        return [_alert("anc.hypertension.severe", severe, what, action, enc)]
    if _exceeds(s, d, raised):
        action = (
            "Voie de la pré-éclampsie : reprendre la TA après 10-15 min de repos, rechercher "
            "une protéinurie et des signes de gravité ; référer au CSRéf si confirmée"
        )
        return [_alert("anc.hypertension.raised", raised, what, action, enc)]
    return []


def _max_of(contacts: list[dict], key: str) -> tuple[dict, Any] | None:
    """Highest value of a count over the contacts; ties go to the latest contact."""
    best = None
    for c in contacts:
        v = _data(c).get(key)
        if v is not None and (best is None or v >= best[1]):
            best = (c, v)
    return best


def _flagged(contacts: list[dict], key: str) -> dict | None:
    """The latest contact where a history flag is set."""
    return next((c for c in reversed(contacts) if _data(c).get(key)), None)


def _high_risk(
    patient: dict, contacts: list[dict], start: date, basis: str, cfg: dict
) -> list[Alert]:
    out: list[Alert] = []

    def add(key: str, code: str, reason: str, enc: dict | None, action: str = _RISK_ACTION):
        if cfg[key].get("enabled", True):
            out.append(_alert(f"pregnancy.high_risk.{code}", cfg[key], reason, action, enc))

    birth = _birth(patient)
    if birth is not None:
        # Age at the start of the pregnancy: a girl who turns 18 before delivery still had an
        # adolescent pregnancy.
        age = _age_years(birth, start)
        young, old = cfg["age_under"]["years"], cfg["age_over"]["years"]
        if age < young:
            add("age_under", f"age_under_{young}", f"Âge {age} ans (< {young} ans)", None)
        if age > old:
            add("age_over", f"age_over_{old}", f"Âge {age} ans (> {old} ans)", None)

    if (found := _max_of(contacts, "parity")) and found[1] >= (
        n := cfg["grand_multiparity"]["parity_at_least"]
    ):
        add("grand_multiparity", "grand_multiparity", f"Parité {found[1]} (≥ {n})", found[0])
    if (found := _max_of(contacts, "miscarriages")) and found[1] >= (
        n := cfg["recurrent_miscarriage"]["miscarriages_at_least"]
    ):
        reason = f"{found[1]} avortements spontanés antérieurs (≥ {n})"
        add("recurrent_miscarriage", "recurrent_miscarriage", reason, found[0])

    for key, reason in (
        ("previous_caesarean", "Utérus cicatriciel (césarienne antérieure)"),
        ("previous_stillbirth", "Antécédent de mort-né"),
        ("previous_difficult_delivery", "Antécédent d'accouchement difficile"),
        ("previous_pph", "Antécédent d'hémorragie du post-partum"),
    ):
        if enc := _flagged(contacts, key):
            add(key, key, reason, enc)

    if found := _latest(contacts, "last_birth_date"):
        enc, (last,) = found
        days = (start - as_date(last)).days
        limit = cfg["short_birth_interval"]["days_under"]
        if 0 <= days < limit:
            months, limit_months = int(days / 30.4375), round(limit / 30.4375)
            reason = (
                f"Dernier accouchement le {_dmy(last)}, {months} mois avant "
                f"{_INTERVAL_TO[basis]} (< {limit_months} mois)"
            )
            add("short_birth_interval", "short_birth_interval", reason, enc)

    if found := _latest(contacts, "height_cm"):
        enc, (h,) = found
        limit = cfg["short_stature"]["height_cm_under"]
        if h < limit:
            add("short_stature", "short_stature", f"Taille {_num(h)} cm (< {limit} cm)", enc)

    if found := _latest(contacts, "hb_g_dl"):
        enc, (hb,) = found
        limit = cfg["severe_anaemia"]["hb_g_dl_under"]
        if hb < limit:
            action = "Référer au CSRéf (anémie sévère) ; accouchement en structure avec transfusion"
            reason = f"Hb {_num(hb)} g/dL (< {_num(limit)} g/dL)"
            add("severe_anaemia", "severe_anaemia", reason, enc, action)

    for cond in cfg["known_conditions"]["conditions"]:
        has = (c for c in reversed(contacts) if cond in (_data(c).get("known_conditions") or []))
        if enc := next(has, None):
            arv = " ; vérifier le traitement ARV (PTME)" if cond == "hiv" else ""
            reason, action = _KNOWN.get(cond, cond), _RISK_ACTION + arv
            add("known_conditions", f"known_{cond}", reason, enc, action)
    return out


# -- children under 5 -----------------------------------------------------------------------

_IMCI_SIGNS = {
    "unable_to_drink": "incapable de boire ou de téter",
    "vomits_everything": "vomit tout ce qu'il consomme",
    "convulsions": "convulsions",
    "lethargic": "léthargique ou inconscient",
}


def child_alerts(patient: dict, encounters: list[dict], on: date) -> list[Alert]:
    """Under-5s: SAM/MAM from the latest growth measure, growth faltering, and IMCI general
    danger signs at the latest consultation; only from recent data."""
    cfg = thresholds()["child"]
    birth = _birth(patient)
    if birth is None or birth > on or _age_years(birth, on) >= cfg["under_years"]["value"]:
        return []
    measures = _upto(encounters, on, "growth")
    recent = cfg["nutrition_recent_days"]["value"]
    return (
        _nutrition(patient, birth, measures, on, recent, cfg)
        + _faltering(measures, on, recent, cfg["growth_faltering"])
        + _imci_signs(_upto(encounters, on, "consultation"), on, cfg["imci_danger_signs"])
    )


def _nutrition(
    patient: dict, birth: date, measures: list[dict], on: date, recent: int, cfg: dict
) -> list[Alert]:
    if not measures or (on - as_date(measures[-1]["care_date"])).days > recent:
        return []
    enc = measures[-1]
    d = _data(enc)
    sex = patient.get("sex") if patient.get("sex") in ("M", "F") else None
    result = growth.nutrition_of(sex, (as_date(enc["care_date"]) - birth).days, d)
    status = result["status"]
    if status not in ("sam", "mam"):
        return []
    muac, wfh = d.get("muac_mm"), result["wfh"]
    sam_mm, mam_mm = growth.MUAC_SAM_MM, growth.MUAC_MAM_MM
    found = {
        "oedema": "œdèmes bilatéraux",
        f"muac<{sam_mm}": f"PB {muac} mm (< {sam_mm} mm)",
        f"muac<{mam_mm}": f"PB {muac} mm ({sam_mm}-{mam_mm - 1} mm)",
        "wfh<-3": f"P/T {_num(wfh or 0)} z (< −3)",
        "wfh<-2": f"P/T {_num(wfh or 0)} z (−3 à −2)",
    }
    parts = [found[r] for r in result["reasons"] if r in found]
    doubtful = [r.split()[0] for r in result["reasons"] if r.endswith("implausible")]
    label = "Malnutrition aiguë sévère" if status == "sam" else "Malnutrition aiguë modérée"
    reason = f"{label} : {', '.join(parts)} (mesure du {_dmy(enc['care_date'])})"
    if doubtful:
        reason += f" ; valeur à vérifier : {', '.join(doubtful)}"
    if status == "sam":
        action = (
            "Prise en charge MAS (PCIMA) : URENI si complications médicales, œdèmes sévères ou "
            "test de l'appétit échoué ; sinon URENAS"
        )
    else:
        action = "Prise en charge MAM (PCIMA) : inscrire à l'URENAM ; conseils nutritionnels"
    return [_alert(f"child.{status}", cfg[status], reason, action, enc)]


def _faltering(measures: list[dict], on: date, recent: int, rule: dict) -> list[Alert]:
    weighings = [e for e in measures if _data(e).get("weight_kg") is not None]
    if len(weighings) < 2:
        return []
    prev, last = weighings[-2], weighings[-1]
    gap = (as_date(last["care_date"]) - as_date(prev["care_date"])).days
    w0, w1 = _data(prev)["weight_kg"], _data(last)["weight_kg"]
    if (on - as_date(last["care_date"])).days > recent:
        return []
    if not rule["interval_days_min"] <= gap <= rule["interval_days_max"] or w1 > w0:
        return []
    reason = (
        f"Pas de prise de poids : {_num(w0)} kg le {_dmy(prev['care_date'])}, "
        f"{_num(w1)} kg le {_dmy(last['care_date'])}"
    )
    action = (
        "Rechercher une maladie ou un problème d'alimentation, conseiller la mère (ANJE), "
        "suivre le poids de près"
    )
    return [_alert("child.growth_faltering", rule, reason, action, last)]


def _imci_signs(consultations: list[dict], on: date, rule: dict) -> list[Alert]:
    if not consultations:
        return []
    last = consultations[-1]
    if (on - as_date(last["care_date"])).days > rule["recent_days"]:
        return []
    action = f"{_REFER_NOW} après le traitement pré-transfert (PCIME : maladie très grave)"
    what = "Signe général de danger : {} (consultation du " + _dmy(last["care_date"]) + ")"
    return [
        _alert(
            f"child.imci_danger_sign.{sign}",
            rule,
            what.format(_IMCI_SIGNS.get(sign, sign)),
            action,
            last,
        )
        for sign in _data(last).get("danger_signs") or []
    ]


# -- chronic care ---------------------------------------------------------------------------

_CONDITIONS = {
    "hypertension": "HTA",
    "diabetes": "Diabète",
    "hiv": "VIH",
    "tb": "Tuberculose",
    "epilepsy": "Épilepsie",
    "asthma": "Asthme",
    "sickle_cell": "Drépanocytose",
}


def chronic_alerts(patient: dict, chronic_encounters: list[dict], on: date) -> list[Alert]:
    """Missed follow-up per condition (on > next_visit + grace), and a BP crisis at the
    latest chronic-care visit."""
    cfg = thresholds()["chronic"]
    visits = _upto(chronic_encounters, on, "chronic")
    out = []
    latest: dict[str, dict] = {}
    for v in visits:
        latest[_data(v).get("condition")] = v
    missed = cfg["missed_follow_up"]
    for cond, v in latest.items():
        nv = _data(v).get("next_visit")
        if nv is None or (late := (on - as_date(nv)).days) <= missed["grace_days"]:
            continue
        severity = missed.get("severity_by_condition", {}).get(cond, missed["severity"])
        rule = {**missed, "severity": severity}
        reason = f"{_CONDITIONS.get(cond, cond)} : rendez-vous du {_dmy(nv)} manqué ({late} jours)"
        action = "Relancer le patient (téléphone, relais communautaire) et reprogrammer la visite"
        out.append(_alert("chronic.missed_follow_up", rule, reason, action, v))

    crisis = cfg["bp_crisis"]
    if visits:
        last_day = as_date(visits[-1]["care_date"])
        for v in visits:
            d = _data(v)
            s, dia = d.get("bp_systolic"), d.get("bp_diastolic")
            if as_date(v["care_date"]) != last_day or s is None or dia is None:
                continue
            if _exceeds(s, dia, crisis):
                reason = f"TA {s}/{dia} mmHg (visite du {_dmy(last_day)})"
                action = (
                    "Rechercher des signes d'atteinte d'organe (céphalée, douleur thoracique, "
                    "déficit, troubles visuels) ; référer en urgence au CSRéf"
                )
                out.append(_alert("chronic.bp_crisis", crisis, reason, action, v))
                break
    return out


# -- everything -----------------------------------------------------------------------------


def alerts_for(patient: dict, encounters: list[dict], on: date) -> list[Alert]:
    """All alerts for a patient on a date: deduplicated (same code from the same encounter),
    urgent first, then high, then moderate; rule order within a severity."""
    encounters = [e for e in encounters if as_date(e["care_date"]) <= on]
    out: list[Alert] = []
    if patient.get("sex") != "M":
        # ANC contacts up to a recorded delivery belong to that finished pregnancy.
        births = [as_date(e["care_date"]) for e in encounters if e.get("type") == "delivery"]
        anc = [e for e in encounters if e.get("type") == "anc"]
        if births:
            anc = [e for e in anc if as_date(e["care_date"]) > max(births)]
        out += pregnancy_alerts(patient, anc, on)
    out += child_alerts(patient, encounters, on)
    out += chronic_alerts(patient, encounters, on)
    seen: set[tuple[str, str | None]] = set()
    unique = []
    for a in out:
        if (a.code, a.encounter_id) not in seen:
            seen.add((a.code, a.encounter_id))
            unique.append(a)
    return sorted(unique, key=lambda a: _RANK[a.severity])
