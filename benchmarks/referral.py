"""Referral figures on a seeded facility: writing a referral (form checked, case summary,
SMS queued), the fiche PDF, the awaiting list and the late count with a few years of
referrals behind them, and the urgent SMS's length. Prints JSON; never passes or fails on
time.

    .venv/bin/python benchmarks/referral.py [--patients 3000] [--referrals 1500]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from appliance.domain.referrals import REASONS, referral_rules_from
from appliance.reports.referral_pdf import fiche_pdf
from appliance.seed.facility import seed_facility
from appliance.services import auth
from appliance.services import referrals as service
from appliance.services.context import Context
from appliance.store import Store

RULES = referral_rules_from(
    {"receiving": [{"code": "KATI", "name": "CSRéf de Kati", "phone": "+22376000001"}]}
)


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=3000)
    parser.add_argument("--referrals", type=int, default=1500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        seed_facility(home / "keneya.db", patients=args.patients, seed=3, years=3, logins_dir=home)
        user, _, pin = next(
            line.split()
            for line in (home / "demo-logins.txt").read_text().splitlines()
            if line.split()[1] == "midwife"
        )
        rng = random.Random(7)
        with Store(home / "keneya.db") as store:
            ctx = Context.open(store)
            midwife = auth.login(ctx, user, pin=pin)
            today = ctx.now().today
            ids = [
                r["id"]
                for r in store.query("SELECT id FROM patients WHERE birth_date < '2020-01-01'")
            ]
            writes, fiches = [], []
            made = []
            for i in range(args.referrals):
                on = today - timedelta(days=rng.randrange(0, 3 * 365))
                form = {
                    "care_date": on.isoformat(),
                    "reason": rng.choice([r for r in REASONS if r != "other"]),
                    "urgency": rng.choice(("urgent", "non_urgent")),
                    "to_facility": "KATI",
                    "transport": rng.choice(("ambulance", "own_means")),
                    "sms_consent": rng.random() < 0.5,
                    "vitals": {"bp_systolic": 150, "bp_diastolic": 100},
                }
                t0 = time.perf_counter()
                row = service.create(ctx, midwife, rng.choice(ids), form, rules=RULES)
                writes.append(time.perf_counter() - t0)
                made.append(row)
                if i % 10 == 0:
                    t0 = time.perf_counter()
                    pdf = fiche_pdf(row)
                    fiches.append(time.perf_counter() - t0)
            for row in made:
                if (
                    rng.random() < 0.9
                    and row["care_date"] < (today - timedelta(days=30)).isoformat()
                ):
                    store.referrals.record_return(
                        row["id"], returned_on=row["care_date"],
                        data={"outcome": "treated_returned", "diagnosis": "x"},
                        staff_id=midwife.id, now=row["recorded_at"],
                    )  # fmt: skip
            lists, counts = [], []
            for _ in range(30):
                t0 = time.perf_counter()
                waiting = service.awaiting(ctx, midwife, rules=RULES)
                lists.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                service.count_late(ctx, rules=RULES)
                counts.append(time.perf_counter() - t0)
            sms = [r["sms_text"] for r in made if r["sms_text"]]
        print(
            json.dumps(
                {
                    "patients": args.patients,
                    "referrals": args.referrals,
                    "awaiting": len(waiting),
                    "write_referral": _ms(writes),
                    "fiche_pdf": _ms(fiches) | {"bytes": len(pdf)},
                    "awaiting_list": _ms(lists),
                    "late_count": _ms(counts),
                    "sms_chars_max": max(len(s) for s in sms),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
