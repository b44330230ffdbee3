"""The fake INA219 register map behaves like the chip (TI SBOS448G)."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from power.ina219 import (
    BUS_CNVR,
    BUS_OVF,
    REG_BUS_VOLTAGE,
    REG_CALIBRATION,
    REG_CONFIG,
    REG_CURRENT,
    REG_POWER,
    REG_SHUNT_VOLTAGE,
    Adc,
    BusRange,
    Config,
    Gain,
    Mode,
    to_signed16,
)
from power.sim.clock import SimClock
from power.sim.fakebus import FakeIna219, FakeSMBus, FaultMode, FaultWindow, Noise, Wiring

TICK = 0.01  # longer than any 12-bit conversion cycle (1.06 ms)


def chip_on_bus(current_a=1.0, bus_v=12.0, **kw):
    clock = SimClock()
    state = {"i": current_a, "v": bus_v}
    chip = FakeIna219(lambda t: (state["i"], state["v"]), clock=clock, **kw)
    return chip, FakeSMBus({0x40: chip}), clock, state


def read(bus, reg):
    """A register as the chip holds it, undoing the SMBus byte order."""
    w = bus.read_word_data(0x40, reg)
    return ((w & 0xFF) << 8) | (w >> 8)


def write(bus, reg, value):
    bus.write_word_data(0x40, reg, ((value & 0xFF) << 8) | (value >> 8))


def test_power_on_state():
    chip, bus, clock, _ = chip_on_bus(1.0, 12.0)
    assert read(bus, REG_CONFIG) == 0x399F
    assert read(bus, REG_CALIBRATION) == 0
    clock.advance(TICK)
    assert to_signed16(read(bus, REG_SHUNT_VOLTAGE)) == 10_000  # 100 mV = 10000 x 10 uV
    assert read(bus, REG_BUS_VOLTAGE) >> 3 == 3000  # 12 V / 4 mV
    # Table 2 note 2: current and power stay 0 until the calibration is programmed.
    assert read(bus, REG_CURRENT) == 0
    assert read(bus, REG_POWER) == 0


def test_bytes_on_the_wire_are_swapped():
    chip, bus, _, _ = chip_on_bus()
    assert bus.read_word_data(0x40, REG_CONFIG) == 0x9F39  # 0x399F, MSB first on the wire
    bus.write_word_data(0x40, REG_CALIBRATION, 0x0050)
    assert chip.regs[REG_CALIBRATION] == 0x5000


def test_calibration_bit0_reads_zero():
    chip, bus, _, _ = chip_on_bus()
    write(bus, REG_CALIBRATION, 0x5001)
    assert read(bus, REG_CALIBRATION) == 0x5000


def test_reset_bit_restores_defaults_and_clears_calibration():
    chip, bus, clock, _ = chip_on_bus()
    write(bus, REG_CONFIG, 0x019F)
    write(bus, REG_CALIBRATION, 0x5000)
    write(bus, REG_CONFIG, 0x8000 | 0x019F)
    assert read(bus, REG_CONFIG) == 0x399F  # RST self-clears
    assert read(bus, REG_CALIBRATION) == 0
    clock.advance(TICK)
    assert read(bus, REG_CURRENT) == 0


def test_data_registers_are_read_only():
    chip, bus, clock, _ = chip_on_bus(1.0, 12.0)
    write(bus, REG_CALIBRATION, 4096)
    clock.advance(TICK)
    before = read(bus, REG_CURRENT)
    write(bus, REG_CURRENT, 0x1234)
    assert read(bus, REG_CURRENT) == before != 0x1234


@settings(max_examples=200)
@given(
    current=st.floats(min_value=-3.0, max_value=3.0),
    bus_v=st.floats(min_value=0.0, max_value=26.0),
    cal=st.integers(min_value=1, max_value=0x7FFF).map(lambda c: c * 2),
)
def test_current_and_power_follow_equations_4_and_5(current, bus_v, cal):
    chip, bus, clock, _ = chip_on_bus(current, bus_v)
    write(bus, REG_CALIBRATION, cal)
    clock.advance(TICK)
    shunt = to_signed16(read(bus, REG_SHUNT_VOLTAGE))
    bus_word = read(bus, REG_BUS_VOLTAGE)
    assert shunt == round(current * 0.1 / 10e-6)
    assert bus_word >> 3 == round(bus_v / 4e-3)
    expected = int(shunt * cal / 4096)
    if -0x8000 <= expected <= 0x7FFF:
        assert to_signed16(read(bus, REG_CURRENT)) == expected
        expected_power = int(abs(expected) * (bus_word >> 3) / 5000)
        if expected_power <= 0xFFFF:
            assert read(bus, REG_POWER) == expected_power
            assert not bus_word & BUS_OVF
            return
    assert bus_word & BUS_OVF  # math overflow flagged


def test_shunt_beyond_pga_range_is_clipped_with_ovf():
    chip, bus, clock, state = chip_on_bus(0.3, 12.0)  # 30 mV
    write(bus, REG_CONFIG, Config(gain=Gain.DIV1_40MV).encode())
    clock.advance(TICK)
    assert not read(bus, REG_BUS_VOLTAGE) & BUS_OVF
    state["i"] = 0.5  # 50 mV > 40 mV
    clock.advance(TICK)
    assert read(bus, REG_BUS_VOLTAGE) & BUS_OVF
    assert to_signed16(read(bus, REG_SHUNT_VOLTAGE)) == 4000
    state["i"] = -0.5
    clock.advance(TICK)
    assert to_signed16(read(bus, REG_SHUNT_VOLTAGE)) == -4000


def test_cnvr_set_by_conversion_cleared_by_power_read():
    chip, bus, clock, _ = chip_on_bus()
    clock.advance(TICK)
    assert read(bus, REG_BUS_VOLTAGE) & BUS_CNVR
    read(bus, REG_POWER)
    assert not read(bus, REG_BUS_VOLTAGE) & BUS_CNVR  # no new conversion yet
    clock.advance(TICK)
    assert read(bus, REG_BUS_VOLTAGE) & BUS_CNVR


def test_conversions_follow_the_clock():
    chip, bus, clock, state = chip_on_bus(1.0, 12.0)
    clock.advance(TICK)
    read(bus, REG_SHUNT_VOLTAGE)
    state["i"] = 2.0
    assert to_signed16(read(bus, REG_SHUNT_VOLTAGE)) == 10_000  # same conversion
    clock.advance(TICK)
    assert to_signed16(read(bus, REG_SHUNT_VOLTAGE)) == 20_000


def test_triggered_mode_converts_once_per_trigger():
    chip, bus, clock, state = chip_on_bus(1.0, 12.0)
    write(bus, REG_CONFIG, Config(mode=Mode.SHUNT_BUS_TRIGGERED).encode())
    clock.advance(TICK)
    assert to_signed16(read(bus, REG_SHUNT_VOLTAGE)) == 10_000
    state["i"] = 2.0
    clock.advance(TICK)
    assert to_signed16(read(bus, REG_SHUNT_VOLTAGE)) == 10_000
    write(bus, REG_CONFIG, Config(mode=Mode.SHUNT_BUS_TRIGGERED).encode())  # trigger again
    clock.advance(TICK)
    assert to_signed16(read(bus, REG_SHUNT_VOLTAGE)) == 20_000


def test_power_down_stops_conversions():
    chip, bus, clock, state = chip_on_bus(1.0, 12.0)
    clock.advance(TICK)
    read(bus, REG_SHUNT_VOLTAGE)
    write(bus, REG_CONFIG, Config(mode=Mode.POWER_DOWN).encode())
    state["i"] = 2.0
    clock.advance(TICK)
    assert to_signed16(read(bus, REG_SHUNT_VOLTAGE)) == 10_000
    assert chip.conversions == 1


def test_bus_voltage_clipped_to_16v_range():
    chip, bus, clock, _ = chip_on_bus(0.0, 20.0)
    write(bus, REG_CONFIG, Config(bus_range=BusRange.V16).encode())
    clock.advance(TICK)
    assert read(bus, REG_BUS_VOLTAGE) >> 3 == 0x0FFF


def test_averaging_lengthens_the_conversion():
    chip, bus, clock, state = chip_on_bus(1.0, 12.0)
    write(bus, REG_CONFIG, Config(bus_adc=Adc.SAMPLES128, shunt_adc=Adc.SAMPLES128).encode())
    clock.advance(0.100)  # less than 2 x 68.1 ms
    assert not read(bus, REG_BUS_VOLTAGE) & BUS_CNVR
    clock.advance(0.040)
    assert read(bus, REG_BUS_VOLTAGE) & BUS_CNVR


def test_unknown_address_naks():
    _, bus, _, _ = chip_on_bus()
    with pytest.raises(OSError) as exc:
        bus.read_word_data(0x41, REG_CONFIG)
    assert exc.value.errno == errno.EREMOTEIO


def test_closed_bus_raises():
    _, bus, _, _ = chip_on_bus()
    with bus:
        pass
    with pytest.raises(OSError):
        bus.read_word_data(0x40, REG_CONFIG)


def test_fault_windows_by_time():
    window = FaultWindow(100.0, 200.0, FaultMode.OSERROR)
    chip, bus, clock, _ = chip_on_bus(faults=(window,))
    read(bus, REG_CONFIG)
    clock.advance(150.0)
    with pytest.raises(OSError):
        read(bus, REG_CONFIG)
    clock.advance(100.0)
    assert read(bus, REG_CONFIG) == 0x399F


def test_intermittent_oserror_probability():
    chip, bus, _, _ = chip_on_bus(seed=7)
    chip.inject(FaultMode.OSERROR, probability=0.3)
    failures = 0
    for _ in range(2000):
        try:
            read(bus, REG_CONFIG)
        except OSError:
            failures += 1
    assert 450 < failures < 750


def test_stuck_registers_freeze():
    chip, bus, clock, state = chip_on_bus(1.0, 12.0)
    clock.advance(TICK)
    first = read(bus, REG_SHUNT_VOLTAGE)
    chip.inject(FaultMode.STUCK)
    state["i"] = 2.0
    clock.advance(TICK)
    assert read(bus, REG_SHUNT_VOLTAGE) == first
    chip.clear_fault()
    clock.advance(TICK)
    assert to_signed16(read(bus, REG_SHUNT_VOLTAGE)) == 20_000


def test_garbage_mode_returns_random_words():
    chip, bus, _, _ = chip_on_bus()
    chip.inject(FaultMode.GARBAGE)
    words = {read(bus, REG_CONFIG) for _ in range(50)}
    assert len(words) > 40


def test_noise_and_spikes():
    chip, bus, clock, _ = chip_on_bus(
        1.0, 12.0, noise=Noise(spike_probability=1.0, spike_current_a=-2.0, spike_bus_v=-1.0)
    )
    clock.advance(TICK)
    assert to_signed16(read(bus, REG_SHUNT_VOLTAGE)) == -10_000  # 1 A - 2 A
    assert read(bus, REG_BUS_VOLTAGE) >> 3 == 2750  # 11 V

    chip, bus, clock, _ = chip_on_bus(1.0, 12.0, noise=Noise(shunt_sigma_lsb=3.0), seed=3)
    values = set()
    for _ in range(100):
        clock.advance(TICK)
        values.add(to_signed16(read(bus, REG_SHUNT_VOLTAGE)))
    assert len(values) > 5
    assert all(abs(v - 10_000) < 30 for v in values)


def test_swapped_inputs_reverse_the_shunt_voltage_and_current():
    chip, bus, clock, _ = chip_on_bus(-0.5, 12.4, wiring=Wiring(swapped_inputs=True))
    write(bus, REG_CALIBRATION, 4096)
    clock.advance(TICK)
    assert to_signed16(read(bus, REG_SHUNT_VOLTAGE)) == 5_000  # +50 mV for -0.5 A
    assert to_signed16(read(bus, REG_CURRENT)) == 5_000
    assert read(bus, REG_BUS_VOLTAGE) >> 3 == 3100  # the bus voltage is unchanged


@pytest.mark.parametrize("bus_v", [0.0, 5.1])
def test_vin_minus_off_the_battery_reads_its_own_voltage(bus_v):
    chip, bus, clock, _ = chip_on_bus(-0.5, 12.4, wiring=Wiring(bus_v=bus_v))
    clock.advance(TICK)
    assert read(bus, REG_BUS_VOLTAGE) >> 3 == round(bus_v / 4e-3)
    assert to_signed16(read(bus, REG_SHUNT_VOLTAGE)) == -5_000  # the shunt still sees the load


def test_reset_window_browns_the_chip_out_once():
    chip, bus, clock, _ = chip_on_bus(faults=(FaultWindow(10.0, 20.0, FaultMode.RESET),))
    write(bus, REG_CONFIG, 0x019F)
    write(bus, REG_CALIBRATION, 0x5000)
    clock.advance(5.0)
    assert (read(bus, REG_CONFIG), read(bus, REG_CALIBRATION)) == (0x019F, 0x5000)
    clock.advance(10.0)  # inside the window: back to the power-on values
    assert (read(bus, REG_CONFIG), read(bus, REG_CALIBRATION)) == (0x399F, 0)
    write(bus, REG_CONFIG, 0x019F)
    write(bus, REG_CALIBRATION, 0x5000)
    clock.advance(1.0)  # still inside: programmed again, it keeps its settings
    assert (read(bus, REG_CONFIG), read(bus, REG_CALIBRATION)) == (0x019F, 0x5000)


def test_injected_reset_browns_out_at_each_call():
    chip, bus, _, _ = chip_on_bus()
    for _ in range(2):
        write(bus, REG_CALIBRATION, 0x5000)
        chip.inject(FaultMode.RESET)
        assert read(bus, REG_CALIBRATION) == 0


def test_bitflip_changes_one_bit_of_a_word():
    chip, bus, _, _ = chip_on_bus(seed=5)
    chip.inject(FaultMode.BITFLIP, probability=0.5)
    words = [read(bus, REG_CONFIG) for _ in range(400)]
    flipped = [w for w in words if w != 0x399F]
    assert 120 < len(flipped) < 280
    assert all(bin(w ^ 0x399F).count("1") == 1 for w in flipped)
    chip.clear_fault()
    assert read(bus, REG_CONFIG) == 0x399F
