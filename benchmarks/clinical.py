"""Clinical engine figures: the facility-wide due list for the next 7 days, and z-score
throughput. Prints JSON; never passes or fails on time.

    .venv/bin/python benchmarks/clinical.py [--patients 20000] [--db PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from appliance.clinical.growth import hfa, wfa, wfh
from appliance.seed.facility import seed_facility
from appliance.services import auth, clinical
from appliance.services.context import Context
from appliance.store import Store

TODAY = date(2026, 11, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--db", type=Path)
    args = ap.parse_args()
    db = args.db or Path(tempfile.mkdtemp(prefix="keneya-clinical-")) / "keneya.db"
    if not db.exists():
        seed_facility(
            db, patients=args.patients, seed=3, years=3, logins_dir=db.parent, today=TODAY
        )
    user, _, pin = next(
        line.split()
        for line in (db.parent / "demo-logins.txt").read_text().splitlines()
        if line.split()[1] == "nurse"
    )
    figures: dict[str, object] = {}
    with Store(db) as store:
        ctx = Context.open(store, boot_id="bench")
        nurse = auth.login(ctx, user, pin=pin)
        figures["patients"] = store.counts()["patients"]
        figures["encounters"] = store.counts()["encounters"]
        times, n_items = [], 0
        for _ in range(args.runs):
            t0 = time.perf_counter()
            items = clinical.facility_due(ctx, nurse, start=TODAY, end=TODAY + timedelta(days=7))
            times.append((time.perf_counter() - t0) * 1000)
            n_items = len(items)
        times.sort()
        figures["due_list_7_days"] = {
            "runs": args.runs,
            "items": n_items,
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], 1),
            "min_ms": round(times[0], 1),
        }
    rng = random.Random(1)
    children = [
        (rng.choice("FM"), rng.randrange(0, 1856), rng.uniform(3, 20), rng.uniform(50, 110))
        for _ in range(50_000)
    ]
    t0 = time.perf_counter()
    for sex, age, weight, height in children:
        wfa(sex, age, weight)
        hfa(sex, age, height)
        wfh(sex, age, weight, height)
    elapsed = time.perf_counter() - t0
    figures["zscores_per_second"] = round(3 * len(children) / elapsed)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
