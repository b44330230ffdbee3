"""INA219 driver: datasheet arithmetic, wire format, retries and faults (TI SBOS448G)."""

from __future__ import annotations

import errno
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from power.errors import (
    ConfigurationError,
    CurrentOverflow,
    DeviceBusy,
    PowerError,
    SensorFault,
    SensorMissing,
)
from power.ina219 import (
    POWER_ON_CONFIG,
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
    Ina219,
    Mode,
    RawRegisters,
    calibration_for,
    choose_current_lsb,
    decode,
    swap16,
    to_signed16,
)
from power.sim.clock import SimClock
from power.sim.fakebus import FakeIna219, FakeSMBus, FaultMode

EXAMPLE_CONFIG = 0x019F  # §9.2.2.1 example: 16 V, PGA /1, 12-bit, continuous


def rig(current_a=1.0, bus_v=12.0, *, shunt_ohms=0.1, **driver_kw):
    """A driver on a fake bus whose chip sees a constant current and bus voltage."""
    clock = SimClock()
    source = driver_kw.pop("source", lambda t: (current_a, bus_v))
    chip = FakeIna219(source, clock=clock, shunt_ohms=shunt_ohms)
    bus = FakeSMBus({0x40: chip})
    driver_kw.setdefault("sleep", clock.advance)
    dev = Ina219(bus, shunt_ohms=shunt_ohms, **driver_kw)
    return dev, chip, bus, clock


# -- the datasheet's worked example, to the bit --------------------------------


def test_example_calibration_is_0x5000():
    assert calibration_for(0.002, 0.001) == 0x5000 == 20480


def test_example_registers_decode_to_datasheet_values():
    raw = RawRegisters(shunt=0x07D0, bus=0x5D98, current=0x2710, power=0x1766)
    r = decode(raw, current_lsb_a=0.001)
    assert r.shunt_mv == 20.0
    assert r.bus_v == 11.98
    assert r.current_a == pytest.approx(10.000, abs=1e-12)
    assert r.power_w == pytest.approx(119.8, abs=1e-12)
    assert (r.overflow, r.conversion_ready) == (False, False)


def test_example_end_to_end_through_fake_chip():
    # 10 A through 2 mOhm from a 12 V common mode: IN- sits at 11.98 V.
    dev, chip, bus, clock = rig(
        10.0,
        11.98,
        shunt_ohms=0.002,
        max_current_a=10.0,
        current_lsb_a=0.001,
        config=Config.decode(EXAMPLE_CONFIG),
    )
    with dev:
        reading = dev.read()
        assert chip.regs[REG_CONFIG] == EXAMPLE_CONFIG
        assert chip.regs[REG_CALIBRATION] == 0x5000
        assert dev.read_register(REG_SHUNT_VOLTAGE) == 0x07D0
        assert dev.read_register(REG_CURRENT) == 0x2710
        assert dev.read_register(REG_POWER) == 0x1766  # clears CNVR...
        assert dev.read_register(REG_BUS_VOLTAGE) == 0x5D98  # ...so this is the table's word
        assert reading.shunt_mv == 20.0
        assert reading.bus_v == 11.98
        assert reading.current_a == pytest.approx(10.0, abs=1e-12)
        assert reading.power_w == pytest.approx(119.8, abs=1e-12)
        assert dev.power_lsb_w == pytest.approx(0.020)


# -- calibration arithmetic ------------------------------------------------------


@pytest.mark.parametrize(
    ("max_a", "lsb"),
    [(3.2, 100e-6), (10.0, 500e-6), (15.0, 500e-6), (32.768, 1e-3), (0.4, 20e-6), (1.6, 50e-6)],
)
def test_current_lsb_rounds_up_to_1_2_5_series(max_a, lsb):
    assert choose_current_lsb(max_a) == pytest.approx(lsb, rel=1e-12)


@given(st.floats(min_value=1e-3, max_value=400.0))
def test_current_lsb_covers_max_and_wastes_at_most_2_5x(max_a):
    lsb = choose_current_lsb(max_a)
    minimum = max_a / 2**15
    assert minimum <= lsb * (1 + 1e-12)
    assert lsb <= 2.5 * minimum * (1 + 1e-9)
    mantissa = f"{lsb:.0e}"[0]
    assert mantissa in "125"


def test_breakout_board_calibration():
    assert calibration_for(0.1, choose_current_lsb(3.2)) == 4096


def test_calibration_bit0_is_not_implemented():
    # trunc(0.04096 / (300 uA x 0.1 ohm)) = 1365, odd: the register cannot hold bit 0.
    assert calibration_for(0.1, 300e-6) == 1364


def test_calibration_out_of_range_is_a_configuration_error():
    with pytest.raises(ConfigurationError) as exc:
        calibration_for(0.0001, 1e-6)
    assert isinstance(exc.value, ValueError)
    assert isinstance(exc.value, PowerError)


def test_shunt_range_too_small_is_rejected():
    with pytest.raises(ConfigurationError):
        Ina219(FakeSMBus(), shunt_ohms=0.1, max_current_a=5.0)  # 500 mV > 320 mV


def test_address_outside_ina219_range_is_rejected():
    with pytest.raises(ConfigurationError):
        Ina219(FakeSMBus(), address=0x20)


def test_default_gain_is_smallest_range_that_fits():
    with Ina219(FakeSMBus(), shunt_ohms=0.01, max_current_a=10.0) as dev:
        assert dev.config.gain is Gain.DIV4_160MV
        assert dev.config.bus_range is BusRange.V32
        assert dev.calibration == 8192


# -- configuration register ------------------------------------------------------


def test_power_on_config_fields():
    assert Config().encode() == POWER_ON_CONFIG == 0x399F
    assert Config.decode(0x399F) == Config()


def test_example_config_fields():
    cfg = Config.decode(EXAMPLE_CONFIG)
    assert cfg == Config(BusRange.V16, Gain.DIV1_40MV, Adc.BITS12, Adc.BITS12, Mode(7))


def test_config_round_trip_every_canonical_field_combination():
    for fields in itertools.product(BusRange, Gain, Adc, Adc, Mode):
        cfg = Config(*fields)
        word = cfg.encode()
        assert word & 0xC000 == 0
        assert Config.decode(word) == cfg


CANONICAL_ADC_CODES = {adc.value for adc in Adc}


@given(st.integers(min_value=0, max_value=0xFFFF))
def test_config_decode_encode_round_trip_of_words(word):
    cfg = Config.decode(word)
    assert Config.decode(cfg.encode()) == cfg
    # RST, unused bit 14 and the ADC "don't care" codes are all that normalisation drops.
    badc, sadc = (word >> 7) & 0xF, (word >> 3) & 0xF
    if word & 0xC000 == 0 and {badc, sadc} <= CANONICAL_ADC_CODES:
        assert cfg.encode() == word


@pytest.mark.parametrize(
    ("code", "adc"),
    [(0b0100, Adc.BITS9), (0b0111, Adc.BITS12), (0b1000, Adc.BITS12), (0b1111, Adc.SAMPLES128)],
)
def test_adc_dont_care_codes(code, adc):
    assert Adc.from_code(code) is adc


def test_conversion_time_follows_table():
    assert Config().conversion_time_s == pytest.approx(2 * 532e-6)
    cfg = Config(shunt_adc=Adc.SAMPLES128, mode=Mode.SHUNT_CONTINUOUS)
    assert cfg.conversion_time_s == pytest.approx(68.10e-3)


# -- wire format -----------------------------------------------------------------


def test_swap16_and_sign():
    assert swap16(0x1234) == 0x3412
    assert swap16(swap16(0xBEEF)) == 0xBEEF
    assert to_signed16(0xFFFF) == -1
    assert to_signed16(0x7FFF) == 32767
    assert to_signed16(0x8000) == -32768


class RecordingBus(FakeSMBus):
    def __init__(self, devices):
        super().__init__(devices)
        self.writes: list[tuple[int, int, int]] = []

    def write_word_data(self, i2c_addr, register, value, force=None):
        self.writes.append((i2c_addr, register, value))
        super().write_word_data(i2c_addr, register, value, force)


def test_driver_swaps_bytes_on_the_wire():
    clock = SimClock()
    chip = FakeIna219(lambda t: (10.0, 11.98), clock=clock, shunt_ohms=0.002)
    bus = RecordingBus({0x40: chip})
    dev = Ina219(
        bus,
        shunt_ohms=0.002,
        max_current_a=10.0,
        current_lsb_a=0.001,
        config=Config.decode(EXAMPLE_CONFIG),
        sleep=clock.advance,
    )
    with dev:
        dev.configure()
    # SMBus words are little-endian: 0x019F goes out as 0x9F01, 0x5000 as 0x0050.
    assert (0x40, REG_CONFIG, 0x9F01) in bus.writes
    assert (0x40, REG_CALIBRATION, 0x0050) in bus.writes
    assert chip.regs[REG_CONFIG] == 0x019F


def test_negative_current_is_discharging():
    dev, *_ = rig(-1.5, 12.2, max_current_a=3.2)
    with dev:
        r = dev.read()
    assert r.current_a == pytest.approx(-1.5, abs=2e-4)
    assert r.shunt_mv == pytest.approx(-150.0)
    assert r.power_w == pytest.approx(1.5 * 12.2, rel=2e-3)  # power is a magnitude


# -- retries and faults -------------------------------------------------------------


def test_oserror_is_retried_then_raised_as_sensor_fault():
    sleeps = []
    dev, chip, _, _ = rig(retries=4, sleep=sleeps.append)
    with dev:
        dev.configure()
        sleeps.clear()
        chip.inject(FaultMode.OSERROR)
        before = chip.transactions
        with pytest.raises(SensorFault) as exc:
            dev.read()
    assert isinstance(exc.value, OSError)
    assert "5 attempts" in str(exc.value)
    assert chip.transactions - before == 5  # each attempt dies on its first transfer
    assert len(sleeps) == 4


class FlakyBus(FakeSMBus):
    """Fails the next ``failures`` transfers with EIO, like a marginal contact."""

    def __init__(self, devices, failures):
        super().__init__(devices)
        self.failures = failures

    def read_word_data(self, i2c_addr, register, force=None):
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EIO, "Input/output error")
        return super().read_word_data(i2c_addr, register, force)


def test_transient_oserror_is_absorbed_by_retry():
    clock = SimClock()
    chip = FakeIna219(lambda t: (1.0, 12.5), clock=clock)
    bus = FlakyBus({0x40: chip}, failures=0)
    with Ina219(bus, retries=3, sleep=clock.advance) as dev:
        dev.configure()
        bus.failures = 2
        r = dev.read()
    assert r.current_a == pytest.approx(1.0, abs=2e-4)
    assert bus.failures == 0


def test_persistent_overflow_is_a_fault_not_a_reading():
    # 4 A through 0.1 ohm is 400 mV, beyond the 320 mV range: OVF every conversion.
    dev, *_ = rig(4.0, 12.0, retries=2)
    with dev, pytest.raises(SensorFault, match="overflow"):
        dev.read()


def test_persistent_overflow_still_gives_the_bus_voltage():
    # a 0.1 ohm board read as 0.01 ohm while charging: the current is unusable, the battery
    # voltage is not, and the policy needs it for its voltage-only fallback
    dev, *_ = rig(4.0, 13.2, retries=2)
    with dev, pytest.raises(CurrentOverflow, match="overflow") as caught:
        dev.read()
    assert isinstance(caught.value, SensorFault)
    assert caught.value.bus_v == pytest.approx(13.2, abs=0.004)


def test_garbage_with_the_overflow_bit_is_not_a_voltage():
    # random words set OVF half the time; their bus voltages never agree across the retries
    dev, chip, *_ = rig(retries=3)
    with dev:
        dev.configure()
        chip.inject(FaultMode.GARBAGE)
        for _ in range(50):
            with pytest.raises(SensorFault) as caught:
                dev.read()
            assert not isinstance(caught.value, CurrentOverflow)


def test_transient_overflow_is_retried():
    values = iter([(4.0, 12.0)] + [(1.0, 12.0)] * 100)
    dev, *_ = rig(source=lambda t: next(values), retries=2)
    with dev:
        r = dev.read()
    assert r.current_a == pytest.approx(1.0, abs=2e-4)
    assert not r.overflow


def test_garbage_registers_raise_instead_of_returning_numbers():
    dev, chip, _, _ = rig(retries=3)
    with dev:
        dev.configure()
        chip.inject(FaultMode.GARBAGE)
        with pytest.raises(SensorFault):
            dev.read()


def test_chip_reset_by_brown_out_is_reprogrammed_not_read_as_zero():
    dev, chip, _, clock = rig(2.0, 12.4)
    with dev:
        assert dev.read().current_a == pytest.approx(2.0, abs=2e-4)
        chip.power_on()  # supply glitch: Cal = 0, so current and power would read 0
        clock.advance(1.0)
        r = dev.read()
    assert r.current_a == pytest.approx(2.0, abs=2e-4)
    assert chip.regs[REG_CALIBRATION] == dev.calibration
    assert dev.reprogrammed == 1 and r.chip_resets == 1  # counted, so the policy can name it


def test_no_reset_no_count():
    dev, *_ = rig(2.0, 12.4)
    with dev:
        assert [dev.read().chip_resets for _ in range(3)] == [0, 0, 0]
    assert dev.reprogrammed == 0


def test_first_read_waits_for_a_conversion():
    dev, *_ = rig(1.0, 12.5)
    with dev:
        r = dev.read()
    assert r.bus_v == pytest.approx(12.5, abs=0.004)  # not the 0 V of an empty register


def test_closed_driver_raises_sensor_fault():
    dev, *_ = rig()
    dev.close()
    with pytest.raises(SensorFault):
        dev.read()


# -- ownership of the bus and the address ---------------------------------------------


def test_same_bus_and_address_cannot_be_claimed_twice():
    bus = FakeSMBus()
    first = Ina219(bus)
    with pytest.raises(DeviceBusy) as exc:
        Ina219(bus)
    assert isinstance(exc.value, RuntimeError)
    Ina219(bus, address=0x41).close()  # another address is another device
    Ina219(FakeSMBus()).close()  # another bus too
    first.close()
    Ina219(bus).close()  # released by close()


def test_default_bus_is_opened_lazily_by_number_and_closed(monkeypatch):
    import smbus2

    opened = []
    clock = SimClock()

    def fake_smbus(number):
        bus = FakeSMBus({0x40: FakeIna219(lambda t: (0.5, 12.6), clock=clock)})
        opened.append((number, bus))
        return bus

    monkeypatch.setattr(smbus2, "SMBus", fake_smbus)
    dev = Ina219(bus_number=3, sleep=clock.advance)
    assert opened == []  # nothing touched until the first transfer
    with pytest.raises(DeviceBusy):
        Ina219(bus_number=3)
    assert dev.read().current_a == pytest.approx(0.5, abs=2e-4)
    assert [n for n, _ in opened] == [3]
    dev.close()
    assert opened[0][1].closed
    Ina219(bus_number=3).close()


def test_injected_bus_is_not_closed_by_driver():
    bus = FakeSMBus()
    Ina219(bus).close()
    assert not bus.closed


def test_missing_i2c_device_is_a_sensor_fault():
    clock = SimClock()
    dev = Ina219(FakeSMBus(), retries=1, sleep=clock.advance)  # nothing answers
    with dev, pytest.raises(SensorFault, match="I/O error"):
        dev.read()


def test_forgotten_driver_releases_its_claim():
    import gc

    bus = FakeSMBus()
    Ina219(bus)  # dropped without close()
    gc.collect()
    Ina219(bus).close()


def test_absent_i2c_bus_is_named_and_opened_again_only_a_minute_later(monkeypatch):
    import smbus2

    clock = SimClock()
    attempts = []

    def no_bus(number):
        attempts.append(number)
        raise FileNotFoundError(2, "No such file or directory", f"/dev/i2c-{number}")

    monkeypatch.setattr(smbus2, "SMBus", no_bus)
    dev = Ina219(bus_number=99, sleep=clock.advance, monotonic=clock)
    with pytest.raises(SensorMissing, match="capteur INA219 introuvable sur le bus I2C 99") as e:
        dev.read()
    assert isinstance(e.value, SensorFault) and "/dev/i2c-99 missing" in str(e.value)
    assert attempts == [99]  # not retried like a flaky transfer
    clock.advance(59)
    with pytest.raises(SensorMissing):
        dev.read()
    assert attempts == [99]  # the same answer without touching the system
    clock.advance(1)

    def bus_appears(number):
        attempts.append(number)
        return FakeSMBus({0x40: FakeIna219(lambda t: (0.5, 12.6), clock=clock)})

    monkeypatch.setattr(smbus2, "SMBus", bus_appears)
    assert dev.read().current_a == pytest.approx(0.5, abs=2e-4)
    assert attempts == [99, 99]
    dev.close()


def test_overflow_with_one_straddled_attempt_still_gives_the_bus_voltage():
    # attempts: OVF, I/O error, OVF, OVF -- three of four overflowed at the same voltage
    dev, _, bus, _ = rig(4.0, 13.0, retries=3)
    with dev:
        dev.configure()
        real = bus.read_word_data
        calls = itertools.count()

        def flaky(addr, reg, *a):
            if reg == REG_BUS_VOLTAGE and next(calls) == 1:
                raise OSError(errno.EREMOTEIO, "Remote I/O error")
            return real(addr, reg, *a)

        bus.read_word_data = flaky
        with pytest.raises(CurrentOverflow) as caught:
            dev.read()
    assert caught.value.bus_v == pytest.approx(13.0, abs=0.004)
