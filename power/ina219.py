"""INA219 current/power monitor driver over an smbus2-compatible bus.

All section, table and equation numbers refer to the TI datasheet SBOS448G
(INA219, revised December 2015); the equations are those of §8.5.1 and the
worked example is the one in §9.2.2.1.

Byte order: the INA219 sends and receives the most significant byte first
(§8.5.6, "register bytes are sent most-significant byte first"), while SMBus
word transfers -- and therefore smbus2's ``read_word_data`` /
``write_word_data`` -- are little-endian. Every word is byte-swapped on the way
in and out (:func:`swap16`); this keeps the driver to the two word calls that
every SMBus adapter and the simulator implement.

Sign convention: the chip reports V(IN+) - V(IN-). Keneya wires IN+ to the charge
controller's battery terminal and IN- to the battery's positive post, so a
positive current is charging and a negative current is discharging, and the bus
voltage (measured at IN-) is the battery terminal voltage.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal
from enum import IntEnum
from typing import Any, Protocol

from power.errors import (
    ConfigurationError,
    CurrentOverflow,
    DeviceBusy,
    SensorFault,
    SensorMissing,
)

DEFAULT_BUS_NUMBER = 1  # /dev/i2c-1, the Raspberry Pi header bus
DEFAULT_ADDRESS = 0x40  # A0 = A1 = GND (§8.5.5.1)
# The common INA219 breakout carries a 0.1 ohm ("R100") shunt: +/-320 mV is +/-3.2 A.
DEFAULT_SHUNT_OHMS = 0.1
DEFAULT_MAX_CURRENT_A = 3.2
# A persistent overflow still yields the bus voltage when every attempt read it within this
# (25 bus LSB): random words from a floating line never agree that closely.
OVERFLOW_BUS_SPREAD_V = 0.1
# A missing /dev/i2c-N is not retried at every read: it is opened again this often.
REOPEN_MISSING_BUS_S = 60.0

# Register pointers (§8.6.1, Table 2).
REG_CONFIG = 0x00
REG_SHUNT_VOLTAGE = 0x01
REG_BUS_VOLTAGE = 0x02
REG_POWER = 0x03
REG_CURRENT = 0x04
REG_CALIBRATION = 0x05

POWER_ON_CONFIG = 0x399F  # §8.6.2.1, reset value
CONFIG_RESET = 0x8000  # RST, bit 15; self-clearing
SHUNT_LSB_V = 10e-6  # §8.6.3.1
BUS_LSB_V = 4e-3  # §8.6.3.2
BUS_CNVR = 0x0002  # conversion ready, bit 1 (§8.6.3.2)
BUS_OVF = 0x0001  # math overflow, bit 0 (§8.6.3.2)
CAL_SCALE = Decimal("0.04096")  # §8.5.1, Equation 1: internal scaling constant
POWER_LSB_FACTOR = 20  # Equation 3: Power_LSB = 20 x Current_LSB


class BusRange(IntEnum):
    """BRNG, bit 13: bus voltage full-scale range."""

    V16 = 0
    V32 = 1


class Gain(IntEnum):
    """PG, bits 12-11: PGA divider and shunt full-scale range (§8.6.2.1)."""

    DIV1_40MV = 0
    DIV2_80MV = 1
    DIV4_160MV = 2
    DIV8_320MV = 3

    @property
    def range_v(self) -> float:
        return 0.040 * (1 << self.value)


class Adc(IntEnum):
    """BADC bits 10-7 / SADC bits 6-3: resolution or averaging (§8.6.2.1, ADC settings)."""

    BITS9 = 0b0000
    BITS10 = 0b0001
    BITS11 = 0b0010
    BITS12 = 0b0011
    SAMPLES2 = 0b1001
    SAMPLES4 = 0b1010
    SAMPLES8 = 0b1011
    SAMPLES16 = 0b1100
    SAMPLES32 = 0b1101
    SAMPLES64 = 0b1110
    SAMPLES128 = 0b1111

    @classmethod
    def from_code(cls, code: int) -> Adc:
        # ADC settings table: bit 2 is "don't care" when bit 3 is 0, and 1000 is plain 12-bit.
        code &= 0b1111
        if code & 0b1000 == 0:
            return cls(code & 0b0011)
        return cls.BITS12 if code == 0b1000 else cls(code)

    @property
    def conversion_time_s(self) -> float:
        return _CONVERSION_TIME_S[self]


_CONVERSION_TIME_S = {  # §8.6.2.1, ADC settings, conversion time column
    Adc.BITS9: 84e-6,
    Adc.BITS10: 148e-6,
    Adc.BITS11: 276e-6,
    Adc.BITS12: 532e-6,
    Adc.SAMPLES2: 1.06e-3,
    Adc.SAMPLES4: 2.13e-3,
    Adc.SAMPLES8: 4.26e-3,
    Adc.SAMPLES16: 8.51e-3,
    Adc.SAMPLES32: 17.02e-3,
    Adc.SAMPLES64: 34.05e-3,
    Adc.SAMPLES128: 68.10e-3,
}


class Mode(IntEnum):
    """MODE, bits 2-0 (§8.6.2.1, mode settings)."""

    POWER_DOWN = 0b000
    SHUNT_TRIGGERED = 0b001
    BUS_TRIGGERED = 0b010
    SHUNT_BUS_TRIGGERED = 0b011
    ADC_OFF = 0b100
    SHUNT_CONTINUOUS = 0b101
    BUS_CONTINUOUS = 0b110
    SHUNT_BUS_CONTINUOUS = 0b111


@dataclass(frozen=True, slots=True)
class Config:
    """The configuration register as fields. ``Config()`` is the power-on value 0x399F."""

    bus_range: BusRange = BusRange.V32
    gain: Gain = Gain.DIV8_320MV
    bus_adc: Adc = Adc.BITS12
    shunt_adc: Adc = Adc.BITS12
    mode: Mode = Mode.SHUNT_BUS_CONTINUOUS

    def encode(self) -> int:
        return (
            (self.bus_range << 13)
            | (self.gain << 11)
            | (self.bus_adc << 7)
            | (self.shunt_adc << 3)
            | self.mode
        )

    @classmethod
    def decode(cls, word: int) -> Config:
        """Fields of a register word; RST and the unused bit 14 are ignored."""
        return cls(
            bus_range=BusRange((word >> 13) & 0b1),
            gain=Gain((word >> 11) & 0b11),
            bus_adc=Adc.from_code(word >> 7),
            shunt_adc=Adc.from_code(word >> 3),
            mode=Mode(word & 0b111),
        )

    @property
    def conversion_time_s(self) -> float:
        """Time of one shunt + bus conversion cycle in the configured mode."""
        t = 0.0
        if self.mode & 0b001:
            t += self.shunt_adc.conversion_time_s
        if self.mode & 0b010:
            t += self.bus_adc.conversion_time_s
        return t


@dataclass(frozen=True, slots=True)
class Reading:
    """One measurement, in SI-ish units; ``current_a`` > 0 is charging (see module doc).

    ``power_w`` is a magnitude: the power register is unsigned (§8.6.3.3).
    """

    bus_v: float
    shunt_mv: float
    current_a: float
    power_w: float
    overflow: bool
    conversion_ready: bool
    chip_resets: int = 0  # times the driver reprogrammed a chip that lost its calibration


@dataclass(frozen=True, slots=True)
class RawRegisters:
    """Register words as the chip holds them (big-endian value, unsigned)."""

    shunt: int
    bus: int
    current: int
    power: int


class SMBusLike(Protocol):
    """The part of ``smbus2.SMBus`` the driver uses."""

    def read_word_data(self, i2c_addr: int, register: int) -> int: ...

    def write_word_data(self, i2c_addr: int, register: int, value: int) -> None: ...

    def close(self) -> None: ...


def swap16(word: int) -> int:
    """Swap the two bytes of a 16-bit word (SMBus little-endian <-> INA219 big-endian)."""
    return ((word & 0xFF) << 8) | ((word >> 8) & 0xFF)


def to_signed16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


def choose_current_lsb(max_current_a: float) -> float:
    """Current_LSB for a maximum expected current (Equation 2, rounded up).

    Equation 2 gives the smallest LSB, Max_Expected_I / 2**15. It is rounded
    up to the next value of the 1-2-5 series (100 uA, 200 uA, 500 uA, 1 mA...)
    so that register counts convert to round decimal amps and the calibration
    value stays well inside 16 bits; the range lost is at most 2.5x.
    """
    if not max_current_a > 0:
        raise ConfigurationError(f"max_current_a must be positive, got {max_current_a!r}")
    minimum = Decimal(repr(max_current_a)) / (1 << 15)
    exponent = minimum.adjusted()
    for step in (1, 2, 5, 10):
        candidate = Decimal(step).scaleb(exponent)
        if candidate >= minimum:
            return float(candidate)
    raise AssertionError("unreachable: 10 x 10**exponent exceeds the minimum")


def calibration_for(shunt_ohms: float, current_lsb_a: float) -> int:
    """Calibration register value, Equation 1: trunc(0.04096 / (Current_LSB x R_shunt)).

    Computed in decimal so that, e.g., 1 mA and 2 mOhm give exactly 20480
    rather than 20479.999... Bit 0 of the register is not implemented
    (§8.6.4.1), so the result is cleared to an even value.
    """
    if not (shunt_ohms > 0 and current_lsb_a > 0):
        raise ConfigurationError("shunt_ohms and current_lsb_a must be positive")
    cal = CAL_SCALE / (Decimal(repr(current_lsb_a)) * Decimal(repr(shunt_ohms)))
    value = int(cal.to_integral_value(rounding=ROUND_DOWN)) & 0xFFFE
    if not 2 <= value <= 0xFFFE:
        raise ConfigurationError(
            f"calibration {cal:.1f} out of the 16-bit register for "
            f"{shunt_ohms} ohm and Current_LSB {current_lsb_a} A"
        )
    return value


def smallest_gain(max_shunt_v: float) -> Gain:
    for gain in Gain:
        if max_shunt_v <= gain.range_v * (1 + 1e-9):  # 3.2 A x 0.1 ohm is 0.32000000000000006
            return gain
    raise ConfigurationError(
        f"{max_shunt_v * 1000:.0f} mV across the shunt exceeds the 320 mV PGA range"
    )


def decode(raw: RawRegisters, *, current_lsb_a: float) -> Reading:
    """Registers to units (§8.6.3): shunt 10 uV/bit signed, bus (reg >> 3) x 4 mV,
    current signed x Current_LSB, power x 20 x Current_LSB (Equation 3)."""
    return Reading(
        bus_v=(raw.bus >> 3) * 4 / 1000,
        shunt_mv=to_signed16(raw.shunt) / 100,
        current_a=to_signed16(raw.current) * current_lsb_a,
        power_w=raw.power * (POWER_LSB_FACTOR * current_lsb_a),
        overflow=bool(raw.bus & BUS_OVF),
        conversion_ready=bool(raw.bus & BUS_CNVR),
    )


def consistent(raw: RawRegisters, calibration: int) -> bool:
    """Whether current and power agree with shunt and bus as the chip computes them.

    Equation 4 (current = shunt x Cal / 4096) and Equation 5 (power = current x
    bus / 5000) hold exactly within one conversion; a small tolerance absorbs a
    read that straddles two conversions. Random words (a floating line) or a
    chip that lost its calibration fail this check.
    """
    expected_current = int(to_signed16(raw.shunt) * calibration / 4096)
    current = to_signed16(raw.current)
    if abs(current - expected_current) > 2 + abs(expected_current) // 128:
        return False
    expected_power = int(abs(current) * (raw.bus >> 3) / 5000)
    return abs(raw.power - expected_power) <= 2 + expected_power // 128


# Claimed (bus, address) pairs. A bus is its number when the driver opens it,
# or the id() of an injected bus object (alive as long as the claiming driver).
_claims: set[tuple[str, int, int]] = set()
_claims_lock = threading.Lock()


def _release(key: tuple[str, int, int], bus: SMBusLike | None, owned: bool) -> None:
    with _claims_lock:
        _claims.discard(key)
    if owned and bus is not None:
        bus.close()


class Ina219:
    """Driver for one INA219.

    ``bus`` is any smbus2-compatible object; when omitted, ``smbus2.SMBus(bus_number)``
    is opened on first use and closed by :meth:`close`. An injected bus is not
    closed (the caller owns it) and is identified by the object itself when the
    (bus, address) pair is claimed.

    ``current_lsb_a`` defaults to :func:`choose_current_lsb` of ``max_current_a``;
    ``config`` defaults to 32 V bus range, the smallest PGA range that holds
    ``max_current_a x shunt_ohms``, 128-sample averaging on both ADCs (averages
    out the ripple of a PWM charge controller) and continuous conversion.

    A read that raises OSError, reports OVF or has inconsistent registers is
    retried ``retries`` times, ``retry_delay_s`` apart (default: one conversion
    cycle, so the retry sees fresh data), then :class:`SensorFault` is raised.

    A bus number whose ``/dev/i2c-N`` does not exist raises :class:`SensorMissing` at
    once, and the same fault without touching the system until ``reopen_s`` (on the
    ``monotonic`` clock) have passed since the failed open.
    """

    def __init__(
        self,
        bus: SMBusLike | None = None,
        *,
        bus_number: int = DEFAULT_BUS_NUMBER,
        address: int = DEFAULT_ADDRESS,
        shunt_ohms: float = DEFAULT_SHUNT_OHMS,
        max_current_a: float = DEFAULT_MAX_CURRENT_A,
        current_lsb_a: float | None = None,
        config: Config | None = None,
        retries: int = 3,
        retry_delay_s: float | None = None,
        sleep: Callable[[float], object] = time.sleep,
        reopen_s: float = REOPEN_MISSING_BUS_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0x40 <= address <= 0x4F:
            raise ConfigurationError(f"INA219 addresses are 0x40-0x4F, got {address:#x}")
        if retries < 0:
            raise ConfigurationError("retries must be >= 0")
        if not (shunt_ohms > 0 and max_current_a > 0):
            raise ConfigurationError("shunt_ohms and max_current_a must be positive")
        self.address = address
        self.shunt_ohms = shunt_ohms
        self.max_current_a = max_current_a
        self.current_lsb_a = current_lsb_a or choose_current_lsb(max_current_a)
        self.power_lsb_w = POWER_LSB_FACTOR * self.current_lsb_a
        self.calibration = calibration_for(shunt_ohms, self.current_lsb_a)
        self.config = config or Config(
            gain=smallest_gain(max_current_a * shunt_ohms),
            bus_adc=Adc.SAMPLES128,
            shunt_adc=Adc.SAMPLES128,
        )
        if max_current_a * shunt_ohms > self.config.gain.range_v * (1 + 1e-9):
            raise ConfigurationError(
                f"{max_current_a} A x {shunt_ohms} ohm exceeds the "
                f"{self.config.gain.range_v * 1000:.0f} mV PGA range"
            )
        if self.current_lsb_a * 0x7FFF < max_current_a:
            raise ConfigurationError("Current_LSB too small: the current register would overflow")
        self.retries = retries
        self.retry_delay_s = (
            retry_delay_s if retry_delay_s is not None else self.config.conversion_time_s * 1.1
        )
        self._sleep = sleep
        self._bus_number = bus_number
        self._bus = bus
        self.reopen_s = reopen_s
        self._monotonic = monotonic
        self._missing: tuple[float, str] | None = None  # (when, why) of a failed open
        self._configured = False
        self._closed = False
        self.reprogrammed = 0  # chips found without their calibration and programmed again
        self._overflow_bus: list[float] = []  # bus voltages of this read's OVF attempts
        self._lock = threading.RLock()
        self._key = ("number", bus_number, address) if bus is None else ("object", id(bus), address)
        with _claims_lock:
            if self._key in _claims:
                where = f"bus {bus_number}" if bus is None else "this bus"
                raise DeviceBusy(f"INA219 at {address:#04x} on {where} is already in use")
            _claims.add(self._key)
        self._finalizer = weakref.finalize(self, _release, self._key, None, False)

    # -- bus access ---------------------------------------------------------

    def _get_bus(self) -> SMBusLike:
        if self._closed:
            raise SensorFault("driver is closed")
        if self._bus is None:
            import smbus2  # deferred: importing the driver must not need the I2C stack

            if self._missing is not None:
                failed_at, why = self._missing
                if self._monotonic() - failed_at < self.reopen_s:
                    raise SensorMissing(why)
            try:
                self._bus = smbus2.SMBus(self._bus_number)
            except FileNotFoundError as exc:
                why = (
                    f"INA219 sensor not found: no I2C bus {self._bus_number}"
                    f" ({exc.filename or f'/dev/i2c-{self._bus_number}'} missing)"
                    f" / capteur INA219 introuvable sur le bus I2C {self._bus_number}"
                )
                self._missing = (self._monotonic(), why)
                raise SensorMissing(why) from None
            self._missing = None
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _release, self._key, self._bus, True)
        return self._bus

    def _read_word(self, register: int) -> int:
        return swap16(self._get_bus().read_word_data(self.address, register))

    def _write_word(self, register: int, value: int) -> None:
        self._get_bus().write_word_data(self.address, register, swap16(value & 0xFFFF))

    def _retrying(self, what: str, attempt_once: Callable[[], Any]) -> Any:
        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.retry_delay_s)
            try:
                result = attempt_once()
            except SensorFault:
                raise
            except OSError as exc:
                last = f"I/O error: {exc}"
                continue
            if isinstance(result, str):  # a transient reason to try again
                last = result
                continue
            return result
        raise SensorFault(
            f"INA219 {self.address:#04x}: {what} failed after {self.retries + 1} attempts ({last})"
        )

    # -- public API -----------------------------------------------------------

    def read_register(self, register: int) -> int:
        """One register word (big-endian value), with retries."""
        with self._lock:
            return self._retrying(
                f"read of register {register:#04x}", lambda: self._read_word(register)
            )

    def configure(self) -> None:
        """Write configuration and calibration and verify them by reading back."""
        with self._lock:
            self._retrying("configuration", self._configure_once)
            self._configured = True
            # Data registers hold stale values until the first conversion ends.
            self._sleep(self.config.conversion_time_s * 1.1)

    def _configure_once(self) -> str | None:
        self._write_word(REG_CONFIG, self.config.encode())
        self._write_word(REG_CALIBRATION, self.calibration)
        got = (self._read_word(REG_CONFIG), self._read_word(REG_CALIBRATION))
        if got != (self.config.encode(), self.calibration):
            return f"read back config/calibration {got[0]:#06x}/{got[1]:#06x}"
        return None

    def reset(self) -> None:
        """Reset the chip (RST bit) and program it again."""
        with self._lock:
            self._retrying("reset", lambda: self._write_word(REG_CONFIG, CONFIG_RESET))
            self._configured = False
            self.configure()

    def read_raw(self) -> RawRegisters:
        """The four data registers, one attempt, no checks. Power is read last
        because reading it clears CNVR (§8.6.3.2)."""
        with self._lock:
            bus = self._read_word(REG_BUS_VOLTAGE)
            shunt = self._read_word(REG_SHUNT_VOLTAGE)
            current = self._read_word(REG_CURRENT)
            power = self._read_word(REG_POWER)
            return RawRegisters(shunt=shunt, bus=bus, current=current, power=power)

    def read(self) -> Reading:
        """A checked reading; raises :class:`SensorFault` rather than return a bad one, and
        :class:`CurrentOverflow` (with the bus voltage) when all attempts but one overflowed."""
        with self._lock:
            if not self._configured:
                self.configure()
            self._overflow_bus = []
            try:
                reading = self._retrying("read", self._read_once)
            except SensorFault as exc:
                bus = self._overflow_bus
                # all attempts but one overflowed (one may straddle a conversion) and agree
                overflowed = len(bus) >= max(1, self.retries)
                if overflowed and max(bus) - min(bus) <= OVERFLOW_BUS_SPREAD_V:
                    raise CurrentOverflow(str(exc), bus_v=sorted(bus)[len(bus) // 2]) from None
                raise
            return replace(reading, chip_resets=self.reprogrammed)

    def _read_once(self) -> Reading | str:
        raw = self.read_raw()
        if raw.bus & BUS_OVF:
            self._overflow_bus.append((raw.bus >> 3) * BUS_LSB_V)
            return "overflow (OVF) set"
        if not consistent(raw, self.calibration):
            # A brown-out resets the chip to Cal = 0: current and power then read 0.
            if (
                self._read_word(REG_CALIBRATION) != self.calibration
                or self._read_word(REG_CONFIG) != self.config.encode()
            ):
                self._configure_once()
                self.reprogrammed += 1
                return "chip lost its configuration; reprogrammed"
            return "registers inconsistent"
        return decode(raw, current_lsb_a=self.current_lsb_a)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._finalizer()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Ina219:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Ina219(address={self.address:#04x}, shunt_ohms={self.shunt_ohms}, "
            f"current_lsb_a={self.current_lsb_a}, calibration={self.calibration})"
        )
