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


def _form(ctx, token, form_page_html, **kw):
    referral_id = html.unescape(form_page_html).split('name="referral_id" value="')[1].split('"')[0]
    return {
        "csrf": token,
        "referral_id": referral_id,
        "care_date": ctx.now().today.isoformat(),
        "urgency": "urgent",
        "reason": "severe_preeclampsia",
        "to_facility": "KATI",
        "transport": "ambulance",
        "bp_systolic": "172",
        "bp_diastolic": "114",
        "sms_consent": "1",
        **kw,
    }


def test_the_same_form_posted_twice_writes_one_referral_and_one_sms(client, woman, ctx):
    token = login(client, "midwife")
    page = client.get(f"/patients/{woman['id']}/referral").text
    form = _form(ctx, token, page)
    first = client.post(f"/patients/{woman['id']}/referral", data=form)
    again = client.post(f"/patients/{woman['id']}/referral", data=form)  # a double tap
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(ctx.store.referrals.for_patient(woman["id"])) == 1
    assert len(ctx.store.referrals.sms_to_send()) == 1
    # a new form is a new referral
    form2 = _form(ctx, token, client.get(f"/patients/{woman['id']}/referral").text)
    assert client.post(f"/patients/{woman['id']}/referral", data=form2).status_code == 303
    assert len(ctx.store.referrals.for_patient(woman["id"])) == 2


def test_refusals_are_said_in_french_beside_their_field(client, woman, ctx):
    token = login(client, "midwife")
    page = client.get(f"/patients/{woman['id']}/referral").text
    cases = (
        ({"to_facility": "NOWHERE"}, "Ce centre n'est pas dans le fichier de la structure."),
        ({"reason": "other"}, "Précisez le motif en quelques mots."),
        ({"departure": "25:99"}, "Écrivez l'heure comme 14:20."),
        ({"care_date": "2099-01-01"}, "Cette date est dans le futur"),  # a hidden field
        ({"bp_systolic": "99999999999999999999"}, "hors des valeurs plausibles"),
    )
    for change, words in cases:
        r = client.post(f"/patients/{woman['id']}/referral", data=_form(ctx, token, page, **change))
        text = html.unescape(r.text)
        assert r.status_code == 422 and words in text, (change, text[-3000:])
        assert "1611392" not in text  # the number as typed, never as a float turned it
    assert ctx.store.referrals.for_patient(woman["id"]) == []


def test_a_voided_referral_says_so_and_asks_nothing_more(client, woman, ctx):
    token = login(client, "midwife")
    page = client.get(f"/patients/{woman['id']}/referral").text
    where = client.post(f"/patients/{woman['id']}/referral", data=_form(ctx, token, page))
    where = where.headers["location"].split("?")[0]
    refused = client.post(where + "/void", data={"csrf": token, "reason": "x"})
    assert refused.status_code == 422 and "Dites pourquoi" in html.unescape(refused.text)
    voided = client.post(where + "/void", data={"csrf": token, "reason": "mauvaise patiente"})
    assert voided.status_code == 303
    shown = html.unescape(client.get(where).text)
    assert "RÉFÉRENCE ANNULÉE" in shown and "mauvaise patiente" in shown
    for gone in (
        "téléphonez",
        "En attente du retour",
        "Imprimer la fiche",
        'action="' + where + '/return"',
    ):
        assert gone not in shown, gone
    assert ctx.store.referrals.sms_to_send() == []  # its SMS never leaves


def test_the_tab_that_loses_the_counter_referral_race_is_told_why(client, woman, ctx):
    token = login(client, "midwife")
    page = client.get(f"/patients/{woman['id']}/referral").text
    where = client.post(f"/patients/{woman['id']}/referral", data=_form(ctx, token, page))
    where = where.headers["location"].split("?")[0]
    back = {"csrf": token, "returned_on": ctx.now().today.isoformat(), "outcome": "died"}
    assert client.post(where + "/return", data=back).status_code == 303
    late = client.post(where + "/return", data={**back, "outcome": "treated_returned",
                                                 "diagnosis": "autre"})  # fmt: skip
    assert late.status_code == 422
    assert "already recorded" in html.unescape(late.text)
