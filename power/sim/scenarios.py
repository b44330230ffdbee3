"""Named simulation scenarios: a physical model plus a fake INA219 on a fake bus.

The reference installation: a 100 Wp panel, a 10 A MPPT controller, a 40 Ah
12 V AGM battery, and an INA219 with a 10 mOhm shunt in the battery lead
(+/-10 A expected, PGA /4), the appliance as load. Every scenario states its
shunt (``shunt_ohms``, what the facility file tells the driver) because the
facility file's default is the common breakout board's 0.1 Ohm. Wiring faults
are built here, around the fake chip: ``board_shunt_ohms`` is the shunt really
on the board (the file may be wrong), ``reversed_shunt`` the shunt wired the
other way round. Time runs as fast as the caller advances the :class:`SimClock`.
"""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass, field, replace

from power.ina219 import DEFAULT_ADDRESS, Ina219
from power.sensor import Ina219Sensor
from power.sim.clock import SECONDS_PER_DAY, SimClock
from power.sim.fakebus import FakeIna219, FakeSMBus, FaultMode, FaultWindow, Noise, Source
from power.sim.model import (
    HARMATTAN,
    OVERCAST,
    SUNNY,
    BatterySpec,
    ControllerSpec,
    DayWeather,
    Load,
    Panel,
    SolarSystem,
)

# ADC noise of a few counts, as on a real board; it also keeps a healthy
# sensor from looking frozen to Ina219Sensor's stuck check.
BOARD_NOISE = Noise(shunt_sigma_lsb=2.0, bus_sigma_lsb=0.6)
HOUR = 3600.0


@dataclass(frozen=True)
class Scenario:
    """A reproducible configuration: weather, hardware, start state, sensor noise and faults.

    ``build()`` makes a fresh model, chip and bus; the same scenario always
    produces the same run (seeded noise, clouds and faults).
    """

    name: str
    _: KW_ONLY
    description: str = ""
    days: float
    weather: tuple[DayWeather, ...] = (SUNNY,)
    panel_wp: float = 100.0
    battery: BatterySpec = field(default_factory=BatterySpec)
    controller: ControllerSpec | None = None  # None: the chemistry's preset
    load: Load = field(default_factory=Load)
    initial_soc: float = 80.0
    start_s: float = 0.0
    noise: Noise = BOARD_NOISE
    faults: tuple[FaultWindow, ...] = ()
    shunt_ohms: float = 0.01  # what the facility file says (the driver's calibration)
    max_current_a: float = 10.0
    board_shunt_ohms: float | None = None  # the shunt on the board; None: as the file says
    reversed_shunt: bool = False  # IN+ and IN- swapped: the chip sees the current negated
    address: int = DEFAULT_ADDRESS
    seed: int = 1

    @property
    def end_s(self) -> float:
        return self.start_s + self.days * SECONDS_PER_DAY

    def model(self) -> SolarSystem:
        return SolarSystem(
            panel=Panel(wp=self.panel_wp, weather=self.weather, seed=self.seed),
            battery=self.battery,
            controller=self.controller or ControllerSpec.for_chemistry(self.battery.chemistry),
            load=self.load,
            initial_soc=self.initial_soc,
            start_s=self.start_s,
        )

    def build(self, *, clock: SimClock | None = None) -> SimRig:
        clock = clock or SimClock(self.start_s)
        model = self.model()
        source: Source = model.sense
        if self.reversed_shunt:

            def source(t: float) -> tuple[float, float]:
                current_a, bus_v = model.sense(t)
                return -current_a, bus_v

        chip = FakeIna219(
            source,
            clock=clock,
            shunt_ohms=self.board_shunt_ohms or self.shunt_ohms,
            noise=self.noise,
            faults=self.faults,
            seed=self.seed,
        )
        return SimRig(self, clock, model, chip, FakeSMBus({self.address: chip}))

    def battery_empty_at(self, *, horizon_s: float | None = None) -> float | None:
        """Simulated time at which the battery reaches 0 % or the controller's LVD
        cuts the load, if the appliance kept running; None within the horizon."""
        model = self.model()
        model.advance_to(self.end_s if horizon_s is None else self.start_s + horizon_s)
        return model.empty_at

    def with_(self, **changes: object) -> Scenario:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass
class SimRig:
    """A built scenario: clock, model, chip and bus. Close it (or use ``with``)."""

    scenario: Scenario
    clock: SimClock
    model: SolarSystem
    chip: FakeIna219
    bus: FakeSMBus

    def open_sensor(self, *, retries: int = 3, stuck_after: int | None = 60) -> Ina219Sensor:
        """The production sensor stack on the fake bus; retry delays cost simulated time."""
        device = Ina219(
            self.bus,
            address=self.scenario.address,
            shunt_ohms=self.scenario.shunt_ohms,
            max_current_a=self.scenario.max_current_a,
            retries=retries,
            sleep=self.clock.advance,
        )
        return Ina219Sensor(device, stuck_after=stuck_after)

    def close(self) -> None:
        self.bus.close()

    def __enter__(self) -> SimRig:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_DAY = SECONDS_PER_DAY
# The ageing scenario's hardware and weather, which dead-sensor shares: four days of dust
# then overcast drain the battery, four sunny days after show whether the appliance comes
# back by itself.
_AGEING = {
    "days": 8,
    "weather": (HARMATTAN, OVERCAST, OVERCAST, OVERCAST, SUNNY),
    "battery": BatterySpec(ageing=0.4),
    "initial_soc": 90.0,
}

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "sunny",
            description="a clear week in the dry season; the battery is full every afternoon",
            days=7,
            shunt_ohms=0.01,
            max_current_a=10.0,
        ),
        Scenario(
            "cloudy",
            description="three overcast days in a row starting from a two-thirds-full battery",
            days=3,
            weather=(OVERCAST,),
            initial_soc=65.0,
            shunt_ohms=0.01,
            max_current_a=10.0,
        ),
        Scenario(
            "ageing",
            description="a neglected battery (60 % capacity, 2.2x resistance) in harmattan dust, "
            "then overcast, then the sun from day 4; the estimator still believes the 40 Ah "
            "label",
            **_AGEING,  # type: ignore[arg-type]
            shunt_ohms=0.01,
            max_current_a=10.0,
        ),
        Scenario(
            "sensor-fault",
            description="a loose shunt wire: intermittent bus errors on day 1, then garbage "
            "overnight, then frozen registers on day 2, then repaired",
            days=3,
            faults=(
                FaultWindow(1 * _DAY + 8 * HOUR, 1 * _DAY + 20 * HOUR, FaultMode.OSERROR, 0.3),
                FaultWindow(1 * _DAY + 20 * HOUR, 2 * _DAY + 6 * HOUR, FaultMode.GARBAGE),
                FaultWindow(2 * _DAY + 6 * HOUR, 2 * _DAY + 16 * HOUR, FaultMode.STUCK),
            ),
            shunt_ohms=0.01,
            max_current_a=10.0,
        ),
        Scenario(
            "spikes",
            description="the sunny week with noisy readings and one-conversion spikes "
            "(-6 A, -1.5 V) on ~2 % of conversions",
            days=7,
            noise=Noise(shunt_sigma_lsb=8.0, bus_sigma_lsb=2.0, spike_probability=0.02),
            shunt_ohms=0.01,
            max_current_a=10.0,
        ),
        Scenario(
            "dead-sensor",
            description="the ageing battery with the I2C bus dead from the first evening "
            "(18:00) to the end: the monitor is blind and must still stop in time",
            **_AGEING,  # type: ignore[arg-type]
            faults=(FaultWindow(18 * HOUR, math.inf, FaultMode.OSERROR, 1.0),),
            shunt_ohms=0.01,
            max_current_a=10.0,
        ),
        Scenario(
            "reversed-shunt",
            description="the cloudy days with the shunt wired backwards: discharge reads as "
            "charge, so only the voltage can tell",
            days=3,
            weather=(OVERCAST,),
            initial_soc=65.0,
            shunt_ohms=0.01,
            max_current_a=10.0,
            reversed_shunt=True,
        ),
        Scenario(
            "wrong-shunt",
            description="a common 0.1 Ohm breakout board while the facility file says 0.01 Ohm: "
            "currents read 10x too high, charging overflows; healthy battery, sunny days",
            days=4,
            shunt_ohms=0.01,
            max_current_a=10.0,
            board_shunt_ohms=0.1,
        ),
        Scenario(
            "recovery",
            description="three overcast days from a two-thirds-full battery, then the sun: "
            "the low-power wait, then the services back when the battery has recovered",
            days=5,
            weather=(OVERCAST, OVERCAST, OVERCAST, SUNNY),
            initial_soc=65.0,
            shunt_ohms=0.01,
            max_current_a=10.0,
        ),
    )
}


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
