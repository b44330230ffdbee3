"""The `[power]` section of the facility file, with safe defaults when it is absent.

Every key is optional; the defaults are these:

[power]
chemistry = "lead-acid"      # or "lifepo4"
capacity_ah = 40
shunt_ohms = 0.01            # the reference install: 10 mOhm shunt, +/-10 A
max_current_a = 10
bus_number = 1               # /dev/i2c-1
address = 0x40
invert = false               # true for a shunt wired the other way round
sample_s = 5                 # sensor read period
batch_s = 60                 # how often aggregates are written (one transaction)
grace_s = 120                # countdown between the decision and the poweroff (>= 60)
min_free_percent = 5         # below this much free space on the data folder, old power and
                             # outbox history is pruned (appliance/store/pruning.py)

[power.thresholds]           # overrides of Thresholds.for_chemistry(chemistry), e.g.
# v_low = 11.5

[power.gpio]                 # BCM pin numbers; 0 or false leaves a part out
red = 17
green = 27
blue = 22
button = 26
buzzer = 0
hold_s = 3                   # how long the button is held to ask for a shutdown
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.facility_file import read_section
from power.battery import Chemistry
from power.errors import ConfigurationError
from power.ina219 import DEFAULT_ADDRESS, DEFAULT_BUS_NUMBER
from power.policy import Thresholds

MIN_GRACE_S = 60.0
MAX_FREE_PERCENT = 50.0  # above, the history would go whenever the card is half full


@dataclass(frozen=True, slots=True, kw_only=True)
class GpioPins:
    """BCM numbers. GPIO 2 and 3 are the I2C bus of the INA219, so the button is not on 3
    (the usual wake-from-halt pin) but on 26."""

    red: int | None = 17
    green: int | None = 27
    blue: int | None = 22
    button: int | None = 26
    buzzer: int | None = None
    hold_s: float = 3.0
    active_high: bool = True  # common-cathode RGB LED

    def pins(self) -> list[int]:
        return [p for p in (self.red, self.green, self.blue, self.button, self.buzzer) if p]


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerConfig:
    chemistry: Chemistry = Chemistry.LEAD_ACID
    capacity_ah: float = 40.0
    shunt_ohms: float = 0.01
    max_current_a: float = 10.0
    bus_number: int = DEFAULT_BUS_NUMBER
    address: int = DEFAULT_ADDRESS
    invert: bool = False
    sample_s: float = 5.0
    batch_s: float = 60.0
    grace_s: float = 120.0
    min_free_percent: float = 5.0
    threshold_overrides: dict[str, float] = field(default_factory=dict)
    gpio: GpioPins = field(default_factory=GpioPins)

    def __post_init__(self) -> None:
        for name in ("capacity_ah", "shunt_ohms", "max_current_a", "sample_s", "batch_s"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"[power] {name} must be positive")
        if self.grace_s < MIN_GRACE_S:
            raise ConfigurationError(f"[power] grace_s must be at least {MIN_GRACE_S:g} s")
        if not 0 <= self.min_free_percent <= MAX_FREE_PERCENT:
            raise ConfigurationError(
                f"[power] min_free_percent must be between 0 and {MAX_FREE_PERCENT:g}"
            )
        self.thresholds()  # fail at load time, not at the first low battery

    def thresholds(self, chemistry: Chemistry | None = None) -> Thresholds:
        base = Thresholds.for_chemistry(chemistry or self.chemistry)
        if not self.threshold_overrides:
            return base
        try:
            return dataclasses.replace(base, **self.threshold_overrides)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"[power.thresholds]: {exc}") from None


_THRESHOLD_FIELDS = {f.name for f in dataclasses.fields(Thresholds)}


def _number(section: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"[{section}] {key} must be a number, got {value!r}")
    return float(value)


def _pin(key: str, value: Any) -> int | None:
    if value is False or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 27:
        raise ConfigurationError(f"[power.gpio] {key} must be a BCM pin 1-27 (0: none)")
    return value


def from_mapping(section: dict[str, Any]) -> PowerConfig:
    """A PowerConfig from the parsed `[power]` table."""
    data = dict(section)
    kw: dict[str, Any] = {}
    if "chemistry" in data:
        try:
            kw["chemistry"] = Chemistry(data.pop("chemistry"))
        except ValueError:
            known = ", ".join(c.value for c in Chemistry)
            raise ConfigurationError(f"[power] chemistry: expected one of {known}") from None
    for key in (
        "capacity_ah",
        "shunt_ohms",
        "max_current_a",
        "sample_s",
        "batch_s",
        "grace_s",
        "min_free_percent",
    ):
        if key in data:
            kw[key] = _number("power", key, data.pop(key))
    for key in ("bus_number", "address"):
        if key in data:
            value = data.pop(key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigurationError(f"[power] {key} must be an integer")
            kw[key] = value
    if "invert" in data:
        kw["invert"] = bool(data.pop("invert"))
    overrides = data.pop("thresholds", {}) or {}
    unknown = set(overrides) - _THRESHOLD_FIELDS
    if unknown:
        raise ConfigurationError(f"[power.thresholds] unknown keys: {', '.join(sorted(unknown))}")
    kw["threshold_overrides"] = {
        k: int(v) if k == "n_consecutive" else _number("power.thresholds", k, v)
        for k, v in overrides.items()
    }
    gpio = data.pop("gpio", {}) or {}
    pins: dict[str, Any] = {}
    for key, value in gpio.items():
        if key in ("red", "green", "blue", "button", "buzzer"):
            pins[key] = _pin(key, value)
        elif key == "hold_s":
            pins[key] = _number("power.gpio", key, value)
        elif key == "active_high":
            pins[key] = bool(value)
        else:
            raise ConfigurationError(f"[power.gpio] unknown key {key!r}")
    kw["gpio"] = GpioPins(**pins)
    if data:
        raise ConfigurationError(f"[power] unknown keys: {', '.join(sorted(data))}")
    return PowerConfig(**kw)


def load(facility_file: Path) -> PowerConfig:
    """The `[power]` section of the facility file; defaults when the file or section is absent."""
    return from_mapping(read_section(facility_file, "power", error=ConfigurationError))
