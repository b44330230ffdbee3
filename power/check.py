"""`keneya power check`: the technician's test of the INA219 at installation.

Reads the sensor once a second for about 30 s (the chip on `[power]` bus_number/address, or a
simulated installation), then says in plain words, French first, what it sees, the shunt and
wiring it infers, what looks wrong and exactly what to change in `[power]` or in the wiring.
Exit 0 when all is well, 1 when something must be changed, 2 for unusable input, 3 when
nothing could be verified.

In the battery lead the shunt sees the panel's charge as well as the appliance's draw, and a
fading or weak panel covering part of the load makes any reading of the appliance's size
ambiguous (a small charge even keeps the voltage near rest). So what the sun could explain is
judged only when the technician says the panel gives nothing (``--no-sun``); without it, only
evidence the sun cannot explain is certain (a discharge at a voltage only a charger gives, a
discharge above the appliance's highest draw, a charge no 100 Wp panel gives, a clipped
reading), and the rest is "not verified" (exit 3).

:func:`collect` talks to the chip only through the driver's public calls; :func:`analyse` is
pure, so every wiring fault is a test on the fake bus.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from appliance.cli.common import emit, json_option, paths
from power.battery import Chemistry
from power.config import BOARD_SHUNT_OHMS
from power.errors import ConfigurationError, SensorFault
from power.ina219 import (
    BUS_CNVR,
    BUS_OVF,
    POWER_ON_CONFIG,
    REG_CALIBRATION,
    REG_CONFIG,
    Ina219,
    RawRegisters,
    SMBusLike,
    calibration_for,
    choose_current_lsb,
    decode,
    smallest_gain,
    to_signed16,
)
from power.plausibility import (
    CHARGE_LEVEL_V,
    DISCHARGE_AT_CHARGE_LEVEL_A,
    MIN_APPLIANCE_DRAW_A,
    V_PLAUSIBLE,
    Lead,
)
from power.sim.scenarios import SCENARIOS, Scenario

if TYPE_CHECKING:
    from power.config import PowerConfig

DEFAULT_SECONDS = 30
# The appliance alone (Pi, screen, 3G stick through a 5 V converter) draws this much at 12 V.
APPLIANCE_DRAW_A = (0.15, 1.5)
# A current read with the configured shunt is accepted as the appliance's draw from the
# monitor's own floor (MIN_APPLIANCE_DRAW_A) to [power] max_draw_a, as keneya-power judges it:
# the slack keeps a busy or an idle Pi from passing for a wrong shunt (a wrong one is 10x off).
NO_CURRENT_MV = 0.1  # below this across the shunt, nothing flows (50 mA even on 2 mOhm)
GOOD_READS_NEEDED = 5
BAD_FRACTION = 0.1  # more inconsistent reads than this is a line problem, not chance
# Identical register sets in a row with no conversion-ready flag: a chip that converts sets
# CNVR again within 136 ms of the last read (two 128-sample conversions), and these reads are
# a second apart. Identical values alone prove nothing: a steady load on 128-sample averaging
# can read the same for seconds.
FROZEN_AFTER = 10
# The most a 100 Wp panel puts into a 12 V battery: 100 W / 12 V through an MPPT controller at
# ~95 % is about 8 A (a PWM controller passes the panel's ~6 A short-circuit current at most).
PANEL_MAX_A = 9.0
# A discharge this many times [power] max_draw_a is not the appliance, whatever the sun does
# (the sun only reduces a discharge): the slack keeps a busy Pi's peak from counting.
FAR_ABOVE_DRAW = 1.5
PGA_NAMES = {40.0: "/1", 80.0: "/2", 160.0: "/4", 320.0: "/8"}
EXIT_OK, EXIT_FIX, EXIT_UNUSABLE, EXIT_NOT_VERIFIED = 0, 1, 2, 3
NO_SUN_RUN = "sudo keneya power check --no-sun"


@dataclass(frozen=True, slots=True)
class Shunt:
    ohms: float
    max_current_a: float
    fr: str
    en: str


# The shunt values found on INA219 installations, with the [power] max_current_a that goes with
# each (what the 320 mV PGA range allows, rounded to what a 100 Wp system needs).
STANDARD_SHUNTS = (
    Shunt(0.1, 3.2, "le R100 de la carte INA219 courante", "the common INA219 board's R100"),
    Shunt(0.01, 10.0, "un shunt externe de 10 mΩ", "a 10 mOhm external shunt"),
    Shunt(0.002, 20.0, "un shunt externe de 2 mΩ", "a 2 mOhm external shunt"),
)
BATTERY_LEAD = next(s for s in STANDARD_SHUNTS if s.ohms == 0.01)


# A battery charging at the appliance's current stays above this (lead-acid: about 80 % at
# rest; LiFePO4: about 20 %, its curve is flat above).
REST_LEVEL_V = {Chemistry.LEAD_ACID: 12.6, Chemistry.LIFEPO4: 12.8}


def _levels(chemistry: Chemistry) -> tuple[float, float]:
    """(charge level, rest level): above the first the battery is being charged (the monitor's
    own figure); below the second a steady positive current of the appliance's size is its
    draw read backwards."""
    return CHARGE_LEVEL_V.get(chemistry, 13.3), REST_LEVEL_V.get(chemistry, 12.6)


# -- collecting -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One second of the check: the data registers, the config and calibration read back."""

    t_s: float
    raw: RawRegisters | None = None
    config_word: int | None = None
    calibration: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Probe:
    """Everything read from the bus, nothing judged yet."""

    source: str
    bus_number: int
    address: int
    missing_bus: bool = False
    open_error: str | None = None
    answered: bool = True
    configure_error: str | None = None
    others: tuple[int, ...] = ()  # other addresses 0x40-0x4F that answer
    config_word: int = 0
    calibration: int = 0
    current_lsb_a: float = 0.0
    range_mv: float = 320.0  # the PGA range programmed for this [power]
    samples: tuple[Sample, ...] = ()


def collect(
    bus: SMBusLike,
    cfg: PowerConfig,
    *,
    seconds: int = DEFAULT_SECONDS,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    source: str = "ina219",
) -> Probe:
    """Program the chip as keneya-power does and read it once a second for ``seconds``.

    A chip found back at its power-on settings is counted and programmed again, so the rest
    of the check still measures. Raises ConfigurationError for a [power] that cannot work."""
    base = {"source": source, "bus_number": cfg.bus_number, "address": cfg.address}
    device = Ina219(
        bus,
        address=cfg.address,
        shunt_ohms=cfg.shunt_ohms,
        max_current_a=cfg.max_current_a,
        sleep=sleep,
    )
    programmed = {
        "config_word": device.config.encode(),
        "calibration": device.calibration,
        "current_lsb_a": device.current_lsb_a,
        "range_mv": device.config.gain.range_v * 1000,
    }
    try:
        try:
            device.configure()
        except SensorFault as exc:
            try:
                device.read_register(REG_CONFIG)
            except SensorFault:
                return Probe(**base, answered=False, others=_answering(bus, cfg.address))
            return Probe(**base, **programmed, configure_error=str(exc))
        samples = []
        for i in range(seconds):
            if i:
                sleep(1.0)
            samples.append(_sample(device, clock()))
        return Probe(**base, **programmed, samples=tuple(samples))
    finally:
        device.close()


def _sample(device: Ina219, t_s: float) -> Sample:
    try:
        config_word = device.read_register(REG_CONFIG)
        calibration = device.read_register(REG_CALIBRATION)
        raw = device.read_raw()
    except OSError as exc:  # SensorFault is an OSError too
        return Sample(t_s, error=str(exc))
    if (config_word, calibration) != (device.config.encode(), device.calibration):
        with contextlib.suppress(SensorFault):
            device.configure()  # so that the next seconds measure again
    return Sample(t_s, raw, config_word, calibration)


def _answering(bus: SMBusLike, skip: int) -> tuple[int, ...]:
    found = []
    for address in range(0x40, 0x50):
        if address == skip:
            continue
        other = Ina219(bus, address=address, retries=0, sleep=lambda s: None)
        try:
            other.read_register(REG_CONFIG)
            found.append(address)
        except SensorFault:
            pass
        finally:
            other.close()
    return tuple(found)


def workable(cfg: PowerConfig) -> None:
    """Raise ConfigurationError (exit 2) for a [power] no INA219 can be programmed with, before
    any wire is looked at."""
    if not 0x40 <= cfg.address <= 0x4F:
        raise ConfigurationError(f"[power] address must be 0x40-0x4F, got {cfg.address:#x}")
    try:
        calibration_for(cfg.shunt_ohms, choose_current_lsb(cfg.max_current_a))
        smallest_gain(cfg.max_current_a * cfg.shunt_ohms)
    except ConfigurationError as exc:
        most = 0.32 / cfg.shunt_ohms
        raise ConfigurationError(
            f"[power] shunt_ohms = {cfg.shunt_ohms:g} with max_current_a ="
            f" {cfg.max_current_a:g}: {exc} (with this shunt, max_current_a = {most:g} at"
            " most)"
        ) from None


def collect_hardware(
    cfg: PowerConfig, *, seconds: int = DEFAULT_SECONDS, dev_dir: Path = Path("/dev")
) -> Probe:
    """The real INA219 on /dev/i2c-<bus_number>."""
    workable(cfg)
    base = {"source": "ina219", "bus_number": cfg.bus_number, "address": cfg.address}
    if not (dev_dir / f"i2c-{cfg.bus_number}").exists():
        return Probe(**base, missing_bus=True, answered=False)
    import smbus2  # deferred: the simulator and the tests do without the I2C stack

    try:
        bus = smbus2.SMBus(cfg.bus_number)
    except OSError as exc:
        return Probe(**base, answered=False, open_error=f"{exc.strerror or exc}")
    try:
        return collect(bus, cfg, seconds=seconds)
    finally:
        bus.close()


def simulated(
    scenario: Scenario, cfg: PowerConfig, *, seconds: int = DEFAULT_SECONDS
) -> tuple[Probe, PowerConfig]:
    """The scenario's installation at its own time, one simulated second per read (instant).
    Its board and its [power] values stand for the facility's (its shunt sits in the battery
    lead)."""
    cfg = dataclasses.replace(
        cfg,
        lead=None,
        shunt_ohms=scenario.shunt_ohms,
        max_current_a=scenario.max_current_a,
        address=scenario.address,
        invert=False,  # a scenario wires its shunt backwards in the physics, not in the file
        chemistry=scenario.battery.chemistry,
    )
    with scenario.build() as rig:
        # The model's first step has not run yet at its start (no current): the installation
        # has been running for one step when the technician arrives.
        rig.clock.advance(rig.model.step_s)
        hour = rig.clock.now % 86400 / 3600
        probe = collect(
            rig.bus,
            cfg,
            seconds=seconds,
            sleep=rig.clock.advance,
            clock=rig.clock,
            source=f"simulator:{scenario.name}@{int(hour):02d}:{int(hour % 1 * 60):02d}",
        )
    return probe, cfg


# -- judging ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """Something wrong ("fix": exit 1), something that could not be verified ("unverified":
    exit 3 when nothing is to fix) or a remark ("note"), in both languages, with the [power]
    values to set (``power``) and whether wires must move (``wiring``)."""

    code: str
    severity: str
    fr: str
    en: str
    fault: str | None = None  # the monitor's name for it (power.plausibility Fault)
    power: dict[str, Any] = field(default_factory=dict)
    wiring: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "fault": self.fault,
            "message_fr": self.fr,
            "message_en": self.en,
            "power": self.power,
            "wiring": self.wiring,
        }


@dataclass
class Report:
    probe: Probe
    cfg: PowerConfig
    findings: list[Finding] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)
    inferred: dict[str, Any] = field(default_factory=dict)
    no_sun: bool = False  # the technician says the panel gives nothing (--no-sun)
    simulated: str | None = None  # the scenario's name under --simulate

    @property
    def exit_code(self) -> int:
        if any(f.severity == "fix" for f in self.findings):
            return EXIT_FIX
        if any(f.severity == "unverified" for f in self.findings):
            return EXIT_NOT_VERIFIED
        return EXIT_OK

    @property
    def change(self) -> dict[str, Any]:
        """The [power] values to set, those that differ from the file's (the lead compared
        with the one the monitor infers when the file does not say)."""
        out: dict[str, Any] = {}
        for f in self.findings:
            for key, value in f.power.items():
                now = self.cfg.shunt_lead if key == "lead" else getattr(self.cfg, key)
                if now != value:
                    out[key] = value
        return out

    def fix(self, code: str, fr: str, en: str, **kw: Any) -> None:
        self.findings.append(Finding(code, "fix", fr, en, **kw))

    def note(self, code: str, fr: str, en: str, **kw: Any) -> None:
        self.findings.append(Finding(code, "note", fr, en, **kw))

    def unverified(self, code: str, fr: str, en: str, **kw: Any) -> None:
        self.findings.append(Finding(code, "unverified", fr, en, **kw))

    def to_dict(self) -> dict[str, Any]:
        p, c = self.probe, self.cfg
        return {
            "ok": self.exit_code == 0,
            "exit_code": self.exit_code,
            "source": p.source,
            "bus_number": p.bus_number,
            "address": f"{p.address:#04x}",
            "config": {
                "shunt_ohms": c.shunt_ohms,
                "max_current_a": c.max_current_a,
                "invert": c.invert,
                "chemistry": str(getattr(c.chemistry, "value", c.chemistry)),
            },
            "reads": len(p.samples),
            "no_sun": self.no_sun,
            "simulated": self.simulated,
            "measured": self.measured,
            "inferred": self.inferred,
            "findings": [f.to_dict() for f in self.findings],
            "change": self.change,
            "change_lines": [toml_line(k, v) for k, v in self.change.items()],
        }

    def text(self, lang: str = "fr", facility_file: Path | None = None) -> str:
        return render(self, lang, facility_file)


def toml_line(key: str, value: Any) -> str:
    """A [power] line as TOML wants it (decimal point in every language)."""
    if key == "address":
        return f"address = {value:#04x}"
    if isinstance(value, str):
        return f'{key} = "{value}"'
    if isinstance(value, bool):
        return f"{key} = {str(value).lower()}"
    return f"{key} = {value:g}"


def _power_lines(power: dict[str, Any]) -> str:
    return ", ".join(toml_line(k, v) for k, v in power.items())


@dataclass(frozen=True, slots=True)
class _Read:
    """A sample in units, with the current as keneya-power will see it ([power] invert)."""

    bus_v: float
    shunt_mv: float
    current_a: float
    power_w: float
    overflow: bool
    shunt_at_limit: bool
    current_saturated: bool


def analyse(
    probe: Probe, cfg: PowerConfig, *, no_sun: bool = False, simulated: str | None = None
) -> Report:
    """Judge the reads. ``no_sun``: the technician says the panel gives nothing now (panel
    disconnected or dark night), so every current is the appliance's own draw."""
    report = Report(probe, cfg, no_sun=no_sun, simulated=simulated)
    if not _reachable(report):
        return report
    samples = probe.samples
    errors = [s for s in samples if s.error]
    resets = [s for s in samples if (s.config_word, s.calibration) == (POWER_ON_CONFIG, 0)]
    programmed = (probe.config_word, probe.calibration)
    settled = [s for s in samples if s.raw and (s.config_word, s.calibration) == programmed]
    misread = [s for s in samples if s.raw and s not in settled and s not in resets]
    power_bad = [s for s in settled if not _power_agrees(s.raw)]
    current_bad = [s for s in settled if not _current_agrees(s.raw, probe.calibration)]
    good = [s for s in settled if s not in power_bad and s not in current_bad]
    n = len(samples)
    report.measured = {
        "reads": n,
        "good_reads": len(good),
        "failed_reads": len(errors),
        "resets": len(resets),
        "inconsistent_reads": {
            "power": len(power_bad),
            "current": len(current_bad),
            "settings": len(misread),
        },
    }
    if errors:
        report.fix(
            "io_errors",
            f"{len(errors)} lectures sur {n} ont échoué (erreur I2C) : faux contact sur SDA, SCL,"
            " 3,3 V ou GND. Refaites ces connexions (soudées ou serties), fils courts.",
            f"{len(errors)} of {n} reads failed (I2C error): a loose SDA, SCL, 3.3 V or GND"
            " wire. Redo these connections (soldered or crimped), short wires.",
            fault="sensor_lost",
            wiring=True,
        )
    if resets:
        report.fix(
            "chip_reset",
            f"L'INA219 a perdu ses réglages {len(resets)} fois pendant le test (configuration"
            f" revenue à {POWER_ON_CONFIG:#06x}, calibration 0) : son alimentation chute. VCC"
            " sur le 3,3 V du Pi (broche 1), GND sur une masse du Pi (broche 6), fils courts"
            " et bien serrés.",
            f"The INA219 lost its settings {len(resets)} times during the check (configuration"
            f" back at {POWER_ON_CONFIG:#06x}, calibration 0): its supply drops. VCC on the"
            " Pi's 3.3 V (pin 1), GND on a Pi ground (pin 6), short, firm wires.",
            fault="chip_reset",
            wiring=True,
        )
    bad = len(power_bad) + len(current_bad) + len(misread)
    if bad > max(1, BAD_FRACTION * n):
        report.fix(
            "inconsistent",
            f"{bad} lectures sur {n} ne tiennent pas ensemble (registre de puissance ≠ V × I :"
            f" {len(power_bad)} ; courant ≠ shunt × calibration : {len(current_bad)} ; réglages"
            f" relus faux : {len(misread)}) : des bits changent sur les fils I2C. SDA et SCL"
            " courts (moins de 30 cm), torsadés avec GND, loin des câbles du régulateur.",
            f"{bad} of {n} reads do not hold together (power register ≠ V × I:"
            f" {len(power_bad)}; current ≠ shunt × calibration: {len(current_bad)}; settings"
            f" read back wrong: {len(misread)}): bits change on the I2C wires. Keep SDA and SCL"
            " short (under 30 cm), twisted with GND, away from the charge controller's cables.",
            fault="implausible",
            wiring=True,
        )
    frozen = _frozen_run(good)
    if frozen >= FROZEN_AFTER:
        report.fix(
            "frozen",
            f"Les registres ne changent plus ({frozen} lectures identiques de suite) : le"
            " circuit ne mesure plus. Coupez et remettez l'alimentation ; si cela revient,"
            " changez la carte INA219.",
            f"The registers no longer change ({frozen} identical reads in a row): the chip has"
            " stopped measuring. Power it off and on; if it comes back, replace the INA219"
            " board.",
            fault="sensor_lost",
        )
        return report
    if len(good) < GOOD_READS_NEEDED:
        report.unverified(
            "too_few_reads",
            f"Seulement {len(good)} lectures valables : corrigez d'abord ce qui précède, puis"
            " relancez keneya power check.",
            f"Only {len(good)} good reads: fix the above first, then run keneya power check again.",
        )
        return report
    reads = [_units(s.raw, probe, cfg) for s in good]
    _electrical(report, reads)
    return report


def _frozen_run(samples: list[Sample]) -> int:
    """The longest run of identical register sets without a new conversion."""
    longest = run = 0
    previous = None
    for s in samples:
        assert s.raw is not None
        converted = bool(s.raw.bus & BUS_CNVR)
        run = 0 if converted else run + 1 if s.raw == previous else 1
        previous = s.raw
        longest = max(longest, run)
    return longest


def _reachable(report: Report) -> bool:
    p = report.probe
    if p.missing_bus:
        other = "" if p.bus_number == 1 else f" ([power] bus_number = {p.bus_number} ;"
        other_en = "" if p.bus_number == 1 else f" ([power] bus_number = {p.bus_number};"
        report.fix(
            "no_i2c",
            f"Pas de bus I2C {p.bus_number} (/dev/i2c-{p.bus_number} absent) : l'I2C n'est pas"
            " activé. Il faut la ligne dtparam=i2c_arm=on dans /boot/firmware/config.txt (sur"
            " l'image Keneya, elle vient de /etc/default/raspi-firmware-custom) et le module"
            " i2c-dev (sudo modprobe i2c-dev), puis redémarrez."
            + (f"{other} le bus du connecteur est 1)" if other else ""),
            f"No I2C bus {p.bus_number} (/dev/i2c-{p.bus_number} missing): I2C is not enabled."
            " It needs the line dtparam=i2c_arm=on in /boot/firmware/config.txt (on the Keneya"
            " image it comes from /etc/default/raspi-firmware-custom) and the i2c-dev module"
            " (sudo modprobe i2c-dev), then a reboot."
            + (f"{other_en} the header's bus is 1)" if other_en else ""),
            fault="sensor_lost",
        )
        return False
    if p.open_error:
        report.fix(
            "bus_open",
            f"Impossible d'ouvrir /dev/i2c-{p.bus_number} ({p.open_error}) : lancez la"
            " commande avec sudo.",
            f"Cannot open /dev/i2c-{p.bus_number} ({p.open_error}): run the command with sudo.",
            fault="sensor_lost",
        )
        return False
    wires_fr = (
        "SDA → GPIO2 (broche 3), SCL → GPIO3 (broche 5), VCC → 3,3 V (broche 1),"
        " GND → GND (broche 6)"
    )
    wires_en = "SDA → GPIO2 (pin 3), SCL → GPIO3 (pin 5), VCC → 3.3 V (pin 1), GND → GND (pin 6)"
    if not p.answered and p.others:
        found = ", ".join(f"{a:#04x}" for a in p.others)
        report.fix(
            "other_address",
            f"Rien ne répond à l'adresse {p.address:#04x}, mais un circuit répond à {found} :"
            " c'est sans doute l'INA219, ses cavaliers A0/A1 changent son adresse. Dans"
            f" [power] : address = {p.others[0]:#04x} (ou défaites les cavaliers pour"
            f" revenir à {p.address:#04x}).",
            f"Nothing answers at address {p.address:#04x}, but a device answers at {found}:"
            " most likely the INA219, its A0/A1 jumpers change its address. In [power]:"
            f" address = {p.others[0]:#04x} (or undo the jumpers to go back to"
            f" {p.address:#04x}).",
            fault="sensor_lost",
            power={"address": p.others[0]},
        )
        return False
    if not p.answered:
        report.fix(
            "no_answer",
            f"Rien ne répond sur le bus I2C {p.bus_number} (adresses 0x40 à 0x4F) : vérifiez"
            f" les fils de la carte INA219 : {wires_fr}. Ensuite i2cdetect -y {p.bus_number}"
            f" doit montrer {p.address:x}.",
            f"Nothing answers on I2C bus {p.bus_number} (addresses 0x40 to 0x4F): check the"
            f" INA219 board's wires: {wires_en}. Then i2cdetect -y {p.bus_number} must show"
            f" {p.address:x}.",
            fault="sensor_lost",
            wiring=True,
        )
        return False
    if p.configure_error and "read back" not in p.configure_error:
        report.fix(
            "io_errors",
            f"Le circuit à {p.address:#04x} répond par moments seulement ({p.configure_error})"
            f" : faux contact sur SDA, SCL, 3,3 V ou GND. Refaites ces connexions : {wires_fr}.",
            f"The device at {p.address:#04x} answers only now and then ({p.configure_error}):"
            f" a loose SDA, SCL, 3.3 V or GND wire. Redo these connections: {wires_en}.",
            fault="sensor_lost",
            wiring=True,
        )
        return False
    if p.configure_error:
        report.fix(
            "not_ina219",
            f"Un circuit répond à {p.address:#04x} mais ne garde pas les réglages d'un INA219"
            f" ({p.configure_error}). Est-ce bien un INA219 ? Si oui, des bits changent sur"
            f" les fils I2C : {wires_fr}, fils courts.",
            f"A device answers at {p.address:#04x} but does not keep an INA219's settings"
            f" ({p.configure_error}). Is it an INA219? If so, bits change on the I2C wires:"
            f" {wires_en}, short wires.",
            fault="sensor_lost",
            wiring=True,
        )
        return False
    return True


def _current_agrees(raw: RawRegisters, calibration: int) -> bool:
    """Equation 4 of the datasheet, with the driver's tolerance for a read across conversions.
    A current beyond 16 bits is held at the register's end (a too small max_current_a), which
    is a true reading of a current too large, not a changed bit."""
    expected = int(to_signed16(raw.shunt) * calibration / 4096)
    current = to_signed16(raw.current)
    if _saturated(current) and abs(expected) >= 0x7FFF - 2:
        return (current > 0) == (expected > 0)
    return abs(current - expected) <= 2 + abs(expected) // 128


def _saturated(current_counts: int) -> bool:
    return current_counts in (0x7FFF, -0x8000)


def _power_agrees(raw: RawRegisters) -> bool:
    """Equation 5: power = |current| x bus / 5000, in register counts."""
    expected = int(abs(to_signed16(raw.current)) * (raw.bus >> 3) / 5000)
    return abs(raw.power - expected) <= 2 + expected // 128


def _units(raw: RawRegisters, probe: Probe, cfg: PowerConfig) -> _Read:
    r = decode(raw, current_lsb_a=probe.current_lsb_a)
    sign = -1.0 if cfg.invert else 1.0
    limit_counts = round(probe.range_mv * 100)
    return _Read(
        bus_v=r.bus_v,
        shunt_mv=sign * r.shunt_mv,
        current_a=sign * r.current_a,
        power_w=r.power_w,
        overflow=bool(raw.bus & BUS_OVF),
        shunt_at_limit=abs(to_signed16(raw.shunt)) >= limit_counts * 0.99,
        current_saturated=_saturated(to_signed16(raw.current)),
    )


def _fmt(value: float, digits: int = 2) -> str:
    """A number in English text, and in the [power] lines in any language: decimal point."""
    return f"{value:.{digits}f}"


def _fr(value: float, digits: int = 2) -> str:
    """A number in French text: decimal comma."""
    return _fmt(value, digits).replace(".", ",")


def _gfr(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def _electrical(report: Report, reads: list[_Read]) -> None:
    cfg = report.cfg
    volts = [r.bus_v for r in reads]
    amps = [r.current_a for r in reads]
    v = statistics.median(volts)
    i = statistics.median(amps)
    mv = statistics.median(r.shunt_mv for r in reads)
    report.measured |= {
        "bus_v": round(v, 3),
        "bus_v_min": round(min(volts), 3),
        "bus_v_max": round(max(volts), 3),
        "current_a": round(i, 4),
        "current_min_a": round(min(amps), 4),
        "current_max_a": round(max(amps), 4),
        "shunt_mv": round(mv, 2),
        "power_w": round(statistics.median(r.power_w for r in reads), 2),
        "overflow_reads": sum(r.overflow or r.shunt_at_limit or r.current_saturated for r in reads),
    }
    report.inferred = {
        "battery_voltage_ok": False,
        "direction": None,
        "sign": None,
        "shunt_ohms": None,
        "shunt": None,
        "max_current_a": None,
        "appliance_draw_a": None,
        "lead": None,
    }
    if not _voltage_plausible(report, v):
        return
    report.inferred["battery_voltage_ok"] = True
    # A clipped shunt voltage or a current register held at its end is an overflow; the OVF
    # bit alone needs two reads to count (one flipped bit on a noisy line must not pass for
    # one).
    clipped = sum(r.shunt_at_limit or r.current_saturated for r in reads)
    flagged = sum(r.overflow for r in reads)
    if clipped or flagged >= 2:
        _overflow(report, max(clipped, flagged), len(reads), charging=i > 0)
        return
    _range_too_small(report)
    charge_v, _ = _levels(cfg.chemistry)
    steady_pos = sum(a > 0 for a in amps) >= 0.9 * len(amps)
    steady_neg = sum(a < 0 for a in amps) >= 0.9 * len(amps)
    flowing = abs(mv) >= NO_CURRENT_MV
    # Evidence the sun cannot explain: certain with or without --no-sun.
    if (
        flowing
        and cfg.shunt_lead is Lead.BATTERY
        and v >= charge_v
        and steady_neg
        and -i >= DISCHARGE_AT_CHARGE_LEVEL_A
    ):
        _reversed(report, v, i, charge_v, charging=True)
        report.inferred |= {"direction": "charging", "lead": "battery"}
        _charging_unverified(report, v, -i)
        return
    if flowing and steady_neg and -i > FAR_ABOVE_DRAW * cfg.max_draw_a:
        report.inferred |= {"direction": "discharging", "sign": "ok"}
        _discharge_too_large(report, i, mv)
        return
    if flowing and steady_pos and i > PANEL_MAX_A:
        report.inferred |= {"direction": "charging", "lead": "battery"}
        _charge_too_large(report, i, mv)
        return
    if not report.no_sun:
        _not_verified(report, v, i, mv, charge_v, flowing=flowing)
        return
    # The panel gives nothing: what flows through the shunt is the appliance's own draw.
    if v >= charge_v and (not flowing or i > 0):
        report.inferred |= {"direction": "charging"}
        report.unverified(
            "still_charging",
            f"--no-sun, mais {_fr(v)} V et {_fr(i)} A : seul un chargeur tient une batterie"
            f" à {_gfr(charge_v)} V ou plus, le panneau donne encore du courant. Débranchez-le"
            f" (fil + du panneau au régulateur) ou attendez la nuit noire, puis : {NO_SUN_RUN}.",
            f"--no-sun, but {_fmt(v)} V and {_fmt(i)} A: only a charger holds a battery at"
            f" {charge_v:g} V or more, the panel still gives current. Disconnect it (the panel's"
            f" + wire at the controller) or wait for dark night, then: {NO_SUN_RUN}.",
        )
        return
    if not flowing:
        report.fix(
            "no_current",
            f"Aucun courant dans le shunt ({_fr(mv)} mV) alors que l'appareil consomme : le"
            " shunt n'est pas sur le fil qui l'alimente (sur le fil du panneau ?). Placez-le"
            " dans le fil + de la batterie (shunt externe 0,01 Ω) ou dans le fil + de"
            " l'appareil (carte R100).",
            f"No current through the shunt ({_fmt(mv)} mV) while the appliance runs: the shunt"
            " is not on the wire that feeds it (on the panel's?). Put it in the battery's +"
            " lead (0.01 ohm external shunt) or in the appliance's + lead (R100 board).",
            fault="wrong_shunt",
            wiring=True,
        )
        return
    report.inferred["direction"] = "discharging"
    if steady_pos:
        _reversed(report, v, i, charge_v, charging=False)
    else:
        report.inferred["sign"] = "ok"
    _shunt_value(report, mv)


def _not_verified(
    report: Report, v: float, i: float, mv: float, charge_v: float, *, flowing: bool
) -> None:
    """Nothing the sun could explain is judged without --no-sun: say what is seen and how to
    make the check certain, with no [power] line."""
    then_fr = (
        " Non vérifié : débranchez le panneau (fil + du panneau au régulateur) ou attendez la"
        f" nuit noire, puis : {NO_SUN_RUN}."
    )
    then_en = (
        " Not verified: disconnect the panel (its + wire at the controller) or wait for dark"
        f" night, then: {NO_SUN_RUN}."
    )
    if v >= charge_v and not flowing:
        report.inferred |= {"direction": "float", "sign": "uncertain"}
        report.unverified(
            "float",
            f"Batterie pleine ({_fr(v)} V), presque aucun courant : le panneau alimente"
            " l'appareil ; ni le sens ni la valeur du shunt ne peuvent être vérifiés." + then_fr,
            f"Battery full ({_fmt(v)} V), almost no current: the panel feeds the appliance;"
            " neither the shunt's sign nor its value can be checked." + then_en,
        )
        return
    if v >= charge_v and i > 0:
        report.inferred |= {"direction": "charging", "sign": "likely", "lead": "battery"}
        _charging_unverified(report, v, i)
        return
    report.inferred |= {"sign": "uncertain"}
    report.unverified(
        "not_verified",
        f"Courant {_signed(i, _fr)} A à {_fr(v)} V (tension de shunt {_signed(mv, _fr, 2)} mV) :"
        " un panneau"
        " qui faiblit ou peu ensoleillé couvre une partie de la consommation (une petite"
        f" charge tient même la batterie sous {_gfr(REST_LEVEL_V[report.cfg.chemistry])} V) :"
        " le sens et la valeur du shunt ne se déduisent pas de ce courant." + then_fr,
        f"Current {_signed(i, _fmt)} A at {_fmt(v)} V (shunt voltage {_signed(mv, _fmt, 2)} mV):"
        " a fading or"
        " weakly lit panel covers part of the load (a small charge even keeps the battery"
        f" below {REST_LEVEL_V[report.cfg.chemistry]:g} V): the shunt's sign and value cannot"
        " be told from this current." + then_en,
    )


def _bigger_shunts(abs_mv: float, cfg: PowerConfig, most_a: float) -> list[Shunt]:
    """The standard shunts larger than the configured one under which ``abs_mv`` is at most
    ``most_a``: what can be in place when the configured value reads too much."""
    return [
        s
        for s in STANDARD_SHUNTS
        if s.ohms > cfg.shunt_ohms * 1.5 and abs_mv / 1000 / s.ohms <= most_a
    ]


def _discharge_too_large(report: Report, i: float, mv: float) -> None:
    """A discharge above the appliance's highest draw: the sun only reduces a discharge, so
    the shunt is larger than the file says (or other loads hang on the battery)."""
    cfg = report.cfg
    others_fr = (
        f" Ou bien d'autres appareils sont branchés sur la batterie : augmentez alors"
        f" max_draw_a (aujourd'hui {_gfr(cfg.max_draw_a)} A)."
    )
    others_en = (
        f" Or other loads are on the battery: then raise max_draw_a (now {cfg.max_draw_a:g} A)."
    )
    seen_fr = (
        f"Décharge de {_fr(-i)} A avec shunt_ohms = {cfg.shunt_ohms:g} : plus de"
        f" {_gfr(FAR_ABOVE_DRAW)} fois la plus forte consommation de l'appareil (max_draw_a ="
        f" {cfg.max_draw_a:g}), et le soleil ne peut que réduire une décharge."
    )
    seen_en = (
        f"Discharge of {_fmt(-i)} A with shunt_ohms = {cfg.shunt_ohms:g}: more than"
        f" {FAR_ABOVE_DRAW:g} times the appliance's highest draw (max_draw_a ="
        f" {cfg.max_draw_a:g}), and the sun only reduces a discharge."
    )
    candidates = _bigger_shunts(abs(mv), cfg, APPLIANCE_DRAW_A[1])
    if report.no_sun:
        fitting = _shunt_for_draw(abs(mv), cfg)
        candidates = [s for s in candidates if s.ohms == fitting] or candidates
    if len(candidates) != 1:
        names_fr = " ou ".join(f"{_gfr(s.ohms)} Ω" for s in candidates) or "aucune valeur courante"
        names_en = " or ".join(f"{s.ohms:g} ohm" for s in candidates) or "no usual value"
        report.fix(
            "wrong_shunt",
            f"{seen_fr} Tension de shunt {_fr(mv)} mV : le shunt en place n'est pas de"
            f" {_gfr(cfg.shunt_ohms)} Ω ({names_fr}). Lisez la valeur marquée sur le shunt et"
            f" reportez-la dans shunt_ohms, ou débranchez le panneau et lancez {NO_SUN_RUN}."
            + others_fr,
            f"{seen_en} Shunt voltage {_fmt(mv)} mV: the shunt in place is not"
            f" {cfg.shunt_ohms:g} ohm ({names_en}). Read the value marked on the shunt and put"
            f" it in shunt_ohms, or disconnect the panel and run {NO_SUN_RUN}." + others_en,
            fault="wrong_shunt",
        )
        return
    (shunt,) = candidates
    draw = abs(mv) / 1000 / shunt.ohms
    report.inferred |= {
        "shunt_ohms": shunt.ohms,
        "shunt": shunt.en,
        "max_current_a": shunt.max_current_a,
        "appliance_draw_a": round(draw, 3) if report.no_sun else None,
    }
    power, where_fr, where_en = _lines_for(shunt, charge_seen=False)
    # With the sun the discharge is the draw less what the panel gives.
    less_fr, less_en = ("", "") if report.no_sun else (" ou plus", " or more")
    report.fix(
        "wrong_shunt",
        f"{seen_fr} Tension de shunt {_fr(mv)} mV : le shunt en place est {shunt.fr}"
        f" ({_gfr(shunt.ohms)} Ω), l'appareil consomme {_fr(draw)} A{less_fr}. Dans [power] :"
        f" {_power_lines(power)}.{where_fr}{others_fr}",
        f"{seen_en} Shunt voltage {_fmt(mv)} mV: the shunt in place is {shunt.en}"
        f" ({shunt.ohms:g} ohm), the appliance draws {_fmt(draw)} A{less_en}. In [power]:"
        f" {_power_lines(power)}.{where_en}{others_en}",
        fault="wrong_shunt",
        power=power,
    )


def _charge_too_large(report: Report, i: float, mv: float) -> None:
    """A charge no 100 Wp panel gives: the shunt is larger than the file says, and it sits in
    the battery lead (the charge goes through it)."""
    cfg = report.cfg
    candidates = _bigger_shunts(abs(mv), cfg, PANEL_MAX_A)
    board = next((s for s in candidates if s.ohms >= BOARD_SHUNT_OHMS), None)
    seen_fr = (
        f"Charge de {_fr(i)} A avec shunt_ohms = {cfg.shunt_ohms:g} : aucun panneau de 100 Wc"
        f" ne donne plus d'environ {_gfr(PANEL_MAX_A)} A ; le shunt en place est plus grand"
        f" que {_gfr(cfg.shunt_ohms)} Ω (tension de shunt {_fr(mv)} mV), et il est dans le fil"
        " de la batterie puisque la charge le traverse."
    )
    seen_en = (
        f"Charge of {_fmt(i)} A with shunt_ohms = {cfg.shunt_ohms:g}: no 100 Wp panel gives"
        f" more than about {PANEL_MAX_A:g} A; the shunt in place is larger than"
        f" {cfg.shunt_ohms:g} ohm (shunt voltage {_fmt(mv)} mV), and it sits in the battery"
        " lead since the charge goes through it."
    )
    if board is not None or not candidates:
        _external_shunt(report, "wrong_shunt", seen_fr, seen_en)
        return
    shunt = candidates[0]
    power = {"shunt_ohms": shunt.ohms, "max_current_a": shunt.max_current_a, "lead": "battery"}
    report.inferred |= {"shunt_ohms": shunt.ohms, "shunt": shunt.en}
    report.fix(
        "wrong_shunt",
        f"{seen_fr} C'est sans doute {shunt.fr} ({_gfr(shunt.ohms)} Ω) : vérifiez la valeur"
        f" marquée dessus. Dans [power] : {_power_lines(power)}.",
        f"{seen_en} Most likely {shunt.en} ({shunt.ohms:g} ohm): check the value marked on"
        f" it. In [power]: {_power_lines(power)}.",
        fault="wrong_shunt",
        power=power,
    )


def _external_shunt(report: Report, code: str, why_fr: str, why_en: str) -> None:
    """The board's own 0.1 ohm sits in the battery lead: it cannot carry the charge, so the
    answer is the reference install's external shunt, and the lines that go with it."""
    cfg = report.cfg
    power = {
        "shunt_ohms": BATTERY_LEAD.ohms,
        "max_current_a": BATTERY_LEAD.max_current_a,
        "lead": "battery",
    }
    report.inferred |= {"lead": "battery"}
    already = all(
        (cfg.shunt_lead if k == "lead" else getattr(cfg, k)) == v for k, v in power.items()
    )
    then_fr = "déjà ainsi, c'est juste" if already else "à mettre"
    then_en = "already so, which is right" if already else "to set"
    report.fix(
        code,
        f"{why_fr} Un shunt de 0,1 Ω (le R100 de la carte) lit au plus 3,2 A, un panneau de"
        " 100 Wc charge à environ 6 A : posez un shunt externe de 0,01 Ω dans le fil + de la"
        f" batterie (retirez le R100 de la carte). Dans [power] ({then_fr}) :"
        f" {_power_lines(power)}.",
        f"{why_en} A 0.1 ohm shunt (the board's R100) reads at most 3.2 A, a 100 Wp panel"
        " charges at about 6 A: fit a 0.01 ohm external shunt in the battery's + lead (remove"
        f" the board's R100). In [power] ({then_en}): {_power_lines(power)}.",
        fault="wrong_shunt",
        power=power,
        wiring=True,
    )


def _lines_for(shunt: Shunt, *, charge_seen: bool) -> tuple[dict[str, Any], str, str]:
    """The [power] lines for a shunt found from the appliance's draw. A board's 0.1 ohm is
    only right in the appliance's lead (the monitor infers that lead from it; said here so the
    lines stand alone); in the battery lead it must give way to the external shunt."""
    power: dict[str, Any] = {"shunt_ohms": shunt.ohms, "max_current_a": shunt.max_current_a}
    if shunt.ohms < BOARD_SHUNT_OHMS or charge_seen:
        return power, "", ""
    power["lead"] = "appliance"
    external = {"shunt_ohms": 0.01, "max_current_a": 10.0, "lead": "battery"}
    return (
        power,
        f" Ce shunt mesure au plus {_gfr(shunt.max_current_a)} A : ces lignes valent si la"
        " carte est dans le fil + de l'appareil (après LOAD + du régulateur) ; si elle est"
        " dans le fil de la batterie (un panneau de 100 Wc charge à environ 6 A), posez"
        f" plutôt un shunt externe de 0,01 Ω (R100 retiré) avec {_power_lines(external)}.",
        f" This shunt reads at most {shunt.max_current_a:g} A: these lines hold if the board"
        " is in the appliance's + lead (after the controller's LOAD +); if it is in the"
        " battery lead (a 100 Wp panel charges at about 6 A), fit a 0.01 ohm external shunt"
        f" instead (R100 removed) with {_power_lines(external)}.",
    )


def _voltage_plausible(report: Report, v: float) -> bool:
    where_fr = "+ de la batterie (côté batterie du shunt)"
    where_en = "the battery + (the battery side of the shunt)"
    if v < 1.0:
        report.fix(
            "bus_0v",
            f"Tension de bus {_fr(v)} V : VIN- n'est pas relié au + de la batterie, ou le GND"
            f" de la carte n'est pas commun avec le − de la batterie. Reliez VIN- au {where_fr}"
            " et le GND de la carte au GND du Pi.",
            f"Bus voltage {_fmt(v)} V: VIN- is not on the battery +, or the board's GND is not"
            f" common with the battery −. Connect VIN- to {where_en} and the board's GND to the"
            " Pi's GND.",
            fault="implausible",
            wiring=True,
        )
        return False
    if 4.5 <= v <= 5.5:
        report.fix(
            "bus_5v",
            f"Tension de bus {_fr(v)} V : c'est le 5 V du Pi, pas la batterie. Le shunt va sur"
            f" le fil 12 V, avant le convertisseur 5 V : VIN- sur le {where_fr}.",
            f"Bus voltage {_fmt(v)} V: that is the Pi's 5 V, not the battery. The shunt goes"
            f" on the 12 V wire, before the 5 V converter: VIN- on {where_en}.",
            fault="implausible",
            wiring=True,
        )
        return False
    low, high = V_PLAUSIBLE
    if not low <= v <= high:
        fr = (
            "une batterie 24 V ? Keneya attend une batterie 12 V"
            if v > high
            else "batterie profondément déchargée, ou VIN- ailleurs que sur le + de la"
            " batterie : mesurez-la au multimètre"
        )
        en = (
            "a 24 V battery? Keneya expects a 12 V battery"
            if v > high
            else "a deeply discharged battery, or VIN- somewhere other than the battery +:"
            " measure it with a multimeter"
        )
        report.fix(
            "bus_out_of_range",
            f"Tension de bus {_fr(v)} V, hors de la plage d'une batterie 12 V ({low:g} à"
            f" {high:g} V) : {fr}.",
            f"Bus voltage {_fmt(v)} V, outside a 12 V battery's range ({low:g} to {high:g} V):"
            f" {en}.",
            fault="implausible",
            wiring=True,
        )
        return False
    return True


def _shunt_for_draw(abs_mv: float, cfg: PowerConfig) -> float | None:
    """The shunt that makes ``abs_mv`` the appliance's own draw: the configured one if it
    does, else the standard value that puts it nearest the middle of the range; None if
    none does."""
    low, high = MIN_APPLIANCE_DRAW_A, cfg.max_draw_a
    if low <= abs_mv / 1000 / cfg.shunt_ohms <= high:
        return cfg.shunt_ohms
    middle = (APPLIANCE_DRAW_A[0] * APPLIANCE_DRAW_A[1]) ** 0.5
    fitting = [
        s.ohms
        for s in STANDARD_SHUNTS
        if APPLIANCE_DRAW_A[0] <= abs_mv / 1000 / s.ohms <= APPLIANCE_DRAW_A[1]
    ]
    return min(fitting, key=lambda r: abs(_log_ratio(abs_mv / 1000 / r, middle)), default=None)


def _log_ratio(a: float, b: float) -> float:
    return math.log(a / b)


def _shunt_named(ohms: float) -> Shunt | None:
    return next((s for s in STANDARD_SHUNTS if abs(s.ohms - ohms) < 1e-9), None)


def _shunt_value(report: Report, mv: float) -> None:
    """The shunt's value from the appliance's own draw (0.15-1.5 A), the panel giving nothing."""
    cfg = report.cfg
    abs_mv = abs(mv)
    configured_a = abs_mv / 1000 / cfg.shunt_ohms
    ohms = _shunt_for_draw(abs_mv, cfg)
    low, high = APPLIANCE_DRAW_A
    if ohms == cfg.shunt_ohms:
        shunt = _shunt_named(ohms)
        report.inferred |= {
            "shunt_ohms": ohms,
            "shunt": shunt.en if shunt else None,
            "max_current_a": cfg.max_current_a,
            "appliance_draw_a": round(configured_a, 3),
        }
        return
    if ohms is None:
        report.fix(
            "shunt_unknown",
            f"Courant {_fr(configured_a)} A avec shunt_ohms = {cfg.shunt_ohms:g} : ce n'est"
            f" pas la consommation de l'appareil seul ({_gfr(low)} à {_gfr(high)} A), et aucune"
            " valeur courante de shunt (0,1 / 0,01 / 0,002 Ω) ne l'explique (tension de shunt"
            f" {_fr(abs_mv)} mV). Lisez la valeur marquée sur le shunt et reportez-la dans"
            " shunt_ohms ; vérifiez que seul le fil de l'installation passe par le shunt.",
            f"Current {_fmt(configured_a)} A with shunt_ohms = {cfg.shunt_ohms:g}: not the"
            f" appliance's own draw ({low:g} to {high:g} A), and no usual shunt value (0.1 /"
            f" 0.01 / 0.002 ohm) explains it (shunt voltage {_fmt(abs_mv)} mV). Read the value"
            " marked on the shunt and put it in shunt_ohms; check that only the installation's"
            " wire goes through the shunt.",
            fault="wrong_shunt",
        )
        return
    shunt = _shunt_named(ohms)
    assert shunt is not None  # _shunt_for_draw only returns the configured or a standard value
    draw = abs_mv / 1000 / ohms
    seen_a = math.copysign(configured_a, mv)  # as keneya-power would show it
    ratio = configured_a / draw
    how_fr = f"{ratio:.0f} fois" if ratio > 1 else f"{1 / ratio:.0f} fois moins que"
    how_en = f"{ratio:.0f} times" if ratio > 1 else f"1/{1 / ratio:.0f} of"
    report.inferred |= {
        "shunt_ohms": ohms,
        "shunt": shunt.en,
        "max_current_a": shunt.max_current_a,
        "appliance_draw_a": round(draw, 3),
    }
    power, where_fr, where_en = _lines_for(shunt, charge_seen=False)
    fr = (
        f"Courant {_fr(seen_a)} A avec shunt_ohms = {cfg.shunt_ohms:g}, panneau sans"
        f" courant : {how_fr} la consommation de l'appareil seul ({_gfr(low)} à {_gfr(high)}"
        f" A). Tension de shunt {_fr(mv)} mV : le shunt en place est {shunt.fr}"
        f" ({_gfr(ohms)} Ω), l'appareil consomme {_fr(draw)} A. Dans [power] :"
        f" {_power_lines(power)}.{where_fr}"
    )
    en = (
        f"Current {_fmt(seen_a)} A with shunt_ohms = {cfg.shunt_ohms:g}, the panel giving"
        f" nothing: {how_en} the appliance's own draw ({low:g} to {high:g} A). Shunt voltage"
        f" {_fmt(mv)} mV: the shunt in place is {shunt.en} ({ohms:g} ohm), the appliance draws"
        f" {_fmt(draw)} A. In [power]: {_power_lines(power)}.{where_en}"
    )
    report.fix("wrong_shunt", fr, en, fault="wrong_shunt", power=power)


def _reversed(report: Report, v: float, i: float, level: float, *, charging: bool) -> None:
    cfg = report.cfg
    report.inferred["sign"] = "reversed"
    power = {"invert": not cfg.invert}
    if cfg.invert:
        do_fr = "Dans [power] : invert = false (invert = true retourne un shunt bien monté)."
        do_en = "In [power]: invert = false (invert = true flips a shunt wired the right way)."
    else:
        do_fr = "Dans [power] : invert = true (ou croisez les fils VIN+ et VIN-)."
        do_en = "In [power]: invert = true (or swap the VIN+ and VIN- wires)."
    if charging:
        why_fr = (
            f"Courant {_fr(i)} A (« décharge ») à {_fr(v)} V : au-dessus de {_gfr(level)} V la"
            " batterie est en charge, c'est le courant de charge lu à l'envers."
        )
        why_en = (
            f'Current {_fmt(i)} A ("discharging") at {_fmt(v)} V: above {level:g} V the'
            " battery is being charged, this is the charge current read backwards."
        )
    else:
        why_fr = (
            f"Courant +{_fr(i)} A (« en charge ») à {_fr(v)} V, panneau sans courant"
            " (--no-sun) : rien ne charge la batterie, c'est la consommation de l'appareil lue"
            " à l'envers."
        )
        why_en = (
            f'Current +{_fmt(i)} A ("charging") at {_fmt(v)} V, the panel giving nothing'
            " (--no-sun): nothing charges the battery, this is the appliance's draw read"
            " backwards."
        )
    report.fix(
        "reversed",
        f"{why_fr} Le shunt est monté à l'envers. {do_fr}",
        f"{why_en} The shunt is wired backwards. {do_en}",
        fault="reversed_shunt",
        power=power,
    )


def _limits(probe: Probe, cfg: PowerConfig) -> tuple[float, float, float, str]:
    """(PGA range in mV, the current register's end in A, the largest current read, the gain's
    name) for what [power] programs."""
    register_a = probe.current_lsb_a * 0x7FFF
    limit_a = min(probe.range_mv / 1000 / cfg.shunt_ohms, register_a or math.inf)
    return probe.range_mv, register_a, limit_a, PGA_NAMES.get(probe.range_mv, "?")


def _wanted_max_current(cfg: PowerConfig) -> float | None:
    """The max_current_a an external shunt in the battery lead needs to read a 100 Wp panel's
    charge, when [power] sets less; None when it is enough or cannot be raised."""
    shunt = _shunt_named(cfg.shunt_ohms)
    most_a = 0.32 / cfg.shunt_ohms  # the widest PGA range
    wanted = shunt.max_current_a if shunt else min(BATTERY_LEAD.max_current_a, most_a)
    if cfg.shunt_ohms < BOARD_SHUNT_OHMS and cfg.max_current_a < wanted and wanted >= PANEL_MAX_A:
        return wanted
    return None


def _range_too_small(report: Report) -> None:
    """A shunt in the battery lead programmed for less than a panel's charge: a fault of the
    file, whatever the hour (at night it reads right, at noon every read clips)."""
    cfg = report.cfg
    wanted = _wanted_max_current(cfg)
    if cfg.shunt_lead is not Lead.BATTERY or wanted is None:
        return
    range_mv, _, limit_a, gain = _limits(report.probe, cfg)
    power = {"max_current_a": wanted}
    report.fix(
        "max_current_too_small",
        f"Avec shunt_ohms = {cfg.shunt_ohms:g} (shunt dans le fil de la batterie) et"
        f" max_current_a = {cfg.max_current_a:g}, le pilote choisit le gain {gain} de l'INA219"
        f" (±{range_mv:g} mV) : il lit au plus {_fr(limit_a)} A, moins que la charge d'un"
        " panneau de 100 Wc (environ 6 A) ; en plein soleil chaque lecture plafonnerait."
        f" max_current_a trop petit pour le courant de charge. Dans [power] :"
        f" {_power_lines(power)}.",
        f"With shunt_ohms = {cfg.shunt_ohms:g} (a shunt in the battery lead) and max_current_a ="
        f" {cfg.max_current_a:g}, the driver picks the INA219's gain {gain} (±{range_mv:g} mV):"
        f" it reads at most {_fmt(limit_a)} A, less than a 100 Wp panel's charge (about 6 A); in"
        " full sun every read would clip. max_current_a too small for the charge current. In"
        f" [power]: {_power_lines(power)}.",
        fault="wrong_shunt",
        power=power,
    )


def _charging_unverified(report: Report, v: float, i: float) -> None:
    report.unverified(
        "charging_now",
        f"Le panneau charge ({_fr(i)} A à {_fr(v)} V) : pendant la charge la valeur du shunt"
        " ne peut pas être vérifiée. Non vérifié : débranchez le panneau (fil + du panneau au"
        f" régulateur) ou attendez la nuit noire, puis : {NO_SUN_RUN}.",
        f"The panel is charging ({_fmt(i)} A at {_fmt(v)} V): during a charge the shunt's"
        " value cannot be checked. Not verified: disconnect the panel (its + wire at the"
        f" controller) or wait for dark night, then: {NO_SUN_RUN}.",
    )


def _overflow(report: Report, count: int, n: int, *, charging: bool) -> None:
    """Reads at the end of the range: a current too large for what [power] programs."""
    cfg, probe = report.cfg, report.probe
    range_mv, register_a, limit_a, gain = _limits(probe, cfg)
    seen_fr = (
        f"Dépassement dans {count} lectures sur {n} : avec max_current_a ="
        f" {cfg.max_current_a:g} le pilote a choisi le gain {gain} de l'INA219 (±{range_mv:g}"
        f" mV sur le shunt, soit ±{_gfr(round(range_mv / 1000 / cfg.shunt_ohms, 2))} A avec"
        f" {_gfr(cfg.shunt_ohms)} Ω) et le registre de courant plafonne à"
        f" {_fr(register_a)} A ; le courant dépasse ce qu'il mesure ({_fr(limit_a)} A)."
    )
    seen_en = (
        f"Overflow in {count} of {n} reads: with max_current_a = {cfg.max_current_a:g} the"
        f" driver picked the INA219's gain {gain} (±{range_mv:g} mV across the shunt, that is"
        f" ±{round(range_mv / 1000 / cfg.shunt_ohms, 2):g} A with {cfg.shunt_ohms:g} ohm) and"
        f" the current register tops out at {_fmt(register_a)} A; the current exceeds what it"
        f" measures ({_fmt(limit_a)} A)."
    )
    report.inferred |= {"direction": "charging" if charging else None}
    if limit_a >= PANEL_MAX_A:
        # Beyond what any 100 Wp system carries: the shunt in place is larger than the file
        # says, most likely the board's own R100 left in the circuit.
        report.inferred |= {"shunt_ohms": None}
        _external_shunt(
            report,
            "overflow",
            f"{seen_fr} {_fr(limit_a)} A ou plus, c'est bien plus que ce que donne un panneau"
            " de 100 Wc ou que consomme l'appareil : la carte porte sans doute son R100 de"
            " 0,1 Ω.",
            f"{seen_en} {_fmt(limit_a)} A or more is far more than a 100 Wp panel gives or the"
            " appliance draws: the board most likely carries its 0.1 ohm R100.",
        )
        return
    wanted = _wanted_max_current(cfg)
    if wanted is not None:
        power = {"max_current_a": wanted}
        report.inferred |= {"lead": "battery", "shunt_ohms": cfg.shunt_ohms}
        report.fix(
            "max_current_too_small",
            f"{seen_fr} max_current_a trop petit pour le courant de charge (un panneau de"
            f" 100 Wc charge à environ 6 A) : ce ne sont pas les fils I2C. Dans [power] :"
            f" {_power_lines(power)}.",
            f"{seen_en} max_current_a too small for the charge current (a 100 Wp panel charges"
            f" at about 6 A): not the I2C wires. In [power]: {_power_lines(power)}.",
            fault="wrong_shunt",
            power=power,
        )
        return
    report.inferred |= {"shunt_ohms": None}
    _external_shunt(report, "overflow", seen_fr, seen_en)


# -- showing --------------------------------------------------------------------------------


def render(report: Report, lang: str = "fr", facility_file: Path | None = None) -> str:
    fr = lang != "en"
    num = _fr if fr else _fmt
    p, c, m, inf = report.probe, report.cfg, report.measured, report.inferred
    lines = [
        (
            f"keneya power check : INA219 sur le bus I2C {p.bus_number}, adresse {p.address:#04x}"
            if fr
            else f"keneya power check: INA219 on I2C bus {p.bus_number}, address {p.address:#04x}"
        )
        + (f" ({p.source})" if p.source != "ina219" else ""),
        ("[power] : " if fr else "[power]: ")
        + f"shunt_ohms = {c.shunt_ohms:g}, max_current_a = {c.max_current_a:g},"
        f" invert = {str(c.invert).lower()}"
        + (
            (" (installation simulée)" if fr else " (the simulated installation)")
            if report.simulated
            else ""
        ),
    ]
    if report.no_sun:
        lines.append(
            "--no-sun : panneau débranché ou nuit noire, le courant est la consommation de"
            " l'appareil"
            if fr
            else "--no-sun: panel disconnected or dark night, the current is the appliance's draw"
        )
    if p.samples:
        lines.append(
            f"Lu : {m.get('reads', 0)} lectures, {m.get('good_reads', 0)} valables"
            if fr
            else f"Read: {m.get('reads', 0)} reads, {m.get('good_reads', 0)} good"
        )
    if "bus_v" in m:
        lines.append(
            ("Tension : " if fr else "Voltage: ")
            + f"{num(m['bus_v'])} V ({num(m['bus_v_min'])} – {num(m['bus_v_max'])} V)"
        )
        lines.append(
            f"Courant : {_signed(m['current_a'], num)} A ({_signed(m['current_min_a'], num)} à"
            f" {_signed(m['current_max_a'], num)} A), tension de shunt"
            f" {_signed(m['shunt_mv'], num, 2)} mV"
            if fr
            else f"Current: {_signed(m['current_a'], num)} A ({_signed(m['current_min_a'], num)}"
            f" to {_signed(m['current_max_a'], num)} A), shunt voltage"
            f" {_signed(m['shunt_mv'], num, 2)} mV"
        )
    deduced = _deduced(inf, fr)
    if deduced:
        lines.append(("Déduit : " if fr else "Inferred: ") + deduced)
    for f in report.findings:
        lines.append(("! " if f.severity == "fix" else "? ") + (f.fr if fr else f.en))
    if report.simulated:
        where_fr = (
            f"de l'installation simulée {report.simulated} (--simulate ne lit pas le fichier de"
            " l'établissement)"
        )
        where_en = (
            f"of the simulated installation {report.simulated} (--simulate does not read the"
            " facility file)"
        )
    else:
        where = str(facility_file) if facility_file else "facility.toml"
        where_fr, where_en = f"de {where}", f"of {where}"
    code = report.exit_code
    if code == EXIT_OK:
        lines.append(
            "Tout va bien : rien à changer. Ensuite : keneya power status"
            if fr
            else "All is well: nothing to change. Next: keneya power status"
        )
        return "\n".join(lines)
    if code == EXIT_NOT_VERIFIED:
        lines.append(
            "Non vérifié : rien à changer d'après ce qui est sûr, mais le shunt n'a pas pu être"
            " vérifié. Débranchez le panneau (ou attendez la nuit noire), puis :"
            f" {NO_SUN_RUN}"
            if fr
            else "Could not verify: nothing to change from what is certain, but the shunt could"
            " not be checked. Run again with the panel disconnected (or at dark night):"
            f" {NO_SUN_RUN}"
        )
        return "\n".join(lines)
    rerun = NO_SUN_RUN  # only a run with the panel giving nothing can end in "all is well"
    change = report.change
    if change:
        lines.append(
            f"À mettre dans [power] {where_fr} :" if fr else f"To set in [power] {where_en}:"
        )
        lines += [f"  {toml_line(k, v)}" for k, v in change.items()]
        lines.append(
            f"puis : sudo systemctl restart keneya-power ; {rerun}"
            if fr
            else f"then: sudo systemctl restart keneya-power; {rerun}"
        )
    else:
        lines.append(
            f"Corrigez ce qui précède, puis relancez : {rerun}"
            if fr
            else f"Fix the above, then run again: {rerun}"
        )
    return "\n".join(lines)


def _signed(value: float, num: Callable[[float, int], str], digits: int = 3) -> str:
    return ("+" if value >= 0 else "-") + num(abs(value), digits)


def _deduced(inf: dict[str, Any], fr: bool) -> str:
    if not inf:
        return ""
    parts = []
    if inf.get("shunt_ohms"):
        shunt = _shunt_named(inf["shunt_ohms"])
        name = f" ({shunt.fr if fr else shunt.en})" if shunt else ""
        ohms = _gfr(inf["shunt_ohms"]) if fr else f"{inf['shunt_ohms']:g}"
        parts.append(f"shunt {ohms} Ω{name}")
    sign = {
        "ok": ("sens du courant correct", "current sign right"),
        "reversed": ("shunt monté à l'envers", "shunt wired backwards"),
        "likely": ("sens probablement correct (soleil)", "sign probably right (sun)"),
        "uncertain": ("sens non vérifié", "sign not verified"),
    }.get(inf.get("sign") or "")
    if sign:
        parts.append(sign[0] if fr else sign[1])
    if inf.get("appliance_draw_a") is not None:
        draw = inf["appliance_draw_a"]
        parts.append(
            f"l'appareil consomme {_fr(draw)} A" if fr else f"the appliance draws {draw:.2f} A"
        )
    if inf.get("lead") == "battery":
        parts.append(
            "shunt dans le fil de la batterie (il voit la charge)"
            if fr
            else "shunt in the battery lead (it sees the charge)"
        )
    return ", ".join(parts)


EXIT_CODES_HELP = (
    "Exit 0: all is well; 1: something to change; 2: a [power] no INA219 can work with (or a"
    " wrong option); 3: could not verify: run again with the panel disconnected and --no-sun."
)


@click.command("check", epilog=EXIT_CODES_HELP)
@click.option(
    "--seconds",
    type=click.IntRange(3, 600),
    default=DEFAULT_SECONDS,
    show_default=True,
    help="How long to read the sensor (one read a second).",
)
@click.option(
    "--no-sun",
    is_flag=True,
    help="The panel gives nothing now (panel disconnected, or dark night): the current is the"
    " appliance's own draw, so the shunt's sign and value can be checked. Without it only"
    " what the sun cannot explain is judged.",
)
@click.option(
    "--simulate",
    "scenario",
    type=click.Choice(sorted(SCENARIOS)),
    help="Check a simulated installation (its board and its [power] values; the facility"
    " file is not read) instead of the real INA219; runs instantly.",
)
@click.option(
    "--start-hour",
    type=click.FloatRange(min=0, max=24, max_open=True),
    help="With --simulate: simulated time of day to check at (default: the scenario's start).",
)
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@json_option
@click.pass_context
def check_command(
    ctx: click.Context,
    seconds: int,
    no_sun: bool,
    scenario: str | None,
    start_hour: float | None,
    lang: str,
    as_json: bool,
) -> None:
    """Test the INA219 wiring and [power] at installation: what the sensor sees, the shunt
    and wiring it infers, and what to change."""
    from power import config

    if scenario is None and start_hour is not None:
        raise click.UsageError("--start-hour only makes sense with --simulate")
    facility_file = paths(ctx).facility_file
    if scenario is not None:
        chosen = SCENARIOS[scenario]
        if start_hour is not None:
            chosen = chosen.with_(start_s=round(start_hour * 3600))
        probe, cfg = simulated(chosen, config.PowerConfig(), seconds=seconds)
    else:
        cfg = config.load(facility_file)
        workable(cfg)
        click.echo(
            f"Lecture de l'INA219 pendant {seconds} s… / Reading the INA219 for {seconds} s…",
            err=True,
        )
        probe = collect_hardware(cfg, seconds=seconds)
    report = analyse(probe, cfg, no_sun=no_sun, simulated=scenario)
    emit(report.to_dict(), as_json, report.text(lang, facility_file))
    if report.exit_code:
        raise SystemExit(report.exit_code)
