"""Library sticks made of generated PDFs (French text written here, never a real guideline):
for the demo, the tests and the benchmark. `write_stick` lays out `keneya-bibliotheque/` with
its index exactly as the district would."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpdf import FPDF

from appliance.library.index import FOLDER, INDEX_FILE

NOT_FOR_CARE = "Document de démonstration généré par Keneya : ne pas utiliser pour les soins."


@dataclass(frozen=True)
class Document:
    file: str
    title: str
    topic: str
    pages: tuple[str, ...]  # the text of each page
    language: str = "fr"
    source: str = "Keneya (démonstration)"
    date: str = "2026-01"
    page: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def pdf_bytes(title: str, pages: tuple[str, ...] | list[str]) -> bytes:
    """A PDF with the title and one page per text (core font: Latin-1, every French letter)."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_title(title)
    for n, text in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 13)
        pdf.multi_cell(0, 7, title if n == 1 else f"{title} ({n})")
        pdf.ln(3)
        pdf.set_font("Helvetica", "", 10)
        pdf.multi_cell(0, 5, text)
        pdf.set_y(-14)
        pdf.set_font("Helvetica", "I", 7)
        pdf.multi_cell(0, 4, NOT_FOR_CARE)
    return bytes(pdf.output())


def write_stick(top: Path, documents: list[Document]) -> Path:
    """`top/keneya-bibliotheque/` with each document's PDF and the index; returns `top`."""
    folder = top / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    index = []
    for d in documents:
        data = pdf_bytes(d.title, d.pages)
        (folder / d.file).write_bytes(data)
        entry = {
            "file": d.file,
            "title": d.title,
            "language": d.language,
            "topic": d.topic,
            "source": d.source,
            "date": d.date,
            "sha256": hashlib.sha256(data).hexdigest(),
            **({"page": d.page} if d.page else {}),
            **d.extra,
        }
        index.append(entry)
    (folder / INDEX_FILE).write_text(
        json.dumps({"documents": index}, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return top


# The demo's small library: one job aid per topic the alerts and due lists link to.
DEMO_DOCUMENTS = [
    Document(
        "pcima-aide-memoire.pdf",
        "PCIMA : prise en charge de la malnutrition aiguë (aide-mémoire)",
        "pcima",
        (
            "Dépistage : mesurer le périmètre brachial (PB) de chaque enfant de 6 à 59 mois, "
            "le poids et la taille ; chercher les oedèmes bilatéraux en appuyant sur le dos "
            "des pieds pendant trois secondes.",
            "Malnutrition aiguë sévère (MAS) : PB inférieur à 115 mm, ou poids pour taille "
            "inférieur à -3 z, ou oedèmes bilatéraux. Test de l'appétit ; sans complication, "
            "URENAS ; avec complication, référer à l'URENI.",
            "Malnutrition aiguë modérée (MAM) : PB de 115 à 124 mm. Inscrire à l'URENAM, "
            "conseils nutritionnels, revoir toutes les deux semaines.",
        ),
        page=2,
    ),
    Document(
        "pcime-tableau.pdf",
        "PCIME : évaluer et classer l'enfant malade de 2 mois à 5 ans",
        "pcime",
        (
            "Signes généraux de danger : l'enfant ne peut pas boire ni téter, vomit tout ce "
            "qu'il consomme, a eu des convulsions, est léthargique ou inconscient. Un seul "
            "signe suffit : traitement pré-transfert et référence urgente.",
            "Toux ou difficulté respiratoire : compter la respiration pendant une minute "
            "entière, enfant calme ; chercher le tirage sous-costal et le stridor.",
        ),
    ),
    Document(
        "sonu-signes-danger.pdf",
        "SONU : signes de danger pendant la grossesse et l'accouchement",
        "sonu",
        (
            "Saignement vaginal, convulsions, maux de tête violents avec vision trouble, "
            "fièvre, douleurs abdominales intenses, respiration rapide : référer en urgence "
            "vers le CSRéf avec un accompagnant et la fiche de référence.",
            "Pré-éclampsie sévère : tension artérielle systolique de 160 mm Hg ou plus, ou "
            "diastolique de 110 mm Hg ou plus. Sulfate de magnésium selon le protocole, puis "
            "référence.",
        ),
    ),
    Document(
        "pf-methodes.pdf",
        "Planification familiale : méthodes et renouvellement",
        "pf",
        (
            "Méthodes offertes au CSCom : pilule, injectable trimestriel, implant, DIU, "
            "préservatifs. Conseiller selon le choix éclairé de la cliente.",
            "Injectable : prochaine injection dans 13 semaines ; une cliente en retard de "
            "moins de quatre semaines peut la recevoir sans test de grossesse.",
        ),
    ),
    Document(
        "pev-calendrier.pdf",
        "PEV : calendrier vaccinal de l'enfant",
        "pev",
        (
            "À la naissance : BCG, VPO 0. À 6, 10 et 14 semaines : Penta, VPO, pneumocoque, "
            "rotavirus. À 9 mois : rougeole-rubéole et fièvre jaune.",
        ),
    ),
]


def seed_demo_library(database: Path, data_dir: Path, logins_file: Path) -> dict[str, Any]:
    """The demo's library, imported once by the demo admin from a generated stick (the same
    path as a real import); its totals."""
    import tempfile

    from appliance.services import auth
    from appliance.services import library as service
    from appliance.services.context import Context
    from appliance.store import Store

    user, _, pin = next(
        line.split() for line in logins_file.read_text().splitlines() if line.split()[1] == "admin"
    )
    with Store(database) as store:
        ctx = Context.open(store)
        if not store.library.totals()["documents"]:
            admin = auth.login(ctx, user, pin=pin, client="console")
            with tempfile.TemporaryDirectory(prefix="keneya-stick-") as top:
                service.import_folder(ctx, admin, write_stick(Path(top), DEMO_DOCUMENTS), data_dir)
        totals = store.library.totals()
        titles = [d["title"] for d in store.library.listing()]
    return {**totals, "titles": titles}
