"""The power banner in a real browser on a 360 px phone: the countdown on every page, the
"Annuler l'arrêt" button for a nurse (CSRF form, audited, back to the same page), a line
saying who may for a matron, and the banner following the monitor without a reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from appliance.clock import to_iso
from appliance.store import Store

pytestmark = pytest.mark.e2e

PHONE_360 = {"width": 360, "height": 740}

BANNER_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll('#power-banner, #power-banner *')]
    .filter(e => e.getBoundingClientRect().right > width + 1 || e.getBoundingClientRect().left < 0)
    .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
}"""


def write_state(server, **row) -> int | None:
    """What keneya-power writes: a decided shutdown (its event and the countdown) or a
    plain state. Returns the shutdown's event id."""
    now = datetime.now(UTC)
    base = {"sampled_at": to_iso(now), "clock_trusted": True, "source": "ina219", "soc": 9.0}
    with Store(server.database) as store:
        eid = None
        if row.get("state") == "shutdown_pending":
            eid = store.power.add_event(
                {"at": to_iso(now), "clock_trusted": 1, "kind": "shutdown_decided"}
            )
            row = {
                "shutdown_event_id": eid,
                "shutdown_deadline": to_iso(now + timedelta(minutes=10)),
            } | row
        store.power.set_state(base | row, clear_cancel=True)
    return eid


def test_the_countdown_and_its_cancel_on_a_360_px_phone(
    new_page, server, problems, screenshots: Path
):
    eid = write_state(server, state="shutdown_pending")
    try:
        page = new_page(PHONE_360)
        server.log_in(page, "nurse")
        page.goto("/patients")
        banner = page.locator("#power-banner")
        expect(banner.locator(".power-text")).to_contain_text("Arrêt dans")
        button = banner.get_by_role("button", name="Annuler l'arrêt")
        expect(button).to_be_visible()
        box = button.bounding_box()
        assert box is not None and box["height"] >= 48 and box["x"] + box["width"] <= 360
        assert page.evaluate(BANNER_OVERFLOW) == []
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px on a 360 px phone"
        page.screenshot(path=str(screenshots / "power-banner-360.png"))

        # a matron sees the countdown and who may cancel, no button
        other = new_page(PHONE_360)
        server.log_in(other, "matron")
        expect(other.locator("#power-banner .power-who")).to_contain_text("Infirmier")
        expect(other.locator("#power-banner button")).to_have_count(0)
        assert other.evaluate(BANNER_OVERFLOW) == []
        other.screenshot(path=str(screenshots / "power-banner-360-matron.png"))

        # the nurse cancels: back on the same page, the banner names her, the row is written
        button.click()
        expect(page).to_have_url(server.base_url + "/patients")
        with Store(server.database) as store:
            row = store.power.state()
            name = store.staff.by_username(server.logins["nurse"][0])["display_name"]
            audit = store.query("SELECT username FROM audit WHERE action = 'power.cancel_shutdown'")
        assert row["cancel_for"] == eid
        assert row["cancel_requested_by"] == server.logins["nurse"][0]
        assert [a["username"] for a in audit][-1:] == [server.logins["nurse"][0]]
        expect(banner.locator(".power-text")).to_have_text(f"Arrêt annulé par {name}")
        expect(banner.locator("button")).to_have_count(0)
        page.screenshot(path=str(screenshots / "power-banner-360-cancelled.png"))

        # the matron's page follows the monitor without a reload
        write_state(server, state="warn", soc=34.0, runtime_min=1145)
        expect(other.locator("#power-banner .power-text")).to_have_text(
            "Batterie faible : 34 % (arrêt dans environ 19 h)", timeout=15_000
        )
    finally:
        write_state(server, state="ok", soc=80.0)
    assert not problems.messages, "\n".join(problems.messages)
    assert "Traceback" not in server.log_text()


def test_a_silent_monitor_on_a_360_px_phone(new_page, server, problems, screenshots: Path):
    """keneya-power killed mid-countdown: no frozen 0:00 for a matron, the silent line on
    every page, and the status page's power section says since when, on a phone."""
    killed = datetime.now(UTC) - timedelta(minutes=10)
    with Store(server.database) as store:
        eid = store.power.add_event(
            {"at": to_iso(killed), "clock_trusted": 1, "kind": "shutdown_decided"}
        )
        store.power.set_state(
            {
                "sampled_at": to_iso(killed),
                "clock_trusted": True,
                "source": "ina219",
                "state": "shutdown_pending",
                "reason": "voltage 11.3 V < 11.4 V",
                "voltage_v": 11.3,
                "soc": 9.0,
                "shutdown_event_id": eid,
                "shutdown_deadline": to_iso(killed + timedelta(seconds=105)),
            },
            clear_cancel=True,
        )
    try:
        page = new_page(PHONE_360)
        server.log_in(page, "matron")
        banner = page.locator("#power-banner")
        expect(banner.locator(".power-text")).to_have_text(
            "Surveillance de la batterie arrêtée — prévenez le technicien"
        )
        expect(banner.locator("button")).to_have_count(0)
        expect(banner.locator(".power-who")).to_have_count(0)
        assert page.evaluate(BANNER_OVERFLOW) == []
        page.screenshot(path=str(screenshots / "power-silent-360.png"))
        page.goto("/status")
        expect(page.locator(".monitor-silent")).to_have_text(
            f"le moniteur de batterie ne répond plus depuis {killed.strftime('%H:%M')} (UTC)"
        )
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the status page scrolls sideways by {overflow}px"
        assert "voltage 11.3 V" not in page.content()  # the technician's line, not hers
        page.screenshot(path=str(screenshots / "power-silent-status-360.png"), full_page=True)
        tech = new_page(PHONE_360)
        server.log_in(tech, "technician")
        tech.goto("/status")
        expect(tech.locator("dd.power-reason")).to_have_text("voltage 11.3 V < 11.4 V")
        tech.screenshot(path=str(screenshots / "power-silent-status-360-technician.png"))
    finally:
        write_state(server, state="ok", soc=80.0)
    assert not problems.messages, "\n".join(problems.messages)
    assert "Traceback" not in server.log_text()
