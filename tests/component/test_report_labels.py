"""The French report of a seeded month shows no code and no English label: the web page, the
PDF's text and the CSV's label columns, checked against every code and every English label of
the report's own catalog (appliance/reports/labels.py and the indicators' definitions)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from html import unescape

import pytest
from pypdf import PdfReader

from appliance.reports import formats, labels
from appliance.reports.definitions import INDICATORS
from appliance.reports.pdf import to_pdf
from appliance.seed.facility import seed_facility
from appliance.services import auth
from appliance.services import reports as report_service
from appliance.services.context import Context
from appliance.store import Store
from tests.component.web_session import csrf_of, web_app, web_client

pytestmark = pytest.mark.component
PERIOD = "2026-09"  # the fixture clock reads 15 October 2026: September is complete


def _fr_en_pairs() -> list[tuple[str, str, str]]:
    """(code, French label, English label) of everything the report can show."""
    pairs = [(code, fr, en) for code, (fr, en) in labels.DIMENSIONS.items()]
    for values in labels.VALUES.values():
        pairs += [(code, fr, en) for code, (fr, en) in values.items()]
    pairs += [(i.code, i.label, i.label_en) for i in INDICATORS]
    return pairs


def _pattern(text: str) -> re.Pattern[str]:
    # a code or label standing alone: not inside a longer word, number or code ("0-11m")
    return re.compile(rf"(?<![\w+\-]){re.escape(text)}(?![\w+\-])")


def _forbidden() -> dict[str, re.Pattern[str]]:
    out = {}
    for code, fr, en in _fr_en_pairs():
        # a code that is a French word of its own label ("implant", "malnutrition") is French;
        # an acronym is not ("bcg" for "BCG")
        words = re.findall(r"[\w-]+", fr)
        if not any(w.lower() == code.lower() and not w.isupper() for w in words):
            out[f"code {code!r}"] = _pattern(code)
        if en != fr:
            out[f"English {en!r}"] = _pattern(en)
    return out


FORBIDDEN = _forbidden()


def visible(html: str) -> str:
    """The text a reader sees (tags and their attributes left out)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def leftovers(text: str) -> list[str]:
    return sorted(name for name, pattern in FORBIDDEN.items() if pattern.search(text))


def test_the_catalog_covers_the_codes_of_the_issue():
    """The codes reported in French pages before the catalog existed are all caught."""
    for shown in ("1-4y", "50+y", "0-11m", "bcg", "opv", "mr", "yf", "condom_male"):
        assert leftovers(f"âge {shown}, x"), shown
    for shown in ("injectable_dmpa_im", "pill_coc", "tb", "new"):
        assert leftovers(f"méthode {shown}"), shown
    assert leftovers("Male condom") and leftovers("Family planning users")
    assert not leftovers("Préservatif masculin, Nouvelle utilisatrice, 1-4 ans, BCG, Implant")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A seeded facility and its doctor's login (username, password)."""
    home = tmp_path_factory.mktemp("labels")
    summary = seed_facility(
        home / "keneya.db",
        patients=500,
        seed=22,  # its September has every kind of visit the labels cover, family planning too
        years=1,
        logins_dir=home,
        today=date(2026, 10, 14),
    )
    username, _role, pin = next(x.split() for x in summary["logins"] if " doctor " in x)
    return home, username, f"demo-{pin}"


@pytest.fixture
def client(seeded, fake_time):
    home, username, password = seeded
    with web_client(web_app(home, fake_time)) as c:
        token = csrf_of(c.get("/").text)
        r = c.post("/login", data={"username": username, "password": password, "csrf": token})
        assert r.status_code == 303, r.text
        yield c


def test_the_french_web_page_has_no_code_or_english_label(client):
    page = visible(client.get(f"/reports?period={PERIOD}").text)
    assert "Consultations curatives" in page and "TPI3 et plus" in page
    assert "ans" in page and "Féminin" in page  # disaggregated values are there, in French
    assert leftovers(page) == []
    definitions = visible(client.get("/reports/definitions").text)
    assert all(i.label in definitions for i in INDICATORS)
    assert "chaque grossesse compte une seule fois" in definitions
    assert leftovers(definitions) == []


def test_the_english_page_takes_the_english_labels(client):
    token = csrf_of(client.get("/").text)
    client.post("/lang", data={"lang": "en", "csrf": token, "back": "/"})
    page = client.get(f"/reports?period={PERIOD}").text
    assert "Outpatient consultations" in page and "Female" in page
    assert "years" in page
    assert "Indicator definitions" in client.get("/reports/definitions").text


def test_the_french_pdf_and_csv_have_no_code_or_english_label(seeded, fake_time):
    home, username, password = seeded
    with Store(home / "keneya.db") as store:
        ctx = Context.open(store, machine_time=fake_time, boot_id="boot-1")
        actor = auth.login(ctx, username, password=password)
        report = report_service.monthly(ctx, actor, PERIOD)
    assert report.total("CONSULT") > 0 and report.total("IMM") > 0 and report.total("FP") > 0
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(to_pdf(report))).pages)
    assert "Définitions des indicateurs" in text
    assert all(i.label in text for i in INDICATORS)
    assert leftovers(text) == []
    rows = list(csv.reader(io.StringIO(formats.to_csv(report, "fr"))))
    people = "\n".join(",".join(row[:3]) for row in rows)
    assert rows[0][:3] == ["Indicateur", "Détail", "Valeur"] and len(rows) > 20
    assert leftovers(people) == []
    assert leftovers(formats.to_table(report)) == []
