"""The follow-up pages in headless Chromium at a phone's and a tablet's size: nothing scrolls
sideways, every item of a 120-item village list is reached through the pages, and on a phone
each item is a card whose name and phone are 44 px tap targets. Screenshots go to
test-artifacts/web/."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import sync_playwright

from tests.component.test_web_follow_up import (  # noqa: F401 (fixtures)
    BABIES,
    VILLAGE,
    app,
    babies,
    family,
    staff,
)
from tests.component.web_session import PASSWORDS, USERNAMES

pytestmark = pytest.mark.component

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
PHONE = {"width": 412, "height": 915}
TABLET = {"width": 1280, "height": 800}


@pytest.fixture
def base_url(app):  # noqa: F811
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the web app did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def browser():
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield b
        b.close()


def logged_in_page(browser, base_url, viewport):
    context = browser.new_context(viewport=viewport, base_url=base_url, locale="fr-FR")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto("/")
    page.fill("input[name=username]", USERNAMES["nurse"])
    page.fill("input[name=password]", PASSWORDS["nurse"])
    page.get_by_role("button", name="Se connecter").click()
    page.locator("header .me").wait_for()
    return page, errors


def sideways(page) -> int:
    """How far the page scrolls sideways (0 when it does not)."""
    return page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


def visible_items(page) -> list[tuple[str, str]]:
    return [
        tuple(row)
        for row in page.locator("table.due-list tbody tr:has(a.name)").evaluate_all(
            "rows => rows.map(r => [r.querySelector('a.name').getAttribute('href'),"
            " r.querySelector('td.reason').textContent])"
        )
    ]


@pytest.mark.usefixtures("family", "babies")
@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("tablet", TABLET)])
def test_due_lists_fit_the_screen_and_page_through_every_item(browser, base_url, size, viewport):
    page, errors = logged_in_page(browser, base_url, viewport)
    width = viewport["width"]

    page.locator("#home-lists h2").first.wait_for()
    page.get_by_text("Alertes de gravité").wait_for()
    assert sideways(page) <= 0, f"the home page scrolls sideways on a {size}"
    shoot(page, f"home-{size}")

    page.goto(f"/due?village={VILLAGE}")
    shoot(page, f"due-today-{size}")
    seen: list[tuple[str, str]] = []
    for number in (1, 2, 3):
        assert sideways(page) <= 0, f"/due page {number} scrolls sideways on a {size}"
        assert f"Page {number} sur 3" in page.locator(".pager").inner_text()
        seen += visible_items(page)
        if number < 3:
            page.locator("a[rel=next]").click()
            page.wait_for_url(f"**page={number + 1}**")
    assert len(seen) == 3 * BABIES == len(set(seen)) == 120
    assert page.locator("a[rel=next]").count() == 0

    cards = page.locator("table.due-list tbody tr")
    if size == "phone":
        assert cards.first.evaluate("r => getComputedStyle(r).display") == "block"
        assert page.locator("table.due-list thead").is_hidden()
        for link in page.locator("table.due-list a.name, table.due-list a.phone").all():
            box = link.bounding_box()
            assert box["height"] >= 44, (link.inner_text(), box)
            assert box["x"] + box["width"] <= width
    else:
        assert cards.first.evaluate("r => getComputedStyle(r).display") == "table-row"

    page.goto("/due?tab=defaulters")
    assert page.locator("span.tag.defaulter").count() >= 1
    colour = page.locator("span.tag.defaulter").first.evaluate(
        "t => getComputedStyle(t).backgroundColor"
    )
    overdue = page.locator("body").evaluate(
        "b => { const s = document.createElement('span'); s.className = 'tag overdue';"
        " b.appendChild(s); const c = getComputedStyle(s).backgroundColor; s.remove(); return c; }"
    )
    assert colour != overdue
    assert sideways(page) <= 0
    shoot(page, f"due-defaulters-{size}")

    page.goto("/due?tab=outreach&village=Kalaban")
    page.get_by_role("button", name="Préparer la tournée").click()
    page.get_by_role("link", name="Imprimer (PDF)").wait_for()
    assert page.locator("section.household").count() >= 1
    assert sideways(page) <= 0
    shoot(page, f"outreach-{size}")
    assert not errors, errors
