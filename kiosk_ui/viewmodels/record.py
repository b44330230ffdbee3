"""One patient's record on the touchscreen: facts, alerts, the district's opinions, what is
due, history, vaccines, growth points, and the forms this staff member may open."""

from __future__ import annotations

from typing import Any

from appliance.clinical import summary
from appliance.clinical.alerts import action_text
from appliance.clinical.alerts import reason_text as alert_reason
from appliance.clinical.due import reason_text as due_reason
from appliance.clinical.growth import MAX_AGE_DAYS, REF2007_TO_DAYS
from appliance.clinical.texts import num, value_text
from appliance.domain.permissions import REFER_PATIENT, write
from appliance.domain.referrals import REASONS
from appliance.services import opinions, patients, referrals
from appliance.web.i18n import N_
from appliance.web.labels import (
    CATEGORIES,
    CHOICES,
    ENCOUNTER_TYPES,
    REFERENCES,
    STATUS,
    ZSCORES,
    age_label,
    label,
)
from kiosk_ui.viewmodels.encounter import KIOSK_KINDS
from kiosk_ui.viewmodels.state import SAVE_ERRORS, KioskState, dmy

PREGNANCY = N_("Grossesse en cours : %(weeks)s semaines, terme prévu %(edd)s")
BP = N_("TA %(s)s/%(d)s")
# The record's growth line names what it judges: "normal" alone read as "growth normal" for a
# child underweight and stunted (nutrition_status judges acute malnutrition only).
ACUTE = {
    "normal": N_("Malnutrition aiguë : aucune"),
    "mam": N_("Malnutrition aiguë modérée (MAM)"),
    "sam": N_("Malnutrition aiguë sévère (MAS)"),
    "unknown": N_("Malnutrition aiguë : non évaluée"),
}
# WHO Child Growth Standards (2006) / WHO Nutrition Landscape: underweight is weight-for-age
# < -2 SD, stunting is length/height-for-age < -2 SD; severe below -3 SD.
CHRONIC = {
    "wfa": (N_("Insuffisance pondérale sévère"), N_("Insuffisance pondérale")),
    "hfa": (N_("Retard de croissance sévère"), N_("Retard de croissance")),
}
Z_FINDING = N_("%(finding)s (%(index)s %(z)s)")
# WHO 2007 reference, past 60 months: BMI-for-age categories (growth.nutrition_status)
BMI_FINDINGS = {
    "severe_thinness": "urgent",
    "thinness": "high",
    "obesity": "high",
    "overweight": "moderate",
}

# A question to the district in words: the opinion page's own (appliance/web/routes/opinions.py
# STATES), repeated so the kiosk does not load the web app.
OPINION_STATES = {
    "queued": N_("en attente du réseau"),
    "sending": N_("en cours d'envoi"),
    "sent": N_("envoyée, sans réponse"),
    "answered": N_("répondue"),
    "failed": N_("échec : voir le technicien"),
}
REPLY = N_("Réponse de %(who)s, %(when)s : %(text)s")
# The question on one or two lines of the record; the tablet's opinion page has it whole.
QUESTION_CHARS = 100

# What the timeline's one line shows for each kind, in order.
SUMMARY_KEYS = {
    "consultation": ("diagnoses", "temperature_c", "weight_kg"),
    "anc": ("gestational_age_weeks", "bp_systolic", "weight_kg"),
    "delivery": ("outcome", "mode", "birth_weight_g"),
    "postnatal": ("subject", "days_after_birth"),
    "immunization": ("antigen", "dose"),
    "growth": ("weight_kg", "height_cm", "muac_mm"),
    "family_planning": ("method", "user"),
    "chronic": ("condition", "bp_systolic", "glucose_mmol_l"),
}


class RecordVM:
    def __init__(self, state: KioskState, patient_ref: str):
        self.state = state
        self.patient_ref = patient_ref
        self.record: dict[str, Any] | None = None
        self.referrals: list[dict[str, Any]] = []
        self.opinions: list[dict[str, Any]] = []  # questions to the district, newest first
        self.error: str | None = None

    def open(self) -> None:
        """Read the record (audited). A refusal (the technician, a record that does not exist)
        becomes `error`; the lists stay empty."""
        self.state.touch()
        try:
            with self.state.storage():  # audited: a full disk refuses the read too
                self.record = patients.record(self.state.ctx, self.state.actor, self.patient_ref)
                self.referrals = referrals.for_patient(self.state.ctx, self.record["id"])
                # through the service, as the web's opinion page: the asker's replies shown
                # here are no longer news on their home
                self.opinions = opinions.for_patient(
                    self.state.ctx, self.state.actor, self.record["id"]
                )
        except SAVE_ERRORS as e:
            self.record, self.error = None, self.state.error_text(e)
        else:
            self.error = None

    # -- header ------------------------------------------------------------------------------
    @property
    def patient_id(self) -> str | None:
        return self.record["id"] if self.record else None

    @property
    def title(self) -> str:
        r = self.record
        return f"{r['family_name']} {r['given_names']}" if r else ""

    @property
    def facts(self) -> list[str]:
        r, t = self.record, self.state.t
        if not r:
            return []
        born = dmy(r["birth_date"])
        if r.get("birth_date_estimated"):
            born += ", " + t("estimée")
        out = [r["health_number"], t(CHOICES.get(r["sex"], r["sex"]))]
        # calendar months, as the web record: a child registered as 15 months shows 15
        out.append(f"{age_label(r['birth_date'], self.state.today, t)} ({born})")
        out += [v for v in (r.get("village"), r.get("phone")) if v]
        if r.get("mother"):
            m = r["mother"]
            out.append(f"{t('Mère :')} {m['family_name']} {m['given_names']}")
        pregnancy = self._pregnancy()
        if pregnancy:
            weeks = (self.state.today - pregnancy.lmp).days // 7
            out.append(t(PREGNANCY) % {"weeks": weeks, "edd": dmy(pregnancy.edd)})
        return out

    def _pregnancy(self) -> Any:
        return summary.pregnancy_of(self.record, self.state.today) if self.record else None

    # -- lists -------------------------------------------------------------------------------
    @property
    def alerts(self) -> list[dict[str, Any]]:
        if not self.record:
            return []
        t = self.state.t
        return [
            {
                "severity": a["severity"],
                "severity_label": t(STATUS.get(a["severity"], a["severity"])),
                "reason": alert_reason(a, t),
                "action": action_text(a, t),
            }
            for a in self.record["alerts"]
        ]

    @property
    def due(self) -> list[dict[str, Any]]:
        if not self.record:
            return []
        return [self._due_row(d) for d in self.record["due"]]

    def _due_row(self, d: dict[str, Any]) -> dict[str, Any]:
        t = self.state.t
        return {
            "text": f"{due_reason(d, t)} — {dmy(d['due_date'])}",
            "status": d["status"],
            "status_label": t(STATUS.get(d["status"], d["status"])),
        }

    @property
    def timeline(self) -> list[dict[str, Any]]:
        if not self.record:
            return []
        t = self.state.t
        return [
            {
                "date": dmy(e["care_date"]),
                "kind_label": t(ENCOUNTER_TYPES.get(e["type"], e["type"])),
                "summary": self._summary(e),
            }
            for e in reversed(self.record["encounters"])
        ]

    def _summary(self, e: dict[str, Any]) -> str:
        t, data = self.state.t, e["data"]
        parts = []
        for key in SUMMARY_KEYS.get(e["type"], ()):
            value = data.get(key)
            if value is None or value == []:
                continue
            if key == "diagnoses":
                parts.append(", ".join(t(label(d["code"])) for d in value))
            elif key == "bp_systolic":
                parts.append(t(BP) % {"s": value, "d": data.get("bp_diastolic")})
            elif isinstance(value, str):
                parts.append(t(label(value)))
            else:
                # the reader's decimal separator (38,5 in French, 38.5 in English)
                shown = value_text(num(value), t) if isinstance(value, float) else value
                parts.append(f"{t(label(key))} {shown}")
        return " · ".join(parts)

    @property
    def vaccines(self) -> list[dict[str, Any]]:
        """Doses given (oldest first), then doses due (child vaccines and Td)."""
        if not self.record:
            return []
        t = self.state.t
        doses, due_items = summary.vaccine_card(self.record)
        given = [
            {
                "antigen_label": t(label(e["data"]["antigen"])),
                "dose": str(e["data"].get("dose", "")),
                "date": dmy(e["care_date"]),
                "status": "given",
            }
            for e in doses
        ]
        due = [
            {
                "antigen_label": due_reason(d, t),
                "dose": "",
                "date": dmy(d["due_date"]),
                "status": d["status"],
            }
            for d in due_items
        ]
        return given + due

    @property
    def growth(self) -> dict[str, Any] | None:
        """The last z-scores and findings to 19 years (WHO 2007 reference past 60 months), and
        the weight-for-age and height-for-age points for the charts, which show the WHO 2006
        curves and so only to five years ("charts" False after); None past 19 years."""
        r = self.record
        if not r or r["age_days"] > REF2007_TO_DAYS:
            return None
        t = self.state.t
        points = summary.growth_points(r)
        status = r.get("nutrition_status") or "unknown"
        last = r.get("growth") or {}
        reference = last.get("reference")
        return {
            "charts": r["age_days"] <= MAX_AGE_DAYS,
            "reference_label": t(REFERENCES[reference]) if reference in REFERENCES else "",
            "sex": r["sex"],
            "points": points,
            "zscores": dict(r.get("zscores") or {}),
            "zscore_labels": {k: t(v) for k, v in ZSCORES.items()},
            "status": status,
            "status_label": t(STATUS.get(status, status)),
            "acute_label": t(ACUTE.get(status, ACUTE["unknown"])),
            "findings": growth_findings(r.get("zscores") or {}, t, last.get("categories") or []),
        }

    @property
    def actions(self) -> list[dict[str, str]]:
        if not self.record or self.record.get("merged_into"):
            return []
        t = self.state.t
        # the rules the save enforces decide, so no button leads to a refused form
        rules = self.record["encounter_types"]
        return [
            {"kind": k, "label": t(ENCOUNTER_TYPES[k])}
            for k in KIOSK_KINDS
            if rules.get(k, "unknown") is None and self.state.may(write(k))
        ]

    @property
    def may_refer(self) -> bool:
        return (
            bool(self.record)
            and not self.record.get("merged_into")
            and (self.state.may(REFER_PATIENT))
        )

    @property
    def referral_lines(self) -> list[dict[str, Any]]:
        """Each referral: when, where, why, and whether the answer came back."""
        t = self.state.t
        out = []
        for r in self.referrals:
            if r["voided_reason"]:
                state, waiting = t("annulée"), False
            elif r["returned_on"]:
                state, waiting = f"{t('revenu(e) le')} {dmy(r['returned_on'])}", False
            else:
                state, waiting = t("en attente de contre-référence"), True
            reason = t(REASONS.get(r["reason"], r["reason"]))
            out.append(
                {
                    "text": f"{dmy(r['care_date'])} · {r['data'].get('to_name', '')} — {reason}"
                    f" · {state}",
                    "waiting": waiting,
                }
            )
        return out

    @property
    def opinion_lines(self) -> list[dict[str, Any]]:
        """Each question to the district: when, its state in words, the question shortened;
        and its replies: who, when, what (whole: the reply is what the clinician came for)."""
        t = self.state.t
        out = []
        for q in self.opinions:
            state = t(OPINION_STATES.get(q["status"], q["status"]))
            replies = []
            for r in q["replies"]:
                at = r["created"] or r["fetched_at"] or ""
                who = r["sender"] or t("District")
                when = f"{dmy(at)} {at[11:16]}".strip()
                replies.append(t(REPLY) % {"who": who, "when": when, "text": r["text"].strip()})
            out.append(
                {
                    "text": f"{dmy(q['asked_at'])} · {state} — {shortened(q['question'])}",
                    "status": q["status"],
                    "replies": replies,
                }
            )
        return out


def shortened(text: str, limit: int = QUESTION_CHARS) -> str:
    """`text` on one line, cut at a word before `limit` characters with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return cut.rstrip(" ,;:.") + "…"


def growth_findings(
    zscores: dict[str, float | None], t, categories: list[str] = ()
) -> list[dict[str, str]]:
    """Underweight and stunting from the last z-scores, each with its z ("Retard de croissance
    (Taille/âge −2,4)"); severity "urgent" below -3 SD, "high" below -2 SD. Past 60 months,
    the WHO 2007 BMI-for-age categories too ("Maigreur (IMC/âge −2,4)")."""
    out = []
    z = zscores.get("bfa")
    for category in (c for c in categories if c in BMI_FINDINGS and z is not None):
        text = t(Z_FINDING) % {
            "finding": t(CATEGORIES[category]),
            "index": t(ZSCORES["bfa"]),
            "z": value_text(num(round(z, 1)), t),
        }
        out.append({"text": text, "severity": BMI_FINDINGS[category]})
    for index, (severe, moderate) in CHRONIC.items():
        z = zscores.get(index)
        if z is None or z >= -2:
            continue
        finding = severe if z < -3 else moderate
        text = t(Z_FINDING) % {
            "finding": t(finding),
            "index": t(ZSCORES[index]),
            "z": value_text(num(round(z, 1)), t),
        }
        out.append({"text": text, "severity": "urgent" if z < -3 else "high"})
    return out
