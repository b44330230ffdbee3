"""An urgent referral's SMS goes out through keneya-modem and the E173 simulator on a real pty:
at any hour, once, to the receiving facility's duty phone, with no name; a refused SMS is tried
again and then left failed; one left 'sending' by a killed daemon is sent again."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from appliance.domain.referrals import referral_rules_from
from appliance.services import patients
from appliance.services import referrals as service
from appliance.store.referrals import SMS_STALE_AFTER_H
from modem.at import AtPort
from modem.config import ModemConfig
from modem.daemon import REFERRAL_SMS_CHECK_EVERY_S, ModemDaemon
from modem.link import SimulatedLink
from modem.machine import ModemMachine
from modem.uploader import Uploader

pytestmark = pytest.mark.component

RULES = referral_rules_from(
    {
        "receiving": [
            {"code": "KATI", "name": "CSRéf de Kati", "phone": "+22376000001"},
            {"code": "HOP", "name": "Hôpital", "kind": "hospital"},
        ]
    }
)


def _form(**kw):
    return {
        "care_date": "2026-10-15",
        "reason": "severe_preeclampsia",
        "urgency": "urgent",
        "to_facility": "KATI",
        "transport": "ambulance",
        "departure": "02:40",
        "sms_consent": True,
        **kw,
    }


@pytest.fixture
def woman(ctx, actors):
    ctx.store.set_setting("facility_name", "CSCom Kalaban")
    return patients.register(
        ctx,
        actors["midwife"],
        {"family_name": "Diakité", "given_names": "Rokia", "sex": "F", "birth_date": "2001-01-10",
         "village": "Kalaban", "phone": "76 11 22 33"},
    )  # fmt: skip


def _daemon(store, sim, now):
    path = str(sim.link_path)
    machine = ModemMachine(find_port=lambda: path, open_port=lambda p: AtPort(p, timeout_s=3.0))
    link = SimulatedLink(schedule=lambda t: False)
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
    for _ in range(100):
        daemon.tick()
        if daemon.status.state == "ready":
            return
        t[0] += 5
        time.sleep(0.01)
    raise AssertionError(f"the modem never became ready: {daemon.status}")


def test_urgent_referral_sms_goes_at_night_once_without_the_name(ctx, actors, woman, make_sim):
    store = ctx.store
    r = service.create(ctx, actors["midwife"], woman["id"], _form(), rules=RULES)
    assert r["sms_status"] == "queued" and r["sms_phone"] == "+22376000001"
    quiet = service.create(
        ctx, actors["midwife"], woman["id"], _form(sms_consent=False), rules=RULES
    )
    assert quiet["sms_status"] == "no_consent"
    no_phone = service.create(
        ctx, actors["midwife"], woman["id"], _form(to_facility="HOP"), rules=RULES
    )
    assert no_phone["sms_status"] == "no_phone"
    routine = service.create(
        ctx, actors["midwife"], woman["id"], _form(urgency="non_urgent"), rules=RULES
    )
    assert routine["sms_status"] == "not_urgent"

    sim = make_sim(smsc="+22300000000")
    now = [datetime(2026, 10, 15, 2, 45, tzinfo=UTC)]  # the middle of the night
    daemon, machine, t = _daemon(store, sim, now)
    try:
        _until_ready(daemon, t)
        t[0] += REFERRAL_SMS_CHECK_EVERY_S
        daemon.tick()
        assert [s["number"] for s in sim.sms_sent] == ["+22376000001"]
        text = sim.sms_sent[0]["text"]
        assert text.startswith("Référence urgente en route: femme 25 ans, pré-éclampsie sévère")
        assert "départ 02:40" in text and woman["health_number"] in text
        assert "Diakité" not in text and "Rokia" not in text
        row = store.referrals.get(r["id"])
        assert row["sms_status"] == "sent" and row["sms_ref"] == sim.sms_sent[0]["mr"]
        sent_rows = [a for a in store.audit.for_patient(woman["id"])
                     if a["action"] == "referral.sms_sent"]  # fmt: skip
        assert len(sent_rows) == 1 and "text" not in sent_rows[0]["detail"]
        for _ in range(3):  # later checks send nothing again
            t[0] += REFERRAL_SMS_CHECK_EVERY_S
            daemon.tick()
        assert len(sim.sms_sent) == 1
    finally:
        machine.close()


def test_a_refused_sms_is_retried_then_left_failed(ctx, actors, woman, make_sim):
    store = ctx.store
    calls = []

    def refusing(number, text):
        calls.append(number)
        raise RuntimeError("+CMS ERROR: 38")  # network out of order

    now = [datetime(2026, 10, 15, 10, tzinfo=UTC)]
    sim = make_sim(smsc="+22300000000")
    daemon, machine, t = _daemon(store, sim, now)
    try:
        _until_ready(daemon, t)
        r = service.create(ctx, actors["midwife"], woman["id"], _form(), rules=RULES)
        daemon.send_sms = refusing
        assert daemon.send_referral_sms() == []
        assert store.referrals.get(r["id"])["sms_status"] == "queued"
        daemon.send_referral_sms()
        daemon.send_referral_sms()
        row = store.referrals.get(r["id"])
        assert row["sms_status"] == "failed" and "CMS ERROR" in row["sms_error"]
        assert len(calls) == 3
        daemon.send_sms = machine.send_sms
        assert daemon.send_referral_sms() == []  # failed stays failed: the staff phone
    finally:
        machine.close()


def test_an_sms_left_sending_by_a_killed_daemon_is_sent_again(ctx, actors, woman, make_sim):
    store = ctx.store
    r = service.create(ctx, actors["midwife"], woman["id"], _form(), rules=RULES)
    assert store.referrals.sms_claim(r["id"])  # the daemon claimed it, then was killed
    sim = make_sim(smsc="+22300000000")
    now = [datetime(2026, 10, 15, 10, tzinfo=UTC)]
    daemon, machine, t = _daemon(store, sim, now)  # start() looks for it
    try:
        assert store.referrals.get(r["id"])["sms_status"] == "queued"
        _until_ready(daemon, t)
        t[0] += REFERRAL_SMS_CHECK_EVERY_S
        daemon.tick()
        assert [s["number"] for s in sim.sms_sent] == ["+22376000001"]
    finally:
        machine.close()


def test_a_voided_referral_sends_no_sms(ctx, actors, woman, make_sim):
    store = ctx.store
    r = service.create(ctx, actors["midwife"], woman["id"], _form(), rules=RULES)
    service.void(ctx, actors["midwife"], r["id"], reason="wrong patient")
    sim = make_sim(smsc="+22300000000")
    now = [datetime(2026, 10, 15, 10, tzinfo=UTC)]
    daemon, machine, t = _daemon(store, sim, now)
    try:
        _until_ready(daemon, t)
        t[0] += REFERRAL_SMS_CHECK_EVERY_S
        daemon.tick()
        assert sim.sms_sent == []
    finally:
        machine.close()


def test_an_sms_the_network_held_back_for_hours_is_not_sent_late(ctx, actors, woman, make_sim):
    """ "En route, départ 02:40" read the next afternoon misleads: after SMS_STALE_AFTER_H the
    SMS is marked failed (the page says to phone) and never sent."""
    store = ctx.store
    r = service.create(ctx, actors["midwife"], woman["id"], _form(), rules=RULES)
    sim = make_sim(smsc="+22300000000")
    recorded = datetime.fromisoformat(r["recorded_at"].replace("Z", "+00:00"))
    now = [recorded + timedelta(hours=SMS_STALE_AFTER_H, minutes=1)]
    daemon, machine, t = _daemon(store, sim, now)
    try:
        _until_ready(daemon, t)
        t[0] += REFERRAL_SMS_CHECK_EVERY_S
        daemon.tick()
        assert sim.sms_sent == []
        row = store.referrals.get(r["id"])
        assert row["sms_status"] == "failed" and "phone" in row["sms_error"]
    finally:
        machine.close()
