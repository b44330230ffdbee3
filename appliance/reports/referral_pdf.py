"""The fiche de référence on paper (fpdf2, A5 portrait): it travels with the patient to the
CSRéf, which writes its answer (the counter-referral) on the second half and sends it back.

The health number is printed as text and as a QR code, so the CSRéf can write it into its own
register without a typing error, and the CSCom finds the record when the paper comes back.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import segno
from fpdf import FPDF

from appliance.domain.referrals import OUTCOMES, REASONS, TRANSPORTS, age_words, vitals_line
from appliance.reports.pdf import _latin1
from appliance.web.labels import ENCOUNTER_TYPES, label

_MARGIN = 8
_SEX = {"F": "féminin", "M": "masculin"}


def _dmy(iso: str | None) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y") if iso else ""


def _qr_png(text: str) -> io.BytesIO:
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=4, border=2)
    out.seek(0)
    return out


def history_lines(history: dict[str, Any]) -> list[str]:
    """The case history (clinical.case_summary, what a second opinion also sends) in short
    French lines with the record's own labels and dd/mm/yyyy dates, the alerts in words."""
    lines = []
    if p := history.get("pregnancy"):
        lines.append(
            f"Grossesse : {p['weeks']} SA, terme prévu {_dmy(p['edd'])}, {p['anc_contacts']} CPN"
        )
    if g := history.get("growth"):
        z = ", ".join(f"{label(k)} {v:+.1f}" for k, v in g.get("zscores", {}).items())
        lines.append(
            f"Nutrition : {label(g['nutrition_status'])} ({z}), mesuré le {_dmy(g['measured_on'])}"
        )
    if i := history.get("immunization"):
        lines.append("Vaccins reçus : " + (", ".join(i["given"]) or "aucun"))
    if v := history.get("last_vitals"):
        lines.append(f"Derniers signes vitaux ({_dmy(v['date'])}) : {vitals_line(v)}")
    for r in history.get("recent", []):
        parts = [label(d) for d in r.get("diagnoses", [])]
        if r.get("condition"):
            parts.append(label(r["condition"]))
        parts += [label(s) for s in r.get("danger_signs", [])]
        parts += r.get("treatments", [])
        kind = ENCOUNTER_TYPES.get(r["type"], r["type"])
        lines.append(f"{_dmy(r['date'])} {kind}" + (f" : {', '.join(parts)}" if parts else ""))
    return lines + [f"Alerte : {reason}" for reason in history.get("alert_reasons", [])[:4]]


def fiche_pdf(referral: dict[str, Any]) -> bytes:
    """The fiche for one referral (a row of store.referrals.get)."""
    d = referral["data"]
    pdf = FPDF(format=(148, 210))  # A5 in mm
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(True, margin=_MARGIN)
    pdf.add_page()
    width = pdf.w - 2 * _MARGIN

    def text(line: str, h: float = 4.6, style: str = "", size: float = 9) -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(width, h, _latin1(line), new_x="LMARGIN", new_y="NEXT")

    def heading(line: str) -> None:
        pdf.ln(1.5)
        pdf.set_fill_color(225, 225, 225)
        pdf.set_font("Helvetica", "B", 9.5)
        pdf.cell(width, 5.5, _latin1(line), fill=True, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(0.5)

    qr = _qr_png(referral["health_number"])
    pdf.image(qr, x=pdf.w - _MARGIN - 24, y=_MARGIN, w=24, h=24)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(width - 26, 7, _latin1("FICHE DE RÉFÉRENCE"), new_x="LMARGIN", new_y="NEXT")
    urgency = "URGENTE" if referral["urgency"] == "urgent" else "non urgente"
    if referral.get("voided_reason"):
        urgency = f"ANNULÉE ({referral['voided_reason']})"
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(width - 26, 6, _latin1(f"Référence {urgency}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(
        width - 26, 4.6, _latin1(f"De : {d.get('from_name', '')}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.cell(width - 26, 4.6, _latin1(f"À : {d.get('to_name', '')}"), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(
        width - 26,
        4.6,
        _latin1(f"Le {_dmy(referral['care_date'])}, départ {d.get('departure', '')}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_y(max(pdf.get_y(), _MARGIN + 25))

    heading("Patient")
    born = date.fromisoformat(referral["birth_date"])
    on = date.fromisoformat(referral["care_date"])
    text(f"{referral['family_name']} {referral['given_names']}", style="B", size=10)
    text(
        f"N° de santé : {referral['health_number']}  ·  sexe {_SEX.get(referral['sex'], '')}"
        f"  ·  né(e) le {born.strftime('%d/%m/%Y')} ({age_words(born, on)})"
    )
    if d.get("accompanied_by"):
        text(f"Accompagné(e) par : {d['accompanied_by']}")

    heading("Motif de la référence")
    reason = REASONS.get(referral["reason"], referral["reason"])
    text(
        reason[:1].upper()
        + reason[1:]
        + (f" : {d['reason_detail']}" if d.get("reason_detail") else ""),
        style="B",
    )
    text(f"Signes vitaux : {vitals_line(d.get('vitals', {}))}")
    if d.get("clinical_notes"):
        text(f"Examen : {d['clinical_notes']}")
    text(f"Fait et donné avant le départ : {d.get('done_given') or 'rien'}")
    text(f"Transport : {TRANSPORTS.get(d.get('transport', ''), d.get('transport', ''))}")

    lines = history_lines(d.get("history", {}))
    if lines:
        heading("Antécédents utiles")
        for line in lines:
            text("- " + line, size=8.5)
    text(f"Référé par : {referral.get('staff_name', '')}", size=8.5)

    heading("CONTRE-RÉFÉRENCE (à remplir par le CSRéf et à rendre au patient)")
    back = referral.get("return_data")
    if back:
        text(f"Revenu le {_dmy(referral['returned_on'])} : {OUTCOMES[back['outcome']]}")
        for name, key in (
            ("Diagnostic", "diagnosis"),
            ("Traitement", "treatment"),
            ("Conduite à tenir", "instructions"),
            ("Prochain rendez-vous", "next_visit"),
            ("Vu(e) par", "seen_by"),
        ):
            if back.get(key):
                value = _dmy(back[key]) if key == "next_visit" else back[key]
                text(f"{name} : {value}")
    else:
        pdf.set_font("Helvetica", "", 9)
        for line in (
            "Reçu le ........ à ........ par ..........................",
            "Diagnostic : ..........................................",
            "Traitement : ..........................................",
            "...................................................................",
            "Conduite à tenir au CSCom : ...........................",
            "...................................................................",
            "Prochain rendez-vous : ........  Signature et cachet :",
        ):
            pdf.cell(width, 6.5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
