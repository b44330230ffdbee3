"""Referral on the tablet web app over HTTP: the button on the record, the form pre-filled
from the alert, a refusal shown beside its field, the fiche as a PDF, the home line for a
return that is late, the list and the counter-referral form; a health worker sees no button."""

from __future__ import annotations

import html
import io
from datetime import timedelta

import pytest
from pypdf import PdfReader

from appliance.paths import Paths
from appliance.services import auth, encounters, patients
from tests.component.web_session import (
    PASSWORDS,
    USERNAMES,
    add_staff_per_role,
    login,
    web_app,
    web_client,
)
from tests.conftest import PINS

pytestmark = pytest.mark.component

FACILITY = """
[referral]
return_after_days = 7
transport_note = "Ambulance du district : 76 00 00 00"
[[referral.receiving]]
code = "KATI"
name = "CSRéf de Kati"
phone = "+22376000001"
"""


@pytest.fixture
def staff(ctx):
    add_staff_per_role(ctx)
    return {r: auth.login(ctx, USERNAMES[r], password=PASSWORDS[r]) for r in PINS}


@pytest.fixture
def woman(ctx, staff):
    today = ctx.now().today
    p = patients.register(
        ctx,
        staff["midwife"],
        {"family_name": "Sangaré", "given_names": "Fatoumata", "sex": "F",
         "birth_date": "1998-02-02", "village": "Kati"},
    )  # fmt: skip
    encounters.add(
        ctx,
        staff["midwife"],
        p["id"],
        "anc",
        {"care_date": today.isoformat(), "lmp": (today - timedelta(weeks=36)).isoformat(),
         "bp_systolic": 172, "bp_diastolic": 114},
    )  # fmt: skip
    return p


@pytest.fixture
def client(tmp_path, store, fake_time, staff):
    facility_file = Paths.for_home(tmp_path).facility_file
    facility_file.parent.mkdir(parents=True, exist_ok=True)
    facility_file.write_text(FACILITY)
    store.set_setting("facility_name", "CSCom Kalaban")
    with web_client(web_app(tmp_path, fake_time)) as c:
        yield c


def test_refer_from_the_record_print_and_record_the_return(client, woman, fake_time, ctx):
    token = login(client, "midwife")
    record = client.get(f"/patients/{woman['id']}").text
    assert f'href="/patients/{woman["id"]}/referral"' in record
    page = client.get(f"/patients/{woman['id']}/referral")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert '<option value="severe_preeclampsia" selected>' in text  # from the alert
    assert 'value="urgent" required checked' in text
    assert 'name="bp_systolic" inputmode="numeric" value="172"' in text
    assert "Ambulance du district : 76 00 00 00" in text
    form = {
        "csrf": token,
        "care_date": ctx.now().today.isoformat(),
        "alert_code": "anc.hypertension.severe",
        "urgency": "urgent",
        "reason": "severe_preeclampsia",
        "to_facility": "KATI",
        "transport": "ambulance",
        "bp_systolic": "172",
        "bp_diastolic": "300",  # a slipped digit: refused beside its field
        "done_given": "Sulfate de magnésium 4 g IV, nifédipine",
        "sms_consent": "1",
    }
    refused = client.post(f"/patients/{woman['id']}/referral", data=form)
    assert refused.status_code == 422
    assert "La référence n'est pas enregistrée" in html.unescape(refused.text)
    assert "Sulfate de magnésium 4 g IV" in html.unescape(refused.text)  # nothing typed is lost
    form["bp_diastolic"] = "114"
    saved = client.post(f"/patients/{woman['id']}/referral", data=form)
    assert saved.status_code == 303, saved.text
    where = saved.headers["location"].split("?")[0]
    shown = html.unescape(client.get(where).text)
    assert "SMS en attente du réseau" in shown and "Dossier " + woman["health_number"] in shown
    assert "Sangaré" not in shown.split("<q>")[1].split("</q>")[0]  # the SMS has no name
    pdf = client.get(where + "/fiche.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    fiche = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "Sangaré Fatoumata" in fiche and "Sulfate de magnésium" in fiche

    # eight days later the return is late: the home page says so, the list too
    fake_time.t += 8 * 86400
    token = login(client, "midwife")  # a new day, a new session
    home = html.unescape(client.get("/home/lists").text)
    assert "Références sans retour" in home
    listing = html.unescape(client.get("/referrals").text)
    assert "8 jours sans retour" in listing and "Sangaré Fatoumata" in listing

    back = client.post(
        where + "/return",
        data={"csrf": token, "returned_on": ctx.now().today.isoformat(),
              "outcome": "admitted_discharged", "diagnosis": "Pré-éclampsie sévère",
              "instructions": "Contrôle de la TA chaque semaine"},
    )  # fmt: skip
    assert back.status_code == 303, back.text
    assert "Contrôle de la TA chaque semaine" in html.unescape(client.get(where).text)
    assert "Références sans retour" not in html.unescape(client.get("/home/lists").text)
    assert "Aucune référence en attente." in html.unescape(client.get("/referrals").text)


def test_a_health_worker_sees_the_record_but_may_not_refer(client, woman):
    token = login(client, "health_worker")
    record = client.get(f"/patients/{woman['id']}").text
    assert "/referral" not in record.split("<main>")[1].split("Historique")[0]
    r = client.post(
        f"/patients/{woman['id']}/referral",
        data={"csrf": token, "urgency": "urgent", "reason": "trauma", "to_facility": "KATI",
              "transport": "ambulance"},
    )  # fmt: skip
    assert r.status_code == 403


def test_a_wrong_facility_file_is_said_not_a_server_error(client, woman, tmp_path):
    Paths.for_home(tmp_path).facility_file.write_text('[referral]\nsms_detail = "all"\n')
    login(client, "midwife")
    r = client.get(f"/patients/{woman['id']}/referral")
    assert r.status_code == 422 and "sms_detail" in html.unescape(r.text)
    assert client.get("/referrals").status_code == 422
    assert client.get("/home/lists").status_code == 200
