"""Monthly report figures over a busy synthetic facility: generation time for one month and for
each of the last 12, and the size of one report as JSON, gzipped JSON and ADX. Prints JSON;
never passes or fails on time.

    .venv/bin/python benchmarks/reports.py [--patients 30000] [--years 1] [--db PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from appliance.reports.formats import load_mapping, to_adx, to_csv, to_dhis2, to_table
from appliance.reports.pdf import to_pdf
from appliance.seed.facility import seed_facility
from appliance.services import auth, reports
from appliance.services.context import Context
from appliance.store import Store

TODAY = date(2026, 11, 1)


def _months(n: int) -> list[str]:
    y, m = TODAY.year, TODAY.month
    out = []
    for _ in range(n):
        m -= 1
        if m == 0:
            y, m = y - 1, 12
        out.append(f"{y:04d}-{m:02d}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=30_000)
    ap.add_argument("--years", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--db", type=Path)
    args = ap.parse_args()
    db = args.db or Path(tempfile.mkdtemp(prefix="keneya-reports-")) / "keneya.db"
    figures: dict[str, object] = {"patients_requested": args.patients, "years": args.years}
    if not db.exists():
        t0 = time.perf_counter()
        seed_facility(
            db, patients=args.patients, seed=5, years=args.years, logins_dir=db.parent, today=TODAY
        )
        figures["seed_s"] = round(time.perf_counter() - t0, 1)
    user, _, pin = next(
        line.split()
        for line in (db.parent / "demo-logins.txt").read_text().splitlines()
        if line.split()[1] == "doctor"
    )
    with Store(db) as store:
        ctx = Context.open(store, boot_id="bench")
        doctor = auth.login(ctx, user, pin=pin)
        counts = store.counts()
        figures["patients"], figures["encounters"] = counts["patients"], counts["encounters"]
        last = _months(1)[0]
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            report = reports.monthly(ctx, doctor, last)
            times.append((time.perf_counter() - t0) * 1000)
        figures["one_month"] = {
            "period": last,
            "runs": args.runs,
            "median_ms": round(statistics.median(times), 1),
            "values": len(report.values),
            "consultations": report.total("CONSULT"),
        }
        per_month = {}
        for period in _months(12):
            t0 = time.perf_counter()
            r = reports.monthly(ctx, doctor, period)
            per_month[period] = {
                "ms": round((time.perf_counter() - t0) * 1000, 1),
                "values": len(r.values),
                "consultations": r.total("CONSULT"),
            }
        figures["each_of_12_months"] = per_month
        # the French renderings staff download (labels and definitions included)
        renders = {}
        for name, render in (("table", to_table), ("csv", to_csv), ("pdf", to_pdf)):
            t0 = time.perf_counter()
            render(report)
            renders[f"{name}_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        figures["render"] = renders
        payload, unmapped = to_dhis2(report, load_mapping())
        raw = json.dumps(payload, separators=(",", ":")).encode()
        figures["bytes"] = {
            "dhis2_json": len(raw),
            "dhis2_json_gzip": len(gzip.compress(raw, 9)),
            "adx": len(to_adx(report)),
            "adx_gzip": len(gzip.compress(to_adx(report), 9)),
            "data_values": len(payload["dataValues"]),
            "unmapped_values": len(unmapped),
        }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
