"""The tablet web app over HTTP: every route for every role, sessions, CSRF, forms, API."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import pytest

from appliance.services import auth, patients
from appliance.web.core import COOKIE
from tests.component.web_session import (
    PASSWORDS,
    USERNAMES,
    add_staff_per_role,
    csrf_of,
    login,
    web_app,
    web_client,
)
from tests.conftest import PINS

pytestmark = pytest.mark.component


@pytest.fixture
def staff(ctx):
    add_staff_per_role(ctx)
    return {r: auth.login(ctx, USERNAMES[r], password=PASSWORDS[r]) for r in PINS}


@pytest.fixture
def app(tmp_path, store, fake_time, staff):
    return web_app(tmp_path, fake_time)


@pytest.fixture
def client(app):
    with web_client(app) as c:
        yield c


@pytest.fixture
def woman(ctx, staff):
    return patients.register(
        ctx,
        staff["midwife"],
        {
            "family_name": "Traoré",
            "given_names": "Aminata",
            "sex": "F",
            "birth_date": "1998-03-14",
            "village": "Kalaban",
            "phone": "76 12 34 56",
        },
    )


@pytest.fixture
def child(ctx, staff, woman):
    return patients.register(
        ctx,
        staff["midwife"],
        {
            "family_name": "Traoré",
            "given_names": "Issa",
            "sex": "M",
            "birth_date": "2026-01-10",
            "village": "Kalaban",
            "mother_id": woman["id"],
        },
    )


# -- visitors, cookies, headers ---------------------------------------------------------------
def test_visitor_gets_the_french_login_page_with_a_csrf_field(client):
    r = client.get("/")
    assert r.status_code == 200
    assert '<html lang="fr">' in r.text
    assert 'action="/login"' in r.text and csrf_of(r.text)
    cookie = r.headers["set-cookie"]
    assert COOKIE in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_every_form_carries_a_csrf_field(client, woman):
    login(client, "midwife")
    for url in (
        "/",
        "/patients/new",
        f"/patients/{woman['id']}/encounters/new?type=anc",
        "/reports",
        "/due",
    ):
        html = client.get(url).text
        forms = re.findall(r"<form\b.*?</form>", html, flags=re.S)
        posts = [f for f in forms if 'method="post"' in f]
        assert posts, url
        for f in posts:
            assert 'name="csrf"' in f, (url, f[:200])


def test_security_headers(client):
    r = client.get("/")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert client.get("/static/app.css").headers["cache-control"].startswith("public")


def test_no_inline_script_or_style_in_pages(client, woman):
    login(client, "midwife")
    for url in ("/", f"/patients/{woman['id']}", "/patients/new"):
        html = client.get(url).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), url
        assert " style=" not in html and "<style" not in html, url
        assert " onclick=" not in html.lower(), url


def test_lang_switch_gives_english(client):
    token = csrf_of(client.get("/").text)
    r = client.post("/lang", data={"lang": "en", "csrf": token, "back": "/"})
    assert r.status_code == 303
    assert '<html lang="en">' in client.get("/").text


# -- login, lockout, sessions -----------------------------------------------------------------
def test_wrong_password_is_refused_without_saying_which_part(client):
    token = csrf_of(client.get("/").text)
    r = client.post("/login", data={"username": "nurse", "password": "nope-nope", "csrf": token})
    assert r.status_code == 401
    assert "incorrect" in r.text
    assert 'value="nurse"' in r.text  # the username typed is kept


def test_repeated_failures_throttle_this_device(client):
    token = csrf_of(client.get("/").text)
    for _ in range(3):
        client.post("/login", data={"username": "nurse", "password": "wrong-one", "csrf": token})
    r = client.post(
        "/login", data={"username": "nurse", "password": PASSWORDS["nurse"], "csrf": token}
    )
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    assert "Trop d&#39;essais depuis cet appareil : réessayez dans 2 s." in r.text


def test_forged_csrf_token_is_refused(client):
    client.get("/")
    r = client.post(
        "/login", data={"username": "nurse", "password": PASSWORDS["nurse"], "csrf": "forged"}
    )
    assert r.status_code == 403
    assert "Formulaire refusé" in r.text


def test_forged_csrf_on_a_clinical_form_records_nothing(client, ctx, woman):
    login(client, "midwife")
    r = client.post(
        f"/patients/{woman['id']}/encounters/new",
        data={"csrf": "forged", "type": "anc", "care_date": "2026-10-15"},
    )
    assert r.status_code == 403
    assert ctx.store.encounters.for_patient(woman["id"]) == []


def test_login_rotates_the_session_token(client):
    client.get("/")
    before = client.cookies.get(COOKIE)
    login(client, "nurse")
    assert client.cookies.get(COOKIE) != before


def test_next_never_leaves_the_site(client):
    token = csrf_of(client.get("/").text)
    r = client.post(
        "/login",
        data={
            "username": "nurse",
            "password": PASSWORDS["nurse"],
            "csrf": token,
            "next": "//evil.example/",
        },
    )
    assert r.headers["location"] == "/"


def test_idle_session_expires_after_15_minutes(client, fake_time):
    login(client, "nurse")
    fake_time.advance(14 * 60)
    assert client.get("/patients").status_code == 200
    fake_time.advance(16 * 60)
    r = client.get("/patients")
    assert r.status_code == 303 and r.headers["location"] == "/?expired=1"
    assert "expiré" in client.get(r.headers["location"]).text


def test_logout_ends_the_session(client):
    token = login(client, "nurse")
    cookie = client.cookies.get(COOKIE)
    assert client.post("/logout", data={"csrf": token}).status_code == 303
    client.cookies.set(COOKIE, cookie)  # a copy of the old cookie opens nothing
    assert client.get("/patients").status_code == 303


def test_htmx_request_without_session_is_told_to_redirect(client):
    client.get("/")
    r = client.get("/patients?q=tra", headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/"


# -- every route, every role ------------------------------------------------------------------
CLINICAL = ("doctor", "nurse", "midwife", "matron", "health_worker")


@pytest.mark.parametrize("role", list(PINS))
def test_pages_by_role(client, role, woman):
    login(client, role)
    pid = woman["id"]
    patient_pages = ["/patients", "/patients?q=traore", "/patients/new", f"/patients/{pid}", "/due"]
    for url in patient_pages:
        r = client.get(url)
        if role == "technician":
            assert r.status_code == 403, url
            assert "Traoré" not in r.text
        else:
            assert r.status_code == 200, (url, r.text[:300])
    assert client.get("/status").status_code == 200
    reports = client.get("/reports").status_code
    assert reports == (200 if role in ("admin", "doctor", "nurse", "midwife") else 403)


@pytest.mark.parametrize(
    ("role", "kind", "allowed"),
    [
        ("midwife", "anc", True),
        ("midwife", "consultation", False),
        ("health_worker", "growth", True),
        ("health_worker", "anc", False),
        ("doctor", "chronic", True),
        ("technician", "growth", False),
        ("admin", "consultation", False),
    ],
)
def test_encounter_forms_follow_the_permission_table(client, role, kind, allowed, woman):
    login(client, role)
    r = client.get(f"/patients/{woman['id']}/encounters/new?type={kind}")
    assert r.status_code == (200 if allowed else 403)


def test_technician_status_page_shows_no_patient(client, woman):
    login(client, "technician")
    r = client.get("/status")
    assert r.status_code == 200
    assert "Énergie" in r.text and "Modem 3G" in r.text and "envoi vers le district" in r.text
    assert "Traoré" not in r.text and woman["health_number"] not in r.text
    home = client.get("/")
    assert "Traoré" not in home.text and "/patients" not in home.text


def test_status_page_says_the_modem_state_in_french(client, ctx):
    ctx.store.set_setting(
        "modem.status", '{"state": "sim_locked", "registration": "roaming", "link_up": false}'
    )
    login(client, "technician")
    r = client.get("/status")
    assert "SIM verrouillée : code PIN manquant ou refusé" in r.text and "itinérance" in r.text
    assert "sim_locked" not in r.text


HOTSPOT_PSK = "k7rw-m3ha-9xte"


@pytest.fixture
def hotspot(ctx, tmp_path):
    """What first boot leaves: the SSID setting and the passphrase in secrets/ (0600)."""
    ctx.store.set_settings({"hotspot.ssid": "CSCom Kalaban"})
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700, exist_ok=True)
    (secrets / "hotspot_passphrase").write_text(HOTSPOT_PSK + "\n")
    (secrets / "hotspot_passphrase").chmod(0o600)


@pytest.mark.parametrize("role", ["admin", "technician"])
def test_status_page_shows_the_hotspot_join_qr_code(client, hotspot, role):
    login(client, role)
    r = client.get("/status")
    assert r.status_code == 200
    assert "CSCom Kalaban" in r.text and "<svg" in r.text and "Rejoindre le Wi-Fi" in r.text
    assert "http://keneya.lan/" in r.text and "http://10.42.0.1/" in r.text
    api = client.get("/api/v1/status")
    # the API points to the QR image; the passphrase is never in its JSON
    assert HOTSPOT_PSK not in api.text and "WIFI:" not in api.text
    assert api.json()["hotspot"]["join_qr"] == "/status/join-qr.png"
    image = client.get("/status/join-qr.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG") and image.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("role", ["nurse", "doctor"])
def test_clinical_staff_never_get_the_hotspot_passphrase(client, hotspot, role):
    login(client, role)
    for url in ("/status", "/api/v1/status"):
        r = client.get(url)
        assert r.status_code == 200
        assert HOTSPOT_PSK not in r.text and "WIFI:" not in r.text
    assert "Rejoindre le Wi-Fi" not in client.get("/status").text
    assert client.get("/status/join-qr.png").status_code == 404


# -- search, registration, record ---------------------------------------------------------------
def test_live_search_returns_a_fragment(client, woman):
    login(client, "nurse")
    r = client.get("/patients?q=trao", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "<html" not in r.text and "Aminata" in r.text
    full = client.get("/patients?q=trao")
    assert "<html" in full.text and "Aminata" in full.text


def _many_coulibaly(ctx, n: int) -> None:
    ctx.store.patients.insert_many(
        [
            {
                "id": f"many-{i}",
                "sequence": 500 + i,
                "health_number": f"KLB-{500 + i}",
                "family_name": "Coulibaly",
                "given_names": f"Awa{chr(65 + i)}",
                "sex": "F",
                "birth_date": "1990-01-01",
                "registered_at": "2026-01-01T00:00:00Z",
            }
            for i in range(n)
        ]
    )


def test_search_page_offers_more_results(client, ctx):
    _many_coulibaly(ctx, 25)
    login(client, "nurse")
    first = client.get("/patients?q=kulibali")
    assert first.text.count('href="/patients/many-') == 20
    assert "Plus de résultats" in first.text and "offset=20" in first.text
    rest = client.get("/patients?q=kulibali&offset=20", headers={"HX-Request": "true"})
    assert rest.text.count('href="/patients/many-') == 5
    assert "Plus de résultats" not in rest.text
    # an offset that is not a number shows the first page
    assert client.get("/patients?q=kulibali&offset=x").text.count('href="/patients/many-') == 20
    # past the last page: no "nobody found, register" (that invites a duplicate record)
    beyond = client.get("/patients?q=kulibali&offset=100000").text
    assert "autres résultats." in beyond and "Enregistrer un nouveau patient" not in beyond
    assert 'href="/patients?q=kulibali"' in beyond  # back to the first page
    # the next page is shown from its top, not where the button was
    assert 'hx-swap="innerHTML show:top"' in first.text


def test_api_search_pages_with_limit_and_offset(client, ctx):
    _many_coulibaly(ctx, 25)
    login(client, "nurse")
    r = client.get("/api/v1/patients?q=coulibaly&limit=10&offset=10")
    assert r.status_code == 200 and len(r.json()) == 10
    assert r.headers["X-More-Results"] == "true"
    assert r.headers["Link"] == '</api/v1/patients?q=coulibaly&limit=10&offset=20>; rel="next"'
    last = client.get("/api/v1/patients?q=coulibaly&limit=10&offset=20")
    assert len(last.json()) == 5 and last.headers["X-More-Results"] == "false"
    assert "Link" not in last.headers
    ids = {p["id"] for p in r.json()} | {p["id"] for p in last.json()}
    assert len(ids) == 15
    assert client.get("/api/v1/patients?q=coulibaly&offset=-1").status_code == 422


def test_search_with_no_letters_is_explained(client):
    login(client, "nurse")
    r = client.get("/patients?q=%25%25")
    assert r.status_code == 200 and 'class="error"' in r.text


def test_registration_warns_of_a_near_duplicate_then_registers(client, ctx, woman):
    token = login(client, "midwife")
    form = {
        "csrf": token,
        "family_name": "Traore",
        "given_names": "Aminata",
        "sex": "F",
        "birth_date": "1998-06-01",
        "village": "Kalaban",
    }
    r = client.post("/patients/new", data=form)
    assert r.status_code == 409
    assert "déjà enregistré" in r.text and woman["health_number"] in r.text
    assert 'value="Traore"' in r.text  # what was typed is kept
    r = client.post("/patients/new", data={**form, "accept_duplicates": "1"})
    assert r.status_code == 303 and r.headers["location"].startswith("/patients/")
    assert ctx.store.patients.count() == 2


def test_registration_errors_are_shown_beside_their_field(client):
    token = login(client, "midwife")
    r = client.post(
        "/patients/new",
        data={
            "csrf": token,
            "family_name": "K3ita",
            "given_names": "Awa",
            "sex": "F",
            "birth_date": "2000-01-01",
        },
    )
    assert r.status_code == 422
    assert "Lettres seulement" in r.text
    assert 'value="K3ita"' in r.text
    r = client.post(
        "/patients/new",
        data={
            "csrf": token,
            "family_name": "Keita",
            "given_names": "Awa",
            "sex": "F",
            "birth_date": "2030-01-01",
        },
    )
    assert r.status_code == 422 and "dans le futur" in r.text


def test_record_view_is_audited(client, ctx, woman):
    login(client, "nurse")
    assert client.get(f"/patients/{woman['id']}").status_code == 200
    actions = [a["action"] for a in ctx.store.audit.for_patient(woman["id"])]
    assert actions.count("patient.view") == 1


def test_record_by_health_number_and_unknown_record(client, woman):
    login(client, "nurse")
    assert client.get(f"/patients/{woman['health_number']}").status_code == 200
    r = client.get("/patients/no-such-patient")
    assert r.status_code == 404 and "existe pas" in r.text


# -- encounters -----------------------------------------------------------------------------
def test_anc_with_high_blood_pressure_raises_the_alert(client, ctx, woman):
    token = login(client, "midwife")
    r = client.post(
        f"/patients/{woman['id']}/encounters/new",
        data={
            "csrf": token,
            "type": "anc",
            "care_date": "2026-10-15",
            "gestational_age_weeks": "16",
            "bp_systolic": "150",
            "bp_diastolic": "95",
        },
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/patients/{woman['id']}?saved=anc"
    page = client.get(r.headers["location"]).text
    assert 'class="alert' in page and "150/95" in page
    assert "Grossesse en cours" in page and "CPN" in page
    [enc] = ctx.store.encounters.for_patient(woman["id"])
    assert enc["data"]["bp_systolic"] == 150 and enc["data"]["gestational_age_weeks"] == 16


def test_invalid_growth_keeps_what_was_typed_and_explains(client, ctx, child):
    token = login(client, "health_worker")
    r = client.post(
        f"/patients/{child['id']}/encounters/new",
        data={
            "csrf": token,
            "type": "growth",
            "care_date": "2026-10-15",
            "weight_kg": "400",
            "height_cm": "71,5",
            "measured": "lying",
        },
    )
    assert r.status_code == 422
    assert "hors des valeurs plausibles" in r.text
    assert 'value="400"' in r.text and 'value="71,5"' in r.text
    assert ctx.store.encounters.for_patient(child["id"]) == []


def test_growth_shows_zscores_and_chart_point(client, child):
    token = login(client, "health_worker")
    r = client.post(
        f"/patients/{child['id']}/encounters/new",
        data={
            "csrf": token,
            "type": "growth",
            "care_date": "2026-10-15",
            "weight_kg": "8,4",
            "height_cm": "71.5",
            "measured": "lying",
            "muac_mm": "140",
        },
    )
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    # the reader's decimal comma and a real minus sign
    assert re.search(r'<span class="z">Poids/âge [+−]\d,\d</span>', page)
    assert page.count('class="point"') >= 2  # one per chart (weight and length)


def test_growth_past_five_years_shows_bmi_for_age_and_the_2007_reference(client, ctx, staff):
    pupil = patients.register(
        ctx,
        staff["nurse"],
        {"family_name": "Diarra", "given_names": "Awa", "sex": "F", "birth_date": "2017-10-15"},
    )
    token = login(client, "health_worker")
    r = client.post(
        f"/patients/{pupil['id']}/encounters/new",
        data={
            "csrf": token,
            "type": "growth",
            "care_date": "2026-10-15",
            "weight_kg": "26",
            "height_cm": "130",
        },
    )
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    assert re.search(r'<span class="z">IMC/âge [+−]\d,\d</span>', page)
    assert "Référence OMS 2007 (5-19 ans)" in page
    assert "Poids/taille" not in page  # no weight-for-height past five years
    assert 'class="point"' not in page  # the charts (WHO 2006 curves) stop at five years
    client.post("/lang", data={"lang": "en", "csrf": token, "back": "/"})
    page = client.get(r.headers["location"]).text
    assert re.search(r'<span class="z">BMI-for-age [+−]\d\.\d</span>', page)
    assert "WHO 2007 reference (5-19 years)" in page


def test_consultation_with_diagnosis_and_prescription(client, ctx, woman):
    token = login(client, "nurse")
    r = client.post(
        f"/patients/{woman['id']}/encounters/new",
        data={
            "csrf": token,
            "type": "consultation",
            "care_date": "2026-10-15",
            "temperature_c": "38,6",
            "malaria_rdt": "positive",
            "diagnoses-0-code": "malaria_confirmed",
            "diagnoses-0-confirmed": "confirmed",
            "prescriptions-0-drug": "Artéméther-luméfantrine",
            "prescriptions-0-dose": "4 cp",
            "prescriptions-0-times_per_day": "2",
            "prescriptions-0-days": "3",
            "new_case": "on",
        },
    )
    assert r.status_code == 303, r.text
    [enc] = ctx.store.encounters.for_patient(woman["id"])
    assert enc["data"]["diagnoses"] == [{"code": "malaria_confirmed", "confirmed": True}]
    assert enc["data"]["prescriptions"][0]["times_per_day"] == 2
    assert enc["data"]["temperature_c"] == 38.6


def test_consultation_without_diagnosis_is_refused(client, woman):
    token = login(client, "nurse")
    r = client.post(
        f"/patients/{woman['id']}/encounters/new",
        data={"csrf": token, "type": "consultation", "care_date": "2026-10-15"},
    )
    assert r.status_code == 422 and "au moins une ligne" in r.text


# -- due list, reports, clock ---------------------------------------------------------------
def test_due_list_by_village_with_phone(client, child):
    login(client, "nurse")
    r = client.get("/due?village=Kalaban&days=30")
    assert r.status_code == 200
    assert "Issa" in r.text
    assert 'href="tel:+22376123456"' in r.text and "(mère)" in r.text  # the mother's phone
    assert "Issa" not in client.get("/due?village=Ailleurs&days=30").text


def test_report_page_downloads_and_send(client, ctx, tmp_path, woman):
    token = login(client, "doctor")
    r = client.get("/reports?period=2026-09")
    assert r.status_code == 200 and "Consultations curatives" in r.text
    assert client.get("/reports?period=2026-13").status_code == 200  # explained, not a crash
    for fmt, kind in (("csv", "text/csv"), ("pdf", "application/pdf"), ("adx", "adx+xml")):
        d = client.get(f"/reports/2026-09.{fmt}")
        assert d.status_code == 200 and kind in d.headers["content-type"], fmt
        assert "attachment" in d.headers["content-disposition"]
    assert client.get("/reports/2026-09.pdf").content.startswith(b"%PDF")
    r = client.post("/reports/2026-09/send", data={"csrf": token})
    assert r.status_code == 409 and "correspondance DHIS2" in r.text
    mapping = Path(__file__).parents[2] / "appliance/reports/data/mapping-demo.json"
    shutil.copy(mapping, tmp_path / "dhis2-mapping.json")
    r = client.post("/reports/2026-09/send", data={"csrf": token})
    assert r.status_code == 303
    assert [i["period"] for i in ctx.store.outbox.list()] == ["202609"]
    (item,) = ctx.store.outbox.list()  # the 3G is down: its SMS summary leaves first
    ctx.store.outbox.sms_start(item["id"], number="+22370000000", encode=lambda m: ["K"], now="x")
    ctx.store.outbox.sms_part_sent(item["id"], message_ref=1, now="2026-10-05T08:00:00Z")
    assert "résumé envoyé par SMS le 2026-10-05" in client.get("/reports?period=2026-09").text


def test_untrusted_clock_is_confirmed_by_staff(client, ctx):
    token = login(client, "nurse")
    assert "est pas confirmée" in client.get("/").text
    r = client.post("/clock", data={"csrf": token, "date": "2026-10-15", "time_of_day": "10:05"})
    assert r.status_code == 303
    assert ctx.now().trusted and ctx.now().source == "staff"
    assert "est pas confirmée" not in client.get("/").text


# -- errors ----------------------------------------------------------------------------------
def test_unexpected_error_gives_a_friendly_page_with_a_logged_reference(
    client, monkeypatch, caplog, woman
):
    login(client, "nurse")

    def broken(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(patients, "record", broken)
    with caplog.at_level(logging.ERROR, logger="keneya.web"):
        r = client.get(f"/patients/{woman['id']}")
    assert r.status_code == 500
    assert "Traceback" not in r.text and "disk on fire" not in r.text
    ref = re.search(r'class="ref">([0-9a-f]{8})<', r.text).group(1)
    assert ref in caplog.text and "disk on fire" in caplog.text


def test_unknown_page_is_a_friendly_404(client):
    r = client.get("/nowhere")
    assert r.status_code == 404 and "<html" in r.text


# -- API -------------------------------------------------------------------------------------
def test_openapi_description_is_served(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/api/v1/patients" in paths and "/api/v1/status" in paths
    assert not any(p.startswith("/patients") for p in paths)  # pages stay out of the API


def test_api_needs_login_and_csrf_for_writes(client, ctx, woman):
    assert client.get("/api/v1/patients?q=trao").status_code == 401
    r = client.post("/api/v1/session", json={"username": "midwife", "password": "wrong-pass"})
    assert r.status_code == 401
    r = client.post(
        "/api/v1/session", json={"username": "midwife", "password": PASSWORDS["midwife"]}
    )
    assert r.status_code == 200
    token = r.json()["csrf_token"]
    assert [p["id"] for p in client.get("/api/v1/patients?q=trao").json()] == [woman["id"]]
    # care the woman may have (growth is for under-fives: the encounter rules refuse it)
    fp = {"care_date": "2026-10-15", "method": "pill_coc", "user": "new"}
    body = {"type": "family_planning", "data": fp}
    url = f"/api/v1/patients/{woman['id']}/encounters"
    assert client.post(url, json=body).status_code == 403
    r = client.post(url, json=body, headers={"X-CSRF-Token": token})
    assert r.status_code == 201 and r.json()["type"] == "family_planning"
    bad = {"type": "family_planning", "data": {"care_date": "2026-10-15"}}
    r = client.post(url, json=bad, headers={"X-CSRF-Token": token})
    assert r.status_code == 422 and r.json()["problems"]
    record = client.get(f"/api/v1/patients/{woman['id']}").json()
    assert len(record["encounters"]) == 1


def test_api_technician_gets_status_not_patients(client):
    client.post(
        "/api/v1/session", json={"username": "technician", "password": PASSWORDS["technician"]}
    )
    assert client.get("/api/v1/patients?q=trao").status_code == 403
    status = client.get("/api/v1/status")
    assert status.status_code == 200 and "power" in status.json()


def test_home_lists_load_the_alerts_and_due_items(client, ctx, staff, woman, child):
    from appliance.services import encounters

    encounters.add(
        ctx,
        staff["midwife"],
        woman["id"],
        "anc",
        {
            "care_date": "2026-10-14",
            "gestational_age_weeks": 20,
            "bp_systolic": 160,
            "bp_diastolic": 110,
        },
    )
    login(client, "nurse")
    home = client.get("/").text
    assert 'hx-get="/home/lists"' in home  # the page itself comes at once
    lists = client.get("/home/lists", headers={"HX-Request": "true"})
    assert lists.status_code == 200 and "<html" not in lists.text
    assert "Aminata" in lists.text and "160/110" in lists.text  # the gravity alert
    assert "Issa" in lists.text  # a newborn due for his first vaccines


def test_home_lists_are_not_for_the_technician(client):
    login(client, "technician")
    assert client.get("/home/lists").status_code == 403
