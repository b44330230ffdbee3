"""The kiosk's view-models on a data folder that fills up (a real tmpfs, tests/conftest.py
SmallDisk): every save, login or audited read says the disk is full, in French or English,
keeps what was typed, and never raises."""

from __future__ import annotations

import pytest

from appliance.services import auth, patients
from appliance.services.context import Context
from appliance.store import Store
from appliance.store.diskspace import open_store
from kiosk_ui.viewmodels.encounter import EncounterVM
from kiosk_ui.viewmodels.login import LoginVM
from kiosk_ui.viewmodels.record import RecordVM
from kiosk_ui.viewmodels.register import RegisterVM
from kiosk_ui.viewmodels.state import KioskState
from tests.conftest import PINS


def full(folder, lang: str = "fr") -> str:
    if lang == "fr":
        return f"disque plein : libérez de la place sur {folder} (0,0 Mo libres sur 4,0 Mo)"
    return f"disk full: free some space on {folder} (0.0 MB free of 4.0 MB)"


@pytest.fixture
def facility(small_disk, fake_time):
    """A kiosk's database on the small disk, open (as the kiosk keeps it), with a nurse and a
    child; the disk is not full yet."""
    with Store(small_disk.path / "keneya.db", create=True) as store:
        store.set_setting("facility_code", "KLB")
        ctx = Context.open(store, machine_time=fake_time, boot_id="boot-1")
        auth.add_staff(
            ctx, None, username="admin", display_name="Admin", role="admin", pin="482913"
        )
        admin = auth.login(ctx, "admin", pin="482913")
        auth.add_staff(
            ctx, admin, username="nurse", display_name="Awa", role="nurse", pin=PINS["nurse"]
        )
        nurse = auth.login(ctx, "nurse", pin=PINS["nurse"])
        child = patients.register(
            ctx,
            nurse,
            {"family_name": "Coulibaly", "given_names": "Fanta", "sex": "F",
             "birth_date": "2025-04-15", "village": "Kalaban"},
        )  # fmt: skip
        yield {"ctx": ctx, "nurse": nurse, "child": child, "disk": small_disk}


def kiosk(facility, lang: str = "fr", logged_in: bool = True) -> KioskState:
    state = KioskState(facility["ctx"], lang=lang, data_dir=facility["disk"].path)
    state.actor = facility["nurse"] if logged_in else None
    return state


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_growth_form_saved_on_a_full_disk_says_so_and_keeps_the_values(facility, lang):
    vm = EncounterVM(kiosk(facility, lang), facility["child"]["id"], "growth")
    assert vm.error is None
    facility["disk"].fill()
    vm.set("care_date", "15/10/2026")  # the draft cannot be saved either: said, not raised
    assert vm.error == full(facility["disk"].path, lang)
    vm.set("weight_kg", "9,1")
    assert vm.save() is False
    assert vm.errors == {"": [full(facility["disk"].path, lang)]}
    assert vm.values["weight_kg"] == "9,1"  # nothing typed is lost
    # the form's top says it once (the draft and the save both failed), and no field is red
    assert vm.stopping() == [full(facility["disk"].path, lang)]
    assert vm.fields_in_error is False
    facility["disk"].free()
    assert vm.save() is True and vm.errors == {}
    record = patients.record(facility["ctx"], facility["nurse"], facility["child"]["id"])
    assert [e["data"]["weight_kg"] for e in record["encounters"]] == [9.1]


def test_a_form_refused_for_a_missing_field_points_at_the_fields_not_the_disk(facility):
    vm = EncounterVM(kiosk(facility), facility["child"]["id"], "growth")
    vm.set("care_date", "")
    assert vm.save() is False
    assert vm.fields_in_error is True and "care_date" in vm.errors
    assert vm.stopping() == []


def test_registering_on_a_full_disk_says_so(facility):
    vm = RegisterVM(kiosk(facility))
    for name, value in {
        "family_name": "Diarra",
        "given_names": "Moussa",
        "sex": "M",
        "birth_date": "01/02/2020",
        "village": "Kalaban",
    }.items():
        vm.set(name, value)
    facility["disk"].fill()
    assert vm.save() is None
    assert vm.errors == {"": [full(facility["disk"].path)]}
    assert vm.values["family_name"] == "Diarra"


def test_a_login_and_a_record_on_a_full_disk_say_so(facility):
    state = kiosk(facility, logged_in=False)
    login = LoginVM(state)
    login.select("nurse")
    for digit in PINS["nurse"]:
        login.press(digit)
    facility["disk"].fill()
    assert login.submit() is False  # the login's audit row cannot be written
    assert login.error == full(facility["disk"].path) and state.actor is None
    state.actor = facility["nurse"]
    record = RecordVM(state, facility["child"]["id"])
    record.open()  # an audited read
    assert record.record is None and record.error == full(facility["disk"].path)


def test_a_kiosk_started_on_a_read_only_folder_reads_and_names_it_on_save(facility):
    facility["ctx"].store.close()  # the card went read-only; the kiosk started again on it
    disk = facility["disk"]
    disk.read_only()
    try:
        with open_store(disk.path / "keneya.db") as store:
            assert store.read_only
            ctx = Context.open(store, machine_time=facility["ctx"].clock.machine_time)
            state = KioskState(ctx, data_dir=disk.path)
            state.actor = facility["nurse"]
            vm = EncounterVM(state, facility["child"]["id"], "growth")
            # the record's audited read cannot be written either: said, not raised
            assert vm.error == f"dossier en lecture seule : {disk.path}"
            register = RegisterVM(state)
            for name, value in {"family_name": "Diarra", "given_names": "Moussa"}.items():
                register.set(name, value)
            register.set("sex", "M")
            register.set("birth_date", "01/02/2020")
            assert register.save() is None
            assert register.errors == {"": [f"dossier en lecture seule : {disk.path}"]}
    finally:
        disk.writable()
