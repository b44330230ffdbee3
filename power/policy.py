"""When to shut the appliance down cleanly. Pure: samples carry their time, no I/O.

Modelled on what NUT (upsmon), apcupsd and Witty Pi do: shut down on low
battery voltage, low charge or short remaining runtime -- whichever comes
first -- so the SD card and the records database are closed before the
charge controller's low-voltage disconnect cuts power. Differences that suit a
solar battery rather than a UPS:

* only while discharging (current < -``charging_a``); never while charging;
* every condition must hold for ``n_consecutive`` samples, so one spike never
  shuts down;
* a pending shutdown is cancelled only after ``n_consecutive`` samples above
  ``v_low + cancel_margin_v`` with no condition holding (hysteresis) -- even
  while charging: a weak charge into a nearly empty battery is no reason to
  call off a decided shutdown;
* the warning clears after ``n_consecutive`` samples charging or above
  ``v_warn + cancel_margin_v / 2``;
* a sensor fault raises an alert and is otherwise ignored: an unknown reading
  never shuts the centre's records down.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from power.battery import Chemistry


class State(StrEnum):
    OK = "ok"
    WARN = "warn"
    SHUTDOWN_PENDING = "shutdown_pending"
    SENSOR_FAULT = "sensor_fault"


class EventKind(StrEnum):
    WARN = "warn"
    WARN_CLEARED = "warn_cleared"
    SHUTDOWN = "shutdown"
    SHUTDOWN_CANCELLED = "shutdown_cancelled"
    SENSOR_FAULT = "sensor_fault"
    SENSOR_RECOVERED = "sensor_recovered"


@dataclass(frozen=True, slots=True)
class Event:
    t: float
    kind: EventKind
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Sample:
    """One good measurement. ``soc`` in %, ``runtime_min`` in minutes (None: unknown)."""

    t: float
    voltage_v: float
    current_a: float
    soc: float | None = None
    runtime_min: float | None = None


@dataclass(frozen=True, slots=True)
class FaultSample:
    """The sensor could not be read at ``t``."""

    t: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    t: float
    state: State
    events: tuple[Event, ...] = ()

    @property
    def shutdown(self) -> bool:
        """True on the sample where the shutdown is decided."""
        return any(e.kind is EventKind.SHUTDOWN for e in self.events)


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """Voltages are terminal voltages under the appliance's load (~0.3-0.8 A)."""

    v_warn: float
    v_low: float
    n_consecutive: int = 5
    soc_low: float = 15.0
    runtime_min: float = 30.0
    cancel_margin_v: float = 0.4
    charging_a: float = 0.05  # |I| below this is neither charging nor discharging

    def __post_init__(self) -> None:
        if not self.v_low < self.v_warn:
            raise ValueError("v_low must be below v_warn")
        if self.n_consecutive < 1 or self.cancel_margin_v < 0 or self.charging_a < 0:
            raise ValueError("n_consecutive >= 1, cancel_margin_v >= 0, charging_a >= 0")

    @classmethod
    def for_chemistry(cls, chemistry: Chemistry) -> Thresholds:
        return DEFAULT_THRESHOLDS[Chemistry(chemistry)]


DEFAULT_THRESHOLDS = {
    # Lead-acid: warn near 35 % (11.8 V resting), shut down near 12 % (11.4 V),
    # well above a typical controller LVD of 11.0 V (~6 %). Cancel only once back
    # at the warning level (11.8 V), which in practice means the sun is charging.
    Chemistry.LEAD_ACID: Thresholds(v_warn=11.8, v_low=11.4),
    # LiFePO4: flat between 20 and 90 %, so the voltage only matters at the knee:
    # warn at 12.9 V (~25 %), shut down at 12.6 V (~14 %); the coulomb-counted SoC
    # and runtime usually trigger first. Cancel at 13.0 V (~40 % resting).
    Chemistry.LIFEPO4: Thresholds(v_warn=12.9, v_low=12.6),
}


class ShutdownPolicy:
    """Feed samples in time order; each :meth:`feed` returns a :class:`Decision`.

    State precedence: shutdown_pending > sensor_fault > warn > ok. A fault does
    not reset or advance the debounce counters; ``recover_after`` good samples
    in a row clear the fault.
    """

    def __init__(
        self,
        thresholds: Thresholds | None = None,
        *,
        chemistry: Chemistry = Chemistry.LEAD_ACID,
        recover_after: int = 10,
    ) -> None:
        self.thresholds = thresholds or Thresholds.for_chemistry(chemistry)
        self.recover_after = recover_after
        self._t: float | None = None
        self._low = 0  # consecutive samples with a shutdown condition
        self._weak = 0  # consecutive samples below v_warn
        self._recovered = 0  # consecutive samples allowing a cancel
        self._strong = 0  # consecutive samples allowing the warning to clear
        self._good = 0  # consecutive good samples while faulted
        self.pending = False
        self.warning = False
        self.faulted = False

    @property
    def state(self) -> State:
        if self.pending:
            return State.SHUTDOWN_PENDING
        if self.faulted:
            return State.SENSOR_FAULT
        return State.WARN if self.warning else State.OK

    def feed(self, sample: Sample | FaultSample) -> Decision:
        if self._t is not None and sample.t < self._t:
            raise ValueError("samples must be fed in time order")
        self._t = sample.t
        if isinstance(sample, FaultSample):
            return self._fault(sample)
        return self._sample(sample)

    def _fault(self, f: FaultSample) -> Decision:
        self._good = 0
        events: tuple[Event, ...] = ()
        if not self.faulted:
            self.faulted = True
            events = (Event(f.t, EventKind.SENSOR_FAULT, f.reason or "sensor fault"),)
        return Decision(f.t, self.state, events)

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

    def _sample(self, s: Sample) -> Decision:
        th = self.thresholds
        events: list[Event] = []
        if self.faulted:
            self._good += 1
            if self._good >= self.recover_after:
                self.faulted = False
                events.append(Event(s.t, EventKind.SENSOR_RECOVERED))

        discharging = s.current_a < -th.charging_a
        charging = s.current_a > th.charging_a
        why = self.reasons(s)
        self._low = self._low + 1 if why else 0
        self._weak = self._weak + 1 if discharging and s.voltage_v < th.v_warn else 0
        healthy = not why and s.voltage_v > th.v_low + th.cancel_margin_v
        self._recovered = self._recovered + 1 if healthy else 0
        strong = charging or s.voltage_v > th.v_warn + th.cancel_margin_v / 2
        self._strong = self._strong + 1 if strong and not why else 0

        if self.pending:
            if self._recovered >= th.n_consecutive:
                self.pending = False
                events.append(
                    Event(s.t, EventKind.SHUTDOWN_CANCELLED, f"voltage {s.voltage_v:.2f} V")
                )
        elif self._low >= th.n_consecutive:
            self.pending = True
            events.append(Event(s.t, EventKind.SHUTDOWN, "; ".join(why)))

        if not self.warning and (self._weak >= th.n_consecutive or self.pending):
            self.warning = True
            events.append(Event(s.t, EventKind.WARN, f"voltage {s.voltage_v:.2f} V"))
        elif self.warning and not self.pending and self._strong >= th.n_consecutive:
            self.warning = False
            events.append(Event(s.t, EventKind.WARN_CLEARED))
        return Decision(s.t, self.state, tuple(events))
