"""Library figures: importing N generated documents from a stick folder (seconds, MB) and the
search over them (p50/p95 ms over a mix of queries). Prints JSON; never passes or fails on
time.

    .venv/bin/python benchmarks/library.py [--documents 200] [--pages 20]

The documents are PDFs generated here with French text drawn from a fixed vocabulary (never
a real guideline), each page about 1,500 characters: a 200-document library of 20-page job
aids, about what a district would hand out.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from appliance.seed.library import Document, write_stick
from appliance.services import auth
from appliance.services import library as service
from appliance.services.context import Context
from appliance.store import Store

WORDS = """enfant femme enceinte grossesse accouchement nouveau-né vaccin rougeole paludisme
fièvre toux diarrhée déshydratation malnutrition oedème périmètre brachial poids taille
tension artérielle pré-éclampsie convulsions hémorragie référence transfert urgence
protocole dose comprimé sirop amoxicilline artéméther zinc solution réhydratation orale
conseil allaitement planification familiale injectable implant pilule préservatif calendrier
rendez-vous suivi visite consultation prénatale postnatale signe danger respiration rapide
tirage sous-costal léthargique anémie hémoglobine fer acide folique moustiquaire
""".split()  # noqa: SIM905
TOPICS = ("pcime", "pcima", "sonu", "cpn", "pf", "pev", "paludisme", "vih")
QUERIES = (
    "paludisme",
    "malnutrition oedème",
    "vacc",
    "pré-éclampsie",
    "amoxicilline dose",
    "signe danger convulsions",
    "planification familiale implant",
    "zinc",
    "allait",
    "hémorragie accouchement référence",
    "rougeole",
    "tirage sous-costal",
)


def page_text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(190)).capitalize() + "."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=20, help="times each query is run")
    args = parser.parse_args()
    rng = random.Random(24)
    with tempfile.TemporaryDirectory(prefix="keneya-bench-library-") as tmp:
        home, stick = Path(tmp) / "home", Path(tmp) / "stick"
        home.mkdir()
        documents = [
            Document(
                f"doc-{n:03d}.pdf",
                f"Aide-mémoire {n} : {' '.join(rng.choice(WORDS) for _ in range(4))}",
                TOPICS[n % len(TOPICS)],
                tuple(page_text(rng) for _ in range(args.pages)),
            )
            for n in range(args.documents)
        ]
        t0 = time.perf_counter()
        write_stick(stick, documents)
        generated_s = time.perf_counter() - t0
        with Store(home / "keneya.db", create=True) as store:
            ctx = Context.open(store)
            store.set_setting("facility_code", "BENCH")
            auth.add_staff(
                ctx, None, username="admin", display_name="A", role="admin", pin="482913"
            )
            admin = auth.login(ctx, "admin", pin="482913", client="console")
            t0 = time.perf_counter()
            out = service.import_folder(ctx, admin, stick, home)
            import_s = time.perf_counter() - t0
            timings, hits = [], {}
            for q in QUERIES:
                for _ in range(args.rounds):
                    t0 = time.perf_counter()
                    found = service.search(ctx, admin, q)
                    timings.append((time.perf_counter() - t0) * 1000)
                hits[q] = len(found)
            timings.sort()
            totals = store.library.totals()
            db_bytes = (home / "keneya.db").stat().st_size
    print(
        json.dumps(
            {
                "documents": totals["documents"],
                "pages": totals["pages"],
                "pdf_mb": round(totals["bytes"] / 1e6, 2),
                "database_mb_after_import": round(db_bytes / 1e6, 2),
                "generate_pdfs_s": round(generated_s, 2),
                "import_s": round(import_s, 2),
                "import_ms_per_document": round(import_s * 1000 / max(len(out["added"]), 1), 1),
                "search_ms_p50": round(statistics.median(timings), 2),
                "search_ms_p95": round(timings[int(len(timings) * 0.95) - 1], 2),
                "search_ms_max": round(timings[-1], 2),
                "searches": len(timings),
                "documents_found_per_query": hits,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
