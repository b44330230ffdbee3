"""The clinical engine through the service layer and the CLI: a record's alerts, due items
and z-scores; the facility due list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from appliance.services import clinical, encounters, follow_up, patients
from appliance.services.errors import PermissionDenied

pytestmark = pytest.mark.component
KENEYA = str(Path(sys.executable).parent / "keneya")
TODAY = date(2026, 10, 15)  # the fixture clock's date


@pytest.fixture
def baby(ctx, actors, aminata):
    return patients.register(
        ctx,
        actors["nurse"],
        {
            "family_name": "Coulibaly",
            "given_names": "Issa",
            "sex": "M",
            "birth_date": "2026-05-01",
            "village": "Kalaban",
            "mother_id": aminata["id"],
        },
    )


def test_record_of_a_malnourished_child_has_alerts_zscores_and_due(ctx, actors, baby):
    nurse = actors["nurse"]
    encounters.add(
        ctx,
        nurse,
        baby["id"],
        "growth",
        {
            "care_date": "2026-10-14",
            "weight_kg": 5.2,
            "height_cm": 64.0,
            "measured": "lying",
            "muac_mm": 110,
        },
    )
    rec = patients.record(ctx, nurse, baby["id"])
    assert rec["nutrition_status"] == "sam"
    assert set(rec["zscores"]) == {"wfa", "hfa", "wfh", "bfa"} and rec["zscores"]["wfa"] < -3
    assert rec["growth"]["reference"] == "who2006"
    codes = [a["code"] for a in rec["alerts"]]
    assert "child.sam" in codes
    assert all({"code", "severity", "reason", "action"} <= set(a) for a in rec["alerts"])
    due_codes = {d["reason_code"] for d in rec["due"]}
    assert "penta:1" in due_codes  # never vaccinated: Penta 1 is due (catch-up)
    # the child has no phone: the contact is the mother's
    penta = next(d for d in rec["due"] if d["reason_code"] == "penta:1")
    assert penta["contact"]["phone"] == "+22376123456"


def test_giving_the_vaccine_resolves_the_due_item(ctx, actors, baby):
    hw = actors["health_worker"]
    encounters.add(
        ctx,
        hw,
        baby["id"],
        "immunization",
        {"care_date": "2026-10-15", "antigen": "penta", "dose": 1},
    )
    due_codes = {d["reason_code"] for d in patients.record(ctx, hw, baby["id"])["due"]}
    assert "penta:1" not in due_codes


def test_pregnancy_with_severe_hypertension_raises_an_urgent_alert(ctx, actors, aminata):
    midwife = actors["midwife"]
    encounters.add(
        ctx,
        midwife,
        aminata["id"],
        "anc",
        {
            "care_date": "2026-10-14",
            "lmp": "2026-04-01",
            "bp_systolic": 165,
            "bp_diastolic": 112,
            "gravida": 2,
            "parity": 1,
        },
    )
    rec = patients.record(ctx, midwife, aminata["id"])
    urgent = [a for a in rec["alerts"] if a["severity"] == "urgent"]
    assert any(a["code"] == "anc.hypertension.severe" for a in urgent)
    assert any(d["kind"] == "anc" for d in rec["due"])
    assert "zscores" not in rec  # an adult has no growth z-scores


def test_facility_due_list(ctx, actors, baby, aminata):
    nurse = actors["nurse"]
    # born 2026-05-01 and never seen: 5 months of missed vaccines and weighings make the baby
    # a defaulter to trace, not today's work nor the coming weeks' (MR 1 is due at 9 months)
    assert clinical.facility_due(ctx, nurse, start=TODAY, end=date(2027, 1, 10)) == []
    items = follow_up.listing(
        ctx, nurse, start=TODAY, end=date(2027, 1, 10), states=("defaulter",)
    )["items"]
    assert items and all(
        {"patient_id", "reason", "kind", "due_date", "days_overdue", "priority", "contact", "state"}
        <= set(i)
        for i in items
    )
    assert [i["priority"] for i in items] == sorted(i["priority"] for i in items)
    assert {i["patient_id"] for i in items} == {baby["id"]}
    assert {i["state"] for i in items} == {"defaulter"}
    lost = follow_up.defaulters(ctx, nurse)
    assert lost["total"] >= 5 and {i["patient_id"] for i in lost["items"]} == {baby["id"]}
    assert {"bcg:1", "penta:1", "growth:monthly"} <= {i["reason_code"] for i in lost["items"]}
    assert follow_up.today(ctx, nurse)["defaulters"] == lost["total"]
    other = clinical.facility_due(ctx, nurse, start=TODAY, end=date(2026, 12, 31), village="Ségou")
    assert other == []
    with pytest.raises(PermissionDenied):
        clinical.facility_due(ctx, actors["technician"], start=TODAY, end=TODAY)
    with pytest.raises(ValueError):
        clinical.facility_due(ctx, nurse, start=TODAY, end=date(2026, 10, 1))


def _run(*args, pin=None):
    env = {k: v for k, v in os.environ.items() if k not in ("KENEYA_HOME", "KENEYA_PIN")}
    if pin:
        env["KENEYA_PIN"] = pin
    return subprocess.run([KENEYA, *args], capture_output=True, text=True, env=env, timeout=120)


def test_zscore_command_contract():
    r = _run(
        "zscore", "--sex", "F", "--age-days", "365", "--weight", "8.9", "--height", "74.0", "--json"
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"wfa", "hfa", "wfh", "nutrition_status"}
    assert abs(out["wfa"]) < 0.1 and out["nutrition_status"] == "normal"  # the WHO median girl
    r = _run("zscore", "--sex", "M", "--age-days", "400", "--muac", "112", "--json")
    assert json.loads(r.stdout)["nutrition_status"] == "sam"
    assert json.loads(r.stdout)["wfa"] is None
    assert json.loads(r.stdout)["bfa"] is None  # no weight and height: not computable
    assert json.loads(r.stdout)["reference"] == "who2006"


@pytest.mark.parametrize(
    ("age_days", "reference", "wfh", "status"),
    [
        ("1796", "who2006", True, "sam"),  # 59 months: MUAC 110 mm is SAM
        ("1840", "who2006", True, "normal"),  # 60.4 months: MUAC no longer judges
        ("1857", "who2007", False, "normal"),  # 61 months: 2007 reference, no wfh
    ],
)
def test_zscore_command_at_59_60_61_months(age_days, reference, wfh, status):
    args = ("--sex", "M", "--age-days", age_days, "--weight", "18.4", "--height", "110")
    r = _run("zscore", *args, "--muac", "110", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["reference"] == reference
    assert (out["wfh"] is not None) is wfh
    assert out["bfa"] is not None and abs(out["bfa"]) < 0.5
    assert out["nutrition_status"] == status


@pytest.mark.parametrize(
    "args",
    [
        ("zscore", "--sex", "X", "--age-days", "10", "--weight", "3"),
        ("zscore", "--sex", "F", "--age-days", "6940", "--weight", "3"),
        ("zscore", "--sex", "F", "--age-days", "100"),
        ("zscore", "--sex", "F", "--age-days", "100", "--weight", "300"),
    ],
)
def test_zscore_bad_input(args):
    r = _run(*args)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_due_command_on_a_seeded_facility(tmp_path):
    assert _run("--home", str(tmp_path), "seed", "--patients", "300").returncode == 0
    user, _, pin = next(
        line.split()
        for line in (tmp_path / "demo-logins.txt").read_text().splitlines()
        if " nurse " in line
    )
    today = date.today().isoformat()
    r = _run(
        "--home",
        str(tmp_path),
        "due",
        "--from",
        today,
        "--to",
        today,
        "--json",
        "--as",
        user,
        pin=pin,
    )
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)
    assert items and {
        "patient_id",
        "reason",
        "kind",
        "due_date",
        "days_overdue",
        "priority",
        "contact",
    } <= set(items[0])
    r = _run(
        "--home", str(tmp_path), "due", "--from", "2026-13-01", "--to", today, "--as", user, pin=pin
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_dose_command_suggests_by_weight_band_and_refuses_bad_weights():
    r = _run(
        "dose", "--diagnosis", "malaria_confirmed", "--weight", "15", "--age-days", "1500", "--json"
    )
    assert r.returncode == 0, r.stderr
    al = json.loads(r.stdout)[0]
    assert "artéméther" in al["drug"].lower() and al["dose"].startswith("2")
    assert al["times_per_day"] == 2 and al["days"] == 3
    r = _run("dose", "--diagnosis", "malaria_confirmed", "--weight", "300", "--age-days", "1500")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
