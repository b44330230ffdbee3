from appliance.services import encounters
from kiosk_ui.viewmodels.record import RecordVM


def test_record_of_aminata_for_a_midwife(kiosk, aminata):
    vm = RecordVM(kiosk("midwife"), aminata["health_number"])
    vm.open()
    assert vm.error is None
    assert vm.patient_id == aminata["id"]
    assert vm.title == "Traoré Aminata"
    assert vm.facts[:3] == [aminata["health_number"], "Femme", "31 ans (14/03/1995)"]
    assert "Kalaban" in vm.facts and "+22376123456" in vm.facts
    kinds = [a["kind"] for a in vm.actions]
    assert "anc" in kinds and "consultation" not in kinds
    assert {"kind": "anc", "label": "Consultation prénatale (CPN)"} in vm.actions
    assert vm.growth is None  # an adult
    assert vm.timeline == []


def test_pregnancy_alerts_and_timeline(kiosk, ctx, actors, aminata):
    for day, bp in (("2026-09-01", (110, 70)), ("2026-10-14", (165, 112))):
        encounters.add(
            ctx,
            actors["midwife"],
            aminata["id"],
            "anc",
            {
                "care_date": day,
                "gestational_age_weeks": 24 if day < "2026-10" else 30,
                "bp_systolic": bp[0],
                "bp_diastolic": bp[1],
            },
        )
    vm = RecordVM(kiosk("midwife"), aminata["id"])
    vm.open()
    assert [e["date"] for e in vm.timeline] == ["14/10/2026", "01/09/2026"]  # newest first
    assert vm.timeline[0]["kind_label"] == "Consultation prénatale (CPN)"
    assert "TA 165/112" in vm.timeline[0]["summary"]
    assert any(a["severity"] == "urgent" and "165/112" in a["reason"] for a in vm.alerts)
    assert any(f.startswith("Grossesse en cours : 30 semaines") for f in vm.facts)
    assert vm.due and all(d["status_label"] for d in vm.due)


def test_child_growth_and_vaccines(kiosk, ctx, actors, child):
    encounters.add(
        ctx,
        actors["nurse"],
        child["id"],
        "immunization",
        {"care_date": "2025-04-16", "antigen": "bcg", "dose": 0},
    )
    encounters.add(
        ctx,
        actors["nurse"],
        child["id"],
        "growth",
        {"care_date": "2026-10-01", "weight_kg": 9.8, "height_cm": 79.0, "measured": "lying"},
    )
    vm = RecordVM(kiosk("nurse"), child["id"])
    vm.open()
    assert vm.vaccines[0] == {
        "antigen_label": "BCG",
        "dose": "0",
        "date": "16/04/2025",
        "status": "given",
    }
    # 18 months old and never vaccinated since birth: the missed doses are to trace
    assert any(v["status"] in ("due", "overdue", "defaulter") for v in vm.vaccines[1:])
    g = vm.growth
    assert g["sex"] == "F"
    assert g["points"]["wfa"] == [(534, 9.8)] and g["points"]["hfa"] == [(534, 79.0)]
    assert g["zscores"]["wfa"] is not None
    assert g["status_label"] == "normal"
    # a doctor may record ANC, but not for an 18-month-old girl
    assert [a["kind"] for a in vm.actions] == ["consultation", "immunization", "growth"]


def test_technician_cannot_open_a_record(kiosk, aminata):
    vm = RecordVM(kiosk("technician"), aminata["id"])
    vm.open()  # no exception: the refusal is a message
    assert vm.error == "Votre rôle ne permet pas de faire cela."
    assert vm.title == "" and vm.facts == [] and vm.actions == [] and vm.timeline == []


def test_unknown_record(kiosk, aminata):
    vm = RecordVM(kiosk("nurse"), "no-such-id")
    vm.open()
    assert vm.error == "Ce dossier ou cette page n'existe pas."
