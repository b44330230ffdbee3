"""The power daemon on the simulator and a real SQLite file. Time is simulated: nothing here
waits on the wall clock except bounded polls for gpiozero's thread."""

from __future__ import annotations

import dataclasses
import json
import re
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
from power.plausibility import Fault
from power.policy import Event, EventKind, ShutdownPolicy, State, Thresholds
from power.sensor import Reading
from power.shutdown import (
    POWEROFF,
    REBOOT,
    START_SERVICES,
    STOP_SERVICES,
    SYNC,
    SYSRQ_TRIGGER,
    CommandRecorder,
    SafeShutdown,
    WaitOptions,
    mount_point,
    write_sysfs,
)
from power.sim import SimClock, get
from power.sim.model import ControllerSpec, Mode
from power.simulated import NO_SCREEN, simulated_daemon
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


def screen_and_hub(root: Path) -> WaitOptions:
    """A 7" display's backlight and a framebuffer under `root`, shown (0), and the 3G stick on
    port 2 of hub 1-1."""
    backlight = root / "sys/class/backlight/10-0045/bl_power"
    blank = root / "sys/class/graphics/fb0/blank"
    for path in (backlight, blank):
        path.parent.mkdir(parents=True)
        path.write_text("0")
    return WaitOptions(
        backlight=str(root / "sys/class/backlight/*/bl_power"),
        fb_blank=str(blank),
        modem_usb_hub="1-1",
        modem_usb_port="2",
    )


def screen(root: Path) -> tuple[str, str]:
    return (
        (root / "sys/class/backlight/10-0045/bl_power").read_text(),
        (root / "sys/class/graphics/fb0/blank").read_text(),
    )


USB_OFF = ("uhubctl", "-l", "1-1", "-p", "2", "-a", "off")
USB_ON = ("uhubctl", "-l", "1-1", "-p", "2", "-a", "on")


def drive(db: Path, scenario, *, wait: WaitOptions | None = None, watch=None):
    """The daemon's loop by hand over the whole scenario (a cut by the controller ends it as
    `run` would); `watch(daemon, store)` after each step. Returns (summary, sim)."""
    with Store(db, create=True) as store:
        kw = {"wait": wait} if wait is not None else {}
        with simulated_daemon(store, scenario, origin=ORIGIN, settings=COARSE, **kw) as sim:
            d, clock = sim.daemon, sim.rig.clock
            while not d.stopped and clock.now < scenario.end_s:
                if d.power_lost():
                    break
                d.step()
                if watch is not None:
                    watch(d, store)
                if not d.stopped:
                    clock.advance(COARSE.sample_s)
            d.close()
        sim.finish()
    return d.summary, sim


def test_cloudy_days_end_in_the_low_power_wait(db, tmp_path):
    scenario = get("cloudy")
    rows: dict[str, dict] = {}

    def watch(d, store):
        state = store.power.state()
        rows.setdefault(state["state"], state)  # the first row of each state, as the kiosk saw

    summary, sim = drive(db, scenario, wait=screen_and_hub(tmp_path), watch=watch)
    # the services stopped once, the screen and the 3G stick off, no poweroff: the daemon
    # goes on sampling to the scenario's end
    assert sim.commands.calls == [STOP_SERVICES, USB_OFF]
    journal = sim.daemon.shutdown.journal
    assert journal == [
        "checkpoint",
        " ".join(STOP_SERVICES),
        "checkpoint",
        f"screen off: {tmp_path}/sys/class/backlight/10-0045/bl_power = 4",
        f"screen off: {tmp_path}/sys/class/graphics/fb0/blank = 1",
        " ".join(USB_OFF),
    ]
    assert screen(tmp_path) == ("4", "1")
    assert summary.execution.how == "low_power_wait" and summary.poweroff is None
    assert summary.execution.checkpoints[0][0] == 0  # not blocked: the WAL was copied
    assert summary.stopped_by == "" and summary.state == "low_power_wait"
    assert sim.rig.model.mode is Mode.LOW_POWER_WAIT  # the battery sees the smaller draw

    # the countdown: decided, shown with a deadline at least a minute away, then the wait
    countdown = rows["shutdown_pending"]
    got = stored(db)
    decided = next(e for e in got["events"] if e["kind"] == "shutdown_decided")
    waited = next(e for e in got["events"] if e["kind"] == "low_power_wait")
    assert countdown["shutdown_event_id"] == decided["id"]
    deadline = from_iso(countdown["shutdown_deadline"])
    assert deadline - from_iso(decided["at"]) == timedelta(seconds=120)
    assert from_iso(waited["at"]) >= deadline
    assert waited["detail"]["decided_event_id"] == decided["id"]
    assert waited["detail"]["origin"] == "policy"
    assert 10 < waited["soc"] < 20
    # before the decision the row counted the minutes to the shutdown point and said when
    warned = rows["warn"]
    assert warned["runtime_min"] is not None and warned["planned_shutdown_at"] is not None
    planned = from_iso(warned["planned_shutdown_at"])
    to_plan = planned - from_iso(warned["sampled_at"])
    assert abs(to_plan - timedelta(minutes=warned["runtime_min"])) <= timedelta(minutes=1)
    # in the wait: no deadline, no plan, the state says so
    wait_row = got["state"]
    assert wait_row["state"] == "low_power_wait" and wait_row["shutdown_deadline"] is None
    assert wait_row["planned_shutdown_at"] is None and wait_row["fault"] is None
    assert "low_power_wait" in got["states"]

    # every reading and every event the daemon made is in a sound database
    assert got["problems"] == []
    assert got["samples"] == summary.samples and got["faults"] == summary.faults == 0
    assert kinds(got["events"]) == ["warn", "shutdown_decided", "low_power_wait"]
    out = summary.to_dict()
    assert out["shutdown_executed"] is True and out["shutdown_how"] == "low_power_wait"
    assert out["shutdown_decided_h"] < out["shutdown_executed_h"] < scenario.days * 24
    # the cut that would have come had the appliance run on is hours away
    assert out["cutoff_at"] is None
    assert out["margin_if_running_s"] >= 1800
    assert out["wait_h"] > 0 and 0 < out["wait_wh"] < out["wait_h"] * 3


@pytest.mark.parametrize("name, days", [("sunny", 3), ("spikes", 7)])
def test_sunny_weeks_never_shut_down_even_with_spikes(db, name, days):
    summary, sim = run_for(db, get(name), days * 86_400)
    got = stored(db)
    assert summary.stopped_by == "duration"
    assert sim.commands.calls == []
    assert "shutdown_decided" not in kinds(got["events"])
    assert "shutdown_pending" not in got["states"]
    assert got["samples"] == summary.samples == days * 1440 + 1


def test_wrong_shunt_is_named_and_never_shuts_down(db):
    # a 0.1 ohm board read as 0.01 ohm: night currents 10x too high, the charge overflows
    scenario = get("wrong-shunt")
    summary, sim = drive(db, scenario)
    got = stored(db)
    assert sim.commands.calls == []
    assert "shutdown_decided" not in kinds(got["events"])
    assert "warn" not in kinds(got["events"])
    faults = [e for e in got["events"] if e["kind"] == "fault"]
    assert [e["detail"]["fault"] for e in faults] == ["wrong_shunt"]
    row = got["state"]
    assert row["fault"] == "wrong_shunt" and "0.1" in row["fault_detail"]
    assert row["state"] == "sensor_fault" and row["reason"] == row["fault_detail"]
    out = summary.to_dict()
    assert out["shutdown_executed"] is False and out["cutoff_at"] is None


def test_dead_sensor_stops_in_time_on_the_blind_estimate(db):
    scenario = get("dead-sensor")
    blind: list[dict] = []

    def watch(d, store):
        if d.held:
            return  # the hold closed the database
        row = store.power.state()
        if row["fault"] == "sensor_lost" and row["state"] != "low_power_wait":
            blind.append(row)

    summary, sim = drive(db, scenario, watch=watch)
    got = stored(db)
    events = kinds(got["events"])
    assert events[:2] == ["sensor_fault", "warn"]
    assert events[2:] == ["shutdown_decided", "low_power_wait", "critical"]
    # blind, the row said so and when it expected to stop the services
    assert blind and all(r["voltage_v"] is None for r in blind)
    assert "worst case" in blind[0]["fault_detail"]
    assert blind[0]["planned_shutdown_at"] is not None
    # services stopped by the wait, then the read-only hold on the blind estimate, no second
    # stop; blind, no voltage can say the battery recovered: the policy's timed retry would
    # come a day later at 11:00 UTC, but the controller's own disconnect comes first (the
    # hold draws ~2 W), safely, nothing being written; its reconnect boots the Pi
    assert sim.commands.calls == [STOP_SERVICES, SYNC, remount(db)]
    assert sim.commands.writes == [(SYSRQ_TRIGGER, "s"), (SYSRQ_TRIGGER, "u")]
    assert summary.stopped_by == "power_cut" and got["state"]["state"] == "critical"
    critical = next(e for e in got["events"] if e["kind"] == "critical")
    assert critical["detail"]["services_running"] is False
    out = summary.to_dict()
    assert out["shutdown_hows"] == ["low_power_wait", "critical_hold"]
    assert out["poweroff_at"] is None
    # before the cut that comes with the appliance running on (the issue: 77.2 h)
    assert out["margin_if_running_s"] >= 1800
    assert out["hold_started_h"] < out["cutoff_if_running_h"]
    assert out["reboot_by"] is None and out["cutoff_h"] > out["hold_started_h"]
    assert out["margin_s"] >= 1800  # the cut came in the hold, long after the records closed
    assert out["back_by"] == "reconnect" and out["back_h"] > out["cutoff_h"]
    assert sim.rig.model.mode is Mode.RUNNING
    assert got["problems"] == []


def test_reversed_shunt_stops_in_time_on_the_voltage(db):
    scenario = get("reversed-shunt")
    summary, sim = drive(db, scenario)
    got = stored(db)
    faults = [e for e in got["events"] if e["kind"] == "fault"]
    assert faults and faults[0]["detail"]["fault"] == "reversed_shunt"
    decided = next(e for e in got["events"] if e["kind"] == "shutdown_decided")
    assert "voltage" in decided["reason"]
    assert sim.commands.calls[0] == STOP_SERVICES
    out = summary.to_dict()
    assert out["shutdown_executed"] is True
    assert out["margin_if_running_s"] >= 1800
    assert out["cutoff_at"] is None or out["margin_s"] >= 1800
    assert got["state"]["fault"] == "reversed_shunt"


def test_ageing_battery_waits_holds_read_only_then_comes_back_by_itself(db):
    scenario = get("ageing")
    summary, sim = drive(db, scenario)
    got = stored(db)
    assert kinds(got["events"])[-2:] == ["low_power_wait", "critical"]
    assert sim.commands.calls == [STOP_SERVICES, SYNC, remount(db)]
    out = summary.to_dict()
    # the wait's smaller draw makes the battery last beyond the cut a running appliance met
    assert out["shutdown_executed_h"] < out["cutoff_if_running_h"] < out["hold_started_h"]
    assert out["margin_if_running_s"] >= 1800
    # the hold's draw brings the controller's cut (a halted Pi never did), its reconnect the
    # boot on the first sunny day: the appliance is back with nobody there
    assert out["hold_started_h"] < out["cutoff_h"] and out["margin_s"] >= 1800
    assert out["back_by"] == "reconnect" and out["cutoff_h"] < out["back_h"] < 5 * 24
    assert out["services_back_at"] == out["back_at"] == out["boots_at"][0]
    assert summary.stopped_by == "power_cut" and sim.rig.model.mode is Mode.RUNNING
    assert out["hold_h"] > 0 and out["hold_wh"] > 0


def test_recovery_brings_the_services_back_when_the_sun_does(db, tmp_path):
    scenario = get("recovery")
    screens: list[tuple[str, str]] = []

    def watch(d, store):
        if d.state is State.LOW_POWER_WAIT and not screens:
            screens.append(screen(tmp_path))

    summary, sim = drive(db, scenario, wait=screen_and_hub(tmp_path), watch=watch)
    got = stored(db)
    events = kinds(got["events"])
    assert events.index("low_power_wait") < events.index("services_resumed")
    assert events.count("low_power_wait") == events.count("services_resumed") == 1
    resumed = next(e for e in got["events"] if e["kind"] == "services_resumed")
    assert resumed["detail"]["by"] == "battery" and resumed["detail"]["waited_s"] > 3600
    # stopped, the screen and stick off; back in the reverse order; the kiosk at its login
    assert sim.commands.calls == [STOP_SERVICES, USB_OFF, USB_ON, START_SERVICES]
    journal = sim.daemon.shutdown.journal
    assert (
        journal.index(" ".join(USB_ON))
        < journal.index(f"screen on: {tmp_path}/sys/class/backlight/10-0045/bl_power = 0")
        < journal.index(" ".join(START_SERVICES))
    )
    assert screens == [("4", "1")] and screen(tmp_path) == ("0", "0")
    assert sim.rig.model.mode is Mode.RUNNING and got["state"]["state"] in ("ok", "warn")
    out = summary.to_dict()
    assert out["services_back_h"] > out["shutdown_executed_h"]
    assert out["cutoff_at"] is None and out["poweroff_at"] is None
    assert out["wait_wh"] > 0 and out["wait_wh_per_night"] < 30  # vs ~48 Wh running


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
    # (a controller whose LVD does not cut the load first: the point is the policy)
    controller = ControllerSpec(v_lvd=10.0)
    scenario = get("sunny").with_(start_s=9 * 3600, initial_soc=5.0, controller=controller)
    _, sim = run_for(db, scenario, 7 * 3600)
    with Store(db) as store:
        rows = store.query("SELECT MIN(v_min) AS v, MIN(i_avg) AS i FROM power_samples_1m")[0]
    assert rows["v"] < Thresholds.for_chemistry(Chemistry.LEAD_ACID).v_low
    assert rows["i"] > 0
    assert "shutdown_decided" not in kinds(stored(db)["events"])
    assert "critical" not in kinds(stored(db)["events"])
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


class System(CommandRecorder):
    """Commands and writes recorded in one ordered `log`; SysRq is never written for real, the
    screen attributes (under tmp_path) are."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []
        self.writes: list[tuple[str, str]] = []

    def __call__(self, argv) -> int:
        self.log.append(" ".join(argv))
        return super().__call__(argv)

    def write(self, path: Path, value: str) -> bool:
        self.log.append(f"write {path} {value}")
        self.writes.append((str(path), value))
        return True if str(path) == SYSRQ_TRIGGER else write_sysfs(path, value)


def remount(db: Path) -> tuple[str, ...]:
    return ("mount", "-o", "remount,ro", str(mount_point(db.parent)))


def scripted(
    store,
    script,
    *,
    start_s=0.0,
    origin=ORIGIN,
    panel_factory=None,
    wait=None,
    boot_id=None,
    policy_factory=None,
):
    clock = SimClock(start_s)
    commands = System()
    daemon = PowerDaemon(
        store,
        ScriptedSensor(clock, script),
        time_base=SimTime(clock, origin=origin, trusted=True),
        estimator=SocEstimator(40.0),
        thresholds=Thresholds.for_chemistry(Chemistry.LEAD_ACID),
        shutdown=SafeShutdown(
            grace_s=120,
            runner=commands,
            wait=wait or NO_SCREEN,
            write=commands.write,
            data_dir=store.path.parent if store is not None else None,
        ),
        settings=Settings(sample_s=5),
        boot_id=boot_id or "boot-test",
        panel_factory=panel_factory,
        policy_factory=policy_factory,
    )
    return daemon, clock, commands


def low_battery(t):
    return (11.2, -0.5)


def draining(t):
    """Low, then below the critical level (11.15 V) ten minutes later, in the wait."""
    return (11.2, -0.5) if t < 600 else (11.0, -0.3)


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
        pending, policy = daemon.pending, daemon.policy
        assert pending.origin == "policy"
        with Store(db) as other:  # another process: `keneya power cancel-shutdown`
            assert other.power.request_cancel(by="nurse", at="2026-10-15T00:01:00Z")
        step_while(daemon, clock, lambda: clock.now <= pending.deadline_t + 10)
        assert commands.calls == []  # no wait began at the first deadline
        assert daemon.policy is policy  # told of the cancel: its fault and draw history stay
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


def watch_the_database(store, log: list[str], monkeypatch) -> None:
    """Every write the daemon's store is asked for goes into `log`, in order with the
    commands."""
    repo = store.power
    for name in ("add_event", "add_samples", "set_state", "checkpoint", "rollup"):
        original = getattr(repo, name)

        def logged(*args, _original=original, _name=name, **kwargs):
            what = args[0]["kind"] if _name == "add_event" else ""
            log.append(f"db {_name} {what}".rstrip())
            return _original(*args, **kwargs)

        monkeypatch.setattr(repo, name, logged)


def test_a_critical_battery_in_the_wait_holds_read_only_and_the_outage_is_recorded(db, monkeypatch):
    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, draining)
        watch_the_database(store, commands.log, monkeypatch)
        step_while(daemon, clock, lambda: not daemon.held)
        assert not daemon.stopped  # the hold goes on sampling
        assert store.conn is None  # the hold closed the database itself
        held_at = len(commands.log)
        readings = daemon.summary.samples
        step_while(daemon, clock, lambda: clock.now < 3 * 3600)  # still critical: no reboot
        assert daemon.summary.samples > readings + 1000 and daemon.state is State.CRITICAL
        daemon.close()
    # the hold's steps in order: the event and the state written first, then the records
    # closed, then read-only; not one write to the database asked for after that
    log = commands.log
    hold = log[log.index("db add_event critical") :]
    assert hold == [
        "db add_event critical",
        "db set_state",
        "db add_samples",  # the open minute
        "db set_state",
        "db checkpoint",
        "db checkpoint",
        "sync",
        " ".join(remount(db)),
        f"write {SYSRQ_TRIGGER} s",
        f"write {SYSRQ_TRIGGER} u",
    ]
    assert len(log) == held_at
    assert commands.calls == [STOP_SERVICES, SYNC, remount(db)]  # services already stopped
    got = stored(db)
    # decided and warned on the same reading
    assert kinds(got["events"]) == ["shutdown_decided", "warn", "low_power_wait", "critical"]
    executed = got["events"][-1]
    assert "11.000 V < 11.15 V" in executed["reason"]
    assert executed["detail"]["services_running"] is False
    assert got["state"]["state"] == "critical" and got["state"]["reason"] == executed["reason"]
    assert daemon.summary.poweroff is None and daemon.summary.reboot is None
    assert daemon.summary.execution.how == "low_power_wait"
    assert [how for _, how in daemon.summary.executions] == ["low_power_wait", "critical_hold"]
    assert daemon.summary.stopped_by == ""  # still holding when the test stopped it

    next_day = ORIGIN + timedelta(days=1)
    for _ in range(2):  # a second start after the outage records nothing new
        with Store(db) as store:
            daemon, clock, _ = scripted(
                store, lambda t: (12.6, 1.0), origin=next_day, boot_id="boot-2"
            )
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


class ShutdownButton:
    """The status panel's shutdown button on gpiozero's mock pins, held for 0.05 s."""

    PIN = 26

    def __init__(self, factory: MockFactory) -> None:
        self.factory = factory
        self.asked = threading.Event()

    def panel(self, request) -> StatusPanel:
        """The daemon's panel_factory: a StatusPanel whose shutdown request is also noted."""

        def on_request():
            request()
            self.asked.set()

        pins = GpioPins(hold_s=0.05)
        return StatusPanel(pins, on_shutdown_request=on_request, pin_factory=self.factory)

    def hold(self) -> None:
        """Press the button until gpiozero's thread has called back, then let go."""
        self.factory.pin(self.PIN).drive_low()
        assert self.asked.wait(5.0)  # gpiozero's thread called back
        self.factory.pin(self.PIN).drive_high()


@pytest.fixture
def shutdown_button():
    factory = MockFactory()
    try:
        yield ShutdownButton(factory)
    finally:
        factory.reset()


def test_held_button_starts_the_same_safe_shutdown(db, shutdown_button):
    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(
            store, lambda t: (12.6, -0.3), panel_factory=shutdown_button.panel
        )
        daemon.step()
        assert daemon.panel.state is State.OK
        shutdown_button.hold()
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


def test_the_button_held_in_the_wait_brings_the_services_back(db, tmp_path, shutdown_button):
    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(
            store, low_battery, panel_factory=shutdown_button.panel, wait=screen_and_hub(tmp_path)
        )
        step_while(daemon, clock, lambda: not daemon.waiting)
        daemon.step()
        assert daemon.panel.state is State.LOW_POWER_WAIT
        assert screen(tmp_path) == ("4", "1")
        shutdown_button.hold()
        clock.advance(5)
        daemon.step()
        assert not daemon.waiting and daemon.policy.state is not State.LOW_POWER_WAIT
        assert commands.calls == [STOP_SERVICES, USB_OFF, USB_ON, START_SERVICES]
        assert screen(tmp_path) == ("0", "0")
        # the battery is still low: the policy decides again, with a new countdown
        step_while(daemon, clock, lambda: daemon.pending is None)
        assert daemon.pending.origin == "policy"
        daemon.close()
    events = stored(db)["events"]
    resumed = next(e for e in events if e["kind"] == "services_resumed")
    assert resumed["detail"]["by"] == "button"
    assert resumed["reason"] == "button held during the low-power wait"
    assert kinds(events).count("shutdown_decided") == 2


def test_the_controller_cutting_the_load_stops_the_daemon_and_its_reconnect_boots(db):
    # 5 % at 09:00 with a controller that cuts at 11.0 V: the load goes before any decision
    scenario = get("sunny").with_(start_s=9 * 3600, initial_soc=5.0, days=2)
    summary, sim = run_for(db, scenario, scenario.days * 86_400)
    sim.finish()
    out = summary.to_dict()
    assert summary.stopped_by == "power_cut" and sim.commands.calls == []
    assert out["cutoff_at"] is not None and out["shutdown_executed"] is False
    assert out["margin_s"] is None  # no safe stop came before the cut
    assert out["boots_at"] and out["boots_at"][0] > out["cutoff_at"]  # the sun, the reconnect
    assert sim.rig.model.mode is Mode.RUNNING


def test_a_restart_during_the_wait_takes_it_up_and_a_reboot_does_not(db):
    def sun(t):
        return (12.9, 2.0)

    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, low_battery)
        step_while(daemon, clock, lambda: not daemon.waiting)
        daemon.close()
        assert commands.calls == [STOP_SERVICES]
        # a reboot (another boot id): systemd started the services, nothing to take up
        rebooted, clock, commands = scripted(store, sun, boot_id="boot-2")
        rebooted.step()
        assert not rebooted.waiting and rebooted.state is not State.LOW_POWER_WAIT
        rebooted.close()
    with Store(db) as store:
        # the same boot: keneya-power restarted while the services were stopped
        restarted, clock, commands = scripted(store, sun)
        restarted.step()
        assert restarted.waiting and restarted.state is State.LOW_POWER_WAIT
        step_while(restarted, clock, lambda: restarted.waiting and clock.now < 3600)
        restarted.close()
    assert commands.calls == [START_SERVICES]  # the sun is back: the services too
    resumed = [e for e in stored(db)["events"] if e["kind"] == "services_resumed"]
    assert len(resumed) == 1 and resumed[0]["detail"]["by"] == "battery"


def test_a_database_that_refuses_writes_does_not_stop_the_shutdown(db, monkeypatch):
    def disk_error(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, draining)
        monkeypatch.setattr(store.power, "add_event", disk_error)
        monkeypatch.setattr(store.power, "add_samples", disk_error)
        step_while(daemon, clock, lambda: clock.now < 3600)
    # the wait, then the read-only hold
    assert commands.calls == [STOP_SERVICES, SYNC, remount(db)]
    assert daemon.summary.write_errors > 0 and daemon.held


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
        daemon.close()
    assert daemon.summary.write_errors == 1
    assert commands.calls == [STOP_SERVICES]
    got = stored(db)
    assert got["problems"] == []  # includes the foreign-key check
    waited = next(e for e in got["events"] if e["kind"] == "low_power_wait")
    decided = next(e for e in got["events"] if e["kind"] == "shutdown_decided")
    assert waited["detail"]["decided_event_id"] == decided["id"]
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


MORNING = 9 * 3600.0


def drained_then_sunny(t):
    """From 09:00: low, critical ten minutes later, then the sun from 10:00: a strong charge."""
    return draining(t - MORNING) if t < MORNING + 3600 else (13.8, 6.0)


def test_a_battery_recovering_in_the_hold_reboots_the_pi(db):
    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, drained_then_sunny, start_s=MORNING)
        step_while(daemon, clock, lambda: not daemon.held)
        step_while(daemon, clock, lambda: clock.now < MORNING + 12 * 3600)
    # a fresh policy in the wait said the battery has recovered: the Pi reboots, nothing
    # stopped first (the filesystems are read-only already)
    assert daemon.stopped and daemon.summary.stopped_by == "reboot"
    assert commands.calls == [STOP_SERVICES, SYNC, remount(db), REBOOT]
    assert daemon.summary.reboot_by == "battery"
    # charging and back to soc_resume (40 %) for resume_s (10 min): not at the first
    # charging reading, once some 30 % more charge is in at 6 A
    assert MORNING + 3600 + 3600 < daemon.summary.reboot[0] < MORNING + 6 * 3600
    # nothing written in the hold: the last stored event is still the critical one
    assert kinds(stored(db)["events"])[-1] == "critical"


def test_a_critical_battery_never_recovering_never_reboots(db):
    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, draining)
        step_while(daemon, clock, lambda: clock.now < 24 * 3600)
        daemon.close()
    assert daemon.held and not daemon.stopped and daemon.summary.reboot is None
    assert REBOOT not in commands.calls and POWEROFF not in commands.calls


def test_the_button_held_in_the_hold_reboots_the_pi(db, shutdown_button):
    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, draining, panel_factory=shutdown_button.panel)
        step_while(daemon, clock, lambda: not daemon.held)
        clock.advance(5)
        daemon.step()
        assert daemon.panel.state is State.CRITICAL and not daemon.stopped
        shutdown_button.hold()
        clock.advance(5)
        daemon.step()
        assert daemon.stopped and daemon.summary.stopped_by == "reboot"
        daemon.close()
    assert commands.calls == [STOP_SERVICES, SYNC, remount(db), REBOOT]
    assert daemon.summary.reboot_by == "button"


def test_a_critical_battery_while_running_stops_the_services_then_holds(db, monkeypatch):
    def script(t):
        return (11.0, -0.6)  # below the critical level from the first reading

    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, script)
        watch_the_database(store, commands.log, monkeypatch)
        step_while(daemon, clock, lambda: not daemon.held)
    log = commands.log
    assert log.index("db add_event critical") < log.index(" ".join(STOP_SERVICES))
    assert commands.calls == [STOP_SERVICES, SYNC, remount(db)]
    assert daemon.summary.hold is not None and daemon.summary.execution.how == "critical_hold"
    critical = next(e for e in stored(db)["events"] if e["kind"] == "critical")
    assert critical["detail"]["services_running"] is True


def test_a_restart_during_the_hold_of_the_same_boot_takes_it_up(db):
    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, drained_then_sunny, start_s=MORNING)
        step_while(daemon, clock, lambda: not daemon.held)
        daemon.close()
    before = stored(db)["events"]
    with Store(db) as store:
        restarted, clock, commands = scripted(store, drained_then_sunny, start_s=MORNING + 1800)
        restarted.step()
        assert restarted.held and restarted.state is State.CRITICAL
        # the read-only steps once more; nothing to stop, no outage recorded, nothing written
        assert commands.calls == [SYNC, remount(db)]
        step_while(restarted, clock, lambda: clock.now < MORNING + 12 * 3600)
    assert restarted.summary.stopped_by == "reboot" and commands.calls[-1] == REBOOT
    assert stored(db)["events"] == before


def test_the_sun_before_the_disconnect_the_hold_reboots_the_simulated_pi(db):
    # 13 % at 20:00: the wait, critical before dawn, then a clear day charges the battery
    # before the controller's disconnect came: the hold reboots the Pi itself
    scenario = get("sunny").with_(initial_soc=13.0, start_s=20 * 3600.0, days=2)
    summary, sim = run_for(db, scenario, scenario.days * 86_400)
    sim.finish()
    out = summary.to_dict()
    assert out["shutdown_hows"] == ["low_power_wait", "critical_hold"]
    assert summary.stopped_by == "reboot" and out["reboot_by"] == "battery"
    assert sim.commands.calls[-1] == REBOOT and sim.commands.count(REBOOT) == 1
    assert out["cutoff_at"] is None and out["margin_s"] is None
    # back by its own reboot, on the same day's sun (15:12 UTC)
    assert out["back_by"] == "reboot" and out["back_at"][:16] == out["reboot_at"][:16]
    assert out["hold_started_h"] < out["reboot_h"] < out["hold_started_h"] + 14
    assert sim.rig.model.mode is Mode.RUNNING and sim.rig.model.boot_causes == ["reboot"]
    assert stored(db)["state"]["state"] == "critical"  # nothing written in the hold


BLIND_RETRY_S = 20 * 3600


class BlindRetryPolicy:
    """The real policy, plus the blind retry of the low-power wait: with the sensor lost, a
    RESUME (fault sensor_lost) 20 h after the wait began, as the policy itself emits it."""

    def __init__(self) -> None:
        self.inner = ShutdownPolicy(Thresholds.for_chemistry(Chemistry.LEAD_ACID))
        self.wait_t: float | None = None

    def enter_wait(self, t: float) -> None:
        self.wait_t = t
        self.inner.enter_wait(t)

    def feed(self, sample):
        d = self.inner.feed(sample)
        waited = None if self.wait_t is None else d.t - self.wait_t
        if d.fault is Fault.SENSOR_LOST and waited is not None and waited >= BLIND_RETRY_S:
            self.wait_t = None
            retry = Event(d.t, EventKind.RESUME, "sensor lost for 20 h: a retry")
            return dataclasses.replace(d, events=(*d.events, retry))
        return d

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.parametrize("policy_factory", [BlindRetryPolicy, None], ids=["stub", "policy"])
def test_a_blind_retry_in_the_hold_reboots_the_pi(db, policy_factory):
    sensor = {"dead": False}

    def script(t):
        return None if sensor["dead"] else draining(t)

    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, script, policy_factory=policy_factory)
        step_while(daemon, clock, lambda: not daemon.held)
        held_at = clock.now
        sensor["dead"] = True  # no voltage will ever reach v_resume again
        step_while(daemon, clock, lambda: clock.now < held_at + 2 * 86_400)
    # the policy's timed retry is the only way out short of the controller's cut: it reboots
    assert daemon.stopped and daemon.summary.stopped_by == "reboot"
    assert daemon.summary.reboot_by == "blind_retry"
    assert commands.calls == [STOP_SERVICES, SYNC, remount(db), REBOOT]
    assert held_at + BLIND_RETRY_S - 60 <= daemon.summary.reboot[0] <= held_at + 44 * 3600
    if policy_factory is None:
        # the hold began at 00:10 UTC by a trusted clock: 20 h at least, then 11:00, the sun up
        assert daemon.summary.reboot[1][11:16] == "11:00"


def test_the_progress_lines_count_to_the_safe_shutdown_not_to_an_empty_battery(db):
    lines: list[str] = []
    settings = Settings(sample_s=60, batch_s=600, report_every_s=3600)
    with (
        Store(db, create=True) as store,
        simulated_daemon(
            store, get("cloudy"), origin=ORIGIN, settings=settings, echo=lines.append
        ) as sim,
    ):
        summary = sim.daemon.run(duration_s=3 * 86_400)
    decided = from_iso(summary.decided[1])
    said = []
    for line in lines:
        m = re.match(r"(\S+ \S+)Z .* ([0-9.]+) h to the safe shutdown$", line)
        if m:
            at = datetime.fromisoformat(m[1]).replace(tzinfo=UTC)
            said.append((at, float(m[2])))
    # the night before the decision (a steady draw): each line's hours come true
    night = [(at, h) for at, h in said if decided - timedelta(hours=8) <= at < decided]
    assert len(night) >= 7
    for at, hours in night:
        assert abs((decided - at).total_seconds() / 3600 - hours) < 0.5, (at, hours)


def test_a_restart_during_a_countdown_records_that_it_was_dropped(db):
    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, low_battery)
        step_while(daemon, clock, lambda: daemon.pending is None)
        decided_id = daemon.pending.event_id
        daemon.close()  # SIGTERM during the countdown
        assert store.power.state()["state"] == "shutdown_pending"
        restarted, clock, commands = scripted(store, low_battery, start_s=clock.now + 30)
        restarted.step()
        assert restarted.pending is None  # not taken up: the policy decides again
        restarted.close()
        again, clock, _ = scripted(store, low_battery, start_s=clock.now + 30)
        again.step()  # the row no longer says shutdown_pending: nothing more to drop
        again.close()
    events = stored(db)["events"]
    dropped = [e for e in events if e["kind"] == "shutdown_cancelled"]
    assert len(dropped) == 1
    assert dropped[0]["reason"] == "monitor restarted"
    assert dropped[0]["detail"] == {"by": "restart", "decided_event_id": decided_id}
    assert kinds(events).index("shutdown_decided") < kinds(events).index("shutdown_cancelled")
    assert commands.calls == []


def test_a_sensor_reading_an_impossible_voltage_in_the_hold_is_blind_too(db):
    """IN- come off the battery reads ~0 V: the policy names it implausible and is as blind
    as with a dead bus; its timed retry reboots the Pi out of the hold all the same."""
    sensor = {"off": False}

    def script(t):
        return (0.02, 0.0) if sensor["off"] else draining(t)

    with Store(db, create=True) as store:
        daemon, clock, commands = scripted(store, script)
        step_while(daemon, clock, lambda: not daemon.held)
        held_at = clock.now
        sensor["off"] = True
        step_while(daemon, clock, lambda: clock.now < held_at + 2 * 86_400)
    assert daemon.stopped and daemon.summary.reboot_by == "blind_retry"
    assert commands.calls[-1] == REBOOT
