"""SMS reminders end to end: patients registered with or without consent, their care recorded,
the day's plan queued, and keneya-modem sending it through the E173 simulator on a real pty."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from appliance.facility_file import ReminderRules
from appliance.services import encounters, patients
from appliance.services import reminders as service
from modem.at import AtPort
from modem.config import ModemConfig
from modem.daemon import REMINDER_CHECK_EVERY_S, ModemDaemon
from modem.link import SimulatedLink
from modem.machine import ModemMachine
from modem.uploader import Uploader

pytestmark = pytest.mark.component

FORBIDDEN = (
    "grossesse",
    "enceinte",
    "natal",
    "accouch",
    "cpn",
    "planning",
    "familial",
    "contracep",
    "vih",
    "sida",
    "hiv",
    "tpi",
    "maternit",
    "hypertension",
    "kono",
)


def _woman(ctx, actor, given, phone, *, consent, language="fr", born="1994-02-01"):
    return patients.register(
        ctx,
        actor,
        {
            "family_name": "Coulibaly",
            "given_names": given,
            "sex": "F",
            "birth_date": born,
            "village": "Kalaban",
            "phone": phone,
            "sms_consent": consent,
            "sms_language": language,
        },
        accept_duplicates=True,
    )


@pytest.fixture
def facility(ctx, actors):
    """Six households and their care, on 2026-10-15 (the fixture clock)."""
    doc = actors["doctor"]
    ctx.store.set_setting("facility_name", "CSCom Kalaban")
    today = ctx.now().today
    visit = (today + timedelta(days=2)).isoformat()
    p = {}
    p["awa"] = _woman(ctx, doc, "Awa", "76 00 00 01", consent=True)
    p["fanta"] = _woman(ctx, doc, "Fanta", "76 00 00 02", consent=False)
    p["kadia"] = _woman(ctx, doc, "Kadia", "76 00 00 03", consent=True)
    p["mariam"] = _woman(ctx, doc, "Mariam", "76 00 00 04", consent=True)
    p["bintou"] = _woman(ctx, doc, "Bintou", "66 00 00 05", consent=True, language="bm")
    p["sali"] = _woman(ctx, doc, "Sali", "76 00 00 06", consent=True, born="2000-05-05")
    p["issa"] = patients.register(
        ctx,
        doc,
        {
            "family_name": "Coulibaly",
            "given_names": "Issa",
            "sex": "M",
            "birth_date": (today - timedelta(days=40)).isoformat(),
            "mother_id": p["bintou"]["id"],
        },
        accept_duplicates=True,
    )
    # his 6-week postnatal check made early (day 38, in its weeks 5-7 window): on day 42 only
    # his vaccines are due, so his mother's SMS is the child-vaccine one
    encounters.add(
        ctx,
        doc,
        p["issa"]["id"],
        "postnatal",
        {
            "care_date": (today - timedelta(days=2)).isoformat(),
            "subject": "newborn",
            "days_after_birth": 38,
        },
    )
    for who, condition in (("awa", "hypertension"), ("fanta", "hypertension"), ("kadia", "hiv")):
        encounters.add(
            ctx,
            doc,
            p[who]["id"],
            "chronic",
            {"care_date": today.isoformat(), "condition": condition, "next_visit": visit},
        )
    encounters.add(
        ctx,
        doc,
        p["mariam"]["id"],
        "family_planning",
        {
            "care_date": (today - timedelta(days=60)).isoformat(),
            "method": "injectable_dmpa_im",
            "user": "new",
            "quantity": 1,
        },
    )
    encounters.add(
        ctx,
        doc,
        p["sali"]["id"],
        "anc",
        {"care_date": today.isoformat(), "lmp": (today - timedelta(weeks=16)).isoformat()},
    )
    return p


def _daemon(store, sim, now):
    path = str(sim.link_path)
    machine = ModemMachine(find_port=lambda: path, open_port=lambda p: AtPort(p, timeout_s=3.0))
    link = SimulatedLink(schedule=lambda t: False)  # registered for SMS, no data coverage
    t = [0.0]
    daemon = ModemDaemon(
        store,
        config=ModemConfig(status_every_s=30),
        link=link,
        uploader=Uploader(store, link=link, dhis2=lambda: None, now=lambda: now[0]),
        machine=machine,
        send_sms=machine.send_sms,
        monotonic=lambda: t[0],
        now=lambda: now[0],
    )
    daemon.start()
    return daemon, machine, t


def _until_ready(daemon, t):
    for _ in range(100):  # the simulated network registers after a short delay
        daemon.tick()
        if daemon.status.state == "ready":
            return
        t[0] += 5
        time.sleep(0.01)
    raise AssertionError(f"the modem never became ready: {daemon.status}")


def test_every_plan_of_two_months_respects_consent_and_names_no_care(ctx, actors, facility):
    p = facility
    rules = ReminderRules(enabled=True, daily_max=100, monthly_max=1000)
    today = ctx.now().today
    sent, skipped = [], []
    for n in range(60):
        out = service.plan(ctx, actors["matron"], on=today + timedelta(days=n), rules=rules)
        sent += out["reminders"]
        skipped += out["skipped"]
    owners = {r["patient_id"] for r in sent}
    assert owners <= {p[k]["id"] for k in ("awa", "kadia", "mariam", "bintou", "sali")}
    assert p["awa"]["id"] in owners and p["bintou"]["id"] in owners and p["sali"]["id"] in owners
    codes = [c for r in sent for c in r["reason_codes"].split(",")]
    assert not [c for c in codes if c.startswith("fp:") or c == "chronic:hiv"]
    assert any(c.startswith("anc:") for c in codes)  # antenatal care: reminded, not named
    for r in sent:
        assert not any(w in r["text"].lower() for w in FORBIDDEN), r["text"]
    why = {(s["patient_id"], s["why"]) for s in skipped}
    assert (p["fanta"]["id"], "no_consent") in why
    assert (p["kadia"]["id"], "hiv") in why
    assert (p["mariam"]["id"], "family_planning") in why


def test_queued_reminders_go_out_through_the_modem_once(ctx, actors, facility, make_sim):
    p = facility
    store = ctx.store
    rules = ReminderRules(enabled=True, daily_max=10, monthly_max=100)
    today = ctx.now().today
    out = service.queue(ctx, actors["nurse"], on=today, rules=rules)
    by_owner = {r["patient_id"]: r for r in out["reminders"]}
    assert set(by_owner) == {p["awa"]["id"], p["bintou"]["id"]}
    bambara = by_owner[p["bintou"]["id"]]
    assert bambara["language"] == "bm" and "boloci" in bambara["text"] and "Issa" in bambara["text"]
    assert "vaccination" not in bambara["text"]
    assert "rendez-vous au centre de santé le 17/10/2026" in by_owner[p["awa"]["id"]]["text"]
    # the same plan queued again: nothing new
    assert service.queue(ctx, actors["nurse"], on=today, rules=rules)["queued_ids"] == []
    # Awa's hypertension follow-up queued, then a second item of hers shows up the same day:
    # her phone has had its one SMS for the day
    encounters.add(
        ctx,
        actors["doctor"],
        p["awa"]["id"],
        "chronic",
        {
            "care_date": today.isoformat(),
            "condition": "diabetes",
            "next_visit": (today + timedelta(days=1)).isoformat(),
        },
    )
    again = service.queue(ctx, actors["nurse"], on=today, rules=rules)
    assert again["queued_ids"] == []
    assert ("chronic:diabetes", "phone_texted_today") in {
        (s["reason_code"], s["why"]) for s in again["skipped"]
    }

    sim = make_sim(smsc="+22300000000")
    now = [datetime(today.year, today.month, today.day, 6, tzinfo=UTC)]
    daemon, machine, t = _daemon(store, sim, now)
    try:
        _until_ready(daemon, t)
        assert sim.sms_sent == []  # 06:00: no text wakes a household
        now[0] = now[0].replace(hour=10)
        t[0] += REMINDER_CHECK_EVERY_S
        daemon.tick()
        got = {s["number"]: s for s in sim.sms_sent}
        assert set(got) == {"+22376000001", "+22366000005"}
        assert got["+22366000005"]["text"] == bambara["text"]
        for rid in out["queued_ids"]:
            row = store.reminders.get(rid)
            assert row["status"] == "sent" and row["sent_at"]
            assert row["message_ref"] == got[row["phone"]]["mr"]
        for who in ("awa", "bintou", "issa"):
            rows = store.audit.for_patient(p[who]["id"])
            actions = [a for a in rows if a["action"] == "reminder.sent"]
            assert len(actions) == 1, who
            assert "text" not in actions[0]["detail"]  # the record says what, not the words
        assert not [
            a for a in store.audit.for_patient(p["fanta"]["id"]) if a["action"] == "reminder.sent"
        ]
        # later checks send nothing again
        t[0] += REMINDER_CHECK_EVERY_S
        daemon.tick()
        assert len(sim.sms_sent) == 2
    finally:
        machine.close()


def test_over_the_daily_cap_reminders_are_recorded_skipped_not_sent(
    ctx, actors, facility, make_sim
):
    store = ctx.store
    today = ctx.now().today
    out = service.queue(
        ctx, actors["nurse"], on=today, rules=ReminderRules(enabled=True, daily_max=1)
    )
    assert len(out["reminders"]) == 1 and len(out["over_cap"]) == 1
    assert out["over_cap"][0]["why"] == "daily_cap"
    statuses = sorted(r["status"] for r in store.reminders.on_day(today.isoformat()))
    assert statuses == ["queued", "skipped_cap"]
    sim = make_sim(smsc="+22300000000")
    now = [datetime(today.year, today.month, today.day, 10, tzinfo=UTC)]
    daemon, machine, t = _daemon(store, sim, now)
    try:
        _until_ready(daemon, t)
        t[0] += REMINDER_CHECK_EVERY_S
        daemon.tick()
        assert len(sim.sms_sent) == 1
        assert sim.sms_sent[0]["text"] == out["reminders"][0]["text"]
    finally:
        machine.close()


def test_off_in_the_facility_file_nothing_is_queued(ctx, actors, facility):
    with pytest.raises(service.RemindersDisabled, match=r"enabled = true under \[reminders\]"):
        service.queue(ctx, actors["nurse"], on=ctx.now().today, rules=ReminderRules())
    assert ctx.store.reminders.on_day(ctx.now().today.isoformat()) == []


def test_a_refused_sms_is_tried_again_then_left_failed(ctx, actors, facility, make_sim):
    store = ctx.store
    today = ctx.now().today
    out = service.queue(ctx, actors["nurse"], on=today, rules=ReminderRules(enabled=True))
    sim = make_sim()  # no SMS centre on the SIM: every AT+CMGS is refused (+CMS ERROR: 330)
    now = [datetime(today.year, today.month, today.day, 10, tzinfo=UTC)]
    daemon, machine, t = _daemon(store, sim, now)
    try:
        _until_ready(daemon, t)
        for _ in range(4):
            t[0] += REMINDER_CHECK_EVERY_S
            daemon.tick()
        rows = [store.reminders.get(rid) for rid in out["queued_ids"]]
        assert sim.sms_sent == []
        # one refusal stops the round (the modem is refusing): the first is tried each time
        assert rows[0]["status"] == "failed" and rows[0]["attempts"] == 3
        assert "330" in rows[0]["error"]
        assert all(r["status"] in ("queued", "failed") for r in rows)
        pid = rows[0]["patient_id"]
        assert not [a for a in store.audit.for_patient(pid) if a["action"] == "reminder.sent"]
    finally:
        machine.close()


def test_a_reminder_left_queued_all_day_is_queued_again_the_next_day(ctx, actors, facility):
    store = ctx.store
    rules = ReminderRules(enabled=True)
    today = ctx.now().today
    first = service.queue(ctx, actors["nurse"], on=today, rules=rules)
    assert len(first["queued_ids"]) == 2  # no network all day: nothing sent
    tomorrow = today + timedelta(days=1)
    second = service.queue(ctx, actors["nurse"], on=tomorrow, rules=rules)
    assert sorted(second["queued_ids"]) == sorted(first["queued_ids"])  # the same rows
    assert {r["planned_for"] for r in map(store.reminders.get, first["queued_ids"])} == {
        tomorrow.isoformat()
    }
    # once sent, never again
    store.reminders.claim(first["queued_ids"][0])
    store.reminders.sent(first["queued_ids"][0], message_ref=7, now="2026-10-16T10:00:00Z")
    third = service.queue(ctx, actors["nurse"], on=tomorrow, rules=rules)
    assert third["queued_ids"] == []
    considered = {(s["patient_id"], s["reason_code"]) for s in third["skipped"]}
    sent, waiting = (store.reminders.get(i) for i in first["queued_ids"])
    # neither is looked at again: one sent, the other still queued for the day
    for row in (sent, waiting):
        assert not {(i["patient_id"], i["reason_code"]) for i in row["items"]} & considered
    assert waiting["status"] == "queued" and waiting["planned_for"] == tomorrow.isoformat()


def test_a_reminder_cut_while_sending_is_not_sent_twice_after_a_restart(ctx, actors, facility):
    store = ctx.store
    today = ctx.now().today
    out = service.queue(ctx, actors["nurse"], on=today, rules=ReminderRules(enabled=True))
    cut = out["queued_ids"][0]
    assert store.reminders.claim(cut)  # the power went off during AT+CMGS
    link = SimulatedLink(schedule=lambda t: False)
    now = datetime(today.year, today.month, today.day, 10, tzinfo=UTC)
    ModemDaemon(
        store,
        config=ModemConfig(),
        link=link,
        uploader=Uploader(store, link=link, dhis2=lambda: None, now=lambda: now),
        now=lambda: now,
    ).start()
    row = store.reminders.get(cut)
    assert row["status"] == "failed" and "may have been sent" in row["error"]
    assert [r["id"] for r in store.reminders.to_send(today.isoformat())] == out["queued_ids"][1:]
