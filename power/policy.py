"""When to stop the appliance's services, and when to bring them back. Pure: samples carry
their time, no I/O.

Modelled on what NUT (upsmon), apcupsd and Witty Pi do: act on low battery voltage, low
charge or short remaining runtime -- whichever comes first -- so the SD card and the records
database are closed before the charge controller's low-voltage disconnect (LVD) cuts power.
Differences that suit a solar battery rather than a UPS:

* only while discharging (current < -``charging_a``); never while charging;
* every condition must hold for ``n_consecutive`` samples, so one spike never acts;
* a pending shutdown is cancelled only after ``n_consecutive`` samples above
  ``v_low + cancel_margin_v`` with no condition holding (hysteresis) -- even while charging:
  a weak charge into a nearly empty battery is no reason to call off a decided shutdown;
* the warning clears after ``n_consecutive`` samples charging or above
  ``v_warn + cancel_margin_v / 2``;
* the shutdown is a *low-power wait* (services stopped, sensor still read, see
  :meth:`ShutdownPolicy.enter_wait`): the services come back (RESUME) once the battery is
  charging and has recovered to ``soc_resume`` (or, with only the voltage to go on, stays at
  ``v_resume`` for ``v_resume_s``; blind, after ``blind_retry_s``); a true poweroff
  (CRITICAL) happens only below ``v_critical`` / ``soc_critical``, just above the
  controller's LVD, whose reconnect boots the Pi again;
* readings are checked for plausibility (:mod:`power.plausibility`). Under a named fault
  that leaves the voltage readable the policy uses voltage-only thresholds (terminal voltage
  under the appliance's load, whatever the current's sign says); when the sensor is lost it
  keeps a worst-case estimate -- the last good charge drained at the highest draw measured
  in the dark (by a trusted clock; until then at least ``default_draw_a``: by day a panel
  covers part of the load) -- and acts when that estimate reaches the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from power.battery import Chemistry, soc_from_voltage
from power.plausibility import (
    CHARGE_LEVEL_V,
    V_PLAUSIBLE,
    WIRING_FAULTS,
    Change,
    Fault,
    Lead,
    PlausibilityMonitor,
    is_dark,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Decision",
    "Event",
    "EventKind",
    "Fault",
    "FaultSample",
    "Lead",
    "Sample",
    "ShutdownPolicy",
    "State",
    "Thresholds",
]


class State(StrEnum):
    OK = "ok"
    WARN = "warn"
    SENSOR_FAULT = "sensor_fault"
    SHUTDOWN_PENDING = "shutdown_pending"
    LOW_POWER_WAIT = "low_power_wait"
    CRITICAL = "critical"


class EventKind(StrEnum):
    WARN = "warn"
    WARN_CLEARED = "warn_cleared"
    SHUTDOWN = "shutdown"
    SHUTDOWN_CANCELLED = "shutdown_cancelled"
    SENSOR_FAULT = "sensor_fault"
    SENSOR_RECOVERED = "sensor_recovered"
    FAULT = "fault"  # a named plausibility fault began; reason = its detail
    FAULT_CLEARED = "fault_cleared"
    RESUME = "resume"  # in the low-power wait, the battery recovered: start the services
    CRITICAL = "critical"  # power off now


@dataclass(frozen=True, slots=True)
class Event:
    t: float
    kind: EventKind
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Sample:
    """One good measurement. ``soc`` in %, ``runtime_min`` in minutes (None: unknown).

    ``shunt_mv`` and ``power_w`` (the chip's own registers) and ``chip_resets`` (how often
    the driver reprogrammed a chip that lost its calibration) feed the plausibility checks;
    ``hour`` is the UTC hour of day (0-24) when the clock is trusted, else None.
    """

    t: float
    voltage_v: float
    current_a: float
    soc: float | None = None
    runtime_min: float | None = None
    shunt_mv: float | None = None
    power_w: float | None = None
    hour: float | None = None
    chip_resets: int | None = None


@dataclass(frozen=True, slots=True)
class FaultSample:
    """The sensor could not be read at ``t``. ``voltage_v`` is given when only the current
    is unusable (persistent overflow): the sample is then a voltage-only one. ``hour`` as in
    :class:`Sample` (None: the policy carries on the hour of the last trusted sample)."""

    t: float
    reason: str = ""
    voltage_v: float | None = None
    hour: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    t: float
    state: State
    events: tuple[Event, ...] = ()
    fault: Fault | None = None
    fault_detail: str | None = None
    planned_shutdown_t: float | None = None  # on the samples' clock
    minutes_to_shutdown: float | None = None

    def _has(self, kind: EventKind) -> bool:
        return any(e.kind is kind for e in self.events)

    @property
    def shutdown(self) -> bool:
        """True on the sample where the shutdown is decided."""
        return self._has(EventKind.SHUTDOWN)

    @property
    def resume(self) -> bool:
        """True on the sample where the services should come back."""
        return self._has(EventKind.RESUME)

    @property
    def critical(self) -> bool:
        """True on the sample where the appliance must power off."""
        return self._has(EventKind.CRITICAL)


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """Voltages are terminal voltages under the appliance's load (~0.3-0.8 A).

    The defaults of the fields are the lead-acid values (see :data:`DEFAULT_THRESHOLDS`).
    """

    v_warn: float
    v_low: float
    n_consecutive: int = 5
    soc_low: float = 15.0
    runtime_min: float = 30.0
    cancel_margin_v: float = 0.4
    charging_a: float = 0.05  # |I| below this is neither charging nor discharging
    # Power off below these (while not charging): just above the controller's LVD.
    v_critical: float = 11.15
    soc_critical: float = 5.0
    # Services back from the low-power wait: charging and SoC >= soc_resume for resume_s;
    # with only the voltage to go on (a fault), voltage >= v_resume for v_resume_s. Seconds
    # of sample time, not counts, so 5 s (the Pi) and 60 s (the benchmark) agree. The SoC
    # is already a slow quantity: 10 min of charge only keeps a gap between two clouds from
    # counting. A voltage jumps with every break in the clouds: 30 min held means the sun
    # is really charging (and the hour's modem sync has come and gone).
    soc_resume: float = 40.0
    v_resume: float = 13.0
    resume_s: float = 600.0
    v_resume_s: float = 1800.0
    # A lost sensor must stay lost this long (and n_consecutive reads) before the blind
    # estimate may decide anything: a few failed reads are not a blind monitor.
    blind_after_s: float = 300.0
    # The blind estimate's capacity, in % of the label: the worst case is an aged battery the
    # coulomb count cannot see. A flooded or AGM battery neglected for 2-3 years in Sahel heat
    # commonly holds 50-60 % of its label (life halves per ~8-10 degC above 25 degC); a
    # LiFePO4 reaches its rated end of life at 80 %.
    blind_capacity_pct: float = 60.0
    # A blind monitor in the low-power wait cannot see the battery recover: it brings the
    # services back after at least this long (a whole day of sun on a battery the wait draws
    # ~2 W from) -- by a trusted clock at the next 11:00 UTC after that, the sun high -- and
    # the blind estimate starts again from its assumed level. Sooner was measured to be worse:
    # retried 6 h into the hold, an aged battery under clouds was cut 2.6 h after the reboot,
    # running and unmonitored, where the controller's own disconnect would have come first.
    blind_retry_s: float = 20 * 3600.0

    def __post_init__(self) -> None:
        if not self.v_low < self.v_warn:
            raise ValueError("v_low must be below v_warn")
        if self.n_consecutive < 1 or self.cancel_margin_v < 0 or self.charging_a < 0:
            raise ValueError("n_consecutive >= 1, cancel_margin_v >= 0, charging_a >= 0")
        if not self.v_critical < self.v_low:
            raise ValueError("v_critical must be below v_low")
        if not 0 <= self.soc_critical < self.soc_low < self.soc_resume <= 100:
            raise ValueError("expected 0 <= soc_critical < soc_low < soc_resume <= 100")
        if not self.v_resume > self.v_critical:
            raise ValueError("v_resume must be above v_critical")
        if not 0 < self.blind_capacity_pct <= 100:
            raise ValueError("blind_capacity_pct must be in (0, 100]")
        if min(self.resume_s, self.v_resume_s, self.blind_after_s, self.runtime_min) < 0:
            raise ValueError("resume_s, v_resume_s, blind_after_s, runtime_min must be >= 0")
        if not self.blind_retry_s > 0:
            raise ValueError("blind_retry_s must be positive")

    @classmethod
    def for_chemistry(cls, chemistry: Chemistry) -> Thresholds:
        return DEFAULT_THRESHOLDS[Chemistry(chemistry)]


DEFAULT_THRESHOLDS = {
    # Lead-acid: warn near 35 % (11.8 V resting), stop the services near 12 % (11.4 V).
    # Power off at 11.15 V, a notch above the 11.0 V low-voltage disconnect of the reference
    # install's controller, so the poweroff comes first (a controller set higher needs
    # v_low and v_critical raised to match, in [power.thresholds]).
    # Services back at 40 % and charging: the wait ends with a third of the battery
    # refilled, enough for an evening; 13.0 V for 30 min under the appliance's load is only
    # reached while a charge is under way (resting full is 12.7 V).
    Chemistry.LEAD_ACID: Thresholds(v_warn=11.8, v_low=11.4),
    # LiFePO4: flat between 20 and 90 %, so the voltage only matters at the knee: warn at
    # 12.9 V (~25 %), stop at 12.6 V (~14 %); the coulomb-counted SoC and runtime usually
    # trigger first. Power off at 12.2 V (~4 %), above the 12.0 V LVD of LiFePO4 settings;
    # back at 35 %, or 13.5 V held (above the 13.4 V resting-full point: only a charge).
    Chemistry.LIFEPO4: Thresholds(
        v_warn=12.9,
        v_low=12.6,
        v_critical=12.2,
        soc_resume=35.0,
        v_resume=13.5,
        blind_capacity_pct=80.0,
    ),
}

_GAP_S = 600.0  # a longer gap between samples starts the load smoothing again
# The wait's own draw is measured once the smoothing (10 min) has forgotten the running load;
# until then the blind estimate keeps the running draw, the higher one.
_WAIT_SETTLE_S = 1800.0
# A draw measured in the dark replaces default_draw_a once the dark samples span this long:
# a few minutes of one evening are not yet the appliance's night.
_DARK_SPAN_S = 1800.0
# The blind retry by the clock: at this UTC hour the sun charges anywhere in Mali (solar noon
# is ~12:00-12:45 UTC).
_RETRY_HOUR = 11.0


class ShutdownPolicy:
    """Feed samples in time order; each :meth:`feed` returns a :class:`Decision`.

    State precedence: critical > low_power_wait > shutdown_pending > sensor_fault > warn > ok.
    A lost sensor does not reset or advance the debounce counters; ``recover_after`` good
    samples in a row clear it. ``capacity_ah``, ``max_draw_a`` (the appliance's highest
    plausible draw: above it the shunt is wrong) and ``default_draw_a`` (the blind
    estimate's draw when none was ever measured) describe the installation; ``shunt_ohms``
    (the configured value) only serves the fault's detail.
    """

    def __init__(
        self,
        thresholds: Thresholds | None = None,
        *,
        chemistry: Chemistry = Chemistry.LEAD_ACID,
        capacity_ah: float = 40.0,
        recover_after: int = 10,
        max_draw_a: float = 2.0,
        default_draw_a: float = 0.8,
        shunt_ohms: float | None = None,
        lead: Lead = Lead.BATTERY,
    ) -> None:
        if not (capacity_ah > 0 and max_draw_a > 0 and default_draw_a > 0):
            raise ValueError("capacity_ah, max_draw_a and default_draw_a must be positive")
        self.chemistry = Chemistry(chemistry)
        self.thresholds = thresholds or Thresholds.for_chemistry(self.chemistry)
        self.capacity_ah = capacity_ah
        self.recover_after = recover_after
        self.max_draw_a = max_draw_a
        self.default_draw_a = default_draw_a
        self.lead = Lead(lead)
        th = self.thresholds
        self.plausibility = PlausibilityMonitor(
            chemistry=self.chemistry,
            charging_a=th.charging_a,
            max_draw_a=max_draw_a,
            n_consecutive=th.n_consecutive,
            recover_after=recover_after,
            shunt_ohms=shunt_ohms,
            lead=self.lead,
        )
        self._t: float | None = None
        self._start_t: float | None = None
        self.pending = False
        self.warning = False
        self.waiting = False
        self.critical = False
        self.lost = False  # the sensor answers nothing (sensor_lost)
        self._lost_since: float | None = None
        self._lost_reads = 0
        self._lost_detail: str | None = None
        self._lost_implausible = False  # lost to readings with an impossible voltage
        self._reset_counters()
        self._good = 0  # consecutive good samples while lost
        # the blind estimate: last good SoC, when, and the draws measured
        self._s0: float | None = None
        self._t0: float | None = None
        self._load_t: float | None = None
        self._load_a: float | None = None  # smoothed current, trusted samples only
        # highest smoothed discharge while not charging, the dark stretch being measured and
        # the longest one (the draw is the appliance's own only with no panel), and the
        # highest discharge from 30 min after enter_wait
        self._max_draw: float | None = None
        self._dark_since: float | None = None
        self._dark_span = 0.0
        self._wait_draw: float | None = None
        self._wait_since = 0.0
        self._assumed_t: float | None = None  # the assumed anchor's time (None: the start)
        self._born_waiting = False
        self._hour_offset: float | None = None  # UTC second of day minus t, trusted clock
        self._resume_since: float | None = None

    def _reset_counters(self) -> None:
        self._low = 0  # consecutive samples with a shutdown condition
        self._weak = 0  # consecutive samples below v_warn
        self._recovered = 0  # consecutive samples allowing a cancel
        self._strong = 0  # consecutive samples allowing the warning to clear
        self._crit = 0  # consecutive samples below the critical level
        self._resume = 0  # consecutive samples allowing the services back
        self._resume_since = None

    # -- state -----------------------------------------------------------------------------
    @property
    def fault(self) -> Fault | None:
        if self.lost:
            return Fault.IMPLAUSIBLE if self._lost_implausible else Fault.SENSOR_LOST
        return self.plausibility.fault

    @property
    def fault_detail(self) -> str | None:
        if self.lost:
            return self._lost_detail
        return self.plausibility.detail

    @property
    def faulted(self) -> bool:
        return self.fault is not None

    @property
    def state(self) -> State:
        if self.critical:
            return State.CRITICAL
        if self.waiting:
            return State.LOW_POWER_WAIT
        if self.pending:
            return State.SHUTDOWN_PENDING
        if self.faulted:
            return State.SENSOR_FAULT
        return State.WARN if self.warning else State.OK

    # -- what the daemon did ---------------------------------------------------------------
    def enter_wait(self, t: float) -> None:
        """The services were stopped: the low-power wait begins."""
        self.pending = False
        self.waiting = True
        self.warning = True
        # begun in the wait, before any reading: the daemon's fresh policy for the read-only
        # hold, or after a restart. Blind, it has no estimate of its own to power off on (its
        # assumed level says nothing of a battery already that low): it only says when to
        # try again, where a blind critical would hand over to yet another fresh policy.
        self._born_waiting = self._start_t is None
        self._wait_draw = None
        self._wait_since = t
        self._load_a = None  # the services stopped: the load is a new one
        self._reset_counters()

    def cancel(self, t: float) -> None:
        """Staff called off the pending shutdown: back to running; decides again if low."""
        self.pending = False
        self._reset_counters()

    def force_resume(self, t: float) -> None:
        """Staff brought the services back during the wait (the panel button held)."""
        self.waiting = False
        self.pending = False
        self._reset_counters()

    # -- feeding -----------------------------------------------------------------------------
    def feed(self, sample: Sample | FaultSample) -> Decision:
        if self._t is not None and sample.t < self._t:
            raise ValueError("samples must be fed in time order")
        self._t = sample.t
        if self._start_t is None:
            self._start_t = sample.t
        if sample.hour is not None:
            self._hour_offset = (sample.hour * 3600 - sample.t) % 86_400
        events: list[Event] = []
        if isinstance(sample, FaultSample):
            v = sample.voltage_v
            if v is None or not V_PLAUSIBLE[0] <= v <= V_PLAUSIBLE[1]:
                return self._blind(sample, events)
            self._good_read(sample.t, events)
            self._note(self.plausibility.overflow(sample.t, v, sample.reason), sample.t, events)
            return self._voltage_only(sample.t, v, events)
        lo, hi = V_PLAUSIBLE
        if not lo <= sample.voltage_v <= hi:
            # no voltage to act on (IN- off the battery reads ~0 V): as blind as a failed read
            self._note(self.plausibility.feed(sample), sample.t, events)
            why = f"battery voltage {sample.voltage_v:.2f} V outside {lo:g}-{hi:g} V"
            return self._blind(FaultSample(sample.t, why), events, implausible=True)
        self._good_read(sample.t, events)
        self._note(self.plausibility.feed(sample), sample.t, events)
        if self.plausibility.fault is not None:
            return self._voltage_only(sample.t, sample.voltage_v, events)
        if self.lead is Lead.APPLIANCE:
            # the shunt sees the appliance's draw, never the charge: no charge count to trust,
            # the voltage decides; the draw still serves the blind estimate
            self._track_draw(sample.t, sample.current_a, False, sample.hour)
            return self._voltage_only(sample.t, sample.voltage_v, events, "appliance lead")
        return self._trusted(sample, events)

    def _note(self, change: Change | None, t: float, events: list[Event]) -> None:
        if change is None:
            return
        if change.fault is not None:
            events.append(Event(t, EventKind.FAULT, f"{change.fault}: {change.detail}"))
            if change.fault in WIRING_FAULTS:
                # the draws measured so far came through the same wrong wiring
                self._max_draw = self._wait_draw = None
                self._dark_since, self._dark_span = None, 0.0
        if change.cleared is not None:
            events.append(Event(t, EventKind.FAULT_CLEARED, str(change.cleared)))

    def _good_read(self, t: float, events: list[Event]) -> None:
        self._lost_reads = 0
        if self.lost:
            self._good += 1
            if self._good >= self.recover_after:
                self.lost = False
                self._lost_since = None
                events.append(Event(t, EventKind.SENSOR_RECOVERED))

    # -- the three ways to decide ------------------------------------------------------------
    def reasons(self, s: Sample) -> list[str]:
        """Shutdown conditions that hold for this sample (empty unless discharging)."""
        th = self.thresholds
        if not s.current_a < -th.charging_a:
            return []
        why = []
        if s.voltage_v < th.v_low:
            why.append(f"voltage {s.voltage_v:.3f} V < {th.v_low:g} V")
        if s.soc is not None and s.soc < th.soc_low:
            why.append(f"charge {s.soc:.1f} % < {th.soc_low:g} %")
        if s.runtime_min is not None and s.runtime_min < th.runtime_min:
            why.append(f"runtime {s.runtime_min:.1f} min < {th.runtime_min:g} min")
        return why

    def _trusted(self, s: Sample, events: list[Event]) -> Decision:
        th = self.thresholds
        charging = s.current_a > th.charging_a
        discharging = s.current_a < -th.charging_a
        self._track_draw(s.t, s.current_a, charging, s.hour)
        if s.soc is not None:
            self._anchor(s.t, s.soc)
        else:
            self._anchor_voltage(s.t, s.voltage_v)
        if self.critical:
            return self._finish(s.t, events, None)
        crit = []
        if not charging:
            if s.voltage_v < th.v_critical:
                crit.append(f"voltage {s.voltage_v:.3f} V < {th.v_critical:g} V")
            if s.soc is not None and s.soc < th.soc_critical:
                crit.append(f"charge {s.soc:.1f} % < {th.soc_critical:g} %")
        if self._critical(s.t, crit, events):
            return self._finish(s.t, events, None)
        if self.waiting:
            if s.soc is not None:
                ok = charging and s.soc >= th.soc_resume
                why = f"charging {s.current_a:+.2f} A, charge {s.soc:.1f} %"
                self._resume_check(s.t, ok, th.resume_s, why, events)
            else:
                ok = s.voltage_v >= th.v_resume
                self._resume_check(s.t, ok, th.v_resume_s, f"voltage {s.voltage_v:.2f} V", events)
            return self._finish(s.t, events, None)

        why = self.reasons(s)
        weak = discharging and s.voltage_v < th.v_warn
        strong = charging or s.voltage_v > th.v_warn + th.cancel_margin_v / 2
        self._running(s.t, s.voltage_v, why, weak, strong, events)
        return self._finish(s.t, events, None if charging else self._minutes(s))

    def _voltage_only(
        self, t: float, v: float, events: list[Event], why: str | None = None
    ) -> Decision:
        """The current is not to be trusted: the terminal voltage decides, whatever its sign.
        ``why`` says so in the shutdown's reason (default: the fault's name)."""
        label = why or self.fault
        th = self.thresholds
        self._anchor_voltage(t, v)
        if self.critical:
            return self._finish(t, events, None)
        crit = [f"voltage {v:.3f} V < {th.v_critical:g} V"] if v < th.v_critical else []
        if self._critical(t, crit, events):
            return self._finish(t, events, None)
        if self.waiting:
            self._resume_check(t, v >= th.v_resume, th.v_resume_s, f"voltage {v:.2f} V", events)
            return self._finish(t, events, None)
        low: list[str] = []  # formatted only when low: runs every sample on the appliance lead
        if v < th.v_low:
            low.append(f"voltage {v:.3f} V < {th.v_low:g} V (voltage only: {label})")
        strong = v > th.v_warn + th.cancel_margin_v / 2
        self._running(t, v, low, v < th.v_warn, strong, events)
        return self._finish(t, events, self._voltage_minutes(v))

    def _blind(self, f: FaultSample, events: list[Event], *, implausible: bool = False) -> Decision:
        """No reading at all: act on the worst-case estimate once the loss is real."""
        th = self.thresholds
        self._good = 0
        self._lost_reads += 1
        self._lost_implausible = implausible
        if not implausible:
            self.plausibility.lost()
        if not self.lost:
            self.lost = True
            self._lost_since = f.t
            events.append(Event(f.t, EventKind.SENSOR_FAULT, f.reason or "sensor fault"))
        s0, t0, assumed = self._blind_anchor()
        draw = self._blind_draw()
        soc = self._blind_soc(f.t)
        basis = (
            f"from {s0:.1f} % {self._assumed_why() if assumed else 'measured'}"
            f" {(f.t - t0) / 60:.0f} min ago at {draw:.2f} A"
        )
        lost = "implausible readings" if implausible else "sensor lost"
        self._lost_detail = f"{lost} ({f.reason or 'no reading'}); worst case {soc:.1f} % "
        self._lost_detail += basis
        settled = (
            self._lost_since is not None
            and f.t - self._lost_since >= th.blind_after_s
            and self._lost_reads >= th.n_consecutive
        )
        planned = None
        if self.critical:
            pass
        elif settled and soc <= th.soc_critical and not (self.waiting and self._born_waiting):
            # in the wait, or a shutdown that never came (called off again and again)
            self.critical = True
            self.pending = False
            events.append(
                Event(
                    f.t,
                    EventKind.CRITICAL,
                    f"{lost}: worst-case estimate {soc:.1f} % <= {th.soc_critical:g} % ({basis})",
                )
            )
        elif self.waiting:
            if settled:
                self._blind_retry(f.t, lost, events)
        elif not self.pending:
            planned = self._blind_time(th.soc_low)
            warn_soc = soc_from_voltage(th.v_warn, chemistry=self.chemistry)
            if settled and f.t >= planned - 1e-3:  # float rounding of the plan
                self.pending = True
                events.append(
                    Event(
                        f.t,
                        EventKind.SHUTDOWN,
                        f"{lost}: worst-case estimate {soc:.1f} % <= {th.soc_low:g} % ({basis})",
                    )
                )
                planned = None
            if settled and not self.warning and (self.pending or soc <= warn_soc):
                self.warning = True
                events.append(
                    Event(f.t, EventKind.WARN, f"{lost}: worst-case estimate {soc:.1f} %")
                )
        minutes = None if planned is None else max(0.0, (planned - f.t) / 60)
        return self._finish(f.t, events, minutes, planned_t=planned)

    # -- shared pieces -----------------------------------------------------------------------
    def _running(
        self,
        t: float,
        v: float,
        why: list[str],
        weak: bool,
        strong: bool,
        events: list[Event],
    ) -> None:
        th = self.thresholds
        self._low = self._low + 1 if why else 0
        self._weak = self._weak + 1 if weak else 0
        healthy = not why and v > th.v_low + th.cancel_margin_v
        self._recovered = self._recovered + 1 if healthy else 0
        self._strong = self._strong + 1 if strong and not why else 0
        if self.pending:
            if self._recovered >= th.n_consecutive:
                self.pending = False
                events.append(Event(t, EventKind.SHUTDOWN_CANCELLED, f"voltage {v:.2f} V"))
        elif self._low >= th.n_consecutive:
            self.pending = True
            events.append(Event(t, EventKind.SHUTDOWN, "; ".join(why)))
        if not self.warning and (self._weak >= th.n_consecutive or self.pending):
            self.warning = True
            events.append(Event(t, EventKind.WARN, f"voltage {v:.2f} V"))
        elif self.warning and not self.pending and self._strong >= th.n_consecutive:
            self.warning = False
            events.append(Event(t, EventKind.WARN_CLEARED))

    def _critical(self, t: float, why: list[str], events: list[Event]) -> bool:
        self._crit = self._crit + 1 if why else 0
        if self._crit >= self.thresholds.n_consecutive:
            self.critical = True
            self.pending = False
            events.append(Event(t, EventKind.CRITICAL, "; ".join(why)))
        return self.critical

    def _resume_check(
        self, t: float, ok: bool, hold_s: float, why: str, events: list[Event]
    ) -> None:
        if not ok:
            self._resume, self._resume_since = 0, None
            return
        self._resume += 1
        if self._resume_since is None:
            self._resume_since = t
        if self._resume >= self.thresholds.n_consecutive and t - self._resume_since >= hold_s:
            self.waiting = False
            self._reset_counters()
            events.append(Event(t, EventKind.RESUME, why))

    def _finish(
        self,
        t: float,
        events: list[Event],
        minutes: float | None,
        *,
        planned_t: float | None = None,
    ) -> Decision:
        if minutes is not None and planned_t is None:
            planned_t = t + minutes * 60
        if self.pending or self.waiting or self.critical:
            minutes = planned_t = None
        return Decision(
            t,
            self.state,
            tuple(events),
            fault=self.fault,
            fault_detail=self.fault_detail,
            planned_shutdown_t=planned_t,
            minutes_to_shutdown=minutes,
        )

    # -- load, runtime and the blind estimate -----------------------------------------------
    def _track_draw(self, t: float, current_a: float, charging: bool, hour: float | None) -> None:
        """Smooth the current (10 min time constant, as the SoC estimator's runtime) and keep
        the highest smoothed discharge while not charging, overall and since the wait began,
        and how long a dark stretch was measured.

        By day a weak panel covers part of the load and the battery's net discharge reads far
        below the appliance's draw (0.13 A for a 0.37 A night): only a trusted hour in the
        dark says the sun is out of it, so until a dark stretch was measured the blind
        estimate takes no less than default_draw_a. On the appliance's lead the shunt never
        sees the panel: every draw is the appliance's own."""
        gap = self._load_t is None or t - self._load_t > _GAP_S
        if self._load_a is None or self._load_t is None or gap:
            self._load_a = current_a
        else:
            alpha = 1 - math.exp(-(t - self._load_t) / 600.0)
            self._load_a += alpha * (current_a - self._load_a)
        self._load_t = t
        dark = self.lead is Lead.APPLIANCE or is_dark(hour)
        if not dark:
            self._dark_since = None
        elif self._dark_since is None or gap:
            self._dark_since = t
        else:
            self._dark_span = max(self._dark_span, t - self._dark_since)
        if charging or self._load_a >= 0:
            return
        draw = min(-self._load_a, self.max_draw_a)  # above it the reading is not a draw
        self._max_draw = draw if self._max_draw is None else max(self._max_draw, draw)
        if self.waiting and t - self._wait_since >= _WAIT_SETTLE_S:
            self._wait_draw = draw if self._wait_draw is None else max(self._wait_draw, draw)

    def _anchor(self, t: float, soc: float) -> None:
        self._s0, self._t0 = soc, t

    def _anchor_voltage(self, t: float, v: float) -> None:
        """Anchor on a terminal voltage read under the appliance's load (it reads low: a
        worst case), but not on a charging voltage, which says little about the charge:
        the older anchor, drained since, is the worse case."""
        if v >= CHARGE_LEVEL_V[self.chemistry] and self._s0 is not None:
            return
        self._anchor(t, soc_from_voltage(v, chemistry=self.chemistry))

    def _blind_anchor(self) -> tuple[float, float, bool]:
        """(SoC, time, assumed) the worst case starts from. A sensor that never answered:
        the warning level (the resting-voltage equivalent of v_warn) when the monitor
        started -- not knowing is not the same as being full."""
        if self._s0 is not None and self._t0 is not None:
            return self._s0, self._t0, False
        warn_soc = soc_from_voltage(self.thresholds.v_warn, chemistry=self.chemistry)
        t0 = self._assumed_t if self._assumed_t is not None else self._start_t
        return warn_soc, float(t0 or 0.0), True

    def _assumed_why(self) -> str:
        if self._assumed_t is not None:
            return "assumed (no reading since the services came back blind)"
        return "assumed (no reading since start)"

    def _blind_draw(self) -> float:
        """The draw measured in the dark; until a dark period was measured (or without a
        trusted hour) no less than default_draw_a."""
        measured = self._max_draw
        if self.waiting and self._wait_draw is not None:
            measured = self._wait_draw
        if measured is not None and self._dark_span >= _DARK_SPAN_S:
            return measured
        return max(measured or 0.0, self.default_draw_a)

    def _hour_at(self, t: float) -> float | None:
        """UTC hour of day at ``t`` by the last trusted sample's clock; None if never."""
        if self._hour_offset is None:
            return None
        return (t + self._hour_offset) % 86_400 / 3600

    def _blind_retry_t(self, since: float) -> tuple[float, str]:
        """When a blind wait that began at ``since`` brings the services back, and why."""
        th = self.thresholds
        retry = since + th.blind_retry_s
        hours = f"{th.blind_retry_s / 3600:g} h"
        hour = self._hour_at(retry)
        if hour is None:
            return retry, f"sensor lost: trying again after {hours}"
        retry += (_RETRY_HOUR - hour) % 24 * 3600
        return retry, f"sensor lost: trying again at 11:00 UTC, {hours} at least into the wait"

    def _blind_retry(self, t: float, lost: str, events: list[Event]) -> None:
        """In the wait, blind: the battery cannot be seen to recover, so after a day (at late
        morning by a trusted clock) the services come back and the estimate starts again from its
        assumed level, as after a start with no reading."""
        since = max(self._wait_since, self._lost_since if self._lost_since is not None else t)
        at, why = self._blind_retry_t(since)
        if t < at - 1e-3:
            return
        self.waiting = self._born_waiting = False
        self._reset_counters()
        self._s0 = self._t0 = None
        self._assumed_t = t
        if lost != "sensor lost":
            why = why.replace("sensor lost", lost)
        events.append(Event(t, EventKind.RESUME, why))

    @property
    def blind_capacity_ah(self) -> float:
        return self.capacity_ah * self.thresholds.blind_capacity_pct / 100

    def _blind_soc(self, t: float) -> float:
        s0, t0, _ = self._blind_anchor()
        return s0 - self._blind_draw() * (t - t0) / 3600 / self.blind_capacity_ah * 100

    def _blind_time(self, soc: float) -> float:
        """When the worst-case estimate reaches ``soc`` (on the samples' clock)."""
        s0, t0, _ = self._blind_anchor()
        ah = max(0.0, s0 - soc) / 100 * self.blind_capacity_ah
        return t0 + ah / self._blind_draw() * 3600

    def _voltage_minutes(self, v: float) -> float | None:
        """Minutes from this voltage to v_low, both read as on the resting curve (both are
        under the same load), at the draw measured on the appliance's lead or else the
        highest measured; None at a charging voltage. A rough figure, as the voltage is."""
        if v >= CHARGE_LEVEL_V[self.chemistry]:
            return None
        if self.lead is Lead.APPLIANCE and self._load_a is not None and self._load_a < 0:
            draw = min(-self._load_a, self.max_draw_a)
        else:
            draw = self._blind_draw()
        soc = soc_from_voltage(v, chemistry=self.chemistry)
        stop = soc_from_voltage(self.thresholds.v_low, chemistry=self.chemistry)
        return max(0.0, soc - stop) / 100 * self.capacity_ah / draw * 60

    def _minutes(self, s: Sample) -> float | None:
        """Minutes until the first shutdown condition would hold, at the smoothed load."""
        th = self.thresholds
        found = []
        if s.runtime_min is not None:
            found.append(s.runtime_min - th.runtime_min)
        if s.soc is not None:
            if s.runtime_min is not None and s.soc > 0:
                # the runtime counts to 0 % at the estimator's smoothed load: scale it
                found.append(s.runtime_min * (s.soc - th.soc_low) / s.soc)
            elif self._load_a is not None and self._load_a < -th.charging_a:
                hours = (s.soc - th.soc_low) / 100 * self.capacity_ah / -self._load_a
                found.append(hours * 60)
        return max(0.0, min(found)) if found else None
