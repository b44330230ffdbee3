"""The SMS reminder planner on item dicts built by hand: who gets a text, which text, caps."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from appliance.clinical import reminders as rm
from appliance.facility_file import ReminderRules, ReminderSettingsError, reminder_rules_from
from modem.sms import gsm7_length, is_gsm7

ON = date(2026, 10, 15)
RULES = ReminderRules(enabled=True, days_before=2, daily_max=10, monthly_max=100)
# Words that would tell whoever reads the phone what care the patient gets.
FORBIDDEN = (
    "grossesse",
    "enceinte",
    "prénatal",
    "prenatal",
    "postnatal",
    "accouch",
    "cpn",
    "planning",
    "familial",
    "contracep",
    "vih",
    "sida",
    "hiv",
    "td ",
    "tpi",
    "sage-femme",
    "maternit",
    "kono",
    "jigin",
    "hypertension",
    "diab",
)


def item(pid, kind, code, due, *, state="upcoming", phone="+22376000001", mother=False, **kw):
    contact = {"phone": phone, "given_names": "X", "family_name": "Y"}
    if mother:
        contact["phone_of"] = "mother"
    return {
        "patient_id": pid,
        "kind": kind,
        "reason": code,
        "reason_code": code,
        "due_date": due.isoformat(),
        "state": state,
        "priority": kw.get("priority", 4),
        "defaulter_from": kw.get("defaulter_from"),
        "contact": contact,
    }


def people(**over):
    base = {
        "awa": rm.Person(True, "fr", "Awa Kadiatou"),
        "bintou": rm.Person(True, "bm", "Bintou"),
        "issa": rm.Person(False, "fr", "Issa", mother_id="bintou"),
        "moussa": rm.Person(False, "fr", "Moussa", mother_id="bintou"),
        "fanta": rm.Person(False, "fr", "Fanta"),
    }
    base.update(over)
    return base


def run(items, **kw):
    args = {
        "on": ON,
        "people": people(),
        "rules": RULES,
        "templates": rm.default_templates(),
        "facility": "CSCom de Kalaban",
    }
    args.update(kw)
    return rm.plan(items, **args)


def test_shipped_templates_fit_one_sms_and_name_no_care():
    t = rm.default_templates()
    for lang in rm.LANGUAGES:
        for key in rm.TEMPLATE_KEYS:
            filled = t[lang][key].format(
                facility="F" * rm.MAX_FACILITY, date="30/12/2026", given_names="N" * rm.MAX_NAMES
            )
            assert is_gsm7(filled) and gsm7_length(filled) <= 160, (lang, key)
            assert not any(w in filled.lower() for w in FORBIDDEN), (lang, key)


def test_the_copied_gsm7_alphabet_agrees_with_the_modem_encoder():
    for ch in rm.GSM7_BASIC + rm.GSM7_EXTENSION:
        assert is_gsm7(ch) and rm.gsm7_length(ch) == gsm7_length(ch), repr(ch)
    for ch in "ïɛɔɲç€ô":
        assert (rm.gsm7_length(ch) is not None) == is_gsm7(ch), repr(ch)
    assert rm.to_gsm7("Aïssata Kɔnɛ") == "Aissata Kone"


def test_two_days_before_for_a_consenting_patient_only():
    due = ON + timedelta(days=2)
    out = run(
        [
            item("awa", "chronic", "chronic:hypertension", due),
            item("fanta", "chronic", "chronic:diabetes", due, phone="+22376000002"),
            item("awa", "chronic", "chronic:diabetes", ON + timedelta(days=5)),
        ]
    )
    [r] = out["reminders"]
    assert r["patient_id"] == "awa" and r["kind"] == "before" and r["language"] == "fr"
    assert r["reason_codes"] == "chronic:hypertension"
    assert "17/10/2026" in r["text"] and "Awa" in r["text"] and "Kadiatou" not in r["text"]
    assert not any(w in r["text"].lower() for w in FORBIDDEN)
    assert [(s["patient_id"], s["why"]) for s in out["skipped"]] == [("fanta", "no_consent")]


def test_never_family_planning_hiv_or_a_pregnancy_test():
    due = ON + timedelta(days=1)
    out = run(
        [
            item("awa", "family_planning", "fp:injectable", due),
            item("awa", "chronic", "chronic:hiv", due),
            item("awa", "anc", "pregnancy_test", due),
        ]
    )
    assert out["reminders"] == []
    assert sorted(s["why"] for s in out["skipped"]) == ["family_planning", "hiv", "pregnancy_test"]


def test_antenatal_care_is_a_generic_appointment():
    out = run([item("awa", "anc", "anc:3", ON + timedelta(days=2))])
    [r] = out["reminders"]
    assert "rendez-vous au centre de santé" in r["text"]
    assert "vaccin" not in r["text"] and not any(w in r["text"].lower() for w in FORBIDDEN)


def test_a_household_gets_one_bambara_text_for_its_children():
    due = ON + timedelta(days=2)
    out = run(
        [
            item("issa", "immunization", f"{a}:1", due, phone="+22366000005", mother=True)
            for a in ("penta", "pcv", "rota")
        ]
        + [item("moussa", "immunization", "mr:1", due, phone="+22366000005", mother=True)]
    )
    [r] = out["reminders"]
    assert r["patient_id"] == "bintou" and r["language"] == "bm"
    assert r["text"] == rm.default_templates()["bm"]["before_child_vaccine"].format(
        facility="CSCom de Kalaban", date="17/10/2026", given_names="Issa, Moussa"
    )
    assert len(r["items"]) == 4


def test_a_mothers_confidential_item_never_goes_to_someone_elses_phone():
    out = run([item("issa", "pnc", "pnc:mother:j3", ON + timedelta(days=2), mother=True)])
    assert out["reminders"] == [] and out["skipped"][0]["why"] == "confidential_other_phone"


def test_once_when_it_becomes_a_defaulter_and_not_twice():
    d = item(
        "awa",
        "chronic",
        "chronic:hypertension",
        ON - timedelta(days=100),
        state="defaulter",
        defaulter_from=(ON - timedelta(days=1)).isoformat(),
    )
    [r] = run([d])["reminders"]
    assert r["kind"] == "defaulter"
    key = ("awa", "chronic:hypertension", "defaulter", d["due_date"])
    assert run([d], already={key})["reminders"] == []
    # a defaulter for months is not texted when reminders are turned on
    old = {**d, "defaulter_from": (ON - timedelta(days=60)).isoformat()}
    assert run([old])["reminders"] == []


def test_the_caps_skip_and_report_the_rest():
    due = ON + timedelta(days=2)
    items = [
        item(p, "chronic", "chronic:hypertension", due, phone=f"+2237600000{n}")
        for n, p in enumerate(("a", "b", "c", "d"))
    ]
    many = {p: rm.Person(True, "fr", p.upper()) for p in "abcd"}
    out = run(items, people=many, rules=ReminderRules(daily_max=3), sent_today=1)
    assert len(out["reminders"]) == 2 and [c["why"] for c in out["over_cap"]] == ["daily_cap"] * 2
    out = run(
        items,
        people=many,
        rules=ReminderRules(monthly_max=1000, monthly_budget_xof=100, cost_per_sms_xof=25),
        sent_this_month=3,
    )
    assert len(out["reminders"]) == 1 and len(out["over_cap"]) == 3
    assert out["over_cap"][0]["why"] == "monthly_cap" and out["cost_xof"] == 25


def test_an_override_template_file_is_checked(tmp_path):
    doc = json.loads(
        (rm.resources.files("appliance.clinical") / "data/reminder_templates.json").read_text()
    )
    doc["bm"]["before_generic"] = "{facility}: {name}"
    bad = tmp_path / "t.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(rm.TemplateError, match="bm.before_generic: unknown placeholder"):
        rm.load_templates(bad)
    doc["bm"]["before_generic"] = "{facility}: I ni ce, kɔnɔ {date}"
    bad.write_text(json.dumps(doc))
    with pytest.raises(rm.TemplateError, match="not in the GSM alphabet"):
        rm.load_templates(bad)


def test_reminders_section_errors_are_one_line():
    assert reminder_rules_from({"enabled": True, "days_before": 3}).days_before == 3
    for section, words in (
        ({"days_before": 0}, "days_before must be a whole number from 1 to 14"),
        ({"enabled": "yes"}, "enabled must be true or false"),
        ({"daily": 3}, "has no key 'daily'"),
    ):
        with pytest.raises(ReminderSettingsError, match=words) as e:
            reminder_rules_from(section)
        assert "\n" not in str(e.value)


def test_a_phone_texted_earlier_that_day_gets_no_second_sms():
    due = ON + timedelta(days=2)
    out = run([item("awa", "chronic", "chronic:hypertension", due)], phones_done={"+22376000001"})
    assert out["reminders"] == [] and out["skipped"][0]["why"] == "phone_texted_today"
