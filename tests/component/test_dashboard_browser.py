"""The dashboard in headless Chromium at a phone's and a tablet's size: the four charts drawn
(each SVG laid out, its table under it), nothing scrolls sideways (a wide table scrolls inside
its frame), a definition opens under its indicator, no error in the console. Screenshots go
to test-artifacts/web/dashboard-*.png."""

from __future__ import annotations

import pytest

from appliance.web.routes import dashboard as dashboard_route
from tests.component.test_web_follow_up import app, staff  # noqa: F401 (fixtures)
from tests.component.test_web_follow_up_browser import (  # noqa: F401 (fixtures)
    PHONE,
    TABLET,
    base_url,
    browser,
    shoot,
    sideways,
)
from tests.component.web_session import PASSWORDS, USERNAMES
from tests.dashboard_sample import example

pytestmark = pytest.mark.component


@pytest.fixture
def figures(monkeypatch):
    data = example()
    monkeypatch.setattr(dashboard_route, "load", lambda web, actor, year, **_: data)
    return data


def doctor_page(browser, base_url, viewport):  # noqa: F811
    context = browser.new_context(viewport=viewport, base_url=base_url, locale="fr-FR")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto("/")
    page.fill("input[name=username]", USERNAMES["doctor"])
    page.fill("input[name=password]", PASSWORDS["doctor"])
    page.get_by_role("button", name="Se connecter").click()
    page.locator("header .me").wait_for()
    return page, errors


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("tablet", TABLET)])
def test_dashboard_fits_the_screen(browser, base_url, figures, size, viewport):  # noqa: F811
    page, errors = doctor_page(browser, base_url, viewport)
    if size == "tablet":  # the menu leads there
        page.locator("nav a[href='/dashboard']").click()
        page.wait_for_url("**/dashboard")
    else:
        page.goto("/dashboard")
    figure_boxes = []
    for name in ("monitoring", "trend", "dropout", "pyramid"):
        svg = page.locator(f"#chart-{name} svg")
        box = svg.bounding_box()
        assert box and box["width"] > 250 and box["height"] > 150, (name, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], (name, box)
        assert page.locator(f"#chart-{name} table tbody tr").count() >= 1
        figure_boxes.append(box)
    assert sideways(page) <= 0, f"the dashboard scrolls sideways on a {size}"
    if size == "tablet":  # side by side, two charts a row at least
        assert figure_boxes[0]["y"] == figure_boxes[1]["y"]
    # a chart's text stays readable once scaled to the screen (drawn at 16 units)
    scale = figure_boxes[0]["width"] / 400
    assert 16 * scale >= 12, scale
    shoot(page, f"dashboard-{size}")

    first = page.locator("table.indicators details").first
    first.locator("summary").click()
    assert first.locator(".definition").is_visible()
    page.locator("#chart-monitoring").screenshot(
        path=str(shoot.__globals__["SHOTS"] / f"dashboard-monitoring-{size}.png")
    )
    assert not errors, errors
