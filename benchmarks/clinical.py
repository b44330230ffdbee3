"""Follow-up figures on a seeded facility: today's list, a village's outreach round (and its PDF),
a page of the 30-day list, the defaulters, the nightly rebuild, the cost per encounter write of
keeping the stored items current, peak memory; and z-score throughput. Prints JSON; never
passes or fails on time.

    .venv/bin/python benchmarks/clinical.py [--patients 20000] [--years 3] [--home DIR]
                                            [--runs 40] [--writes 200]

The facility is seeded once into --home (reused when it already has a database; the seeding
time is kept in bench-seed.json beside it). The lists are read on the day the items were built
(the seed's day, or the last rebuild's), with the clock running from noon of that day. The
rebuild and the writes work on a copy of the database, so the seeded one stays as it was.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.clinical.growth import hfa, wfa, wfh
from appliance.paths import Paths
from appliance.reports.outreach_pdf import render
from appliance.seed.facility import seed_facility
from appliance.services import auth, encounters, follow_up
from appliance.services.context import Context
from appliance.store import Store

SEED_FIGURES = "bench-seed.json"
ROUND_AHEAD_DAYS = 7  # a round is usually planned for the coming week


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed(fn, runs: int) -> tuple[dict[str, float], Any]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "runs": runs,
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "max_ms": round(max(times), 2),
    }, result


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def ensure_home(home: Path, patients: int, years: int) -> dict[str, Any]:
    home.mkdir(parents=True, exist_ok=True)
    db = Paths.resolve(home).database
    figures_file = home / SEED_FIGURES
    if db.exists():
        saved = json.loads(figures_file.read_text()) if figures_file.exists() else {}
        return {**saved, "reused": True}
    t0 = time.perf_counter()
    summary = seed_facility(db, patients=patients, seed=7, years=years, logins_dir=home)
    figures = {
        "patients_requested": patients,
        "years": years,
        "encounters": summary["encounters"],
        "seed_s": round(time.perf_counter() - t0, 1),
    }
    figures_file.write_text(json.dumps(figures))
    return {**figures, "reused": False}


def copy_database(source: Path, target: Path) -> float:
    t0 = time.perf_counter()
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return round(time.perf_counter() - t0, 1)


def open_context(store: Store, day: date) -> Context:
    """A context whose clock runs from noon of `day` (the day the items were built for)."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp()
    started = time.time()
    return Context.open(store, machine_time=lambda: noon + time.time() - started, boot_id="bench")


def login(ctx: Context, home: Path, role: str):
    for line in (home / "demo-logins.txt").read_text(encoding="utf-8").splitlines():
        username, their_role, pin = line.split()
        if their_role == role:
            return auth.login(ctx, username, pin=pin)
    raise SystemExit(f"no {role} in {home / 'demo-logins.txt'}")


def lists(ctx: Context, nurse, runs: int) -> dict[str, Any]:
    on = ctx.now().today
    out: dict[str, Any] = {}
    out["today"], first = timed(lambda: follow_up.today(ctx, nurse, limit=50), runs)
    out["today"].update(
        count=first["count"], defaulters=first["defaulters"], upcoming=first["upcoming"]
    )
    per_village = dict(
        ctx.store.conn.execute(
            "SELECT village, COUNT(*) FROM due_items WHERE village != '' AND ends_on >= ?"
            " GROUP BY village",
            (on.isoformat(),),
        ).fetchall()
    )
    # the village with most items (the longest round) and the median one
    ranked = sorted(per_village, key=per_village.get)
    rounds = {"largest": ranked[-1], "median": ranked[len(ranked) // 2]}
    round_day = on + timedelta(days=ROUND_AHEAD_DAYS)
    for name, village in rounds.items():
        fig, data = timed(
            lambda v=village: follow_up.outreach(ctx, nurse, village=v, on=round_day), runs
        )
        out[f"outreach_{name}_village"] = {**fig, "village": village, "items": len(data["items"])}
        if name == "largest":
            pdf_fig, pdf = timed(
                lambda d=data: render(d, facility="CSCom", printed_on=on), max(3, runs // 10)
            )
            out["outreach_pdf_largest_village"] = {**pdf_fig, "bytes": len(pdf)}
    fig, data = timed(
        lambda: follow_up.listing(
            ctx,
            nurse,
            start=on,
            end=on + timedelta(days=30),
            village=rounds["largest"],
            limit=20,
        ),
        runs,
    )
    out["listing_30_days_village_page_of_20"] = {**fig, "total": data["total"]}
    fig, data = timed(lambda: follow_up.defaulters(ctx, nurse, limit=20), runs)
    out["defaulters_page_of_20"] = {**fig, "total": data["total"]}
    return out


def rebuild(ctx: Context) -> dict[str, Any]:
    """The nightly rebuild from scratch (the cursor and the day's mark cleared first)."""
    ctx.store.set_settings({follow_up.BUILT_ON: None, follow_up.CURSOR: None})
    batches: list[float] = []
    last = [time.perf_counter()]

    def progress(_: int) -> None:
        now = time.perf_counter()
        batches.append((now - last[0]) * 1000)
        last[0] = now

    t0 = time.perf_counter()
    done = follow_up.rebuild(ctx, progress=progress)
    return {
        "seconds": round(time.perf_counter() - t0, 1),
        "patients": done["patients"],
        "items": done["items"],
        "batches": len(batches),
        # a batch's computation and its one write transaction together: an upper bound of
        # how long the write lock is held at a time
        "batch_p95_ms": round(percentile(batches, 95), 1),
        "batch_max_ms": round(max(batches), 1),
    }


def write_cost(ctx: Context, nurse, writes: int) -> dict[str, Any]:
    """services.encounters.add with the items kept current, against the same call with the
    refresh left out, interleaved on random patients (growth measures for under-fives,
    consultations for the others)."""
    on = ctx.now().today
    rng = random.Random(5)
    young = (on - timedelta(days=5 * 365)).isoformat()
    ids = [
        (r[0], r[1] > young)
        for r in ctx.store.conn.execute(
            "SELECT id, birth_date FROM patients WHERE merged_into IS NULL"
        )
    ]
    refresh = follow_up.refresh
    with_items: list[float] = []
    without: list[float] = []
    try:
        for n in range(2 * writes):
            pid, child = rng.choice(ids)
            kind, data = (
                ("growth", {"care_date": on.isoformat(), "weight_kg": 11.5})
                if child
                else (
                    "consultation",
                    {
                        "care_date": on.isoformat(),
                        "temperature_c": 37.9,
                        "diagnoses": [{"code": "malaria_suspected", "confirmed": False}],
                    },
                )
            )
            keep = n % 2 == 0
            follow_up.refresh = refresh if keep else (lambda *a, **k: None)
            t0 = time.perf_counter()
            encounters.add(ctx, nurse, pid, kind, data)
            (with_items if keep else without).append((time.perf_counter() - t0) * 1000)
    finally:
        follow_up.refresh = refresh
    mean_with, mean_without = statistics.mean(with_items), statistics.mean(without)
    return {
        "writes_each": writes,
        "with_items_mean_ms": round(mean_with, 2),
        "with_items_p95_ms": round(percentile(with_items, 95), 2),
        "without_items_mean_ms": round(mean_without, 2),
        "without_items_p95_ms": round(percentile(without, 95), 2),
        "added_mean_ms": round(mean_with - mean_without, 2),
    }


def zscores() -> int:
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
    return round(3 * len(children) / (time.perf_counter() - t0))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, help="seeded facility (seeded here when empty)")
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--years", type=int, default=3, help="years of care the seed makes")
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--writes", type=int, default=200)
    ap.add_argument("--skip-rebuild", action="store_true")
    args = ap.parse_args()
    home = (args.home or Path(tempfile.mkdtemp(prefix="keneya-clinical-"))).resolve()
    figures: dict[str, Any] = {"seed": ensure_home(home, args.patients, args.years)}
    db = Paths.resolve(home).database
    with Store(db) as store:
        built = store.get_setting(follow_up.BUILT_ON)
        day = date.fromisoformat(built) if built else datetime.now(UTC).date()
        ctx = open_context(store, day)
        nurse = login(ctx, home, "nurse")
        counts = store.counts()
        figures.update(
            patients=counts["patients"],
            encounters=counts["encounters"],
            due_items=store.conn.execute("SELECT COUNT(*) FROM due_items").fetchone()[0],
            on=day.isoformat(),
        )
        figures["lists"] = lists(ctx, nurse, args.runs)
        figures["peak_rss_after_lists_mb"] = peak_rss_mb()
    work = Path(tempfile.mkdtemp(prefix="keneya-clinical-run-"))
    try:
        figures["copy_database_s"] = copy_database(db, work / "keneya.db")
        with Store(work / "keneya.db") as store:
            ctx = open_context(store, day)
            nurse = login(ctx, home, "nurse")
            if not args.skip_rebuild:
                figures["rebuild"] = rebuild(ctx)
                figures["peak_rss_after_rebuild_mb"] = peak_rss_mb()
            figures["encounter_write"] = write_cost(ctx, nurse, args.writes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures["zscores_per_second"] = zscores()
    figures["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
