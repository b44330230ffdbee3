"""State of charge and runtime of a 12 V battery. Pure: time is passed in, no I/O.

Sign convention (as the sensor): current > 0 charges the battery, < 0 discharges it.
SoC is in percent, 0-100.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum


class Chemistry(StrEnum):
    LEAD_ACID = "lead-acid"
    LIFEPO4 = "lifepo4"


# Resting (open-circuit) voltage of a 12 V battery at 0, 10, ... 100 % SoC, from
# the common 12 V battery charts (lead-acid: 6 cells; LiFePO4: 4 cells in series).
_SOC_POINTS = tuple(float(p) for p in range(0, 101, 10))
RESTING_VOLTAGE: dict[Chemistry, tuple[float, ...]] = {
    Chemistry.LEAD_ACID: (
        10.50, 11.31, 11.58, 11.75, 11.90, 12.06, 12.20, 12.32, 12.42, 12.50, 12.70,
    ),
    Chemistry.LIFEPO4: (
        12.00, 12.48, 12.80, 12.92, 13.00, 13.04, 13.08, 13.16, 13.28, 13.40, 13.60,
    ),
}  # fmt: skip

# Coulombic efficiency of charging: lead-acid loses charge to gassing near full.
CHARGE_EFFICIENCY = {Chemistry.LEAD_ACID: 0.85, Chemistry.LIFEPO4: 0.98}
# Time without current before the terminal voltage is trusted as a resting voltage:
# lead-acid relaxes for hours, LiFePO4 within tens of minutes.
REST_TIME_S = {Chemistry.LEAD_ACID: 3600.0, Chemistry.LIFEPO4: 1800.0}


def _interp(x: float, xs: tuple[float, ...], ys: tuple[float, ...]) -> float:
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, x)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def soc_from_voltage(voltage_v: float, *, chemistry: Chemistry = Chemistry.LEAD_ACID) -> float:
    """SoC (%) from a resting voltage, linear between table points, clamped to 0-100."""
    return _interp(voltage_v, RESTING_VOLTAGE[Chemistry(chemistry)], _SOC_POINTS)


def voltage_from_soc(soc: float, *, chemistry: Chemistry = Chemistry.LEAD_ACID) -> float:
    """Resting voltage at a SoC (%), the inverse of :func:`soc_from_voltage`."""
    return _interp(soc, _SOC_POINTS, RESTING_VOLTAGE[Chemistry(chemistry)])


@dataclass(frozen=True, slots=True)
class SocEstimate:
    t: float
    soc: float
    runtime_min: float  # at the smoothed load; math.inf when not discharging
    load_a: float  # smoothed battery current (negative while discharging)
    at_rest: bool
    source: str  # "voltage" (anchored to the resting curve) or "coulomb"


class SocEstimator:
    """Coulomb counting between anchors on the resting-voltage curve.

    The first sample anchors the SoC to the curve (after removing the I x R
    drop) unless ``initial_soc`` is given. Afterwards the measured current is
    integrated (trapezoidal; charge multiplied by ``charge_efficiency``). When
    |I| stays below ``rest_current_a`` for ``rest_s`` the voltage is a resting
    voltage again and the SoC is re-anchored to the curve; at float charge the
    terminal voltage is above the 100 % point, which anchors a full battery.

    A median of the last three currents feeds the integral and the load
    smoothing, so one spiky sample neither drains the count nor the runtime.
    ``runtime_min`` is the time to ``reserve_soc`` at the load smoothed with
    time constant ``smoothing_s``.

    A gap longer than ``gap_s`` between two samples (a lost sensor, a daemon restart) is
    not integrated over -- nobody knows what flowed meanwhile: the SoC is anchored again on
    the curve, from the voltage corrected for I x R.
    """

    def __init__(
        self,
        capacity_ah: float,
        *,
        chemistry: Chemistry = Chemistry.LEAD_ACID,
        charge_efficiency: float | None = None,
        initial_soc: float | None = None,
        rest_current_a: float = 0.1,
        rest_s: float | None = None,
        r_internal_ohm: float = 0.02,
        smoothing_s: float = 600.0,
        reserve_soc: float = 0.0,
        gap_s: float = 600.0,
    ) -> None:
        if capacity_ah <= 0:
            raise ValueError("capacity_ah must be positive")
        self.capacity_ah = capacity_ah
        self.chemistry = Chemistry(chemistry)
        self.charge_efficiency = (
            CHARGE_EFFICIENCY[self.chemistry] if charge_efficiency is None else charge_efficiency
        )
        self.rest_current_a = rest_current_a
        self.rest_s = REST_TIME_S[self.chemistry] if rest_s is None else rest_s
        self.r_internal_ohm = r_internal_ohm
        self.smoothing_s = smoothing_s
        self.reserve_soc = reserve_soc
        self.gap_s = gap_s
        self._soc = None if initial_soc is None else min(100.0, max(0.0, initial_soc))
        self._t: float | None = None
        self._i: float = 0.0
        self._recent: deque[float] = deque(maxlen=3)
        self._load_a: float | None = None
        self._rest_since: float | None = None

    @property
    def soc(self) -> float | None:
        return self._soc

    def anchor(self, voltage_v: float, current_a: float = 0.0) -> float:
        """Set the SoC from the curve, correcting the terminal voltage for I x R."""
        ocv = voltage_v - current_a * self.r_internal_ohm
        self._soc = soc_from_voltage(ocv, chemistry=self.chemistry)
        return self._soc

    def update(self, t: float, voltage_v: float, current_a: float) -> SocEstimate:
        if self._t is not None and t < self._t:
            raise ValueError("samples must be in time order")
        gap = self._t is not None and t - self._t > self.gap_s
        if gap:
            self._recent.clear()
            self._rest_since = None
        self._recent.append(current_a)
        i_f = sorted(self._recent)[1] if len(self._recent) == 3 else current_a
        source = "coulomb"
        if self._soc is None or gap:
            self.anchor(voltage_v, current_a)
            source = "voltage"
        elif self._t is not None:
            dt = t - self._t
            mean = (self._i + i_f) / 2
            if mean > 0:
                mean *= self.charge_efficiency
            soc = self._soc + mean * dt / 3600 / self.capacity_ah * 100
            self._soc = min(100.0, max(0.0, soc))
            alpha = 1 - math.exp(-dt / self.smoothing_s) if self.smoothing_s > 0 else 1.0
            self._load_a = (
                i_f if self._load_a is None else self._load_a + alpha * (i_f - self._load_a)
            )

        if abs(current_a) < self.rest_current_a:
            if self._rest_since is None:
                self._rest_since = t
        else:
            self._rest_since = None
        at_rest = self._rest_since is not None and t - self._rest_since >= self.rest_s
        if at_rest:
            self.anchor(voltage_v, current_a)
            source = "voltage"
        if self._load_a is None:
            self._load_a = i_f
        self._t, self._i = t, i_f
        return SocEstimate(
            t=t,
            soc=self._soc,
            runtime_min=self.runtime_min(),
            load_a=self._load_a,
            at_rest=at_rest,
            source=source,
        )

    def minutes_to(self, soc: float) -> float:
        """Minutes until the SoC falls to ``soc`` at the smoothed load: 0 when already
        there, inf if not discharging."""
        if self._soc is None or self._load_a is None or self._load_a > -1e-3:
            return math.inf
        remaining_ah = max(0.0, self._soc - soc) / 100 * self.capacity_ah
        return remaining_ah / -self._load_a * 60

    def runtime_min(self) -> float:
        """Minutes until ``reserve_soc`` at the smoothed load; inf if not discharging."""
        return self.minutes_to(self.reserve_soc)
