"""Follow-up pages over HTTP: the home's counts, the tabs of /due page by page, the outreach
round and its PDF, and the JSON API, each checked against services.follow_up."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from appliance.services import auth, follow_up, patients
from appliance.web.due_views import households, round_counts
from tests.component.web_session import (
    PASSWORDS,
    USERNAMES,
    add_staff_per_role,
    csrf_of,
    login,
    web_app,
    web_client,
)
from tests.conftest import PINS, START

pytestmark = pytest.mark.component

TODAY = START.date()
VILLAGE = "Sirakoro"
FAMILIES = ("Diarra", "Keita", "Coulibaly", "Sangaré", "Dembélé", "Maïga", "Touré", "Konaté")
GIVEN = ("Awa", "Fanta", "Mariam", "Kadia", "Oumou")
BABIES = 40  # each born 14 days ago is due for BCG, OPV0 and the day-7 visit: 120 items
ROW = re.compile(
    r'<tr class="(\w+)">\s*<td class="patient"><a class="name" href="/patients/([^"]+)">'
)


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
def family(ctx, staff):
    """A mother with a phone and her son, late for his vaccines and lost for the first ones."""
    mother = patients.register(
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
    son = patients.register(
        ctx,
        staff["midwife"],
        {
            "family_name": "Traoré",
            "given_names": "Issa",
            "sex": "M",
            "birth_date": "2026-01-10",
            "village": "Kalaban",
            "mother_id": mother["id"],
        },
    )
    return mother, son


@pytest.fixture
def babies(ctx, staff):
    born = (TODAY - timedelta(days=14)).isoformat()
    return [
        patients.register(
            ctx,
            staff["midwife"],
            {
                "family_name": FAMILIES[n % len(FAMILIES)],
                "given_names": GIVEN[n // len(FAMILIES)],
                "sex": "F",
                "birth_date": born,
                "village": VILLAGE,
                "phone": f"70 00 {n:02d} 00",
            },
            accept_duplicates=True,  # sisters' names look alike to the duplicate check
        )
        for n in range(BABIES)
    ]


def rows(html: str) -> list[tuple[str, str]]:
    """(state, patient id) of each row of a due list."""
    return ROW.findall(html)


def keys(items) -> list[tuple[str, str]]:
    return [(i["patient_id"], i["reason"]) for i in items]


def page_keys(html: str) -> list[tuple[str, str]]:
    found = re.findall(
        r'<a class="name" href="/patients/([^"]+)">.*?</td>\s*<td class="reason">([^<]*)</td>',
        html,
        flags=re.S,
    )
    return [(pid, reason.replace("&#39;", "'")) for pid, reason in found]


# -- /due ----------------------------------------------------------------------------------
def test_today_tab_pages_through_every_item_of_a_village(client, ctx, staff, babies):
    login(client, "nurse")
    expected = follow_up.listing(
        ctx, staff["nurse"], start=TODAY, end=TODAY, village=VILLAGE, states=("due", "overdue")
    )
    assert expected["total"] == 3 * BABIES
    seen = []
    for page, shown in ((1, "1–50 sur 120"), (2, "51–100 sur 120"), (3, "101–120 sur 120")):
        r = client.get(f"/due?village={VILLAGE}&page={page}")
        assert r.status_code == 200
        assert shown in r.text
        assert "choisissez un village" not in r.text
        assert ('rel="prev"' in r.text) == (page > 1)
        assert ('rel="next"' in r.text) == (page < 3)
        seen += page_keys(r.text)
    assert len(seen) == 120 and set(seen) == set(keys(expected["items"]))
    for page in (9, 10**30):  # past the end: the last page
        past_the_end = client.get(f"/due?village={VILLAGE}&page={page}")
        assert past_the_end.status_code == 200 and "101–120 sur 120" in past_the_end.text


def test_next_link_keeps_the_village_and_sort(client, babies):
    login(client, "nurse")
    html = client.get(f"/due?village={VILLAGE}&sort=date").text
    nxt = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert f"village={VILLAGE}" in nxt and "sort=date" in nxt and "page=2" in nxt
    assert "51–100 sur 120" in client.get(nxt).text


def test_today_tab_shows_due_and_overdue_not_defaulters(client, family):
    _mother, son = family
    login(client, "nurse")
    html = client.get("/due?village=Kalaban").text
    states = {state for state, _pid in rows(html)}
    assert states and states <= {"due", "overdue"}
    assert son["id"] in html
    assert 'href="tel:+22376123456"' in html and "(mère)" in html  # the mother's phone


def test_defaulters_tab_lists_the_lost_oldest_first_in_their_colour(client, ctx, staff, family):
    login(client, "nurse")
    html = client.get("/due?tab=defaulters").text
    expected = follow_up.defaulters(ctx, staff["nurse"])
    assert expected["total"] >= 1
    assert [s for s, _ in rows(html)] == ["defaulter"] * expected["total"]
    assert page_keys(html) == keys(expected["items"])
    assert '<span class="tag defaulter">perdu de vue' in html
    dates = re.findall(r'<td class="when">(\d\d)/(\d\d)/(\d{4})', html)
    assert dates == sorted(dates, key=lambda d: (d[2], d[1], d[0]))


def test_upcoming_tab_looks_as_far_as_asked(client, babies):
    login(client, "nurse")
    month = client.get(f"/due?tab=upcoming&village={VILLAGE}&days=30").text
    quarter = client.get(f"/due?tab=upcoming&village={VILLAGE}&days=90").text
    assert {s for s, _ in rows(month)} == {"upcoming"}
    assert "Vaccin polio inactivé" not in month or "07/01/2027" not in month
    n_month = int(re.search(r"sur (\d+)", month).group(1))
    n_quarter = int(re.search(r"sur (\d+)", quarter).group(1))
    assert n_quarter > n_month > 0


def test_sort_by_date_and_by_village(client, family, babies):
    login(client, "nurse")
    by_date = client.get("/due?sort=date").text
    dates = re.findall(r'<td class="when">(\d\d)/(\d\d)/(\d{4})', by_date)
    assert dates == sorted(dates, key=lambda d: (d[2], d[1], d[0]))
    by_village = client.get("/due?sort=village").text
    villages = re.findall(r'<td class="village">([^<]*)</td>', by_village)
    assert villages == sorted(villages) and len(set(villages)) == 2


def test_outreach_tab_offers_the_villages_and_a_date(client, family, babies):
    login(client, "nurse")
    html = client.get("/due?tab=outreach").text
    assert 'action="/due/outreach"' in html
    assert f"<option>{VILLAGE}</option>" in html and "<option>Kalaban</option>" in html
    assert 'type="date" name="date"' in html


# -- outreach ------------------------------------------------------------------------------
def test_outreach_round_shows_every_item_of_the_village_by_household(
    client, ctx, staff, family, babies
):
    mother, son = family
    login(client, "health_worker")
    on = (TODAY + timedelta(days=60)).isoformat()
    r = client.get(f"/due/outreach?village=Kalaban&date={on}")
    assert r.status_code == 200
    expected = follow_up.outreach(ctx, staff["nurse"], village="Kalaban", on=date.fromisoformat(on))
    assert expected["items"]
    assert r.text.count("<li class=") == len(expected["items"])
    assert {s for s in ("upcoming", "due", "defaulter") if f'<li class="{s}">' in r.text} >= {
        "due",
        "defaulter",
    }
    # mother and son, one phone: one household
    households = re.findall(r'<section class="card household">.*?</section>', r.text, flags=re.S)
    traore = [h for h in households if son["id"] in h]
    assert len(traore) == 1 and "téléphone de la mère" in traore[0]
    assert 'href="tel:+22376123456"' in traore[0] and "Traoré Aminata" in traore[0]
    pdf = re.search(r'href="(/due/outreach.pdf\?[^"]+)"', r.text).group(1).replace("&amp;", "&")
    assert pdf == f"/due/outreach.pdf?village=Kalaban&date={on}"


def test_a_round_puts_the_people_of_one_phone_together():
    def item(pid, family, given, phone, code, **contact):
        return {
            "patient_id": pid,
            "reason_code": code,
            "state": "due",
            "contact": {"family_name": family, "given_names": given, "phone": phone, **contact},
        }

    items = [  # the service's order: by name
        item("m", "Diarra", "Fanta", "+22370000001", "td:2"),
        item("k", "Keita", "Awa", None, "penta:1"),
        item("n", "Keita", "Bakary", None, "penta:1"),
        item("c", "Traoré", "Issa", "+22370000001", "mr:1", phone_of="mother"),
        item("c", "Traoré", "Issa", "+22370000001", "yf:1", phone_of="mother"),
    ]
    homes = households(items)
    assert [h["family_names"] for h in homes] == [["Diarra", "Traoré"], ["Keita"], ["Keita"]]
    assert [[p["patient_id"] for p in h["people"]] for h in homes] == [["m", "c"], ["k"], ["n"]]
    assert [len(p["items"]) for p in homes[0]["people"]] == [1, 2]
    assert round_counts(items) == {
        "people": 4,
        "items": 5,
        "late": 5,
        "upcoming": 0,
        "defaulters": 0,
    }


def test_outreach_of_a_big_village_lists_all_of_it(client, ctx, staff, babies):
    login(client, "nurse")
    on = TODAY + timedelta(days=90)
    r = client.get(f"/due/outreach?village={VILLAGE}&date={on.isoformat()}")
    expected = follow_up.outreach(ctx, staff["nurse"], village=VILLAGE, on=on)
    assert len(expected["items"]) > 3 * BABIES
    assert r.text.count("<li class=") == len(expected["items"])
    assert r.text.count('<section class="card household">') == BABIES


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("village=Kalaban&date=2026-02-30", "Cette date n&#39;est pas valable."),
        ("village=Kalaban&date=2025-01-01", "entre aujourd&#39;hui et dans 92 jours"),
        ("date=2026-10-20", "Choisissez le village de la tournée."),
    ],
)
def test_outreach_refuses_a_wrong_date_or_no_village_in_french(client, family, query, message):
    login(client, "nurse")
    r = client.get(f"/due/outreach?{query}")
    assert r.status_code == 422 and message in r.text and "Traceback" not in r.text
    pdf = client.get(f"/due/outreach.pdf?{query}")
    assert pdf.status_code == 422 and "<html" in pdf.text


def test_outreach_pdf_is_a_pdf(client, family):
    login(client, "nurse")
    on = (TODAY + timedelta(days=7)).isoformat()
    r = client.get(f"/due/outreach.pdf?village=Kalaban&date={on}")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    assert f'filename="tournee-kalaban-{on}.pdf"' in r.headers["content-disposition"]


def test_follow_up_pages_are_not_for_the_technician(client, family):
    login(client, "technician")
    for url in ("/due", "/due?tab=defaulters", "/due/outreach?village=Kalaban"):
        assert client.get(url).status_code == 403, url


# -- home ----------------------------------------------------------------------------------
def test_home_counts_today_apart_from_defaulters(client, ctx, staff, family, babies):
    login(client, "nurse")
    lists = client.get("/home/lists", headers={"HX-Request": "true"})
    assert lists.status_code == 200 and "<html" not in lists.text
    today = follow_up.today(ctx, staff["nurse"], limit=10)
    week = follow_up.listing(
        ctx, staff["nurse"], start=TODAY, end=TODAY + timedelta(days=7), states=("upcoming",)
    )
    html = lists.text
    assert re.search(r"À revoir aujourd&#39;hui</h2>|À revoir aujourd&#39;hui <span", html)
    assert f'<span class="count">{today["count"]}</span>' in html
    assert f'<span class="count defaulter">{today["defaulters"]}</span>' in html
    assert f'<span class="count">{week["total"]}</span>' in html
    assert 'href="/due?tab=defaulters"' in html and 'href="/due?tab=upcoming&amp;days=7"' in html
    assert page_keys(html) == keys(today["items"])  # the first ones, priority then date
    assert f"Voir toute la liste ({today['count']})" in html
    assert {s for s, _ in rows(html)} <= {"due", "overdue"}


# -- API -----------------------------------------------------------------------------------
def api_login(client, role="nurse") -> None:
    r = client.post(
        "/api/v1/session", json={"username": USERNAMES[role], "password": PASSWORDS[role]}
    )
    assert r.status_code == 200


def test_api_due_by_state_pages_and_sorts(client, ctx, staff, family, babies):
    assert client.get("/api/v1/due").status_code == 401
    api_login(client)
    lost = client.get("/api/v1/due?state=defaulter").json()
    assert lost["total"] >= 1 and {i["state"] for i in lost["items"]} == {"defaulter"}
    repeated = client.get("/api/v1/due?state=due&state=overdue&limit=500").json()
    comma = client.get("/api/v1/due?state=due,overdue&limit=500").json()
    assert repeated == comma and {i["state"] for i in comma["items"]} <= {"due", "overdue"}
    assert comma["total"] == follow_up.today(ctx, staff["nurse"])["count"]
    pages = []
    for offset in range(0, comma["total"], 7):
        pages += client.get(f"/api/v1/due?state=due,overdue&limit=7&offset={offset}").json()[
            "items"
        ]
    assert pages == comma["items"]
    by_date = client.get("/api/v1/due?sort=date&days=30&limit=500").json()["items"]
    assert [i["due_date"] for i in by_date] == sorted(i["due_date"] for i in by_date)
    assert len(client.get("/api/v1/due?days=90").json()["items"]) == 100  # the default limit


@pytest.mark.parametrize(
    "query",
    ["state=lost", "limit=0", "limit=501", "offset=-1", f"offset={10**30}", "sort=age", "days=93"],
)
def test_api_due_refuses_bad_parameters(client, family, query):
    api_login(client)
    r = client.get(f"/api/v1/due?{query}")
    assert r.status_code == 422


def test_api_due_today_is_the_home_count(client, ctx, staff, family, babies):
    api_login(client)
    got = client.get("/api/v1/due/today?limit=5").json()
    expected = follow_up.today(ctx, staff["nurse"], limit=5)
    assert {k: got[k] for k in ("on", "count", "defaulters", "upcoming")} == {
        k: expected[k] for k in ("on", "count", "defaulters", "upcoming")
    }
    assert keys(got["items"]) == keys(expected["items"]) and len(got["items"]) == 5


# -- English -------------------------------------------------------------------------------
def test_due_page_in_english(client, family):
    login(client, "nurse")
    token = csrf_of(client.get("/").text)
    client.post("/lang", data={"lang": "en", "csrf": token, "back": "/"})
    html = client.get("/due?tab=defaulters").text
    assert "Lost to follow-up" in html and "lost to follow-up" in html
    assert "Perdus de vue" not in html
