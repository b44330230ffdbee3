"""Oversized and over-nested input on the command line, the JSON API and the web forms: one
line and status 2, 413 or 422 with a French message, and nothing stored."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from appliance.paths import Paths
from appliance.services import auth
from appliance.store import Store
from appliance.web.app import create_app
from appliance.web.core import WebSettings
from tests.conftest import PINS
from tests.conftest import keneya as run_keneya

pytestmark = pytest.mark.component

MALARIA = {"code": "malaria_confirmed"}


def encounters_of(store, patient_id: str) -> int:
    return store.query_one(
        "SELECT COUNT(*) AS n FROM encounters WHERE patient_id = ?", (patient_id,)
    )["n"]


# -- the command line ---------------------------------------------------------------------------
def keneya(home: Path, *args: str) -> subprocess.CompletedProcess:
    return run_keneya(home, *args, pin=PINS["nurse"], timeout=120)


def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.json"  # 500,000 diagnoses: about 15 MB
    path.write_text(json.dumps({"care_date": "2026-10-14", "diagnoses": [MALARIA] * 500_000}))
    return path


@pytest.mark.parametrize(
    "data, words",
    [
        ("[" * 60_000 + "]" * 60_000, "64 kB"),
        ('{"care_date": "2026-10-14", "notes": ' + "[" * 30 + "]" * 30 + "}", "levels deep"),
        (json.dumps({"care_date": "2026-10-14", "diagnoses": [MALARIA] * 21}), "at most 20"),
        ("@big", "64 kB"),
    ],
    ids=["60000 brackets", "30 levels", "21 diagnoses", "15 MB file"],
)
def test_cli_refuses_in_one_line(tmp_path, store, actors, aminata, data, words):
    store.close()  # the command opens its own connection
    source = ["--data-file", str(big_file(tmp_path))] if data == "@big" else ["--data", data]
    args = ["encounter", "add", aminata["id"], "--type", "consultation", *source]
    r = keneya(tmp_path, *args, "--as", "nurse")
    assert r.returncode == 2, (r.stdout, r.stderr[-500:])
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr[-500:]
    assert r.stderr.startswith("keneya: ") and words in r.stderr
    with Store(tmp_path / "keneya.db") as again:
        assert encounters_of(again, aminata["id"]) == 0


# -- the JSON API and the forms --------------------------------------------------------------------
@pytest.fixture
def client(tmp_path, ctx, fake_time, actors):
    auth.add_staff(  # the API and the pages log in with a password
        ctx,
        actors["admin"],
        username="web.nurse",
        display_name="Nurse",
        role="nurse",
        password="pass-web-nurse",
    )
    app = create_app(
        WebSettings(Paths.for_home(tmp_path), now=fake_time, clock_options={"boot_id": "boot-1"})
    )
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


def api_login(client) -> dict[str, str]:
    r = client.post("/api/v1/session", json={"username": "web.nurse", "password": "pass-web-nurse"})
    assert r.status_code == 200, r.text
    return {"X-CSRF-Token": r.json()["csrf_token"]}


def post_encounter(client, headers, patient_id, body: str | bytes, **kw):
    return client.post(
        f"/api/v1/patients/{patient_id}/encounters",
        content=body,
        headers={**headers, "Content-Type": "application/json"},
        **kw,
    )


def consultation(diagnoses: int, **extra) -> str:
    data = {"care_date": "2026-10-14", "diagnoses": [MALARIA] * diagnoses, **extra}
    return json.dumps({"type": "consultation", "data": data})


def test_api_refuses_a_body_over_256_kb_before_reading_it(client, store, aminata):
    headers = api_login(client)
    r = post_encounter(client, headers, aminata["id"], consultation(200_000))
    assert r.status_code == 413
    assert r.json()["message"].startswith("Cet envoi contient trop de données (au plus 256 Ko)")
    # without a Content-Length (chunked), cut off at the limit all the same
    chunks = (b" " * 65_536 for _ in range(8))
    r = post_encounter(client, headers, aminata["id"], chunks)
    assert r.status_code == 413
    assert encounters_of(store, aminata["id"]) == 0


def test_api_refuses_deep_json_before_parsing_it(client, store, aminata):
    headers = api_login(client)
    deep = '{"type": "consultation", "data": {"notes": ' + "[" * 60_000 + "]" * 60_000 + "}}"
    r = post_encounter(client, headers, aminata["id"], deep)
    assert r.status_code == 422
    assert r.json() == {
        "error": "too deep",
        "message": "Ces données sont imbriquées trop profondément (au plus 8 niveaux) : "
        "rien n'a été enregistré.",
    }
    url = f"/api/v1/patients/{aminata['id']}/encounters"
    r = client.post(url, content=deep.encode(), headers=headers)  # no Content-Type at all
    assert r.status_code == 422 and r.json()["error"] == "too deep"
    assert encounters_of(store, aminata["id"]) == 0


def test_api_refuses_encounter_data_over_64_kb(client, store, aminata):
    headers = api_login(client)
    r = post_encounter(client, headers, aminata["id"], consultation(3_000))  # about 100 kB
    assert r.status_code == 413
    assert r.json()["message"] == "Rien n'a été enregistré : Trop de données (au plus 64 Ko)."
    assert encounters_of(store, aminata["id"]) == 0


def test_api_refuses_too_many_diagnoses_naming_the_field(client, store, aminata):
    headers = api_login(client)
    r = post_encounter(client, headers, aminata["id"], consultation(21))
    assert r.status_code == 422
    body = r.json()
    assert body["message"] == "Rien n'a été enregistré : diagnoses : Trop de lignes (au plus 20)."
    assert body["problems"][0]["field"] == "diagnoses"
    assert encounters_of(store, aminata["id"]) == 0
    assert post_encounter(client, headers, aminata["id"], consultation(2)).status_code == 201


def web_login(client) -> str:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
    r = client.post(
        "/login", data={"username": "web.nurse", "password": "pass-web-nurse", "csrf": token}
    )
    assert r.status_code == 303
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)


def test_form_with_too_much_data_is_refused_with_the_form_kept(client, store, aminata):
    token = web_login(client)
    url = f"/patients/{aminata['id']}/encounters/new"
    form = {
        "csrf": token,
        "type": "consultation",
        "care_date": "2026-10-14",
        "diagnoses-0-code": "malaria_confirmed",
        "complaints": "fièvre depuis trois jours\n" * 3_000,  # about 80 kB of lines
    }
    r = client.post(url, data=form)
    assert r.status_code == 413
    assert "Trop de données (au plus 64 Ko)." in r.text
    r = client.post(url, data={**form, "complaints": "x" * 300_000})  # over the body limit
    assert r.status_code == 413
    assert "Cet envoi contient trop de données (au plus 256 Ko)" in r.text
    r = client.post(url, data={**form, "complaints": "fièvre\n" * 21})
    assert r.status_code == 422
    assert "Trop de lignes (au plus 20)." in r.text
    assert encounters_of(store, aminata["id"]) == 0
