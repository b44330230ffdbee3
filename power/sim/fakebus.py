"""A fake SMBus with an INA219 register map that behaves like the chip.

The register model follows TI SBOS448G: power-on values (§8.6.1, Table 2),
reset bit (§8.6.2.1), calibration bit 0 not implemented (§8.6.4.1), current and
power 0 until calibrated (Table 2 note 2), Equation 4 (current = shunt x Cal /
4096) and Equation 5 (power = current x bus / 5000), CNVR set at the end of a
conversion and cleared by reading the power register or writing the mode
(§8.6.3.2). Conversions happen on the simulated clock at the configured
conversion time and sample a physical source (true shunt current, bus voltage).
Installation mistakes (:class:`Wiring`) and a brown-out or a noisy line (:class:`FaultMode`)
change what the chip sees or what the bus returns, never the physics.

On the wire the chip is big-endian; smbus2 word calls are little-endian, so the
fake returns and accepts byte-swapped words exactly as a real adapter would.
"""

from __future__ import annotations

import errno
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from power.ina219 import (
    BUS_CNVR,
    BUS_LSB_V,
    BUS_OVF,
    CONFIG_RESET,
    POWER_ON_CONFIG,
    REG_BUS_VOLTAGE,
    REG_CALIBRATION,
    REG_CONFIG,
    REG_CURRENT,
    REG_POWER,
    REG_SHUNT_VOLTAGE,
    SHUNT_LSB_V,
    BusRange,
    Config,
    Mode,
    swap16,
)

Source = Callable[[float], tuple[float, float]]
"""Physical inputs at simulated time t: (shunt current in A, IN+ -> IN-; bus voltage at IN-)."""


class FaultMode(StrEnum):
    NONE = "none"
    OSERROR = "oserror"  # NACKs / bus errors, each transaction fails with a probability
    GARBAGE = "garbage"  # reads return random words (floating or shorted lines)
    STUCK = "stuck"  # data registers frozen at their last values
    RESET = "reset"  # a brown-out as the window opens: the chip restarts at its power-on values
    BITFLIP = "bitflip"  # a long or noisy line: one bit of a word read flips (probability)


@dataclass(frozen=True, slots=True)
class FaultWindow:
    start_s: float
    end_s: float
    mode: FaultMode
    probability: float = 1.0  # per transaction, for OSERROR and BITFLIP

    def active(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


@dataclass(frozen=True, slots=True)
class Noise:
    """Measurement noise per conversion; spikes are one-conversion transients."""

    shunt_sigma_lsb: float = 0.0  # gaussian, in 10 uV counts
    bus_sigma_lsb: float = 0.0  # gaussian, in 4 mV counts
    spike_probability: float = 0.0
    spike_current_a: float = -6.0
    spike_bus_v: float = -1.5


@dataclass(frozen=True, slots=True)
class Wiring:
    """How the board is wired when it is not as the README says (the default is right)."""

    swapped_inputs: bool = False  # VIN+ and VIN- swapped: the chip sees the current reversed
    bus_v: float | None = None  # VIN- not on the battery +: the bus voltage the chip sees
    # instead (0.0: VIN- loose or no common GND; 5.1: on the Pi's 5 V)


class FakeIna219:
    """Register map of one INA219 whose shunt sees ``source(t)``."""

    def __init__(
        self,
        source: Source,
        *,
        clock: Callable[[], float],
        shunt_ohms: float = 0.1,
        noise: Noise | None = None,
        faults: tuple[FaultWindow, ...] = (),
        seed: int = 0,
        wiring: Wiring | None = None,
    ) -> None:
        self._source = source
        self.wiring = wiring or Wiring()
        self._clock = clock
        self.shunt_ohms = shunt_ohms
        self.noise = noise or Noise()
        self.faults = faults
        self._noise_rng = random.Random(seed)
        self._fault_rng = random.Random(seed + 1)
        self._override: FaultWindow | None = None
        self._frozen: dict[int, int] | None = None
        self._browned_out: set[FaultWindow] = set()  # RESET windows already applied
        self.transactions = 0
        self.conversions = 0
        self.power_on()

    # -- chip state -----------------------------------------------------------

    def power_on(self) -> None:
        self.regs = {
            REG_CONFIG: POWER_ON_CONFIG,
            REG_SHUNT_VOLTAGE: 0,
            REG_BUS_VOLTAGE: 0,
            REG_POWER: 0,
            REG_CURRENT: 0,
            REG_CALIBRATION: 0,
        }
        self._start_conversions()

    def _start_conversions(self) -> None:
        self._config = Config.decode(self.regs[REG_CONFIG])
        self._mode_set_at = self._clock()
        self._done = 0  # conversions completed since the mode was written

    @property
    def config(self) -> Config:
        return self._config

    def _convert_if_due(self, now: float) -> None:
        cfg = self.config
        period = cfg.conversion_time_s
        if period <= 0 or cfg.mode in (Mode.POWER_DOWN, Mode.ADC_OFF):
            return
        due = math.floor((now - self._mode_set_at) / period + 1e-9)
        if cfg.mode & 0b100 == 0:
            due = min(due, 1)  # triggered: a single conversion per mode write
        if due > self._done:
            self._done = due
            self._convert(now, cfg)

    def _convert(self, now: float, cfg: Config) -> None:
        self.conversions += 1
        current_a, bus_v = self._source(now)
        if self.wiring.swapped_inputs:
            current_a = -current_a
        if self.wiring.bus_v is not None:
            bus_v = self.wiring.bus_v
        shunt_v = current_a * self.shunt_ohms
        n = self.noise
        if n.shunt_sigma_lsb:
            shunt_v += self._noise_rng.gauss(0.0, n.shunt_sigma_lsb) * SHUNT_LSB_V
        if n.bus_sigma_lsb:
            bus_v += self._noise_rng.gauss(0.0, n.bus_sigma_lsb) * BUS_LSB_V
        if n.spike_probability and self._noise_rng.random() < n.spike_probability:
            shunt_v += n.spike_current_a * self.shunt_ohms
            bus_v += n.spike_bus_v
        overflow = False
        if cfg.mode & 0b001:
            limit = round(cfg.gain.range_v * 100_000)
            counts = round(shunt_v / SHUNT_LSB_V)
            if abs(counts) > limit:  # beyond the PGA range: clip and flag
                overflow = True
                counts = max(-limit, min(limit, counts))
            self.regs[REG_SHUNT_VOLTAGE] = counts & 0xFFFF
        shunt = _signed(self.regs[REG_SHUNT_VOLTAGE])
        bus_counts = self.regs[REG_BUS_VOLTAGE] >> 3
        if cfg.mode & 0b010:
            full_scale = 0x1FFF if cfg.bus_range is BusRange.V32 else 0x0FFF
            bus_counts = max(0, min(full_scale, round(bus_v / BUS_LSB_V)))
        cal = self.regs[REG_CALIBRATION]
        current = int(shunt * cal / 4096)  # Equation 4, truncated toward zero
        if not -0x8000 <= current <= 0x7FFF:
            overflow = True
            current = max(-0x8000, min(0x7FFF, current))
        power = int(abs(current) * bus_counts / 5000)  # Equation 5
        if power > 0xFFFF:
            overflow = True
            power = 0xFFFF
        self.regs[REG_CURRENT] = current & 0xFFFF
        self.regs[REG_POWER] = power
        self.regs[REG_BUS_VOLTAGE] = (bus_counts << 3) | BUS_CNVR | (BUS_OVF if overflow else 0)

    # -- faults ---------------------------------------------------------------

    def inject(self, mode: FaultMode, *, probability: float = 1.0) -> None:
        """Force a fault mode from now on (overrides the time windows); RESET browns out once
        per call."""
        self._override = FaultWindow(-math.inf, math.inf, mode, probability)
        self._browned_out.discard(self._override)

    def clear_fault(self) -> None:
        self._override = None

    def fault_at(self, t: float) -> FaultWindow | None:
        if self._override is not None:
            return None if self._override.mode is FaultMode.NONE else self._override
        return next((w for w in self.faults if w.active(t)), None)

    def _transaction(self, now: float) -> FaultWindow | None:
        self.transactions += 1
        fault = self.fault_at(now)
        if (
            fault is not None
            and fault.mode is FaultMode.OSERROR
            and self._fault_rng.random() < fault.probability
        ):
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        if fault is not None and fault.mode is FaultMode.RESET and fault not in self._browned_out:
            self._browned_out.add(fault)
            self.power_on()
        if fault is None or fault.mode is not FaultMode.STUCK:
            self._frozen = None
        elif self._frozen is None:
            self._frozen = dict(self.regs)
        return fault

    # -- register access (values as the chip holds them, big-endian) ----------

    def read_register(self, register: int) -> int:
        now = self._clock()
        fault = self._transaction(now)
        if register not in self.regs:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        if fault is not None and fault.mode is FaultMode.GARBAGE:
            return self._fault_rng.getrandbits(16)
        if self._frozen is not None:
            return self._frozen[register]
        if register in (REG_SHUNT_VOLTAGE, REG_BUS_VOLTAGE, REG_CURRENT, REG_POWER):
            self._convert_if_due(now)
        value = self.regs[register]
        if register == REG_POWER:
            self.regs[REG_BUS_VOLTAGE] &= ~BUS_CNVR & 0xFFFF
        if (
            fault is not None
            and fault.mode is FaultMode.BITFLIP
            and self._fault_rng.random() < fault.probability
        ):
            value ^= 1 << self._fault_rng.randrange(16)
        return value

    def write_register(self, register: int, value: int) -> None:
        self._transaction(self._clock())
        if register not in self.regs:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        if register == REG_CONFIG:
            if value & CONFIG_RESET:
                self.power_on()
                return
            self.regs[REG_CONFIG] = value & 0x3FFF  # bit 14 is not implemented
            self.regs[REG_BUS_VOLTAGE] &= ~BUS_CNVR & 0xFFFF
            self._start_conversions()
        elif register == REG_CALIBRATION:
            self.regs[REG_CALIBRATION] = value & 0xFFFE  # bit 0 reads as 0 (§8.6.4.1)
        # Data registers are read-only: the chip acknowledges and ignores the write.


def _signed(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


class FakeSMBus:
    """The smbus2 ``SMBus`` calls the driver uses, routed to fake devices by address.

    An address with no device raises ``OSError(EREMOTEIO)`` as Linux does for a NACK.
    """

    def __init__(self, devices: Mapping[int, FakeIna219] | None = None) -> None:
        self.devices: dict[int, FakeIna219] = dict(devices or {})
        self.closed = False

    def attach(self, address: int, device: FakeIna219) -> None:
        self.devices[address] = device

    def _device(self, i2c_addr: int) -> FakeIna219:
        if self.closed:
            raise OSError(errno.EBADF, "Bad file descriptor")
        try:
            return self.devices[i2c_addr]
        except KeyError:
            raise OSError(errno.EREMOTEIO, "Remote I/O error") from None

    def read_word_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        # First byte on the wire is the chip's MSB; SMBus puts it in the low byte.
        return swap16(self._device(i2c_addr).read_register(register))

    def write_word_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        # SMBus sends the low byte first; the chip takes the first byte as its MSB.
        self._device(i2c_addr).write_register(register, swap16(value & 0xFFFF))

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> FakeSMBus:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
