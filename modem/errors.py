"""Exceptions of the modem package.

Every exception derives from :class:`ModemError` and also from the built-in a caller would
naturally catch (``TimeoutError``, ``ConnectionError``, ``ValueError``), so code can catch by
meaning without knowing this package. Error codes and their meanings come from 3GPP TS 27.007
§9.2 (``+CME ERROR``) and 3GPP TS 27.005 §3.2.5 (``+CMS ERROR``).
"""

from __future__ import annotations

# 3GPP TS 27.007 §9.2.1 / §9.2.2: the codes a USB stick really returns, with the standard verbose
# text (what the modem prints with AT+CMEE=2) and a message a technician can act on.
CME_TEXT: dict[int, str] = {
    0: "phone failure",
    1: "no connection to phone",
    3: "operation not allowed",
    4: "operation not supported",
    5: "PH-SIM PIN required",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    15: "SIM wrong",
    16: "incorrect password",
    17: "SIM PIN2 required",
    18: "SIM PUK2 required",
    20: "memory full",
    21: "invalid index",
    22: "not found",
    23: "memory failure",
    24: "text string too long",
    25: "invalid characters in text string",
    26: "dial string too long",
    27: "invalid characters in dial string",
    30: "no network service",
    31: "network timeout",
    32: "network not allowed - emergency calls only",
    100: "unknown",
}

CME_MESSAGES: dict[int, str] = {
    0: "modem failure: unplug and replug the 3G stick",
    3: "operation not allowed by the modem in its current state",
    4: "operation not supported by this modem",
    10: "SIM not inserted: put a SIM card in the 3G stick",
    11: "SIM PIN needed",
    12: "SIM PUK needed: the SIM is blocked after three wrong PINs",
    13: "SIM failure: clean or replace the SIM card",
    14: "SIM busy: try again in a few seconds",
    15: "wrong SIM card",
    16: "wrong SIM PIN or PUK",
    20: "SIM memory full",
    30: "no network service: check the antenna and coverage",
    31: "network timeout",
    32: "network refused: emergency calls only",
    100: "unknown modem error",
}

# 3GPP TS 27.005 §3.2.5.
CMS_MESSAGES: dict[int, str] = {
    300: "modem failure while handling SMS",
    301: "SMS service of the modem reserved",
    302: "SMS operation not allowed",
    303: "SMS operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN needed",
    312: "PH-SIM PIN needed",
    313: "SIM failure",
    314: "SIM busy",
    316: "SIM PUK needed",
    320: "SMS memory failure",
    322: "SMS memory full",
    330: "SMS centre unknown: set it with AT+CSCA",
    331: "no network service: the SMS cannot leave",
    332: "network timeout while sending the SMS",
    340: "no +CNMA acknowledgement expected",
    500: "unknown SMS error",
}


class ModemError(Exception):
    """Base class of every error raised by :mod:`modem`."""


class ConfigurationError(ModemError, ValueError):
    """Settings or arguments that cannot work (bad APN, bad PDU, impossible timeout...)."""


class ModemTimeout(ModemError, TimeoutError):
    """The modem sent no final result code in time (hung, busy, or not a modem at all)."""


class ModemGone(ModemError, ConnectionError):
    """The serial port vanished: read error (EIO), closed port, device path missing.

    The stick re-enumerates after a reset or a power dip, often under another name: callers
    react by ``AtPort.reopen()`` on the stable link path.
    """


class CommandError(ModemError):
    """The modem answered with a failing final result code (plain ``ERROR``, ``NO CARRIER``...)."""

    def __init__(self, command: str, result: str = "ERROR", message: str | None = None) -> None:
        self.command = command
        self.result = result
        super().__init__(message or f"{command!r} failed: {result}")


class CodedError(CommandError):
    """A failing result code that carries a number: ``+CME ERROR`` or ``+CMS ERROR``."""

    family = ""

    def __init__(self, command: str, code: int | None, meaning: str, result: str = "") -> None:
        self.code = code
        self.meaning = meaning
        number = f" ({self.family} {code})" if code is not None else ""
        super().__init__(
            command, result or f"+{self.family} ERROR: {code}", f"{command!r}: {meaning}{number}"
        )


class CmeError(CodedError):
    """``+CME ERROR: <err>`` (3GPP TS 27.007 §9.2), numeric or verbose form."""

    family = "CME"


class SimNotInserted(CmeError):
    """CME 10: there is no SIM in the stick."""


class SimPinRequired(CmeError):
    """CME 11: the SIM waits for its PIN (AT+CPIN="...")."""


class SimPukRequired(CmeError):
    """CME 12: the SIM is blocked; only the PUK unblocks it."""


class SimWrongPassword(CmeError):
    """CME 16: the PIN or PUK given was wrong (each try counts against the SIM)."""


class CmsError(CodedError):
    """``+CMS ERROR: <err>`` (3GPP TS 27.005 §3.2.5) from an SMS command."""

    family = "CMS"


CME_CLASSES: dict[int, type[CmeError]] = {
    10: SimNotInserted,
    11: SimPinRequired,
    12: SimPukRequired,
    16: SimWrongPassword,
}

_CME_CODE_BY_TEXT = {text.lower(): code for code, text in CME_TEXT.items()}


def cme_error(command: str, argument: str) -> CmeError:
    """The right CmeError subclass for the text after ``+CME ERROR:`` (numeric or verbose)."""
    argument = argument.strip()
    code: int | None
    code = int(argument) if argument.isdigit() else _CME_CODE_BY_TEXT.get(argument.lower())
    meaning = CME_MESSAGES.get(code, CME_TEXT.get(code, argument)) if code is not None else argument
    cls = CME_CLASSES.get(code, CmeError) if code is not None else CmeError
    return cls(command, code, meaning or "unknown modem error", f"+CME ERROR: {argument}")


def cms_error(command: str, argument: str) -> CmsError:
    """A CmsError for the text after ``+CMS ERROR:`` (numeric, or verbose on some firmwares)."""
    argument = argument.strip()
    code = int(argument) if argument.isdigit() else None
    meaning = CMS_MESSAGES.get(code, argument) if code is not None else argument
    return CmsError(command, code, meaning or "unknown SMS error", f"+CMS ERROR: {argument}")
