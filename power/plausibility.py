"""Is the sensor telling the truth? Named faults from the readings themselves. Pure.

A sensor can answer every read and still be wrong: a shunt wired backwards shows the night's
discharge as a charge, a 0.1 ohm breakout read as a 0.01 ohm shunt shows ten times the real
current, a chip that browned out reads 0 A. The policy must not trust such readings, so
:class:`PlausibilityMonitor` names the fault and the policy falls back on the voltage.

Every rule needs sustained evidence (medians over the last samples, a minimum duration and a
minimum count): a spike, a cloud passing or a cold night never names a fault. Faults that
are readings (chip reset, implausible) clear after ``recover_after`` plausible samples;
faults that are wiring (reversed or wrong shunt) clear only after a whole day without
evidence, since a backwards shunt looks plausible for most of the day.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from power.battery import Chemistry


class Fault(StrEnum):
    SENSOR_LOST = "sensor_lost"
    REVERSED_SHUNT = "reversed_shunt"
    WRONG_SHUNT = "wrong_shunt"
    CHIP_RESET = "chip_reset"
    IMPLAUSIBLE = "implausible"


class Lead(StrEnum):
    """Where the shunt sits: in the battery's + lead (sees the charge and the draw) or in the
    appliance's + lead, after the controller's LOAD output (sees the appliance's draw only)."""

    BATTERY = "battery"
    APPLIANCE = "appliance"


WIRING_FAULTS = frozenset({Fault.REVERSED_SHUNT, Fault.WRONG_SHUNT})

# A 12 V battery outside these is a wrong reading: below 8 V the controller has long cut the
# load (and the Pi with it); 16 V is above any equalisation charge (flooded lead-acid 15.5 V).
V_PLAUSIBLE = (8.0, 16.0)
# Terminal voltage only a charge produces: a discharging lead-acid under load sits below its
# 12.7 V resting full (surface charge fades within minutes under load), a LiFePO4 below 13.6 V.
CHARGE_LEVEL_V = {Chemistry.LEAD_ACID: 13.3, Chemistry.LIFEPO4: 13.8}
# No panel current at all between these UTC hours anywhere in Mali (UTC, no DST): the earliest
# sunrise (Kayes/Bamako, June) is ~05:45-06:05 and the latest sunset (July) ~19:05-19:10;
# 30-40 min of margin each side, as civil twilight gives a panel nothing usable either.
DARK_AFTER_H = 19.75
DARK_BEFORE_H = 5.5
# Shunt values of the boards and external shunts in the field (ohms), most common first.
COMMON_SHUNTS = (0.1, 0.01, 0.05, 0.02, 0.001, 0.002, 0.005, 0.0015)
MEDIAN_OF = 5  # samples; two spikes in five cannot move the median
DISCHARGE_AT_CHARGE_LEVEL_A = 0.2
NEAR_ZERO_A = 0.05
MIN_APPLIANCE_DRAW_A = 0.1  # a Pi with its screen never draws less from the 12 V side
# The reversed-shunt rules' advice on the battery lead (the appliance lead's board says VIN).
_BACKWARDS = "the shunt is wired backwards (swap IN+ and IN-, or set [power] invert = true)"


def is_dark(hour: float | None) -> bool:
    """True when no panel can give current at this UTC hour (False when the hour is unknown)."""
    return hour is not None and (hour >= DARK_AFTER_H or hour < DARK_BEFORE_H)


def suggested_shunt(current_a: float, shunt_ohms: float, max_draw_a: float) -> float | None:
    """The common shunt value under which ``current_a`` (read with ``shunt_ohms``) becomes a
    plausible draw for the appliance; None when none does."""
    shunt_v = abs(current_a) * shunt_ohms
    for r in COMMON_SHUNTS:
        if r != shunt_ohms and MIN_APPLIANCE_DRAW_A <= shunt_v / r <= max_draw_a:
            return r
    return None


class _Run:
    """How long (sample time, and samples) a condition has held without a break."""

    __slots__ = ("count", "since")

    def __init__(self) -> None:
        self.since: float | None = None
        self.count = 0

    def hold(self, t: float, condition: bool) -> bool:
        if condition:
            if self.since is None:
                self.since = t
            self.count += 1
        else:
            self.since, self.count = None, 0
        return condition

    def sustained(self, t: float, seconds: float, n: int) -> bool:
        return self.since is not None and t - self.since >= seconds and self.count >= n

    def minutes(self, t: float) -> float:
        return 0.0 if self.since is None else (t - self.since) / 60


@dataclass(frozen=True, slots=True)
class Change:
    """A fault began (``fault`` set) or cleared (``cleared`` set)."""

    fault: Fault | None = None
    detail: str = ""
    cleared: Fault | None = None


class PlausibilityMonitor:
    """Feed every good reading in time order; :attr:`fault` is the named fault (or None).

    ``evidence_s``: how long a fast rule's evidence must hold (reversed at night, discharge
    at charge level, overflow); ``slow_evidence_s`` for the rules that watch a slow trend
    (voltage falling while the current says charging or says nothing); ``draw_evidence_s``
    for a draw above ``max_draw_a``. ``shunt_ohms`` (the configured value) lets the detail
    say what to change.
    """

    def __init__(
        self,
        *,
        chemistry: Chemistry = Chemistry.LEAD_ACID,
        charging_a: float = 0.05,
        max_draw_a: float = 2.0,
        n_consecutive: int = 5,
        recover_after: int = 10,
        shunt_ohms: float | None = None,
        evidence_s: float = 1800.0,
        slow_evidence_s: float = 7200.0,
        draw_evidence_s: float = 900.0,
        wiring_recover_s: float = 86400.0,
        power_tolerance: float = 0.10,
        power_slack_w: float = 0.05,
        lead: Lead = Lead.BATTERY,
    ) -> None:
        self.chemistry = Chemistry(chemistry)
        self.lead = Lead(lead)
        self.charging_a = charging_a
        self.max_draw_a = max_draw_a
        self.n = n_consecutive
        self.recover_after = recover_after
        self.shunt_ohms = shunt_ohms
        self.evidence_s = evidence_s
        self.slow_evidence_s = slow_evidence_s
        self.draw_evidence_s = draw_evidence_s
        self.wiring_recover_s = wiring_recover_s
        self.power_tolerance = power_tolerance
        self.power_slack_w = power_slack_w
        self.fault: Fault | None = None
        self.detail: str | None = None
        self._recent: deque[tuple[float, float]] = deque(maxlen=MEDIAN_OF)  # (v, i)
        self._resets: int | None = None
        self._runs = {
            name: _Run()
            for name in (
                "voltage",
                "power",
                "calibration",
                "night_charge",
                "charge_level",
                "falling",
                "big_draw",
                "no_draw",
                "overflow",
            )
        }
        self._trend_start_v: float | None = None  # median voltage when the current trend began
        self._trend_min_v: float | None = None
        self._idle_start_v = 0.0  # median voltage when the night's near-zero current began
        self._night_start_v = 0.0  # median voltage when the night's "charge" began
        self._good = 0
        self._good_since: float | None = None

    # -- feeding -------------------------------------------------------------------------------
    def feed(self, s: Any) -> Change | None:
        """One good sample (a :class:`power.policy.Sample`)."""
        t, v, i = s.t, s.voltage_v, s.current_a
        if V_PLAUSIBLE[0] <= v <= V_PLAUSIBLE[1]:  # an impossible voltage is no trend
            self._recent.append((v, i))
        if self._recent:
            mv = statistics.median(x[0] for x in self._recent)
            mi = statistics.median(x[1] for x in self._recent)
        else:
            mv, mi = v, 0.0
        self._runs["overflow"].hold(t, False)
        found: tuple[Fault, str] | None = None
        evidence = False

        resets = getattr(s, "chip_resets", None)
        if resets is not None:
            if self._resets is not None and resets > self._resets:
                evidence = True
                found = (
                    Fault.CHIP_RESET,
                    f"the INA219 lost its calibration (brown-out?) and was reprogrammed "
                    f"({resets - self._resets}x); current and charge count are unsure",
                )
            self._resets = resets

        for rule in (self._implausible, self._chip_zeroed, self._reversed, self._wrong):
            got = rule(s, t, v, i, mv, mi)
            if got is True:
                evidence = True
            elif got:
                evidence = True
                found = found or got
        return self._settle(t, found, evidence)

    def lost(self) -> None:
        """The sensor answered nothing: what the driver did meanwhile (reprogramming a chip
        that a floating line only seemed to reset) is the lost sensor's story, not a reset."""
        self._resets = None
        self._recent.clear()

    def overflow(self, t: float, voltage_v: float, reason: str = "") -> Change | None:
        """The current overflowed (OVF) on every retry while the bus voltage read fine."""
        run = self._runs["overflow"]
        run.hold(t, True)
        found = None
        if run.sustained(t, min(self.evidence_s, 300.0), self.n):
            where = f"[power] shunt_ohms = {self.shunt_ohms:g}" if self.shunt_ohms else "shunt"
            found = (
                Fault.WRONG_SHUNT,
                f"current overflow (OVF) for {run.minutes(t):.0f} min at {voltage_v:.2f} V: "
                f"the current exceeds the range, check {where} and max_current_a",
            )
        return self._settle(t, found, True)

    # -- rules: each returns None (no evidence), True (evidence, not yet sustained) or a find -
    def _implausible(self, s: Any, t: float, v: float, i: float, mv: float, mi: float) -> Any:
        lo, hi = V_PLAUSIBLE
        run = self._runs["voltage"]
        if run.hold(t, not lo <= v <= hi):
            if run.count >= self.n:
                return (Fault.IMPLAUSIBLE, f"battery voltage {v:.2f} V outside {lo:g}-{hi:g} V")
            return True
        p = getattr(s, "power_w", None)
        run = self._runs["power"]
        if p is None:
            run.hold(t, False)
            return None
        expected = v * abs(i)
        off = abs(p - expected) > self.power_tolerance * expected + self.power_slack_w
        if run.hold(t, off):
            if run.count >= self.n:
                return (
                    Fault.IMPLAUSIBLE,
                    f"power register {p:.2f} W is not V x I = {v:.2f} V x {abs(i):.3f} A "
                    f"= {expected:.2f} W",
                )
            return True
        return None

    def _chip_zeroed(self, s: Any, t: float, v: float, i: float, mv: float, mi: float) -> Any:
        shunt_mv = getattr(s, "shunt_mv", None)
        p = getattr(s, "power_w", None)
        # 0.5 mV is 50 shunt LSB: clearly a current, yet the chip computes none (Cal = 0).
        zeroed = shunt_mv is not None and abs(shunt_mv) >= 0.5 and i == 0 and not p
        run = self._runs["calibration"]
        if run.hold(t, zeroed):
            if run.count >= self.n:
                return (
                    Fault.CHIP_RESET,
                    f"shunt reads {shunt_mv:.2f} mV but current and power read 0: "
                    "the INA219 lost its calibration",
                )
            return True
        return None

    def _reversed(self, s: Any, t: float, v: float, i: float, mv: float, mi: float) -> Any:
        if self.lead is Lead.APPLIANCE:
            # nothing charges through the appliance's lead: any sustained "charge" is the
            # appliance's draw read backwards
            run = self._runs["night_charge"]
            if run.hold(t, mi > self.charging_a):
                if run.sustained(t, self.evidence_s, self.n):
                    return (
                        Fault.REVERSED_SHUNT,
                        f"the appliance's draw reads as a charge (+{mi:.2f} A) for "
                        f"{run.minutes(t):.0f} min: the shunt is wired backwards "
                        "(swap VIN+ and VIN-, or set [power] invert = true)",
                    )
                return True
            return None
        hour = getattr(s, "hour", None)
        charge_v = CHARGE_LEVEL_V[self.chemistry]
        run = self._runs["night_charge"]
        if run.hold(t, is_dark(hour) and mi > self.charging_a):
            if run.count == 1:
                self._night_start_v = mv
            # a real charge at night (a generator, a mains charger) lifts the voltage within
            # minutes; a backwards shunt shows the night's discharge, the voltage sinks
            rising = mv > self._night_start_v + 0.02
            if rising:
                return None
            if run.sustained(t, self.evidence_s, self.n):
                return (
                    Fault.REVERSED_SHUNT,
                    f"charging current +{mi:.2f} A at night ({hour:04.1f} h UTC) for "
                    f"{run.minutes(t):.0f} min: {_BACKWARDS}",
                )
            return True
        run = self._runs["charge_level"]
        if run.hold(t, mv >= charge_v and mi < -DISCHARGE_AT_CHARGE_LEVEL_A):
            if run.sustained(t, self.evidence_s, self.n):
                return (
                    Fault.REVERSED_SHUNT,
                    f"discharge {mi:.2f} A at {mv:.2f} V, a voltage only a charge gives, for "
                    f"{run.minutes(t):.0f} min: {_BACKWARDS}",
                )
            return True
        # Without a trusted hour: a "charge" for hours while the voltage only falls. Only then:
        # by day a weak charge after a strong one also sees the voltage relax for a while.
        run = self._runs["falling"]
        trend = hour is None and mi > self.charging_a and mv < charge_v
        if not run.hold(t, trend):
            self._trend_start_v = self._trend_min_v = None
            return None
        if self._trend_start_v is None:
            self._trend_start_v = self._trend_min_v = mv
        self._trend_min_v = min(self._trend_min_v or mv, mv)
        steady = mv <= self._trend_min_v + 0.03 and mv <= self._trend_start_v - 0.03
        if steady and run.sustained(t, self.slow_evidence_s, self.n):
            return (
                Fault.REVERSED_SHUNT,
                f"charging current +{mi:.2f} A for {run.minutes(t):.0f} min while the voltage "
                f"fell from {self._trend_start_v:.2f} to {mv:.2f} V: {_BACKWARDS}",
            )
        return None  # a trend is not evidence by itself until it is sustained

    def _wrong(self, s: Any, t: float, v: float, i: float, mv: float, mi: float) -> Any:
        run = self._runs["big_draw"]
        if run.hold(t, mi < -self.max_draw_a):
            if run.sustained(t, self.draw_evidence_s, self.n):
                return (Fault.WRONG_SHUNT, self._too_high(mi, run.minutes(t)))
            return True
        hour = getattr(s, "hour", None)
        run = self._runs["no_draw"]
        # on the battery lead only the dark rules out a panel that just covers the load; on
        # the appliance's lead nothing can cover it
        appliance = self.lead is Lead.APPLIANCE
        idle = (appliance or is_dark(hour)) and abs(mi) < NEAR_ZERO_A
        if not run.hold(t, idle):
            return None
        if run.count == 1:
            self._idle_start_v = mv
        falling = appliance or mv <= self._idle_start_v - 0.02
        if run.sustained(t, self.slow_evidence_s, self.n) and falling:
            return (Fault.WRONG_SHUNT, self._too_low(mi, run.minutes(t)))
        return None

    def _too_high(self, current_a: float, minutes: float) -> str:
        head = (
            f"discharge {current_a:.2f} A for {minutes:.0f} min is "
            f"{abs(current_a) / self.max_draw_a:.1f}x the appliance's highest plausible draw "
            f"({self.max_draw_a:g} A)"
        )
        return head + self._shunt_hint(current_a)

    def _too_low(self, current_a: float, minutes: float) -> str:
        when = "" if self.lead is Lead.APPLIANCE else " at night while the voltage falls"
        head = (
            f"current {current_a:+.3f} A for {minutes:.0f} min{when}: "
            "a running appliance always draws, the readings look too low"
        )
        return head + self._shunt_hint(current_a)

    def _shunt_hint(self, current_a: float) -> str:
        if not self.shunt_ohms:
            return "; check [power] shunt_ohms"
        r = suggested_shunt(current_a, self.shunt_ohms, self.max_draw_a)
        if r is None:
            return f"; check [power] shunt_ohms (now {self.shunt_ohms:g})"
        ratio = self.shunt_ohms / r  # the reading is the real current x (r / shunt_ohms)
        how = f"{1 / ratio:.0f}x too high" if ratio < 1 else f"{ratio:.0f}x too low"
        return (
            f": the board's shunt looks like {r:g} ohm (readings {how}), "
            f"[power] shunt_ohms says {self.shunt_ohms:g}"
        )

    # -- state ---------------------------------------------------------------------------------
    def _settle(self, t: float, found: tuple[Fault, str] | None, evidence: bool) -> Change | None:
        if found is not None and self.fault is None:
            self.fault, self.detail = found
            self._good, self._good_since = 0, None
            return Change(fault=found[0], detail=found[1])
        if self.fault is None:
            return None
        if evidence:
            self._good, self._good_since = 0, None
            return None
        self._good += 1
        if self._good_since is None:
            self._good_since = t
        if self.fault in WIRING_FAULTS and t - self._good_since < self.wiring_recover_s:
            return None
        if self._good >= self.recover_after:
            cleared, self.fault, self.detail = self.fault, None, None
            self._good, self._good_since = 0, None
            return Change(cleared=cleared)
        return None
