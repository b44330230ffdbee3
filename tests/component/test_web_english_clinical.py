"""The web pages say the clinical engine's alerts and due reasons in the page's language, with
the same functions as the kiosk (appliance.clinical.alerts/due.reason_text)."""

from __future__ import annotations

import html

import pytest

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


@pytest.fixture
def staff(ctx):
    add_staff_per_role(ctx)
    return {r: auth.login(ctx, USERNAMES[r], password=PASSWORDS[r]) for r in PINS}


@pytest.fixture
def client(tmp_path, store, fake_time, staff):
    with web_client(web_app(tmp_path, fake_time)) as c:
        yield c


@pytest.fixture
def woman(ctx, staff):
    woman = patients.register(
        ctx,
        staff["midwife"],
        {"family_name": "Traoré", "given_names": "Aminata", "sex": "F", "birth_date": "1998-03-14"},
    )
    encounters.add(
        ctx,
        staff["midwife"],
        woman["id"],
        "anc",
        {
            "care_date": "2026-10-14",
            "gestational_age_weeks": 30,
            "bp_systolic": 165,
            "bp_diastolic": 112,
            "danger_signs": ["bleeding"],
        },
    )
    return woman


def _page(client, url: str, lang: str) -> str:
    token = login(client, "midwife")
    if lang != "fr":
        client.post("/lang", data={"lang": lang, "csrf": token, "back": "/"})
    return html.unescape(client.get(url).text)


def test_record_page_in_english(client, woman):
    page = _page(client, f"/patients/{woman['id']}", "en")
    assert "BP 165/112 mmHg (ANC of 14/10/2026)" in page
    assert "Danger sign: vaginal bleeding (ANC of 14/10/2026)" in page
    assert "Refer urgently to the CSRef (severe pre-eclampsia pathway)" in page
    assert "Signe de danger" not in page and "CSRéf" not in page
    assert "(pregnant woman)" in page  # Td due, from its reason code
    assert "(femme enceinte)" not in page


def test_record_page_in_french_is_unchanged(client, woman):
    page = _page(client, f"/patients/{woman['id']}", "fr")
    assert "TA 165/112 mmHg (CPN du 14/10/2026)" in page
    assert "Référer en urgence au CSRéf (voie de la pré-éclampsie sévère)" in page
    assert "Td 1 (femme enceinte)" in page
