"""Reading AT answers (3GPP TS 27.007 formats) and the APN table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modem import answers
from modem.config import ModemConfig, from_mapping, load
from modem.errors import ConfigurationError


@pytest.mark.parametrize(
    ("lines", "state"),
    [
        (["+CPIN: READY"], "ready"),
        (["+CPIN: SIM PIN"], "pin_required"),
        (["+CPIN: SIM PUK"], "puk_required"),
        (["+CPIN: SIM PIN2"], "ready"),
        (["+CPIN: PH-NET PIN"], "other:PH-NET PIN"),
    ],
)
def test_sim_state(lines, state):
    assert answers.sim_state(lines) == state


@pytest.mark.parametrize(
    ("line", "state"),
    [
        ("+CREG: 0,1", "home"),
        ('+CREG: 2,5,"1A2B","00C3F1"', "roaming"),
        ("+CREG: 0,2", "searching"),
        ("+CREG: 0,3", "denied"),
        ("+CREG: 0,0", "not_registered"),
        ("+CREG: 0,4", "unknown"),
    ],
)
def test_registration_reads_stat_not_n(line, state):
    assert answers.registration([line]) == state


def test_registration_of_the_packet_domain_and_of_a_urc():
    assert answers.registration(["+CGREG: 0,1"], "+CGREG:") == "home"
    assert answers.registration_urc("5") == "roaming"
    assert answers.registration_urc('1,"1A2B","00C3F1"') == "home"


def test_a_missing_line_is_an_error_not_a_guess():
    with pytest.raises(ValueError, match=r"\+CSQ"):
        answers.signal(["OK"])


@pytest.mark.parametrize(
    ("rssi", "dbm", "bars"),
    [
        (0, -113, 0),
        (1, -111, 0),
        (2, -109, 1),
        (8, -97, 2),
        (14, -85, 3),
        (17, -79, 4),
        (20, -73, 5),
        (31, -51, 5),
        (99, None, 0),
    ],
)
def test_signal_in_dbm_and_bars(rssi, dbm, bars):
    assert answers.signal([f"+CSQ: {rssi},99"]) == dbm
    assert answers.bars(dbm) == bars


def test_bars_never_go_down_as_the_signal_gets_stronger():
    levels = [answers.bars(answers.csq_dbm(r)) for r in range(32)]
    assert levels == sorted(levels) and levels[0] == 0 and levels[-1] == 5


def test_operator_long_and_numeric():
    assert answers.operator(['+COPS: 0,0,"Orange MALI",2']) == ("Orange MALI", None)
    assert answers.operator(['+COPS: 0,2,"61002",2']) == (None, "61002")
    assert answers.operator(["+COPS: 0"]) == (None, None)


def test_network_time_in_quarter_hours_to_utc():
    assert answers.network_time(['+CCLK: "26/11/30,10:15:00+00"']) == datetime(
        2026, 11, 30, 10, 15, tzinfo=UTC
    )
    # +04 quarter hours = UTC+1: 10:15 local is 09:15 UTC
    assert answers.network_time(['+CCLK: "26/11/30,10:15:00+04"']) == datetime(
        2026, 11, 30, 9, 15, tzinfo=UTC
    )
    assert answers.network_time(['+CCLK: "26/13/40,10:15:00+00"']) is None
    assert answers.network_time(["OK"]) is None


def test_identity_and_imei_masking():
    info = answers.identity(["Manufacturer: huawei", "Model: E173", "IMEI: 867530901234567"])
    assert info == {"manufacturer": "huawei", "model": "E173", "imei": "867530901234567"}
    assert answers.mask_imei("867530901234567") == "***********4567"
    assert answers.mask_imei(None) is None


def test_modem_config_defaults_and_errors(tmp_path):
    assert load(tmp_path / "absent.toml") == ModemConfig()
    f = tmp_path / "facility.toml"
    f.write_text('[modem]\napn = "internet"\nsms_gateway = "+223 70 00 00 00"\n')
    cfg = load(f)
    assert cfg.apn == "internet" and cfg.sms_gateway == "+223 70 00 00 00"
    for section, message in [
        ({"apm": "x"}, "unknown keys: apm"),
        ({"link": "wifi"}, "link must be one of"),
        ({"sms_gateway": "district"}, "not a phone number"),
        ({"sms_after_days": "5"}, "must be a number"),
        ({"pay_per_minute": 1}, "must be true or false"),
        ({"send_every_s": 0}, "must be positive"),
        # an APN goes into the chat script and the keyfile: checked at provisioning, not
        # only when the link is built months later
        ({"apn": "web malitel"}, "is not an APN"),
        ({"apn": 'web"x'}, "is not an APN"),
        ({"apn": "x;rm -rf /"}, "is not an APN"),
        ({"apn": "a" * 120}, "is not an APN"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            from_mapping(section)
    f.write_text("[modem\n")
    with pytest.raises(ConfigurationError, match="facility.toml"):
        load(f)
