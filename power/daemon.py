"""keneya-power: read the battery every few seconds, keep its history, shut down in time.

One loop, one thread (gpiozero's button thread only raises a flag). Each step reads the
sensor, feeds the SoC estimator and the shutdown policy, and adds the reading to the open
minute. Writes are batched: closed minutes and the current state go to the store in one
transaction every `batch_s` (default 60 s), and at once when something happens (an event, a
change of state, a shutdown decided or cancelled). Shares state with the kiosk and web app only
through the store (`power_state`, `power_events`, `power_samples_*`).

At the end of a low battery's countdown the appliance enters the low-power wait
(power/shutdown.py): services stopped, screen and 3G stick off, and this loop goes on reading
the battery. The policy says when it has recovered (the services start again) or when it is
critical. Critical (running or waiting) ends in the READ-ONLY HOLD: the `critical` event and
state are written, the records closed and every filesystem made read-only; the Pi stays on at
the wait's draw, so the charge controller's low-voltage disconnect does come (a halted Pi
draws so little that the battery recovers above it and the controller's reconnect never boots
it). In the hold this loop still reads the battery but writes nothing: if a fresh policy in
the wait sees the battery recover, or the panel button is held, it reboots the Pi; otherwise
the controller cuts it -- harmless now -- and its reconnect boots it when the sun returns.
The panel button held during the wait brings the services back at once; held while running
it asks for a safe shutdown that ends in a poweroff (someone is there to switch it on).

A full or read-only disk never stops the monitoring: closed minutes (two days of them) and
events wait in memory and go with the next write that succeeds; a database that could not be
opened at all, or only read-only, is opened again at each write. No shutdown decision waits on
a write. The loop is also what keeps the disk from filling: every `prune_every_s` it prunes
old power and outbox history when the data folder's free space is under `min_free_fraction`
(appliance.store.pruning), since keneya-power is the one process that always runs.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.backup.usb import read_status as read_usb_status
from appliance.clock import from_iso, to_iso
from appliance.sdnotify import Notifier
from appliance.store.db import StoreError
from appliance.store.diskspace import check, classify
from appliance.store.power import POWEROFF_KINDS
from appliance.store.pruning import DEFAULT_MIN_FREE_FRACTION, make_room
from power.aggregate import MinuteAggregator
from power.battery import SocEstimate, SocEstimator
from power.errors import SensorFault
from power.gpio import usb_signal
from power.plausibility import Fault
from power.policy import (
    Decision,
    EventKind,
    FaultSample,
    ShutdownPolicy,
    State,
    Thresholds,
)
from power.sampling import sample_from_reading
from power.sensor import PowerSensor, Reading
from power.shutdown import ExecutionReport, PendingShutdown, SafeShutdown

if TYPE_CHECKING:
    from appliance.store import Store
    from power.gpio import StatusPanel
    from power.timebase import TimeBase

log = logging.getLogger(__name__)

# policy event -> stored event kind
EVENT_KINDS = {
    EventKind.WARN: "warn",
    EventKind.WARN_CLEARED: "warn_cleared",
    EventKind.SHUTDOWN: "shutdown_decided",
    EventKind.SHUTDOWN_CANCELLED: "shutdown_cancelled",
    EventKind.SENSOR_FAULT: "sensor_fault",
    EventKind.SENSOR_RECOVERED: "sensor_recovered",
    EventKind.FAULT: "fault",
    EventKind.FAULT_CLEARED: "fault_cleared",
}
BUTTON_REASON = "shutdown button held"
BUTTON_RESUME_REASON = "button held during the low-power wait"
BUTTON_REBOOT_REASON = "button held during the read-only hold"
RESTART_REASON = "monitor restarted"
# Closed minutes kept while the database refuses writes (two days), retried at each write.
MAX_UNWRITTEN_ROWS = 2 * 1440
# Events kept meanwhile (a few a day in a normal week; the oldest go first past this).
MAX_UNWRITTEN_EVENTS = 1000
# Sunset to sunrise in Bamako (power.sim.model.Panel): a night of the low-power wait.
NIGHT_H = 11.75  # 18:45 to 06:30
# What a write that fails may raise: SQLite, the OS (the lock files), the store's own errors
# (a full or read-only disk, a restore in progress).
WRITE_ERRORS = (sqlite3.Error, OSError, StoreError)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    sample_s: float = 5.0  # sensor read period (loop time)
    batch_s: float = 60.0  # at most this long between writes when nothing happens
    rollup_every_s: float = 3600.0  # fold old minutes into coarser rows this often
    report_every_s: float = 0.0  # a status line through `echo` this often (0: events only)
    prune_every_s: float = 300.0  # look at the data folder's free space this often
    min_free_fraction: float = DEFAULT_MIN_FREE_FRACTION  # prune old history below this

    def __post_init__(self) -> None:
        if not (
            self.sample_s > 0
            and self.batch_s > 0
            and self.rollup_every_s > 0
            and self.prune_every_s > 0
        ):
            raise ValueError("sample_s, batch_s, rollup_every_s and prune_every_s must be positive")
        if not 0 <= self.min_free_fraction < 1:
            raise ValueError("min_free_fraction must be in [0, 1)")


@dataclass
class Summary:
    samples: int = 0
    faults: int = 0
    writes: int = 0  # write transactions
    write_errors: int = 0  # writes the database refused (kept for the next write)
    unwritten_rows: int = 0  # closed minutes still waiting for a write at the end
    unwritten_events: int = 0
    pruned: int = 0  # rows of old history pruned to keep room on the disk
    event_counts: Counter[str] = field(default_factory=Counter)
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=1000))
    stopped_by: str = ""  # "duration", "signal" or "shutdown"
    state: str = ""
    first_at: str | None = None
    last_at: str | None = None
    execution: ExecutionReport | None = None  # the first safe stop (the wait or a poweroff)
    poweroff: ExecutionReport | None = None
    start_t: float | None = None  # loop time of the first step
    # (loop time, wall ISO) of what happened; the first of each
    decided: tuple[float, str] | None = None
    executed: tuple[float, str] | None = None
    powered_off: tuple[float, str] | None = None
    services_back: tuple[float, str] | None = None
    executions: list[tuple[float, str]] = field(default_factory=list)  # (loop time, how)
    hold: tuple[float, str] | None = None  # the read-only hold began (a critical battery)
    reboot: tuple[float, str] | None = None  # the hold's reboot (battery recovered, button)
    reboot_by: str | None = None  # "battery", "blind_retry" (sensor lost) or "button"
    # What only a simulation knows (power.simulated fills them in): the controller's cut.
    cutoff: tuple[float, str] | None = None
    margin_s: float | None = None  # cut-off - the last safe stop before it
    # the cut-off had the appliance kept running (no safe stop), and the margin to it
    cutoff_if_running: tuple[float, str] | None = None
    margin_if_running_s: float | None = None
    wait_wh: float | None = None
    wait_h: float | None = None
    boots: list[tuple[float, str]] = field(default_factory=list)
    # the first boot after the hold (services back): the hold's reboot or the reconnect's
    back: tuple[float, str] | None = None
    back_by: str | None = None  # "reboot" or "reconnect"
    hold_wh: float | None = None
    hold_h: float | None = None

    def _when(self, prefix: str, value: tuple[float, str] | None) -> dict[str, Any]:
        hours = None
        if value is not None and self.start_t is not None:
            hours = round((value[0] - self.start_t) / 3600, 3)
        return {f"{prefix}_at": value[1] if value else None, f"{prefix}_h": hours}

    def to_dict(self) -> dict[str, Any]:
        how = self.execution.how if self.execution is not None else None
        wait_per_night = None
        if self.wait_wh is not None and self.wait_h:
            wait_per_night = round(self.wait_wh / self.wait_h * NIGHT_H, 1)
        return {
            "samples": self.samples,
            "faults": self.faults,
            "writes": self.writes,
            "write_errors": self.write_errors,
            "unwritten_rows": self.unwritten_rows,
            "unwritten_events": self.unwritten_events,
            "pruned": self.pruned,
            "events": dict(self.event_counts),
            "stopped_by": self.stopped_by,
            "state": self.state,
            "first_sample_at": self.first_at,
            "last_sample_at": self.last_at,
            "shutdown_executed": self.execution is not None,
            **self._when("shutdown_decided", self.decided),
            **self._when("shutdown_executed", self.executed),
            "shutdown_how": how,
            "shutdown_hows": [h for _, h in self.executions],
            **self._when("hold_started", self.hold),
            **self._when("reboot", self.reboot),
            "reboot_by": self.reboot_by,
            **self._when("poweroff", self.powered_off),
            **self._when("services_back", self.services_back),
            **self._when("cutoff", self.cutoff),
            "margin_s": None if self.margin_s is None else round(self.margin_s),
            **self._when("cutoff_if_running", self.cutoff_if_running),
            "margin_if_running_s": (
                None if self.margin_if_running_s is None else round(self.margin_if_running_s)
            ),
            "wait_wh": None if self.wait_wh is None else round(self.wait_wh, 2),
            "wait_h": None if self.wait_h is None else round(self.wait_h, 2),
            "wait_wh_per_night": wait_per_night,
            "boots_at": [at for _, at in self.boots],
            **self._when("back", self.back),
            "back_by": self.back_by,
            "hold_wh": None if self.hold_wh is None else round(self.hold_wh, 2),
            "hold_h": None if self.hold_h is None else round(self.hold_h, 2),
        }


def iso(wall_s: float) -> str:
    return to_iso(datetime.fromtimestamp(wall_s, UTC))


class PowerDaemon:
    """The loop. The caller owns (and closes) the store, the sensor and the notifier; the
    daemon owns the status panel it makes with `panel_factory`, and the stores `reopen` gives
    it. `store` may be None (the database could not be opened): with `reopen`, the daemon opens
    it when it has something to write; without, it monitors and keeps what it cannot write."""

    def __init__(
        self,
        store: Store | None,
        sensor: PowerSensor,
        *,
        time_base: TimeBase,
        estimator: SocEstimator,
        thresholds: Thresholds,
        shutdown: SafeShutdown,
        settings: Settings | None = None,
        source: str = "ina219",
        boot_id: str | None = None,
        notifier: Notifier | None = None,
        panel_factory: Callable[[Callable[[], None]], StatusPanel] | None = None,
        echo: Callable[[str], object] | None = None,
        reopen: Callable[[], Store] | None = None,
        database: Path | None = None,
        powered: Callable[[], bool] | None = None,
        shunt_ohms: float | None = None,
        policy_factory: Callable[[], ShutdownPolicy] | None = None,
    ) -> None:
        self.store = store
        self._reopen = reopen
        self.database = database or (store.path if store is not None else None)
        self.sensor = sensor
        self.time = time_base
        self.estimator = estimator
        self.thresholds = thresholds

        def default_policy() -> ShutdownPolicy:
            # shunt_ohms (the configured shunt) only serves a wrong shunt's explanation
            return ShutdownPolicy(
                thresholds,
                chemistry=estimator.chemistry,
                capacity_ah=estimator.capacity_ah,
                shunt_ohms=shunt_ohms,
            )

        # a factory: the read-only hold watches the battery with a fresh policy
        self._new_policy = policy_factory or default_policy
        self.policy = self._new_policy()
        self.shutdown = shutdown
        self.settings = settings or Settings()
        self.source = source
        self.boot_id = boot_id
        self.notifier = notifier or Notifier(address="")
        self.shutdown.after_step = self.notifier.watchdog  # the steps may outlast WatchdogSec
        self.echo = echo
        self.summary = Summary()
        self.pending: PendingShutdown | None = None
        self.waiting = False  # in the low-power wait: services stopped, sampling on
        self.critical = False  # a critical battery: the read-only hold (or on its way)
        self.held = False  # in the read-only hold: nothing is written any more
        self._wait_since: float | None = None
        self._hold_t = 0.0  # loop time the read-only hold began
        self._wait_reason: str | None = None
        self._critical_reason: str | None = None
        self._decision: Decision | None = None
        self._db_closed = False  # a poweroff or the hold closed the database: no more writes
        self._powered = powered  # the simulator's: False once the controller cut the load
        self._cut = False
        self._services_stopped = False  # by the wait or the hold
        self.aggregator = MinuteAggregator()
        self._stop = threading.Event()
        self._button = threading.Event()
        self._rows: list[dict[str, Any]] = []  # closed minutes not yet written
        self._unwritten: list[dict[str, Any]] = []  # events not yet written, oldest first
        self._unwritten_decision: dict[str, Any] | None = None  # the pending shutdown's event
        self._write_problem: str | None = None  # why the writes fail, said once per streak
        self._opened: Store | None = None  # a store the daemon opened itself (closes it)
        self._last_prune_t: float | None = None
        self._last_open_t: float | None = None
        self._prune_more = False
        self._last: tuple[Reading, SocEstimate] | None = None  # this step's good reading
        self._fault_reason: str | None = None
        self._warn_reason: str | None = None
        self._written_state: State | None = None
        self._last_write_t: float | None = None
        self._last_rollup_t: float | None = None
        self._last_report_t: float | None = None
        self._last_ping = -math.inf
        self._last_wall: tuple[float, bool] | None = None  # of the latest step
        self._notified_state: State | None = None
        self._started = False
        self._ready = False
        self._closed = False
        self.panel = panel_factory(self.request_shutdown) if panel_factory else None

    # -- control from other threads and signal handlers --------------------------------------
    def stop(self) -> None:
        if not self.summary.stopped_by:
            self.summary.stopped_by = "signal"
        self._stop.set()

    def request_shutdown(self) -> None:
        """Ask for a safe shutdown (the panel button); acted on at the next step."""
        self._button.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def state(self) -> State:
        if self.critical:
            return State.CRITICAL
        if self.pending is not None:
            return State.SHUTDOWN_PENDING
        if self.waiting:
            return State.LOW_POWER_WAIT
        return self.policy.state

    # -- the store, which may be missing, full or read-only ----------------------------------
    @property
    def repo(self) -> Any:
        """The power repository of a store that can at least be read, or None."""
        store = self.store
        return store.power if store is not None and store.conn is not None else None

    def _writable(self) -> Store | None:
        """A store that takes writes, opening one (`reopen`) when there is none or only a
        read-only one; None when the disk still refuses."""
        store = self.store
        usable = store is not None and store.conn is not None
        if usable and not store.read_only:  # type: ignore[union-attr]
            return store
        if self._reopen is None or self._db_closed:
            return None
        t = self.time.now()
        if self._last_open_t is not None and t - self._last_open_t < self.settings.batch_s:
            return None  # tried a moment ago: the disk has not changed since
        self._last_open_t = t
        try:
            fresh = self._reopen()
        except WRITE_ERRORS as exc:
            self._unwritable(exc)
            return None
        if fresh.read_only and usable:
            fresh.close()  # no better than the one in hand
            return None
        if store is not None:
            store.close()
        self.store = self._opened = fresh
        return None if fresh.read_only else fresh

    def _unwritable(self, exc: BaseException | str) -> None:
        """Say once per streak of failed writes why the database refuses them."""
        if isinstance(exc, BaseException):
            problem = classify(exc, self.database) if self.database else None
            why = str(problem or exc)
        else:
            why = exc
        if self._write_problem is None:
            line = (
                f"power: cannot write to the database ({why}); readings and events are kept"
                " in memory (two days at most) until it can"
            )
            self._say(line, logging.ERROR)
        self._write_problem = why

    # -- the loop ----------------------------------------------------------------------------
    def run(self, *, duration_s: float | None = None) -> Summary:
        """Step every `sample_s` until stopped, until `duration_s` of loop time has passed, or
        until the safe shutdown has run."""
        try:
            self.start()
            t0 = self.time.now()
            next_t = t0
            while not self._stop.is_set():
                if self.power_lost():
                    break
                self.step()
                if not self._ready:
                    # ready once the first reading is stored: `power status` has a state
                    self._ready = True
                    self.notifier.ready(f"{self.source}: {self.state}")
                    self._ping()
                if self._stop.is_set():
                    break
                next_t = max(next_t + self.settings.sample_s, self.time.now())
                if duration_s is not None and next_t - t0 > duration_s + 1e-9:
                    self.summary.stopped_by = "duration"
                    break
                self._wait_until(next_t)
        finally:
            self.close()
        return self.summary

    def power_lost(self) -> bool:
        """The simulator's controller cut the load: the Pi is off, nothing more happens."""
        if self._powered is None or self._powered():
            return False
        self._cut = True
        self.summary.stopped_by = "power_cut"
        self._stop.set()
        return True

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        wall_s, trusted = self.time.wall()
        self._record_outage(wall_s, trusted)
        self._drop_a_previous_countdown(wall_s, trusted)
        self._resume_the_wait()

    def _drop_a_previous_countdown(self, wall_s: float, trusted: bool) -> None:
        """A monitor stopped (SIGTERM, a crash) during a countdown: its shutdown is not taken
        up (the policy decides again if the battery is still low), and the record says so
        rather than leaving a decision without an end."""
        repo = self.repo
        row = self._safely("read the last state", repo.state) if repo is not None else None
        if not row or row.get("state") != str(State.SHUTDOWN_PENDING):
            return
        detail = {"by": "restart", "decided_event_id": row.get("shutdown_event_id")}
        event = self._event("shutdown_cancelled", RESTART_REASON, wall_s, trusted, detail)
        self._add_event_now("record the dropped countdown", event)

    def _resume_the_wait(self) -> None:
        """Restarted (a crash, an update) during a low-power wait of this boot: the services
        are still stopped, so the wait goes on and its end starts them again. After a boot
        systemd has started them: nothing to take up."""
        repo = self.repo
        if repo is None or self.boot_id is None:
            return
        last = self._safely(
            "read the last wait",
            lambda: repo.last_event(
                ("low_power_wait", "services_resumed", "critical", "shutdown_executed")
            ),
        )
        if last is None or last["boot_id"] != self.boot_id:
            return
        if last["kind"] == "critical":
            self._take_up_the_hold(last)
            return
        if last["kind"] != "low_power_wait":
            return
        t = self.time.now()
        self.waiting = self._services_stopped = True
        self._wait_since, self._wait_reason = t, last["reason"]
        self.policy.enter_wait(t)
        line = f"power: the low-power wait of {last['at']} goes on (services still stopped)"
        self._say(line, logging.WARNING)

    def _take_up_the_hold(self, last: dict[str, Any]) -> None:
        """Restarted during the read-only hold of this boot: the hold goes on (its read-only
        steps again, in case the stop came before them); nothing more is written."""
        t = self.time.now()
        self.critical, self._critical_reason = True, last["reason"]
        self._enter_hold(t, self.shutdown.hold(None, services_running=False))
        line = f"power: the read-only hold of {last['at']} goes on (nothing is written)"
        self._say(line, logging.WARNING)

    def step(self) -> None:
        """One reading, its decisions, the writes they call for, then what they set going."""
        self.start()
        t = self.time.now()
        wall_s, trusted = self.time.wall()
        self._last_wall = (wall_s, trusted)
        if self.summary.start_t is None:
            self.summary.start_t = t
        decision = self._decision = self._read(t, wall_s, trusted)
        if self.held:
            self._hold_step(t, wall_s, decision)
            return
        events: list[dict[str, Any]] = []
        start: tuple[str, str] | None = None  # (origin, reason) of a shutdown to begin
        cancel: dict[str, Any] | None = None  # detail of a cancel
        resume: tuple[str, str] | None = None  # (by, reason) of services to start again
        critical: str | None = None  # why the battery is critical: power off now
        for e in decision.events:
            if e.kind is EventKind.RESUME:
                if self.waiting:
                    resume = ("battery", e.reason or "the battery has recovered")
                continue
            if e.kind is EventKind.CRITICAL:
                critical = e.reason or "battery critical"
                continue
            kind = EVENT_KINDS.get(e.kind)
            if kind is None:
                continue
            detail = None
            if e.kind is EventKind.FAULT:  # reason: "<fault>: <detail>"
                fault = e.reason.split(":", 1)[0] if e.reason else _name(decision.fault)
                detail = {"fault": fault, "detail": decision.fault_detail}
            elif e.kind is EventKind.FAULT_CLEARED:  # reason: the fault's name
                detail = {"fault": e.reason or None}
            events.append(self._event(kind, e.reason, wall_s, trusted, detail))
            if e.kind is EventKind.WARN:
                self._warn_reason = e.reason
            if e.kind is EventKind.SHUTDOWN and self.pending is None and not self.waiting:
                start = ("policy", e.reason)
            elif e.kind is EventKind.SHUTDOWN_CANCELLED and self._pending_from("policy"):
                cancel = {"by": "policy", "reason": e.reason}
        if self._button.is_set():
            self._button.clear()
            if self.waiting:
                if resume is None:
                    resume = ("button", BUTTON_RESUME_REASON)
                    self.policy.force_resume(t)
            elif self.pending is None and start is None and not self.critical:
                start = ("button", BUTTON_REASON)
                events.append(self._event("shutdown_decided", BUTTON_REASON, wall_s, trusted))
        if self.pending is not None and cancel is None:
            cancel = self._staff_cancel(wall_s, trusted, events)

        if cancel is not None:
            self.pending = None
            if cancel["by"] != "policy" and self.policy.state is State.SHUTDOWN_PENDING:
                # the staff member saw the power return before the policy's hysteresis did;
                # if the battery is in fact still low the policy decides again.
                self.policy.cancel(t)
        hold = False
        if critical is not None and not self.critical:
            start, hold = None, True
            detail = {
                "services_running": not self._services_stopped,
                "decided_event_id": self.pending.event_id if self.pending else None,
            }
            events.append(self._event("critical", critical, wall_s, trusted, detail))
            self._critical_reason = critical
            self.critical, self.waiting, self.pending = True, False, None
        elif resume is not None:
            by, reason = resume
            waited = None if self._wait_since is None else round(t - self._wait_since)
            detail = {"by": by, "waited_s": waited}
            events.append(self._event("services_resumed", reason, wall_s, trusted, detail))
            self.waiting, self._wait_since = False, None
        # the shutdown about to be recorded counts already for this reading's minute and LED
        state = State.SHUTDOWN_PENDING if start is not None else self.state
        self._rows += self._aggregate(wall_s, trusted, state)
        urgent = bool(events) or state != self._written_state
        batch_due = self._last_write_t is None or t - self._last_write_t >= self.settings.batch_s
        changed = bool(start or cancel or hold)
        if urgent or (self._rows and batch_due):
            self._write(t, wall_s, trusted, events, start=start, changed=changed)
        for e in events:
            self._note_event(e)
            if e["kind"] == "shutdown_decided" and self.summary.decided is None:
                self.summary.decided = (t, e["at"])
        self._show(state)
        if hold:
            self._hold(t, wall_s)
            return
        if resume is not None:
            self.shutdown.resume()
            self._services_stopped = False
            if self.summary.services_back is None:
                self.summary.services_back = (t, iso(wall_s))
        if self.pending is not None and self.pending.due(t):
            self._execute(t, wall_s, trusted)
            if self._stop.is_set():
                return
        self._maybe_rollup(t, wall_s)
        self._maybe_prune(t, wall_s)
        self._maybe_report(t, wall_s)

    # -- pieces of a step --------------------------------------------------------------------
    def _read(self, t: float, wall_s: float, trusted: bool) -> Decision:
        self._last = None
        # the hour of day tells night from day (no charge at night; blind, when the sun is
        # up for a retry): only from a trusted clock
        hour = (wall_s % 86_400) / 3600 if trusted else None
        try:
            r = self.sensor.read()
        except SensorFault as exc:
            self.summary.faults += 1
            self._fault_reason = str(exc)
            # a current overflow still carries the bus voltage: the policy can use it
            bus_v = getattr(exc, "bus_v", None)
            return self.policy.feed(FaultSample(t, str(exc), voltage_v=bus_v, hour=hour))
        self.summary.samples += 1
        sample, est = sample_from_reading(t, r, self.estimator, hour=hour)
        self._last = (r, est)
        return self.policy.feed(sample)

    def _pending_from(self, origin: str) -> bool:
        return self.pending is not None and self.pending.origin == origin

    def _staff_cancel(
        self, wall_s: float, trusted: bool, events: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """A cancel request written by `keneya power cancel-shutdown` for this shutdown."""
        assert self.pending is not None
        repo = self.repo
        row = self._safely("read a cancel request", repo.state) if repo is not None else None
        if not row or row["cancel_for"] != self.pending.event_id:
            return None
        by = row["cancel_requested_by"] or "staff"
        detail = {"by": by, "requested_at": row["cancel_requested_at"]}
        events.append(
            self._event("shutdown_cancelled", f"cancelled by {by}", wall_s, trusted, detail)
        )
        return detail

    def _aggregate(self, wall_s: float, trusted: bool, state: State) -> list[dict[str, Any]]:
        if self._last is None:
            return self.aggregator.add(wall_s, state=state, trusted=trusted)
        r, est = self._last
        return self.aggregator.add(
            wall_s,
            state=state,
            trusted=trusted,
            voltage_v=r.bus_v,
            current_a=r.current_a,
            soc=est.soc,
        )

    def _event(
        self,
        kind: str,
        reason: str,
        wall_s: float,
        trusted: bool,
        detail: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        r_est = self._last
        return {
            "at": iso(wall_s),
            "clock_trusted": trusted,
            "boot_id": self.boot_id,
            "kind": kind,
            "reason": reason or None,
            "voltage_v": round(r_est[0].bus_v, 3) if r_est else None,
            "soc": round(r_est[1].soc, 1) if r_est else None,
            "detail": detail,
        }

    def _state_row(self, wall_s: float, trusted: bool) -> dict[str, Any]:
        row: dict[str, Any] = {
            "sampled_at": iso(wall_s),
            "clock_trusted": trusted,
            "source": self.source,
            "state": str(self.state),
            "reason": self._why(),
        }
        if self._last is not None:
            r, est = self._last
            row |= {
                "voltage_v": round(r.bus_v, 3),
                "current_a": round(r.current_a, 3),
                "power_w": round(r.bus_v * r.current_a, 2),
                "soc": round(est.soc, 1),
                "charging": r.current_a > self.thresholds.charging_a,
            }
        d = self._decision
        left = self._minutes_to_shutdown()
        if left is not None:
            row["runtime_min"] = round(left)
        if d is not None:
            row["fault"] = _name(d.fault)
            row["fault_detail"] = d.fault_detail if d.fault is not None else None
            planned = d.planned_shutdown_t
            if planned is not None and math.isfinite(planned) and not self._services_stopped:
                row["planned_shutdown_at"] = iso(wall_s + max(0.0, planned - d.t))
        if self.pending is not None:
            recorded = self.pending.event_id > 0  # not when the decision could not be written
            row["shutdown_event_id"] = self.pending.event_id if recorded else None
            row["shutdown_deadline"] = iso(self.pending.deadline_wall_s)
        return row

    def _minutes_to_shutdown(self) -> float | None:
        """Minutes to the shutdown point (the low-power wait), not to an empty battery; None
        when none is in sight."""
        d = self._decision
        if d is None or d.minutes_to_shutdown is None or not math.isfinite(d.minutes_to_shutdown):
            return None
        return d.minutes_to_shutdown

    def _why(self) -> str | None:
        """What the state row says about the present state."""
        if self.critical:
            return self._critical_reason
        if self.pending is not None:
            return self.pending.reason
        if self.waiting:
            return self._wait_reason
        d = self._decision
        if d is not None and d.fault is not None and d.fault_detail:
            return d.fault_detail
        state = self.policy.state
        if state is State.SENSOR_FAULT or (d is not None and d.fault is not None):
            return self._fault_reason
        return self._warn_reason if state is State.WARN else None

    def _write(
        self,
        t: float,
        wall_s: float,
        trusted: bool,
        events: list[dict[str, Any]],
        *,
        start: tuple[str, str] | None = None,
        changed: bool = False,
    ) -> bool:
        """Closed minutes, events (those kept from failed writes first) and the state row in
        one transaction. A database that refuses the write never stops the daemon: rows and
        events wait for the next write, and a shutdown being decided goes ahead without its
        record -- the battery does not wait. Its event, written later while the shutdown is
        still pending, then gives the state row the id a cancel request names. In the
        read-only hold nothing is attempted."""
        if self.held:
            return False
        pending_before = self.pending
        decided = next((e for e in events if start and e["kind"] == "shutdown_decided"), None)
        store = self._writable()
        try:
            if store is None:
                problem = check(self.database.parent) if self.database else None
                raise problem or StoreError("no database open for writing")
            repo = store.power
            with repo.transaction():
                repo.add_samples(self._rows)
                for e in [*self._unwritten, *events]:
                    event_id = repo.add_event(e)
                    if e is decided:
                        self._begin(t, wall_s, start, event_id)  # type: ignore[arg-type]
                    elif e is self._unwritten_decision and self.pending is not None:
                        self.pending = dataclasses.replace(self.pending, event_id=event_id)
                repo.set_state(self._state_row(wall_s, trusted), clear_cancel=changed)
        except WRITE_ERRORS as exc:
            self.summary.write_errors += 1
            self._unwritable(exc)
            self.pending = pending_before  # what the rolled-back transaction did is undone
            if decided is not None:
                # the decision's event is not stored: no cancel request can name it (-1)
                self._begin(t, wall_s, start, event_id=-1)  # type: ignore[arg-type]
                self._unwritten_decision = decided
            self._unwritten += events
            del self._rows[:-MAX_UNWRITTEN_ROWS]
            del self._unwritten[:-MAX_UNWRITTEN_EVENTS]
            return False
        if self._write_problem is not None:
            line = (
                f"power: the database takes writes again ({len(self._rows)} minutes and"
                f" {len(self._unwritten)} events kept meanwhile are written)"
            )
            self._say(line, logging.WARNING)
            self._write_problem = None
        self._rows, self._unwritten = [], []
        if self.pending is None or self.pending.event_id > 0:
            self._unwritten_decision = None
        self._written_state = self.state
        self._last_write_t = t
        self.summary.writes += 1
        at = iso(wall_s)
        self.summary.first_at = self.summary.first_at or at
        self.summary.last_at = at
        return True

    def _begin(self, t: float, wall_s: float, start: tuple[str, str], event_id: int) -> None:
        if self.pending is None:
            origin, reason = start
            self.pending = self.shutdown.start(
                t, wall_s=wall_s, event_id=event_id, origin=origin, reason=reason
            )

    def _safely(self, what: str, action: Callable[[], Any]) -> Any:
        """A read or housekeeping write that may fail without stopping the loop."""
        try:
            return action()
        except WRITE_ERRORS as exc:
            log.error("power: could not %s: %s", what, exc)
            return None

    def _note_event(self, e: dict[str, Any]) -> None:
        self.summary.event_counts[e["kind"]] += 1
        self.summary.events.append(e)
        detail = f"  ({e['voltage_v']:.2f} V, {e['soc']:.1f} %)" if e["voltage_v"] else ""
        line = f"{e['at'][:19].replace('T', ' ')}Z  {e['kind']}  {e['reason'] or ''}{detail}"
        self._say(line, logging.INFO)

    def _say(self, line: str, level: int) -> None:
        """One line, once: through `echo` when there is one (the CLI's output), else the log.
        Both would print it twice (Python's last-resort handler writes warnings to stderr)."""
        if self.echo:
            self.echo(line)
        else:
            log.log(level, line)

    def _show(self, state: State) -> None:
        if self.panel is not None:
            d = self._decision
            fault = _name(d.fault) if d is not None else None
            self.panel.show(state, self._usb_signal(), fault=fault)
        if state != self._notified_state:
            self._notified_state = state
            self.notifier.status(f"{self.source}: {state}")

    def _usb_signal(self) -> str | None:
        """The USB backup's outcome for the LED: `keneya backup usb` leaves it in the store
        (the daemon owns the GPIO pins, so it shows it)."""
        store = self.store
        if store is None or store.conn is None:
            return None
        status = self._safely("read the USB backup's status", lambda: read_usb_status(store))
        return usb_signal(status, time.time())

    def _execute(self, t: float, wall_s: float, trusted: bool) -> None:
        """The countdown's end: a low battery's enters the low-power wait; the button's powers
        off (someone is there to switch the appliance on again)."""
        assert self.pending is not None
        p = self.pending
        detail = {
            "decided_event_id": p.event_id,
            "origin": p.origin,
            "grace_s": self.shutdown.grace_s,
        }
        if p.origin == "button":
            event = self._event("shutdown_executed", p.reason, wall_s, trusted, detail)
            self._rows += self.aggregator.flush()
            self._write(t, wall_s, trusted, [event])
            self._note_event(event)
            self._stop_for_poweroff(t, wall_s, services_running=True, stopped_by="shutdown")
            return
        event = self._event("low_power_wait", p.reason, wall_s, trusted, detail)
        self.pending = None
        self.waiting, self._wait_since, self._wait_reason = True, t, p.reason
        self.policy.enter_wait(t)
        self._write(t, wall_s, trusted, [event], changed=True)
        self._note_event(event)
        self._show(self.state)
        report = self.shutdown.enter_wait(self.store)
        self._services_stopped = True
        self._executed(t, wall_s, report)

    def _executed(self, t: float, wall_s: float, report: ExecutionReport) -> None:
        self.summary.executions.append((t, report.how))
        if self.summary.execution is None:
            self.summary.execution = report
            self.summary.executed = (t, iso(wall_s))

    def _hold(self, t: float, wall_s: float) -> None:
        """A critical battery: the `critical` event and state are written (the next boot's
        `outage` is built from them); the open minute too; then the read-only hold."""
        self._rows += self.aggregator.flush()
        if self._rows and self._last_wall is not None:
            self._write(t, wall_s, self._last_wall[1], [])
        report = self.shutdown.hold(self.store, services_running=not self._services_stopped)
        self._enter_hold(t, report)
        self.summary.hold = (t, iso(wall_s))
        self._executed(t, wall_s, report)
        line = (
            f"{iso(wall_s)[:19].replace('T', ' ')}Z  read-only hold: records closed, filesystems"
            " read-only; the controller's disconnect or a recovered battery ends it"
        )
        self._say(line, logging.WARNING)

    def _enter_hold(self, t: float, report: ExecutionReport) -> None:
        self.held = self._db_closed = self._services_stopped = True
        self.waiting, self.pending = False, None
        self._hold_t = t
        # the old policy stays critical for good: a fresh one, in the wait, says when the
        # battery has recovered (its RESUME); its own CRITICAL only makes way for another
        self._watch_the_hold()

    def _watch_the_hold(self) -> None:
        """A fresh policy in the wait since the hold began: a policy made again (its CRITICAL,
        an unconfirmed RESUME) keeps the hold's start, so the blind retry's hours with the
        sensor lost are counted from there, not started again at each renewal."""
        self.policy = self._new_policy()
        self.policy.enter_wait(self._hold_t)

    def _hold_step(self, t: float, wall_s: float, decision: Decision) -> None:
        """A reading in the read-only hold: nothing written; a recovered battery or the
        panel button reboots the Pi."""
        why: tuple[str, str] | None = None
        v_resume = self.thresholds.v_resume
        # blind: a lost sensor, or one whose voltage is impossible (IN- off the battery);
        # a RESUME there is the policy's timed retry (a voltage-only resume needs v_resume)
        blind = decision.fault in (Fault.SENSOR_LOST, Fault.IMPLAUSIBLE)
        v = self._last[0].bus_v if self._last is not None else None  # this step's reading
        for e in decision.events:
            if e.kind is EventKind.RESUME and v is not None and v >= v_resume:
                why = ("battery", e.reason or "the battery has recovered")
            elif e.kind is EventKind.RESUME and blind:
                # No voltage can confirm anything with the sensor lost: the policy's timed
                # retry is the only way out of the hold short of the controller's cut (a
                # battery that is still low is caught again by the next low-power wait).
                why = ("blind_retry", e.reason or "sensor lost: a timed retry")
            elif e.kind in (EventKind.RESUME, EventKind.CRITICAL):
                # A reboot brings the full load back at once: a recovery the voltage does not
                # confirm (a state of charge an aged battery overstates, a trickle of charge
                # under clouds) is not enough. And critical sticks in a policy and would hide
                # the recovery. Either way: a fresh policy, in the wait again.
                self._watch_the_hold()
        if self._button.is_set():
            self._button.clear()
            why = why or ("button", BUTTON_REBOOT_REASON)
        self._show(State.CRITICAL)
        if why is None:
            self._maybe_report(t, wall_s)
            return
        by, reason = why
        line = f"{iso(wall_s)[:19].replace('T', ' ')}Z  reboot out of the read-only hold: {reason}"
        self._say(line, logging.WARNING)
        self.summary.reboot, self.summary.reboot_by = (t, iso(wall_s)), by
        self.summary.stopped_by = "reboot"
        self._stop.set()
        self.shutdown.reboot()

    def _stop_for_poweroff(
        self, t: float, wall_s: float, *, services_running: bool, stopped_by: str
    ) -> None:
        self.summary.stopped_by = stopped_by
        self._stop.set()
        self._db_closed = True
        report = self.shutdown.execute(self.store, services_running=services_running)
        self.summary.poweroff = report
        self.summary.powered_off = (t, iso(wall_s))
        self._executed(t, wall_s, report)

    def _maybe_rollup(self, t: float, wall_s: float) -> None:
        if self._last_rollup_t is None or t - self._last_rollup_t >= self.settings.rollup_every_s:
            store = self._writable()
            if store is None:
                return  # tried again at the next step
            self._last_rollup_t = t
            self._safely("fold old samples", lambda: store.power.rollup(wall_s))

    def _maybe_prune(self, t: float, wall_s: float) -> None:
        """Keep room on the data folder: old power and outbox history goes, a few short
        transactions at a time, while its free space is under the floor."""
        due = self._last_prune_t is None or t - self._last_prune_t >= self.settings.prune_every_s
        if not (due or self._prune_more):
            return
        self._last_prune_t = t
        self._prune_more = False
        store = self._writable()
        if store is None:
            return
        done = self._safely(
            "prune old history",
            lambda: make_room(
                store, now_s=wall_s, min_free_fraction=self.settings.min_free_fraction
            ),
        )
        if done is None:
            return
        self._prune_more = done.more
        if done.total:
            self.summary.pruned += done.total
            line = (
                f"pruned to keep room on the disk: {done.outbox_items} sent outbox items,"
                f" {done.power_events} power events, {done.power_samples} power samples"
                f" ({done.after.fraction:.1%} free)"
            )
            self._say(line, logging.WARNING)

    def _maybe_report(self, t: float, wall_s: float) -> None:
        every = self.settings.report_every_s
        if not (every and self.echo):
            return
        if self._last_report_t is not None and t - self._last_report_t < every:
            return
        self._last_report_t = t
        if self._last is None:
            self.echo(f"{iso(wall_s)[:16].replace('T', ' ')}Z  {self.state}  (no reading)")
            return
        r, est = self._last
        # the state row's figure (the time to the shutdown point), as `power status` says it
        left = self._minutes_to_shutdown()
        runtime = "" if left is None else f"  {left / 60:.1f} h to the safe shutdown"
        self.echo(
            f"{iso(wall_s)[:16].replace('T', ' ')}Z  {self.state:<16} {r.bus_v:6.2f} V"
            f" {r.current_a:+6.2f} A  {est.soc:5.1f} %{runtime}"
        )

    def _record_outage(self, wall_s: float, trusted: bool) -> None:
        """After a safe shutdown, note at the next start how long the appliance was off. On a
        Pi without a clock battery the duration is only right once the clock is trusted
        (`duration_trusted`); the event also keeps the boot id for later correction."""
        repo = self.repo
        if repo is None:
            return
        last = self._safely(
            "read the last shutdown", lambda: repo.last_event((*POWEROFF_KINDS, "outage"))
        )
        if last is None or last["kind"] not in POWEROFF_KINDS:
            return
        if self.boot_id is not None and last["boot_id"] == self.boot_id:
            return  # the hold of this very boot (a restart): no outage yet
        off_s = max(0.0, wall_s - from_iso(last["at"]).timestamp())
        detail = {
            "shutdown_at": last["at"],
            "shutdown_event_id": last["id"],
            "duration_s": round(off_s),
            "duration_trusted": bool(trusted and last["clock_trusted"]),
            "soc_at_shutdown": last["soc"],
        }
        soc = "" if last["soc"] is None else f" at {last['soc']:.0f} %"
        event = self._event(
            "outage", f"off {off_s / 3600:.1f} h after a safe shutdown{soc}", wall_s, trusted
        )
        event |= {"detail": detail, "soc": last["soc"], "voltage_v": last["voltage_v"]}
        self._add_event_now("record the outage", event)

    def _add_event_now(self, what: str, event: dict[str, Any]) -> None:
        """An event of the start, written on its own; kept, when the database refuses it, for
        the first write that succeeds."""
        store = self._writable()
        written = store and self._safely(what, lambda: store.power.add_event(event))
        if written is None:
            self._unwritten.append(event)
        self._note_event(event)

    # -- waiting -----------------------------------------------------------------------------
    def _ping(self) -> None:
        period = self.notifier.watchdog_s
        if period is None:
            return
        now = time.monotonic()  # systemd's watchdog runs on real time, even in a simulation
        if now - self._last_ping >= period:
            self._last_ping = now
            self.notifier.watchdog()

    def _wait_until(self, next_t: float) -> None:
        period = self.notifier.watchdog_s
        while not self._stop.is_set():
            remaining = next_t - self.time.now()
            if remaining <= 0:
                break
            if period is not None and self.time.real_rate > 0:
                remaining = min(remaining, period / self.time.real_rate)
            self.time.sleep(remaining, self._stop)
            self._ping()
        self._ping()

    # -- the end -----------------------------------------------------------------------------
    def close(self) -> None:
        """Flush the open minute and the state, tell systemd, release the panel."""
        if self._closed:
            return
        self._closed = True
        self.notifier.stopping()
        try:
            if not (self._db_closed or self._cut) and self._last_wall is not None:
                self._rows += self.aggregator.flush()
                if self._rows or self._unwritten:
                    self._write(self.time.now(), *self._last_wall, [])
        finally:
            self.summary.state = str(self.state)
            self.summary.unwritten_rows = len(self._rows)
            self.summary.unwritten_events = len(self._unwritten)
            if self._opened is not None:
                self._opened.close()
            if self.panel is not None:
                self.panel.close()

    def __enter__(self) -> PowerDaemon:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _name(value: object) -> str | None:
    """An enum member's value (a fault's name), else None."""
    if value is None:
        return None
    return str(getattr(value, "value", value))
