"""What the technician reads must be today's: no operator, APN or link while the modem searches
or is refused, a stopped daemon says so at once, and long SMS never share a reference."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from appliance.outbox.sender import Dhis2Config
from appliance.store import Store
from modem import sms
from modem.at import AtPort
from modem.cli import read_status, status_text
from modem.config import ModemConfig
from modem.daemon import ModemDaemon, _from_link
from modem.link import LinkStatus, SimulatedLink
from modem.machine import ModemMachine, ModemStatus
from modem.uploader import SMS_REFERENCE_SETTING, Uploader, next_concat_reference

pytestmark = pytest.mark.component

NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)
LONG_TEXT = "Rapport mensuel CSCom: " + "consultations 12, accouchements 3; " * 8


def uploader_for(store: Store, link) -> Uploader:
    return Uploader(
        store,
        link=link,
        dhis2=lambda: Dhis2Config(base_url="http://127.0.0.1:9", token="x"),
        now=lambda: NOW,
    )


def machine_on(sim, **kw) -> ModemMachine:
    path = str(sim.link_path)
    return ModemMachine(
        find_port=lambda: path if sim.is_present else None,
        open_port=lambda p: AtPort(p, timeout_s=3.0),
        **kw,
    )


def tick_until(daemon: ModemDaemon, t: list[float], state: str, *, ticks: int = 200) -> None:
    for _ in range(ticks):
        t[0] += 30  # the next status refresh is due
        daemon.tick()
        if daemon.status.state == state:
            return
        time.sleep(0.02)
    raise AssertionError(f"never reached {state}: {daemon.status.state}")


def test_searching_and_denied_clear_operator_apn_and_link(store, make_sim):
    sim = make_sim(network="malitel")
    link = SimulatedLink(operator="MALITEL", mcc_mnc="61001")
    t = [0.0]
    with machine_on(sim) as machine:
        daemon = ModemDaemon(
            store,
            config=ModemConfig(),
            link=link,
            uploader=uploader_for(store, link),
            machine=machine,
            monotonic=lambda: t[0],
            now=lambda: NOW,
        )
        daemon.start()
        tick_until(daemon, t, "ready")
        assert link.up() is True
        tick_until(daemon, t, "ready")
        saved = read_status(store, now=NOW)
        assert saved["operator"] == "MALITEL" and saved["mcc_mnc"] == "61001"
        assert saved["link_up"] is True and saved["apn"] == "web.malitel3.ml"
        assert daemon.apn is not None and daemon.apn.username == "internet"
        for stat, state in ((2, "searching"), (3, "denied")):
            sim.set_registration(stat)
            tick_until(daemon, t, state)
            snap = daemon.snapshot()
            assert (snap["operator"], snap["mcc_mnc"], snap["apn"]) == (None, None, None), state
            assert snap["link_up"] is False and daemon.apn is None, state
            saved = read_status(store, now=NOW)
            assert saved["state"] == state and saved["operator"] is None
            assert saved["mcc_mnc"] is None and saved["apn"] is None
            assert saved["link_up"] is False
        sim.set_registration(1)
        tick_until(daemon, t, "ready")
        assert daemon.snapshot()["operator"] == "MALITEL"
        assert daemon.snapshot()["apn"] == "web.malitel3.ml"


class StaleLink(SimulatedLink):
    """ModemManager keeps the last operator's name after the network is lost."""

    registration = "home"

    def status(self) -> LinkStatus:
        return LinkStatus(
            backend="modemmanager",
            up=True,
            interface="wwan0",
            operator="Orange MALI",
            mcc_mnc="61002",
            signal_dbm=-95,
            registration=self.registration,
        )


def test_status_read_from_modemmanager_is_cleared_too():
    link = StaleLink()
    st, up, apn = _from_link(link, ModemStatus(), lambda: NOW)
    assert st.state == "ready" and st.operator == "Orange MALI" and up and apn.name == "internet"
    for registration in ("searching", "denied"):
        link.registration = registration
        st, up, apn = _from_link(link, st, lambda: NOW)
        assert st.state == registration and up is False and apn is None
        assert (st.operator, st.mcc_mnc, st.apn) == (None, None, None)
        assert st.signal_dbm == -95  # the signal is still measured


def test_a_stopped_daemon_is_not_running_at_once_and_a_new_start_clears_it(store, tmp_path):
    link = SimulatedLink()
    started: list[ModemDaemon] = []
    ready = threading.Event()

    def serve() -> None:
        # the daemon's own connection, as in its own process
        with Store(tmp_path / "keneya.db") as own:
            daemon = ModemDaemon(
                own,
                config=ModemConfig(),
                link=link,
                uploader=uploader_for(own, link),
                now=lambda: NOW,
                tick_s=0.01,
            )
            started.append(daemon)
            ready.set()
            daemon.run()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert ready.wait(30)
        deadline = time.monotonic() + 30  # a guard against hanging, not a measure
        while store.get_setting("modem.updated_at") is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert read_status(store, now=NOW)["daemon_running"] is True
    finally:
        started[0].stop()
        thread.join(timeout=30)
    status = read_status(store, now=NOW)  # the same instant: only the marker can say it
    assert status["daemon_running"] is False
    assert status["stopped_at"] == "2026-11-02T09:00:00.000000Z"
    assert "stopped at 2026-11-02" in status_text(status)
    again = ModemDaemon(
        store, config=ModemConfig(), link=link, uploader=uploader_for(store, link), now=lambda: NOW
    )
    again.start()
    again.tick()
    status = read_status(store, now=NOW)
    assert status["daemon_running"] is True and status["stopped_at"] is None


def concat_refs(sim, start: int = 0) -> list[tuple[int, int, int]]:
    """(reference, part, parts) of every SMS the simulator received since `start`."""
    out = []
    for record in sim.sms_sent[start:]:
        udh = sms.parse_submit_pdu(record["pdu_hex"])["udh"]
        out.append((udh["ref"], udh["seq"], udh["total"]) if udh else (-1, 1, 1))
    return out


@contextmanager
def ready_machine_numbering(sim, store) -> Iterator[ModemMachine]:
    """A machine on the simulator that takes its long-SMS references from the store's
    counter, stepped until ready (or 100 steps)."""
    with machine_on(sim, next_sms_reference=lambda: next_concat_reference(store)) as machine:
        for _ in range(100):
            if machine.step().state == "ready":
                break
            time.sleep(0.02)
        yield machine


def test_long_sms_references_increment_and_survive_a_restart(tmp_path, make_sim):
    sim = make_sim(smsc="+22300000000")
    database = tmp_path / "refs.db"
    with Store(database, create=True) as store, ready_machine_numbering(sim, store) as machine:
        machine.send_sms("+22370000009", LONG_TEXT)
        machine.send_sms("+22370000009", LONG_TEXT)
        first = concat_refs(sim)
        machine.send_sms("+22370000009", "court")  # one SMS: no reference spent
        assert concat_refs(sim, len(first)) == [(-1, 1, 1)]
        kept = store.get_setting(SMS_REFERENCE_SETTING)
    parts = first[0][2]
    assert parts >= 2 and len(first) == 2 * parts
    a, b = first[0][0], first[parts][0]
    assert [r for r, _, _ in first] == [a] * parts + [b] * parts
    assert b == (a + 1) % 256
    assert [seq for _, seq, _ in first] == list(range(1, parts + 1)) * 2
    assert kept == str(b)
    # a restart: a new store on the same database, a new machine
    done = len(sim.sms_sent)
    with Store(database) as store, ready_machine_numbering(sim, store) as machine:
        machine.send_sms("+22370000009", LONG_TEXT)
    assert {r for r, _, _ in concat_refs(sim, done)} == {(b + 1) % 256}


def test_the_reference_wraps_after_255(store):
    store.set_setting(SMS_REFERENCE_SETTING, "254")
    assert [next_concat_reference(store) for _ in range(3)] == [255, 0, 1]
    store.set_setting(SMS_REFERENCE_SETTING, "garbage")
    assert 0 <= next_concat_reference(store) <= 255
