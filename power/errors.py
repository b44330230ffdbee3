"""Exceptions of the power package.

Every exception derives from :class:`PowerError` and also from the built-in a
caller would naturally catch, so ``except OSError`` around a sensor read still
sees a :class:`SensorFault`.
"""

from __future__ import annotations


class PowerError(Exception):
    """Base class of every error raised by :mod:`power`."""


class SensorFault(PowerError, IOError):
    """The sensor could not produce a trustworthy reading.

    Raised after retries are exhausted (bus errors, persistent overflow,
    inconsistent or frozen registers). A fault is never reported as a zero
    reading: callers must treat it as "unknown", not as "no current".
    """


class SensorMissing(SensorFault, FileNotFoundError):
    """The I2C bus itself is absent (no ``/dev/i2c-N``: I2C not enabled, or no Pi at all, as
    under qemu). Not retried at once: the driver tries to open the bus again a minute later."""


class DeviceBusy(PowerError, RuntimeError):
    """The (bus, address) pair is already claimed by another driver in this process."""


class ConfigurationError(PowerError, ValueError):
    """Parameters that cannot work together (shunt, range, calibration...)."""


class CurrentOverflow(SensorFault):
    """The current overflowed on every attempt (OVF) while the bus voltage read steadily.

    ``bus_v`` is that voltage: the current is unusable (a shunt or range too small for the
    real current, or the shunt value in `[power]` wrong) but the battery voltage is still
    known, so the policy can fall back on voltage-only thresholds.
    """

    def __init__(self, message: str, *, bus_v: float) -> None:
        super().__init__(message)
        self.bus_v = bus_v
