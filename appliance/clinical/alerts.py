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
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from appliance.clinical import growth
from appliance.clinical.dates import as_date
from appliance.clinical.pregnancy import lmp_from_ga
from appliance.clinical.texts import N_, Translate, msg, num, render

SEVERITIES = ("urgent", "high", "moderate")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Alert:
    code: str  # stable machine code, e.g. "anc.hypertension.severe"
    severity: str  # "urgent" | "high" | "moderate"
    reason: str  # French, with the measured value
    action: str  # French, what to do (a msgid: translate it as it is)
    source: str  # the rule's source, short
    encounter_id: str | None = None  # the encounter that raised it; None if from the patient
    # The reason as a French template (msgid) and its values (texts.render), for English
    reason_msg: str = ""
    reason_args: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

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


def _alert(
    code: str, rule: dict, reason: tuple[str, dict[str, Any]], action: str, enc: dict | None
) -> Alert:
    """An alert whose severity and source come from its rule in the table; `reason` is a
    French template and its values."""
    eid = enc["id"] if enc else None
    template, args = reason
    return Alert(
        code,
        rule["severity"],
        render(template, args),
        action,
        rule["source"],
        eid,
        template,
        args,
    )


def reason_text(alert: Any, t: Translate | None = None) -> str:
    """An alert's reason (an Alert or its JSON) in the reader's language."""
    get = alert.get if isinstance(alert, dict) else lambda k, d=None: getattr(alert, k, d)
    template = get("reason_msg")
    if not template:  # an alert computed before reasons had templates
        return get("reason") or ""
    return render(template, get("reason_args") or {}, t)


def action_text(alert: Any, t: Translate | None = None) -> str:
    action = alert.get("action") if isinstance(alert, dict) else alert.action
    return t(action) if t else action


# -- pregnancy ------------------------------------------------------------------------------

_ANC_SIGNS = {
    "bleeding": N_("saignement vaginal"),
    "convulsions": N_("convulsions"),
    "fever": N_("fièvre"),
    "severe_headache": N_("céphalées sévères"),
    "visual_disturbance": N_("troubles visuels"),
    "imminent_delivery": N_("accouchement imminent / travail"),
    "looks_very_ill": N_("très mauvais état général"),
    "severe_vomiting": N_("vomissements sévères"),
    "severe_abdominal_pain": N_("douleur abdominale sévère"),
    "unconscious": N_("inconsciente"),
    "central_cyanosis": N_("cyanose centrale"),
}
# Actions are whole sentences (msgids), never put together from pieces.
_REFER_DANGER_SIGN = N_("Référer en urgence au CSRéf (signe de danger)")
_REFER_PREECLAMPSIA = N_("Référer en urgence au CSRéf (voie de la pré-éclampsie sévère)")
_REFER_EXAM = N_("Référer au CSRéf (examen physique anormal)")
_PREECLAMPSIA_PATH = N_(
    "Voie de la pré-éclampsie : reprendre la TA après 10-15 min de repos, rechercher "
    "une protéinurie et des signes de gravité ; référer au CSRéf si confirmée"
)
_RISK_ACTION = N_(
    "Grossesse à risque : planifier l'accouchement au CSRéf (bloc opératoire, transfusion) ; "
    "plan d'accouchement et d'urgence avec la famille"
)
_RISK_ACTION_HIV = N_(
    "Grossesse à risque : planifier l'accouchement au CSRéf (bloc opératoire, transfusion) ; "
    "plan d'accouchement et d'urgence avec la famille ; vérifier le traitement ARV (PTME)"
)
_ANAEMIA_ACTION = N_(
    "Référer au CSRéf (anémie sévère) ; accouchement en structure avec transfusion"
)
_MODERATE_ANAEMIA_ACTION = N_(
    "Anémie modérée : fer 120 mg + acide folique 400 µg par jour (dose de traitement) ; "
    "contrôler l'Hb dans 4 semaines ; référer au CSRéf si elle ne remonte pas"
)
_MILD_ANAEMIA_ACTION = N_(
    "Anémie légère : fer 120 mg + acide folique 400 µg par jour jusqu'à Hb ≥ 11 g/dL ; "
    "contrôler l'Hb à la prochaine CPN"
)
_KNOWN = {
    "hypertension": N_("HTA connue"),
    "diabetes": N_("Diabète connu"),
    "heart_disease": N_("Cardiopathie connue"),
    "hiv": N_("VIH connu"),
}
_INTERVAL_TO = {
    "lmp": N_("la DDR"),
    "ga": N_("la DDR estimée (âge gestationnel)"),
    "first_contact": N_("la 1re CPN de cette grossesse"),
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
        + _anc_anaemia(contacts, cfg)
        + _high_risk(patient, contacts, start, basis, cfg["high_risk"])
    )


def _danger_signs(contact: dict, rule: dict) -> list[Alert]:
    # Danger signs are a quick check of the visit itself: only the latest contact counts.
    what = N_("Signe de danger : %(sign)s (CPN du %(date)s)")
    when = _dmy(contact["care_date"])
    return [
        _alert(
            f"anc.danger_sign.{sign}",
            rule,
            (what, {"sign": _ANC_SIGNS.get(sign, sign), "date": when}),
            _REFER_DANGER_SIGN,
            contact,
        )
        for sign in _data(contact).get("danger_signs") or []
    ]


def _anc_vitals(contacts: list[dict], cfg: dict) -> list[Alert]:
    out = []

    def add(code: str, rule: dict, enc: dict, what: str, **args: Any) -> None:
        args["date"] = _dmy(enc["care_date"])
        out.append(_alert(code, rule, (what, args), _REFER_EXAM, enc))

    if found := _latest(contacts, "temperature_c"):
        enc, (t,) = found
        rule = cfg["fever"]
        if t >= rule["temperature_c_at_least"]:
            limit = num(rule["temperature_c_at_least"])
            what = N_("T° %(t)s °C (≥ %(limit)s °C) (CPN du %(date)s)")
            add("anc.vital.fever", rule, enc, what, t=num(t), limit=limit)
    if found := _latest(contacts, "pulse_bpm"):
        enc, (p,) = found
        rule = cfg["pulse"]
        if p < rule["bpm_below"]:
            what = N_("Pouls %(p)s /min (< %(limit)s) (CPN du %(date)s)")
            add("anc.vital.pulse_low", rule, enc, what, p=p, limit=rule["bpm_below"])
        elif p > rule["bpm_above"]:
            what = N_("Pouls %(p)s /min (> %(limit)s) (CPN du %(date)s)")
            add("anc.vital.pulse_high", rule, enc, what, p=p, limit=rule["bpm_above"])
    if found := _latest(contacts, "spo2_pct"):
        enc, (s,) = found
        rule = cfg["spo2"]
        if s < rule["pct_below"]:
            what = N_("SpO₂ %(s)s %% (< %(limit)s %%) (CPN du %(date)s)")
            add("anc.vital.spo2_low", rule, enc, what, s=s, limit=rule["pct_below"])
    return out


def _anc_bp(contacts: list[dict], cfg: dict) -> list[Alert]:
    found = _latest(contacts, "bp_systolic", "bp_diastolic")
    if not found:
        return []
    enc, (s, d) = found
    what = (
        N_("TA %(s)s/%(d)s mmHg (CPN du %(date)s)"),
        {"s": s, "d": d, "date": _dmy(enc["care_date"])},
    )
    severe, raised = cfg["severe_hypertension"], cfg["hypertension"]
    if _exceeds(s, d, severe):
        return [_alert("anc.hypertension.severe", severe, what, _REFER_PREECLAMPSIA, enc)]
    if _exceeds(s, d, raised):
        return [_alert("anc.hypertension.raised", raised, what, _PREECLAMPSIA_PATH, enc)]
    return []


def _anc_anaemia(contacts: list[dict], cfg: dict) -> list[Alert]:
    """Moderate and mild anaemia from the latest Hb (WHO 2011 cut-offs in pregnancy); severe
    anaemia is a high-risk factor (_high_risk), raised there with its referral."""
    found = _latest(contacts, "hb_g_dl")
    if not found:
        return []
    enc, (hb,) = found
    severe = cfg["high_risk"]["severe_anaemia"]["hb_g_dl_under"]
    moderate, mild = cfg["moderate_anaemia"], cfg["mild_anaemia"]
    # "from 10 to under 11", not WHO's "10.0-10.9": a Hb of 10.95 falls inside the words
    what = N_("Hb %(hb)s g/dL (de %(low)s à moins de %(limit)s g/dL) (CPN du %(date)s)")
    if hb < severe:
        return []
    if hb < moderate["hb_g_dl_under"]:
        code, rule, action, low = "anc.anaemia.moderate", moderate, _MODERATE_ANAEMIA_ACTION, severe
    elif hb < mild["hb_g_dl_under"]:
        code, rule, action = "anc.anaemia.mild", mild, _MILD_ANAEMIA_ACTION
        low = moderate["hb_g_dl_under"]
    else:
        return []
    limit = rule["hb_g_dl_under"]
    args = {"hb": num(hb), "low": num(low), "limit": num(limit), "date": _dmy(enc["care_date"])}
    return [_alert(code, rule, (what, args), action, enc)]


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

    def add(
        key: str,
        code: str,
        reason: str,
        enc: dict | None,
        action: str = _RISK_ACTION,
        **args: Any,
    ):
        if cfg[key].get("enabled", True):
            out.append(_alert(f"pregnancy.high_risk.{code}", cfg[key], (reason, args), action, enc))

    birth = _birth(patient)
    if birth is not None:
        # Age at the start of the pregnancy: a girl who turns 18 before delivery still had an
        # adolescent pregnancy.
        age = _age_years(birth, start)
        young, old = cfg["age_under"]["years"], cfg["age_over"]["years"]
        if age < young:
            reason = N_("Âge %(age)s ans (< %(limit)s ans)")
            add("age_under", f"age_under_{young}", reason, None, age=age, limit=young)
        if age > old:
            reason = N_("Âge %(age)s ans (> %(limit)s ans)")
            add("age_over", f"age_over_{old}", reason, None, age=age, limit=old)

    if (found := _max_of(contacts, "parity")) and found[1] >= (
        n := cfg["grand_multiparity"]["parity_at_least"]
    ):
        reason = N_("Parité %(n)s (≥ %(limit)s)")
        add("grand_multiparity", "grand_multiparity", reason, found[0], n=found[1], limit=n)
    if (found := _max_of(contacts, "miscarriages")) and found[1] >= (
        n := cfg["recurrent_miscarriage"]["miscarriages_at_least"]
    ):
        reason = N_("%(n)s avortements spontanés antérieurs (≥ %(limit)s)")
        key = "recurrent_miscarriage"
        add(key, key, reason, found[0], n=found[1], limit=n)

    for key, reason in (
        ("previous_caesarean", N_("Utérus cicatriciel (césarienne antérieure)")),
        ("previous_stillbirth", N_("Antécédent de mort-né")),
        ("previous_difficult_delivery", N_("Antécédent d'accouchement difficile")),
        ("previous_pph", N_("Antécédent d'hémorragie du post-partum")),
    ):
        if enc := _flagged(contacts, key):
            add(key, key, reason, enc)

    if found := _latest(contacts, "last_birth_date"):
        enc, (last,) = found
        days = (start - as_date(last)).days
        limit = cfg["short_birth_interval"]["days_under"]
        if 0 <= days < limit:
            months, limit_months = int(days / 30.4375), round(limit / 30.4375)
            reason = N_(
                "Dernier accouchement le %(date)s, %(months)s mois avant %(since)s "
                "(< %(limit)s mois)"
            )
            key = "short_birth_interval"
            add(
                key,
                key,
                reason,
                enc,
                date=_dmy(last),
                months=months,
                since=_INTERVAL_TO[basis],
                limit=limit_months,
            )

    if found := _latest(contacts, "height_cm"):
        enc, (h,) = found
        limit = cfg["short_stature"]["height_cm_under"]
        if h < limit:
            reason = N_("Taille %(h)s cm (< %(limit)s cm)")
            add("short_stature", "short_stature", reason, enc, h=num(h), limit=limit)

    if found := _latest(contacts, "hb_g_dl"):
        enc, (hb,) = found
        limit = cfg["severe_anaemia"]["hb_g_dl_under"]
        if hb < limit:
            reason = N_("Hb %(hb)s g/dL (< %(limit)s g/dL)")
            key = "severe_anaemia"
            add(key, key, reason, enc, _ANAEMIA_ACTION, hb=num(hb), limit=num(limit))

    for cond in cfg["known_conditions"]["conditions"]:
        has = (c for c in reversed(contacts) if cond in (_data(c).get("known_conditions") or []))
        if enc := next(has, None):
            action = _RISK_ACTION_HIV if cond == "hiv" else _RISK_ACTION
            # an unknown condition code is shown as it is (a "%" in it is no placeholder)
            reason = _KNOWN.get(cond) or cond.replace("%", "%%")
            add("known_conditions", f"known_{cond}", reason, enc, action)
    return out


# -- children under 5 -----------------------------------------------------------------------

_IMCI_SIGNS = {
    "unable_to_drink": N_("incapable de boire ou de téter"),
    "vomits_everything": N_("vomit tout ce qu'il consomme"),
    "convulsions": N_("convulsions"),
    "lethargic": N_("léthargique ou inconscient"),
}
_SAM_ACTION = N_(
    "Prise en charge MAS (PCIMA) : URENI si complications médicales, œdèmes sévères ou "
    "test de l'appétit échoué ; sinon URENAS"
)
_MAM_ACTION = N_("Prise en charge MAM (PCIMA) : inscrire à l'URENAM ; conseils nutritionnels")
_FALTERING_ACTION = N_(
    "Rechercher une maladie ou un problème d'alimentation, conseiller la mère (ANJE), "
    "suivre le poids de près"
)
_IMCI_ACTION = N_(
    "Référer en urgence au CSRéf après le traitement pré-transfert (PCIME : maladie très grave)"
)


def child_alerts(patient: dict, encounters: list[dict], on: date) -> list[Alert]:
    """Under-5s: SAM/MAM from the latest growth measure, growth faltering, and IMCI general
    danger signs at the latest consultation; only from recent data. SAM/MAM also to 19 years
    (228 months), judged past 60 months by BMI-for-age of the WHO 2007 reference (growth.py)."""
    cfg = thresholds()["child"]
    birth = _birth(patient)
    if birth is None or birth > on or (on - birth).days > growth.REF2007_TO_DAYS:
        return []
    measures = _upto(encounters, on, "growth")
    recent = cfg["nutrition_recent_days"]["value"]
    nutrition = _nutrition(patient, birth, measures, on, recent, cfg)
    if _age_years(birth, on) >= cfg["under_years"]["value"]:
        return nutrition
    return (
        nutrition
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
    z = num(wfh or 0)
    # past 60 months (WHO 2007 reference) thinness by BMI-for-age stands for wfh (growth.py)
    bz = num(result["bfa"] or 0)
    found = {
        "oedema": N_("œdèmes bilatéraux"),
        f"muac<{sam_mm}": msg(N_("PB %(muac)s mm (< %(limit)s mm)"), muac=muac, limit=sam_mm),
        f"muac<{mam_mm}": msg(
            N_("PB %(muac)s mm (%(low)s-%(high)s mm)"), muac=muac, low=sam_mm, high=mam_mm - 1
        ),
        "wfh<-3": msg(N_("P/T %(z)s z (< −3)"), z=z),
        "wfh<-2": msg(N_("P/T %(z)s z (−3 à −2)"), z=z),
        "bfa<-3": msg(N_("IMC/âge %(z)s z (< −3, maigreur sévère)"), z=bz),
        "bfa<-2": msg(N_("IMC/âge %(z)s z (−3 à −2, maigreur)"), z=bz),
    }
    parts = [found[r] for r in result["reasons"] if r in found]
    # the measure's name as growth.py writes it (muac, wfh...): technical, not translated
    doubtful = [r.split()[0] for r in result["reasons"] if r.endswith("implausible")]
    if status == "sam":
        label = N_("Malnutrition aiguë sévère : %(found)s (mesure du %(date)s)")
    else:
        label = N_("Malnutrition aiguë modérée : %(found)s (mesure du %(date)s)")
    args = {"found": parts, "date": _dmy(enc["care_date"])}
    reason = (label, args)
    if doubtful:
        check = N_("%(reason)s ; valeur à vérifier : %(check)s")
        reason = (check, {"reason": msg(label, **args), "check": doubtful})
    action = _SAM_ACTION if status == "sam" else _MAM_ACTION
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
    reason = N_("Pas de prise de poids : %(w0)s kg le %(d0)s, %(w1)s kg le %(d1)s")
    args = {
        "w0": num(w0),
        "d0": _dmy(prev["care_date"]),
        "w1": num(w1),
        "d1": _dmy(last["care_date"]),
    }
    return [_alert("child.growth_faltering", rule, (reason, args), _FALTERING_ACTION, last)]


def _imci_signs(consultations: list[dict], on: date, rule: dict) -> list[Alert]:
    if not consultations:
        return []
    last = consultations[-1]
    if (on - as_date(last["care_date"])).days > rule["recent_days"]:
        return []
    what = N_("Signe général de danger : %(sign)s (consultation du %(date)s)")
    when = _dmy(last["care_date"])
    return [
        _alert(
            f"child.imci_danger_sign.{sign}",
            rule,
            (what, {"sign": _IMCI_SIGNS.get(sign, sign), "date": when}),
            _IMCI_ACTION,
            last,
        )
        for sign in _data(last).get("danger_signs") or []
    ]


# -- chronic care ---------------------------------------------------------------------------

_CONDITIONS = {
    "hypertension": N_("HTA"),
    "diabetes": N_("Diabète"),
    "hiv": N_("VIH"),
    "tb": N_("Tuberculose"),
    "epilepsy": N_("Épilepsie"),
    "asthma": N_("Asthme"),
    "sickle_cell": N_("Drépanocytose"),
}
_MISSED_ACTION = N_(
    "Relancer le patient (téléphone, relais communautaire) et reprogrammer la visite"
)
_CRISIS_ACTION = N_(
    "Rechercher des signes d'atteinte d'organe (céphalée, douleur thoracique, "
    "déficit, troubles visuels) ; référer en urgence au CSRéf"
)


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
        reason = N_("%(condition)s : rendez-vous du %(date)s manqué (%(days)s jours)")
        args = {"condition": _CONDITIONS.get(cond, cond), "date": _dmy(nv), "days": late}
        out.append(_alert("chronic.missed_follow_up", rule, (reason, args), _MISSED_ACTION, v))

    crisis = cfg["bp_crisis"]
    if visits:
        last_day = as_date(visits[-1]["care_date"])
        for v in visits:
            d = _data(v)
            s, dia = d.get("bp_systolic"), d.get("bp_diastolic")
            if as_date(v["care_date"]) != last_day or s is None or dia is None:
                continue
            if _exceeds(s, dia, crisis):
                reason = N_("TA %(s)s/%(d)s mmHg (visite du %(date)s)")
                args = {"s": s, "d": dia, "date": _dmy(last_day)}
                out.append(_alert("chronic.bp_crisis", crisis, (reason, args), _CRISIS_ACTION, v))
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
