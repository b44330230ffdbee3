"""The small interface the rest of Keneya reads power through.

``PowerSensor`` is what the daemon depends on; :class:`Ina219Sensor` adapts the
INA219 driver to it. In the simulator the same adapter runs over a fake SMBus,
so everything above the register map is the production code.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol, runtime_checkable

from power.errors import CurrentOverflow, SensorFault
from power.ina219 import (
    DEFAULT_ADDRESS,
    DEFAULT_BUS_NUMBER,
    DEFAULT_MAX_CURRENT_A,
    DEFAULT_SHUNT_OHMS,
    Ina219,
    Reading,
    SMBusLike,
)

__all__ = ["CurrentOverflow", "Ina219Sensor", "PowerSensor", "Reading", "SensorFault"]


@runtime_checkable
class PowerSensor(Protocol):
    """Battery voltage and current. ``read`` raises :class:`SensorFault`, never returns junk;
    :class:`CurrentOverflow` (a SensorFault) carries the bus voltage when only the current
    overflowed.

    Sign convention: ``current_a`` > 0 charges the battery, < 0 discharges it.
    """

    def read(self) -> Reading: ...

    def close(self) -> None: ...


class Ina219Sensor:
    """:class:`PowerSensor` over an :class:`Ina219`.

    Adds what one register read cannot see: a chip whose registers stop
    changing. Real readings carry ADC noise, so ``stuck_after`` identical
    readings in a row (default 60, i.e. 30-60 minutes at the usual sampling
    period) raise :class:`SensorFault`; ``None`` disables the check.
    ``invert`` flips the sign for a shunt wired the other way round.
    """

    def __init__(
        self, device: Ina219, *, stuck_after: int | None = 60, invert: bool = False
    ) -> None:
        if stuck_after is not None and stuck_after < 2:
            raise ValueError("stuck_after must be at least 2")
        self.device = device
        self.stuck_after = stuck_after
        self.invert = invert
        self._last: tuple[float, float, float, float] | None = None
        self._same = 0

    @classmethod
    def open(
        cls,
        bus: SMBusLike | None = None,
        *,
        bus_number: int = DEFAULT_BUS_NUMBER,
        address: int = DEFAULT_ADDRESS,
        shunt_ohms: float = DEFAULT_SHUNT_OHMS,
        max_current_a: float = DEFAULT_MAX_CURRENT_A,
        retries: int = 3,
        stuck_after: int | None = 60,
        invert: bool = False,
    ) -> Ina219Sensor:
        device = Ina219(
            bus,
            bus_number=bus_number,
            address=address,
            shunt_ohms=shunt_ohms,
            max_current_a=max_current_a,
            retries=retries,
        )
        return cls(device, stuck_after=stuck_after, invert=invert)

    def read(self) -> Reading:
        reading = self.device.read()
        values = (reading.bus_v, reading.shunt_mv, reading.current_a, reading.power_w)
        self._same = self._same + 1 if values == self._last else 1
        self._last = values
        if self.stuck_after is not None and self._same >= self.stuck_after:
            raise SensorFault(f"INA219 readings unchanged for {self._same} reads (frozen chip?)")
        if self.invert:
            reading = replace(reading, shunt_mv=-reading.shunt_mv, current_a=-reading.current_a)
        return reading

    @property
    def chip_resets(self) -> int:
        """How often the chip lost its calibration (brown-out) and was reprogrammed."""
        return self.device.reprogrammed

    def close(self) -> None:
        self.device.close()

    def __enter__(self) -> Ina219Sensor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
