"""The modem state machine against the E173 simulator on a real pseudo-terminal: every rung
of the ladder and every way off it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from modem.at import AtPort
from modem.errors import CmeError
from modem.machine import RESTART_IF_SEARCHING_S, ModemMachine

pytestmark = pytest.mark.component


def machine_for(sim, **kw) -> ModemMachine:
    path = str(sim.link_path)
    kw.setdefault("open_port", lambda p: AtPort(p, timeout_s=3.0))
    return ModemMachine(find_port=lambda: path if sim.is_present else None, **kw)


def climb(machine: ModemMachine, until: str, *, steps: int = 60) -> list[str]:
    """Step until the state is `until` (registration takes a moment on the simulator)."""
    seen = []
    for _ in range(steps):
        st = machine.step()
        if not seen or seen[-1] != st.state:
            seen.append(st.state)
        if st.state == until:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"never reached {until}: {seen}")


def test_absent_when_no_port(tmp_path):
    m = ModemMachine(find_port=lambda: None)
    st = m.step()
    assert st.state == "absent" and not st.present and "plugged in" in st.error


def test_the_whole_ladder_to_ready(make_sim):
    sim = make_sim()
    times: list[datetime] = []
    with machine_for(sim, on_network_time=times.append) as m:
        seen = climb(m, "ready")
        st = m.status
    assert seen[0] in ("detected", "searching", "ready")
    assert st.present and st.manufacturer.lower() == "huawei" and st.model == "E173"
    assert st.imei == "***********4567"
    assert st.sim == "ready" and st.registration == "home"
    assert st.mcc_mnc == "61002" and st.operator == "Orange MALI" and st.apn == "internet"
    assert st.signal_dbm == -79 and st.signal_bars == 4
    assert [s for _, s in st.history][:2] == ["absent", "detected"]
    assert len(times) == 1 and times[0].tzinfo is UTC
    assert "ATE0" in sim.commands and "AT+CTZU=1" in sim.commands


def test_each_malian_network_gets_its_apn_and_an_unknown_one_needs_one(make_sim):
    expected = {
        "malitel": ("61001", "web.malitel3.ml", "internet"),
        "orange": ("61002", "internet", "internet"),
        "telecel": ("61003", "internet", ""),  # not in the database: the built-in table
    }
    for network, (code, apn, username) in expected.items():
        sim = make_sim(network=network)
        with machine_for(sim) as m:
            climb(m, "ready")
            assert (m.status.mcc_mnc, m.status.apn) == (code, apn), network
            assert m.apn is not None and m.apn.username == username
        sim.close()
    other = make_sim(mcc_mnc="99999", operator="TEST NETWORK")
    with machine_for(other) as m:
        climb(m, "no_apn")
        assert "[modem] apn" in m.status.error and m.apn is None
    with machine_for(other, apn_override="private.apn") as m:
        climb(m, "ready")
        assert m.status.apn == "private.apn" and m.apn.source == "facility file"


def test_sim_pin_entered_from_the_secrets(make_sim):
    sim = make_sim(pin="4321")
    with machine_for(sim, sim_pin="4321") as m:
        climb(m, "ready")
    assert 'AT+CPIN="4321"' in sim.commands


def test_no_pin_in_the_secrets_stops_at_sim_locked(make_sim):
    sim = make_sim(pin="4321")
    with machine_for(sim) as m:
        st = m.step()
    assert st.state == "sim_locked" and "secrets/sim_pin" in st.error


def test_a_wrong_pin_is_tried_once_and_never_again(make_sim):
    sim = make_sim(pin="4321")
    rejected: set[str] = set()
    kw = {
        "sim_pin": "0000",
        "pin_rejected": lambda pin: pin in rejected,
        "remember_rejected_pin": rejected.add,
    }
    with machine_for(sim, **kw) as m:
        for _ in range(5):
            st = m.step()
    assert st.state == "sim_locked" and rejected == {"0000"}
    # a restarted daemon remembers too (the store keeps it): still one try in all
    with machine_for(sim, **kw) as m:
        m.step()
    assert sum(c.startswith("AT+CPIN=") for c in sim.commands) == 1


def test_puk_is_never_guessed(make_sim):
    sim = make_sim(pin="4321")
    with AtPort(str(sim.link_path), timeout_s=3.0) as port:  # someone else burnt the tries
        port.command("AT+CMEE=1")
        for _ in range(3):
            with pytest.raises(CmeError):
                port.command('AT+CPIN="1111"')
    with machine_for(sim, sim_pin="4321") as m:
        st = m.step()
    assert st.state == "sim_blocked" and "PUK" in st.error
    assert sum(c.startswith("AT+CPIN=") for c in sim.commands) == 3


def test_searching_denied_and_back(make_sim):
    sim = make_sim()
    with machine_for(sim) as m:
        climb(m, "ready")
        sim.set_registration(2)
        assert m.step().state == "searching"
        sim.set_registration(3)
        st = m.step()
        assert st.state == "denied" and "operator" in st.error
        sim.set_registration(5)
        st = m.step()
        assert st.state == "ready" and st.registration == "roaming"


def test_no_signal_reads_as_unknown(make_sim):
    sim = make_sim(csq=99)
    with machine_for(sim) as m:
        climb(m, "ready")
        assert m.status.signal_dbm is None and m.status.signal_bars == 0


def test_a_modem_stuck_searching_is_restarted_once_and_found_again(make_sim):
    sim = make_sim()
    t = [0.0]
    with machine_for(sim, monotonic=lambda: t[0]) as m:
        climb(m, "ready")
        sim.set_registration(2)
        m.step()
        t[0] = RESTART_IF_SEARCHING_S + 1
        m.step()
        assert "AT+CFUN=1,1" in sim.commands and m.port is None
        deadline = time.monotonic() + 5
        while sim.is_present and time.monotonic() < deadline:
            time.sleep(0.02)  # the stick drops off the bus...
        sim.set_registration(1)
        climb(m, "ready")  # ...and comes back under another name
        t[0] += 60  # not restarted again within the hour
        sim.set_registration(2)
        m.step()
        assert sim.commands.count("AT+CFUN=1,1") == 1


def test_a_port_that_vanishes_is_found_again(make_sim):
    sim = make_sim()
    with machine_for(sim) as m:
        climb(m, "ready")
        old = sim.device
        sim.inject("vanish", seconds=0.3)
        st = m.step()
        assert st.state == "absent" and not st.present
        climb(m, "ready")
        assert sim.device != old


def test_no_answer_then_usb_reset_after_repeated_failures(make_sim):
    sim = make_sim()
    resets = []
    with machine_for(
        sim,
        open_port=lambda p: AtPort(p, timeout_s=0.3),
        reset_usb=lambda: resets.append(1) or True,
    ) as m:
        climb(m, "ready")
        sim.inject("no_answer", count=1000)
        for _ in range(4):
            m.step()
        assert m.status.state == "absent" and "does not answer" in m.status.error
        assert resets == [1]


def test_the_simulator_plays_each_malian_network(make_sim, make_port):
    from modem.errors import ConfigurationError
    from modem.simulator import NETWORKS, E173Simulator

    for name, network in NETWORKS.items():
        sim = make_sim(network=name)
        port = make_port(sim.link_path)
        assert port.command("AT+CIMI") == [network.imsi] and network.imsi.startswith(
            network.mcc_mnc
        )
        offered = port.command("AT+COPS=?")[0]
        assert f'"{network.long_name}","{network.short_name}","{network.mcc_mnc}"' in offered
        port.close()
        sim.close()
    assert {n.mcc_mnc for n in NETWORKS.values()} == {"61001", "61002", "61003"}
    with pytest.raises(ConfigurationError, match="unknown network"):
        E173Simulator(network="moov")
