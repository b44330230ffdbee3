from appliance.services import encounters, patients
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
    assert g["acute_label"] == "Malnutrition aiguë : aucune"
    assert g["findings"] == []  # 9.8 kg, 79 cm at 17 months: within -2 SD
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


def test_an_underweight_stunted_child_is_not_called_normal(kiosk, ctx, actors, child):
    """Acute malnutrition may be absent while the child is underweight and stunted: the record
    names both (WHO: weight-for-age and height-for-age < -2 SD; severe < -3 SD)."""
    encounters.add(
        ctx,
        actors["nurse"],
        child["id"],
        "growth",
        {"care_date": "2026-10-01", "weight_kg": 7.6, "height_cm": 72.0, "measured": "lying"},
    )
    vm = RecordVM(kiosk("nurse"), child["id"])
    vm.open()
    g = vm.growth
    assert g["zscores"]["wfa"] < -2 and g["zscores"]["hfa"] < -2
    texts = [f["text"] for f in g["findings"]]
    assert any(t.startswith("Insuffisance pondérale") for t in texts), texts
    assert any(t.startswith("Retard de croissance") for t in texts), texts
    assert "," in texts[0] and "Poids/âge −" in texts[0]  # z with a French decimal comma
    english = RecordVM(kiosk("nurse", lang="en"), child["id"])
    english.open()
    assert all(
        f["text"].startswith(("Underweight", "Severely underweight", "Stunted", "Severely"))
        for f in english.growth["findings"]
    )


def test_a_thin_school_child_is_judged_by_the_who_2007_reference(kiosk, ctx, actors):
    """Past 60 months: BMI-for-age of the WHO 2007 reference; no chart (WHO 2006 curves end
    at five years), the reference named."""
    pupil = patients.register(
        ctx,
        actors["nurse"],
        {"family_name": "Diarra", "given_names": "Awa", "sex": "F", "birth_date": "2017-10-15"},
    )  # 9 years on 15/10/2026
    data = {"care_date": "2026-10-14", "weight_kg": 20.0, "height_cm": 130.0}
    encounters.add(ctx, actors["nurse"], pupil["id"], "growth", data)
    vm = RecordVM(kiosk("nurse"), pupil["id"])
    vm.open()
    g = vm.growth
    assert g["charts"] is False
    assert g["reference_label"] == "Référence OMS 2007 (5-19 ans)"
    assert g["zscores"]["bfa"] < -3 and g["zscores"]["wfh"] is None
    assert g["status"] == "sam"
    assert any(f["text"].startswith("Maigreur sévère (IMC/âge −") for f in g["findings"])
    english = RecordVM(kiosk("nurse", lang="en"), pupil["id"])
    english.open()
    assert english.growth["reference_label"] == "WHO 2007 reference (5-19 years)"
    assert any(f["text"].startswith("Severe thinness") for f in english.growth["findings"])
