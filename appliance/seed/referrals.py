"""The demo's referrals: a receiving centre in the facility file, an urgent referral of a
pregnant woman with severe pre-eclampsia made today (her SMS queued for the modem), one whose
counter-referral came back, and one late (no answer after the district's days)."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from appliance.services import auth, encounters, patients
from appliance.services import referrals as service
from appliance.services.context import Context
from appliance.store import Store

DEMO_REFERRAL = """
[referral]
sms_detail = "reason"
return_after_days = 14
transport_note = "Ambulance du district : appeler le 76 00 00 00"

[[referral.receiving]]
code = "CSREF-KATI"
name = "CSRéf de Kati"
phone = "+22376000000"
"""


def ensure_referral_table(facility_file: Path) -> None:
    """Add `[referral]` to the demo's facility file when it has none."""
    text = facility_file.read_text(encoding="utf-8") if facility_file.exists() else ""
    if "referral" in tomllib.loads(text):
        return
    facility_file.parent.mkdir(parents=True, exist_ok=True)
    facility_file.write_text(text.rstrip("\n") + "\n" + DEMO_REFERRAL, encoding="utf-8")


def _woman(ctx: Context, actor: Any, given: str, born: str) -> dict[str, Any]:
    return patients.register(
        ctx,
        actor,
        {"family_name": "Démo", "given_names": given, "sex": "F", "birth_date": born,
         "village": "Kalaban"},
        accept_duplicates=True,
    )  # fmt: skip


def seed_demo_referrals(database: Path, facility_file: Path, logins_file: Path) -> dict[str, Any]:
    """Three referrals, once (a demo run again finds them and only describes them)."""
    ensure_referral_table(facility_file)
    rules = service.rules_of(facility_file)
    user, _, pin = next(
        line.split()
        for line in logins_file.read_text().splitlines()
        if line.split()[1] == "midwife"
    )
    with Store(database) as store:
        ctx = Context.open(store)
        midwife = auth.login(ctx, user, pin=pin)
        today = ctx.now().today
        if not store.query_one("SELECT 1 FROM referrals LIMIT 1"):
            made = []
            for given, days_ago in (("Aminata", 0), ("Kadiatou", 9), ("Salimata", 20)):
                woman = _woman(ctx, midwife, given, "2001-04-12")
                on = today - timedelta(days=days_ago)
                encounters.add(
                    ctx,
                    midwife,
                    woman["id"],
                    "anc",
                    {"care_date": on.isoformat(), "lmp": (on - timedelta(weeks=35)).isoformat(),
                     "bp_systolic": 168, "bp_diastolic": 114, "danger_signs": ["severe_headache"]},
                )  # fmt: skip
                start = service.prefill(ctx, midwife, woman["id"])
                made.append(
                    service.create(
                        ctx,
                        midwife,
                        woman["id"],
                        {
                            "care_date": on.isoformat(),
                            "reason": start["reason"] or "severe_preeclampsia",
                            "urgency": "urgent",
                            "to_facility": "CSREF-KATI",
                            "transport": "ambulance",
                            "sms_consent": days_ago == 0,
                            "done_given": "Sulfate de magnésium 4 g IV, nifédipine 10 mg",
                            "vitals": {"bp_systolic": 168, "bp_diastolic": 114},
                        },
                        rules=rules,
                    )  # fmt: skip
                )
            service.record_return(
                ctx,
                midwife,
                made[1]["id"],
                {"returned_on": today.isoformat(), "outcome": "admitted_discharged",
                 "diagnosis": "Pré-éclampsie sévère", "treatment": "Sulfate de magnésium, "
                 "césarienne", "instructions": "Tension chaque semaine, revoir à J7"},
            )  # fmt: skip
        return {
            "awaiting": len(service.awaiting(ctx, midwife, rules=rules)),
            "late": service.count_late(ctx, rules=rules),
            "this_month": len(store.referrals.between(today.replace(day=1).isoformat(),
                                                      today.isoformat())),
            "sms_queued": len(store.referrals.sms_to_send()),
        }  # fmt: skip
