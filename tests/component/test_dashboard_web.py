"""The dashboard page and its PDF over HTTP: the four charts with their tables and captions,
the indicators by group with their definitions, the figures in the reader's language, the
notice when the facility has no population, and the one-page PDF."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from appliance.web import dashboard_view as view
from appliance.web.routes import dashboard as dashboard_route
from tests.component.test_web_follow_up import app, client, staff  # noqa: F401 (fixtures)
from tests.component.web_session import csrf_of, login
from tests.dashboard_sample import example, sample

pytestmark = pytest.mark.component


@pytest.fixture
def data(monkeypatch):
    """The page over the service's example figures (the counting has tests of its own)."""
    asked: list[int] = []
    figures = example()

    def load(web, actor, year, **_):
        asked.append(year)
        return figures

    monkeypatch.setattr(dashboard_route, "load", load)
    return figures, asked


def test_the_page_shows_four_charts_with_their_numbers(client, data):  # noqa: F811
    figures, asked = data
    login(client, "doctor")
    r = client.get("/dashboard?year=2026")
    assert r.status_code == 200
    html = r.text
    assert asked == [2026]
    for name in ("monitoring", "trend", "dropout", "pyramid"):
        assert f'id="chart-{name}"' in html
    assert html.count("<svg") == 4 and html.count("<figcaption>") == 4
    assert html.count('class="table-wrap"') >= 4
    assert "Suivi cumulé de la vaccination" in html and "Seuil OMS 10 %" in html
    penta1 = view.pick(view.indicator(figures, "penta1")["label"], "fr")
    assert f"<details><summary>{penta1}</summary>" in html.replace("\n", "")
    assert 'href="/dashboard.pdf?year=2026"' in html


def test_the_page_in_english(client, data):  # noqa: F811
    token = login(client, "doctor")
    client.post("/lang", data={"lang": "en", "csrf": token, "back": "/dashboard"})
    html = client.get("/dashboard").text
    assert "Cumulative immunization monitoring" in html and "Dashboard" in html
    anc1 = view.indicator(data[0], "anc1")["label"]
    assert f"<summary>{anc1['en']}</summary>" in html  # the indicators' own English labels


def test_without_population_the_page_says_what_to_add(client, monkeypatch):  # noqa: F811
    monkeypatch.setattr(
        dashboard_route, "load", lambda web, actor, year, **_: sample(population=False)
    )
    login(client, "doctor")
    html = client.get("/dashboard").text
    assert "[population]" in html and "Cible cumulée" not in html


def test_a_cold_year_opens_at_once_and_fills_in_by_itself(client, monkeypatch):  # noqa: F811
    """The real count with no time to compute: the page says the figures are being counted
    and reloads itself, shows no chart of missing figures; once the web app's background
    refresh is done, the charts are there and the notice is gone."""
    from appliance.services import dashboard as service

    monkeypatch.setattr(dashboard_route, "PAGE_WAIT_S", 0.0)
    login(client, "doctor")
    html = client.get("/dashboard").text
    assert 'id="dashboard-pending"' in html and "Calcul des chiffres en cours" in html
    assert '<meta http-equiv="refresh" content="5">' in html
    assert 'id="chart-monitoring"' not in html
    assert service.wait_for_refresh(120)
    html = client.get("/dashboard").text
    assert 'id="dashboard-pending"' not in html and 'http-equiv="refresh"' not in html
    assert 'id="chart-monitoring"' in html
    # the running year is counted to today (the test clock: 15 October 2026)
    assert "Chiffres jusqu&#39;au 15 oct. 2026" in html or "Chiffres jusqu'au 15 oct. 2026" in html


def test_a_wrong_year_is_refused_in_words(client, data):  # noqa: F811
    login(client, "doctor")
    r = client.get("/dashboard?year=1850")
    assert r.status_code == 200 and "Choisissez une année" in r.text
    assert data[1] == []


def test_the_pdf_is_one_page(client, data):  # noqa: F811
    figures, _asked = data
    login(client, "admin")
    r = client.get("/dashboard.pdf?year=2026")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(r.content))
    assert len(reader.pages) == 1
    assert figures["facility"] in reader.pages[0].extract_text()


def test_needs_a_login(client, data):  # noqa: F811
    r = client.get("/dashboard")
    assert r.status_code in (303, 401) or "password" in r.text
    assert csrf_of(client.get("/").text)


def test_with_the_service_and_only_for_its_roles(client):  # noqa: F811
    """The page over the real count (an empty facility: counts of zero, no population)."""
    login(client, "nurse")
    assert client.get("/dashboard").status_code == 403
    assert 'href="/dashboard"' not in client.get("/").text
    client.cookies.clear()
    login(client, "matron")
    r = client.get("/dashboard")
    assert r.status_code == 200 and r.text.count("<svg") == 4
    assert 'href="/dashboard"' in r.text  # the menu
    assert "[population]" in r.text
    assert client.get("/dashboard.pdf").content.startswith(b"%PDF")
