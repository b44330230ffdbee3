"""The dashboard on one A4 page for the monthly meeting with the community health association
(ASACO): the key figures of the month and of the year to date, then four charts (the
cumulative immunization monitoring chart, the mother's care month by month, the drop-out
rates, the patients seen by age and sex), in French (fpdf2, core fonts, no font to ship).

The charts are the web page's SVG drawn by fpdf2, which knows no <title> (the tooltips) and
no <pattern>: those are taken out, the hatched bars left white inside their outline, still
told apart from the solid ones without colour."""

from __future__ import annotations

import io
import re

from fpdf import FPDF

from appliance.reports.pdf import MONTHS_FR, _latin1
from appliance.web import dashboard_view as view
from appliance.web.i18n import Translator

_MARGIN = 10
_WIDTH = 210 - 2 * _MARGIN
_GAP = 4
_CHART_W = (_WIDTH - _GAP) / 2
# Key figures table (mm): indicator, month, year to date, coverage, annual target.
_COLS = (_WIDTH - 4 * 30, 30, 30, 30, 30)
_TOOLTIP = re.compile(r"<title>.*?</title>|<defs>.*?</defs>", re.S)
_HATCH = re.compile(r'fill="url\(#[^"]*\)"')
_VIEWBOX = re.compile(r'viewBox="0 0 (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)"')


def _pdf_text(text: str) -> str:
    return _latin1(text.replace("→", "->"))


def _for_pdf(svg: str) -> str:
    return _pdf_text(_HATCH.sub('fill="#ffffff"', _TOOLTIP.sub("", svg)))


def _aspect(svg: str) -> float:
    m = _VIEWBOX.search(svg)
    return float(m.group(2)) / float(m.group(1)) if m else 0.75


def _number(v: object) -> str:
    # thousands apart with a space, as French writes them
    return "" if v is None else f"{v:,}".replace(",", " ") if isinstance(v, int) else str(v)


def to_pdf(data: dict, *, month: str | None = None) -> bytes:
    """One page whatever the data: the charts are scaled to the room left under the figures."""
    t = Translator("fr")
    month = month or data.get("through") or ""
    pdf = FPDF(format="A4")
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()

    def line(text: str, h: float, style: str = "", size: float = 10) -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.cell(0, h, _pdf_text(text), new_x="LMARGIN", new_y="NEXT")

    line(data.get("facility") or "Centre de santé communautaire", 7, "B", 14)
    when = f"{MONTHS_FR[int(month[5:7]) - 1]} {month[:4]}" if month else str(data.get("year", ""))
    line(f"Tableau de bord - {when}", 6, "B", 12)
    line("Réunion mensuelle avec l'ASACO", 5, "", 10)
    population = data.get("population")
    if population:
        line(
            f"Population : {_number(population.get('total'))} ; enfants survivants (cible "
            f"annuelle) : {_number(population.get('surviving_infants'))} ; grossesses "
            f"attendues : {_number(population.get('expected_pregnancies'))}",
            5,
            "",
            9,
        )
    else:
        pdf.set_font("Helvetica", "I", 9)
        pdf.multi_cell(0, 4, _pdf_text(t(view.NO_POPULATION)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    pdf.set_font("Helvetica", "B", 9)
    head = ("Indicateur", "Ce mois", "Depuis janvier", "Couverture", "Cible annuelle")
    for w, text in zip(_COLS, head, strict=True):
        pdf.cell(w, 5.5, _pdf_text(text), border="B", align="L" if w == _COLS[0] else "R")
    pdf.ln()
    pdf.set_font("Helvetica", "", 9)
    for f in view.key_figures(data, "fr", month):
        cells = (f["label"], _number(f["month"]), _number(f["to_date"]),
                 view.percent(f["rate"]), _number(f["target"]))  # fmt: skip
        for w, text in zip(_COLS, cells, strict=True):
            pdf.cell(w, 5, _pdf_text(text), border="B", align="L" if w == _COLS[0] else "R")
        pdf.ln()
    pdf.ln(3)

    charts = view.key_charts(data, t, "fr")
    top = pdf.get_y()
    bottom = 297 - _MARGIN - 5  # the source line at the foot
    # two rows of two charts, each with two lines of caption under it
    caption_h = 11
    rows = [charts[:2], charts[2:]]
    natural = [max(_aspect(c["svg"]) * _CHART_W for c in row) + caption_h for row in rows]
    scale = min(1.0, (bottom - top - _GAP) / sum(natural))
    y = top
    for row, height in zip(rows, natural, strict=True):
        for k, chart in enumerate(row):
            w = _CHART_W * scale
            x = _MARGIN + k * (_CHART_W + _GAP)
            h = _aspect(chart["svg"]) * w
            pdf.image(io.BytesIO(_for_pdf(chart["svg"]).encode()), x=x, y=y, w=w)
            pdf.set_xy(x, y + h + 0.5)
            pdf.set_font("Helvetica", "", 7)
            pdf.multi_cell(_CHART_W, 3, _pdf_text(chart["caption"]), max_line_height=3)
        y += height * scale + _GAP
    pdf.set_xy(_MARGIN, 297 - _MARGIN - 4)
    pdf.set_font("Helvetica", "I", 7)
    pdf.cell(0, 4, _pdf_text(f"Keneya - données du dossier patient, {data.get('year', '')}"))
    return bytes(pdf.output())
