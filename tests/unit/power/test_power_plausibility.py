"""Plausibility: each named fault from sustained evidence, none from its look-alike."""

from __future__ import annotations

import pytest

from power.battery import Chemistry
from power.errors import CurrentOverflow, SensorFault
from power.plausibility import (
    Fault,
    PlausibilityMonitor,
    is_dark,
    suggested_shunt,
)
from power.policy import Sample
from power.sim.scenarios import SCENARIOS


class Stream:
    """Samples every ``step`` seconds from ``hour`` (UTC) on; None: the clock is not trusted."""

    def __init__(self, monitor=None, *, step=60.0, hour=22.0, **kw):
        self.monitor = monitor or PlausibilityMonitor(**kw)
        self.step = step
        self.t = 0.0
        self.hour0 = hour
        self.changes = []

    @property
    def hour(self):
        return None if self.hour0 is None else (self.hour0 + self.t / 3600) % 24

    def __call__(self, v=12.4, i=-0.4, n=1, **kw):
        for _ in range(n):
            self.t += self.step
            kw.setdefault("power_w", v * abs(i))
            s = Sample(self.t, v, i, hour=self.hour, **kw)
            change = self.monitor.feed(s)
            if change is not None:
                self.changes.append(change)
        return self.monitor.fault

    def minutes(self, m, **kw):
        return self(n=round(m * 60 / self.step), **kw)


# -- reversed shunt ------------------------------------------------------------------------


def test_charging_at_night_is_a_reversed_shunt_after_30_min():
    s = Stream(hour=21.0)
    assert s.minutes(29, i=0.35) is None
    assert s.minutes(2, i=0.35) is Fault.REVERSED_SHUNT
    detail = s.monitor.detail
    assert "+0.35 A at night" in detail and "invert = true" in detail
    assert [c.fault for c in s.changes] == [Fault.REVERSED_SHUNT]  # named once


def test_evening_charge_before_dark_is_not_reversed():
    # 17:00 to 19:44 a weak panel still charges: the sun is up or the sky is still light
    s = Stream(hour=17.0)
    assert s.minutes(164, i=0.3, v=12.9) is None
    assert is_dark(19.75) and not is_dark(19.7) and is_dark(5.4) and not is_dark(5.5)
    assert not is_dark(None)


def test_a_generator_charging_at_night_is_not_reversed():
    # the evening generator feeds a mains charger: a real charge, and the voltage rises
    s = Stream(hour=20.0)
    v = 12.3
    for _ in range(180):
        v += 0.004 if v < 13.6 else 0.0
        s(v=v, i=4.0)
    assert s.monitor.fault is None


def test_one_spike_in_the_night_breaks_nothing_and_names_nothing():
    s = Stream(hour=23.0)
    for _ in range(60):
        s(i=-0.4, n=9)
        s(i=2.5)  # one-conversion spike of charge
    assert s.monitor.fault is None


def test_discharge_at_charge_voltage_is_a_reversed_shunt():
    # by day, a real 2 A charge at 13.9 V read backwards as a 2 A discharge
    s = Stream(hour=11.0)
    assert s.minutes(29, v=13.9, i=-2.0) is None
    assert s.minutes(2, v=13.9, i=-2.0) is Fault.REVERSED_SHUNT
    assert "-2.00 A at 13.90 V" in s.monitor.detail


def test_cloud_passing_at_absorption_is_not_reversed():
    # absorption at 14.4 V, then a cloud: the load draws from the battery while the surface
    # charge fades within minutes, then the sun is back
    s = Stream(hour=12.0)
    for _ in range(6):
        s.minutes(20, v=14.4, i=3.0)
        for k in range(15):
            s(v=13.6 - 0.05 * k, i=-0.6)
        s.minutes(10, v=12.8, i=-0.6)
    assert s.monitor.fault is None


def test_lifepo4_charge_level_is_higher():
    s = Stream(hour=11.0, chemistry=Chemistry.LIFEPO4)
    assert s.minutes(60, v=13.4, i=-0.6) is None  # a full LiFePO4 discharging sits here
    assert s.minutes(40, v=13.9, i=-0.6) is Fault.REVERSED_SHUNT


def test_without_the_hour_a_charge_while_the_voltage_falls_is_reversed():
    s = Stream(hour=None)
    v = 12.60
    for _ in range(119):  # two hours of "charge" while the voltage slides 12.60 -> 12.55
        v -= 0.05 / 120
        s(v=v, i=0.35)
    assert s.monitor.fault is None
    for _ in range(5):
        v -= 0.05 / 120
        s(v=v, i=0.35)
    assert s.monitor.fault is Fault.REVERSED_SHUNT
    assert "fell from 12.60" in s.monitor.detail


def test_without_the_hour_a_charge_that_holds_the_voltage_is_not_reversed():
    s = Stream(hour=None)
    assert s.minutes(240, v=12.9, i=0.35) is None  # a weak, real charge
    s2 = Stream(hour=None)
    s2.minutes(30, v=13.2, i=0.4)
    for k in range(60):  # relaxing after a stronger charge, then rising again
        s2(v=13.2 - 0.005 * k, i=0.2)
    assert s2.minutes(120, v=12.95, i=0.5) is None


def test_a_cold_night_is_not_a_fault():
    # a lead-acid's voltage sags faster on a cold night; the current is a real discharge
    s = Stream(hour=19.0)
    v = 12.45
    for _ in range(11 * 60):
        v -= 0.0004
        s(v=v, i=-0.45)
    assert s.monitor.fault is None


# -- wrong shunt -----------------------------------------------------------------------------


def test_draw_ten_times_too_high_names_the_shunt_it_suggests():
    # a 0.1 ohm breakout read with shunt_ohms = 0.01: a 0.33 A night draw reads -3.3 A
    s = Stream(hour=22.0, shunt_ohms=0.01)
    assert s.minutes(14, i=-3.3) is None
    assert s.minutes(2, i=-3.3) is Fault.WRONG_SHUNT
    detail = s.monitor.detail
    assert "1.6x the appliance's highest plausible draw (2 A)" in detail
    assert "looks like 0.1 ohm (readings 10x too high), [power] shunt_ohms says 0.01" in detail


def test_a_short_surge_is_not_a_wrong_shunt():
    s = Stream(hour=14.0, shunt_ohms=0.01)
    for _ in range(5):
        s.minutes(10, i=-2.6)  # a pump on the same battery for 10 min
        s.minutes(60, i=-0.5)
    assert s.monitor.fault is None


def test_readings_too_low_at_night_suggest_a_smaller_shunt():
    # a 0.01 ohm shunt read as 0.1 ohm: the appliance's 0.35 A reads 0.035 A
    s = Stream(hour=20.0, shunt_ohms=0.1)
    v = 12.50
    for _ in range(119):
        v -= 0.0003
        s(v=v, i=-0.035)
    assert s.monitor.fault is None
    s.minutes(3, v=v, i=-0.035)
    assert s.monitor.fault is Fault.WRONG_SHUNT
    assert "looks like 0.01 ohm (readings 10x too low)" in s.monitor.detail


def test_near_zero_current_by_day_or_with_a_steady_voltage_is_not_a_wrong_shunt():
    by_day = Stream(hour=9.0, shunt_ohms=0.1)
    v = 12.8
    for _ in range(300):  # the panel just covers the load
        v -= 0.0003
        by_day(v=v, i=0.01)
    assert by_day.monitor.fault is None
    steady = Stream(hour=20.0, shunt_ohms=0.1)
    assert steady.minutes(300, v=12.6, i=0.0) is None  # the Pi fed from elsewhere, battery idle


def test_overflow_with_a_good_voltage_is_a_wrong_shunt():
    m = PlausibilityMonitor(shunt_ohms=0.01)
    for k in range(5):
        assert m.overflow(60.0 * k, 13.1, "overflow (OVF) set") is None
    change = m.overflow(300.0, 13.1)
    assert change is not None and change.fault is Fault.WRONG_SHUNT
    assert "current overflow (OVF) for 5 min at 13.10 V" in change.detail
    assert "shunt_ohms = 0.01" in change.detail


@pytest.mark.parametrize(
    ("current_a", "configured", "expected"),
    [(-3.25, 0.01, 0.1), (-0.035, 0.1, 0.01), (-30.0, 0.01, None), (0.0, 0.1, None)],
)
def test_suggested_shunt(current_a, configured, expected):
    # the first common value (most common first) that makes the reading a plausible draw
    assert suggested_shunt(current_a, configured, 2.0) == expected


# -- chip reset and implausible readings --------------------------------------------------


def test_a_reset_counter_that_moves_names_a_chip_reset_until_readings_are_plausible():
    s = Stream(hour=10.0, recover_after=10)
    s(n=5, chip_resets=0)
    assert s(chip_resets=1) is Fault.CHIP_RESET
    assert "reprogrammed (1x)" in s.monitor.detail
    assert s(n=9, chip_resets=1) is Fault.CHIP_RESET
    assert s(chip_resets=1) is None
    assert [(c.fault, c.cleared) for c in s.changes] == [
        (Fault.CHIP_RESET, None),
        (None, Fault.CHIP_RESET),
    ]


def test_a_lost_sensor_resyncs_the_reset_counter():
    s = Stream(hour=10.0)
    s(n=5, chip_resets=0)
    s.monitor.lost()  # garbage on the bus made the driver reprogram 40 times
    assert s(n=3, chip_resets=40) is None


def test_shunt_voltage_without_current_is_a_lost_calibration():
    s = Stream(hour=10.0)
    assert s(n=4, i=0.0, shunt_mv=4.0, power_w=0.0) is None
    assert s(i=0.0, shunt_mv=4.0, power_w=0.0) is Fault.CHIP_RESET
    quiet = Stream(hour=10.0)
    assert quiet(n=20, i=0.0, shunt_mv=0.02, power_w=0.0) is None  # noise at zero current


def test_power_that_is_not_v_times_i_is_implausible():
    s = Stream(hour=2.0)
    assert s(n=20, v=12.5, i=-0.4, power_w=5.3) is None  # within 10 % + slack
    assert s(n=4, v=12.5, i=-0.4, power_w=9.0) is None
    assert s(v=12.5, i=-0.4, power_w=9.0) is Fault.IMPLAUSIBLE
    assert "power register 9.00 W is not V x I" in s.monitor.detail


def test_voltage_outside_8_16_v_is_implausible_but_one_spike_is_not():
    s = Stream(hour=2.0)
    s(v=17.2)
    assert s(n=10) is None
    assert s(n=5, v=18.0) is Fault.IMPLAUSIBLE
    assert s(n=10) is None  # readings, not wiring: cleared by plausible samples


def test_wiring_faults_stay_until_a_day_without_evidence():
    s = Stream(hour=22.0, recover_after=10)
    s.minutes(31, i=0.35)
    assert s.monitor.fault is Fault.REVERSED_SHUNT
    assert s.minutes(23 * 60, i=-0.4) is Fault.REVERSED_SHUNT  # looks fine by day, still wired
    assert s.minutes(65, i=-0.4) is None  # the median carries the night's evidence 2 min


# -- whole scenarios: the noise, the clouds and the spikes never name a fault --------------


@pytest.mark.parametrize("name", ["sunny", "cloudy", "spikes", "ageing"])
def test_scenarios_without_a_wiring_fault_stay_clean(name):
    scenario = SCENARIOS[name]
    monitor = PlausibilityMonitor(
        chemistry=scenario.battery.chemistry, shunt_ohms=scenario.shunt_ohms
    )
    named = []
    with scenario.build() as rig, rig.open_sensor() as sensor:
        while rig.clock.now < scenario.end_s:
            rig.clock.advance(60.0)
            t = rig.clock.now
            try:
                r = sensor.read()
            except SensorFault as exc:
                assert not isinstance(exc, CurrentOverflow)
                continue
            hour = t % 86400 / 3600
            sample = Sample(t, r.bus_v, r.current_a, None, None, r.shunt_mv, r.power_w, hour)
            change = monitor.feed(sample)
            if change is not None:
                named.append((t / 3600, change))
    assert named == []


# -- a shunt in the appliance's lead: it sees the draw only ---------------------------------


def test_appliance_lead_at_charge_voltage_is_normal():
    # the sun charges the battery at 14.4 V; the shunt after LOAD + sees only the draw
    s = Stream(hour=12.0, lead="appliance")
    assert s.minutes(240, v=14.4, i=-0.9) is None
    battery = Stream(hour=12.0)
    assert battery.minutes(240, v=14.4, i=-0.9) is Fault.REVERSED_SHUNT  # impossible there


def test_appliance_lead_reads_a_charge_only_when_backwards():
    s = Stream(hour=12.0, lead="appliance")
    assert s.minutes(29, v=12.6, i=0.5) is None
    assert s.minutes(2, v=12.6, i=0.5) is Fault.REVERSED_SHUNT
    assert "the appliance's draw reads as a charge" in s.monitor.detail


def test_appliance_lead_near_zero_for_hours_is_a_wrong_shunt_by_day_too():
    s = Stream(hour=9.0, lead="appliance", shunt_ohms=0.1)
    assert s.minutes(119, v=13.8, i=-0.035) is None
    assert s.minutes(2, v=13.8, i=-0.035) is Fault.WRONG_SHUNT
    assert s.monitor.detail.startswith("current -0.035 A for 120 min: a running appliance")
