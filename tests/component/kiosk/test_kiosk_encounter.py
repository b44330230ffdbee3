from appliance.services import patients
from appliance.services.context import Context
from appliance.store import Store
from kiosk_ui.viewmodels.encounter import KIOSK_FIELDS, EncounterVM
from kiosk_ui.viewmodels.home import HomeVM
from kiosk_ui.viewmodels.state import KioskState


def encounters_of(ctx, actor, patient_id, kind):
    record = patients.record(ctx, actor, patient_id)
    return [e for e in record["encounters"] if e["type"] == kind]


def test_fields_of_the_short_forms(kiosk, aminata):
    vm = EncounterVM(kiosk("nurse"), aminata["id"], "consultation")
    fields = {f["name"]: f for f in vm.fields}
    assert list(fields) == list(KIOSK_FIELDS["consultation"])
    assert fields["weight_kg"]["widget"] == "decimal"
    assert fields["weight_kg"]["keyboard"] == "numeric"
    assert fields["weight_kg"]["label"] == "Poids (kg)"
    assert fields["diagnoses"]["widget"] == "diagnosis"
    assert ("malaria_confirmed", "Paludisme confirmé") in fields["diagnoses"]["choices"]
    assert fields["malaria_rdt"]["widget"] == "select"
    assert fields["malaria_rdt"]["keyboard"] == "none"
    assert fields["care_date"]["widget"] == "date"
    assert vm.values["care_date"] == "15/10/2026"
    growth = {f["name"]: f for f in EncounterVM(kiosk("nurse"), aminata["id"], "growth").fields}
    assert growth["oedema"]["widget"] == "checkbox"
    anc = {f["name"]: f for f in EncounterVM(kiosk("nurse"), aminata["id"], "anc").fields}
    assert anc["danger_signs"]["widget"] == "checkboxes"


def test_growth_shows_sam_while_typing_then_saves(kiosk, ctx, actors, child):
    state = kiosk("health_worker")
    vm = EncounterVM(state, child["id"], "growth")
    assert vm.live == []
    vm.set("muac_mm", "112")
    texts = [item["text"] for item in vm.live]
    assert "malnutrition aiguë sévère" in texts  # before saving
    assert vm.live[0]["severity"] == "urgent"
    assert encounters_of(ctx, actors["nurse"], child["id"], "growth") == []
    vm.set("weight_kg", "9,1")
    assert any("Poids/âge" in t for t in (i["text"] for i in vm.live))
    assert vm.save() is True
    assert vm.errors == {}
    saved = encounters_of(ctx, actors["nurse"], child["id"], "growth")
    assert len(saved) == 1
    assert saved[0]["data"]["muac_mm"] == 112 and saved[0]["data"]["weight_kg"] == 9.1
    assert saved[0]["care_date"] == "2026-10-15"
    assert vm.has_draft is False


def test_invalid_weight_is_explained_in_french(kiosk, ctx, actors, child):
    vm = EncounterVM(kiosk("nurse"), child["id"], "growth")
    vm.set("weight_kg", "400")
    assert vm.save() is False
    # the limits with the decimal comma the number pad types
    assert vm.errors["weight_kg"] == ["400 kg est hors des valeurs plausibles (0,3–250 kg)."]
    assert encounters_of(ctx, actors["nurse"], child["id"], "growth") == []
    assert vm.has_draft  # the form is kept for correction


def test_invalid_weight_is_explained_in_english_with_a_decimal_point(kiosk, child):
    vm = EncounterVM(kiosk("nurse", lang="en"), child["id"], "growth")
    vm.set("weight_kg", "400")
    assert vm.save() is False
    assert vm.errors["weight_kg"] == ["400 kg is outside the plausible range (0.3–250 kg)."]


def test_bad_date_and_future_date(kiosk, child):
    vm = EncounterVM(kiosk("nurse"), child["id"], "growth")
    vm.set("weight_kg", "9")
    vm.set("care_date", "32/13/2026")
    assert vm.save() is False
    assert vm.errors["care_date"] == ["Une date est attendue (jj/mm/aaaa)."]
    # the clock is not confirmed: a day of leeway (it may be a little behind), not two
    vm.set("care_date", "17/10/2026")
    assert vm.save() is False
    assert vm.errors["care_date"] == ["Cette date est dans le futur (aujourd'hui : 15/10/2026)."]


def test_draft_survives_a_restart_and_is_deleted_on_save(
    kiosk, ctx, actors, child, store, fake_time
):
    vm = EncounterVM(kiosk("nurse"), child["id"], "growth")
    vm.set("weight_kg", "9,5")
    vm.set("oedema", True)

    # the kiosk restarts: a new connection, a new context, a new state, the same staff member
    with Store(store.path) as reopened:
        again = Context.open(reopened, machine_time=fake_time, boot_id="boot-2")
        state = KioskState(again)
        state.actor = actors["nurse"]
        home = HomeVM(state)
        home.load()
        assert [(d["patient_id"], d["kind"]) for d in home.drafts] == [(child["id"], "growth")]
        assert home.drafts[0]["name"] == "Coulibaly Fanta"
        assert home.drafts[0]["kind_label"] == "Pesée et mesures"

        resumed = EncounterVM(state, child["id"], "growth")
        assert resumed.has_draft
        assert resumed.values["weight_kg"] == ""  # nothing is restored without asking
        resumed.restore(resumed.draft)
        assert resumed.values["weight_kg"] == "9,5" and resumed.values["oedema"] is True
        assert resumed.live[0]["text"] == "malnutrition aiguë sévère"  # oedema
        assert resumed.save() is True
        home = HomeVM(state)
        home.load()
        assert home.drafts == []

    # another staff member never sees the nurse's drafts
    other = kiosk("health_worker")
    assert not EncounterVM(other, child["id"], "growth").has_draft


def test_discard(kiosk, child):
    vm = EncounterVM(kiosk("nurse"), child["id"], "growth")
    vm.set("height_cm", "80")
    assert vm.has_draft
    vm.discard()
    assert not vm.has_draft and vm.values["height_cm"] == ""


def test_anc_hypertension_shows_while_typing(kiosk, ctx, actors, aminata):
    vm = EncounterVM(kiosk("midwife"), aminata["id"], "anc")
    vm.set("gestational_age_weeks", "28")
    assert vm.live == []
    vm.set("bp_systolic", "150")
    vm.set("bp_diastolic", "95")
    hypertension = [i for i in vm.live if "150/95" in i["text"]]
    assert hypertension, vm.live
    assert "pré-éclampsie" in hypertension[0]["text"]
    assert hypertension[0]["severity"] in ("urgent", "high")
    assert vm.save() is True
    saved = encounters_of(ctx, actors["midwife"], aminata["id"], "anc")
    assert saved[0]["data"]["bp_systolic"] == 150


def test_consultation_dosing_suggestion(kiosk, ctx, actors, child):
    vm = EncounterVM(kiosk("nurse"), child["id"], "consultation")
    vm.set("diagnoses", "malaria_confirmed")
    assert not any("Posologie" in i["text"] for i in vm.live)  # no weight yet
    vm.set("weight_kg", "10")
    suggestion = [i["text"] for i in vm.live if i["text"].startswith("Posologie suggérée")]
    assert suggestion and "artéméther" in suggestion[0].lower()
    assert suggestion[0].endswith(", 2 fois par jour, 3 j")
    vm.set("malaria_rdt", "positive")
    assert vm.save() is True
    saved = encounters_of(ctx, actors["nurse"], child["id"], "consultation")
    assert saved[0]["data"]["diagnoses"] == [{"code": "malaria_confirmed", "confirmed": False}]
    assert saved[0]["data"]["new_case"] is True  # the model's default, not the form's


def test_consultation_without_diagnosis(kiosk, child):
    vm = EncounterVM(kiosk("nurse"), child["id"], "consultation")
    vm.set("temperature_c", "38,5")
    assert vm.save() is False
    assert vm.errors["diagnoses"] == ["Indiquez au moins une ligne."]


def test_midwife_cannot_write_a_consultation(kiosk, aminata):
    vm = EncounterVM(kiosk("midwife"), aminata["id"], "consultation")
    assert vm.error == "Votre rôle ne permet pas de faire cela."
    vm.set("temperature_c", "37")  # no exception, no draft
    assert vm.save() is False and not vm.has_draft


def test_dosing_suggestion_in_english_reads_as_english(kiosk, child):
    vm = EncounterVM(kiosk("nurse", lang="en"), child["id"], "consultation")
    vm.set("diagnoses", "malaria_confirmed")
    vm.set("weight_kg", "10")
    suggestion = [i["text"] for i in vm.live if i["text"].startswith("Suggested dose: ")]
    assert suggestion, vm.live  # one template: English punctuation, no French " : "
    assert suggestion[0].endswith(", 2 times a day, 3 d")
