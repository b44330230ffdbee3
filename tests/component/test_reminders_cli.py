"""`keneya reminders plan|send` as a script runs them: JSON plan, queue once, one-line errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from appliance.paths import Paths
from appliance.services import auth, encounters, patients
from appliance.services.context import Context
from appliance.store import Store
from tests.conftest import PINS, keneya

pytestmark = pytest.mark.component


@pytest.fixture
def home(tmp_path):
    """A facility with one consenting patient and one who did not agree, both due in 2 days."""
    today = datetime.now(UTC).date()
    with Store(Paths.for_home(tmp_path).database, create=True) as store:
        store.set_setting("facility_code", "KLB")
        store.set_setting("facility_name", "CSCom Kalaban")
        ctx = Context.open(store)
        auth.add_staff(
            ctx, None, username="admin", display_name="Admin", role="admin", pin=PINS["admin"]
        )
        admin = auth.login(ctx, "admin", pin=PINS["admin"])
        auth.add_staff(
            ctx, admin, username="nurse", display_name="Nurse", role="nurse", pin=PINS["nurse"]
        )
        nurse = auth.login(ctx, "nurse", pin=PINS["nurse"])
        for given, phone, consent in (("Awa", "76000001", True), ("Fanta", "76000002", False)):
            p = patients.register(
                ctx,
                nurse,
                {
                    "family_name": "Diarra",
                    "given_names": given,
                    "sex": "F",
                    "birth_date": "1980-01-01",
                    "phone": phone,
                    "sms_consent": consent,
                },
                accept_duplicates=True,
            )
            encounters.add(
                ctx,
                nurse,
                p["id"],
                "chronic",
                {
                    "care_date": today.isoformat(),
                    "condition": "hypertension",
                    "next_visit": (today + timedelta(days=2)).isoformat(),
                },
            )
    Paths.for_home(tmp_path).facility_file.parent.mkdir(parents=True, exist_ok=True)
    return tmp_path


def _facility(home, text):
    Paths.for_home(home).facility_file.write_text(text)


def test_plan_json_then_send_queues_once(home):
    _facility(home, "[reminders]\nenabled = true\ndaily_max = 5\n")
    today = datetime.now(UTC).date().isoformat()
    r = keneya(
        home, "reminders", "plan", "--date", today, "--json", "--as", "nurse", pin=PINS["nurse"]
    )
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    [sms] = plan["reminders"]
    assert sms["phone"] == "+22376000001" and "rendez-vous au centre de santé" in sms["text"]
    assert [s["why"] for s in plan["skipped"]] == ["no_consent"]
    assert plan["caps"]["daily_max"] == 5 and plan["cost_xof"] == 25
    first = keneya(home, "reminders", "send", "--json", "--as", "nurse", pin=PINS["nurse"])
    assert first.returncode == 0, first.stderr
    assert len(json.loads(first.stdout)["queued_ids"]) == 1
    again = keneya(home, "reminders", "send", "--json", "--as", "nurse", pin=PINS["nurse"])
    assert json.loads(again.stdout)["queued_ids"] == []


@pytest.mark.parametrize(
    "text, words",
    [
        ("[reminders]\ndays_before = 0\n", "days_before must be a whole number from 1 to 14"),
        ("[reminders]\nenabled = false\n", "SMS reminders are off"),
        ('[reminders]\nenabled = true\ntemplates = "/nowhere.json"\n', "no such template file"),
    ],
)
def test_errors_are_one_line(home, text, words):
    _facility(home, text)
    r = keneya(home, "reminders", "send", "--as", "nurse", pin=PINS["nurse"])
    assert r.returncode != 0
    assert words in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
