"""The update on the status page: both slots and the last outcome for every role that sees the
status, the offer's button for the admin alone, and the install asked through polkit's unit."""

from __future__ import annotations

import json

import pytest

from appliance.services import update_state
from tests.component.web_session import add_staff_per_role, login, web_app, web_client

pytestmark = pytest.mark.component

STATE = {
    "booted": "A",
    "primary": "A",
    "slots": {"A": {"state": "good", "version": "1.0.0"}, "B": {"state": "empty"}},
    "versions": {"A": "1.0.0"},
    "offer": {"version": "1.1.0", "file": "/x.raucb", "bytes": 1},
    "last": {"outcome": "refused", "message": "signature invalide", "at": "2026-12-01T10:00:00"},
}


@pytest.fixture
def client(tmp_path, store, fake_time, ctx, monkeypatch):
    add_staff_per_role(ctx)
    (tmp_path / "update").mkdir()
    (tmp_path / "update" / "state.json").write_text(json.dumps(STATE))
    started = []
    monkeypatch.setattr(update_state, "start_unit", lambda unit: started.append(unit) or True)
    with web_client(web_app(tmp_path, fake_time)) as c:
        c.started = started
        yield c


def test_the_admin_sees_the_slots_and_installs_the_offer(client, store):
    login(client, "admin")
    page = client.get("/status").text
    assert "Partition A : 1.0.0 [vérifiée] (démarrée / booted)" in page
    assert "Mise à jour disponible : version 1.1.0" in page
    assert "signature invalide" in page
    assert 'action="/update/install"' in page
    csrf = login(client, "admin")
    r = client.post("/update/install", data={"csrf": csrf})
    assert r.status_code == 303 and client.started == [update_state.INSTALL_UNIT]
    audit = store.query("SELECT action, detail FROM audit WHERE action = 'update.install'")
    assert audit and "1.1.0" in audit[0]["detail"]


def test_a_nurse_sees_the_versions_but_may_not_install(client):
    csrf = login(client, "nurse")
    page = client.get("/status").text
    assert "Partition A : 1.0.0" in page and 'action="/update/install"' not in page
    r = client.post("/api/v1/update/install", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and client.started == []


def test_the_install_needs_the_csrf_token(client):
    login(client, "admin")
    r = client.post("/update/install", data={"csrf": "forged"})
    assert r.status_code in (400, 403) and client.started == []


def test_nothing_on_offer_is_a_clear_refusal(client, tmp_path):
    state = dict(STATE, offer=None)
    (tmp_path / "update" / "state.json").write_text(json.dumps(state))
    csrf = login(client, "admin")
    r = client.post("/api/v1/update/install", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 409 and "aucune mise à jour proposée" in r.json()["detail"]
    assert client.started == []
