"""The power daemon on the simulator and a real SQLite file. Time is simulated: nothing here
waits on the wall clock except bounded polls for gpiozero's thread."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from appliance.backup.usb import STATUS_SETTING
from appliance.clock import from_iso, to_iso
from appliance.store import Store
from power.battery import Chemistry, SocEstimator
from power.config import GpioPins
from power.daemon import PowerDaemon, Settings
from power.errors import SensorFault
from power.gpio import StatusPanel
from power.policy import State, Thresholds
from power.sensor import Reading
from power.shutdown import POWEROFF, STOP_SERVICES, CommandRecorder, SafeShutdown
from power.sim import SimClock, get
from power.simulated import simulated_daemon
from power.timebase import SimTime

pytestmark = pytest.mark.component

ORIGIN = datetime(2026, 10, 15, tzinfo=UTC)
COARSE = Settings(sample_s=60, batch_s=600)


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "keneya.db"


def stored(path: Path) -> dict:
    """What a fresh connection finds: integrity, readings per table, events oldest first."""
    with Store(path) as s:
        totals = s.power.totals()
        return {
            "problems": s.integrity_check(),
            "samples": sum(t["samples"] for t in totals.values()),
            "faults": sum(t["faults"] for t in totals.values()),
            "events": s.power.events(limit=10_000)[::-1],
            "states": {
                r["state"]
                for table in ("1m", "15m", "1d")
                for r in s.query(f"SELECT DISTINCT state FROM power_samples_{table}")
            },
            "state": s.power.state(),
        }


def kinds(events) -> list[str]:
    return [e["kind"] for e in events]


def run_for(db: Path, scenario, duration_s: float, *, settings: Settings = COARSE):
    with (
        Store(db, create=True) as store,
        simulated_daemon(store, scenario, origin=ORIGIN, settings=settings) as sim,
    ):
        summary = sim.daemon.run(duration_s=duration_s)
    return summary, sim


# -- the simulator scenarios ---------------------------------------------------------------


def test_cloudy_days_end_in_one_safe_shutdown(db):
    scenario = get("cloudy")
    countdown = None
    with Store(db, create=True) as store:
        with simulated_daemon(store, scenario, origin=ORIGIN, settings=COARSE) as sim:
            d, clock = sim.daemon, sim.rig.clock
            while not d.stopped and clock.now < scenario.end_s:
                d.step()
                if d.pending is not None and countdown is None:
                    countdown = store.power.state()  # what the kiosk reads
                if not d.stopped:
                    clock.advance(COARSE.sample_s)
            summary = d.summary
        assert store.conn is None  # the safe shutdown closed the database itself

    assert summary.stopped_by == "shutdown"
    assert sim.commands.calls == [STOP_SERVICES, POWEROFF]  # poweroff once, services first
    first_checkpoint = summary.execution.checkpoints[0]
    assert first_checkpoint[0] == 0  # not blocked: the WAL was copied into the database
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0

    # the countdown: decided, shown with a deadline at least a minute away, then executed
    assert countdown["state"] == "shutdown_pending"
    got = stored(db)
    decided = next(e for e in got["events"] if e["kind"] == "shutdown_decided")
    executed = next(e for e in got["events"] if e["kind"] == "shutdown_executed")
    assert countdown["shutdown_event_id"] == decided["id"]
    deadline = from_iso(countdown["shutdown_deadline"])
    assert deadline - from_iso(decided["at"]) == timedelta(seconds=120) >= timedelta(seconds=60)
    assert from_iso(executed["at"]) >= deadline
    assert executed["detail"]["decided_event_id"] == decided["id"]
    assert 10 < executed["soc"] < 20

    # every reading and every event the daemon made is in a sound database
    assert got["problems"] == []
    assert got["samples"] == summary.samples and got["faults"] == summary.faults == 0
    assert [(e["kind"], e["at"]) for e in got["events"]] == [
        (e["kind"], e["at"]) for e in summary.events
    ]
    assert kinds(got["events"]) == ["warn", "shutdown_decided", "shutdown_executed"]


@pytest.mark.parametrize("name, days", [("sunny", 3), ("spikes", 7)])
def test_sunny_weeks_never_shut_down_even_with_spikes(db, name, days):
    summary, sim = run_for(db, get(name), days * 86_400)
    got = stored(db)
    assert summary.stopped_by == "duration"
    assert sim.commands.calls == []
    assert "shutdown_decided" not in kinds(got["events"])
    assert "shutdown_pending" not in got["states"]
    assert got["samples"] == summary.samples == days * 1440 + 1


def test_sensor_fault_is_reported_never_acted_on(db):
    scenario = get("sensor-fault")
    summary, sim = run_for(db, scenario, scenario.days * 86_400)
    got = stored(db)
    assert summary.faults > 0 and got["faults"] == summary.faults
    assert "sensor_fault" in kinds(got["events"])
    assert "sensor_fault" in got["states"]
    assert "shutdown_decided" not in kinds(got["events"])
    assert sim.commands.calls == []
    assert got["problems"] == []


def test_charging_never_shuts_down_even_from_a_nearly_empty_battery(db):
    # 09:00, 5 % charge, the sun up: the voltage is far below v_low but the battery charges
    scenario = get("sunny").with_(start_s=9 * 3600, initial_soc=5.0)
    _, sim = run_for(db, scenario, 7 * 3600)
    with Store(db) as store:
        rows = store.query("SELECT MIN(v_min) AS v, MIN(i_avg) AS i FROM power_samples_1m")[0]
    assert rows["v"] < Thresholds.for_chemistry(Chemistry.LEAD_ACID).v_low
    assert rows["i"] > 0
    assert "shutdown_decided" not in kinds(stored(db)["events"])
    assert sim.commands.calls == []


def test_readings_every_few_seconds_are_written_once_a_minute(db):
    summary, _ = run_for(db, get("sunny"), 2 * 3600, settings=Settings())  # 5 s, 60 s
    assert summary.samples == 2 * 720 + 1
    assert summary.writes <= 2 * 60 + 3  # one transaction a minute, plus the first and last
    got = stored(db)
    assert got["samples"] == summary.samples


def test_stopping_mid_minute_keeps_the_partial_minute(db):
    with (
        Store(db, create=True) as store,
        simulated_daemon(store, get("sunny"), origin=ORIGIN) as sim,
    ):
        for _ in range(7):
            sim.daemon.step()
            sim.rig.clock.advance(5)
        sim.daemon.stop()
    got = stored(db)
    assert got["samples"] == 7 and got["problems"] == []
    # the last step, 30 s in (plus the INA219 configuration delay, paid in simulated time)
    assert got["state"]["sampled_at"].startswith("2026-10-15T00:00:30.")


# -- scripted readings: cancel, outage, button ---------------------------------------------


class ScriptedSensor:
    """A PowerSensor whose (voltage, current) follow a function of simulated time."""

    def __init__(self, clock: SimClock, script):
        self.clock, self.script = clock, script

    def read(self) -> Reading:
        value = self.script(self.clock.now)
        if value is None:
            raise SensorFault("scripted fault")
        v, i = value
        return Reading(v, i * 10, i, abs(v * i), False, True)

    def close(self) -> None:
        pass


def scripted(store, script, *, start_s=0.0, origin=ORIGIN, panel_factory=None):
    clock = SimClock(start_s)
    commands = CommandRecorder()
    daemon = PowerDaemon(
        store,
        ScriptedSensor(clock, script),
        time_base=SimTime(clock, origin=origin, trusted=True),
        estimator=SocEstimator(40.0),
        thresholds=Thresholds.for_chemistry(Chemistry.LEAD_ACID),
        shutdown=SafeShutdown(grace_s=120, runner=commands),
        settings=Settings(sample_s=5),
        boot_id="boot-test",
        panel_factory=panel_factory,
    )
    return daemon, clock, commands


def low_battery(t):
    return (11.2, -0.5)


def step_while(daemon, clock, keep_going, *, sample_s=5.0):
    """The daemon's loop, by hand: step, then move simulated time on."""
    while not daemon.stopped and keep_going():
        daemon.step()
        if not daemon.stopped:
            clock.advance(sample_s)


def test_staff_cancel_before_the_deadline_means_no_poweroff(db):
    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, low_battery)
        step_while(daemon, clock, lambda: daemon.pending is None)
        pending = daemon.pending
        assert pending.origin == "policy"
        with Store(db) as other:  # another process: `keneya power cancel-shutdown`
            assert other.power.request_cancel(by="nurse", at="2026-10-15T00:01:00Z")
        step_while(daemon, clock, lambda: clock.now <= pending.deadline_t + 10)
        assert commands.calls == []
        # the battery is still low: the daemon has decided again, with its own countdown
        assert daemon.pending is not None and daemon.pending.event_id != pending.event_id
        assert daemon.pending.deadline_t > pending.deadline_t
        state = store.power.state()
        daemon.close()
    events = stored(db)["events"]
    cancelled = [e for e in events if e["kind"] == "shutdown_cancelled"]
    assert len(cancelled) == 1 and cancelled[0]["detail"]["by"] == "nurse"
    assert cancelled[0]["reason"] == "cancelled by nurse"
    assert state["cancel_for"] is None  # the request was used up
    assert state["shutdown_event_id"] == daemon.pending.event_id


def test_power_returning_cancels_the_countdown(db):
    def script(t):
        return (11.2, -0.5) if t < 60 else (12.9, 2.0)  # the sun comes out after a minute

    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, script)
        step_while(daemon, clock, lambda: clock.now <= 600)
        state = store.power.state()
        daemon.close()
    assert commands.calls == []
    events = kinds(stored(db)["events"])
    assert events.index("shutdown_decided") < events.index("shutdown_cancelled")
    assert state["state"] != "shutdown_pending" and state["shutdown_deadline"] is None


def test_outage_is_recorded_at_the_next_start(db):
    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, low_battery)
        step_while(daemon, clock, lambda: True)
        assert commands.count(POWEROFF) == 1
    executed = stored(db)["events"][-1]
    assert executed["kind"] == "shutdown_executed"

    next_day = ORIGIN + timedelta(days=1)
    for _ in range(2):  # a second start after the outage records nothing new
        with Store(db) as store:
            daemon, clock, _ = scripted(store, lambda t: (12.6, 1.0), origin=next_day)
            daemon.step()
            daemon.close()
    events = stored(db)["events"]
    outages = [e for e in events if e["kind"] == "outage"]
    assert len(outages) == 1
    detail = outages[0]["detail"]
    off_s = (next_day - from_iso(executed["at"])).total_seconds()
    assert detail["duration_s"] == round(off_s)
    assert detail["soc_at_shutdown"] == executed["soc"] == outages[0]["soc"]
    assert detail["shutdown_event_id"] == executed["id"]
    assert detail["duration_trusted"] is True


def test_held_button_starts_the_same_safe_shutdown(db):
    factory = MockFactory()
    asked = threading.Event()

    def panel_factory(request):
        def on_request():
            request()
            asked.set()

        pins = GpioPins(hold_s=0.05)
        return StatusPanel(pins, on_shutdown_request=on_request, pin_factory=factory)

    try:
        with Store(db, create=True) as store:
            daemon, clock, commands = scripted(
                store, lambda t: (12.6, -0.3), panel_factory=panel_factory
            )
            daemon.step()
            assert daemon.panel.state is State.OK
            factory.pin(26).drive_low()
            assert asked.wait(5.0)  # gpiozero's thread called back
            factory.pin(26).drive_high()
            clock.advance(5)
            daemon.step()
            assert daemon.pending is not None and daemon.pending.origin == "button"
            assert daemon.panel.state is State.SHUTDOWN_PENDING
            assert daemon.policy.state is State.OK  # the battery itself is fine
            step_while(daemon, clock, lambda: True)
        assert commands.calls == [STOP_SERVICES, POWEROFF]
        events = stored(db)["events"]
        assert kinds(events) == ["shutdown_decided", "shutdown_executed"]
        assert events[0]["reason"] == "shutdown button held"
    finally:
        factory.reset()


def test_a_database_that_refuses_writes_does_not_stop_the_shutdown(db, monkeypatch):
    def disk_error(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, low_battery)
        monkeypatch.setattr(store.power, "add_event", disk_error)
        monkeypatch.setattr(store.power, "add_samples", disk_error)
        step_while(daemon, clock, lambda: clock.now < 3600)
    assert commands.calls == [STOP_SERVICES, POWEROFF]
    assert daemon.summary.write_errors > 0 and daemon.summary.stopped_by == "shutdown"


def test_a_write_that_fails_once_leaves_no_dangling_shutdown(db, monkeypatch):
    with Store(db, create=True) as store:
        add_event = store.power.add_event

        def fail_the_decision(event):
            if event["kind"] == "shutdown_decided":
                monkeypatch.setattr(store.power, "add_event", add_event)  # only this once
                raise sqlite3.OperationalError("database is locked")
            return add_event(event)

        monkeypatch.setattr(store.power, "add_event", fail_the_decision)
        daemon, clock, commands = scripted(store, low_battery)
        step_while(daemon, clock, lambda: clock.now < 3600)
    assert daemon.summary.write_errors == 1
    assert commands.calls == [STOP_SERVICES, POWEROFF]
    got = stored(db)
    assert got["problems"] == []  # includes the foreign-key check
    assert "shutdown_executed" in kinds(got["events"])
    assert got["samples"] == daemon.summary.samples  # the failed batch was written later


def test_the_led_shows_a_usb_backup_written_by_another_process(db):
    """`keneya backup usb` records its outcome in the store; the daemon, which owns the LED,
    shows it while the battery is fine."""
    factory = MockFactory()
    try:
        with Store(db, create=True) as store:
            daemon, clock, _ = scripted(
                store,
                lambda t: (12.6, -0.3),
                panel_factory=lambda request: StatusPanel(GpioPins(), pin_factory=factory),
            )
            daemon.step()
            assert daemon.panel.usb is None
            with Store(db) as other:
                other.set_setting(
                    STATUS_SETTING,
                    json.dumps({"state": "done", "at": to_iso(datetime.now(UTC))}),
                )
            clock.advance(5)
            daemon.step()
            assert daemon.panel.state is State.OK and daemon.panel.usb == "done"
    finally:
        factory.reset()
