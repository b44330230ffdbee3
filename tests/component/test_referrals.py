"""Referral and counter-referral on a real SQLite file: the form pre-filled from the gravity
alert, consent and the SMS, the case history kept as it was, the fiche, the awaiting and late
lists, a counter-referral written once, a merge, the roles, and the command line."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from appliance.domain.encounters import InvalidEncounter
from appliance.domain.referrals import referral_rules_from
from appliance.paths import Paths
from appliance.reports.referral_pdf import fiche_pdf
from appliance.services import auth, encounters, patients
from appliance.services import referrals as service
from appliance.services.context import Context
from appliance.services.errors import Conflict, PermissionDenied
from appliance.store import Store
from tests.conftest import PINS, keneya

pytestmark = pytest.mark.component

RULES = referral_rules_from(
    {
        "return_after_days": 10,
        "receiving": [{"code": "KATI", "name": "CSRéf de Kati", "phone": "+22376000001"}],
    }
)


@pytest.fixture
def woman(ctx, actors):
    """A woman at 34 weeks whose ANC today has a blood pressure of 168/112 and a headache."""
    ctx.store.set_setting("facility_name", "CSCom Kalaban")
    today = ctx.now().today
    p = patients.register(
        ctx,
        actors["midwife"],
        {"family_name": "Diakité", "given_names": "Rokia", "sex": "F", "birth_date": "2001-01-10",
         "village": "Kalaban"},
    )  # fmt: skip
    encounters.add(
        ctx,
        actors["midwife"],
        p["id"],
        "anc",
        {
            "care_date": today.isoformat(),
            "lmp": (today - timedelta(weeks=34)).isoformat(),
            "gravida": 3,
            "parity": 2,
            "bp_systolic": 168,
            "bp_diastolic": 112,
            "danger_signs": ["severe_headache"],
        },
    )
    return p


def _form(ctx, **kw):
    return {
        "care_date": ctx.now().today.isoformat(),
        "reason": "severe_preeclampsia",
        "urgency": "urgent",
        "to_facility": "KATI",
        "transport": "ambulance",
        **kw,
    }


def test_the_form_starts_from_the_alert_and_todays_vitals(ctx, actors, woman):
    start = service.prefill(ctx, actors["midwife"], woman["id"])
    assert start["reason"] == "severe_preeclampsia"
    assert start["alert_code"] == "anc.hypertension.severe"
    assert start["urgency"] == "urgent"
    assert start["vitals"] == {"bp_systolic": 168, "bp_diastolic": 112}


def test_a_referral_keeps_the_case_as_it_was_and_records_consent(ctx, actors, woman):
    r = service.create(
        ctx, actors["midwife"], woman["id"], _form(ctx, sms_consent=True), rules=RULES
    )
    history = r["data"]["history"]
    assert history["pregnancy"]["weeks"] == 34 and history["last_vitals"]["bp_systolic"] == 168
    assert "anc.hypertension.severe" in {a["code"] for a in history["alerts"]}
    # the second opinion's minimal summary: no name, village or phone
    assert not {"name", "village", "phone"} & set(history)
    assert "Rokia" not in str(history) and "Kalaban" not in str(history)
    assert r["data"]["to_name"] == "CSRéf de Kati" and r["evacuation"] is True
    assert r["sms_status"] == "queued" and "Rokia" not in r["sms_text"]
    [row] = [a for a in ctx.store.audit.for_patient(woman["id"]) if a["action"] == "referral.add"]
    assert row["detail"]["sms_consent"] is True and row["detail"]["sms"] == "queued"
    # without consent: nothing queued, and the record says why
    r2 = service.create(ctx, actors["midwife"], woman["id"], _form(ctx), rules=RULES)
    assert r2["sms_status"] == "no_consent" and r2["sms_phone"] is None
    assert ctx.store.referrals.sms_to_send() == [
        {"id": r["id"], "patient_id": woman["id"], "sms_phone": "+22376000001",
         "sms_text": r["sms_text"]}
    ]  # fmt: skip


def test_the_fiche_prints_who_why_and_the_health_number(ctx, actors, woman):
    r = service.create(ctx, actors["midwife"], woman["id"], _form(ctx), rules=RULES)
    pdf = fiche_pdf(r)
    reader = PdfReader(__import__("io").BytesIO(pdf))
    text = reader.pages[0].extract_text()
    assert len(reader.pages) == 1  # one A5 sheet travels with the patient
    for words in ("FICHE DE RÉFÉRENCE", "URGENTE", "Diakité Rokia", woman["health_number"],
                  "Pré-éclampsie sévère", "168/112", "34 SA", "CONTRE-RÉFÉRENCE"):  # fmt: skip
        assert words in text, words
    assert reader.pages[0].mediabox.width == pytest.approx(148 / 25.4 * 72, abs=1)


def test_awaiting_late_and_the_counter_referral_written_once(ctx, actors, woman, fake_time):
    r = service.create(ctx, actors["midwife"], woman["id"], _form(ctx), rules=RULES)
    [waiting] = service.awaiting(ctx, actors["nurse"], rules=RULES)
    assert waiting["id"] == r["id"] and waiting["late"] is False
    assert service.count_late(ctx, rules=RULES) == 0
    fake_time.t += 11 * 86400  # 11 days later, over return_after_days = 10
    assert service.count_late(ctx, rules=RULES) == 1
    [late] = service.awaiting(ctx, actors["nurse"], rules=RULES, late_only=True)
    assert late["days_waiting"] == 11 and late["late"] is True
    today = ctx.now().today.isoformat()
    with pytest.raises(InvalidEncounter, match="diagnosis"):
        service.record_return(
            ctx, actors["nurse"], r["id"], {"returned_on": today, "outcome": "treated_returned"}
        )
    back = service.record_return(
        ctx,
        actors["nurse"],
        r["id"],
        {"returned_on": today, "outcome": "admitted_discharged", "diagnosis": "Pré-éclampsie",
         "treatment": "Sulfate de magnésium, césarienne", "instructions": "TA chaque semaine"},
    )  # fmt: skip
    assert back["returned_on"] == today and back["return_data"]["outcome"] == "admitted_discharged"
    assert service.awaiting(ctx, actors["nurse"], rules=RULES) == []
    assert service.count_late(ctx, rules=RULES) == 0
    with pytest.raises(Conflict, match="already recorded"):
        service.record_return(
            ctx, actors["nurse"], r["id"], {"returned_on": today, "outcome": "died"}
        )
    text = PdfReader(__import__("io").BytesIO(fiche_pdf(back))).pages[0].extract_text()
    assert "TA chaque semaine" in text


def test_the_database_itself_refuses_rewrites_and_deletes(ctx, actors, woman):
    r = service.create(ctx, actors["midwife"], woman["id"], _form(ctx), rules=RULES)
    conn = ctx.store.conn
    for sql in (
        "UPDATE referrals SET reason = 'other' WHERE id = ?",
        "UPDATE referrals SET data = '{}' WHERE id = ?",
        "DELETE FROM referrals WHERE id = ?",
    ):
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(sql, (r["id"],))
    service.void(ctx, actors["midwife"], r["id"], reason="wrong patient")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE referrals SET voided_reason = 'x' WHERE id = ?", (r["id"],))
    assert service.awaiting(ctx, actors["nurse"], rules=RULES) == []


def test_a_merge_takes_the_referrals_to_the_kept_record(ctx, actors, woman):
    r = service.create(ctx, actors["midwife"], woman["id"], _form(ctx), rules=RULES)
    twin = patients.register(
        ctx,
        actors["midwife"],
        {"family_name": "Diakité", "given_names": "Rokia", "sex": "F", "birth_date": "2001-01-10",
         "village": "Kalaban"},
        accept_duplicates=True,
    )  # fmt: skip
    patients.merge(ctx, actors["doctor"], keep=twin["id"], merge_from=woman["id"], reason="twin")
    assert ctx.store.referrals.get(r["id"])["patient_id"] == twin["id"]


def test_who_may_refer(ctx, actors, woman):
    for role in ("health_worker", "technician", "admin"):
        with pytest.raises(PermissionDenied):
            service.create(ctx, actors[role], woman["id"], _form(ctx), rules=RULES)
    for role in ("doctor", "nurse", "midwife", "matron"):
        service.create(ctx, actors[role], woman["id"], _form(ctx), rules=RULES)


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path):
    with Store(Paths.for_home(tmp_path).database, create=True) as store:
        store.set_setting("facility_code", "KLB")
        store.set_setting("facility_name", "CSCom Kalaban")
        ctx = Context.open(store)
        auth.add_staff(ctx, None, username="admin", display_name="Admin", role="admin",
                       pin=PINS["admin"])  # fmt: skip
        admin = auth.login(ctx, "admin", pin=PINS["admin"])
        auth.add_staff(ctx, admin, username="sf", display_name="Sage-femme", role="midwife",
                       pin=PINS["midwife"])  # fmt: skip
        sf = auth.login(ctx, "sf", pin=PINS["midwife"])
        patients.register(
            ctx, sf,
            {"family_name": "Traoré", "given_names": "Awa", "sex": "F", "birth_date": "1999-05-05"},
        )  # fmt: skip
    Paths.for_home(tmp_path).facility_file.write_text(
        '[referral]\nsms_detail = "urgency"\n[[referral.receiving]]\ncode = "KATI"\n'
        'name = "CSRéf de Kati"\nphone = "+22376000001"\n'
    )
    return tmp_path


def test_the_command_line_refers_lists_and_records_the_return(home, tmp_path):
    pin = PINS["midwife"]
    found = keneya(home, "patient", "search", "traore", "--json", "--as", "sf", pin=pin)
    hn = json.loads(found.stdout)[0]["health_number"]
    fiche = tmp_path / "fiche.pdf"
    r = keneya(home, "referral", "new", hn, "--to", "KATI", "--reason", "haemorrhage",
               "--urgency", "urgent", "--bp", "90/50", "--pulse", "128", "--sms-consent",
               "--pdf", str(fiche), "--json", "--as", "sf", pin=pin)  # fmt: skip
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["data"]["vitals"] == {"bp_systolic": 90, "bp_diastolic": 50, "pulse_bpm": 128}
    # sms_detail = "urgency": the SMS says urgent, not the haemorrhage
    assert "hémorragie" not in made["sms_text"] and "urgente" in made["sms_text"]
    assert fiche.read_bytes().startswith(b"%PDF")
    listed = keneya(home, "referral", "list", "--json", "--as", "sf", pin=pin)
    assert [x["id"] for x in json.loads(listed.stdout)["referrals"]] == [made["id"]]
    today = datetime.now(UTC).date().isoformat()
    back = keneya(home, "referral", "return", made["id"], "--outcome", "treated_returned",
                  "--diagnosis", "Hémorragie du post-partum", "--returned-on", today,
                  "--json", "--as", "sf", pin=pin)  # fmt: skip
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["return_data"]["diagnosis"] == "Hémorragie du post-partum"
    empty = keneya(home, "referral", "list", "--as", "sf", pin=pin)
    assert empty.stdout.strip() == "aucune référence"
    month = keneya(home, "referral", "list", "--month", today[:7], "--json", "--as", "sf", pin=pin)
    assert json.loads(month.stdout)["count"] == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--to", "NOWHERE", "--reason", "trauma"), "no receiving facility 'NOWHERE'"),
        (("--to", "KATI", "--reason", "trauma", "--bp", "high"), "write it as 165/112"),
        (("--to", "KATI"), "give --reason"),
        (("--to", "KATI", "--reason", "trauma", "--temp", "55"), "outside the plausible range"),
    ],
)
def test_bad_input_is_one_line(home, args, words):
    pin = PINS["midwife"]
    found = keneya(home, "patient", "search", "traore", "--json", "--as", "sf", pin=pin)
    hn = json.loads(found.stdout)[0]["health_number"]
    r = keneya(home, "referral", "new", hn, *args, "--as", "sf", pin=pin)
    assert r.returncode == 2
    assert words in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_referral_unanswered_for_three_months_is_no_longer_chased(ctx, actors, woman, fake_time):
    r = service.create(ctx, actors["midwife"], woman["id"], _form(ctx), rules=RULES)
    fake_time.t += 89 * 86400
    assert service.count_late(ctx, rules=RULES) == 1
    fake_time.t += 2 * 86400  # 91 days: most papers never come back; the list stays current
    assert service.count_late(ctx, rules=RULES) == 0
    assert service.awaiting(ctx, actors["nurse"], rules=RULES) == []
    assert [x["id"] for x in service.of_patient(ctx, actors["nurse"], woman["id"])] == [r["id"]]


def test_an_urgent_referral_typed_after_the_event_sends_no_sms(ctx, actors, woman):
    yesterday = (ctx.now().today - timedelta(days=1)).isoformat()
    r = service.create(
        ctx, actors["midwife"], woman["id"], _form(ctx, care_date=yesterday, sms_consent=True),
        rules=RULES,
    )  # fmt: skip
    assert r["sms_status"] == "backdated" and ctx.store.referrals.sms_to_send() == []


def test_the_alert_is_kept_only_when_it_suggests_the_reason_chosen(ctx, actors, woman):
    kept = service.create(
        ctx, actors["midwife"], woman["id"],
        _form(ctx, alert_code="anc.hypertension.severe"), rules=RULES,
    )  # fmt: skip
    assert kept["data"]["alert_code"] == "anc.hypertension.severe"
    other = service.create(
        ctx, actors["midwife"], woman["id"],
        _form(ctx, reason="trauma", alert_code="anc.hypertension.severe"), rules=RULES,
    )  # fmt: skip
    assert "alert_code" not in other["data"]


def test_the_fiche_writes_bambara_letters_as_their_nearest_latin(ctx, actors):
    p = patients.register(
        ctx, actors["midwife"],
        {"family_name": "Kɔnɛ", "given_names": "Ɲaarɛ Œlia", "sex": "F",
         "birth_date": "2000-01-01"},
    )  # fmt: skip
    r = service.create(
        ctx, actors["midwife"], p["id"],
        _form(ctx, reason="trauma", accompanied_by="Sa sœur Awa"), rules=RULES,
    )  # fmt: skip
    text = PdfReader(__import__("io").BytesIO(fiche_pdf(r))).pages[0].extract_text()
    assert "Kone Nyaare OElia" in text and "Sa soeur Awa" in text and "?" not in text
