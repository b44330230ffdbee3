"""The referral pages in headless Chromium at a phone's and a tablet's size: the midwife
refers from the record by touch (the form comes pre-filled), nothing scrolls sideways, and the
counter-referral is typed on the referral's page. Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import pytest

from appliance.paths import Paths
from tests.component.test_referrals_web import FACILITY, staff, woman  # noqa: F401 (fixtures)
from tests.component.test_web_follow_up_browser import (  # noqa: F401 (fixtures)
    PHONE,
    TABLET,
    base_url,
    browser,
    shoot,
    sideways,
)
from tests.component.web_session import PASSWORDS, USERNAMES, web_app

pytestmark = pytest.mark.component


@pytest.fixture
def app(tmp_path, store, fake_time, staff):  # noqa: F811
    facility_file = Paths.for_home(tmp_path).facility_file
    facility_file.parent.mkdir(parents=True, exist_ok=True)
    facility_file.write_text(FACILITY)
    store.set_setting("facility_name", "CSCom Kalaban")
    return web_app(tmp_path, fake_time)


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("tablet", TABLET)])
def test_refer_and_record_the_return_by_touch(browser, base_url, woman, size, viewport):  # noqa: F811
    context = browser.new_context(viewport=viewport, base_url=base_url, locale="fr-FR")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/")
    page.fill("input[name=username]", USERNAMES["midwife"])
    page.fill("input[name=password]", PASSWORDS["midwife"])
    page.get_by_role("button", name="Se connecter").click()
    page.locator("header .me").wait_for()
    page.goto(f"/patients/{woman['id']}")
    page.get_by_role("link", name="Référer au CSRéf").click()
    page.locator("h1", has_text="Référer au CSRéf").wait_for()
    assert page.locator("select[name=reason]").input_value() == "severe_preeclampsia"
    assert page.locator("input[name=bp_systolic]").input_value() == "172"
    assert sideways(page) == 0
    shoot(page, f"referral-form-{size}")
    page.fill("textarea[name=done_given]", "Sulfate de magnésium 4 g IV")
    page.check("input[name=sms_consent]")
    page.get_by_role("button", name="Enregistrer et imprimer la fiche").click()
    page.locator("text=SMS en attente du réseau").wait_for()
    assert sideways(page) == 0
    shoot(page, f"referral-{size}")
    href = page.get_by_role("link", name="Imprimer la fiche de référence").get_attribute("href")
    assert href.endswith("/fiche.pdf")
    page.select_option("select[name=outcome]", "treated_returned")
    page.fill("input[name=diagnosis]", "Pré-éclampsie")
    page.get_by_role("button", name="Enregistrer la contre-référence").click()
    page.locator("text=traité(e) et renvoyé(e) au CSCom").wait_for()
    page.goto("/referrals")
    page.locator("text=Aucune référence en attente.").wait_for()
    assert sideways(page) == 0
    shoot(page, f"referrals-{size}")
    # every button of the form is a finger's size on a phone
    page.goto(f"/patients/{woman['id']}/referral")
    heights = page.locator("form button, form select, form input[type=time]").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height)"
    )
    assert min(heights) >= 40, heights
    assert errors == []
    context.close()
