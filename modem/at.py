"""AT-command driver for a serial modem port (3GPP TS 27.007 / 27.005, Huawei extensions).

:class:`AtPort` sends one command at a time and reads lines until a final result code. The
stick talks whenever it likes (unsolicited result codes, URCs), including between a command's
echo and its answer, so every line read is sorted: echo (dropped), noise (dropped), URC
(handed to listeners), information line (returned) or final result code (ends the command).

Not thread-safe: one thread owns a port and calls :meth:`AtPort.command` and
:meth:`AtPort.poll` in turn (the modem daemon's loop).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import termios
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType

import serial

from modem.errors import (
    CommandError,
    ConfigurationError,
    ModemGone,
    ModemTimeout,
    cme_error,
    cms_error,
)

log = logging.getLogger("modem.at")

CTRL_Z = b"\x1a"  # ends the SMS body (3GPP TS 27.005 §3.5.1)
ESC = b"\x1b"  # cancels the SMS body

# Unsolicited result codes a Huawei E173 sends (Huawei AT command interface specification and
# 3GPP TS 27.007 / 27.005).
URC_NAMES = frozenset(
    {
        "^RSSI",
        "^MODE",
        "^BOOT",
        "^SRVST",
        "^SIMST",
        "^DSFLOWRPT",
        "^CEND",
        "^CONN",
        "^ORIG",
        "^CONF",
        "^STIN",
        "^SMMEMFULL",
        "+CREG",
        "+CGREG",
        "+CEREG",
        "RING",
        "+CRING",
        "+CLIP",
        "+CMTI",
        "+CMT",
        "+CDSI",
        "+CDS",
        "+CBM",
        "+CUSD",
        "+CTZV",
        "+CGEV",
    }
)
# Final result codes (ITU-T V.250 §5.7 and 3GPP TS 27.007 / 27.005). CONNECT succeeds.
_FAILURES = ("NO CARRIER", "NO DIALTONE", "BUSY", "NO ANSWER", "ERROR")
_SMS_PROMPT = b">"
_READ_SLICE_S = 0.05
_IDLE_SLICE_S = 1.0
# What a port that went away raises: pyserial's wrapper, a raw OSError (EIO), or termios.error
# from tcdrain(), which is not an OSError.
_PORT_ERRORS = (serial.SerialException, OSError, termios.error)
_COMMAND_PREFIX = re.compile(r"^AT([+^%$][A-Z0-9]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Urc:
    """One unsolicited line: ``^RSSI:17`` is name ``^RSSI`` and args ``17``."""

    name: str
    args: str
    line: str

    @classmethod
    def parse(cls, line: str) -> Urc:
        if line[:1] in "+^" and ":" in line:
            name, _, args = line.partition(":")
            return cls(name.strip().upper(), args.strip(), line)
        return cls(line.strip().upper(), "", line)


def _command_prefix(cmd: str) -> str | None:
    """``AT+CREG?`` -> ``+CREG``: the prefix its information lines carry."""
    match = _COMMAND_PREFIX.match(cmd.strip())
    return match.group(1).upper() if match else None


def _is_noise(raw: bytes) -> bool:
    """A line with non-ASCII bytes or control characters, or no letter or digit at all.

    A real stick writes whole ASCII lines; anything else is line noise or a half line cut by a
    reset, and must never be taken for an answer.
    """
    if any(b > 0x7E or (b < 0x20 and b != 0x09) for b in raw):
        return True
    return not any(chr(b).isalnum() for b in raw)


def _shaped_like_registration_urc(args: str) -> bool:
    """``+CREG: 1`` or ``+CREG: 1,"00A1","1B2C"`` (URC) vs ``+CREG: 0,1[,...]`` (answer).

    3GPP TS 27.007 §7.2: the answer to AT+CREG? starts with <n>,<stat>; the URC starts with
    <stat> and, with n=2, goes on with the quoted <lac>.
    """
    fields = [f.strip() for f in args.split(",")]
    return len(fields) == 1 or fields[1].startswith('"')


class AtPort:
    """One modem AT port. Opens lazily (``open()`` or ``with``); not thread-safe."""

    def __init__(
        self,
        port: str | os.PathLike[str] | serial.SerialBase,
        *,
        baudrate: int = 115200,
        timeout_s: float = 10.0,
        opener: Callable[..., serial.SerialBase] = serial.serial_for_url,
        extra_urc_names: Iterable[str] = (),
    ) -> None:
        if timeout_s <= 0:
            raise ConfigurationError("timeout_s must be positive")
        self._given_serial = isinstance(port, serial.SerialBase)
        if isinstance(port, serial.SerialBase):  # a ready object (tests, spy://): used as is
            self._serial: serial.SerialBase | None = port
            self.path = str(port.port)
        else:
            self._serial = None
            self.path = os.fspath(port)
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self._opener = opener
        self._urc_names = URC_NAMES | {n.upper() for n in extra_urc_names}
        self._listeners: list[Callable[[Urc], None]] = []
        self._buffer = bytearray()

    # -- lifetime ---------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._serial is not None and self._serial.is_open

    def open(self) -> None:
        """Open the port; the path is resolved now (a udev symlink may point elsewhere)."""
        if self.is_open:
            return
        self._buffer.clear()
        try:
            if self._given_serial and self._serial is not None:
                self._serial.open()
            else:
                target = self.path
                if "://" not in target:
                    if not os.path.exists(target):
                        raise ModemGone(f"{self.path}: no such device")
                    target = os.path.realpath(target)
                self._serial = self._opener(
                    target,
                    baudrate=self.baudrate,
                    timeout=_READ_SLICE_S,
                    write_timeout=5.0,
                    exclusive=True,
                )
        except _PORT_ERRORS as exc:
            raise ModemGone(f"{self.path}: {exc}") from exc
        log.debug("opened %s (%s)", self.path, getattr(self._serial, "port", "?"))

    def close(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except _PORT_ERRORS as exc:  # already gone: nothing to free
                log.debug("closing %s: %s", self.path, exc)
            if not self._given_serial:
                self._serial = None
        self._buffer.clear()

    def reopen(self, *, settle_s: float = 5.0) -> None:
        """Close, then open again as soon as the path answers, waiting up to ``settle_s``.

        After a reset the stick re-enumerates: the link path disappears for a moment and comes
        back pointing at another tty.
        """
        self.close()
        deadline = time.monotonic() + settle_s
        while True:
            try:
                self.open()
                return
            except ModemGone:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def __enter__(self) -> AtPort:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- URCs -------------------------------------------------------------------------------

    def add_urc_listener(self, callback: Callable[[Urc], None]) -> None:
        self._listeners.append(callback)

    def _dispatch(self, urc: Urc) -> None:
        log.debug("URC %s", urc.line)
        for listener in list(self._listeners):
            try:
                listener(urc)
            except Exception:  # a listener's bug must not break the driver
                log.exception("URC listener %r failed on %r", listener, urc.line)

    def poll(self, timeout_s: float = 0.0) -> int:
        """Read lines while idle and dispatch them as URCs; return how many.

        Returns as soon as at least one URC was dispatched, or after ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        count = 0
        while True:
            # idle: block in one read for the time left (up to a second), not in 50 ms slices,
            # so a daemon waiting for URCs costs next to no CPU
            left = deadline - time.monotonic()
            self._fill(wait=left > 0, slice_s=min(max(left, _READ_SLICE_S), _IDLE_SLICE_S))
            for raw in self._take_lines():
                line = self._decode(raw)
                if line is None:
                    continue
                if line in ("OK", "ERROR") or line.startswith(("+CME ERROR", "+CMS ERROR")):
                    log.debug("stray final result %r dropped", line)  # a late answer
                    continue
                self._dispatch(Urc.parse(line))
                count += 1
            if count or time.monotonic() >= deadline:
                return count

    # -- commands ---------------------------------------------------------------------------

    def command(self, cmd: str, *, timeout_s: float | None = None) -> list[str]:
        """Send ``cmd`` and return its information lines; raise on a failing result code."""
        cmd = cmd.strip()
        if not cmd.isascii() or any(c in cmd for c in "\r\n\x1a\x1b"):
            raise ConfigurationError(f"not one plain ASCII command: {cmd!r}")
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.timeout_s)
        self.poll(0.0)  # URCs that arrived while idle go to listeners, not into this answer
        self._write(cmd.encode("ascii") + b"\r", cmd)
        return self._read_answer(cmd, deadline, echoes=[cmd])

    def send_sms_pdu(self, pdu_hex: str, tpdu_octets: int, *, timeout_s: float = 60.0) -> int:
        """Send one SMS in PDU mode (AT+CMGF=0 first); return the message reference <mr>.

        ``tpdu_octets`` is the length of the TPDU without the SMSC part (3GPP TS 27.005 §3.5.1).
        """
        pdu_hex = pdu_hex.strip().upper()
        if not pdu_hex or len(pdu_hex) % 2 or not re.fullmatch(r"[0-9A-F]+", pdu_hex):
            raise ConfigurationError("pdu_hex must be an even number of hexadecimal digits")
        if not 0 < tpdu_octets < len(pdu_hex) // 2 + 1:
            raise ConfigurationError(f"tpdu_octets {tpdu_octets} does not fit the PDU")
        return self._send_sms(f"AT+CMGS={tpdu_octets}", pdu_hex, [pdu_hex], timeout_s)

    def send_sms_text(self, number: str, text: str, *, timeout_s: float = 60.0) -> int:
        """Send one SMS in text mode (AT+CMGF=1 first); return the message reference <mr>.

        Only ASCII without CR, Ctrl-Z or ESC goes through text mode; use PDU mode otherwise.
        """
        if not re.fullmatch(r"\+?[0-9]{2,20}", number):
            raise ConfigurationError(f"not a phone number: {number!r}")
        if not text.isascii() or any(c in text for c in "\r\x1a\x1b"):
            raise ConfigurationError("text mode sends plain ASCII only; use PDU mode")
        return self._send_sms(f'AT+CMGS="{number}"', text, text.split("\n"), timeout_s)

    def _send_sms(self, cmd: str, body: str, body_echo: list[str], timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        self.poll(0.0)
        self._write(cmd.encode("ascii") + b"\r", cmd)
        self._wait_prompt(cmd, deadline)
        self._write(body.encode("ascii") + CTRL_Z, "<sms body>")
        try:
            lines = self._read_answer(cmd, deadline, echoes=body_echo)
        except ModemTimeout:
            self._cancel_sms()
            raise
        for line in lines:
            if line.upper().startswith("+CMGS:"):
                return int(line.partition(":")[2].split(",")[0])
        raise CommandError(cmd, "OK", f"{cmd!r}: no +CMGS reference in {lines!r}")

    def _cancel_sms(self) -> None:
        """ESC leaves the body prompt so the port takes commands again (27.005 §3.5.1)."""
        with contextlib.suppress(ModemGone):
            self._write(ESC, "<ESC>")

    def _wait_prompt(self, cmd: str, deadline: float) -> None:
        echoes = [cmd]
        while True:
            for raw in self._take_lines():
                self._handle_line(raw, cmd, echoes, [])  # raises on a final result code
            if bytes(self._buffer).strip() == _SMS_PROMPT:
                self._buffer.clear()
                log.debug("<< > (prompt)")
                return
            if time.monotonic() >= deadline:
                self._cancel_sms()
                raise ModemTimeout(f"{cmd!r}: no SMS prompt")
            self._fill(wait=True)

    def _read_answer(self, cmd: str, deadline: float, echoes: list[str]) -> list[str]:
        info: list[str] = []
        while True:
            for raw in self._take_lines():
                if self._handle_line(raw, cmd, echoes, info):
                    return info
            if time.monotonic() >= deadline:
                raise ModemTimeout(f"{cmd!r}: no final result code")
            self._fill(wait=True)

    def _handle_line(self, raw: bytes, cmd: str, echoes: list[str], info: list[str]) -> bool:
        """Sort one line of a command's answer; True when it was the final result code."""
        line = self._decode(raw)
        if line is None:
            return False
        if echoes and line.upper() == echoes[0].upper():
            echoes.pop(0)
            return False
        if line == "OK" or line.startswith("CONNECT"):
            return True
        if line.startswith("+CME ERROR:"):
            raise cme_error(cmd, line.partition(":")[2])
        if line.startswith("+CMS ERROR:"):
            raise cms_error(cmd, line.partition(":")[2])
        if line in _FAILURES:
            raise CommandError(cmd, line)
        urc = Urc.parse(line)
        if urc.name in self._urc_names:
            prefix = _command_prefix(cmd)
            answer_to_query = urc.name == prefix and not (
                urc.name in ("+CREG", "+CGREG", "+CEREG")
                and _shaped_like_registration_urc(urc.args)
            )
            if not answer_to_query:
                self._dispatch(urc)
                return False
        info.append(line)
        return False

    # -- bytes ------------------------------------------------------------------------------

    def _require(self) -> serial.SerialBase:
        if self._serial is None or not self._serial.is_open:
            raise ModemGone(f"{self.path}: port not open")
        return self._serial

    def _write(self, data: bytes, shown: str) -> None:
        port = self._require()
        log.debug(">> %s", shown)
        try:
            port.write(data)
            port.flush()
        except serial.SerialTimeoutException as exc:
            raise ModemTimeout(f"{self.path}: write timed out") from exc
        except _PORT_ERRORS as exc:
            raise ModemGone(f"{self.path}: {exc}") from exc

    def _fill(self, *, wait: bool, slice_s: float = _READ_SLICE_S) -> None:
        """Append what the port has to the buffer; with ``wait``, block one slice."""
        port = self._require()
        try:
            if wait and port.timeout != slice_s:
                port.timeout = slice_s
            waiting = port.in_waiting
            if waiting or wait:
                chunk = port.read(max(1, waiting))
                self._buffer.extend(chunk)
        except _PORT_ERRORS as exc:
            raise ModemGone(f"{self.path}: {exc}") from exc

    def _take_lines(self) -> list[bytes]:
        """Complete lines from the buffer (CR or LF ends a line; empty lines skipped)."""
        lines: list[bytes] = []
        while True:
            cut = min(
                (i for i in (self._buffer.find(b"\r"), self._buffer.find(b"\n")) if i >= 0),
                default=-1,
            )
            if cut < 0:
                return lines
            raw = bytes(self._buffer[:cut])
            del self._buffer[: cut + 1]
            if raw:
                lines.append(raw)

    @staticmethod
    def _decode(raw: bytes) -> str | None:
        if _is_noise(raw):
            log.debug("<< noise dropped: %r", raw)
            return None
        line = raw.decode("ascii").strip()
        log.debug("<< %s", line)
        return line
