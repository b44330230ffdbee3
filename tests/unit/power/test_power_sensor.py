"""The PowerSensor interface and its INA219 adapter."""

from __future__ import annotations

import pytest

from power.errors import SensorFault
from power.ina219 import Ina219
from power.sensor import Ina219Sensor, PowerSensor
from power.sim.clock import SimClock
from power.sim.fakebus import FakeIna219, FakeSMBus, FaultMode, Noise


def sensor(current_a=-0.4, bus_v=12.3, *, noise=None, **kw):
    clock = SimClock()
    chip = FakeIna219(lambda t: (current_a, bus_v), clock=clock, shunt_ohms=0.01, noise=noise)
    bus = FakeSMBus({0x40: chip})
    dev = Ina219(bus, shunt_ohms=0.01, max_current_a=10.0, sleep=clock.advance)
    return Ina219Sensor(dev, **kw), chip, clock


def test_adapter_satisfies_protocol():
    s, *_ = sensor()
    with s:
        assert isinstance(s, PowerSensor)


def test_reading_sign_and_units():
    s, _, _ = sensor(-0.4, 12.3)
    with s:
        r = s.read()
    assert r.current_a == pytest.approx(-0.4, abs=1e-3)  # discharging
    assert r.bus_v == pytest.approx(12.3, abs=0.004)


def test_invert_for_reversed_shunt():
    s, _, _ = sensor(-0.4, 12.3, invert=True)
    with s:
        r = s.read()
    assert r.current_a == pytest.approx(0.4, abs=1e-3)
    assert r.shunt_mv == pytest.approx(4.0, abs=0.01)


def test_chip_resets_are_exposed_and_survive_invert():
    s, chip, clock = sensor(-0.4, 12.3, invert=True)
    with s:
        assert s.read().chip_resets == 0
        chip.power_on()  # a brown-out: the driver reprograms the chip
        clock.advance(1.0)
        r = s.read()
    assert r.chip_resets == 1 == s.chip_resets
    assert r.current_a == pytest.approx(0.4, abs=1e-3)


def test_frozen_chip_is_reported_after_stuck_after_reads():
    s, chip, clock = sensor(noise=Noise(shunt_sigma_lsb=2.0, bus_sigma_lsb=0.6), stuck_after=5)
    with s:
        for _ in range(20):  # a live, noisy chip never trips the check
            clock.advance(60)
            s.read()
        chip.inject(FaultMode.STUCK)
        for _ in range(3):
            clock.advance(60)
            s.read()
        clock.advance(60)
        with pytest.raises(SensorFault, match="unchanged for 5"):
            s.read()
        chip.clear_fault()
        clock.advance(60)
        assert s.read().current_a == pytest.approx(-0.4, abs=0.02)


def test_stuck_check_can_be_disabled():
    s, chip, clock = sensor(stuck_after=None)
    with s:
        for _ in range(100):
            clock.advance(60)
            s.read()


def test_open_builds_the_driver():
    bus = FakeSMBus()
    with Ina219Sensor.open(bus, address=0x41, shunt_ohms=0.01, max_current_a=10.0) as s:
        assert s.device.address == 0x41
        assert s.device.calibration == 8192
    assert s.device.closed


def test_close_closes_device():
    s, *_ = sensor()
    s.close()
    with pytest.raises(SensorFault):
        s.read()


def test_stuck_after_must_be_meaningful():
    with pytest.raises(ValueError):
        sensor(stuck_after=1)
