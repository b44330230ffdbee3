"""The monthly report as a French PDF to print, sign and file (fpdf2, pure Python)."""

from __future__ import annotations

import unicodedata

from fpdf import FPDF

from appliance.reports import labels
from appliance.reports.definitions import INDICATORS
from appliance.reports.formats import definitions
from appliance.reports.monthly import Report

MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


# Letters of Bambara (and œ) that Latin-1 lacks, as Malian French writes them without the
# special letters: a name printed "Kɔnɛ" must read "Kone", never "K?n?".
_NEAREST_LATIN = str.maketrans(
    {"ɛ": "e", "Ɛ": "E", "ɔ": "o", "Ɔ": "O", "ɲ": "ny", "Ɲ": "Ny", "ŋ": "ng", "Ŋ": "Ng",
     "œ": "oe", "Œ": "OE", "—": "-", "–": "-", "’": "'", "…": "..."}
)  # fmt: skip


def _latin1(text: str) -> str:
    # The PDF core fonts cover Latin-1 only, which holds every French letter; no font to ship.
    # Other accented letters lose their accent (NFKD); anything left is "?".
    text = text.translate(_NEAREST_LATIN)
    out = []
    for ch in text:
        if ord(ch) < 256:
            out.append(ch)
        else:
            nearest = unicodedata.normalize("NFKD", ch).encode("latin-1", "ignore")
            out.append(nearest.decode("latin-1") or "?")
    return "".join(out)


def to_pdf(report: Report) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)

    def line(text: str, h: float = 6, **kw) -> None:
        pdf.cell(0, h, _latin1(text), new_x="LMARGIN", new_y="NEXT", **kw)

    line(f"{report.facility_name or 'Centre de santé'} ({report.facility_code})", 8)
    line("Rapport mensuel d'activités", 8)
    pdf.set_font("Helvetica", "", 11)
    line(f"Période : {MONTHS_FR[report.period.month - 1]} {report.period.year}")
    if report.generated_on:
        line(f"Établi le {report.generated_on.strftime('%d/%m/%Y')}")
    pdf.ln(3)
    rows = report.rows()
    for indicator in INDICATORS:
        mine = [(d, v) for c, d, v in rows if c == indicator.code and d]
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(150, 6, _latin1(indicator.label), border="B")
        pdf.cell(30, 6, str(report.total(indicator.code)), border="B", align="R")
        pdf.ln()
        pdf.set_font("Helvetica", "", 9)
        for disaggregation, value in mine:
            pdf.cell(10, 5, "")
            pdf.cell(140, 5, _latin1(labels.describe(indicator.dimensions, disaggregation, "fr")))
            pdf.cell(30, 5, str(value), align="R")
            pdf.ln()
        pdf.ln(1)
    top = report.top_diagnoses()
    if top:
        pdf.set_font("Helvetica", "B", 10)
        line("Diagnostics les plus fréquents")
        pdf.set_font("Helvetica", "", 9)
        for n, (code, value) in enumerate(top, 1):
            pdf.cell(150, 5, _latin1(f"{n}. {labels.value_label('diagnosis', code, 'fr')}"))
            pdf.cell(30, 5, str(value), align="R")
            pdf.ln()
    pdf.ln(10)
    pdf.set_font("Helvetica", "", 11)
    line("Le Chef de poste médical")
    line("Date : ____ / ____ / ________", 10)
    line("Signature et cachet :", 10)
    # The counting rule of every indicator, so a reader at the district knows what each
    # figure holds without the software at hand.
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 12)
    line("Définitions des indicateurs", 8)
    for label, rule in definitions("fr"):
        pdf.set_font("Helvetica", "B", 8.5)
        line(label, 4.5)
        pdf.set_font("Helvetica", "", 8.5)
        pdf.multi_cell(0, 4, _latin1(rule), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    return bytes(pdf.output())
