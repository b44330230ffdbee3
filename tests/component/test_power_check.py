"""`keneya power check` against each wiring fault, on the fake bus with the real register map:
the production driver programs and reads a fake INA219 whose shunt sees a simulated
installation (sunny scenario: a 40 Ah battery, the appliance as load)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from power.check import PANEL_MAX_A, analyse, collect, collect_hardware, simulated
from power.config import PowerConfig
from power.ina219 import RawRegisters
from power.sim import SCENARIOS
from power.sim.clock import SimClock
from power.sim.fakebus import FakeIna219, FakeSMBus, FaultMode, FaultWindow, Wiring
from power.sim.scenarios import BOARD_NOISE
from tests.conftest import keneya

pytestmark = pytest.mark.component

# The model's first step (15 s) has no current yet: the check starts once it has run.
T0 = 15.0
FILE_10MOHM = PowerConfig(shunt_ohms=0.01, max_current_a=10.0)  # the reference install's file
FILE_R100 = PowerConfig(shunt_ohms=0.1, max_current_a=3.2)  # the breakout board's values


def check(
    cfg=FILE_10MOHM,
    *,
    board=0.01,
    hour=0.0,
    wiring=None,
    faults=(),
    address=0x40,
    no_sun=False,
    scenario="sunny",
):
    """Collect and judge one install: ``board`` is the shunt really fitted, ``cfg`` the file;
    ``no_sun``: the technician says the panel gives nothing (--no-sun)."""
    scenario = SCENARIOS[scenario].with_(start_s=hour * 3600)
    clock = SimClock(scenario.start_s)
    chip = FakeIna219(
        scenario.model().sense,
        clock=clock,
        shunt_ohms=board,
        noise=BOARD_NOISE,
        faults=faults,
        wiring=wiring,
        seed=1,
    )
    clock.advance(T0)
    bus = FakeSMBus({} if address is None else {address: chip})
    probe = collect(bus, cfg, sleep=clock.advance, clock=clock, source="test")
    return analyse(probe, cfg, no_sun=no_sun)


def codes(report):
    return [(f.code, f.severity) for f in report.findings]


def only(report, code):
    (finding,) = [f for f in report.findings if f.code == code]
    return finding


def test_healthy_install_has_nothing_to_change():
    r = check(no_sun=True)
    assert r.exit_code == 0 and r.findings == []
    assert r.measured["reads"] == r.measured["good_reads"] == 30
    assert r.measured["bus_v"] == pytest.approx(12.41, abs=0.02)
    assert r.measured["current_a"] == pytest.approx(-0.47, abs=0.02)  # the Pi at night
    assert r.inferred["shunt_ohms"] == 0.01 and r.inferred["sign"] == "ok"
    assert r.inferred["appliance_draw_a"] == pytest.approx(0.47, abs=0.02)
    text = r.text("fr")
    assert "Tout va bien : rien à changer. Ensuite : keneya power status" in text
    assert "Tension : 12,41 V (12,41 – 12,42 V)" in text
    assert "Courant : -0,473 A (-0,477 à -0,470 A), tension de shunt -4,73 mV" in text
    assert "Déduit : shunt 0,01 Ω (un shunt externe de 10 mΩ)" in text
    assert "Voltage: 12.41 V" in r.text("en")


def test_no_i2c_bus(tmp_path):
    r = analyse(collect_hardware(FILE_10MOHM, dev_dir=tmp_path), FILE_10MOHM)
    assert r.exit_code == 1 and codes(r) == [("no_i2c", "fix")]
    assert "dtparam=i2c_arm=on" in r.findings[0].fr
    assert "/dev/i2c-1 absent" in r.findings[0].fr and r.change == {}


def test_nothing_answers_names_the_pins():
    r = check(address=None)
    f = only(r, "no_answer")
    assert r.exit_code == 1 and f.wiring and f.fault == "sensor_lost"
    for pin in ("SDA → GPIO2 (broche 3)", "SCL → GPIO3 (broche 5)", "VCC → 3,3 V (broche 1)"):
        assert pin in f.fr
    assert "SDA → GPIO2 (pin 3)" in f.en and "i2cdetect -y 1" in f.en


def test_chip_at_another_address():
    r = check(address=0x41)
    f = only(r, "other_address")
    assert "un circuit répond à 0x41" in f.fr
    assert "Dans [power] : address = 0x41" in f.fr
    assert r.change == {"address": 0x41}
    assert r.to_dict()["change_lines"] == ["address = 0x41"]
    assert "  address = 0x41" in r.text("fr").splitlines()


def test_vin_minus_not_on_the_battery():
    r = check(wiring=Wiring(bus_v=0.0))
    f = only(r, "bus_0v")
    assert r.exit_code == 1 and f.wiring and r.change == {}
    assert "Tension de bus 0,00 V : VIN- n'est pas relié au + de la batterie" in f.fr
    assert r.inferred["battery_voltage_ok"] is False and r.inferred["sign"] is None


def test_vin_minus_on_the_pis_5v():
    f = only(check(wiring=Wiring(bus_v=5.1)), "bus_5v")
    assert "Tension de bus 5,10 V : c'est le 5 V du Pi, pas la batterie." in f.fr


def test_voltage_outside_a_12v_battery():
    f = only(check(wiring=Wiring(bus_v=25.6)), "bus_out_of_range")
    assert "hors de la plage d'une batterie 12 V (8 à 16 V) : une batterie 24 V ?" in f.fr


def test_reversed_shunt_with_the_panel_giving_nothing():
    r = check(wiring=Wiring(swapped_inputs=True), no_sun=True)
    f = only(r, "reversed")
    assert r.exit_code == 1 and f.fault == "reversed_shunt"
    assert f.fr.startswith(
        "Courant +0,47 A (« en charge ») à 12,41 V, panneau sans courant (--no-sun) : rien ne"
        " charge la batterie, c'est la consommation de l'appareil lue à l'envers."
    )
    assert "Dans [power] : invert = true (ou croisez les fils VIN+ et VIN-)." in f.fr
    assert r.change == {"invert": True}
    assert r.inferred["sign"] == "reversed" and r.inferred["shunt_ohms"] == 0.01
    assert r.text("fr").splitlines()[-3:] == [
        "À mettre dans [power] de facility.toml :",
        "  invert = true",
        "puis : sudo systemctl restart keneya-power ; sudo keneya power check --no-sun",
    ]


def test_a_small_charge_below_rest_level_is_not_called_reversed_without_no_sun():
    """+0.47 A at 12.41 V: the draw read backwards at night, or a weak panel's charge; only
    the technician knows the panel gives nothing."""
    r = check(wiring=Wiring(swapped_inputs=True))
    assert codes(r) == [("not_verified", "unverified")] and r.exit_code == 3
    assert r.change == {} and "[power]" not in r.text("fr").split("\n", 2)[2]


def test_invert_set_on_a_shunt_wired_the_right_way():
    cfg = PowerConfig(shunt_ohms=0.01, max_current_a=10.0, invert=True)
    r = check(cfg, no_sun=True)
    assert "Dans [power] : invert = false" in only(r, "reversed").fr
    assert r.change == {"invert": False}


def test_reversed_shunt_in_the_sun_is_certain_from_the_voltage():
    """A discharge at 13.84 V: only a charger holds a lead-acid battery there, so the sun
    cannot explain it and no --no-sun is needed."""
    r = check(hour=12, wiring=Wiring(swapped_inputs=True))
    assert codes(r) == [("reversed", "fix"), ("charging_now", "unverified")]
    assert r.exit_code == 1
    assert only(r, "reversed").fr.startswith(
        "Courant -4,45 A (« décharge ») à 13,84 V : au-dessus de 13,3 V la batterie est en"
        " charge, c'est le courant de charge lu à l'envers."
    )
    assert "puis : sudo keneya power check --no-sun" in only(r, "charging_now").fr
    assert r.change == {"invert": True}


def test_charging_in_the_sun_is_not_verified():
    r = check(hour=12)
    assert r.exit_code == 3 and codes(r) == [("charging_now", "unverified")]
    assert r.inferred["sign"] == "likely" and r.inferred["lead"] == "battery"
    text = r.text("fr")
    assert "Tout va bien" not in text and r.change == {}
    assert text.endswith(
        "Non vérifié : rien à changer d'après ce qui est sûr, mais le shunt n'a pas pu être"
        " vérifié. Débranchez le panneau (ou attendez la nuit noire), puis :"
        " sudo keneya power check --no-sun"
    )
    assert r.text("en").endswith(
        "Could not verify: nothing to change from what is certain, but the shunt could not be"
        " checked. Run again with the panel disconnected (or at dark night):"
        " sudo keneya power check --no-sun"
    )


@pytest.mark.parametrize("no_sun", [False, True])
def test_breakout_board_with_a_10_mohm_file(no_sun):
    """-4.74 A: more than the appliance ever draws, and the sun only reduces a discharge, so
    the wrong shunt is certain with or without --no-sun."""
    r = check(FILE_10MOHM, board=0.1, no_sun=no_sun)
    f = only(r, "wrong_shunt")
    assert f.fr.startswith(
        "Décharge de 4,74 A avec shunt_ohms = 0.01 : plus de 1,5 fois la plus forte"
        " consommation de l'appareil (max_draw_a = 2), et le soleil ne peut que réduire une"
        " décharge."
    )
    assert "le shunt en place est le R100 de la carte INA219 courante (0,1 Ω)" in f.fr
    assert 'Dans [power] : shunt_ohms = 0.1, max_current_a = 3.2, lead = "appliance".' in f.fr
    assert "posez plutôt un shunt externe de 0,01 Ω (R100 retiré)" in f.fr  # the other way
    assert "d'autres appareils sont branchés sur la batterie : augmentez alors max_draw_a" in f.fr
    assert "or other loads are on the battery: then raise max_draw_a".lower() in f.en.lower()
    assert r.change == {"shunt_ohms": 0.1, "max_current_a": 3.2, "lead": "appliance"}
    assert r.inferred["shunt_ohms"] == 0.1 and r.inferred["max_current_a"] == 3.2
    assert ("l'appareil consomme 0,47 A ou plus" in f.fr) is not no_sun


def test_10_mohm_shunt_with_the_breakouts_values():
    r = check(FILE_R100, board=0.01, no_sun=True)
    f = only(r, "wrong_shunt")
    assert f.fr.startswith(
        "Courant -0,05 A avec shunt_ohms = 0.1, panneau sans courant : 10 fois moins que"
    )
    assert "le shunt en place est un shunt externe de 10 mΩ (0,01 Ω)" in f.fr
    assert f.fr.endswith("Dans [power] : shunt_ohms = 0.01, max_current_a = 10.")
    assert r.change == {"shunt_ohms": 0.01, "max_current_a": 10.0}


def test_reversed_and_wrong_shunt_together():
    r = check(FILE_10MOHM, board=0.1, wiring=Wiring(swapped_inputs=True), no_sun=True)
    assert codes(r) == [("reversed", "fix"), ("wrong_shunt", "fix")]
    assert r.change == {
        "invert": True,
        "shunt_ohms": 0.1,
        "max_current_a": 3.2,
        "lead": "appliance",
    }


def test_charge_overflows_the_breakout_board():
    r = check(FILE_R100, board=0.1, hour=12)
    f = only(r, "overflow")
    assert f.fault == "wrong_shunt" and f.wiring
    assert "le pilote a choisi le gain /8 de l'INA219 (±320 mV sur le shunt" in f.fr
    assert "Un shunt de 0,1 Ω (le R100 de la carte) lit au plus 3,2 A" in f.fr
    assert "un panneau de 100 Wc charge à environ 6 A" in f.fr
    assert (
        'Dans [power] (à mettre) : shunt_ohms = 0.01, max_current_a = 10, lead = "battery".' in f.fr
    )
    # the charge goes through the shunt: it sits in the battery lead, never 0.1 alone
    assert r.change == {"shunt_ohms": 0.01, "max_current_a": 10.0, "lead": "battery"}


def test_overflow_with_a_10_mohm_file_points_at_the_boards_own_shunt():
    r = check(FILE_10MOHM, board=0.1, hour=12)
    f = only(r, "overflow")
    assert "gain /4 de l'INA219 (±160 mV sur le shunt, soit ±16 A avec 0,01 Ω)" in f.fr
    assert "la carte porte sans doute son R100 de 0,1 Ω" in f.fr
    assert "Dans [power] (déjà ainsi, c'est juste) : shunt_ohms = 0.01" in f.fr
    assert r.exit_code == 1 and r.change == {}
    assert r.text("fr").endswith(
        "Corrigez ce qui précède, puis relancez : sudo keneya power check --no-sun"
    )


def test_chip_reset_during_the_check():
    r = check(faults=(FaultWindow(T0 + 10, T0 + 11, FaultMode.RESET),))
    f = only(r, "chip_reset")
    assert r.measured["resets"] == 1 and f.fault == "chip_reset"
    assert "perdu ses réglages 1 fois pendant le test (configuration revenue à 0x399f" in f.fr
    # programmed again, the rest of the check measured normally
    r = check(faults=(FaultWindow(T0 + 10, T0 + 11, FaultMode.RESET),), no_sun=True)
    assert r.measured["good_reads"] == 29 and r.inferred["shunt_ohms"] == 0.01


def test_frozen_registers():
    r = check(faults=(FaultWindow(T0 + 5, 1e9, FaultMode.STUCK),))
    f = only(r, "frozen")
    assert r.exit_code == 1 and f.fault == "sensor_lost"
    assert "Les registres ne changent plus (25 lectures identiques de suite)" in f.fr


def test_a_steady_chip_without_noise_is_not_frozen():
    """Identical values from a chip that still converts (CNVR set) are a steady load."""
    clock = SimClock()
    chip = FakeIna219(lambda t: (-0.5, 12.4), clock=clock, shunt_ohms=0.01)
    probe = collect(FakeSMBus({0x40: chip}), FILE_10MOHM, sleep=clock.advance, clock=clock)
    assert len({s.raw for s in probe.samples}) == 1
    r = analyse(probe, FILE_10MOHM, no_sun=True)
    assert r.exit_code == 0 and r.findings == []
    assert r.inferred["appliance_draw_a"] == 0.5


def test_charging_current_at_a_middle_voltage_is_only_a_doubt():
    """+0.5 A at 12.9 V: a morning charge, or a reversed shunt at night; the voltage cannot
    tell, so the check says so and asks for a run with the panel giving nothing."""
    clock = SimClock()
    chip = FakeIna219(lambda t: (0.5, 12.9), clock=clock, shunt_ohms=0.01, noise=BOARD_NOISE)
    probe = collect(FakeSMBus({0x40: chip}), FILE_10MOHM, sleep=clock.advance, clock=clock)
    r = analyse(probe, FILE_10MOHM)
    assert r.exit_code == 3 and codes(r) == [("not_verified", "unverified")]
    assert r.findings[0].fr.startswith("Courant +0,500 A à 12,90 V (tension de shunt +5,00 mV)")
    assert "Non vérifié : débranchez le panneau" in r.findings[0].fr
    assert r.inferred["sign"] == "uncertain" and r.change == {}


def test_noisy_line_makes_reads_inconsistent():
    r = check(faults=(FaultWindow(T0 + 0.5, 1e9, FaultMode.BITFLIP, 0.3),))
    f = only(r, "inconsistent")
    bad = r.measured["inconsistent_reads"]
    assert bad["power"] > 0 and bad["current"] > 0
    assert f"registre de puissance ≠ V × I : {bad['power']}" in f.fr
    assert "des bits changent sur les fils I2C" in f.fr and f.fault == "implausible"


def test_power_register_not_v_times_i():
    """A power register that does not follow Equation 5 (the other registers right)."""
    cfg = FILE_10MOHM
    probe = check(cfg).probe
    cal = probe.calibration
    shunt, bus = (-473 & 0xFFFF), (3103 << 3) | 0b10  # -4.73 mV, 12.412 V, CNVR
    current = int(-473 * cal / 4096)
    power = int(abs(current) * 3103 / 5000)
    samples = tuple(
        replace(s, raw=RawRegisters(shunt, bus, current & 0xFFFF, power * 2 + i))
        for i, s in enumerate(probe.samples)
    )
    r = analyse(replace(probe, samples=samples), cfg)
    assert r.measured["inconsistent_reads"] == {"power": 30, "current": 0, "settings": 0}
    assert "registre de puissance ≠ V × I : 30" in only(r, "inconsistent").fr


def test_intermittent_bus_errors():
    r = check(faults=(FaultWindow(T0 + 0.5, 1e9, FaultMode.OSERROR, 0.1),))
    f = only(r, "io_errors")
    assert f"{r.measured['failed_reads']} lectures sur 30 ont échoué (erreur I2C)" in f.fr
    assert r.measured["failed_reads"] > 0


def test_json_shape():
    doc = check(FILE_10MOHM, board=0.1).to_dict()
    assert set(doc) == {
        "ok",
        "exit_code",
        "source",
        "bus_number",
        "address",
        "config",
        "reads",
        "no_sun",
        "simulated",
        "measured",
        "inferred",
        "findings",
        "change",
        "change_lines",
    }
    assert doc["ok"] is False and doc["exit_code"] == 1 and doc["address"] == "0x40"
    assert doc["config"] == {
        "shunt_ohms": 0.01,
        "max_current_a": 10.0,
        "invert": False,
        "chemistry": "lead-acid",
    }
    (finding,) = doc["findings"]
    assert set(finding) == {
        "code",
        "severity",
        "fault",
        "message_fr",
        "message_en",
        "power",
        "wiring",
    }
    assert finding["power"] == {"shunt_ohms": 0.1, "max_current_a": 3.2, "lead": "appliance"}
    assert doc["change_lines"] == ["shunt_ohms = 0.1", "max_current_a = 3.2", 'lead = "appliance"']
    assert doc["no_sun"] is False and doc["simulated"] is None
    json.dumps(doc)  # plain JSON types only


# -- the command -----------------------------------------------------------------------------


def test_cli_healthy_simulation(tmp_path):
    r = keneya(tmp_path, "power", "check", "--simulate", "sunny", "--no-sun")
    assert r.returncode == 0, r.stderr
    assert "--no-sun : panneau débranché ou nuit noire" in r.stdout
    assert "(simulator:sunny@00:00)" in r.stdout
    assert r.stdout.rstrip().endswith(
        "Tout va bien : rien à changer. Ensuite : keneya power status"
    )


def test_cli_wrong_shunt_scenario(tmp_path):
    r = keneya(tmp_path, "power", "check", "--simulate", "wrong-shunt", "--lang", "en")
    assert r.returncode == 1, r.stderr
    assert 'In [power]: shunt_ohms = 0.1, max_current_a = 3.2, lead = "appliance".' in r.stdout
    assert '\n  shunt_ohms = 0.1\n  max_current_a = 3.2\n  lead = "appliance"\n' in r.stdout


def test_cli_reversed_shunt_json(tmp_path):
    r = keneya(tmp_path, "power", "check", "--simulate", "reversed-shunt", "--json", "--no-sun")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert [f["code"] for f in doc["findings"]] == ["reversed"]
    assert doc["change"] == {"invert": True} and doc["inferred"]["sign"] == "reversed"
    assert doc["source"] == "simulator:reversed-shunt@00:00" and doc["reads"] == 30


def test_cli_seconds_and_start_hour(tmp_path):
    r = keneya(
        tmp_path, "power", "check", "--simulate", "sunny", "--start-hour", "12", "--seconds", "5"
    )
    assert r.returncode == 3, r.stderr
    assert "Lu : 5 lectures, 5 valables" in r.stdout
    assert "? Le panneau charge" in r.stdout and "Tout va bien" not in r.stdout


def test_cli_without_i2c_bus(tmp_path):
    (tmp_path / "facility.toml").write_text("[power]\nbus_number = 57\n")
    r = keneya(tmp_path, "power", "check", "--seconds", "3")
    assert r.returncode == 1, r.stderr
    assert "! Pas de bus I2C 57 (/dev/i2c-57 absent)" in r.stdout


@pytest.mark.parametrize(
    ("facility", "args", "says"),
    [
        (
            "[power]\nshunt_ohms = 0.1\nmax_current_a = 10\n",
            (),
            "[power] shunt_ohms = 0.1 with max_current_a = 10:",
        ),
        ("", ("--simulate", "nowhere"), "Invalid value for '--simulate'"),
        ("", ("--seconds", "0"), "Invalid value for '--seconds'"),
        ("", ("--start-hour", "3"), "--start-hour only makes sense with --simulate"),
    ],
)
def test_cli_unusable_input(tmp_path, facility, args, says):
    (tmp_path / "facility.toml").write_text(facility)
    r = keneya(tmp_path, "power", "check", *args)
    assert r.returncode == 2
    assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert r.stdout == ""


# -- a correct installation never gets wrong advice ------------------------------------------

QUARTER_HOURS = [q / 4 for q in range(96)]


def scan(name, *, no_sun=False, hours=QUARTER_HOURS, **hardware):
    """The check on a simulated installation at each hour, as --simulate runs it."""
    for hour in hours:
        scenario = SCENARIOS[name].with_(start_s=round(hour * 3600), **hardware)
        probe, cfg = simulated(scenario, PowerConfig())
        yield hour, analyse(probe, cfg, no_sun=no_sun, simulated=name)


@pytest.mark.parametrize("name", ["sunny", "cloudy", "ageing"])
def test_correct_installs_never_get_a_power_line_at_any_hour(name):
    """A fading or weak panel covers part of the load (a small charge even keeps the voltage
    near rest): without --no-sun nothing the sun could explain may become advice."""
    wrong = [(h, codes(r), r.change) for h, r in scan(name) if r.exit_code == 1 or r.change]
    assert wrong == []
    exits = {r.exit_code for _, r in scan(name)}
    assert exits == {3}  # never "all is well" either: nothing was verified


@pytest.mark.parametrize("name", ["sunny", "cloudy", "ageing", "reversed-shunt", "wrong-shunt"])
def test_with_no_sun_at_night_every_install_gets_its_verdict(name):
    night = [h for h in QUARTER_HOURS if h >= 19.75 or h < 5.5]  # plausibility.is_dark
    changes = {tuple(sorted(r.change.items())) for _, r in scan(name, no_sun=True, hours=night)}
    expected = {
        "reversed-shunt": (("invert", True),),
        "wrong-shunt": (("lead", "appliance"), ("max_current_a", 3.2), ("shunt_ohms", 0.1)),
    }.get(name, ())
    assert changes == {expected}


@pytest.mark.parametrize("name", ["wrong-shunt", "reversed-shunt"])
def test_faulty_installs_are_never_all_well(name):
    results = list(scan(name))
    assert [h for h, r in results if r.exit_code == 0] == []
    # and never the other fault's advice
    other = {"wrong-shunt": {"invert"}, "reversed-shunt": {"shunt_ohms", "max_current_a"}}[name]
    assert [h for h, r in results if set(r.change) & other] == []


@pytest.mark.parametrize(
    ("scenario", "hour"),
    [("sunny", 17.5), ("sunny", 17.75), ("sunny", 7.5), ("sunny", 8.0), ("cloudy", 13.25)],
)
def test_fading_panel_is_not_verified_rather_than_wrong(scenario, hour):
    r = check(scenario=scenario, hour=hour)
    assert codes(r) == [("not_verified", "unverified")] and r.change == {}
    assert r.exit_code == 3
    f = r.findings[0]
    assert "un panneau qui faiblit ou peu ensoleillé couvre une partie de la consommation" in f.fr
    assert f.fr.endswith(
        "Non vérifié : débranchez le panneau (fil + du panneau au régulateur) ou attendez la"
        " nuit noire, puis : sudo keneya power check --no-sun."
    )
    text = r.text("fr")
    assert "À mettre dans [power]" not in text and "Tout va bien" not in text
    if scenario == "sunny" and hour == 17.5:
        assert only(r, "not_verified").fr.startswith("Courant +0,235 A à 12,58 V")


def test_no_sun_while_the_voltage_says_charging_is_not_believed():
    r = check(hour=12, no_sun=True)
    assert codes(r) == [("still_charging", "unverified")] and r.exit_code == 3
    assert "seul un chargeur tient une batterie à 13,3 V ou plus" in r.findings[0].fr


# -- nothing verified is its own exit status --------------------------------------------------


def test_cli_wrong_shunt_at_17_is_not_all_well(tmp_path):
    """+5.9 A could be a panel's charge: not verified, exit 3, never "All is well"."""
    args = ("power", "check", "--simulate", "wrong-shunt", "--lang", "en", "--start-hour")
    r = keneya(tmp_path, *args, "17")
    assert r.returncode == 3, r.stderr
    assert "All is well" not in r.stdout
    assert r.stdout.rstrip().endswith(
        "Could not verify: nothing to change from what is certain, but the shunt could not be"
        " checked. Run again with the panel disconnected (or at dark night):"
        " sudo keneya power check --no-sun"
    )


def test_a_charge_no_100wp_panel_gives_is_a_wrong_shunt_in_the_battery_lead():
    r = check(FILE_10MOHM, board=0.1, hour=16)
    assert r.measured["current_a"] > PANEL_MAX_A
    f = only(r, "wrong_shunt")
    assert f.en.startswith("Charge of 14.49 A with shunt_ohms = 0.01: no 100 Wp panel gives")
    assert "it sits in the battery lead since the charge goes through it" in f.en
    assert f.power == {"shunt_ohms": 0.01, "max_current_a": 10.0, "lead": "battery"}
    assert f.wiring and r.change == {} and r.exit_code == 1  # the file is right, the board not


def test_default_file_on_the_reference_install_is_never_all_well():
    """0.1 ohm in the file, 10 mOhm fitted: every current reads 10x too low."""
    for hour in range(10, 17):
        r = check(FILE_R100, board=0.01, hour=hour)
        assert r.exit_code == 3, hour
        assert r.change == {}
    r = check(FILE_R100, board=0.01, no_sun=True)
    assert r.exit_code == 1 and r.change == {"shunt_ohms": 0.01, "max_current_a": 10.0}


def test_too_few_reads_is_not_all_well():
    r = check(faults=(FaultWindow(T0 + 0.5, 1e9, FaultMode.OSERROR, 1.0),))
    assert r.exit_code == 1  # the errors themselves
    probe = check().probe
    short = replace(probe, samples=probe.samples[:3])
    r = analyse(short, FILE_10MOHM, no_sun=True)
    assert codes(r) == [("too_few_reads", "unverified")] and r.exit_code == 3


def test_help_lists_the_exit_codes(tmp_path):
    r = keneya(tmp_path, "power", "check", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "Exit 0: all is well; 1: something to change; 2: a [power] no INA219" in text
    assert "3: could not verify: run again with the panel disconnected and --no-sun" in text
    assert "--no-sun" in text


# -- max_current_a too small for the charge ---------------------------------------------------

HALF_LINE = PowerConfig(shunt_ohms=0.01, max_current_a=3.2)


@pytest.mark.parametrize("hour", [11, 12, 13, 14])
def test_saturated_current_register_is_max_current_not_i2c_noise(hour):
    r = check(HALF_LINE, hour=hour)
    assert [c for c, _ in codes(r)] == ["max_current_too_small"]
    f = r.findings[0]
    assert "bits change" not in f.en and f.fault == "wrong_shunt" and not f.wiring
    assert "the driver picked the INA219's gain /1 (±40 mV across the shunt" in f.en
    assert "max_current_a too small for the charge current" in f.en
    assert "max_current_a trop petit pour le courant de charge" in f.fr
    assert r.change == {"max_current_a": 10.0}
    assert r.measured["inconsistent_reads"] == {"power": 0, "current": 0, "settings": 0}


def test_max_current_too_small_is_said_at_night_too():
    r = check(HALF_LINE, no_sun=True)
    assert [c for c, _ in codes(r)] == ["max_current_too_small"]
    assert "il lit au plus 3,28 A, moins que la charge d'un panneau de 100 Wc" in r.findings[0].fr
    assert r.change == {"max_current_a": 10.0}


# -- --simulate and the facility file ---------------------------------------------------------


def test_cli_simulate_says_the_lines_are_for_the_simulated_install(tmp_path):
    facility = tmp_path / "facility.toml"
    facility.write_text("[power]\nshunt_ohms = 0.1\nmax_current_a = 3.2\ninvert = true\n")
    r = keneya(tmp_path, "power", "check", "--simulate", "reversed-shunt", "--no-sun")
    assert r.returncode == 1, r.stderr
    # the file is not read: the scenario's own values are judged
    assert "[power] : shunt_ohms = 0.01, max_current_a = 10, invert = false" in r.stdout
    assert (
        "À mettre dans [power] de l'installation simulée reversed-shunt (--simulate ne lit pas"
        " le fichier de l'établissement) :" in r.stdout
    )
    assert str(facility) not in r.stdout and "facility.toml" not in r.stdout


# -- numbers as each language writes them -----------------------------------------------------

TOML_VALUE = re.compile(r"\b[a-z_]+ = [-\d.]+")  # a [power] line keeps its point


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"no_sun": True},
        {"hour": 12},
        {"hour": 17.5},
        {"board": 0.1, "cfg": FILE_10MOHM},
        {"board": 0.1, "cfg": FILE_10MOHM, "hour": 12},
        {"board": 0.1, "cfg": FILE_R100, "hour": 12},
        {"board": 0.01, "cfg": FILE_R100, "no_sun": True},
        {"cfg": HALF_LINE, "hour": 12},
        {"wiring": Wiring(swapped_inputs=True), "no_sun": True},
        {"wiring": Wiring(swapped_inputs=True), "hour": 12},
        {"wiring": Wiring(bus_v=5.1)},
    ],
)
def test_french_uses_the_decimal_comma_english_the_point(kw):
    r = check(**kw)
    fr, en = r.text("fr"), r.text("en")
    for line in fr.splitlines():
        prose = TOML_VALUE.sub("", line)
        assert not re.search(r"\d\.\d", prose), line
    assert not re.search(r"\d,\d", en), en
    for line in r.to_dict()["change_lines"]:
        assert "," not in line
