"""The modem's state, climbed one rung at a time:

absent → detected (ATI, AT+CGMI, AT+CGMM) → SIM (AT+CPIN?: READY; SIM PIN → the PIN from the
secrets, tried once; SIM PUK → stop and alert, never guess) → registered (AT+CREG?/AT+CGREG?:
home, roaming; searching and denied stop the climb) → signal (AT+CSQ) → operator (AT+COPS?
numeric and long) → APN (facility file, else mobile-broadband-provider-info, else the built-in
table for Mali: `modem.apn`).

`step()` runs the ladder from the top and stops at the first rung not reached, so a SIM pulled
out or a registration lost shows at the next step. Each state and the time it was entered are
kept for the technician. The data link itself is the daemon's: this class only says whether
the modem is ready for one.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modem import answers
from modem.apn import DATABASE, Apn, ApnOverrides, apn_for, operator_name
from modem.at import AtPort
from modem.errors import (
    CmeError,
    CommandError,
    ModemError,
    ModemGone,
    ModemTimeout,
    SimWrongPassword,
)

log = logging.getLogger(__name__)

# The states, in climbing order; the technician sees these names.
STATES = (
    "absent",  # no AT port found, or it does not answer
    "detected",  # answers AT; identity read
    "sim_missing",
    "sim_locked",  # SIM PIN needed and none (or a rejected one) in the secrets
    "sim_blocked",  # SIM PUK needed: only the operator's PUK helps; never guessed
    "searching",
    "denied",
    "registered",
    "no_apn",  # registered on a network with no known APN and none in the facility file
    "ready",  # registered, APN known: a data link can be made
)
# After this many failed steps in a row the port is reopened by path, and after more the USB
# device is reset (the stick re-enumerates, maybe under another name).
REOPEN_AFTER_FAILURES = 1
USB_RESET_AFTER_FAILURES = 4
# A SIM that is ready but never registers for this long gets one modem restart (AT+CFUN=1,1);
# an E173 stuck in "searching" after a cell outage usually recovers that way.
RESTART_IF_SEARCHING_S = 15 * 60
RESTART_AT_MOST_EVERY_S = 60 * 60


@dataclass
class ModemStatus:
    state: str = "absent"
    since: str | None = None  # when this state was entered (wall clock, ISO)
    present: bool = False
    manufacturer: str | None = None
    model: str | None = None
    imei: str | None = None  # masked
    sim: str | None = None  # ready, pin_required, puk_required, missing, error
    registration: str | None = None
    operator: str | None = None
    mcc_mnc: str | None = None
    signal_dbm: int | None = None
    signal_bars: int = 0
    apn: str | None = None
    error: str | None = None
    history: list[tuple[str, str]] = field(default_factory=list)  # (since, state), newest last

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["history"] = [{"state": s, "since": t} for t, s in self.history]
        return out


def _utc_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ModemMachine:
    """Drives one AT port. Not thread-safe: the daemon's loop owns it."""

    def __init__(
        self,
        *,
        find_port: Callable[[], str | None],
        open_port: Callable[[str], AtPort] = AtPort,
        sim_pin: str | None = None,
        pin_rejected: Callable[[str], bool] = lambda pin: False,
        remember_rejected_pin: Callable[[str], None] = lambda pin: None,
        apn_override: str | ApnOverrides | None = None,
        apn_database: Path = DATABASE,
        next_sms_reference: Callable[[], int] | None = None,
        on_network_time: Callable[[datetime], None] | None = None,
        reset_usb: Callable[[], bool] = lambda: False,
        monotonic: Callable[[], float] = time.monotonic,
        wall_iso: Callable[[], str] = _utc_iso,
        history_size: int = 20,
    ):
        self.find_port = find_port
        self.open_port = open_port
        self.sim_pin = sim_pin
        self.pin_rejected = pin_rejected
        self.remember_rejected_pin = remember_rejected_pin
        self.apn_override = apn_override
        self.apn_database = apn_database
        self.next_sms_reference = next_sms_reference
        self.apn: Apn | None = None  # with its credentials, for the data link
        self.on_network_time = on_network_time
        self.reset_usb = reset_usb
        self.monotonic = monotonic
        self.wall_iso = wall_iso
        self.history_size = history_size
        self.port: AtPort | None = None
        self.status = ModemStatus()
        self._failures = 0
        self._identified = False
        self._time_read = False
        self._searching_since: float | None = None
        self._last_restart: float | None = None
        self._urc_listeners: list[Callable[..., None]] = []
        self._enter("absent")

    # -- public -------------------------------------------------------------------------------
    def add_urc_listener(self, callback: Callable[..., None]) -> None:
        """Listeners are attached to every port this machine opens."""
        self._urc_listeners.append(callback)
        if self.port is not None:
            self.port.add_urc_listener(callback)

    def step(self) -> ModemStatus:
        try:
            self._climb()
            self._failures = 0
        except (ModemTimeout, ModemGone) as e:
            self._failed(e)
        except (ModemError, ValueError) as e:
            # an error or an answer we did not expect on the way up (firmware differ): say
            # it, try again next step
            self.status.error = str(e)
            log.warning("modem: %s", e)
        return self.status

    def poll(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for unsolicited lines (signal changes, registration), so an
        idle daemon sleeps in select() on the port instead of waking to ask."""
        if self.port is None:
            if timeout_s > 0:
                time.sleep(timeout_s)
            return
        try:
            self.port.poll(timeout_s)
        except (ModemTimeout, ModemGone) as e:
            self._failed(e)

    def command(self, cmd: str, *, timeout_s: float | None = None) -> list[str]:
        """An AT command for someone else (SMS), on the port this machine keeps open."""
        if self.port is None:
            raise ModemGone("no modem port open")
        return self.port.command(cmd, timeout_s=timeout_s)

    def send_sms(self, number: str, text: str) -> int:
        """One SMS on the port this machine keeps open; its message reference."""
        if self.port is None:
            raise ModemGone("no modem port open")
        return send_sms(self.port, number, text, next_reference=self.next_sms_reference)

    def close(self) -> None:
        if self.port is not None:
            self.port.close()
            self.port = None

    def __enter__(self) -> ModemMachine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the ladder ---------------------------------------------------------------------------
    def _climb(self) -> None:
        st = self.status
        if self.port is None and not self._open():
            return
        port = self.port
        assert port is not None
        if not self._identified:
            self._identify(port)
        st.present = True
        if st.state == "absent":
            self._enter("detected")
        if not self._sim(port):
            self._forget_network()
            st.registration = None
            return
        reg = self._registration(port)
        if reg not in answers.REGISTERED:
            self._forget_network()
            self._not_registered(port, reg)
            return
        self._searching_since = None
        st.signal_dbm = answers.signal(port.command("AT+CSQ"))
        st.signal_bars = answers.bars(st.signal_dbm)
        self._operator(port)
        if not self._time_read:
            self._network_time(port)
        apn = apn_for(st.mcc_mnc, override=self.apn_override, database=self.apn_database)
        self.apn = apn
        st.apn = apn.name if apn else None
        if apn is None:
            st.error = f"no APN known for network {st.mcc_mnc}: set [modem] apn"
            self._enter("no_apn")
            return
        st.error = None
        self._enter("ready")

    def _forget_network(self) -> None:
        """Not registered: the operator, its code and the APN of the last network are not
        today's, and no data link can be up."""
        st = self.status
        st.operator = st.mcc_mnc = st.apn = None
        self.apn = None

    def _open(self) -> bool:
        path = self.find_port()
        if path is None:
            self._absent("no modem found (is the 3G stick plugged in?)")
            return False
        port = self.open_port(path)
        try:
            if not port.is_open:
                port.open()
            for listener in self._urc_listeners:
                port.add_urc_listener(listener)
            port.command("ATE0")  # no echo: fewer bytes, simpler logs
            port.command("AT+CMEE=1")  # numeric +CME ERROR codes
            # registration changes as they happen (+CREG: <stat>), not at the next poll
            port.command("AT+CREG=1")
            with contextlib.suppress(CommandError):
                port.command("AT+CGREG=1")
        except ModemError:
            port.close()
            raise
        self.port = port
        self._identified = False
        log.info("modem: AT port open on %s", path)
        return True

    def _identify(self, port: AtPort) -> None:
        st = self.status
        info = answers.identity(port.command("ATI"))
        st.manufacturer = info.get("manufacturer") or _one(port.command("AT+CGMI"))
        st.model = info.get("model") or _one(port.command("AT+CGMM"))
        st.imei = answers.mask_imei(info.get("imei") or _one(port.command("AT+CGSN")))
        self._identified = True

    def _sim(self, port: AtPort) -> bool:
        st = self.status
        try:
            st.sim = answers.sim_state(port.command("AT+CPIN?"))
        except CmeError as e:
            # CME 10 "SIM not inserted", 13 "SIM failure", 14 "SIM busy"
            st.sim = "missing" if e.code == 10 else "error"
            st.error = str(e)
            self._enter("sim_missing")
            return False
        if st.sim == "puk_required":
            st.error = "SIM blocked (PUK needed): ask the operator for the PUK; it is never guessed"
            self._enter("sim_blocked")
            return False
        if st.sim == "pin_required":
            return self._enter_pin(port)
        if st.sim != "ready":
            st.error = f"SIM state {st.sim}"
            self._enter("sim_missing")
            return False
        return True

    def _enter_pin(self, port: AtPort) -> bool:
        st = self.status
        pin = self.sim_pin
        if not pin:
            st.error = "SIM PIN needed: put it in secrets/sim_pin"
            self._enter("sim_locked")
            return False
        if self.pin_rejected(pin):
            # A PIN the SIM refused is never sent again: three refusals block the SIM.
            st.error = "the SIM refused the PIN in secrets/sim_pin; not trying it again"
            self._enter("sim_locked")
            return False
        try:
            port.command(f'AT+CPIN="{pin}"', timeout_s=20.0)
        except SimWrongPassword:
            self.remember_rejected_pin(pin)
            st.error = "the SIM refused the PIN in secrets/sim_pin; not trying it again"
            self._enter("sim_locked")
            return False
        log.info("modem: SIM PIN accepted")
        st.sim = "ready"
        return True

    def _registration(self, port: AtPort) -> str:
        st = self.status
        cs = answers.registration(port.command("AT+CREG?"))
        try:
            ps = answers.registration(port.command("AT+CGREG?"), "+CGREG:")
        except ModemError:
            ps = cs  # some firmware answers ERROR before packet attach
        # data needs packet-switched registration; a circuit-only one still carries SMS
        st.registration = ps if ps in answers.REGISTERED else cs
        return st.registration

    def _not_registered(self, port: AtPort, reg: str) -> None:
        st = self.status
        st.signal_dbm = answers.signal(port.command("AT+CSQ"))
        st.signal_bars = answers.bars(st.signal_dbm)
        if reg == "denied":
            st.error = "the network refused the SIM (registration denied): call the operator"
            self._enter("denied")
            return
        st.error = None
        self._enter("searching")
        now = self.monotonic()
        if self._searching_since is None:
            self._searching_since = now
        stuck = now - self._searching_since >= RESTART_IF_SEARCHING_S
        rested = self._last_restart is None or now - self._last_restart >= RESTART_AT_MOST_EVERY_S
        if stuck and rested:
            log.warning("modem: no network for %.0f min; restarting the modem", stuck / 60)
            self._last_restart = now
            self._searching_since = None
            port.command("AT+CFUN=1,1", timeout_s=10.0)
            self.close()  # the stick re-enumerates; the next step finds it again

    def _operator(self, port: AtPort) -> None:
        st = self.status
        port.command("AT+COPS=3,2")
        _, st.mcc_mnc = answers.operator(port.command("AT+COPS?"))
        port.command("AT+COPS=3,0")
        name, _ = answers.operator(port.command("AT+COPS?"))
        st.operator = name or operator_name(st.mcc_mnc, database=self.apn_database)

    def _network_time(self, port: AtPort) -> None:
        self._time_read = True  # once a connection; a failure here is not worth retrying
        try:
            port.command("AT+CTZU=1")
            moment = answers.network_time(port.command("AT+CCLK?"))
        except ModemError as e:
            log.info("modem: no network time (%s)", e)
            return
        if moment is not None and self.on_network_time is not None:
            self.on_network_time(moment)

    # -- failures -----------------------------------------------------------------------------
    def _failed(self, error: ModemError) -> None:
        self._failures += 1
        log.warning("modem: %s (failure %d in a row)", error, self._failures)
        self.close()
        self._absent(f"the modem does not answer: {error}")
        if self._failures >= USB_RESET_AFTER_FAILURES:
            self._failures = 0
            if self.reset_usb():
                log.warning("modem: USB device reset")

    def _absent(self, why: str) -> None:
        st = self.status
        keep_history = st.history
        self.status = ModemStatus(state=st.state, since=st.since, history=keep_history)
        self.status.error = why
        self.apn = None
        self._identified = False
        self._time_read = False
        self._enter("absent")

    def _enter(self, state: str) -> None:
        st = self.status
        if st.state == state and st.since is not None:
            return
        st.state = state
        st.since = self.wall_iso()
        st.history.append((st.since, state))
        del st.history[: -self.history_size]
        log.info("modem: %s", state)


def send_sms(
    port: AtPort, number: str, text: str, *, next_reference: Callable[[], int] | None = None
) -> int:
    """Send `text` to `number` in PDU mode (GSM 7-bit, concatenated if long); the message
    reference of the last part. PDU mode works with every stick's firmware and any number
    format; the SIM's own SMS centre is used.

    The parts of a long text share a concatenation reference (TS 23.040 §9.2.3.24.1) that
    must differ from the previous long text's, or a phone still holding parts of that one
    joins the two: `next_reference` gives it (`modem.uploader.next_concat_reference` keeps it
    in the store), asked only when the text needs concatenation; without one, a random byte."""
    import secrets

    from modem import sms

    port.command("AT+CMGF=0")
    reference = 0
    if sms.gsm7_length(text) > sms.SMS_SEPTETS:
        reference = next_reference() if next_reference else secrets.randbelow(256)
    ref = -1
    for pdu, octets in sms.submit_pdus(number, text, reference=reference):
        ref = port.send_sms_pdu(pdu, octets)
    return ref


def _one(lines: list[str]) -> str | None:
    return lines[0].strip() if lines else None
