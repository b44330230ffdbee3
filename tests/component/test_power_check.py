"""`keneya power check` against each wiring fault, on the fake bus with the real register map:
the production driver programs and reads a fake INA219 whose shunt sees a simulated
installation (sunny scenario: a 40 Ah battery, the appliance as load)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from power.check import analyse, collect, collect_hardware
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


def check(cfg=FILE_10MOHM, *, board=0.01, hour=0.0, wiring=None, faults=(), address=0x40):
    """Collect and judge one install: ``board`` is the shunt really fitted, ``cfg`` the file."""
    scenario = SCENARIOS["sunny"].with_(start_s=hour * 3600)
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
    return analyse(probe, cfg)


def codes(report):
    return [(f.code, f.severity) for f in report.findings]


def only(report, code):
    (finding,) = [f for f in report.findings if f.code == code]
    return finding


def test_healthy_install_has_nothing_to_change():
    r = check()
    assert r.exit_code == 0 and r.findings == []
    assert r.measured["reads"] == r.measured["good_reads"] == 30
    assert r.measured["bus_v"] == pytest.approx(12.41, abs=0.02)
    assert r.measured["current_a"] == pytest.approx(-0.47, abs=0.02)  # the Pi at night
    assert r.inferred["shunt_ohms"] == 0.01 and r.inferred["sign"] == "ok"
    assert r.inferred["appliance_draw_a"] == pytest.approx(0.47, abs=0.02)
    text = r.text("fr")
    assert "Tout va bien : rien à changer. Ensuite : keneya power status" in text
    assert "Tension : 12.41 V" in text


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
    assert "Tension de bus 0.00 V : VIN- n'est pas relié au + de la batterie" in f.fr
    assert r.inferred["battery_voltage_ok"] is False and r.inferred["sign"] is None


def test_vin_minus_on_the_pis_5v():
    f = only(check(wiring=Wiring(bus_v=5.1)), "bus_5v")
    assert "Tension de bus 5.10 V : c'est le 5 V du Pi, pas la batterie." in f.fr


def test_voltage_outside_a_12v_battery():
    f = only(check(wiring=Wiring(bus_v=25.6)), "bus_out_of_range")
    assert "hors de la plage d'une batterie 12 V (8 à 16 V) : une batterie 24 V ?" in f.fr


def test_reversed_shunt_at_night():
    r = check(wiring=Wiring(swapped_inputs=True))
    f = only(r, "reversed")
    assert r.exit_code == 1 and f.fault == "reversed_shunt"
    assert f.fr.startswith("Courant +0.47 A (« en charge ») à 12.41 V : une batterie qui charge")
    assert "Dans [power] : invert = true (ou croisez les fils VIN+ et VIN-)." in f.fr
    assert r.change == {"invert": True}
    assert r.inferred["sign"] == "reversed" and r.inferred["shunt_ohms"] == 0.01
    assert r.text("fr").splitlines()[-3:] == [
        "À mettre dans [power] de facility.toml :",
        "  invert = true",
        "puis : sudo systemctl restart keneya-power ; keneya power check",
    ]


def test_invert_set_on_a_shunt_wired_the_right_way():
    cfg = PowerConfig(shunt_ohms=0.01, max_current_a=10.0, invert=True)
    r = check(cfg)
    assert "Dans [power] : invert = false" in only(r, "reversed").fr
    assert r.change == {"invert": False}


def test_reversed_shunt_in_the_sun_says_the_sign_is_less_certain():
    r = check(hour=12, wiring=Wiring(swapped_inputs=True))
    assert codes(r) == [("reversed", "fix"), ("charging_now", "note")]
    assert only(r, "reversed").fr.startswith("Courant -4.45 A (« décharge ») à 13.84 V")
    assert "Relancez le test à la tombée du jour ou panneau débranché" in only(r, "charging_now").fr
    assert r.change == {"invert": True}


def test_charging_in_the_sun_is_well_but_asks_for_a_check_at_dusk():
    r = check(hour=12)
    assert r.exit_code == 0 and codes(r) == [("charging_now", "note")]
    assert r.inferred["sign"] == "likely" and r.inferred["lead"] == "battery"
    assert "Tout va bien" in r.text("fr")


def test_breakout_board_with_a_10_mohm_file():
    r = check(FILE_10MOHM, board=0.1)
    f = only(r, "wrong_shunt")
    assert f.fr.startswith(
        "Courant -4.74 A avec shunt_ohms = 0.01 : 10 fois la consommation de l'appareil seul"
    )
    assert "le shunt en place est le R100 de la carte INA219 courante (0.1 Ω)" in f.fr
    assert "Dans [power] : shunt_ohms = 0.1, max_current_a = 3.2." in f.fr
    assert "posez plutôt un shunt externe de 0,01 Ω (R100 retiré)" in f.fr  # the other way
    assert r.change == {"shunt_ohms": 0.1, "max_current_a": 3.2}
    assert r.inferred["shunt_ohms"] == 0.1 and r.inferred["max_current_a"] == 3.2
    assert r.inferred["appliance_draw_a"] == pytest.approx(0.47, abs=0.02)


def test_10_mohm_shunt_with_the_breakouts_values():
    r = check(FILE_R100, board=0.01)
    f = only(r, "wrong_shunt")
    assert f.fr.startswith("Courant -0.05 A avec shunt_ohms = 0.1 : 10 fois moins que")
    assert "le shunt en place est un shunt externe de 10 mΩ (0.01 Ω)" in f.fr
    assert f.fr.endswith("Dans [power] : shunt_ohms = 0.01, max_current_a = 10.")
    assert r.change == {"shunt_ohms": 0.01, "max_current_a": 10.0}


def test_reversed_and_wrong_shunt_together():
    r = check(FILE_10MOHM, board=0.1, wiring=Wiring(swapped_inputs=True))
    assert codes(r) == [("reversed", "fix"), ("wrong_shunt", "fix")]
    assert r.change == {"invert": True, "shunt_ohms": 0.1, "max_current_a": 3.2}


def test_charge_overflows_the_breakout_board():
    r = check(FILE_R100, board=0.1, hour=12)
    f = only(r, "overflow")
    assert f.fault == "wrong_shunt" and f.wiring
    assert "la tension de shunt atteint la limite de l'INA219 (320 mV)" in f.fr
    assert "un shunt de 0,1 Ω lit au plus 3,2 A, un panneau de 100 Wc charge à environ 6 A" in f.fr
    assert "Dans [power] (à mettre) : shunt_ohms = 0.01, max_current_a = 10." in f.fr
    assert r.change == {"shunt_ohms": 0.01, "max_current_a": 10.0}


def test_overflow_with_a_10_mohm_file_points_at_the_boards_own_shunt():
    r = check(FILE_10MOHM, board=0.1, hour=12)
    f = only(r, "overflow")
    assert "limite de l'INA219 (160 mV) ; avec shunt_ohms = 0.01 ce serait 16 A ou plus" in f.fr
    assert "la carte porte sans doute son R100 de 0,1 Ω" in f.fr
    assert "Dans [power] (déjà ainsi, c'est juste) : shunt_ohms = 0.01" in f.fr
    assert r.exit_code == 1 and r.change == {}
    assert r.text("fr").endswith("Corrigez ce qui précède, puis relancez keneya power check.")


def test_chip_reset_during_the_check():
    r = check(faults=(FaultWindow(T0 + 10, T0 + 11, FaultMode.RESET),))
    f = only(r, "chip_reset")
    assert r.measured["resets"] == 1 and f.fault == "chip_reset"
    assert "perdu ses réglages 1 fois pendant le test (configuration revenue à 0x399f" in f.fr
    # programmed again, the rest of the check measured normally
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
    r = analyse(probe, FILE_10MOHM)
    assert r.exit_code == 0 and r.findings == []
    assert r.inferred["appliance_draw_a"] == 0.5


def test_charging_current_at_a_middle_voltage_is_only_a_doubt():
    """+0.5 A at 12.9 V: a morning charge, or a reversed shunt at night; the voltage cannot
    tell, so the check says so and asks for a run at dusk without failing."""
    clock = SimClock()
    chip = FakeIna219(lambda t: (0.5, 12.9), clock=clock, shunt_ohms=0.01, noise=BOARD_NOISE)
    probe = collect(FakeSMBus({0x40: chip}), FILE_10MOHM, sleep=clock.advance, clock=clock)
    r = analyse(probe, FILE_10MOHM)
    assert r.exit_code == 0 and codes(r) == [("sign_uncertain", "note")]
    assert "de nuit, ce serait un shunt monté à l'envers" in r.findings[0].fr
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
    assert finding["power"] == {"shunt_ohms": 0.1, "max_current_a": 3.2}
    assert doc["change_lines"] == ["shunt_ohms = 0.1", "max_current_a = 3.2"]
    json.dumps(doc)  # plain JSON types only


# -- the command -----------------------------------------------------------------------------


def test_cli_healthy_simulation(tmp_path):
    r = keneya(tmp_path, "power", "check", "--simulate", "sunny")
    assert r.returncode == 0, r.stderr
    assert "(simulator:sunny@00:00)" in r.stdout
    assert r.stdout.rstrip().endswith(
        "Tout va bien : rien à changer. Ensuite : keneya power status"
    )


def test_cli_wrong_shunt_scenario(tmp_path):
    r = keneya(tmp_path, "power", "check", "--simulate", "wrong-shunt", "--lang", "en")
    assert r.returncode == 1, r.stderr
    assert "In [power]: shunt_ohms = 0.1, max_current_a = 3.2." in r.stdout
    assert "\n  shunt_ohms = 0.1\n  max_current_a = 3.2\n" in r.stdout


def test_cli_reversed_shunt_json(tmp_path):
    r = keneya(tmp_path, "power", "check", "--simulate", "reversed-shunt", "--json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert [f["code"] for f in doc["findings"]] == ["reversed"]
    assert doc["change"] == {"invert": True} and doc["inferred"]["sign"] == "reversed"
    assert doc["source"] == "simulator:reversed-shunt@00:00" and doc["reads"] == 30


def test_cli_seconds_and_start_hour(tmp_path):
    r = keneya(
        tmp_path, "power", "check", "--simulate", "sunny", "--start-hour", "12", "--seconds", "5"
    )
    assert r.returncode == 0, r.stderr
    assert "Lu : 5 lectures, 5 valables" in r.stdout
    assert "? Le panneau charge" in r.stdout


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
