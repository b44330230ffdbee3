"""The power banner on every web page and the "Annuler l'arrêt" button, over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from appliance.clock import to_iso
from tests.component.web_session import (
    USERNAMES,
    add_staff_per_role,
    csrf_of,
    login,
    web_app,
    web_client,
)

pytestmark = pytest.mark.component


@pytest.fixture
def client(tmp_path, store, fake_time, ctx):
    """The web app over the test store, one staff member per role (as test_web_http)."""
    add_staff_per_role(ctx)
    with web_client(web_app(tmp_path, fake_time)) as c:
        yield c


def now(fake_time) -> datetime:
    return datetime.fromtimestamp(fake_time(), UTC)


def set_power(store, fake_time, *, clear_cancel: bool = False, **fields) -> None:
    """The monitor's state row, sampled now on the INA219 by a trusted clock, with `fields`."""
    store.power.set_state(
        {"sampled_at": to_iso(now(fake_time)), "clock_trusted": True, "source": "ina219"} | fields,
        clear_cancel=clear_cancel,
    )


def pend(store, fake_time, seconds: int = 105) -> int:
    eid = store.power.add_event(
        {"at": to_iso(now(fake_time)), "clock_trusted": 1, "kind": "shutdown_decided"}
    )
    set_power(
        store,
        fake_time,
        state="shutdown_pending",
        soc=9.0,
        shutdown_event_id=eid,
        shutdown_deadline=to_iso(now(fake_time) + timedelta(seconds=seconds)),
        clear_cancel=True,
    )
    return eid


def cancels(store) -> list[dict]:
    return store.query("SELECT * FROM audit WHERE action = 'power.cancel_shutdown'")


def test_no_banner_when_the_power_is_fine(client, store, fake_time):
    assert 'class="power-text"' not in client.get("/").text
    set_power(store, fake_time, state="ok", soc=80)
    login(client, "nurse")
    assert 'class="power-text"' not in client.get("/patients").text


def test_every_page_shows_the_low_battery_line(client, store, fake_time):
    set_power(store, fake_time, state="warn", soc=34.2, runtime_min=1145)
    line = "Batterie faible : 34 % (arrêt dans environ 19 h)"
    assert line in client.get("/").text  # the login page too
    login(client, "nurse")
    for path in ("/", "/patients", "/due", "/status"):
        assert line in client.get(path).text, path
    assert "Annuler l&#39;arrêt" not in client.get("/").text  # nothing is counting down


def test_a_nurse_cancels_from_any_page(client, store, fake_time):
    eid = pend(store, fake_time)
    token = login(client, "nurse")
    page = client.get("/due").text
    assert "Arrêt dans 1:45 — enregistrez votre travail" in page
    assert 'action="/power/cancel"' in page and 'name="back" value="/due"' in page
    r = client.post("/power/cancel", data={"csrf": token, "back": "/due"})
    assert r.status_code == 303 and r.headers["location"] == "/due"
    row = store.power.state()
    assert row["cancel_for"] == eid and row["cancel_requested_by"] == USERNAMES["nurse"]
    (audit,) = cancels(store)
    assert audit["username"] == USERNAMES["nurse"]
    assert json.loads(audit["detail"])["shutdown_event_id"] == eid
    page = client.get("/due").text
    assert "Arrêt annulé par Nurse Test" in page
    assert 'action="/power/cancel"' not in page


def test_the_banner_alone_refreshes_with_the_page_address(client, store, fake_time):
    pend(store, fake_time)
    login(client, "technician")
    r = client.get(
        "/power/banner",
        headers={"HX-Request": "true", "HX-Current-URL": "http://keneya.lan/status?x=1"},
    )
    assert r.status_code == 200 and r.text.lstrip().startswith('<div id="power-banner"')
    assert 'name="back" value="/status?x=1"' in r.text and 'hx-trigger="every 2s"' in r.text
    fake_time.advance(60)
    assert "Arrêt dans 0:45" in client.get("/power/banner").text


@pytest.mark.parametrize("role", ["matron", "health_worker"])
def test_a_role_without_the_permission_gets_no_button_and_is_refused(
    client, store, fake_time, role
):
    pend(store, fake_time)
    token = login(client, role)
    page = client.get("/").text
    assert "Arrêt dans 1:45" in page
    assert 'action="/power/cancel"' not in page
    assert "Seuls ces rôles peuvent annuler l&#39;arrêt : Administrateur" in page
    r = client.post("/power/cancel", data={"csrf": token, "back": "/"})
    assert r.status_code == 403 and "Votre rôle ne permet pas" in r.text
    assert store.power.state()["cancel_for"] is None and cancels(store) == []


def test_the_cancel_needs_the_csrf_token_and_a_login(client, store, fake_time):
    pend(store, fake_time)
    r = client.post("/power/cancel", data={"csrf": csrf_of(client.get("/").text)})
    assert r.status_code == 303 and r.headers["location"] == "/"  # to the login
    login(client, "admin")
    r = client.post("/power/cancel", data={"csrf": "forged", "back": "/"})
    assert r.status_code == 403 and "Formulaire refusé" in r.text
    assert store.power.state()["cancel_for"] is None and cancels(store) == []


def test_cancel_with_nothing_pending_writes_nothing(client, store, fake_time):
    token = login(client, "doctor")
    r = client.post("/power/cancel", data={"csrf": token, "back": "https://evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert cancels(store) == []


def test_the_status_page_shows_the_fault_its_detail_and_the_planned_time(client, store, fake_time):
    set_power(
        store,
        fake_time,
        state="ok",
        voltage_v=12.5,
        current_a=-3.25,
        soc=80.0,
        runtime_min=2400,
        fault="wrong_shunt",
        fault_detail="night current -3.25 A is 4x the appliance's highest draw",
        planned_shutdown_at=to_iso(now(fake_time) + timedelta(hours=3)),
    )
    login(client, "technician")
    page = client.get("/status").text
    assert "Capteur batterie mal branché ou mal réglé — voir l&#39;écran technicien" in page
    assert "wrong_shunt" in page and "valeur de shunt fausse dans [power]" in page
    assert "night current -3.25 A is 4x the appliance&#39;s highest draw" in page
    planned = (now(fake_time) + timedelta(hours=3)).strftime("%H:%M")
    assert f"Arrêt prévu vers</dt><dd>{planned} (UTC)" in page
    assert "40 h" in page  # runtime to the shutdown point, in hours
    assert "<title>État de l&#39;appareil · Keneya</title>" in page


def test_the_wait_and_critical_states_are_named_on_the_status_page(client, store, fake_time):
    login(client, "technician")
    for state, label in (
        ("low_power_wait", "attente de recharge (services arrêtés)"),
        ("critical", "batterie critique (tout en lecture seule, redémarre seul)"),
    ):
        set_power(store, fake_time, state=state)
        assert label in client.get("/status").text, state


def test_the_banner_in_english(client, store, fake_time):
    pend(store, fake_time)
    token = login(client, "technician")
    client.post("/lang", data={"csrf": token, "lang": "en", "back": "/"})
    page = client.get("/").text
    assert "Shutdown in 1:45" in page and "Cancel the shutdown" in page


def test_the_banner_refresh_does_not_keep_an_idle_tablet_logged_in(client, fake_time):
    login(client, "nurse")
    background = {"HX-Request": "true", "X-Keneya-Background": "1"}
    for _ in range(4):  # 4 x 5 min of a page refreshing its banner alone, nobody touching
        fake_time.advance(300)
        assert client.get("/power/banner", headers=background).status_code == 200
    r = client.get("/patients")  # logged out: back to the login page
    assert r.status_code == 303 and r.headers["location"] in ("/", "/?expired=1")


def test_a_person_s_requests_still_keep_the_session(client, fake_time):
    login(client, "nurse")
    for _ in range(4):
        fake_time.advance(300)
        assert client.get("/patients").status_code == 200


SILENT = "Surveillance de la batterie arrêtée — prévenez le technicien"


@pytest.mark.parametrize("role", ["matron", "health_worker", "nurse"])
def test_a_monitor_killed_mid_countdown_freezes_no_page(client, store, fake_time, role):
    """keneya-power killed (crash, kill -9, a restore) during a countdown: a minute past the
    deadline nothing counts down any more, whatever the role; the pages say who to call."""
    pend(store, fake_time, seconds=105)
    fake_time.advance(105 + 61)
    page = client.get("/").text  # the login page
    assert SILENT in page and "Arrêt dans" not in page
    token = login(client, role)
    for path in ("/", "/status"):
        page = client.get(path).text
        assert SILENT in page and "Arrêt dans" not in page, path
        assert 'action="/power/cancel"' not in page and "Seuls ces rôles" not in page, path
    r = client.get("/power/banner", headers={"HX-Request": "true"})
    assert SILENT in r.text and 'class="power-banner silent"' in r.text
    assert 'hx-trigger="every 10s"' in r.text  # no 2 s countdown refresh
    assert token


def test_a_row_older_than_the_monitor_s_staleness_limit_is_a_silent_monitor(
    client, store, fake_time
):
    from power.views import STALE_AFTER_S

    set_power(store, fake_time, state="warn", voltage_v=11.9, soc=30.0, runtime_min=600)
    sampled = now(fake_time).strftime("%H:%M")
    fake_time.advance(STALE_AFTER_S - 1)
    assert "Batterie faible : 30 %" in client.get("/").text
    fake_time.advance(2)
    login(client, "technician")
    page = client.get("/status").text
    assert SILENT in page and "Batterie faible" not in page
    assert f"le moniteur de batterie ne répond plus depuis {sampled} (UTC)" in page
    assert "(dernier état écrit)" in page


def test_the_status_page_shows_the_deadline_time_and_who_asked_by_name(client, store, fake_time):
    pend(store, fake_time, seconds=105)
    deadline = now(fake_time) + timedelta(seconds=105)
    store.power.request_cancel(by=USERNAMES["nurse"], at=to_iso(now(fake_time)))
    login(client, "technician")
    page = client.get("/status").text
    assert f"Arrêt prévu</dt><dd>{deadline.strftime('%H:%M')} (UTC)</dd>" in page
    assert to_iso(deadline) not in page and deadline.isoformat()[:19] not in page
    assert "Annulation demandée par</dt><dd>Nurse Test</dd>" in page
    assert f"<dd>{USERNAMES['nurse']}</dd>" not in page


def test_the_monitor_s_english_lines_are_the_technician_s(client, store, fake_time):
    set_power(
        store,
        fake_time,
        state="warn",
        reason="voltage 11.3 V < 11.4 V",
        voltage_v=11.3,
        soc=20.0,
        fault="reversed_shunt",
        fault_detail="night current +2.10 A: the shunt is wired backwards",
    )
    login(client, "technician")
    page = client.get("/status").text
    assert (
        'Détail (technicien, en anglais)</dt><dd class="fault-detail" lang="en">'
        "night current +2.10 A" in page
    )
    assert (
        'Raison (technicien, en anglais)</dt><dd class="power-reason" lang="en">voltage 11.3'
        in (page)
    )
    client.cookies.clear()  # a new visitor on the same tablet
    login(client, "matron")
    page = client.get("/status").text
    assert "shunt branché à l&#39;envers" in page  # the fault's French name stays
    assert "night current" not in page and "voltage 11.3 V" not in page
    banner_line = page.split('class="power-text">')[1].split("<")[0]
    assert banner_line == "Batterie faible : 20 %"  # the staff banner: the French texts
