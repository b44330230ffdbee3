"""The `[power]` section of the facility file, with safe defaults when it is absent.

Every key is optional; the defaults are these:

[power]
chemistry = "lead-acid"      # or "lifepo4"
capacity_ah = 40
shunt_ohms = 0.1             # the common INA219 breakout's R100 shunt, +/-3.2 A; a 10 mOhm
max_current_a = 3.2          # external shunt (reference 100 Wp install) is 0.01 and 10
lead = "appliance"           # where the shunt is: "battery" (its + lead: sees the charge and
                             # the draw) or "appliance" (after LOAD +: the draw only, so the
                             # voltage decides); default "appliance" for a board's shunt
                             # (>= 0.05 ohm cannot carry a panel's charge), else "battery"
bus_number = 1               # /dev/i2c-1
address = 0x40
invert = false               # true for a shunt wired the other way round
sample_s = 5                 # sensor read period
batch_s = 60                 # how often aggregates are written (one transaction)
grace_s = 120                # countdown between the decision and the poweroff (>= 60)
min_free_percent = 5         # below this much free space on the data folder, old power and
                             # outbox history is pruned (appliance/store/pruning.py)
max_draw_a = 2               # the appliance's highest plausible draw from the battery: a
                             # discharge above it for 15 min names a wrong shunt value
default_draw_a = 0.8         # the blind estimate's least draw until one was measured in the
                             # dark (by day a panel hides part of the load)

[power.thresholds]           # overrides of Thresholds.for_chemistry(chemistry), e.g.
# v_low = 11.5               # stop the services (low-power wait) below this
# v_critical = 11.15         # power off below this (just above the controller's LVD); not
                             # below 11.0 (lead-acid) or 12.0 (LiFePO4), the usual LVDs
# soc_resume = 40            # services back once charging and at this charge
# v_resume = 13.0            # ... or at this voltage held v_resume_s, when the current is unusable
# blind_retry_s = 72000      # sensor lost in the wait: services back after this long (by a
                             # trusted clock at the next 11:00 UTC after it)

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
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.facility_file import read_section
from power.battery import Chemistry
from power.errors import ConfigurationError
from power.ina219 import (
    DEFAULT_ADDRESS,
    DEFAULT_BUS_NUMBER,
    DEFAULT_MAX_CURRENT_A,
    DEFAULT_SHUNT_OHMS,
)
from power.plausibility import Lead
from power.policy import ShutdownPolicy, Thresholds
from power.shutdown import WaitOptions, wait_options

MIN_GRACE_S = 60.0
I2C_PINS = (2, 3)  # SDA and SCL of /dev/i2c-1, where the INA219 is
# A shunt this large is a breakout board's own (0.1 ohm: 3.2 A at most), which cannot carry a
# 100 Wp panel's ~6 A charge: it sits in the appliance's lead unless the file says otherwise.
BOARD_SHUNT_OHMS = 0.05
MAX_FREE_PERCENT = 50.0  # above, the history would go whenever the card is half full
# The lowest critical level per chemistry: the usual low-voltage disconnect of the charge
# controllers (lead-acid 11.0-11.1 V, LiFePO4 settings 12.0 V). Below it the controller would
# cut the Pi before the poweroff.
V_CRITICAL_FLOOR = {Chemistry.LEAD_ACID: 11.0, Chemistry.LIFEPO4: 12.0}


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
    shunt_ohms: float = DEFAULT_SHUNT_OHMS
    max_current_a: float = DEFAULT_MAX_CURRENT_A
    lead: Lead | None = None  # None: from the shunt (see BOARD_SHUNT_OHMS)
    bus_number: int = DEFAULT_BUS_NUMBER
    address: int = DEFAULT_ADDRESS
    invert: bool = False
    sample_s: float = 5.0
    batch_s: float = 60.0
    grace_s: float = 120.0
    min_free_percent: float = 5.0
    max_draw_a: float = 2.0
    default_draw_a: float = 0.8
    threshold_overrides: dict[str, float] = field(default_factory=dict)
    gpio: GpioPins = field(default_factory=GpioPins)
    wait: WaitOptions = field(default_factory=WaitOptions)  # [power.wait]

    def __post_init__(self) -> None:
        for name in (
            "capacity_ah",
            "shunt_ohms",
            "max_current_a",
            "sample_s",
            "batch_s",
            "max_draw_a",
            "default_draw_a",
        ):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"[power] {name} must be positive")
        if self.grace_s < MIN_GRACE_S:
            raise ConfigurationError(f"[power] grace_s must be at least {MIN_GRACE_S:g} s")
        if not 0 <= self.min_free_percent <= MAX_FREE_PERCENT:
            raise ConfigurationError(
                f"[power] min_free_percent must be between 0 and {MAX_FREE_PERCENT:g}"
            )
        if self.default_draw_a > self.max_draw_a:
            raise ConfigurationError("[power] default_draw_a must not exceed max_draw_a")
        self.thresholds()  # fail at load time, not at the first low battery

    def thresholds(self, chemistry: Chemistry | None = None) -> Thresholds:
        chemistry = Chemistry(chemistry or self.chemistry)
        base = Thresholds.for_chemistry(chemistry)
        if not self.threshold_overrides:
            return base
        over = dict(self.threshold_overrides)
        floor = V_CRITICAL_FLOOR[chemistry]
        why = (
            f"{floor:.1f} V is the usual low-voltage disconnect of {chemistry} charge controllers:"
            " the controller would cut the Pi first"
        )
        if "v_critical" in over and over["v_critical"] < floor:
            raise ConfigurationError(
                f"[power.thresholds] v_critical = {over['v_critical']:g} V is below {floor:.1f} V;"
                f" {why}"
            )
        # Files written before the critical and resume levels existed stay valid: a level
        # the file does not set follows the ones it does, never below the disconnect.
        v_low = over.get("v_low", base.v_low)
        soc_low = over.get("soc_low", base.soc_low)
        if "v_critical" not in over:
            derived = max(floor, min(base.v_critical, round(v_low - 0.1, 3)))
            if derived >= v_low:
                raise ConfigurationError(
                    f"[power.thresholds] v_low = {v_low:g} V leaves no room for the critical"
                    f" level, which may not go below {floor:.1f} V: {why}"
                )
            over["v_critical"] = derived
        over.setdefault("soc_critical", min(base.soc_critical, soc_low / 3))
        over.setdefault("soc_resume", min(100.0, max(base.soc_resume, soc_low + 10)))
        try:
            return dataclasses.replace(base, **over)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"[power.thresholds]: {exc}") from None

    @property
    def shunt_lead(self) -> Lead:
        """Where the shunt is: as the file says, else inferred from the shunt's value."""
        if self.lead is not None:
            return self.lead
        return Lead.APPLIANCE if self.shunt_ohms >= BOARD_SHUNT_OHMS else Lead.BATTERY

    def policy(self, thresholds: Thresholds | None = None) -> ShutdownPolicy:
        """The shutdown policy this installation calls for (`thresholds`: others than the
        file's, as a simulation may be given)."""
        return ShutdownPolicy(
            thresholds or self.thresholds(),
            chemistry=self.chemistry,
            capacity_ah=self.capacity_ah,
            max_draw_a=self.max_draw_a,
            default_draw_a=self.default_draw_a,
            shunt_ohms=self.shunt_ohms,
            lead=self.shunt_lead,
        )


_THRESHOLD_FIELDS = {f.name for f in dataclasses.fields(Thresholds)}


def _number(section: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"[{section}] {key} must be a number, got {value!r}")
    return float(value)


def _flag(section: str, key: str, value: Any) -> bool:
    # bool("false") is True: a quoted "false" must not turn the shunt round
    if not isinstance(value, bool):
        raise ConfigurationError(f"[{section}] {key} must be true or false, got {value!r}")
    return value


def _pin(key: str, value: Any) -> int | None:
    if value is False or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 27:
        raise ConfigurationError(f"[power.gpio] {key} must be a BCM pin 1-27 (0: none)")
    if value in I2C_PINS:
        raise ConfigurationError(
            f"[power.gpio] {key} = {value}: GPIO 2 and 3 are the I2C bus of the INA219"
        )
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
        "max_draw_a",
        "default_draw_a",
    ):
        if key in data:
            kw[key] = _number("power", key, data.pop(key))
    for key in ("bus_number", "address"):
        if key in data:
            value = data.pop(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(f"[power] {key} must be a whole number, 0 or more")
            kw[key] = value
    if "lead" in data:
        try:
            kw["lead"] = Lead(data.pop("lead"))
        except ValueError:
            known = ", ".join(f'"{lead.value}"' for lead in Lead)
            raise ConfigurationError(f"[power] lead: expected one of {known}") from None
    if "invert" in data:
        kw["invert"] = _flag("power", "invert", data.pop("invert"))
    overrides = data.pop("thresholds", {}) or {}
    unknown = set(overrides) - _THRESHOLD_FIELDS
    if unknown:
        raise ConfigurationError(f"[power.thresholds] unknown keys: {', '.join(sorted(unknown))}")
    for k, v in overrides.items():
        if k == "n_consecutive" and (isinstance(v, bool) or not isinstance(v, int)):
            raise ConfigurationError("[power.thresholds] n_consecutive must be an integer")
    kw["threshold_overrides"] = {
        k: v if k == "n_consecutive" else _number("power.thresholds", k, v)
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
            pins[key] = _flag("power.gpio", key, value)
        else:
            raise ConfigurationError(f"[power.gpio] unknown key {key!r}")
    used = [p for k, p in pins.items() if k not in ("hold_s", "active_high") and p]
    if len(used) != len(set(used)):
        raise ConfigurationError("[power.gpio] two parts on the same pin")
    kw["gpio"] = GpioPins(**pins)
    wait = data.pop("wait", {}) or {}
    if not isinstance(wait, dict):
        raise ConfigurationError("[power] wait must be a table ([power.wait])")
    kw["wait"] = wait_options(wait)
    if data:
        raise ConfigurationError(f"[power] unknown keys: {', '.join(sorted(data))}")
    return PowerConfig(**kw)


def load(facility_file: Path) -> PowerConfig:
    """The `[power]` section of the facility file; defaults when the file or section is absent."""
    return from_mapping(read_section(facility_file, "power", error=ConfigurationError))
