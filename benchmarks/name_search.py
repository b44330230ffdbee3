"""Name search at facility scale: speed (p50/p95 over a fixed set of queries) and, on the
variant list of tests/data/malian_name_variants.csv, recall and precision in the first 10
results. Prints JSON; never passes or fails on time.

    .venv/bin/python benchmarks/name_search.py --db PATH [--queries 500]

PATH is a seeded database (`keneya seed --patients 100000 --years 5`); it is changed: one
patient is registered under each name of the variant list (the patient a clerk looks for,
among the many already there), once. Work on a copy.

Recall: a query for a variant finds, in its first 10 results, a patient registered under the
name (the planted one or any other). Precision: the share of those first 10 results that bear
the name (under its own spelling or one of the list's variants of it).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import time
from collections import defaultdict
from pathlib import Path

from appliance.domain.names import fold
from appliance.services import auth, patients
from appliance.services.context import Context
from appliance.store import Store

VARIANTS = Path(__file__).resolve().parent.parent / "tests" / "data" / "malian_name_variants.csv"
PLANTED_GIVEN = "Nafissatou"  # given name of the planted patients whose family name is tested
PLANTED_FAMILY = "Kanouté"  # family name of those whose given name is tested
TOP = 10


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "max_ms": round(max(ms), 2),
    }


def read_variants(path: Path = VARIANTS) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def spellings(pairs: list[dict[str, str]]) -> dict[str, set[str]]:
    """Each name -> its folded spellings (itself and the list's variants of it)."""
    out: dict[str, set[str]] = defaultdict(set)
    for row in pairs:
        out[row["name"]] |= {fold(row["name"]), fold(row["variant"])}
    return out


def bears(patient: dict, folded: set[str]) -> bool:
    return bool(folded & set(fold(f"{patient['family_name']} {patient['given_names']}").split()))


def recall_precision(search, pairs: list[dict[str, str]]) -> dict[str, object]:
    """`search(query) -> rows`: recall and precision over the pairs, misses listed."""
    names = spellings(pairs)
    hits, shares, misses = 0, [], []
    for row in pairs:
        top = search(row["variant"])[:TOP]
        same = [r for r in top if bears(r, names[row["name"]])]
        hits += bool(same)
        if not same:
            misses.append(f"{row['variant']} -> {row['name']}")
        if top:
            shares.append(len(same) / len(top))
    return {
        "pairs": len(pairs),
        "recall_at_10": round(hits / len(pairs), 3),
        "precision_at_10": round(statistics.mean(shares), 3) if shares else 0.0,
        "misses": misses,
    }


def plant(ctx: Context, actor, pairs: list[dict[str, str]]) -> int:
    """One patient under each name of the list (skipped when already planted)."""
    if ctx.store.get_setting("bench_names_planted") == "1":
        return 0
    planted = 0
    for name, kind in sorted({(r["name"], r["kind"]) for r in pairs}):
        family, given = (name, PLANTED_GIVEN) if kind == "family" else (PLANTED_FAMILY, name)
        data = {"family_name": family, "given_names": given, "sex": "F", "birth_date": "1990-01-01"}
        patients.register(ctx, actor, data, accept_duplicates=True)
        planted += 1
    ctx.store.set_setting("bench_names_planted", "1")
    return planted


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    logins = {
        line.split()[1]: line.split()
        for line in (args.db.parent / "demo-logins.txt").read_text().splitlines()
    }
    pairs = read_variants()
    rng = random.Random(args.seed)
    figures: dict[str, object] = {}
    t0 = time.perf_counter()
    with Store(args.db) as store:
        figures["open_and_migrate_s"] = round(time.perf_counter() - t0, 2)
        ctx = Context.open(store, boot_id="bench")
        user, _, pin = logins["nurse"]
        nurse = auth.login(ctx, user, pin=pin)
        figures["planted"] = plant(ctx, nurse, pairs)
        figures["patients"] = store.counts()["patients"]
        # The same queries each run: patients drawn in a fixed order, not at random.
        sample = store.query(
            "SELECT family_name, given_names FROM patients WHERE merged_into IS NULL"
            " ORDER BY sequence LIMIT ?",
            (args.queries * 7,),
        )[::7]
        queries = []
        for p in sample:
            fam, given = p["family_name"], p["given_names"].split()[0]
            kind = rng.randrange(4)
            queries.append((fam, fam[:3], f"{fam} {given}", f"{fam} {given[:2]}")[kind])
        variant_queries = [r["variant"] for r in pairs]
        for q in queries[:20]:  # warm the page cache as a running server would be
            patients.search(ctx, nurse, q)

        def timed(q: str) -> float:
            t = time.perf_counter()
            patients.search(ctx, nurse, q, limit=20)
            return (time.perf_counter() - t) * 1000

        figures["search_seeded_names"] = summary([timed(q) for q in queries])
        figures["search_variants"] = summary([timed(q) for q in variant_queries])
        figures["search_all"] = summary(
            [timed(q) for q in queries] + [timed(q) for q in variant_queries]
        )
        figures["variants"] = recall_precision(
            lambda q: patients.search(ctx, nurse, q, limit=TOP), pairs
        )
    print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
