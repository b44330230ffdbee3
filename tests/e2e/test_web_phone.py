"""The working day on a phone (412 x 915, touch) and a portrait tablet (800 x 1280) in a real
browser: login, home, live search and Back, a record with its growth chart and a history entry
opened, the follow-up lists, an encounter form, logout. At each step the page is measured from
the DOM: no sideways scrolling, every visible link, button and field at least 44 x 44 CSS px,
chart text at least 12 px as drawn, a header of at most 72 px on the phone, an open/close mark
on every <summary>. Screenshots go to test-artifacts/web/<step>-<size>.png."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
SIZES = {
    "phone": {
        "viewport": {"width": 412, "height": 915},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2.6,
    },
    "tablet": {
        "viewport": {"width": 800, "height": 1280},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
    # a small phone, as many health workers have
    "small-phone": {
        "viewport": {"width": 360, "height": 740},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
    # the first phone turned sideways
    "phone-sideways": {
        "viewport": {"width": 915, "height": 412},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2.6,
    },
}
MIN_TARGET_PX = 44
MIN_CHART_TEXT_PX = 12
MAX_PHONE_HEADER_PX = 72

# Everything the page shows that a finger may need, measured as drawn. A checkbox or radio is
# reached through its label (the label is what is tapped), so the label is measured instead.
MEASURE = """([min, width]) => {
  const shown = e => e.checkVisibility({contentVisibilityAuto: true, visibilityProperty: true})
    && e.getBoundingClientRect().width > 0;
  const name = e => (e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' "'
    + (e.innerText || e.value || e.getAttribute('aria-label') || '').trim().slice(0, 40) + '"');
  const small = [];
  for (const e of document.querySelectorAll(
      'a[href], button, input:not([type=hidden]), select, textarea, summary')) {
    if (!shown(e)) continue;
    let box = e;
    if (e.type === 'checkbox' || e.type === 'radio') box = e.closest('label') || e;
    const r = box.getBoundingClientRect();
    if (r.width < min - 0.5 || r.height < min - 0.5)
      small.push(name(box) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height));
  }
  const chartText = [];
  for (const t of document.querySelectorAll('svg text')) {
    if (!shown(t) || !t.textContent.trim()) continue;
    const svg = t.ownerSVGElement;
    const vb = svg.viewBox.baseVal;
    const scale = vb && vb.width ? svg.getBoundingClientRect().width / vb.width : 1;
    chartText.push([t.textContent.trim(), parseFloat(getComputedStyle(t).fontSize) * scale]);
  }
  const unmarked = [];
  for (const s of document.querySelectorAll('summary')) {
    if (!shown(s)) continue;
    const before = getComputedStyle(s, '::before').content;
    const marked = getComputedStyle(s).display === 'list-item'
      || (before && before !== 'none' && before !== 'normal' && before !== '""');
    if (!marked) unmarked.push(name(s));
  }
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 1)
    .filter(e => !e.parentElement || e.parentElement.getBoundingClientRect().right <= width + 1)
    .map(e => name(e) + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 6);
  const header = document.querySelector('header.bar');
  return {
    scrollWidth: document.scrollingElement.scrollWidth,
    viewport: window.innerWidth,
    small, chartText, unmarked, wide,
    header: header ? header.getBoundingClientRect().height : null,
  };
}"""


def check(page: Page, size: str, step: str) -> dict:
    """Measure the page, save its screenshot, and fail with every fault it has."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{step}-{size}.png"), full_page=True)
    width = SIZES[size]["viewport"]["width"]
    m = page.evaluate(MEASURE, [MIN_TARGET_PX, width])
    faults = []
    # the screen's width, not window.innerWidth: a mobile browser widens its layout viewport
    # to fit a page that overflows, which would hide the fault
    if m["scrollWidth"] > width or m["viewport"] > width:
        faults.append(
            f"scrolls sideways: {m['scrollWidth']} px wide on a {width} px screen: {m['wide']}"
        )
    if m["small"]:
        faults.append(f"touch targets under {MIN_TARGET_PX} px: {m['small']}")
    tiny = [(text, round(px, 1)) for text, px in m["chartText"] if px < MIN_CHART_TEXT_PX]
    if tiny:
        faults.append(f"chart text under {MIN_CHART_TEXT_PX} px: {tiny[:8]}")
    if m["unmarked"]:
        faults.append(f"summaries without an open/close mark: {m['unmarked']}")
    if "phone" in size and m["header"] is not None and m["header"] > MAX_PHONE_HEADER_PX:
        faults.append(f"header {m['header']:.0f} px high (at most {MAX_PHONE_HEADER_PX})")
    assert not faults, f"{step} on the {size}:\n" + "\n".join(faults)
    return m


def child_with_growth_history(server) -> dict:
    """A child under five of the seed with weighings and at least one other encounter."""
    born_after = (datetime.now(UTC).date() - timedelta(days=4 * 365)).isoformat()
    with server.db() as conn:
        row = conn.execute(
            "SELECT p.* FROM patients p WHERE p.birth_date > ? AND p.merged_into IS NULL"
            " AND (SELECT count(*) FROM encounters e WHERE e.patient_id = p.id"
            "      AND e.type = 'growth') >= 2"
            " ORDER BY p.sequence LIMIT 1",
            (born_after,),
        ).fetchone()
    assert row is not None, "the seed has no child under four with two weighings"
    return dict(row)


def open_menu(page: Page) -> None:
    """On a phone or a portrait tablet the menu is folded behind its button: open it."""
    summary = page.locator("header details.menu > summary")
    if summary.is_visible():
        expect(page.locator("header nav a").first).to_be_hidden()
        summary.click()
    expect(page.locator("header nav a").first).to_be_visible()


@pytest.mark.parametrize("size", list(SIZES))
def test_working_day_fits_the_screen(browser, server, problems, size):
    context = browser.new_context(**SIZES[size], base_url=server.base_url, locale="fr-FR")
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems.watch(page)
    try:
        _working_day(page, server, size)
    finally:
        context.close()
    assert not problems.messages, "\n".join(problems.messages)
    assert "Traceback" not in server.log_text()


def _working_day(page: Page, server, size: str) -> None:
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Connexion")
    check(page, size, "01-login")

    server.log_in(page, "nurse")
    expect(page.locator("#home-lists table.due-list")).to_be_visible()
    check(page, size, "02-home")

    open_menu(page)
    nav = page.locator("header nav a").all_inner_texts()
    assert nav == ["Rechercher", "À revoir", "Références", "Rapports", "Bibliothèque", "État"], nav
    check(page, size, "03-menu")
    page.locator("header nav a", has_text="Rechercher").click()
    expect(page.locator("h1")).to_have_text("Rechercher un patient")
    expect(page.locator("header nav a").first).to_be_hidden()  # folded again on a new page

    # the live search: one history entry however many keystrokes, and Back gives a whole page
    child = child_with_growth_history(server)
    entries = page.evaluate("history.length")
    box = page.locator("input[name=q]")
    box.press_sequentially(child["health_number"], delay=120)
    query = urlencode({"q": child["health_number"]})
    expect(page).to_have_url(f"{server.base_url}/patients?{query}")
    expect(page.locator(f"#results a[href='/patients/{child['id']}']")).to_be_visible()
    assert page.evaluate("history.length") == entries, "a keystroke added a history entry"
    check(page, size, "04-search")
    searched = page.url

    page.locator(f"#results a[href='/patients/{child['id']}']").click()
    expect(page.locator("h1")).to_have_text(f"{child['family_name']} {child['given_names']}")
    page.go_back()  # the search as it was left, whole: header, search box, results
    expect(page.locator("header.bar .me")).to_be_visible()
    expect(page.locator("input[name=q]")).to_have_value(child["health_number"])
    expect(page.locator(f"#results a[href='/patients/{child['id']}']")).to_be_visible()
    assert page.url == searched
    page.go_back()  # the search replaced its page's entry: Back leaves it, to a whole page
    expect(page.locator("header.bar .me")).to_be_visible()
    expect(page.locator("main input[name=q]")).to_be_visible()
    assert page.url == f"{server.base_url}/"
    # the address the bar showed, loaded by itself, is a whole page too
    page.goto(searched)
    expect(page.locator("header.bar .me")).to_be_visible()
    expect(page.locator(f"#results a[href='/patients/{child['id']}']")).to_be_visible()

    # the record: growth charts and a history entry opened
    page.goto(f"/patients/{child['id']}")
    charts = page.locator("section:has(h2:text-is('Croissance')) svg")
    expect(charts).to_have_count(2)
    m = check(page, size, "05-record")
    assert m["chartText"], "no chart text was measured"
    entry = page.locator("details.encounter").first
    expect(entry.locator("dl")).to_be_hidden()
    entry.locator("summary").click()
    expect(entry.locator("dl")).to_be_visible()
    check(page, size, "06-record-history-open")

    # the follow-up lists
    for tab in ("today", "upcoming", "defaulters"):
        page.goto(f"/due?tab={tab}")
        expect(page.locator("h1")).to_have_text("Qui est attendu")
        check(page, size, f"07-due-{tab}")
    rows = page.locator("table.due-list tbody tr")
    if size == "phone" and rows.count() > 1:
        # one card per item, stacked: the second starts below the first
        first, second = rows.nth(0).bounding_box(), rows.nth(1).bounding_box()
        assert first and second and second["y"] >= first["y"] + first["height"] - 1

    page.goto("/due?tab=outreach")
    village = page.locator("select[name=village] option").nth(1).inner_text()
    page.select_option("select[name=village]", village)
    page.get_by_role("button", name="Préparer la tournée").click()
    expect(page.locator("h1")).to_contain_text(f"Tournée : {village}")
    check(page, size, "07-outreach")
    page.goto("/reports")
    expect(page.locator("h1")).to_have_text("Rapport mensuel d'activités")
    check(page, size, "07-reports")

    # an encounter form, its folded fields opened
    page.goto(f"/patients/{child['id']}")
    page.locator("a.button[href*='/encounters/new?type=growth']").click()
    expect(page.locator("input[name=type][value=growth]")).to_have_count(1)
    check(page, size, "08-encounter")
    more = page.locator("form details")
    if more.count():
        more.first.locator("summary").click()
        check(page, size, "09-encounter-more")

    page.goto("/patients/new")
    expect(page.locator("h1")).to_have_text("Nouveau patient")
    check(page, size, "10-register")

    open_menu(page)
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.locator("h1")).to_have_text("Connexion")
    check(page, size, "11-logout")


@pytest.mark.parametrize(
    "role, links",
    [
        (
            "matron",
            ["Rechercher", "À revoir", "Références", "Tableau de bord", "Bibliothèque", "État"],
        ),
        ("health_worker", ["Rechercher", "À revoir", "Références", "Bibliothèque", "État"]),
        ("technician", ["État"]),
        (
            "admin",
            [
                "Rechercher",
                "À revoir",
                "Références",
                "Rapports",
                "Tableau de bord",
                "Bibliothèque",
                "État",
            ],
        ),
    ],
)
def test_menu_offers_only_what_the_role_may_open(browser, server, problems, role, links):
    context = browser.new_context(**SIZES["phone"], base_url=server.base_url, locale="fr-FR")
    page = context.new_page()
    problems.watch(page)
    try:
        server.log_in(page, role)
        open_menu(page)
        assert page.locator("header nav a").all_inner_texts() == links
        for href in page.locator("header nav a").evaluate_all("as => as.map(a => a.href)"):
            response = page.request.get(href)
            assert response.status == 200, (href, response.status)
    finally:
        context.close()
    assert not problems.messages, "\n".join(problems.messages)


def test_tablet_held_sideways_has_the_menu_in_the_bar(browser, server, problems):
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, base_url=server.base_url, locale="fr-FR"
    )
    page = context.new_page()
    problems.watch(page)
    try:
        server.log_in(page, "nurse")
        expect(page.locator("header details.menu > summary")).to_be_hidden()
        expect(page.locator("header nav a")).to_have_count(6)
        for link in page.locator("header nav a").all():
            expect(link).to_be_visible()
        expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
        header = page.locator("header.bar").bounding_box()
        assert header is not None and header["height"] <= MAX_PHONE_HEADER_PX, header
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "02-home-landscape.png"))
    finally:
        context.close()
    assert not problems.messages, "\n".join(problems.messages)


def test_admin_sees_refused_logins_on_the_status_page_of_a_phone(browser, server, problems):
    context = browser.new_context(**SIZES["phone"], base_url=server.base_url, locale="fr-FR")
    page = context.new_page()
    problems.watch(page)
    problems.allow(401, "/login")
    try:
        for _ in range(2):
            page.goto("/")
            page.fill("input[name=username]", "personne.inconnue")
            page.fill("input[name=password]", "pas-le-bon")
            page.get_by_role("button", name="Se connecter").click()
            expect(page.locator("p.error[role=alert]")).to_be_visible()
        server.log_in(page, "admin")
        page.goto("/status")
        refused = page.locator("section:has(h2:text-is('Connexions refusées (dernière heure)'))")
        expect(refused).to_contain_text("personne.inconnue")
        check(page, "phone", "12-status-admin")
    finally:
        context.close()
    assert not problems.messages, "\n".join(problems.messages)


STATIC_NAME = re.compile(r"/static/(app|htmx\.min)\.[0-9a-f]{8}\.(css|js)$")


def test_static_files_come_compressed_and_are_kept_a_year(browser, server, problems):
    """A first login fetches the stylesheet and htmx compressed under content-hashed names;
    the next page takes them from the browser's cache. The figures go to bytes.json."""
    context = browser.new_context(**SIZES["phone"], base_url=server.base_url, locale="fr-FR")
    page = context.new_page()
    problems.watch(page)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls: dict[str, str] = {}
    received: dict[str, int] = {}
    cdp.on(
        "Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"])
    )
    cdp.on(
        "Network.loadingFinished",
        lambda e: received.__setitem__(e["requestId"], int(e["encodedDataLength"])),
    )
    statics = []
    page.on("response", lambda r: statics.append(r) if "/static/" in r.url else None)
    try:
        server.log_in(page, "nurse")
        expect(page.locator("#home-lists table.due-list")).to_be_visible()
        first = [(urls.get(k, k), n) for k, n in received.items()]  # one per request
        assert {STATIC_NAME.search(r.url) is not None for r in statics} == {True}, [
            r.url for r in statics
        ]
        for r in statics:
            headers = r.headers
            assert headers.get("content-encoding") in ("br", "gzip"), (r.url, headers)
            assert headers["cache-control"] == "public, max-age=31536000, immutable", r.url
            assert "accept-encoding" in headers.get("vary", "").lower(), r.url
        received.clear()
        page.goto("/due")
        expect(page.locator("h1")).to_have_text("Qui est attendu")
        again = [(urls.get(k, k), n) for k, n in received.items()]
    finally:
        context.close()
    static_again = [(u, n) for u, n in again if "/static/" in u and n > 0]
    assert not static_again, f"static files fetched again: {static_again}"
    total = sum(n for _, n in first)
    static_first = sum(n for u, n in first if "/static/" in u)
    assert static_first > 0, first  # fetched once, on the login page
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "bytes.json").write_text(
        json.dumps(
            {
                "first_login_bytes": total,
                "static_bytes": static_first,
                "next_page_bytes": sum(n for _, n in again),
            },
            indent=1,
        )
    )
    assert total < 40_000, f"a first login costs {total} bytes: {first}"
    assert not problems.messages, "\n".join(problems.messages)


def test_english_pages_fit_the_phone_too(browser, server, problems):
    context = browser.new_context(**SIZES["phone"], base_url=server.base_url, locale="fr-FR")
    page = context.new_page()
    problems.watch(page)
    try:
        server.log_in(page, "midwife")
        open_menu(page)
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("#home-lists table.due-list")).to_be_visible()
        check(page, "phone", "13-home-english")
        open_menu(page)
        assert page.locator("header nav a").all_inner_texts() == [
            "Search",
            "Follow-up",
            "Referrals",
            "Reports",
            "Library",
            "Status",
        ]
        page.goto("/due?tab=upcoming")
        check(page, "phone", "13-due-english")
    finally:
        context.close()
    assert not problems.messages, "\n".join(problems.messages)
