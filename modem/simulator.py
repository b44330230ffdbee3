"""A Huawei E173 USB stick's AT ("PC UI") port, simulated on a real pseudo-terminal.

The driver under test opens the pty slave exactly as it would open ``/dev/ttyUSB2``, so the
whole serial stack (termios, pyserial, EIO on unplug) is exercised. Answers follow 3GPP TS
27.007 / 27.005 and Huawei's AT command interface specification for the E173; faults that a
real stick shows in the field (silence, line noise, unplug mid-answer, re-enumeration under a
new name) are injected on demand.

A background thread owns the pty master; public methods take a lock, so tests may call them
from their own thread. Whole lines are written under that lock, so a URC never lands inside an
answer line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import select
import signal
import threading
import time
import tty
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

from modem.errors import CME_TEXT, ConfigurationError

log = logging.getLogger("modem.simulator")

REVISION = "11.126.85.00.209"
FAULTS = ("no_answer", "garbage", "disconnect", "vanish")
_CTRL_Z, _ESC = 0x1A, 0x1B
_TICK_S = 0.02
_REBOOT_AFTER_OK_S = 0.25
_LAC, _CI = "0F3C", "1A2B"

# 3GPP TS 23.038 §6.2.1: GSM 7-bit default alphabet (the extension table is not decoded).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


@dataclass(frozen=True)
class Network:
    """A Malian network as the simulated SIM sees it (AT+COPS long and short names, MCC-MNC;
    the IMSI starts with the MCC-MNC, 3GPP TS 23.003 §2.2)."""

    long_name: str
    short_name: str
    mcc_mnc: str

    @property
    def imsi(self) -> str:
        return (self.mcc_mnc + "0123456789")[:15]


NETWORKS = {
    "malitel": Network("MALITEL", "MALITEL", "61001"),
    "orange": Network("Orange MALI", "ORANGE", "61002"),
    "telecel": Network("TELECEL", "TELECEL", "61003"),
}


@dataclass
class _SmsBody:
    """The state between the ``> `` prompt and Ctrl-Z."""

    mode: str  # "pdu" | "text"
    length: int = 0
    number: str = ""
    data: bytearray = field(default_factory=bytearray)


def decode_submit_pdu(pdu_hex: str, tpdu_octets: int) -> tuple[str, str | None, bool]:
    """(destination number, text or None, SMSC included) of an SMS-SUBMIT PDU.

    3GPP TS 23.040 §9.2.2.2 (SMS-SUBMIT layout) and TS 27.005 §3.5.1 (the SMSC prefix is not
    counted in the AT+CMGS length). Raises ValueError on a malformed PDU.
    """
    octets = bytes.fromhex(pdu_hex)
    smsc_len = octets[0]
    tpdu = octets[1 + smsc_len :]
    if len(tpdu) != tpdu_octets:
        raise ValueError(f"TPDU is {len(tpdu)} octets, AT+CMGS said {tpdu_octets}")
    first = tpdu[0]
    if first & 0x03 != 0x01:
        raise ValueError("not an SMS-SUBMIT")
    digits, toa = tpdu[2], tpdu[3]
    address = tpdu[4 : 4 + (digits + 1) // 2]
    number = "".join(f"{b & 0x0F:x}{b >> 4:x}" for b in address)[:digits].upper()
    if toa & 0x70 == 0x10:  # international number
        number = "+" + number
    i = 4 + len(address) + 2  # skip TP-PID
    dcs = tpdu[i - 1]
    vpf = (first >> 3) & 0x03
    i += {0: 0, 2: 1}.get(vpf, 7)
    udl, ud = tpdu[i], tpdu[i + 1 :]
    header = ud[0] + 1 if first & 0x40 and ud else 0
    text: str | None = None
    if dcs & 0xEC == 0x00:  # general coding group, GSM 7-bit (TS 23.038 §4)
        bits = int.from_bytes(ud, "little")
        septets = [(bits >> (7 * k)) & 0x7F for k in range(udl)]
        skip = (header * 8 + 6) // 7
        text = "".join(GSM7_BASIC[s] for s in septets[skip:])
    elif dcs & 0xEC == 0x08:  # UCS2
        text = ud[header:udl].decode("utf-16-be", errors="replace")
    return number, text, smsc_len > 0


class E173Simulator:
    """The AT port of a Huawei E173 on a pty; see the module docstring."""

    def __init__(
        self,
        *,
        link_path: str | Path | None = None,
        pin: str | None = None,
        puk: str = "12345678",
        imei: str = "867530901234567",
        network: str = "orange",
        imsi: str | None = None,
        operator: str | None = None,
        mcc_mnc: str | None = None,
        csq: int = 17,
        registration_delay_s: float = 2.0,
        urc_every_s: tuple[float, float] | None = (5.0, 30.0),
        seed: int | None = None,
        smsc: str | None = None,
        reboot_s: float = 1.0,
    ) -> None:
        if urc_every_s is not None and not 0 < urc_every_s[0] <= urc_every_s[1]:
            raise ConfigurationError("urc_every_s must be (low, high) with 0 < low <= high")
        self.link_path = Path(link_path) if link_path is not None else None
        self.pin, self.puk = pin, puk
        if network not in NETWORKS:
            raise ConfigurationError(f"unknown network {network!r}; one of {', '.join(NETWORKS)}")
        net = NETWORKS[network]
        self.imei = imei
        self.mcc_mnc = mcc_mnc or net.mcc_mnc
        self.imsi = imsi or (self.mcc_mnc + "0123456789")[:15]
        self.operator = operator or net.long_name
        self.short_name = net.short_name if operator is None else operator.split()[0].upper()
        self.registration_delay_s = registration_delay_s
        self.urc_every_s = urc_every_s
        self.reboot_s = reboot_s
        self.commands: list[str] = []
        self.sms_sent: list[dict[str, object]] = []
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_r = self._wake_w = -1
        self._master: int | None = None
        self._slave: int | None = None
        self._dead_slaves: list[int] = []
        self._device = ""
        self._return_at: float | None = None
        self._reboot_at: float | None = None
        self._reset_on_return = False
        self._inbuf = bytearray()
        self._body: _SmsBody | None = None
        self._faults = dict.fromkeys(FAULTS, 0)
        self._fault_seconds = 1.0
        self._urcs_before_reply: list[str] = []
        self._csq = csq
        self._smsc = smsc
        self._stat_override: int | None = None
        self._sim_state = "SIM PIN" if pin else "READY"
        self._pin_tries = 0
        self._puk_tries = 0
        self._next_mr = 0
        self._contexts: dict[int, tuple[str, str]] = {}
        self._boot()

    # -- lifetime ---------------------------------------------------------------------------

    def start(self) -> E173Simulator:
        with self._lock:
            if self._thread is not None:
                return self
            self._wake_r, self._wake_w = os.pipe()
            self._appear()
            self._thread = threading.Thread(target=self._run, name="e173-sim", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._wake()
            self._thread.join(timeout=5.0)
            self._thread = None
        with self._lock:
            self._remove_link()
            for fd in [self._master, self._slave, *self._dead_slaves, self._wake_r, self._wake_w]:
                if fd is not None and fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = None
            self._dead_slaves.clear()
            self._wake_r = self._wake_w = -1

    def __enter__(self) -> E173Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def device(self) -> str:
        """The current slave tty (the last one while the port is gone)."""
        with self._lock:
            return self._device

    @property
    def is_present(self) -> bool:
        """False while the port is unplugged or re-enumerating."""
        with self._lock:
            return self._master is not None

    # -- test controls ----------------------------------------------------------------------

    def set_signal(self, csq: int) -> None:
        with self._lock:
            self._csq = csq
            if self._curc:
                self._emit(f"^RSSI:{csq}")

    def set_registration(self, stat: int) -> None:
        """Force <stat> (0 not searching, 1 home, 2 searching, 3 denied, 5 roaming)."""
        if stat not in (0, 1, 2, 3, 4, 5):
            raise ConfigurationError(f"registration stat {stat} is not in 3GPP TS 27.007 §7.2")
        with self._lock:
            self._stat_override = stat
            self._registered_at = min(self._registered_at, time.monotonic())
        self._wake()

    def emit_urc(self, line: str, *, before_next_reply: bool = False) -> None:
        """Write one URC now, or between the next command's echo and its answer."""
        with self._lock:
            if before_next_reply:
                self._urcs_before_reply.append(line)
            else:
                self._emit(line)

    def inject(self, kind: str, *, count: int = 1, seconds: float = 1.0) -> None:
        """Arm a fault (see FAULTS); ``seconds`` is how long the port stays away."""
        if kind not in FAULTS:
            raise ConfigurationError(f"unknown fault {kind!r}; one of {', '.join(FAULTS)}")
        with self._lock:
            self._fault_seconds = seconds
            if kind == "vanish":
                self._vanish(seconds, reset=False)
            else:
                self._faults[kind] += count

    # -- the thread -------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"!")

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                master = self._master
            fds = [self._wake_r] + ([master] if master is not None else [])
            try:
                readable, _, _ = select.select(fds, [], [], _TICK_S)
            except (OSError, ValueError):  # an fd closed under us by vanish()
                readable = []
            if self._wake_r in readable:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 256)
            with self._lock:
                if master is not None and master in readable and master == self._master:
                    try:
                        data = os.read(master, 4096)
                    except OSError:  # EIO while nobody holds the slave open: nothing to read
                        data = b""
                    if data:
                        self._feed(data)
                try:
                    self._tick()
                except Exception:  # keep the port alive whatever a test does
                    log.exception("simulator tick failed")

    def _tick(self) -> None:
        now = time.monotonic()
        if self._master is None:
            if self._return_at is not None and now >= self._return_at:
                self._appear()
            return
        if self._reboot_at is not None and now >= self._reboot_at:
            self._reboot_at = None
            self._vanish(self.reboot_s, reset=True)
            return
        stat = self._stat()
        if stat != self._last_stat:
            self._last_stat = stat
            if self._creg_n:
                self._emit(f"+CREG: {self._registration_args(stat, self._creg_n, urc=True)}")
            if self._cgreg_n:
                self._emit(f"+CGREG: {self._registration_args(stat, self._cgreg_n, urc=True)}")
        while self._boot_urcs and now >= self._boot_urcs[0]:
            self._boot_urcs.pop(0)
            self._emit("^BOOT:20952548,0,0,0,72")
        if self._body is None and self._periodic_due(now):
            self._emit(self._periodic_urc())

    def _periodic_due(self, now: float) -> bool:
        return self.urc_every_s is not None and self._curc and now >= self._next_urc_at

    def _periodic_urc(self) -> str:
        assert self.urc_every_s is not None
        self._next_urc_at = time.monotonic() + self._rng.uniform(*self.urc_every_s)
        choices = [f"^RSSI:{self._csq}", "^MODE:5,4", "^SRVST:2", self._flow_report()]
        if self._creg_n:
            choices.append(f"+CREG: {self._registration_args(self._stat(), 1, urc=True)}")
        return self._rng.choice(choices)

    def _flow_report(self) -> str:
        # Huawei ^DSFLOWRPT: connection time, tx rate, rx rate, tx bytes, rx bytes, QoS rates.
        seconds = int(time.monotonic() - self._boot_at)
        return f"^DSFLOWRPT:{seconds:08X},00000000,00000000,{0:016X},{0:016X},0003E800,0003E800"

    # -- the pty ----------------------------------------------------------------------------

    def _appear(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        for fd in self._dead_slaves:  # only now: the new pty must get a new number
            with contextlib.suppress(OSError):
                os.close(fd)
        self._dead_slaves.clear()
        self._master, self._slave = master, slave
        self._device = os.ttyname(slave)
        self._return_at = None
        self._inbuf.clear()
        self._body = None
        if self._reset_on_return:
            self._reset_on_return = False
            self._boot()
            now = time.monotonic()
            self._boot_urcs = [now + 0.2, now + 0.5, now + 1.0]
        if self.link_path is not None:
            tmp = self.link_path.with_name(self.link_path.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self._device)
            os.replace(tmp, self.link_path)
        log.debug("port appeared as %s", self._device)

    def _vanish(self, seconds: float, *, reset: bool) -> None:
        """Unplug: the link goes, the master closes (the driver reads EIO), back after seconds."""
        self._remove_link()
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.close(self._master)
        if self._slave is not None:
            self._dead_slaves.append(self._slave)
        self._master = self._slave = None
        self._return_at = time.monotonic() + seconds
        self._reset_on_return = self._reset_on_return or reset
        log.debug("port vanished for %.2f s", seconds)

    def _remove_link(self) -> None:
        if self.link_path is not None and self.link_path.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                self.link_path.unlink()

    def _write(self, data: bytes) -> None:
        """Write whole; drop what a full pty buffer refuses (nobody is reading)."""
        deadline = time.monotonic() + 0.5
        while data and self._master is not None:
            try:
                sent = os.write(self._master, data)
                data = data[sent:]
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    log.debug("pty full: %d bytes dropped", len(data))
                    return
                select.select([], [self._master], [], 0.05)
            except OSError:
                return

    def _emit(self, line: str) -> None:
        if self._master is not None:
            self._write(f"\r\n{line}\r\n".encode("ascii"))

    # -- modem state ------------------------------------------------------------------------

    def _boot(self) -> None:
        """Power-on defaults (what AT+CFUN=1,1 restores).

        What lives on the SIM or in flash persists: PIN state and tries, SMSC, PDP contexts,
        and a registration forced by set_registration() (the network still refuses us).
        """
        now = time.monotonic()
        self._boot_at = now
        self._echo = True
        self._cmee = 0
        self._creg_n = self._cgreg_n = 0
        self._cmgf = 0
        self._cscs = "IRA"
        self._cops_format = 0
        self._curc = True
        self._ctzu = 0
        self._cfun = 1
        if self._sim_state != "SIM PUK":
            self._sim_state = "SIM PIN" if self.pin else "READY"
        self._registered_at = now + self.registration_delay_s
        self._last_stat = self._stat()
        self._boot_urcs: list[float] = []
        low = self.urc_every_s[0] if self.urc_every_s else 0.0
        high = self.urc_every_s[1] if self.urc_every_s else 0.0
        self._next_urc_at = now + self._rng.uniform(low, high)

    def _stat(self) -> int:
        if self._sim_state != "READY" or self._cfun != 1:
            return 0
        if time.monotonic() < self._registered_at:
            return 2  # searching (after boot, PIN or radio on)
        return 1 if self._stat_override is None else self._stat_override

    def _registered(self) -> bool:
        return self._stat() in (1, 5)

    def _registration_args(self, stat: int, n: int, *, urc: bool) -> str:
        """3GPP TS 27.007 §7.2: answer <n>,<stat>[,<lac>,<ci>]; URC <stat>[,<lac>,<ci>]."""
        args = str(stat) if urc else f"{n},{stat}"
        if n == 2 and stat in (1, 5):
            args += f',"{_LAC}","{_CI}"'
        return args

    # -- input ------------------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        echo = bytearray()
        for byte in data:
            if self._body is not None:
                if byte == _CTRL_Z:
                    self._flush_echo(echo)
                    self._finish_sms()
                elif byte == _ESC:
                    self._flush_echo(echo)
                    self._body = None
                    self._write(b"\r\nOK\r\n")
                elif byte == 0x0D:  # a new line of text: a new prompt (27.005 §3.5.1)
                    self._body.data.append(0x0A)
                    echo.extend(b"\r\n> ")
                else:
                    self._body.data.append(byte)
                    if self._echo:
                        echo.append(byte)
            elif byte == 0x0D:
                line = self._inbuf.decode("ascii", errors="replace").strip()
                self._inbuf.clear()
                self._on_command(line)
            elif byte in (0x0A, _CTRL_Z, _ESC):
                if byte != 0x0A:
                    self._inbuf.clear()
            elif len(self._inbuf) < 1024:
                self._inbuf.append(byte)
        self._flush_echo(echo)

    def _flush_echo(self, echo: bytearray) -> None:
        if echo:
            self._write(bytes(echo))
            echo.clear()

    def _on_command(self, line: str) -> None:
        if not line:
            return
        self.commands.append(line)
        log.debug("sim << %s", line)
        if self._faults["no_answer"]:
            self._faults["no_answer"] -= 1
            return
        echo = (line + "\r").encode("ascii", errors="replace") if self._echo else b""
        if not line.upper().startswith("AT"):
            self._write(echo)  # echoed, then ignored: not a command
            return
        reply, after = self._respond(line[2:])
        middle = b""
        for urc in self._urcs_before_reply:
            middle += f"\r\n{urc}\r\n".encode("ascii")
        self._urcs_before_reply.clear()
        if self._periodic_due(time.monotonic()):
            middle += f"\r\n{self._periodic_urc()}\r\n".encode("ascii")
        if self._faults["garbage"]:
            self._faults["garbage"] -= 1
            noise = bytes(self._rng.randrange(0x80, 0x100) for _ in range(self._rng.randint(3, 12)))
            half = b"^RSSI:1"[: self._rng.randint(1, 6)]
            middle += noise + half  # no line end: the reply's own CR LF ends this line
        if self._faults["disconnect"]:
            self._faults["disconnect"] -= 1
            self._write(echo + middle + reply[: max(1, len(reply) // 2)])
            self._vanish(self._fault_seconds, reset=False)
            return
        self._write(echo + middle + reply)
        if after == "reboot":  # a real stick drops a moment after its OK (which must arrive)
            self._reboot_at = time.monotonic() + _REBOOT_AFTER_OK_S

    # -- answers ----------------------------------------------------------------------------

    @staticmethod
    def _ok(*lines: str) -> bytes:
        return "".join(f"\r\n{line}\r\n" for line in lines).encode("ascii") + b"\r\nOK\r\n"

    @staticmethod
    def _error() -> bytes:
        return b"\r\nERROR\r\n"

    def _cme(self, code: int) -> bytes:
        """3GPP TS 27.007 §9.1: AT+CMEE=0 plain ERROR, 1 numeric, 2 verbose."""
        if self._cmee == 0:
            return self._error()
        text = str(code) if self._cmee == 1 else CME_TEXT.get(code, "unknown")
        return f"\r\n+CME ERROR: {text}\r\n".encode("ascii")

    @staticmethod
    def _cms(code: int) -> bytes:
        return f"\r\n+CMS ERROR: {code}\r\n".encode("ascii")

    def _sim_blocked(self) -> int | None:
        """The CME code a SIM-dependent command gets now, or None when the SIM is ready."""
        return {"READY": None, "SIM PIN": 11, "SIM PUK": 12}[self._sim_state]

    def _respond(self, body: str) -> tuple[bytes, str | None]:
        """The answer to ``AT<body>`` and what to do after writing it."""
        cmd = body.strip()
        upper = cmd.upper()
        name, op, arg = upper, "", ""
        for sep in ("=?", "?", "="):
            if sep in upper:
                idx = upper.index(sep)
                name, op, arg = upper[:idx], sep, cmd[idx + len(sep) :]
                break
        handler = getattr(self, "_at_" + _handler_name(name), None)
        if handler is None:
            return self._cme(4) if self._cmee else self._error(), None
        try:
            result = handler(op, arg)
        except (ValueError, IndexError):
            return self._cme(4) if self._cmee else self._error(), None
        return result if isinstance(result, tuple) else (result, None)

    def _at_(self, op: str, arg: str) -> bytes:
        return self._ok()

    def _at_E0(self, op: str, arg: str) -> bytes:
        self._echo = False
        return self._ok()

    def _at_E1(self, op: str, arg: str) -> bytes:
        self._echo = True
        return self._ok()

    def _at_E(self, op: str, arg: str) -> bytes:
        return self._at_E0(op, arg)

    def _at_Z(self, op: str, arg: str) -> bytes:
        self._echo, self._cmee, self._cmgf = True, 0, 0
        return self._ok()

    _at_F = _at_Z  # AT&F: factory defaults

    def _at_V1(self, op: str, arg: str) -> bytes:
        return self._ok()  # verbose result codes: the only format simulated

    _at_Q0 = _at_V1  # result codes on

    def _at_CSCS(self, op: str, arg: str) -> bytes:
        if op == "?":
            return self._ok(f'+CSCS: "{self._cscs}"')
        if op == "=?":
            return self._ok('+CSCS: ("IRA","GSM","UCS2")')
        value = arg.strip().strip('"').upper()
        if value not in ("IRA", "GSM", "UCS2"):
            return self._error()
        self._cscs = value
        return self._ok()

    def _at_I(self, op: str, arg: str) -> bytes:
        return self._ok(
            "Manufacturer: huawei",
            "Model: E173",
            f"Revision: {REVISION}",
            f"IMEI: {self.imei}",
            "+GCAP: +CGSM,+DS,+ES",
        )

    _at_I0 = _at_I

    def _at_CGMI(self, op: str, arg: str) -> bytes:
        return self._ok("huawei")

    def _at_CGMM(self, op: str, arg: str) -> bytes:
        return self._ok("E173")

    def _at_CGMR(self, op: str, arg: str) -> bytes:
        return self._ok(REVISION)

    def _at_CGSN(self, op: str, arg: str) -> bytes:
        return self._ok(self.imei)

    def _at_CIMI(self, op: str, arg: str) -> bytes:
        code = self._sim_blocked()
        return self._cme(code) if code else self._ok(self.imsi)

    def _at_CMEE(self, op: str, arg: str) -> bytes:
        if op == "?":
            return self._ok(f"+CMEE: {self._cmee}")
        if op == "=?":
            return self._ok("+CMEE: (0-2)")
        value = int(arg or "0")
        if value not in (0, 1, 2):
            return self._error()
        self._cmee = value
        return self._ok()

    def _at_CPIN(self, op: str, arg: str) -> bytes:
        if op == "?":
            return self._ok(f"+CPIN: {self._sim_state}")
        if op != "=":
            return self._error()
        values = [v.strip().strip('"') for v in arg.split(",")]
        if self._sim_state == "READY":
            return self._cme(3)
        if self._sim_state == "SIM PIN":
            if values[0] == self.pin:
                self._sim_state, self._pin_tries = "READY", 0
                self._registered_at = time.monotonic() + self.registration_delay_s
                return self._ok()
            self._pin_tries += 1
            if self._pin_tries >= 3:  # 3GPP TS 31.102: three wrong PINs block the SIM
                self._sim_state = "SIM PUK"
            return self._cme(16)
        if len(values) < 2:
            return self._cme(12)
        if values[0] == self.puk:
            self.pin = values[1]
            self._sim_state, self._pin_tries, self._puk_tries = "READY", 0, 0
            self._registered_at = time.monotonic() + self.registration_delay_s
            return self._ok()
        self._puk_tries += 1
        return self._cme(16)

    def _registration(self, op: str, arg: str, which: str) -> bytes:
        attr = "_creg_n" if which == "+CREG" else "_cgreg_n"
        if op == "?":
            n = getattr(self, attr)
            return self._ok(f"{which}: {self._registration_args(self._stat(), n, urc=False)}")
        if op == "=?":
            return self._ok(f"{which}: (0-2)")
        value = int(arg or "0")
        if value not in (0, 1, 2):
            return self._error()
        setattr(self, attr, value)
        return self._ok()

    def _at_CREG(self, op: str, arg: str) -> bytes:
        return self._registration(op, arg, "+CREG")

    def _at_CGREG(self, op: str, arg: str) -> bytes:
        return self._registration(op, arg, "+CGREG")

    def _at_CSQ(self, op: str, arg: str) -> bytes:
        return self._ok(f"+CSQ: {self._csq},99")

    def _at_COPS(self, op: str, arg: str) -> bytes:
        if op == "?":
            code = self._sim_blocked()
            if code:
                return self._cme(code)
            if not self._registered():
                return self._ok("+COPS: 0")
            name = self.mcc_mnc if self._cops_format == 2 else self.operator
            return self._ok(f'+COPS: 0,{self._cops_format},"{name}",2')  # 2 = UTRAN
        if op == "=?":
            return self._ok(
                f'+COPS: (2,"{self.operator}","{self.short_name}","{self.mcc_mnc}",2),,(0-4),(0-2)'
            )
        values = [v.strip() for v in arg.split(",")]
        if values[0] == "3" and len(values) > 1 and values[1] in ("0", "1", "2"):
            self._cops_format = int(values[1])
            return self._ok()
        if values[0] in ("0", "1", "2", "4"):
            return self._ok()
        return self._error()

    def _at_CMGF(self, op: str, arg: str) -> bytes:
        if op == "?":
            return self._ok(f"+CMGF: {self._cmgf}")
        value = int(arg or "0")
        if value not in (0, 1):
            return self._error()
        self._cmgf = value
        return self._ok()

    def _at_CSCA(self, op: str, arg: str) -> bytes:
        code = self._sim_blocked()
        if code:
            return self._cme(code)
        if op == "?":
            if not self._smsc:
                return self._ok('+CSCA: "",128')
            toa = 145 if self._smsc.startswith("+") else 129
            return self._ok(f'+CSCA: "{self._smsc}",{toa}')
        if op != "=":
            return self._error()
        self._smsc = arg.split(",")[0].strip().strip('"') or None
        return self._ok()

    def _at_CMGS(self, op: str, arg: str) -> bytes:
        if op != "=":
            return self._error()
        if self._sim_state != "READY":
            return self._cms(311 if self._sim_state == "SIM PIN" else 316)
        if self._cmgf == 0:
            if not arg.strip().isdigit() or not 0 < int(arg) <= 164:
                return self._cms(304)
            self._body = _SmsBody("pdu", length=int(arg))
        else:
            number = arg.split(",")[0].strip()
            if len(number) < 3 or not (number.startswith('"') and number.endswith('"')):
                return self._cms(305)
            self._body = _SmsBody("text", number=number.strip('"'))
        return b"\r\n> "

    def _finish_sms(self) -> None:
        body, self._body = self._body, None
        assert body is not None
        record: dict[str, object] = {"mode": body.mode, "number": body.number}
        has_smsc = False
        if body.mode == "pdu":
            pdu_hex = body.data.decode("ascii", errors="replace").strip().upper()
            try:
                number, text, has_smsc = decode_submit_pdu(pdu_hex, body.length)
            except (ValueError, IndexError):
                self._write(self._cms(304))
                return
            record.update(number=number, pdu_hex=pdu_hex, text=text)
        else:
            record.update(pdu_hex=None, text=body.data.decode("ascii", errors="replace"))
        if not self._registered():
            self._write(self._cms(331))
            return
        if not (has_smsc or self._smsc):
            self._write(self._cms(330))
            return
        mr = self._next_mr
        self._next_mr = (mr + 1) % 256  # TP-MR, 3GPP TS 23.040 §9.2.3.6
        record["mr"] = mr
        self.sms_sent.append(record)
        self._write(self._ok(f"+CMGS: {mr}"))

    def _at_CTZU(self, op: str, arg: str) -> bytes:
        if op == "?":
            return self._ok(f"+CTZU: {self._ctzu}")
        self._ctzu = int(arg or "0")
        return self._ok()

    def _at_CCLK(self, op: str, arg: str) -> bytes:
        """Network time (NITZ) once registered with AT+CTZU=1; otherwise time since boot."""
        if op != "?":
            return self._error()
        if self._ctzu and self._registered():
            now = datetime.now(UTC).replace(microsecond=0)
        else:
            now = datetime(2000, 1, 1, tzinfo=UTC) + _since(self._boot_at)
        # 3GPP TS 27.007 §8.15: "yy/MM/dd,hh:mm:ss±zz", zz in quarter hours (Mali: +00).
        return self._ok(f'+CCLK: "{now:%y/%m/%d,%H:%M:%S}+00"')

    def _at_CFUN(self, op: str, arg: str) -> bytes | tuple[bytes, str | None]:
        if op == "?":
            return self._ok(f"+CFUN: {self._cfun}")
        if op == "=?":
            return self._ok("+CFUN: (0,1,4),(0-1)")
        values = [v.strip() for v in arg.split(",")]
        fun = int(values[0])
        if fun not in (0, 1, 4):
            return self._error()
        if len(values) > 1 and values[1] == "1":
            return self._ok(), "reboot"
        if fun == 1 and self._cfun != 1:
            self._registered_at = time.monotonic() + self.registration_delay_s
        self._cfun = fun
        return self._ok()

    def _at_CURC(self, op: str, arg: str) -> bytes:
        if op == "?":
            return self._ok(f"^CURC: {int(self._curc)}")
        self._curc = arg.strip() == "1"
        return self._ok()

    def _at_CGDCONT(self, op: str, arg: str) -> bytes:
        if op == "?":
            return self._ok(
                *(
                    f'+CGDCONT: {cid},"{pdp}","{apn}","0.0.0.0",0,0'
                    for cid, (pdp, apn) in sorted(self._contexts.items())
                )
            )
        if op == "=?":
            return self._ok('+CGDCONT: (1-16),"IP",,,(0-2),(0-3)')
        values = [v.strip().strip('"') for v in arg.split(",")]
        cid = int(values[0])
        if len(values) == 1:
            self._contexts.pop(cid, None)
        else:
            self._contexts[cid] = (values[1], values[2] if len(values) > 2 else "")
        return self._ok()

    def _at_SYSINFO(self, op: str, arg: str) -> bytes:
        # Huawei ^SYSINFO: srv_status, srv_domain, roam, sys_mode (5 WCDMA), sim_state, lock,
        # sys_submode (4 WCDMA).
        if self._registered():
            roam = int(self._stat() == 5)
            return self._ok(f"^SYSINFO:2,3,{roam},5,1,,4")
        sim = 1 if self._sim_state == "READY" else 255
        return self._ok(f"^SYSINFO:0,0,0,0,{sim},,0")

    def _at_CNMI(self, op: str, arg: str) -> bytes:
        return self._ok("+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)") if op == "=?" else self._ok()


def _handler_name(name: str) -> str:
    """``+CREG`` -> ``CREG``, ``^SYSINFO`` -> ``SYSINFO``: the method suffix."""
    return name.lstrip("+^&").replace("+", "_")


def _since(start: float) -> timedelta:
    return timedelta(seconds=int(time.monotonic() - start))


def run_until_signalled(sim: E173Simulator) -> None:
    """Run the simulator until SIGTERM or SIGINT, then close it (call from the main thread)."""
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        sim.start()
        while not stop.wait(0.2):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sim.close()
