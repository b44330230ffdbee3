"""Record-store figures: name search and record opening latency at facility scale, one-by-one
registration, and database size. Prints JSON; never passes or fails on time.

    .venv/bin/python benchmarks/store.py [--patients 100000] [--years 5] [--db PATH]

The synthetic facility is built once (reused when --db points at an existing file).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from appliance.seed.facility import seed_facility
from appliance.services import auth, patients
from appliance.services.context import Context
from appliance.store import Store


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return (time.perf_counter() - t0) * 1000, out


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "max_ms": round(max(ms), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--db", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="keneya-bench-"))
    db = args.db or work / "keneya.db"
    figures: dict[str, object] = {"patients_requested": args.patients, "years": args.years}
    if not db.exists():
        t0 = time.perf_counter()
        seed_facility(
            db,
            patients=args.patients,
            seed=args.seed,
            years=args.years,
            logins_dir=db.parent,
            today=date(2026, 11, 1),
        )
        figures["seed_s"] = round(time.perf_counter() - t0, 1)
    logins = {
        line.split()[1]: line.split()
        for line in (db.parent / "demo-logins.txt").read_text().splitlines()
    }
    rng = random.Random(args.seed)
    with Store(db) as store:
        counts = store.counts()
        figures["patients"], figures["encounters"] = counts["patients"], counts["encounters"]
        size = db.stat().st_size
        figures["db_bytes"] = size
        figures["db_mb_per_100k_patients"] = round(size / 1e6 * 100_000 / counts["patients"], 1)
        ctx = Context.open(store, boot_id="bench")
        user, _, pin = logins["nurse"]
        nurse = auth.login(ctx, user, pin=pin)
        sample = store.query(
            "SELECT id, family_name, given_names FROM patients"
            " WHERE merged_into IS NULL ORDER BY random() LIMIT ?",
            (args.queries,),
        )
        queries = []
        for p in sample:
            fam, given = p["family_name"], p["given_names"].split()[0]
            kind = rng.randrange(4)
            queries.append(
                fam
                if kind == 0
                else fam[:3]
                if kind == 1
                else f"{fam} {given}"
                if kind == 2
                else f"{fam} {given[:2]}"
            )
        for q in queries[:20]:  # warm the page cache as a running server would be
            patients.search(ctx, nurse, q)
        search_ms = [timed(patients.search, ctx, nurse, q)[0] for q in queries]
        figures["name_search"] = summary(search_ms)
        record_ms, sizes = [], []
        for p in sample:
            ms, rec = timed(patients.record, ctx, nurse, p["id"])
            record_ms.append(ms)
            sizes.append(len(rec["encounters"]))
        figures["open_record"] = {**summary(record_ms), "encounters_per_record_max": max(sizes)}
        t0 = time.perf_counter()
        for i in range(1000):
            patients.register(
                ctx,
                nurse,
                {
                    "family_name": rng.choice(("Bengaly", "Tangara", "Berthé", "Sogoba")),
                    "given_names": f"Bench{chr(65 + i % 26)}{chr(65 + i // 26 % 26)}",
                    "sex": "F",
                    "birth_date": f"{1960 + i % 60}-0{1 + i % 9}-1{i % 10}",
                },
                accept_duplicates=False,
            )
        figures["register_1000_one_by_one_s"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
