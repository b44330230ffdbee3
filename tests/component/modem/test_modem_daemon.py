"""The daemon with every part real but the radio: the state machine on the E173 simulator's
pty, a link with no coverage at all, and a report that has to reach the district by SMS."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from appliance.outbox import enqueue_report
from appliance.outbox.sender import Dhis2Config
from appliance.reports import formats
from modem import sms
from modem.at import AtPort
from modem.config import ModemConfig
from modem.daemon import ModemDaemon
from modem.link import SimulatedLink
from modem.machine import ModemMachine
from modem.uploader import SmsFallback, Uploader

pytestmark = pytest.mark.component

MAPPING = formats.load_mapping(None)
GATEWAY = "+22370000009"


def test_a_month_without_data_reaches_the_district_by_sms(store, make_sim):
    sim = make_sim(smsc="+22300000000")
    now = [datetime(2026, 11, 2, tzinfo=UTC)]
    de = MAPPING["dataElements"][0]
    coc = next(iter(MAPPING["categoryCombos"][de["categoryCombo"]]["options"].values()))
    item = enqueue_report(
        store,
        facility="KLB",
        dataset=MAPPING["dataSet"],
        period="202610",
        payload={
            "dataSet": MAPPING["dataSet"],
            "period": "202610",
            "orgUnit": MAPPING["orgUnit"],
            "dataValues": [
                {"dataElement": de["dataElement"], "categoryOptionCombo": coc, "value": "7"}
            ],
        },
        now="2026-11-01T08:00:00.000000Z",
    )
    path = str(sim.link_path)
    machine = ModemMachine(find_port=lambda: path, open_port=lambda p: AtPort(p, timeout_s=3.0))
    link = SimulatedLink(schedule=lambda t: False)  # registered for voice and SMS, no data
    uploader = Uploader(
        store,
        link=link,
        dhis2=lambda: Dhis2Config(base_url="http://127.0.0.1:9", token="x"),
        now=lambda: now[0],
    )
    fallback = SmsFallback(
        store, gateway=GATEWAY, after_days=5, mapping=MAPPING, facility="KLB", now=lambda: now[0]
    )
    t = [0.0]
    daemon = ModemDaemon(
        store,
        config=ModemConfig(status_every_s=30),
        link=link,
        uploader=uploader,
        machine=machine,
        sms=fallback,
        send_sms=machine.send_sms,
        monotonic=lambda: t[0],
        now=lambda: now[0],
    )
    daemon.start()
    try:
        for _ in range(100):  # the simulated network registers after a short delay
            daemon.tick()
            if daemon.status.state == "ready":
                break
            t[0] += 5
            time.sleep(0.01)
        assert daemon.status.state == "ready" and sim.sms_sent == []
        assert link.up_calls >= 1  # data was tried: no coverage
        # ten days on: past the 5th plus 5 days, the report goes by SMS
        now[0] = datetime(2026, 11, 10, 1, tzinfo=UTC)
        t[0] += 3600
        daemon.tick()
        sent = list(sim.sms_sent)
        assert sent and all(s["number"] == GATEWAY and s["mode"] == "pdu" for s in sent)
        decoded = sms.decode_report([s["text"] for s in sent], MAPPING)
        assert decoded["period"] == "202610"
        assert [v["value"] for v in decoded["dataValues"] if v["value"] != "0"] == ["7"]
        row = store.outbox.sms_of(item["id"])
        assert row["sent_at"] and row["message_refs"] == [s["mr"] for s in sent]
        # the next hourly check sends nothing again
        t[0] += 3600
        daemon.tick()
        assert len(sim.sms_sent) == len(sent)
        assert store.outbox.get(item["id"])["status"] == "queued"  # data still tried later
    finally:
        machine.close()


def test_a_link_that_raises_is_reported_and_the_daemon_goes_on(store):
    from modem.errors import ConfigurationError

    class Broken(SimulatedLink):
        def up(self, *, timeout_s: float = 60) -> bool:
            raise ConfigurationError("NetworkManager is not running")

    enqueue_report(
        store,
        facility="KLB",
        dataset="ds",
        period="202610",
        payload={"dataSet": "ds", "period": "202610", "orgUnit": "ou", "dataValues": []},
        now="2026-11-01T08:00:00.000000Z",
    )
    now = datetime(2026, 11, 2, tzinfo=UTC)
    link = Broken()
    uploader = Uploader(
        store,
        link=link,
        dhis2=lambda: Dhis2Config(base_url="http://127.0.0.1:9", token="x"),
        now=lambda: now,
    )
    t = [0.0]
    daemon = ModemDaemon(
        store,
        config=ModemConfig(),
        link=link,
        uploader=uploader,
        monotonic=lambda: t[0],
        now=lambda: now,
    )
    daemon.start()
    daemon.tick()
    assert daemon.snapshot()["upload_error"] == "ConfigurationError: NetworkManager is not running"
    t[0] += 10  # within the link backoff: not tried again
    daemon.tick()
    t[0] += 61
    daemon.tick()  # after it: tried again, still no traceback out of the loop
    assert daemon.status.state == "ready"
