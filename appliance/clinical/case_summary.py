"""The minimal case summary that may leave the facility about one patient (a second opinion, a
referral): age, sex, the relevant history — pregnancy, growth, immunization, the last vital
signs, recent diagnoses and treatments — and the health number as the identifier. No name
unless the patient consented, and never the village, phone, mother or free-text notes.

Pure: the record (the dict of services.patients.record) and the day are passed in.
`case_summary` gives the data, `summary_text` the French text a message carries, and
`mask_names` the guard that keeps a name out of what leaves.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from typing import Any

from appliance.clinical.summary import latest_growth, pregnancy_of

RECENT_DAYS = 90  # diagnoses and treatments of the last three months
MAX_RECENT = 8  # encounters listed at most: a summary, not the record
VITALS = (
    ("temperature_c", "T°", "°C"),
    ("bp_systolic", "TA sys", "mmHg"),
    ("bp_diastolic", "TA dia", "mmHg"),
    ("pulse_bpm", "pouls", "/min"),
    ("resp_rate", "FR", "/min"),
    ("spo2_pct", "SpO2", "%"),
    ("weight_kg", "poids", "kg"),
    ("height_cm", "taille", "cm"),
    ("muac_mm", "PB", "mm"),
    ("hb_g_dl", "Hb", "g/dL"),
    ("glucose_mmol_l", "glycémie", "mmol/L"),
)
UNDER_FIVE_DAYS = 5 * 365 + 1
NAME_MASK = "[nom retiré]"


def age_text(days: int) -> str:
    """French age as a clinician writes it: days, weeks, months, or years and months."""
    if days < 0:
        return "?"
    if days < 28:
        return f"{days} j"
    if days < 91:
        return f"{days // 7} sem"
    months = int(days / 30.4375)
    if months < 24:
        return f"{months} mois"
    years, rest = divmod(months, 12)
    return f"{years} ans" + (f" {rest} mois" if rest else "")


def _vitals(encounters: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The latest encounter carrying any vital sign, with those signs."""
    for e in reversed(encounters):  # oldest first in
        d = e.get("data") or {}
        signs = {k: d[k] for k, _, _ in VITALS if d.get(k) is not None}
        if signs:
            return {"date": e["care_date"], "type": e["type"], **signs}
    return None


def _recent(encounters: list[dict[str, Any]], on: date) -> list[dict[str, Any]]:
    since = (on - timedelta(days=RECENT_DAYS)).isoformat()
    out: list[dict[str, Any]] = []
    for e in reversed(encounters):
        if e["care_date"] < since or len(out) >= MAX_RECENT:
            break
        d = e.get("data") or {}
        item: dict[str, Any] = {}
        if e["type"] == "consultation":
            item["diagnoses"] = [x["code"] for x in d.get("diagnoses", [])]
            if d.get("malaria_rdt") and d["malaria_rdt"] != "not_done":
                item["malaria_rdt"] = d["malaria_rdt"]
            if d.get("danger_signs"):
                item["danger_signs"] = list(d["danger_signs"])
        if e["type"] == "chronic":
            item["condition"] = d.get("condition")
            if d.get("adherence"):
                item["adherence"] = d["adherence"]
        if e["type"] == "anc" and d.get("danger_signs"):
            item["danger_signs"] = list(d["danger_signs"])
        if e["type"] == "delivery":
            item["delivery"] = {k: d.get(k) for k in ("mode", "outcome", "complications")}
        medicines = d.get("prescriptions") or d.get("treatment") or []
        if medicines:
            item["treatments"] = [
                f"{m['drug']} {m['dose']} x{m['times_per_day']}/j {m['days']} j" for m in medicines
            ]
        if d.get("referral"):
            item["referred"] = {"to": d["referral"]["to"], "urgent": d["referral"]["urgent"]}
        if item:
            out.append({"date": e["care_date"], "type": e["type"], **item})
    return out


def _immunization(record: dict[str, Any]) -> dict[str, Any]:
    given = [
        f"{e['data']['antigen']}{e['data']['dose']}"
        for e in record["encounters"]
        if e["type"] == "immunization"
    ]
    due = [d for d in record.get("due", []) if d.get("kind") in ("immunization", "td")]
    late = [d["reason_code"] for d in due if d.get("days_overdue", 0) > 0]
    return {"given": given, "overdue": late}


def case_summary(record: dict[str, Any], on: date, *, include_name: bool = False) -> dict[str, Any]:
    """The minimal summary of one record on one day. `include_name` only when the patient
    consented to their name being sent."""
    birth = date.fromisoformat(record["birth_date"])
    age_days = (on - birth).days
    out: dict[str, Any] = {
        "health_number": record["health_number"],
        "sex": record["sex"],
        "age_days": age_days,
        "age": age_text(age_days) + (" (estimé)" if record.get("birth_date_estimated") else ""),
    }
    if include_name:
        out["name"] = f"{record['given_names']} {record['family_name']}"
    pregnancy = pregnancy_of(record, on)
    if pregnancy is not None:
        out["pregnancy"] = {
            "weeks": pregnancy.ga_days(on) // 7,
            "edd": pregnancy.edd.isoformat(),
            "anc_contacts": len(pregnancy.anc_dates),
        }
    growth = latest_growth(record, record["encounters"]) if age_days <= 19 * 365 else None
    if growth is not None:
        out["growth"] = {
            "measured_on": growth["measured_on"],
            "zscores": {k: v for k, v in growth["zscores"].items() if v is not None},
            "nutrition_status": growth["nutrition_status"],
        }
    if age_days < UNDER_FIVE_DAYS or pregnancy is not None:
        out["immunization"] = _immunization(record)
    if (vitals := _vitals(record["encounters"])) is not None:
        out["last_vitals"] = vitals
    out["recent"] = _recent(record["encounters"], on)
    out["alerts"] = [
        {"severity": a["severity"], "code": a["code"]} for a in record.get("alerts", [])
    ]
    return out


def _z(v: float) -> str:
    return f"{v:+.1f}"


def summary_text(summary: dict[str, Any]) -> str:
    """The summary as plain French lines for a message (DHIS2 shows text only)."""
    sex = {"F": "F", "M": "M"}[summary["sex"]]
    lines = [f"Patient : {summary['health_number']} — {sex}, {summary['age']}"]
    if "name" in summary:
        lines.append(f"Nom (consentement du patient) : {summary['name']}")
    if p := summary.get("pregnancy"):
        lines.append(
            f"Grossesse : {p['weeks']} SA, terme prévu {p['edd']}, {p['anc_contacts']} CPN"
        )
    if g := summary.get("growth"):
        z = ", ".join(f"{k} {_z(v)}" for k, v in g["zscores"].items())
        lines.append(f"Croissance ({g['measured_on']}) : {z} — {g['nutrition_status']}")
    if i := summary.get("immunization"):
        lines.append(
            "Vaccins reçus : "
            + (", ".join(i["given"]) or "aucun")
            + (f" ; en retard : {', '.join(i['overdue'])}" if i["overdue"] else "")
        )
    if v := summary.get("last_vitals"):
        signs = [
            f"{label} {v[k]:g} {unit}"
            for k, label, unit in VITALS
            if isinstance(v.get(k), int | float)
        ]
        lines.append(f"Derniers signes vitaux ({v['date']}) : " + ", ".join(signs))
    for r in summary.get("recent", []):
        parts = []
        if r.get("diagnoses"):
            parts.append("diag. " + ", ".join(r["diagnoses"]))
        if r.get("condition"):
            parts.append(f"suivi {r['condition']}")
        if r.get("malaria_rdt"):
            parts.append(f"TDR {r['malaria_rdt']}")
        if r.get("danger_signs"):
            parts.append("signes de danger " + ", ".join(r["danger_signs"]))
        if r.get("treatments"):
            parts.append("trait. " + "; ".join(r["treatments"]))
        if r.get("referred"):
            parts.append("référé" + (" (urgent)" if r["referred"]["urgent"] else ""))
        if parts:
            lines.append(f"{r['date']} {r['type']} : " + " — ".join(parts))
    if summary.get("alerts"):
        lines.append(
            "Alertes : " + ", ".join(f"{a['code']} ({a['severity']})" for a in summary["alerts"])
        )
    return "\n".join(lines)


def _fold(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c)
    )


def name_words(record: dict[str, Any]) -> list[str]:
    """The words of the patient's names, each 2 letters or more (Ba, Sy are family names)."""
    words = re.findall(r"[^\W\d_]+", f"{record['family_name']} {record['given_names']}")
    return sorted({w for w in words if len(w) >= 2}, key=len, reverse=True)


def names_in(text: str, words: list[str]) -> list[str]:
    """Which of `words` appear in `text` as whole words, ignoring case and accents."""
    folded = _fold(text)
    return [w for w in words if re.search(rf"(?<!\w){re.escape(_fold(w))}(?!\w)", folded)]


def mask_names(text: str, words: list[str]) -> str:
    """`text` with each of `words` (whole words, any case or accents) replaced by NAME_MASK.
    Matched on the folded text, replaced in the original, so accents elsewhere survive."""
    if not words:
        return text
    folded_words = {_fold(w) for w in words}
    out, last = [], 0
    for m in re.finditer(r"[^\W\d_]+", text):
        if _fold(m.group()) in folded_words:
            out += [text[last : m.start()], NAME_MASK]
            last = m.end()
    out.append(text[last:])
    return "".join(out)
