"""A soak of the modem daemon: 1,000 simulated hours of a link that comes and goes, reports
queued and revised all along, power cuts in the middle of sends, and a real DHIS2 simulator
on loopback. Time is a counter the test advances; nothing sleeps."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from appliance.outbox import enqueue_report
from appliance.outbox.dhis2_sim import Dhis2Metadata, Dhis2Sim
from appliance.outbox.sender import Dhis2Config, send
from appliance.store import Store
from modem.config import ModemConfig
from modem.daemon import ModemDaemon
from modem.link import SimulatedLink, flaky_schedule
from modem.uploader import Uploader

pytestmark = pytest.mark.component

TOKEN = "d2p_soak"
ELEMENTS = [f"deSoak{i:05d}" for i in range(12)]
METADATA = {"dataSets": ["dsSoak"], "dataElements": ELEMENTS, "orgUnits": ["ouSoak"]}
HOURS = 1000
STEP_S = 120.0
START = datetime(2026, 1, 1, tzinfo=UTC)


class PowerCut(BaseException):
    """Not an Exception: nothing in the daemon may catch it, like a real power cut."""


class Soak:
    def __init__(self, tmp_path, sim: Dhis2Sim, *, seed: int, pay_per_minute: bool):
        self.path = tmp_path / "keneya.db"
        self.sim = sim
        self.rng = random.Random(seed)
        self.t = 0.0
        self.schedule = flaky_schedule(seed, mean_up_s=2 * 3600, mean_down_s=9 * 3600)
        self.link = SimulatedLink(schedule=self.schedule, clock=lambda: self.t)
        self.pay_per_minute = pay_per_minute
        self.latest: dict[str, dict] = {}  # period -> the last payload queued
        self.power_cuts = 0
        self.cut_sends = 0
        self.store = Store(self.path, create=True)
        self.daemon = self._daemon()

    def now(self) -> datetime:
        return START + timedelta(seconds=self.t)

    def _sender(self, item, config):
        if not self.link.is_up():  # the link dropped between the claim and the POST
            from appliance.outbox.sender import Outcome

            return Outcome("retry", error="network: link down")
        outcome = send(item, config)
        if self.rng.random() < 0.05:
            # the power goes after DHIS2 imported the values and before the store heard back
            self.cut_sends += 1
            raise PowerCut
        return outcome

    def _daemon(self) -> ModemDaemon:
        config = ModemConfig(status_every_s=600, pay_per_minute=self.pay_per_minute)
        uploader = Uploader(
            self.store,
            link=self.link,
            dhis2=lambda: Dhis2Config(base_url=self.sim.url, token=TOKEN, timeout_s=5),
            pay_per_minute=self.pay_per_minute,
            now=self.now,
            sleep=lambda s: None,
            rand=self.rng.random,
            sender=self._sender,
        )
        daemon = ModemDaemon(
            self.store,
            config=config,
            link=self.link,
            uploader=uploader,
            monotonic=lambda: self.t,
            now=self.now,
        )
        daemon.start()
        return daemon

    def reboot(self) -> None:
        """Everything in memory is lost; the database file is what is left."""
        self.power_cuts += 1
        self.link.down()  # the stick loses power too
        self.store.close()
        self.store = Store(self.path)
        self.daemon = self._daemon()

    def queue(self, period: str) -> None:
        # Every cell carries a count: a revision that takes a cell to zero would leave the old
        # value in DHIS2 (an import upserts, it never deletes); that is the report's concern.
        values = [
            {"dataElement": de, "categoryOptionCombo": "HllvX50cXC0", "value": str(n)}
            for de in ELEMENTS
            if (n := self.rng.randrange(1, 40))
        ]
        payload = {"dataSet": "dsSoak", "period": period, "orgUnit": "ouSoak", "dataValues": values}
        enqueue_report(
            self.store,
            facility="SOAK",
            dataset="dsSoak",
            period=period,
            payload=payload,
            now=self.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        )
        self.latest[period] = payload

    def run(self) -> None:
        periods = [f"{2026 + m // 12}{m % 12 + 1:02d}" for m in range(60)]
        next_period = 0
        while self.t < HOURS * 3600:
            hour = self.t / 3600
            # a new month's report every simulated day, a revision of a recent one now and then
            if hour >= next_period * 24 and next_period < len(periods):
                self.queue(periods[next_period])
                next_period += 1
            elif self.latest and self.rng.random() < 0.002:
                self.queue(self.rng.choice(sorted(self.latest)[-3:]))
            if self.rng.random() < 0.0015:
                self.reboot()
            try:
                self.daemon.tick()
            except PowerCut:
                self.reboot()
            self.t += STEP_S
        # the soak ends with a long spell of coverage so the last report can leave
        self.schedule = lambda t: True
        self.link._schedule = self.schedule
        for _ in range(100):
            try:
                self.daemon.tick()
            except PowerCut:
                self.reboot()
            self.t += STEP_S


@pytest.mark.parametrize("pay_per_minute", [False, True], ids=["always-on", "send-windows"])
def test_a_thousand_hours_of_flaky_link_every_report_lands_once_in_effect(tmp_path, pay_per_minute):
    with Dhis2Sim(Dhis2Metadata(METADATA), tokens=(TOKEN,)) as sim:
        soak = Soak(tmp_path, sim, seed=8 if pay_per_minute else 7, pay_per_minute=pay_per_minute)
        try:
            soak.run()
            store = soak.store
            counts = store.outbox.counts()
            # nothing left behind, nothing stuck, nothing refused
            assert counts["queued"] == counts["sending"] == counts["failed"] == 0
            assert counts["delivered"] >= len(soak.latest) == -(-HOURS // 24)
            # DHIS2 holds exactly the latest figures of every period: duplicates of a send
            # (power cut after the import) and older versions left no trace
            for period, payload in soak.latest.items():
                held = {
                    v["dataElement"]: v["value"]
                    for v in sim.query(dataset="dsSoak", period=period, org_unit="ouSoak")
                }
                wanted = {v["dataElement"]: v["value"] for v in payload["dataValues"]}
                assert held == wanted, period
            # the test did what it says: outages, cuts in the middle of sends, reboots
            assert soak.link.drops + soak.link.down_calls > 20
            assert soak.cut_sends >= 2 and soak.power_cuts >= 4
            assert sim.posts > counts["delivered"]  # some were sent more than once...
            if pay_per_minute:
                # ...and the link was up only while sending: far less than the coverage
                assert soak.link.seconds_up < 0.2 * HOURS * 3600
        finally:
            soak.store.close()
