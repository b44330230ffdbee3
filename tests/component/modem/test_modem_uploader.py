"""The uploader's decisions against a real store and the DHIS2 simulator: when the link is
brought up and hung up, and when a report goes by SMS instead."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from appliance.outbox import enqueue_report
from appliance.outbox.dhis2_sim import Dhis2Metadata, Dhis2Sim
from appliance.outbox.sender import Dhis2Config
from appliance.reports import formats
from modem import sms
from modem.link import SimulatedLink
from modem.uploader import SmsFallback, Uploader, report_due, sms_due_at

pytestmark = pytest.mark.component

TOKEN = "d2p_up"
MAPPING = formats.load_mapping(None)


class Clock:
    def __init__(self, start: datetime):
        self.t = start

    def now(self) -> datetime:
        return self.t


def payload(period: str = "202610", value: str = "41") -> dict:
    de = MAPPING["dataElements"][0]
    coc = next(iter(MAPPING["categoryCombos"][de["categoryCombo"]]["options"].values()))
    return {
        "dataSet": MAPPING["dataSet"],
        "period": period,
        "orgUnit": MAPPING["orgUnit"],
        "dataValues": [
            {"dataElement": de["dataElement"], "categoryOptionCombo": coc, "value": value}
        ],
    }


def queue(store, clock, period="202610", value="41"):
    return enqueue_report(
        store,
        facility="KLB",
        dataset=MAPPING["dataSet"],
        period=period,
        payload=payload(period, value),
        now=clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )


@pytest.fixture
def sim():
    meta = {
        "dataSets": [MAPPING["dataSet"]],
        "dataElements": [d["dataElement"] for d in MAPPING["dataElements"]],
        "orgUnits": [MAPPING["orgUnit"]],
        "categoryOptionCombos": [
            c for combo in MAPPING["categoryCombos"].values() for c in combo["options"].values()
        ],
    }
    with Dhis2Sim(Dhis2Metadata(meta), tokens=(TOKEN,)) as s:
        yield s


def uploader(store, sim, clock, link, **kw):
    return Uploader(
        store,
        link=link,
        dhis2=lambda: Dhis2Config(base_url=sim.url, token=TOKEN, timeout_s=5),
        now=clock.now,
        sleep=lambda s: None,
        rand=lambda: 0.5,
        **kw,
    )


def test_report_due_on_the_fifth_of_the_next_month():
    assert report_due("202610") == datetime(2026, 11, 5, tzinfo=UTC)
    assert report_due("202612") == datetime(2027, 1, 5, tzinfo=UTC)
    item = {"kind": "dhis2-datavalueset", "period": "202610", "created_at": "2026-11-01T08:00:00Z"}
    assert sms_due_at(item, after_days=5) == datetime(2026, 11, 10, tzinfo=UTC)
    late = dict(item, created_at="2026-12-01T08:00:00Z")  # queued after the due date
    assert sms_due_at(late, after_days=5) == datetime(2026, 12, 6, 8, tzinfo=UTC)
    assert sms_due_at(dict(item, kind="dhis2-adx"), after_days=5) is None


def test_nothing_due_leaves_the_link_alone(store, sim):
    clock = Clock(datetime(2026, 11, 1, 8, tzinfo=UTC))
    link = SimulatedLink(clock=lambda: 0.0)
    assert uploader(store, sim, clock, link).run_once() is None
    assert link.up_calls == 0


def test_a_due_report_brings_the_link_up_and_is_delivered(store, sim):
    clock = Clock(datetime(2026, 11, 1, 8, tzinfo=UTC))
    item = queue(store, clock)
    link = SimulatedLink(clock=lambda: 0.0)
    up = uploader(store, sim, clock, link)
    summary = up.run_once()
    assert summary.delivered == [item["id"]] and link.up_calls == 1 and link.is_up()
    assert store.get_setting("modem.last_upload_at") is not None
    assert sim.posts == 1


def test_paying_per_minute_hangs_up_after_the_send_window(store, sim):
    clock = Clock(datetime(2026, 11, 1, 8, tzinfo=UTC))
    queue(store, clock)
    link = SimulatedLink(clock=lambda: 0.0)
    summary = uploader(store, sim, clock, link, pay_per_minute=True).run_once()
    assert len(summary.delivered) == 1
    assert link.down_calls == 1 and not link.is_up()


def test_no_coverage_means_no_attempt_and_the_report_waits(store, sim):
    clock = Clock(datetime(2026, 11, 1, 8, tzinfo=UTC))
    item = queue(store, clock)
    link = SimulatedLink(schedule=lambda t: False, clock=lambda: 0.0)
    up = uploader(store, sim, clock, link)
    assert up.run_once() is None and up.last_error == "the data link did not come up"
    assert store.outbox.get(item["id"])["status"] == "queued" and sim.posts == 0


def test_a_report_backed_off_during_an_outage_leaves_as_soon_as_the_link_returns(store, sim):
    clock = Clock(datetime(2026, 11, 1, 8, tzinfo=UTC))
    item = queue(store, clock)
    claimed = store.outbox.claim_next(now="2026-11-01T08:00:00.000000Z")
    store.outbox.mark_retry(
        claimed["id"], error="network", next_attempt_at="2026-11-01T14:00:00.000000Z"
    )
    link = SimulatedLink(clock=lambda: 0.0)
    link.up()  # the link came back by itself (ModemManager reconnected)
    up = uploader(store, sim, clock, link)
    assert up.run_once().delivered == [item["id"]]


def test_an_overdue_report_goes_by_sms_once_and_decodes_at_the_gateway(store):
    clock = Clock(datetime(2026, 11, 1, 8, tzinfo=UTC))
    item = queue(store, clock)
    clock.t = datetime(2026, 11, 9, 23, 59, tzinfo=UTC)
    fallback = SmsFallback(
        store,
        gateway="+223 70 00 00 00",
        after_days=5,
        mapping=MAPPING,
        facility="KLB",
        now=clock.now,
    )
    assert fallback.overdue() == []  # due on the 5th, SMS from the 10th
    clock.t = datetime(2026, 11, 10, 0, 1, tzinfo=UTC)
    sent: list[tuple[str, str]] = []
    done = fallback.send_overdue(lambda number, text: sent.append((number, text)) or len(sent))
    assert done == [item["id"]] and {n for n, _ in sent} == {"+22370000000"}
    decoded = sms.decode_report([t for _, t in sent], MAPPING)
    assert decoded["period"] == "202610"
    assert [v["value"] for v in decoded["dataValues"] if v["value"] != "0"] == ["41"]
    assert fallback.send_overdue(lambda number, text: 1 / 0) == []  # never twice


def test_an_sms_cut_off_half_way_resumes_with_the_parts_left(store):
    clock = Clock(datetime(2026, 11, 20, tzinfo=UTC))
    big = payload()
    big["dataValues"] = [
        {"dataElement": de["dataElement"], "categoryOptionCombo": coc, "value": str(100 + i)}
        for i, (de, coc) in enumerate(
            (de, coc)
            for de in MAPPING["dataElements"]
            for coc in MAPPING["categoryCombos"][de["categoryCombo"]]["options"].values()
        )
    ]
    item = enqueue_report(
        store,
        facility="KLB",
        dataset=MAPPING["dataSet"],
        period="202610",
        payload=big,
        now="2026-11-01T08:00:00.000000Z",
    )
    fallback = SmsFallback(
        store,
        gateway="+22370000000",
        after_days=5,
        mapping=MAPPING,
        facility="KLB",
        now=clock.now,
    )
    sent: list[str] = []

    def flaky(number: str, text: str) -> int:
        if len(sent) == 1:
            raise OSError("the modem went away")
        sent.append(text)
        return len(sent)

    with pytest.raises(OSError):
        fallback.send_overdue(flaky)
    row = store.outbox.sms_of(item["id"])
    assert row["parts_sent"] == 1 and row["attempts"] == 1 and len(row["texts"]) >= 2
    rest: list[str] = []
    assert fallback.send_overdue(lambda n, t: rest.append(t) or 9) == [item["id"]]
    assert rest == row["texts"][1:]
    decoded = sms.decode_report(sent + rest, MAPPING)
    assert len([v for v in decoded["dataValues"] if v["value"] != "0"]) == len(big["dataValues"])
    assert json.loads(store.outbox.get(item["id"])["payload"])["period"] == "202610"
