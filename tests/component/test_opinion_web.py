"""The « Avis du district » page from a tablet: the form with the camera's photo, the name kept
out without consent, the large upload allowed on that form only, the reply on the page and as
news on the asker's home until the page is opened."""

from __future__ import annotations

import pytest

from appliance.outbox.conversations import exchange_once
from appliance.paths import Paths
from appliance.services import auth, patients
from tests.component import opinion_home as H
from tests.component.web_session import (
    PASSWORDS,
    USERNAMES,
    add_staff_per_role,
    login,
    web_app,
    web_client,
)

pytestmark = pytest.mark.component


@pytest.fixture
def woman(ctx, tmp_path):
    add_staff_per_role(ctx)
    doctor = auth.login(ctx, USERNAMES["doctor"], password=PASSWORDS["doctor"])
    facility_file = Paths.for_home(tmp_path).facility_file
    facility_file.parent.mkdir(parents=True, exist_ok=True)
    facility_file.write_text(H.FACILITY_FILE, encoding="utf-8")
    return patients.register(
        ctx,
        doctor,
        {"family_name": H.FAMILY, "given_names": H.GIVEN, "sex": "F", "birth_date": "1999-03-01"},
        accept_duplicates=True,
    )


@pytest.fixture
def client(tmp_path, store, fake_time, woman):
    with web_client(web_app(tmp_path, fake_time)) as c:
        yield c


def test_ask_from_a_tablet_then_read_the_reply(client, ctx, woman):
    csrf = login(client, "doctor")
    record = client.get(f"/patients/{woman['id']}").text
    assert f'href="/patients/{woman["id"]}/opinion"' in record
    form = client.get(f"/patients/{woman['id']}/opinion").text
    assert 'type="file" name="photo" accept="image/*" capture' in form
    photo = H.photo_with_exif()
    assert len(photo) > 256 * 1024  # more than any other form may send
    r = client.post(
        f"/patients/{woman['id']}/opinion",
        data={"csrf": csrf, "question": "Éruption depuis 3 jours : varicelle ?"},
        files={"photo": ("IMG_0001.jpg", photo, "image/jpeg")},
    )
    assert r.status_code == 303, r.text
    [q] = ctx.store.opinions.list()
    assert q["status"] == "queued" and q["photo_bytes"] <= 150_000
    assert H.FAMILY not in q["body"] and "Aminata" not in q["body"]
    page = client.get(r.headers["location"]).text
    assert "en attente du réseau" in page and "Éruption depuis 3 jours" in page

    with H.sim(auto_reply_s=0) as sim:
        exchange_once(ctx.store, H.config(sim.url), H.SETTINGS)
        exchange_once(ctx.store, H.config(sim.url), H.SETTINGS)
    home = client.get("/home/lists").text
    assert "Réponses du district" in home and "Avis du district : continuez" in home
    page = client.get(f"/patients/{woman['id']}/opinion").text
    assert "répondue" in page and "Avis du district : continuez" in page
    assert "Réponses du district" not in client.get("/home/lists").text  # seen
    jpeg = client.get(f"/opinions/{q['id']}/photo")
    assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg"


def test_a_question_naming_the_patient_comes_back_with_the_reason(client, ctx, woman):
    csrf = login(client, "doctor")
    r = client.post(
        f"/patients/{woman['id']}/opinion",
        data={"csrf": csrf, "question": "Aminata tousse depuis 3 semaines"},
    )
    assert r.status_code == 422 and "nomme le patient" in r.text
    assert "Aminata tousse depuis 3 semaines" in r.text  # what was typed is kept
    assert ctx.store.opinions.list() == []


def test_the_large_upload_is_for_that_form_only(client, woman):
    csrf = login(client, "doctor")
    big = b"x" * (300 * 1024)
    r = client.post(
        f"/patients/{woman['id']}/encounters/new", data={"csrf": csrf}, files={"f": ("a", big)}
    )
    assert r.status_code == 413
    r = client.post(
        f"/patients/{woman['id']}/opinion",
        data={"csrf": csrf, "question": "?"},
        files={"photo": ("a.jpg", b"x" * (13 * 1024 * 1024), "image/jpeg")},
    )
    assert r.status_code == 413


def test_who_may_not_ask_sees_no_form(client, woman):
    login(client, "health_worker")
    page = client.get(f"/patients/{woman['id']}/opinion").text
    assert 'name="question"' not in page and "Questions et réponses" in page
    assert "Aucune demande d&#39;avis pour ce patient." in page
