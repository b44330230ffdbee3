"""What the page frame offers each role: the menu names only pages the role may open, the
clock warning goes only to who may confirm the time (open on a session's first page, folded
after), and the live search replaces its history entry instead of adding one per keystroke."""

from __future__ import annotations

import re

import pytest

from appliance.services import auth
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

MENU = {
    "admin": ["/patients", "/due", "/referrals", "/reports", "/dashboard", "/library", "/status"],
    "doctor": ["/patients", "/due", "/referrals", "/reports", "/dashboard", "/library", "/status"],
    "nurse": ["/patients", "/due", "/referrals", "/reports", "/library", "/status"],
    "midwife": ["/patients", "/due", "/referrals", "/reports", "/library", "/status"],
    "matron": ["/patients", "/due", "/referrals", "/dashboard", "/library", "/status"],
    "health_worker": ["/patients", "/due", "/referrals", "/library", "/status"],
    "technician": ["/status"],
}


@pytest.fixture
def client(tmp_path, store, ctx, fake_time):
    add_staff_per_role(ctx)
    for role in PINS:
        auth.login(ctx, USERNAMES[role], password=PASSWORDS[role])
    with web_client(web_app(tmp_path, fake_time)) as c:
        yield c


def menu_links(html: str) -> list[str]:
    nav = re.search(r"<nav aria-label=\"Menu\">(.*?)</nav>", html, re.S)
    assert nav, "no menu in the page"
    return re.findall(r'<a href="([^"]+)"', nav.group(1))


@pytest.mark.parametrize("role", sorted(MENU))
def test_menu_names_only_pages_the_role_may_open(client, role):
    assert set(MENU) == set(PINS)
    login(client, role)
    links = menu_links(client.get("/").text)
    assert links == MENU[role]
    for href in links:
        assert client.get(href).status_code == 200, href
    if "/reports" not in links:
        assert client.get("/reports").status_code == 403  # the page it no longer offers


def test_clock_warning_open_at_login_folded_after(client, fake_time):
    login(client, "nurse")
    page = client.get("/").text
    assert re.search(r'<details class="card warn clock-warn" open>', page)
    fake_time.advance(180)  # three minutes into the session
    page = client.get("/").text
    assert '<details class="card warn clock-warn">' in page  # still there, one folded line
    assert "est pas confirmée" in page


@pytest.mark.parametrize("role", ["technician"])
def test_no_clock_warning_for_who_may_not_confirm(client, role):
    login(client, role)
    assert "clock-warn" not in client.get("/").text


def test_live_search_replaces_its_history_entry(client):
    login(client, "nurse")
    page = client.get("/patients").text
    search = re.search(r'<input type="search"[^>]*>', page, re.S)
    assert search and 'hx-replace-url="true"' in search.group(0)
    assert "hx-push-url" not in page
    # Back restores a whole page from the server, never the results alone
    assert '"historyRestoreAsHxRequest": false' in page
    assert '"refreshOnHistoryMiss": true' in page
    # the address the bar shows answers a whole page; htmx gets the results only
    whole = client.get("/patients?q=tra")
    assert '<header class="bar">' in whole.text and 'id="results"' in whole.text
    fragment = client.get("/patients?q=tra", headers={"HX-Request": "true"})
    assert "<header" not in fragment.text
