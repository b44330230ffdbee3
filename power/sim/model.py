"""Physical model of the health centre's solar supply, driven by simulated time.

Panel -> charge controller -> battery, with the appliance as load on the
controller's load output. The current sensor sits in the battery lead, so it
sees the battery current: positive while charging, negative while discharging,
and the bus voltage is the battery terminal voltage.

The model is behavioural, not electrochemical: enough to give the policy and
the estimator realistic voltages and currents over days. Time is seconds since
local midnight of day 0 (Mali: UTC, no DST). The state advances on a fixed
grid of ``step_s`` so results do not depend on how often it is sampled.

The appliance is in one of five modes (:class:`Mode`): running; the low-power
wait (services stopped, screen and modem off, the monitor still sampling); the
read-only hold of a critical battery (the wait's draw, every filesystem
read-only, the monitor still sampling); halted (after ``systemctl poweroff``:
the Pi draws a little until its supply goes); off (the controller's low-voltage
disconnect cut the load output). When the controller reconnects the load
(battery above ``v_reconnect``) the Pi boots: running again. The simulated
system commands switch between the first four, and ``systemctl reboot`` is a
boot too (:meth:`SolarSystem.reboot`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import StrEnum

from power.battery import CHARGE_EFFICIENCY, Chemistry, voltage_from_soc
from power.sim.clock import SECONDS_PER_DAY


@dataclass(frozen=True, slots=True, kw_only=True)
class DayWeather:
    clearness: float = 1.0  # fraction of clear-sky output; heavy overcast ~0.1-0.2
    dust: float = 1.0  # harmattan dust haze transmission (Dec-Mar), e.g. 0.6-0.8
    variability: float = 0.0  # depth of passing clouds, 0-1, in 10-minute slots


SUNNY = DayWeather()
OVERCAST = DayWeather(clearness=0.12, variability=0.5)
HARMATTAN = DayWeather(dust=0.65)


@dataclass(frozen=True, slots=True, kw_only=True)
class Panel:
    """Clear-sky output is ``wp x derate x sin^2`` between sunrise and sunset.

    Bamako (~13 N) rises about 06:30 and sets about 18:45 local time; sin^2
    rather than sin because irradiance is weak at low sun (long air mass). The
    derate (hot cells at ~-0.4 %/K, soiling, wiring) puts a clear-sky noon at
    ~75 % of the nameplate Wp. The last weather entry repeats after the list ends.
    """

    wp: float = 100.0
    derate: float = 0.75
    sunrise_h: float = 6.5
    sunset_h: float = 18.75
    weather: tuple[DayWeather, ...] = (SUNNY,)
    seed: int = 0

    def weather_on(self, day: int) -> DayWeather:
        return self.weather[min(day, len(self.weather) - 1)]

    def power_w(self, t: float) -> float:
        day, tod = divmod(t, SECONDS_PER_DAY)
        rise, sset = self.sunrise_h * 3600, self.sunset_h * 3600
        if not rise < tod < sset:
            return 0.0
        w = self.weather_on(int(day))
        shape = math.sin(math.pi * (tod - rise) / (sset - rise)) ** 2
        factor = w.clearness * w.dust
        if w.variability:
            slot = int(t // 600)
            factor *= 1 - w.variability * random.Random(self.seed * 1_000_003 + slot).random()
        return self.wp * self.derate * shape * factor


class Mode(StrEnum):
    RUNNING = "running"
    LOW_POWER_WAIT = "low_power_wait"
    HOLD = "hold"  # critical: filesystems read-only, the Pi on at the wait's draw
    HALTED = "halted"
    OFF = "off"


@dataclass(frozen=True, slots=True, kw_only=True)
class Load:
    """The appliance on the 12 V load output, through a 5 V converter.

    Pi 3-5 W (busy during clinic hours), 7" screen 2.5 W while the clinic is
    open, 3G modem 0.5 W idle and ~2 W during an hourly sync. In the low-power
    wait, and in the read-only hold of a critical battery, only the Pi idles, screen and
    modem off: ``wait_w`` (the Raspberry Pi
    figures put an idle Pi 3B at ~1.4 W; 2.0 W leaves room for the sensor, the
    LED and a hub that keeps its ports powered). Halted, a Pi 3 still draws
    ~0.5 W with the converter's own quiescent current (``halted_w``). Every
    figure is at 5 V, before the converter.
    """

    pi_idle_w: float = 3.0
    pi_busy_w: float = 5.0
    screen_w: float = 2.5
    modem_idle_w: float = 0.5
    modem_tx_w: float = 2.0
    open_h: float = 8.0
    close_h: float = 17.0
    sync_period_s: float = 3600.0
    sync_s: float = 300.0
    converter_efficiency: float = 0.85
    wait_w: float = 2.0
    halted_w: float = 0.5

    def power_w(self, t: float, mode: Mode = Mode.RUNNING) -> float:
        """Draw at 12 V (after the converter's loss) at ``t`` in ``mode``."""
        if mode is Mode.OFF:
            return 0.0
        if mode in (Mode.LOW_POWER_WAIT, Mode.HOLD):
            return self.wait_w / self.converter_efficiency
        if mode is Mode.HALTED:
            return self.halted_w / self.converter_efficiency
        tod = t % SECONDS_PER_DAY
        open_ = self.open_h * 3600 <= tod < self.close_h * 3600
        p = (self.pi_busy_w + self.screen_w) if open_ else self.pi_idle_w
        p += self.modem_tx_w if t % self.sync_period_s < self.sync_s else self.modem_idle_w
        return p / self.converter_efficiency


@dataclass(frozen=True, slots=True, kw_only=True)
class BatterySpec:
    """A 12 V battery: R0 series resistance, R1/tau polarisation (sag and recovery).

    ``ageing`` in 0-1 scales capacity by (1 - ageing) and resistance by
    (1 + 3 x ageing): a neglected battery at 0.4 keeps 60 % of its capacity.
    Charge acceptance tapers linearly from ``accept_c_rate`` x C at
    ``absorb_soc`` to zero at 100 %.
    """

    chemistry: Chemistry = Chemistry.LEAD_ACID
    capacity_ah: float = 40.0
    r0_ohm: float = 0.015
    r1_ohm: float = 0.010
    tau_s: float = 1200.0
    charge_efficiency: float | None = None
    ageing: float = 0.0
    absorb_soc: float = 85.0
    accept_c_rate: float = 0.2

    @classmethod
    def lifepo4(cls, **kw: object) -> BatterySpec:
        defaults = dict(chemistry=Chemistry.LIFEPO4, r0_ohm=0.008, r1_ohm=0.004, tau_s=600.0)
        defaults |= dict(absorb_soc=95.0, accept_c_rate=0.5)
        return cls(**(defaults | kw))  # type: ignore[arg-type]

    @property
    def effective_capacity_ah(self) -> float:
        return self.capacity_ah * (1 - self.ageing)

    @property
    def resistance_factor(self) -> float:
        return 1 + 3 * self.ageing

    @property
    def efficiency(self) -> float:
        if self.charge_efficiency is not None:
            return self.charge_efficiency
        return CHARGE_EFFICIENCY[self.chemistry]


@dataclass(frozen=True, slots=True, kw_only=True)
class ControllerSpec:
    """Three-stage charge controller with a low-voltage disconnect (LVD) of the load."""

    v_absorb: float = 14.4
    v_float: float = 13.6
    v_lvd: float = 11.0
    v_reconnect: float = 12.6
    max_current_a: float = 10.0
    absorb_max_s: float = 7200.0
    efficiency: float = 0.95  # MPPT conversion

    @classmethod
    def for_chemistry(cls, chemistry: Chemistry) -> ControllerSpec:
        if Chemistry(chemistry) is Chemistry.LIFEPO4:
            return cls(v_absorb=14.2, v_float=13.6, v_lvd=12.0, v_reconnect=13.0)
        return cls()


class Stage(StrEnum):
    BULK = "bulk"
    ABSORPTION = "absorption"
    FLOAT = "float"


@dataclass(slots=True, kw_only=True)
class SolarSystem:
    panel: Panel = field(default_factory=Panel)
    battery: BatterySpec = field(default_factory=BatterySpec)
    controller: ControllerSpec = field(default_factory=ControllerSpec)
    load: Load = field(default_factory=Load)
    initial_soc: float = 100.0
    start_s: float = 0.0
    step_s: float = 15.0
    # state
    t: float = field(init=False)
    soc: float = field(init=False)  # percent
    current_a: float = field(init=False, default=0.0)
    voltage_v: float = field(init=False)
    v_pol: float = field(init=False, default=0.0)
    stage: Stage = field(init=False, default=Stage.BULK)
    stage_since: float = field(init=False)
    load_connected: bool = field(init=False, default=True)
    lvd_at: float | None = field(init=False, default=None)
    empty_at: float | None = field(init=False, default=None)
    mode: Mode = field(init=False, default=Mode.RUNNING)
    cutoffs: list[float] = field(init=False, default_factory=list)  # LVD cuts of the load
    boots: list[float] = field(init=False, default_factory=list)  # reconnects and reboots
    boot_causes: list[str] = field(init=False, default_factory=list)  # "reconnect", "reboot"
    mode_log: list[tuple[float, Mode]] = field(init=False, default_factory=list)
    energy_wh: dict[Mode, float] = field(init=False, default_factory=dict)  # load, by mode
    time_s: dict[Mode, float] = field(init=False, default_factory=dict)  # time in each mode

    def __post_init__(self) -> None:
        self.t = self.start_s
        self.stage_since = self.start_s
        self.soc = self.initial_soc
        self.voltage_v = voltage_from_soc(self.soc, chemistry=self.battery.chemistry)

    def set_mode(self, mode: Mode, t: float | None = None) -> None:
        """The appliance changes mode at ``t`` (default: now): the model first catches up to
        ``t`` so the draw before the change is counted at the old one. A Pi the controller
        cut stays off whatever it is told: nothing runs on it."""
        if t is not None:
            self.advance_to(t)
        if self.mode is Mode.OFF or mode is self.mode:
            return
        self.mode = Mode(mode)
        self.mode_log.append((self.t, self.mode))

    def reboot(self, t: float | None = None) -> None:
        """``systemctl reboot`` at ``t``: the Pi boots, its services start. Nothing happens
        to a Pi the controller cut."""
        if t is not None:
            self.advance_to(t)
        if self.mode is Mode.OFF:
            return
        self._boot(self.t, "reboot")

    def _boot(self, t: float, cause: str) -> None:
        self.mode = Mode.RUNNING
        self.boots.append(t)
        self.boot_causes.append(cause)
        self.mode_log.append((t, Mode.RUNNING))

    def sense(self, t: float) -> tuple[float, float]:
        """(battery current, terminal voltage) at ``t`` -- the shunt's view."""
        self.advance_to(t)
        return self.current_a, self.voltage_v

    def advance_to(self, t: float) -> None:
        while self.t + self.step_s <= t + 1e-9:
            self._step(self.t, self.step_s)
            self.t += self.step_s

    @property
    def ocv_v(self) -> float:
        """Open-circuit (fully rested) voltage at the present SoC."""
        return voltage_from_soc(self.soc, chemistry=self.battery.chemistry)

    def _acceptance_a(self) -> float:
        b = self.battery
        cap = b.effective_capacity_ah
        if self.stage is Stage.BULK:
            return math.inf
        taper = b.accept_c_rate * cap * max(0.0, 100 - self.soc) / (100 - b.absorb_soc)
        return taper if self.stage is Stage.ABSORPTION else 0.5 * taper + 0.001 * cap

    def _battery_voltage(self, i: float) -> float:
        """Unregulated terminal voltage: OCV + I x R0 + polarisation + charge overpotential.

        The overpotential grows towards ``absorb_soc`` so that the bulk voltage
        reaches the absorption set-point there instead of jumping to it.
        """
        b, c = self.battery, self.controller
        v = self.ocv_v + i * b.r0_ohm * b.resistance_factor + self.v_pol
        if i > 0:
            headroom = max(0.0, c.v_absorb - voltage_from_soc(b.absorb_soc, chemistry=b.chemistry))
            scale = min(1.0, i / (0.05 * b.effective_capacity_ah))
            v += headroom * min(1.0, self.soc / b.absorb_soc) ** 6 * scale
        return v

    def _step(self, t: float, dt: float) -> None:
        b, c = self.battery, self.controller
        v_prev = max(self.voltage_v, 1.0)
        p_pv = self.panel.power_w(t)
        if p_pv <= 0 and self.stage is not Stage.BULK:
            self.stage, self.stage_since = Stage.BULK, t  # a new day starts in bulk
        i_pv = min(p_pv * c.efficiency / v_prev, c.max_current_a)
        p_load = self.load.power_w(t, self.mode) if self.load_connected else 0.0
        self.energy_wh[self.mode] = self.energy_wh.get(self.mode, 0.0) + p_load * dt / 3600
        self.time_s[self.mode] = self.time_s.get(self.mode, 0.0) + dt
        i_load = p_load / v_prev
        surplus = i_pv - i_load
        acceptance = self._acceptance_a()
        regulated = surplus > acceptance
        i = min(surplus, acceptance)

        cap_as = b.effective_capacity_ah * 3600
        gain = i * b.efficiency if i > 0 else i
        self.soc = min(100.0, max(0.0, self.soc + gain * dt / cap_as * 100))
        r1 = b.r1_ohm * b.resistance_factor
        self.v_pol = i * r1 + (self.v_pol - i * r1) * math.exp(-dt / b.tau_s)
        self.current_a = i

        setpoint = c.v_float if self.stage is Stage.FLOAT else c.v_absorb
        v = setpoint if regulated else min(setpoint, self._battery_voltage(i))
        self.voltage_v = v

        if self.stage is Stage.BULK and i > 0 and (v >= c.v_absorb or self.soc >= b.absorb_soc):
            self.stage, self.stage_since = Stage.ABSORPTION, t
        elif self.stage is Stage.ABSORPTION and (
            t - self.stage_since >= c.absorb_max_s or self.soc >= 99.5
        ):
            self.stage, self.stage_since = Stage.FLOAT, t

        if self.load_connected and v < c.v_lvd:
            self.load_connected = False
            self.cutoffs.append(t + dt)
            self.mode = Mode.OFF
            self.mode_log.append((t + dt, Mode.OFF))
            if self.lvd_at is None:
                self.lvd_at = t + dt
        elif not self.load_connected and v > c.v_reconnect:
            self.load_connected = True
            if self.mode is Mode.OFF:  # power on the load output: the Pi boots
                self._boot(t + dt, "reconnect")
        if self.empty_at is None and (self.soc <= 0 or not self.load_connected):
            self.empty_at = t + dt
