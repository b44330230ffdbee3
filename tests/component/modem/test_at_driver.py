"""AtPort against the E173 simulator on a real pty: answers, errors, URCs, SMS and faults."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time

import pytest
import serial

from modem.at import AtPort, Urc
from modem.errors import (
    CmeError,
    CmsError,
    CommandError,
    ConfigurationError,
    ModemError,
    ModemGone,
    ModemTimeout,
    SimPinRequired,
    SimPukRequired,
    SimWrongPassword,
    cme_error,
    cms_error,
)
from modem.simulator import E173Simulator, decode_submit_pdu, run_until_signalled

pytestmark = pytest.mark.component

GUARD_S = 5.0  # only against hanging; no assertion depends on elapsed time
# SMS-SUBMIT, no SMSC, to +22373000000, GSM 7-bit "hello" (3GPP TS 23.040 §9.2.2.2).
PDU_NO_SMSC = "0011000B912273030000F00000AA05E8329BFD06"
PDU_NO_SMSC_OCTETS = 19
PDU_ADDRESS = "+22373000000"


def wait_until(check, what: str):
    """Poll ``check`` until it returns something truthy; fail after GUARD_S."""
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def wait_registered(port: AtPort) -> None:
    wait_until(lambda: port.command("AT+CREG?") == ["+CREG: 0,1"], "home registration")


def wait_gone(port: AtPort) -> ModemGone:
    """Poll the idle port until the driver notices the port went away."""
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        try:
            port.poll(0.05)
        except ModemGone as gone:
            return gone
    pytest.fail("the port never went away")


def echo_lines(caplog: pytest.LogCaptureFixture, cmd: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage() == f"<< {cmd}"]


# -- plain commands -------------------------------------------------------------------------


def test_echo_on_is_dropped_from_the_answer(at_port, caplog):
    caplog.set_level(logging.DEBUG, logger="modem.at")
    assert at_port.command("AT+CGMM") == ["E173"]
    assert echo_lines(caplog, "AT+CGMM") == ["<< AT+CGMM"]  # the echo did arrive


def test_echo_off_answers_the_same(at_port, caplog):
    assert at_port.command("ATE0") == []
    caplog.set_level(logging.DEBUG, logger="modem.at")
    assert at_port.command("AT+CGMM") == ["E173"]
    assert echo_lines(caplog, "AT+CGMM") == []


def test_information_lines_are_returned_in_order(at_port):
    assert at_port.command("ATI") == [
        "Manufacturer: huawei",
        "Model: E173",
        "Revision: 11.126.85.00.209",
        "IMEI: 867530901234567",
        "+GCAP: +CGSM,+DS,+ES",
    ]
    assert at_port.command("AT+CGSN") == ["867530901234567"]
    assert at_port.command("AT+CIMI") == ["610020123456789"]
    assert at_port.command("AT+CSQ") == ["+CSQ: 17,99"]


def test_plain_error_raises_command_error(at_port):
    with pytest.raises(CommandError) as caught:
        at_port.command("AT+NOSUCH")
    assert type(caught.value) is CommandError
    assert caught.value.command == "AT+NOSUCH"
    assert caught.value.result == "ERROR"


def test_cme_numeric_sim_pin_required(make_sim, make_port):
    sim = make_sim(pin="1234")
    port = make_port(sim.link_path)
    port.command("AT+CMEE=1")
    with pytest.raises(SimPinRequired) as caught:
        port.command("AT+CIMI")
    assert caught.value.code == 11
    assert caught.value.meaning == "SIM PIN needed"
    assert isinstance(caught.value, CmeError)


def test_cme_verbose_sim_pin_required(make_sim, make_port):
    sim = make_sim(pin="1234")
    port = make_port(sim.link_path)
    port.command("AT+CMEE=2")
    with pytest.raises(SimPinRequired) as caught:
        port.command("AT+CIMI")
    assert caught.value.code == 11
    assert caught.value.result == "+CME ERROR: SIM PIN required"


def test_cme_codes_with_cmee_0_are_plain_error(make_sim, make_port):
    sim = make_sim(pin="1234")
    port = make_port(sim.link_path)
    with pytest.raises(CommandError) as caught:
        port.command("AT+CIMI")
    assert not isinstance(caught.value, CmeError)


def test_wrong_pin_three_times_blocks_the_sim_and_puk_unblocks(make_sim, make_port):
    sim = make_sim(pin="1234")
    port = make_port(sim.link_path)
    port.command("AT+CMEE=1")
    assert port.command("AT+CPIN?") == ["+CPIN: SIM PIN"]
    for _ in range(3):
        with pytest.raises(SimWrongPassword):
            port.command('AT+CPIN="0000"')
    assert port.command("AT+CPIN?") == ["+CPIN: SIM PUK"]
    with pytest.raises(SimPukRequired):
        port.command('AT+CPIN="1234"')  # the right PIN is too late now
    assert port.command('AT+CPIN="12345678","4321"') == []
    assert port.command("AT+CPIN?") == ["+CPIN: READY"]
    wait_registered(port)


def test_registration_follows_the_pin(make_sim, make_port):
    sim = make_sim(pin="1234")
    port = make_port(sim.link_path)
    assert port.command("AT+CREG?") == ["+CREG: 0,0"]
    port.command('AT+CPIN="1234"')
    wait_registered(port)
    port.command("AT+COPS=3,2")
    assert port.command("AT+COPS?") == ['+COPS: 0,2,"61002",2']
    port.command("AT+COPS=3,0")
    assert port.command("AT+COPS?") == ['+COPS: 0,0,"Orange MALI",2']


def test_network_time_once_registered(at_port):
    wait_registered(at_port)
    at_port.command("AT+CTZU=1")
    (line,) = at_port.command("AT+CCLK?")
    assert re.fullmatch(r'\+CCLK: "\d\d/\d\d/\d\d,\d\d:\d\d:\d\d\+00"', line)
    assert not line.startswith('+CCLK: "00/')  # network time, not time since boot


def test_settings_the_other_modem_parts_use(at_port):
    assert at_port.command('AT+CGDCONT=1,"IP","internet"') == []
    assert at_port.command("AT+CGDCONT?") == ['+CGDCONT: 1,"IP","internet","0.0.0.0",0,0']
    assert at_port.command("AT+CSCA?") == ['+CSCA: "",128']
    at_port.command('AT+CSCA="+22366000000"')
    assert at_port.command("AT+CSCA?") == ['+CSCA: "+22366000000",145']
    wait_registered(at_port)
    assert at_port.command("AT^SYSINFO") == ["^SYSINFO:2,3,0,5,1,,4"]
    assert at_port.command("AT^CURC=0") == []
    assert at_port.command("AT+CNMI=2,1,0,2,0") == []
    with pytest.raises(ConfigurationError):
        at_port.command("AT+CSQ\rATZ")


def test_closed_port_raises_modem_gone(at_port):
    at_port.close()
    assert not at_port.is_open
    with pytest.raises(ModemGone):
        at_port.command("AT")


def test_missing_device_path_raises_modem_gone(tmp_path):
    port = AtPort(str(tmp_path / "ttyUSB9"))
    with pytest.raises(ModemGone) as caught:
        port.open()
    assert isinstance(caught.value, ConnectionError)
    port.close()


# -- URCs -----------------------------------------------------------------------------------


def test_urc_between_echo_and_answer_is_dispatched_not_returned(sim, at_port):
    urcs: list[Urc] = []
    at_port.add_urc_listener(urcs.append)
    sim.emit_urc("^RSSI:9", before_next_reply=True)
    assert at_port.command("AT+CSQ") == ["+CSQ: 17,99"]
    assert urcs == [Urc("^RSSI", "9", "^RSSI:9")]


def test_creg_urc_during_creg_query_is_told_from_the_answer(sim, at_port):
    urcs: list[Urc] = []
    at_port.add_urc_listener(urcs.append)
    wait_registered(at_port)
    sim.emit_urc("+CREG: 1", before_next_reply=True)
    assert at_port.command("AT+CREG?") == ["+CREG: 0,1"]
    at_port.command("AT+CREG=2")
    sim.emit_urc('+CREG: 5,"0F3C","1A2B"', before_next_reply=True)
    assert at_port.command("AT+CREG?") == ['+CREG: 2,1,"0F3C","1A2B"']
    assert [u.line for u in urcs] == ["+CREG: 1", '+CREG: 5,"0F3C","1A2B"']


def test_registration_change_sends_creg_urc_when_enabled(sim, at_port):
    urcs: list[Urc] = []
    at_port.add_urc_listener(urcs.append)
    wait_registered(at_port)
    at_port.command("AT+CREG=1")
    sim.set_registration(3)
    wait_until(lambda: at_port.poll(0.1) and urcs, "a +CREG URC")
    assert urcs[-1] == Urc("+CREG", "3", "+CREG: 3")


def test_poll_dispatches_idle_urcs_and_counts_them(sim, at_port):
    urcs: list[Urc] = []
    at_port.add_urc_listener(urcs.append)
    assert at_port.poll(0.0) == 0
    sim.emit_urc('+CMTI: "SM",3')
    sim.emit_urc("RING")
    wait_until(lambda: len(urcs) == 2 or at_port.poll(0.1) and len(urcs) == 2, "two URCs")
    assert urcs == [Urc("+CMTI", '"SM",3', '+CMTI: "SM",3'), Urc("RING", "", "RING")]


def test_a_failing_listener_is_logged_and_others_still_run(sim, at_port, caplog):
    seen: list[str] = []

    def broken(urc: Urc) -> None:
        raise RuntimeError("listener bug")

    at_port.add_urc_listener(broken)
    at_port.add_urc_listener(lambda urc: seen.append(urc.name))
    sim.emit_urc("^MODE:5,4", before_next_reply=True)
    assert at_port.command("AT+CGMI") == ["huawei"]
    assert seen == ["^MODE"]
    assert any("listener bug" in (r.exc_text or "") for r in caplog.records)


def test_commands_stay_right_under_a_storm_of_periodic_urcs(make_sim, make_port):
    sim = make_sim(urc_every_s=(0.002, 0.01))
    port = make_port(sim.link_path)
    urcs: list[Urc] = []
    port.add_urc_listener(urcs.append)
    for _ in range(30):
        assert port.command("AT+CSQ") == ["+CSQ: 17,99"]
        assert port.command("AT+CGMM") == ["E173"]
    wait_until(lambda: urcs or port.poll(0.1), "periodic URCs")
    assert {u.name for u in urcs} <= {"^RSSI", "^MODE", "^SRVST", "^DSFLOWRPT", "^BOOT"}


# -- faults ---------------------------------------------------------------------------------


def test_no_answer_raises_modem_timeout_then_the_port_recovers(sim, at_port):
    sim.inject("no_answer")
    with pytest.raises(ModemTimeout) as caught:
        at_port.command("AT+CSQ", timeout_s=0.3)
    assert isinstance(caught.value, TimeoutError)
    assert at_port.command("AT+CSQ") == ["+CSQ: 17,99"]


def test_garbage_before_the_answer_is_dropped(sim, at_port):
    sim.inject("garbage", count=2)
    assert at_port.command("AT+CSQ") == ["+CSQ: 17,99"]
    assert at_port.command("AT+CGMM") == ["E173"]
    assert at_port.command("AT+CGMI") == ["huawei"]


def test_disconnect_mid_command_then_reopen_on_the_link(sim, at_port):
    before = sim.device
    sim.inject("disconnect", seconds=0.3)
    with pytest.raises(ModemGone):
        at_port.command("ATI")
    at_port.reopen(settle_s=GUARD_S)
    assert at_port.command("AT+CGMM") == ["E173"]
    assert sim.device != before
    assert os.path.realpath(sim.link_path) == sim.device


def test_vanish_removes_the_link_until_the_port_returns(sim, at_port):
    before = sim.device
    sim.inject("vanish", seconds=0.5)
    assert not os.path.lexists(sim.link_path)
    with pytest.raises(ModemGone):
        at_port.command("AT")
    at_port.reopen(settle_s=GUARD_S)
    assert at_port.command("AT") == []
    assert sim.device != before


def test_reopen_gives_up_with_modem_gone_when_nothing_returns(sim, at_port):
    sim.inject("vanish", seconds=60.0)
    with pytest.raises(ModemGone):
        at_port.reopen(settle_s=0.2)


def test_cfun_reset_reenumerates_with_defaults_and_boot_urcs(sim, at_port, caplog):
    before = sim.device
    at_port.command("ATE0")
    assert at_port.command("AT+CFUN=1,1") == []
    wait_gone(at_port)
    at_port.reopen(settle_s=GUARD_S)
    assert sim.device != before
    urcs: list[Urc] = []
    at_port.add_urc_listener(urcs.append)
    caplog.set_level(logging.DEBUG, logger="modem.at")
    assert at_port.command("AT+CFUN?") == ["+CFUN: 1"]
    assert echo_lines(caplog, "AT+CFUN?") == ["<< AT+CFUN?"]  # echo back on after the reset
    wait_until(lambda: at_port.poll(0.1) and any(u.name == "^BOOT" for u in urcs), "^BOOT")


# -- SMS ------------------------------------------------------------------------------------


def test_sms_without_centre_raises_cms_330(at_port):
    wait_registered(at_port)
    at_port.command("AT+CMGF=0")
    with pytest.raises(CmsError) as caught:
        at_port.send_sms_pdu(PDU_NO_SMSC, PDU_NO_SMSC_OCTETS, timeout_s=GUARD_S)
    assert caught.value.code == 330
    assert "AT+CSCA" in str(caught.value)


def test_sms_without_network_raises_cms_331(sim, at_port):
    at_port.command('AT+CSCA="+22366000000"')
    sim.set_registration(3)
    at_port.command("AT+CMGF=0")
    with pytest.raises(CmsError) as caught:
        at_port.send_sms_pdu(PDU_NO_SMSC, PDU_NO_SMSC_OCTETS, timeout_s=GUARD_S)
    assert caught.value.code == 331


def test_sms_pdu_mode_returns_incrementing_references(sim, at_port):
    wait_registered(at_port)
    at_port.command('AT+CSCA="+22366000000"')
    at_port.command("AT+CMGF=0")
    first = at_port.send_sms_pdu(PDU_NO_SMSC, PDU_NO_SMSC_OCTETS, timeout_s=GUARD_S)
    second = at_port.send_sms_pdu(PDU_NO_SMSC, PDU_NO_SMSC_OCTETS, timeout_s=GUARD_S)
    assert (first, second) == (0, 1)
    assert sim.sms_sent[0] == {
        "mr": 0,
        "mode": "pdu",
        "number": PDU_ADDRESS,
        "pdu_hex": PDU_NO_SMSC,
        "text": "hello",
    }


def test_sms_pdu_with_wrong_length_raises_cms_304(at_port):
    wait_registered(at_port)
    at_port.command('AT+CSCA="+22366000000"')
    with pytest.raises(CmsError) as caught:
        at_port.send_sms_pdu(PDU_NO_SMSC, PDU_NO_SMSC_OCTETS - 1, timeout_s=GUARD_S)
    assert caught.value.code == 304


def test_sms_text_mode_returns_the_reference(sim, at_port):
    wait_registered(at_port)
    at_port.command('AT+CSCA="+22366000000"')
    at_port.command("AT+CMGF=1")
    mr = at_port.send_sms_text("+22376123456", "Rappel: vaccin\nCSCom", timeout_s=GUARD_S)
    assert mr == 0
    assert sim.sms_sent == [
        {
            "mr": 0,
            "mode": "text",
            "number": "+22376123456",
            "pdu_hex": None,
            "text": "Rappel: vaccin\nCSCom",
        }
    ]


def test_sms_text_mode_refuses_what_it_cannot_send(at_port):
    with pytest.raises(ConfigurationError):
        at_port.send_sms_text("+22376123456", "Fièvre")
    with pytest.raises(ConfigurationError):
        at_port.send_sms_text("not a number", "hello")
    with pytest.raises(ConfigurationError):
        at_port.send_sms_pdu("0G", 1)


def read_until(raw: serial.Serial, token: bytes) -> bytes:
    data = b""
    deadline = time.monotonic() + GUARD_S
    while not data.endswith(token) and time.monotonic() < deadline:
        data += raw.read(1)
    return data


def test_escape_cancels_the_sms_body(sim, make_port):
    raw = serial.Serial(sim.device, timeout=0.1)
    try:
        raw.write(b'AT+CSCA="+22366000000"\r')
        assert read_until(raw, b"OK\r\n").endswith(b"\r\nOK\r\n")
        raw.write(b"AT+CMGS=19\r")
        assert read_until(raw, b"> ").endswith(b"AT+CMGS=19\r\r\n> ")  # no line end after it
        raw.write(b"0011\x1b")
        assert read_until(raw, b"OK\r\n").endswith(b"0011\r\nOK\r\n")
    finally:
        raw.close()
    assert sim.sms_sent == []
    port = make_port(sim.link_path)
    wait_registered(port)
    assert port.send_sms_pdu(PDU_NO_SMSC, PDU_NO_SMSC_OCTETS, timeout_s=GUARD_S) == 0


# -- errors and helpers ---------------------------------------------------------------------


def test_errors_mix_in_the_builtin_a_caller_would_catch():
    assert issubclass(ModemTimeout, TimeoutError)
    assert issubclass(ModemGone, ConnectionError)
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(SimPinRequired, CmeError)
    assert issubclass(CmsError, CommandError) and issubclass(CommandError, ModemError)


def test_cme_and_cms_errors_parse_both_forms():
    verbose = cme_error("AT+CPIN?", " SIM PUK required")
    numeric = cme_error("AT+CPIN?", "12")
    assert type(verbose) is type(numeric) is SimPukRequired
    assert verbose.code == numeric.code == 12
    unknown = cme_error("AT+X", "something odd")
    assert type(unknown) is CmeError and unknown.code is None
    assert unknown.meaning == "something odd"
    assert cms_error("AT+CMGS=19", "330").meaning == "SMS centre unknown: set it with AT+CSCA"
    assert cms_error("AT+CMGS=19", "500").meaning == "unknown SMS error"


def test_decode_submit_pdu_reads_number_and_text():
    assert decode_submit_pdu(PDU_NO_SMSC, PDU_NO_SMSC_OCTETS) == (PDU_ADDRESS, "hello", False)
    with pytest.raises(ValueError):
        decode_submit_pdu(PDU_NO_SMSC, PDU_NO_SMSC_OCTETS + 1)


def test_simulator_and_port_leave_no_file_descriptors_open(tmp_path):
    before = set(os.listdir("/proc/self/fd"))
    with (
        E173Simulator(link_path=tmp_path / "tty", urc_every_s=None, seed=1) as sim,
        AtPort(str(tmp_path / "tty"), timeout_s=GUARD_S) as port,
    ):
        assert port.command("AT") == []
        sim.inject("vanish", seconds=0.05)
        port.reopen(settle_s=GUARD_S)
        assert port.command("AT") == []
    assert set(os.listdir("/proc/self/fd")) <= before
    assert not os.path.lexists(tmp_path / "tty")


def test_run_until_signalled_closes_on_sigterm(tmp_path):
    sim = E173Simulator(link_path=tmp_path / "tty", urc_every_s=None)

    def terminate_once_running() -> None:
        deadline = time.monotonic() + GUARD_S
        while not sim.is_present and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)  # handlers are set before the port appears

    previous = signal.getsignal(signal.SIGTERM)
    killer = threading.Thread(target=terminate_once_running)
    killer.start()
    try:
        run_until_signalled(sim)
    finally:
        killer.join()
    assert not os.path.lexists(tmp_path / "tty")
    assert not sim.is_present
    assert signal.getsignal(signal.SIGTERM) is previous
