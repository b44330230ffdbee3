"""SMS consent on the web registration and record, and /reminders: tomorrow's texts as the
matron sees them, checked against the planner's own plan."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest

from appliance.facility_file import reminder_rules
from appliance.paths import Paths
from appliance.services import auth, patients
from appliance.services import reminders as service
from tests.component.web_session import (
    PASSWORDS,
    USERNAMES,
    add_staff_per_role,
    csrf_of,
    login,
    web_app,
    web_client,
)
from tests.conftest import PINS, START

pytestmark = pytest.mark.component
TODAY = START.date()


@pytest.fixture
def staff(ctx):
    add_staff_per_role(ctx)
    return {r: auth.login(ctx, USERNAMES[r], password=PASSWORDS[r]) for r in PINS}


@pytest.fixture
def client(tmp_path, store, fake_time, staff):
    facility_file = Paths.for_home(tmp_path).facility_file
    facility_file.parent.mkdir(parents=True, exist_ok=True)
    facility_file.write_text("[reminders]\nenabled = true\ndays_before = 2\ndaily_max = 20\n")
    store.set_setting("facility_name", "CSCom Sirakoro")
    with web_client(web_app(tmp_path, fake_time)) as c:
        yield c


def test_consent_from_registration_to_tomorrows_preview_and_back(client, ctx, staff, tmp_path):
    token = login(client, "nurse")
    r = client.post(
        "/patients/new",
        data={
            "csrf": token,
            "family_name": "Keita",
            "given_names": "Oumou",
            "sex": "F",
            "birth_date": "1996-01-09",
            "village": "Sirakoro",
            "phone": "76 11 22 33",
            "sms_consent": "1",
            "sms_language": "bm",
        },
    )
    assert r.status_code == 303, r.text
    mother_id = r.headers["location"].rsplit("/", 1)[1]
    mother = ctx.store.patients.get(mother_id)
    assert mother["sms_consent"] is True and mother["sms_language"] == "bm"
    # her son, due for his 6-week vaccines and 6-week postnatal check (day 42) the day after
    # tomorrow
    patients.register(
        ctx,
        staff["nurse"],
        {
            "family_name": "Keita",
            "given_names": "Seydou",
            "sex": "M",
            "birth_date": (TODAY - timedelta(days=40)).isoformat(),
            "mother_id": mother_id,
        },
    )
    rules = reminder_rules(Paths.for_home(tmp_path).facility_file)
    expected = service.plan(ctx, staff["matron"], on=TODAY + timedelta(days=1), rules=rules)
    [sms] = expected["reminders"]
    # one SMS for both visits; the postnatal check is not a vaccine, so the text is the
    # generic appointment addressed to the mother
    assert "penta:1" in sms["reason_codes"] and "pnc:newborn:6sem" in sms["reason_codes"]
    assert sms["language"] == "bm" and "Oumou" in sms["text"] and "Seydou" not in sms["text"]

    client.post("/logout", data={"csrf": token})
    login(client, "matron")
    page = client.get("/reminders")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert sms["text"] in text and "1 SMS prévus" in text

    # the nurse withdraws the consent on the record: no SMS, and the page says why
    client.post("/logout", data={"csrf": csrf_of(page.text)})
    token = login(client, "nurse")
    record = client.get(f"/patients/{mother_id}").text
    assert "Accepte les rappels de rendez-vous par SMS" in record
    r = client.post(
        f"/patients/{mother_id}/sms-consent", data={"csrf": token, "sms_language": "bm"}
    )
    assert r.status_code == 303
    assert ctx.store.patients.get(mother_id)["sms_consent"] is False
    changed = [a for a in ctx.store.audit.for_patient(mother_id) if a["action"] == "patient.update"]
    assert changed and changed[0]["detail"]["fields"] == ["sms_consent"]
    text = html.unescape(client.get("/reminders").text)
    assert "0 SMS prévus" in text and "pas d'accord pour les SMS" in text


def test_the_record_lists_the_patients_reminders(client, ctx, staff, tmp_path):
    mother = patients.register(
        ctx,
        staff["nurse"],
        {
            "family_name": "Dembélé",
            "given_names": "Kadia",
            "sex": "F",
            "birth_date": "1990-04-02",
            "phone": "76 44 55 66",
            "sms_consent": True,
        },
    )
    child = patients.register(
        ctx,
        staff["nurse"],
        {
            "family_name": "Dembélé",
            "given_names": "Adama",
            "sex": "M",
            "birth_date": (TODAY - timedelta(days=41)).isoformat(),
            "mother_id": mother["id"],
        },
    )
    rules = reminder_rules(Paths.for_home(tmp_path).facility_file)
    [rid] = service.queue(ctx, staff["nurse"], on=TODAY, rules=rules)["queued_ids"]
    ctx.store.reminders.claim(rid)
    ctx.store.reminders.sent(rid, message_ref=12, now="2026-10-15T10:00:00.000000Z")
    text = ctx.store.reminders.get(rid)["text"]
    login(client, "nurse")
    assert f"/patients/{mother['id']}/reminders" in client.get(f"/patients/{mother['id']}").text
    for who in (mother, child):  # the mother's phone, about her son
        page = html.unescape(client.get(f"/patients/{who['id']}/reminders").text)
        assert text in page and "envoyé" in page
    other = patients.register(
        ctx,
        staff["nurse"],
        {"family_name": "Sow", "given_names": "Ali", "sex": "M", "birth_date": "1970-01-01"},
    )
    page = client.get(f"/patients/{other['id']}/reminders").text
    assert "Aucun SMS de rappel." in page and text not in html.unescape(page)
