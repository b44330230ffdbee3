"""The encounter rules on every path that records care — the service, the web form, the API,
the kiosk and the `keneya` command — and the buttons the web record page and the kiosk record
screen offer. The clock of the tests says 15/10/2026."""

from __future__ import annotations

import json
from datetime import date

import pytest

from appliance.domain.encounters import InvalidEncounter
from appliance.services import encounters, patients
from kiosk_ui.viewmodels.encounter import EncounterVM
from kiosk_ui.viewmodels.record import RecordVM
from tests.component.web_session import add_staff_per_role, login, web_app, web_client
from tests.conftest import PINS, START, keneya

pytestmark = pytest.mark.component

TODAY = date(2026, 10, 15)
ANC = {"care_date": "2026-10-15", "gestational_age_weeks": 20}
ANC_MESSAGE = "Consultation prénatale : seulement pour une femme de 10 à 55 ans."
POSTNATAL_MESSAGE = "Consultation postnatale : seulement dans les 60 jours après un accouchement"


def register(ctx, actor, family, given, sex, birth, **more) -> dict:
    return patients.register(
        ctx,
        actor,
        {"family_name": family, "given_names": given, "sex": sex, "birth_date": birth, **more},
        accept_duplicates=True,
    )


@pytest.fixture
def people(ctx, actors) -> dict[str, dict]:
    nurse = actors["nurse"]
    return {
        "man": register(ctx, nurse, "Diarra", "Moussa", "M", "1990-05-02"),
        "old_woman": register(ctx, nurse, "Keita", "Oumou", "F", "1938-02-01"),
        "woman": register(ctx, nurse, "Traoré", "Awa", "F", "2000-07-20"),
        # the 14-month-old boy of the report
        "boy": register(ctx, nurse, "Sangaré", "Adama", "M", "2025-08-10"),
        "newborn": register(ctx, nurse, "Coulibaly", "Bakary", "M", "2026-10-01"),
    }


def anc_count(ctx, actor, patient_id) -> int:
    record = patients.record(ctx, actor, patient_id)
    return sum(e["type"] == "anc" for e in record["encounters"])


# -- service ----------------------------------------------------------------------------------
def test_service_refuses_anc_for_a_man_and_an_88_year_old_woman(ctx, actors, people):
    midwife = actors["midwife"]
    for who in ("man", "old_woman"):
        with pytest.raises(InvalidEncounter) as refused:
            encounters.add(ctx, midwife, people[who]["id"], "anc", ANC)
        assert refused.value.problems == [("type", ANC_MESSAGE)]
        assert anc_count(ctx, actors["nurse"], people[who]["id"]) == 0
    saved = encounters.add(ctx, midwife, people["woman"]["id"], "anc", ANC)
    assert saved["type"] == "anc"
    record = patients.record(ctx, actors["nurse"], people["man"]["id"])
    assert not any(e["type"] == "anc" for e in record["encounters"])


def test_service_refuses_postnatal_for_the_14_month_old_boy_not_the_newborn(ctx, actors, people):
    data = {"care_date": "2026-10-15", "subject": "newborn", "days_after_birth": 14}
    with pytest.raises(InvalidEncounter) as refused:
        encounters.add(ctx, actors["midwife"], people["boy"]["id"], "postnatal", data)
    assert refused.value.problems[0][0] == "type"
    assert refused.value.problems[0][1].startswith(POSTNATAL_MESSAGE)
    saved = encounters.add(ctx, actors["midwife"], people["newborn"]["id"], "postnatal", data)
    assert saved["data"]["subject"] == "newborn"


def test_mother_postnatal_follows_her_delivery_and_a_second_delivery_is_refused(
    ctx, actors, people
):
    midwife, woman = actors["midwife"], people["woman"]["id"]
    mother = {"care_date": "2026-10-15", "subject": "mother", "days_after_birth": 5}
    with pytest.raises(InvalidEncounter):
        encounters.add(ctx, midwife, woman, "postnatal", mother)
    encounters.add(ctx, midwife, woman, "delivery", {"care_date": "2026-10-10"})
    assert encounters.add(ctx, midwife, woman, "postnatal", mother)["type"] == "postnatal"
    with pytest.raises(InvalidEncounter) as twice:
        encounters.add(ctx, midwife, woman, "delivery", {"care_date": "2026-10-12"})
    assert "10/10/2026" in twice.value.problems[0][1]
    with pytest.raises(InvalidEncounter) as anc:
        encounters.add(ctx, midwife, woman, "anc", ANC)
    assert "10/10/2026" in anc.value.problems[0][1]


def test_a_record_made_before_the_rules_stays_correctable(ctx, actors, people, store):
    """An ANC stored for the man before the rules (as the report found) can still be corrected
    and voided; a valid record cannot be corrected into a refused one."""
    old = _insert_unchecked(store, people["man"]["id"], actors["midwife"].id, "anc", ANC)
    corrected = encounters.correct(
        ctx, actors["midwife"], old, {**ANC, "gestational_age_weeks": 21}, reason="typo"
    )
    assert corrected["data"]["gestational_age_weeks"] == 21
    encounters.void(ctx, actors["midwife"], corrected["id"], reason="wrong patient")
    # a valid dose corrected into one past its age is refused
    boy, nurse = people["boy"]["id"], actors["nurse"]
    dose = encounters.add(
        ctx, nurse, boy, "immunization", {"care_date": "2026-10-15", "antigen": "mr", "dose": 1}
    )
    with pytest.raises(InvalidEncounter) as refused:
        encounters.correct(
            ctx,
            nurse,
            dose["id"],
            {"care_date": "2026-10-15", "antigen": "hpv", "dose": 1},
            reason="antigen",
        )
    assert refused.value.problems[0][0] == "antigen"


def _insert_unchecked(store, patient_id: str, staff_id: str, kind: str, data: dict) -> str:
    """A row written as the store allowed before the rules (no service check)."""
    from appliance.ids import uuid7

    row_id = uuid7()
    store.encounters.insert(
        {
            "id": row_id,
            "patient_id": patient_id,
            "origin_patient_id": patient_id,
            "type": kind,
            "care_date": data["care_date"],
            "data": data,
            "supersedes": None,
            "correction_reason": None,
            "voided": False,
            "staff_id": staff_id,
            "recorded_at": "2026-10-01T09:00:00",
            "clock_trusted": True,
            "boot_id": "boot-1",
        }
    )
    return row_id


# -- web form, API, record page ---------------------------------------------------------------
@pytest.fixture
def web(tmp_path, store, fake_time, ctx):
    add_staff_per_role(ctx)
    with web_client(web_app(tmp_path, fake_time)) as client:
        yield client


@pytest.fixture
def web_people(ctx, web):
    from appliance.services import auth
    from tests.component.web_session import PASSWORDS

    nurse = auth.login(ctx, "nurse", password=PASSWORDS["nurse"])
    return {
        "man": register(ctx, nurse, "Diarra", "Moussa", "M", "1990-05-02"),
        "old_woman": register(ctx, nurse, "Keita", "Oumou", "F", "1938-02-01"),
        "woman": register(ctx, nurse, "Traoré", "Awa", "F", "2000-07-20"),
        "boy": register(ctx, nurse, "Sangaré", "Adama", "M", "2025-08-10"),
    }


def test_web_form_refuses_anc_for_a_man_with_the_message_by_the_type(web, web_people):
    csrf = login(web, "midwife")
    man = web_people["man"]["id"]
    form = web.get(f"/patients/{man}/encounters/new?type=anc")
    assert form.status_code == 200 and ANC_MESSAGE in form.text  # said before anything is typed
    r = web.post(
        f"/patients/{man}/encounters/new",
        data={"csrf": csrf, "type": "anc", "care_date": "2026-10-15"},
    )
    assert r.status_code == 422
    assert ANC_MESSAGE in r.text and "field-error" in r.text
    woman = web_people["woman"]["id"]
    r = web.post(
        f"/patients/{woman}/encounters/new",
        data={"csrf": csrf, "type": "anc", "care_date": "2026-10-15"},
    )
    assert r.status_code == 303


def test_api_refuses_anc_for_an_88_year_old_woman_with_a_message(web, web_people):
    r = web.post(
        "/api/v1/session", json={"username": "midwife", "password": "pass-" + PINS["midwife"]}
    )
    assert r.status_code == 200, r.text
    headers = {"X-CSRF-Token": r.json()["csrf_token"]}
    old = web_people["old_woman"]["id"]
    r = web.post(
        f"/api/v1/patients/{old}/encounters",
        json={"type": "anc", "data": ANC},
        headers=headers,
    )
    assert r.status_code == 422
    body = r.json()
    assert ANC_MESSAGE in body["message"]
    assert body["problems"] == [{"field": "type", "message": ANC_MESSAGE}]
    r = web.post(
        f"/api/v1/patients/{web_people['woman']['id']}/encounters",
        json={"type": "anc", "data": ANC},
        headers=headers,
    )
    assert r.status_code == 201
    # the record says what may be recorded today, with the reason for each refusal
    boy = web.get(f"/api/v1/patients/{web_people['boy']['id']}").json()
    assert boy["encounter_types"]["postnatal"] == "postnatal_window"
    assert boy["encounter_types"]["growth"] is None


def offered(html: str, patient_id: str) -> set[str]:
    import re

    return set(re.findall(rf'href="/patients/{patient_id}/encounters/new\?type=(\w+)"', html))


def test_record_page_offers_only_the_allowed_types(web, web_people):
    login(web, "doctor")
    boy = web_people["boy"]["id"]
    assert offered(web.get(f"/patients/{boy}").text, boy) == {
        "consultation",
        "immunization",
        "growth",
        "chronic",
    }
    man = web_people["man"]["id"]
    assert offered(web.get(f"/patients/{man}").text, man) == {
        "consultation",
        "family_planning",
        "chronic",
    }
    woman = web_people["woman"]["id"]
    assert offered(web.get(f"/patients/{woman}").text, woman) == {
        "consultation",
        "anc",
        "delivery",
        "immunization",
        "family_planning",
        "chronic",
    }
    old = web_people["old_woman"]["id"]
    assert offered(web.get(f"/patients/{old}").text, old) == {"consultation", "chronic"}


# -- kiosk ------------------------------------------------------------------------------------
@pytest.fixture
def kiosk(ctx, actors, tmp_path):
    """kiosk(role, lang) → a KioskState logged in as that role's staff member."""
    from kiosk_ui.viewmodels.state import KioskState

    def make(role: str, lang: str = "fr") -> KioskState:
        state = KioskState(ctx, lang=lang, monotonic=lambda: 1000.0, data_dir=tmp_path)
        state.actor = actors[role]
        return state

    return make


def test_kiosk_refuses_anc_for_a_man_and_offers_no_such_button(kiosk, people):
    state = kiosk("midwife")
    vm = EncounterVM(state, people["man"]["id"], "anc")
    vm.set("gestational_age_weeks", "20")
    assert vm.save() is False
    assert ANC_MESSAGE in vm.stopping()
    record = RecordVM(state, people["man"]["id"])
    record.open()
    assert "anc" not in {a["kind"] for a in record.actions}
    boy = RecordVM(kiosk("nurse"), people["boy"]["id"])
    boy.open()
    assert {a["kind"] for a in boy.actions} == {"consultation", "immunization", "growth"}
    woman = RecordVM(state, people["woman"]["id"])
    woman.open()
    assert "anc" in {a["kind"] for a in woman.actions}
    english = EncounterVM(kiosk("midwife", lang="en"), people["old_woman"]["id"], "anc")
    assert english.save() is False
    assert "Antenatal care: only for a woman aged 10 to 55." in english.stopping()


# -- CLI --------------------------------------------------------------------------------------
def test_cli_refuses_anc_for_a_man(tmp_path, people, store):
    payload = json.dumps(ANC)
    args = ("encounter", "add", people["man"]["id"], "--type", "anc", "--data", payload)
    r = keneya(tmp_path, *args, "--as", "midwife", pin=PINS["midwife"])
    assert r.returncode != 0
    assert ANC_MESSAGE in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    ok = keneya(
        tmp_path,
        "encounter",
        "add",
        people["woman"]["id"],
        "--type",
        "anc",
        "--data",
        payload,
        "--json",
        "--as",
        "midwife",
        pin=PINS["midwife"],
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["type"] == "anc"


# -- ages in months ---------------------------------------------------------------------------
def test_a_child_registered_as_15_months_shows_15_months(web, ctx, fake_time):
    # 5/12/2026, the day of the report: 15 months back is 5/9/2025, 456 days, which days*12/365
    # made 14 months
    fake_time.advance((date(2026, 12, 5) - TODAY).days * 86400)
    csrf = login(web, "nurse")
    r = web.post(
        "/patients/new",
        data={
            "csrf": csrf,
            "family_name": "Dembélé",
            "given_names": "Sali",
            "sex": "F",
            "age_months": "15",
        },
    )
    assert r.status_code == 303, r.text
    page = web.get(r.headers["location"]).text
    assert "15 mois" in page and "05/09/2025" in page
    # the following days, then 16 months on 5/1/2027
    for days_later, shown in ((20, "15 mois"), (30, "15 mois"), (31, "16 mois")):
        fake_time.t = START.timestamp() + ((date(2026, 12, 5) - TODAY).days + days_later) * 86400
        login(web, "nurse")
        assert shown in web.get(r.headers["location"]).text, days_later


# -- registration form: each error beside its own field ---------------------------------------
def field_block(html: str, name: str) -> str:
    """The form cell (div.field) holding the input `name`."""
    import re

    for block in re.findall(r'<div class="field">(.*?)</div>', html, re.S):
        if f'name="{name}"' in block:
            return block
    raise AssertionError(f"no field {name} on the page")


def test_registration_errors_sit_beside_their_own_field(web):
    csrf = login(web, "nurse")
    base = {"csrf": csrf, "family_name": "Traoré", "given_names": "Awa", "sex": "F"}
    r = web.post("/patients/new", data={**base, "given_names": "Awa2", "age_years": "30"})
    assert r.status_code == 422
    assert "Lettres seulement" in field_block(r.text, "given_names")
    assert "field-error" not in field_block(r.text, "family_name")
    r = web.post("/patients/new", data={**base, "village": "K" * 81, "age_years": "30"})
    assert r.status_code == 422
    village = field_block(r.text, "village")
    assert "Trop long (au plus 80 caractères)." in village
    assert 'maxlength="80"' in village and 'aria-invalid="true"' in village
    r = web.post("/patients/new", data={**base, "age_months": "200"})
    assert r.status_code == 422
    assert "Doit être au plus 71." in field_block(r.text, "age_months")
