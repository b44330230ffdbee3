"""The kiosk in English shows no French: alerts, due reasons, status values and every msgid
of kiosk_ui have their English (the catalogue read by Babel, as the kiosk reads it)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.extract import extract_from_dir

from appliance.services import encounters
from appliance.web.i18n import catalog
from kiosk_ui.viewmodels.due import DueVM
from kiosk_ui.viewmodels.encounter import EncounterVM
from kiosk_ui.viewmodels.home import HomeVM
from kiosk_ui.viewmodels.record import RecordVM
from kiosk_ui.viewmodels.status import StatusVM

ROOT = Path(__file__).resolve().parents[3]
FRENCH = re.compile(r"[àâçéèêëîïôûùüÿœæÀÂÇÉÈÊËÎÏÔÛÙÜŸŒÆ]")
# French words without an accent that an untranslated text would still show
FRENCH_WORDS = re.compile(r"\b(du|le|la|les|des|semaines|vaccin|jours|mois|ans|Suivi|CPN)\b")


def no_french(text: str, what: str) -> None:
    assert not FRENCH.search(text) and not FRENCH_WORDS.search(text), f"{what}: {text!r}"


def _pregnant(ctx, actors, aminata) -> None:
    encounters.add(
        ctx,
        actors["midwife"],
        aminata["id"],
        "anc",
        {
            "care_date": "2026-10-14",
            "gestational_age_weeks": 30,
            "bp_systolic": 165,
            "bp_diastolic": 112,
            "temperature_c": 38.5,
            "danger_signs": ["bleeding", "severe_headache"],
        },
    )


def test_record_alerts_and_due_in_english(kiosk, ctx, actors, aminata):
    _pregnant(ctx, actors, aminata)
    vm = RecordVM(kiosk("midwife", lang="en"), aminata["id"])
    vm.open()
    assert len(vm.alerts) >= 4
    for a in vm.alerts:
        no_french(a["reason"], "alert reason")
        no_french(a["action"], "alert action")
        no_french(a["severity_label"], "alert severity")
    reasons = [a["reason"] for a in vm.alerts]
    assert "BP 165/112 mmHg (ANC of 14/10/2026)" in reasons
    assert "Danger sign: vaginal bleeding (ANC of 14/10/2026)" in reasons
    assert "Temp. 38.5 °C (≥ 38 °C) (ANC of 14/10/2026)" in reasons
    assert vm.due
    for d in vm.due:
        no_french(d["text"], "due reason")
        no_french(d["status_label"], "due status")
    for row in vm.timeline:
        no_french(f"{row['kind_label']} {row['summary']}", "timeline")
    assert any(f.startswith("Pregnancy under way: 30 weeks") for f in vm.facts)

    # the same record in French keeps its French
    fr = RecordVM(kiosk("midwife"), aminata["id"])
    fr.open()
    assert "TA 165/112 mmHg (CPN du 14/10/2026)" in [a["reason"] for a in fr.alerts]
    assert "T° 38,5 °C (≥ 38 °C) (CPN du 14/10/2026)" in [a["reason"] for a in fr.alerts]


def test_home_alerts_and_due_list_in_english(kiosk, ctx, actors, aminata, child):
    _pregnant(ctx, actors, aminata)
    home = HomeVM(kiosk("midwife", lang="en"))
    home.load()
    assert home.alerts
    for a in home.alerts:
        no_french(a["reason"], "home alert reason")
        no_french(a["action"], "home alert action")
    due = DueVM(kiosk("nurse", lang="en"))
    seen = []
    for name in ("today", "upcoming", "defaulters"):
        due.choose(list_name=name, days=30)
        for row in due.items:
            seen.append(row["reason"])
            no_french(row["reason"], f"{name} reason")
            no_french(row["state_label"], f"{name} state")
    assert seen, "the lists showed nothing to check"


def test_status_screen_in_english(kiosk, ctx):
    ctx.clock.mark_trusted("staff", datetime(2026, 10, 15, 9, 0, tzinfo=UTC))
    vm = StatusVM(kiosk("technician", lang="en"))
    vm.load()
    assert vm.error is None and vm.sections
    rows = [(s["title"], "") for s in vm.sections] + [r for s in vm.sections for r in s["rows"]]
    for label, value in rows:
        no_french(f"{label} {value}", "status row")
    clock = next(v for label, v in rows if label == "Time")
    assert "confirmed (by staff)" in clock


def test_encounter_live_feedback_in_english(kiosk, child, aminata):
    """What the forms say while typing: dose suggestions, a refused dose, live alerts."""
    vm = EncounterVM(kiosk("nurse", lang="en"), child["id"], "consultation")
    vm.set("diagnoses", "malaria_confirmed")
    vm.set("weight_kg", "10")
    texts = [i["text"] for i in vm.live]
    assert any("Artemether-lumefantrine 20/120 mg, tablet — 1 tablet per dose" in t for t in texts)
    vm.set("diagnoses", "pneumonia")
    vm.set("weight_kg", "45")  # implausible at 18 months: the refusal says why
    texts += [i["text"] for i in vm.live]
    anc = EncounterVM(kiosk("midwife", lang="en"), aminata["id"], "anc")
    anc.set("bp_systolic", "165")
    anc.set("bp_diastolic", "112")
    texts += [i["text"] for i in anc.live]
    assert any("BP 165/112 mmHg" in t for t in texts), texts
    assert any("implausible" in t for t in texts), texts
    for text in texts:
        no_french(text, "live feedback")


def test_every_kiosk_msgid_has_its_english():
    """Every N_/t/tr string of kiosk_ui (what the screens and view-models show) has an
    English msgstr in the catalogue, with no French left in it."""
    method_map = [("kiosk_ui/**.py", "python")]
    keywords = {"_": None, "N_": None, "t": None, "tr": None}
    english = catalog("en")
    found = {
        message: f"{filename}:{lineno}"
        for filename, lineno, message, _c, _x in extract_from_dir(
            str(ROOT), method_map, keywords=keywords
        )
        if isinstance(message, str)
    }
    assert len(found) > 150
    missing = {m: where for m, where in found.items() if not english.get(m, "").strip()}
    assert not missing, f"kiosk strings without English: {missing}"
    french = {m: english[m] for m in found if FRENCH.search(english[m])}
    assert not french, f"English msgstr still French: {french}"
