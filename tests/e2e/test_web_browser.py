"""The tablet web app in a real browser: login and language, the midwife's ANC visit with the
duplicate warning and the pre-eclampsia alert, the health worker's weighing with the growth
chart, a refused form that keeps what was typed, and a screenshot of each main page."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

PHONE = {"width": 412, "height": 915}


def today() -> date:
    """The server's day: the machine clock in UTC (Mali keeps UTC all year)."""
    return datetime.now(UTC).date()


def dmy(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def shoot(page: Page, screenshots: Path, name: str) -> Path:
    path = screenshots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.exists() and path.stat().st_size > 0, path
    return path


def assert_clean(problems, server) -> None:
    assert not problems.messages, "\n".join(problems.messages)
    log = server.log_text()
    assert "Traceback" not in log, log


def open_form(page: Page, kind: str) -> None:
    page.locator(f"a.button[href*='/encounters/new?type={kind}']").click()
    expect(page.locator(f"input[name=type][value={kind}]")).to_have_count(1)


def register(page: Page, **fields: str) -> None:
    page.goto("/patients/new")
    for name in ("family_name", "given_names", "birth_date", "age_years", "age_months"):
        if name in fields:
            page.fill(f"input[name={name}]", fields[name])
    page.check(f"input[name=sex][value={fields['sex']}]")
    page.fill("input[name=village]", fields["village"])
    page.get_by_role("button", name="Enregistrer", exact=True).click()


RECORD_URL = re.compile(r"/patients/[0-9a-f-]{36}$")


def test_login_page_in_french_with_csrf_then_english(new_page, server, problems, screenshots: Path):
    page = new_page()
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("h1")).to_have_text("Connexion")
    csrf = page.locator("form[action='/login'] input[type=hidden][name=csrf]")
    expect(csrf).to_have_count(1)
    assert len(csrf.get_attribute("value") or "") >= 16
    expect(page.get_by_role("button", name="Se connecter")).to_be_visible()
    shoot(page, screenshots, "01-login")

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Français")).to_be_visible()
    shoot(page, screenshots, "01b-login-en")

    phone = new_page(PHONE)
    phone.goto("/")
    expect(phone.locator("html")).to_have_attribute("lang", "fr")
    shoot(phone, screenshots, "01c-login-phone")
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the login page scrolls sideways on a phone by {overflow}px"
    assert_clean(problems, server)


def existing_woman(server) -> dict:
    """An adult woman of the seed with a village: the one a near-duplicate should find."""
    year = today().year
    with server.db() as conn:
        row = conn.execute(
            "SELECT * FROM patients WHERE sex = 'F' AND village IS NOT NULL AND merged_into IS NULL"
            " AND CAST(substr(birth_date, 1, 4) AS INTEGER) BETWEEN ? AND ?"
            " ORDER BY sequence LIMIT 1",
            (year - 40, year - 20),
        ).fetchone()
    assert row is not None, "the seed has no adult woman with a village"
    return dict(row)


def test_midwife_registers_a_pregnant_woman_and_records_anc1(
    new_page, server, problems, screenshots: Path
):
    page = new_page()
    server.log_in(page, "midwife")
    expect(page.locator("h1, h2").first).to_be_visible()
    shoot(page, screenshots, "02-home-midwife")

    # search with results
    woman = existing_woman(server)
    page.goto("/patients")
    page.fill("input[name=q]", woman["family_name"])
    page.keyboard.press("Enter")
    results = page.locator("#results ul.results li a")
    expect(results.first).to_be_visible()
    expect(page.locator("#results")).to_contain_text(woman["health_number"])
    shoot(page, screenshots, "03-search-results")

    # a near-duplicate of an existing woman: same names, same birth year, same village
    problems.allow(409, "/patients/new")  # the duplicate warning's answer
    year = woman["birth_date"][:4]
    other_day = "01-01" if woman["birth_date"][5:] != "01-01" else "12-31"
    register(
        page,
        family_name=woman["family_name"],
        given_names=woman["given_names"].split()[0],
        sex="F",
        birth_date=f"{year}-{other_day}",
        village=woman["village"],
    )
    warning = page.locator(".alert[role=alert]")
    expect(warning).to_contain_text("Ce patient est peut-être déjà enregistré")
    expect(warning).to_contain_text(woman["health_number"])
    expect(warning.locator(f"a[href='/patients/{woman['id']}']")).to_be_visible()
    expect(page.get_by_role("button", name="Enregistrer quand même")).to_be_visible()
    # what was typed is kept
    expect(page.locator("input[name=family_name]")).to_have_value(woman["family_name"])
    shoot(page, screenshots, "04-register-duplicate-warning")

    # a new woman
    register(
        page,
        family_name="Konaté",
        given_names="Mariam",
        sex="F",
        age_years="24",
        village=woman["village"],
    )
    expect(page).to_have_url(RECORD_URL)
    expect(page.locator("h1")).to_have_text("Konaté Mariam")
    record_url = page.url

    # ANC1, BP 150/95, LMP 16 weeks ago
    open_form(page, "anc")
    expect(page.locator("input[name=care_date]")).to_have_value(today().isoformat())
    shoot(page, screenshots, "05-anc-form")
    lmp = today() - timedelta(weeks=16)
    page.fill("input[name=lmp]", lmp.isoformat())
    page.fill("input[name=bp_systolic]", "150")
    page.fill("input[name=bp_diastolic]", "95")
    page.get_by_role("button", name="Enregistrer", exact=True).click()

    expect(page).to_have_url(record_url + "?saved=anc")
    expect(page.locator("p.notice[role=status]")).to_contain_text("Enregistré")
    alerts = page.locator("section:has(h2:text-is('Alertes'))")
    expect(alerts).to_contain_text("TA 150/95")
    expect(alerts).to_contain_text(re.compile(r"pré-éclampsie", re.I))
    expect(alerts.locator(".alert.high")).to_have_count(1)

    pregnancy = page.locator("section:has(h2:text-is('Grossesse en cours'))")
    expect(pregnancy).to_contain_text(f"DDR {dmy(lmp)}")
    expect(pregnancy).to_contain_text("16 semaines")
    expect(pregnancy).to_contain_text("1 CPN faites")
    rows = pregnancy.locator("table tbody tr")
    expect(rows.first).to_be_visible()
    first = rows.first.locator("td")
    expect(first.nth(0)).to_contain_text("CPN 2")
    due = datetime.strptime(first.nth(1).inner_text().strip(), "%d/%m/%Y").date()
    assert today() < due <= today() + timedelta(weeks=6), due
    expect(first.nth(3)).to_contain_text(re.compile("bientôt|à faire"))
    shoot(page, screenshots, "06-record-pregnant-woman")

    phone = new_page(PHONE)
    server.log_in(phone, "midwife")
    phone.goto(record_url)
    expect(phone.locator("h1")).to_have_text("Konaté Mariam")
    shoot(phone, screenshots, "06b-record-pregnant-woman-phone")

    page.goto("/due")
    expect(page.locator("h1")).to_have_text("Qui est attendu")
    shoot(page, screenshots, "08-due-list")
    page.goto("/reports")
    expect(page.locator("h1")).to_have_text("Rapport mensuel d'activités")
    shoot(page, screenshots, "09-report")
    assert_clean(problems, server)


def test_health_worker_weighs_a_child_and_sees_the_growth_chart(
    new_page, server, problems, screenshots: Path
):
    page = new_page()
    server.log_in(page, "health_worker")
    register(
        page,
        family_name="Diallo",
        given_names="Issa Kalifa",
        sex="M",
        age_months="9",
        village="Sanankoro",
    )
    expect(page).to_have_url(RECORD_URL)
    record_url = page.url
    # a health worker may record only immunization and growth
    kinds = page.locator(".actions a.button[href*='/encounters/new']").evaluate_all(
        "links => links.map(a => new URL(a.href).searchParams.get('type'))"
    )
    assert sorted(kinds) == ["growth", "immunization"], kinds

    open_form(page, "growth")
    page.fill("input[name=weight_kg]", "8,4")
    page.fill("input[name=height_cm]", "71")
    page.select_option("select[name=measured]", "lying")
    page.fill("input[name=muac_mm]", "140")
    page.get_by_role("button", name="Enregistrer", exact=True).click()

    expect(page).to_have_url(record_url + "?saved=growth")
    growth = page.locator("section:has(h2:text-is('Croissance'))")
    # the z-score with the reader's decimal mark and a real minus: "Poids/âge −0,5"
    expect(growth.locator("span.z").first).to_have_text(re.compile(r"^Poids/âge [+−]\d+,\d$"))
    expect(growth.locator("span.z", has_text="Taille/âge")).to_have_count(1)
    charts = growth.locator("svg")
    expect(charts).to_have_count(2)
    points = growth.locator("svg circle.point")
    assert points.count() >= 1
    expect(points.first).to_be_visible()
    shoot(page, screenshots, "07-record-child-growth-chart")
    assert_clean(problems, server)


def test_invalid_value_shows_the_error_at_the_field_and_keeps_the_values(
    new_page, server, problems, screenshots: Path
):
    with server.db() as conn:
        child = conn.execute(
            "SELECT id FROM patients WHERE birth_date > ? AND merged_into IS NULL"
            " ORDER BY sequence LIMIT 1",
            ((today() - timedelta(days=600)).isoformat(),),
        ).fetchone()
    assert child is not None, "the seed has no child under 2"
    page = new_page()
    server.log_in(page, "health_worker")
    form_url = f"/patients/{child['id']}/encounters/new"
    problems.allow(422, form_url)  # the refused form's answer
    page.goto(form_url + "?type=growth")
    page.fill("input[name=weight_kg]", "400")
    page.fill("input[name=height_cm]", "68")
    page.select_option("select[name=measured]", "lying")
    page.get_by_role("button", name="Enregistrer", exact=True).click()

    expect(page.locator("p.error[role=alert]")).to_contain_text("n'est pas enregistré")
    weight = page.locator("label:has(input[name=weight_kg])")
    expect(weight).to_have_class(re.compile(r"\binvalid\b"))
    error = page.locator("label:has(input[name=weight_kg]) + span.field-error")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    expect(page.locator("input[name=weight_kg]")).to_have_value("400")
    expect(page.locator("input[name=height_cm]")).to_have_value("68")
    expect(page.locator("select[name=measured]")).to_have_value("lying")
    expect(page.locator("label:has(input[name=height_cm]) + span.field-error")).to_have_count(0)
    shoot(page, screenshots, "10-growth-form-error")
    assert_clean(problems, server)


def test_technician_sees_only_the_status(new_page, server, problems, screenshots: Path):
    page = new_page()
    server.log_in(page, "technician")
    expect(page.locator("header nav a")).to_have_count(1)
    page.goto("/status")
    expect(page.locator("h1")).to_have_text("État de l'appareil")
    shoot(page, screenshots, "11-status-technician")
    problems.allow(403, "/patients")
    response = page.goto("/patients")
    assert response is not None and response.status == 403
    assert_clean(problems, server)


OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll('main *')]
    .filter(e => e.getBoundingClientRect().right > width + 1)
    .filter(e => !e.parentElement || e.parentElement.getBoundingClientRect().right <= width + 1)
    .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
}"""


def test_pregnancy_record_fits_a_phone(new_page, server, problems, screenshots: Path):
    page = new_page(PHONE)
    server.log_in(page, "midwife")
    register(
        page,
        family_name="Konaté",
        given_names="Fatoumata",
        sex="F",
        age_years="31",
        village="Massala",
    )
    expect(page).to_have_url(RECORD_URL)
    open_form(page, "anc")
    page.fill("input[name=lmp]", (today() - timedelta(weeks=20)).isoformat())
    page.fill("input[name=bp_systolic]", "110")
    page.fill("input[name=bp_diastolic]", "70")
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page.locator("h2", has_text="Grossesse en cours")).to_be_visible()
    shoot(page, screenshots, "12-record-pregnancy-phone")
    assert_clean(problems, server)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, (
        f"the record scrolls sideways on a phone by {overflow}px: {page.evaluate(OVERFLOWING)}"
    )
