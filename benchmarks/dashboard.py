"""Dashboard figures over a synthetic facility with five years of history: the year's
dashboard cold (every month computed from the records), warm (read from the stored monthly
counts), and after one new encounter of each kind: the page's time as the web page opens
it (stored counts, the background refresh waited for PAGE_WAIT_S at most), the months it
showed as pending, and when the background refresh had finished. Prints JSON; never passes
or fails on time.

    .venv/bin/python benchmarks/dashboard.py [--patients 20000] [--db PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from appliance.seed.facility import seed_facility
from appliance.services import auth, encounters
from appliance.services.context import Context
from appliance.services.dashboard import dashboard, dashboard_at_once, wait_for_refresh
from appliance.store import Store
from appliance.web.routes.dashboard import PAGE_WAIT_S


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return round((time.perf_counter() - t0) * 1000, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--db", type=Path)
    args = ap.parse_args()
    db = args.db or Path(tempfile.mkdtemp(prefix="keneya-dashboard-")) / "keneya.db"
    figures: dict[str, object] = {"patients_requested": args.patients, "years": args.years}
    if not db.exists():
        t0 = time.perf_counter()
        seed_facility(db, patients=args.patients, seed=11, years=args.years, logins_dir=db.parent)
        figures["seed_s"] = round(time.perf_counter() - t0, 1)
    facility_file = db.parent / "facility.toml"
    today_year = time.gmtime().tm_year
    facility_file.write_text(f"[population]\ntotal = {args.patients}\nyear = {today_year}\n")
    user, _, pin = next(
        line.split()
        for line in (db.parent / "demo-logins.txt").read_text().splitlines()
        if line.split()[1] == "doctor"
    )
    with Store(db) as store:
        ctx = Context.open(store)
        actor = auth.login(ctx, user, pin=pin)
        figures["patients"] = store.patients.count()
        figures["encounters"] = store.encounters.count()

        def run(year: int) -> None:
            dashboard(ctx, actor, year, facility_file=facility_file)

        for year in (today_year - 1, today_year):
            with store.transaction() as conn:  # every month computed again from the records
                conn.execute("DELETE FROM dashboard_fresh")
                conn.execute("DELETE FROM dashboard_counts")
            cold = _timed(lambda y=year: run(y))
            warm = [_timed(lambda y=year: run(y)) for _ in range(args.runs)]
            figures[f"year_{year}"] = {
                "cold_ms": cold,
                "warm_ms_median": statistics.median(warm),
                "warm_ms_max": max(warm),
            }
        # One write of each kind today, then: the page (its time budget, the months left
        # pending for the background) and the full count the background then does.
        logins = [line.split() for line in (db.parent / "demo-logins.txt").read_text().splitlines()]
        nurse_user, _, nurse_pin = next(x for x in logins if x[1] == "nurse")
        nurse = auth.login(ctx, nurse_user, pin=nurse_pin)
        today = ctx.now().today
        # a child under two, with growth visits in the last months if there is one
        child = store.conn.execute(
            "SELECT p.id FROM patients p LEFT JOIN encounters e ON e.patient_id = p.id"
            " AND e.type = 'growth' AND e.care_date >= ? WHERE p.birth_date >= ?"
            " ORDER BY e.id IS NULL, p.sequence LIMIT 1",
            ((today - timedelta(days=60)).isoformat(), (today - timedelta(days=600)).isoformat()),
        ).fetchone()[0]
        writes = {
            "consultation": ("consultation", {"diagnoses": [{"code": "malaria_confirmed"}]}),
            "growth": ("growth", {"weight_kg": 9.1, "height_cm": 74.0, "muac_mm": 128}),
            "immunization": ("immunization", {"antigen": "mr", "dose": 1}),
        }

        @contextmanager
        def own_context():
            with Store(db) as own:
                yield Context.open(own)

        def page() -> tuple[float, dict]:
            """As the web page opens it (services.dashboard.dashboard_at_once)."""
            t0 = time.perf_counter()
            data = dashboard_at_once(
                ctx,
                actor,
                today_year,
                open_context=own_context,
                wait_s=PAGE_WAIT_S,
                facility_file=facility_file,
            )
            return round((time.perf_counter() - t0) * 1000, 1), data

        for name, (kind, data) in writes.items():
            pid = (
                child
                if kind != "consultation"
                else store.conn.execute(
                    "SELECT id FROM patients ORDER BY sequence LIMIT 1"
                ).fetchone()[0]
            )
            encounters.add(ctx, nurse, pid, kind, {"care_date": today.isoformat(), **data})
            page_ms, shown = page()
            t0 = time.perf_counter()
            wait_for_refresh(600)
            figures[f"after_{name}"] = {
                "page_ms": page_ms,
                "pending_months": shown["pending"],
                "background_done_after_ms": round(page_ms + (time.perf_counter() - t0) * 1000, 1),
            }
        figures["warm_again_ms"] = _timed(lambda: run(today_year))
        with store.transaction() as conn:  # a year never counted: the page at once
            conn.execute("DELETE FROM dashboard_fresh WHERE month LIKE ?", (f"{today_year}-%",))
        page_ms, shown = page()
        t0 = time.perf_counter()
        wait_for_refresh(600)
        figures["cold_page"] = {
            "page_ms": page_ms,
            "pending_months": len(shown["pending"]),
            "incomplete": shown["incomplete"],
            "background_done_after_ms": round(page_ms + (time.perf_counter() - t0) * 1000, 1),
        }
        figures["stored_rows"] = store.conn.execute(
            "SELECT COUNT(*) FROM dashboard_counts"
        ).fetchone()[0]
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
