"""Every month of the seeded facility's reports survives the SMS fallback, within 3 SMS each."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from appliance.reports import formats
from appliance.seed.facility import seed_facility
from appliance.services import auth
from appliance.services import reports as report_service
from appliance.services.context import Context
from appliance.store import Store
from modem.sms import (
    decode_report,
    encode_report,
    is_gsm7,
    parse_submit_pdu,
    sms_figures,
    submit_pdus,
)

pytestmark = pytest.mark.component
TODAY = date(2026, 11, 1)
GATEWAY = "+22376000000"
MAX_SMS_PER_REPORT = 3


def _months(today: date, count: int) -> list[str]:
    year, month = today.year, today.month
    out = []
    for _ in range(count):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        out.append(f"{year:04d}-{month:02d}")
    return out[::-1]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """The demo-sized facility (2000 patients, 3 years) and a doctor logged in on it."""
    home = tmp_path_factory.mktemp("sms-seed")
    summary = seed_facility(
        home / "keneya.db", patients=2000, seed=11, years=3, logins_dir=home, today=TODAY
    )
    doctor_pin = next(line.split()[2] for line in summary["logins"] if line.split()[1] == "doctor")
    noon = datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC).timestamp()
    with Store(home / "keneya.db") as store:
        ctx = Context.open(store, machine_time=lambda: noon, boot_id="sms-test")
        doctor = auth.login(ctx, "dr.traore", pin=doctor_pin)
        yield ctx, doctor, summary


@pytest.fixture(scope="module")
def mapping():
    return formats.load_mapping()


@pytest.fixture(scope="module")
def payloads(seeded, mapping):
    ctx, doctor, _ = seeded
    out = []
    for period in _months(TODAY, 36):
        payload, _ = formats.to_dhis2(report_service.monthly(ctx, doctor, period), mapping)
        out.append(payload)
    return out


def test_every_month_round_trips_within_three_sms(seeded, mapping, payloads, record_property):
    _, _, summary = seeded
    counts = {}
    for n, payload in enumerate(payloads):
        assert payload["dataValues"], f"{payload['period']} has no values: seeding changed?"
        texts = encode_report(payload, mapping, facility=summary["facility_code"], message_id=n)
        assert decode_report(reversed(texts), mapping) == payload
        assert all(len(t) <= 160 and is_gsm7(t) for t in texts)
        counts[payload["period"]] = len(texts)
    figures = sms_figures(payloads, mapping, facility=summary["facility_code"])
    record_property("sms_figures", json.dumps(figures))
    print("SMS figures for the seeded facility:", json.dumps(figures))
    assert len(counts) == 36
    assert figures["sms"]["max"] == max(counts.values())
    assert max(counts.values()) <= MAX_SMS_PER_REPORT, counts


def test_worst_case_facility_code_still_fits(mapping, payloads):
    """With the 11-character orgUnit UID as the facility code (the longest header)."""
    figures = sms_figures(payloads, mapping)
    assert figures["sms"]["max"] <= MAX_SMS_PER_REPORT, figures


def test_queued_report_goes_by_sms_and_back_through_pdus(seeded, mapping, tmp_path):
    """The outbox's stored JSON text → SMS texts → SUBMIT PDUs → texts again → the same
    dataValueSet, as the gateway would see it."""
    ctx, doctor, summary = seeded
    item, payload, _ = report_service.queue_for_dhis2(ctx, doctor, "2026-10", formats.DEMO_MAPPING)
    stored = json.loads(ctx.store.outbox.get(item["id"])["payload"])
    assert stored == payload
    texts = encode_report(stored, mapping, facility=summary["facility_code"], message_id=77)
    received = []
    for reference, text in enumerate(texts):
        [(pdu, octets)] = submit_pdus(GATEWAY, text, reference=reference)
        assert octets == len(pdu) // 2 - 1
        parsed = parse_submit_pdu(pdu)
        assert parsed["number"] == GATEWAY and parsed["udh"] is None
        received.append(parsed["text"])
    assert received == texts
    assert decode_report(received[::-1], mapping) == stored
