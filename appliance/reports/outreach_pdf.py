"""A village's outreach round on paper: the A4 sheet a relais or vaccinator carries (fpdf2).

One block per person (household members follow each other, as follow_up.outreach orders
them): who, how to reach them, each item with its due date, its state on the day of the
round, a box to tick once done and a line for notes. Every item the list holds is printed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from fpdf import FPDF

from appliance.reports.pdf import _latin1

STATE_WORDS = {
    "upcoming": "à venir",
    "due": "à faire",
    "overdue": "en retard",
    "defaulter": "perdu de vue",
}
STATE_ORDER = ("due", "overdue", "defaulter", "upcoming")
SEX_WORDS = {"F": "fille/femme", "M": "garçon/homme"}
# The sheet travels through the village: a diagnosis that stigmatises is not written on it.
DISCREET_REASONS = {"chronic:hiv": "Suivi au centre de santé (motif au dossier)"}

_MARGIN = 12
_WIDTH = 210 - 2 * _MARGIN
# Item row columns (mm): reason, due date, state, "fait" box.
_COLS = (96, 24, 44, _WIDTH - 96 - 24 - 44)
_ROW = 5.5


def _fr_date(iso: str | date) -> str:
    d = date.fromisoformat(iso) if isinstance(iso, str) else iso
    return d.strftime("%d/%m/%Y")


def state_on(item: dict[str, Any], day: date) -> str:
    """The item's state on the round's day, from its dates (as the store derives it)."""
    try:
        due = date.fromisoformat(item["due_date"])
        overdue = date.fromisoformat(item["overdue_from"])
        defaulter = date.fromisoformat(item["defaulter_from"])
    except (KeyError, TypeError, ValueError):
        return item.get("state") or item.get("status") or "due"
    if item.get("state") == "defaulter" or day >= defaulter:
        return "defaulter"
    if day < due:
        return "upcoming"
    return "due" if day < overdue else "overdue"


def _age(contact: dict[str, Any], on: date) -> str | None:
    if contact.get("age") not in (None, ""):
        return f"{contact['age']} ans" if str(contact["age"]).isdigit() else str(contact["age"])
    born = contact.get("birth_date")
    if not born:
        return None
    try:
        b = date.fromisoformat(born)
    except ValueError:
        return None
    months = (on.year - b.year) * 12 + on.month - b.month - (on.day < b.day)
    if months < 0:
        return None
    return f"{months} mois" if months < 24 else f"{months // 12} ans"


def _households(items: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive items of one patient as one block, in the list's order."""
    blocks: list[list[dict[str, Any]]] = []
    seen: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        pid = item.get("patient_id") or id(item)
        if pid not in seen:
            seen[pid] = []
            blocks.append(seen[pid])
        seen[pid].append(item)
    return blocks


class _Sheet(FPDF):
    def __init__(self, heading: str):
        super().__init__(format="A4")
        self.heading = heading
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(auto=True, margin=16)

    def header(self) -> None:
        if self.page_no() > 1:
            self.set_font("Helvetica", "I", 8)
            self.cell(0, 5, _latin1(self.heading), new_x="LMARGIN", new_y="NEXT")
            self.ln(1)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 6, f"page {self.page_no()}/{{nb}}", align="C")


def _person_lines(contact: dict[str, Any], on: date) -> tuple[str, list[str]]:
    name = " ".join(
        p for p in ((contact.get("family_name") or "").upper(), contact.get("given_names")) if p
    )
    head = name or "(nom inconnu)"
    facts = []
    if contact.get("health_number"):
        facts.append(f"N° {contact['health_number']}")
    age = _age(contact, on)
    if age:
        facts.append(age)
    if contact.get("sex") in SEX_WORDS:
        facts.append(SEX_WORDS[contact["sex"]])
    if facts:
        head += "  -  " + ", ".join(facts)
    parts = []
    guardian = " ".join(
        p for p in (contact.get("mother_family_name"), contact.get("mother_given_names")) if p
    )
    if guardian:
        parts.append(f"Mère ou tutrice : {guardian}")
    phone = contact.get("phone")
    if phone:
        owner = " (de la mère)" if contact.get("phone_of") == "mother" else ""
        parts.append(f"Téléphone : {phone}{owner}")
    else:
        parts.append("Téléphone : aucun")
    return head, ["   ".join(parts)]


def _lines(pdf: FPDF, text: str) -> int:
    """How many lines `text` takes in the reason column (wrapping only the long ones: the
    line breaker costs a millisecond a row, and a round can hold a thousand rows)."""
    if pdf.get_string_width(text) <= _COLS[0] - 2:
        return 1
    return max(1, len(pdf.multi_cell(_COLS[0] - 1, 4.5, text, dry_run=True, output="LINES")))


def _reason(item: dict[str, Any]) -> str:
    return DISCREET_REASONS.get(item.get("reason_code", ""), item.get("reason") or "")


def render(outreach: dict[str, Any], *, facility: str, printed_on: date) -> bytes:
    """The round `outreach` (follow_up.outreach's dict) as an A4 PDF in French."""
    village = outreach.get("village") or ""
    round_day = date.fromisoformat(outreach["date"])
    items = list(outreach.get("items") or [])
    title = f"Tournée de {village} — {_fr_date(round_day)}"
    pdf = _Sheet(f"{title} ({facility})")
    pdf.add_page()

    def text_line(text: str, h: float = 5.5, **kw: Any) -> None:
        pdf.cell(0, h, _latin1(text), new_x="LMARGIN", new_y="NEXT", **kw)

    pdf.set_font("Helvetica", "B", 15)
    text_line(title, 8)
    pdf.set_font("Helvetica", "", 10)
    text_line(facility)
    text_line(f"Imprimé le {_fr_date(printed_on)} ; états au jour de la tournée.")
    text_line(
        "Cochez « fait » quand le soin est donné ; notez un refus, un déménagement ou un décès."
    )
    pdf.ln(2)

    counts = dict.fromkeys(STATE_WORDS, 0)
    blocks = _households(items)
    if not blocks:
        pdf.set_font("Helvetica", "I", 10)
        text_line("Personne à voir pour cette tournée.")

    for block in blocks:
        contact = block[0].get("contact") or {}
        head, lines = _person_lines(contact, round_day)
        states = [state_on(i, round_day) for i in block]
        reasons = [_latin1(_reason(i)) for i in block]
        pdf.set_font("Helvetica", "", 9)
        heights = [_ROW * _lines(pdf, r) for r in reasons]
        block_h = 7 + 5 * len(lines) + _ROW + sum(heights) + 7 + 2
        # a person's block starts a new page rather than split, unless it is longer than one
        page_h = pdf.h - pdf.t_margin - pdf.b_margin - 6
        if pdf.get_y() + block_h > pdf.h - pdf.b_margin and block_h < page_h:
            pdf.add_page()
        defaulter = "defaulter" in states
        pdf.set_font("Helvetica", "B", 11)
        pdf.set_fill_color(230, 230, 230)
        mark = "  [PERDU DE VUE : à rechercher]" if defaulter else ""
        pdf.cell(0, 7, _latin1(head + mark), border="T", fill=True, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)
        for line in lines:
            text_line(line, 5)
        pdf.set_font("Helvetica", "B", 8)
        for width, label in zip(_COLS, ("Soin attendu", "Échéance", "État", "Fait"), strict=True):
            pdf.cell(width, _ROW, _latin1(label), border="B")
        pdf.ln()
        for item, state, reason, h in zip(block, states, reasons, heights, strict=True):
            counts[state] += 1
            if pdf.get_y() + h > pdf.h - pdf.b_margin:
                pdf.add_page()
            y, x = pdf.get_y(), pdf.l_margin
            pdf.set_font("Helvetica", "B" if state == "defaulter" else "", 9)
            if h > _ROW:
                pdf.multi_cell(_COLS[0] - 1, 4.5, reason, new_x="LMARGIN", new_y="NEXT")
                pdf.set_xy(x + _COLS[0], y)
            else:
                pdf.cell(_COLS[0], _ROW, reason)
            pdf.cell(_COLS[1], _ROW, _fr_date(item["due_date"]))
            words = STATE_WORDS.get(state, state)
            late = (round_day - date.fromisoformat(item["due_date"])).days
            if late > 0:
                words += f" ({late} j)"
            pdf.cell(_COLS[2], _ROW, _latin1(words))
            # the box to tick
            pdf.rect(x + sum(_COLS[:3]) + 2, y + 0.8, 4, 4)
            pdf.set_xy(x, y + h)
        pdf.set_font("Helvetica", "", 9)
        text_line("Notes : " + "_" * 90, 7)
        pdf.ln(2)

    pdf.set_font("Helvetica", "B", 11)
    if pdf.get_y() + 40 > pdf.h - pdf.b_margin:
        pdf.add_page()
    text_line("Totaux", 7)
    pdf.set_font("Helvetica", "", 10)
    text_line(f"Personnes : {len(blocks)}")
    text_line(f"Rendez-vous : {len(items)}")
    for state in STATE_ORDER:
        text_line(f"{STATE_WORDS[state].capitalize()} : {counts[state]}")
    pdf.ln(4)
    text_line("Relais / agent : ______________________   Signature : ______________", 8)
    return bytes(pdf.output())
