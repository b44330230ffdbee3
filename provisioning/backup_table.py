"""The facility file's `[backup]` table: the district's age public keys and how many nightly
backups are kept.

A backup that leaves the appliance on a USB stick is encrypted with age to X25519 public keys;
the district keeps the matching identity (`age-keygen -o district.key`). A public key is
`age1` followed by 58 lowercase Bech32 characters: the 32-byte key in 52 five-bit groups and
a 6-character checksum (the age format, C2SP age.md: "The recipient is encoded as Bech32 with
human-readable part age"; Bech32 itself is BIP 173). Checking the checksum here catches a
character mistyped or lost when the key was copied, on the technician's laptop, rather than
the night the first USB backup is refused.

Pure functions, no I/O; written from the BIP 173 description, not copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

HRP = "age"
PREFIX = HRP + "1"
KEY_BYTES = 32
DATA_CHARS = -(-KEY_BYTES * 8 // 5)  # 52 five-bit groups carry 256 bits (4 bits of padding)
CHECKSUM_CHARS = 6
LENGTH = len(PREFIX) + DATA_CHARS + CHECKSUM_CHARS  # 62
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"  # BIP 173: the value of each character is its index
_VALUE = {c: i for i, c in enumerate(CHARSET)}
# BIP 173's BCH code generator; a valid Bech32 string has a polymod of 1 (Bech32m uses another
# constant, which age does not).
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32_CONST = 1

# The nightly backups kept on the data partition (appliance.backup.files.to_keep): the newest of
# each of the last KEEP_DAILY days and of the last KEEP_WEEKLY ISO weeks.
KEEP_DAILY, KEEP_WEEKLY = 7, 4
KEEP_RANGES = {"keep_daily": range(1, 61), "keep_weekly": range(0, 53)}
NO_RECIPIENT_WARNING = (
    "no district public key: backups onto a USB stick will be refused (the nightly backups on"
    ' the card still run); add recipients = ["age1…"] under [backup], the public key that'
    " age-keygen printed for the district"
)

SECRET_PREFIX = "AGE-SECRET-KEY-1"
HOW_TO = "the public key line age-keygen printed, or the output of age-keygen -y district.key"


class RecipientError(ValueError):
    """Not an age X25519 public key: what is wrong, and what would be right."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(f"{message}; {hint}" if hint else message)
        self.message = message
        self.hint = hint


def _polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_GENERATOR):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def checksum_ok(hrp: str, data: str) -> bool:
    """Whether `data` (the characters after the separator, checksum included) is valid
    Bech32 for `hrp`. Characters outside CHARSET make it invalid."""
    try:
        values = [_VALUE[c] for c in data]
    except KeyError:
        return False
    return _polymod(_hrp_expand(hrp) + values) == _BECH32_CONST


def create_checksum(hrp: str, values: list[int]) -> str:
    """The 6 checksum characters for five-bit `values` (used by the tests to make keys)."""
    polymod = _polymod(_hrp_expand(hrp) + values + [0] * CHECKSUM_CHARS) ^ _BECH32_CONST
    return "".join(CHARSET[(polymod >> 5 * (5 - i)) & 31] for i in range(CHECKSUM_CHARS))


def encode(key: bytes) -> str:
    """The `age1…` text of a 32-byte X25519 public key (for tests and examples)."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"an X25519 public key has {KEY_BYTES} bytes, not {len(key)}")
    bits = int.from_bytes(key, "big") << (DATA_CHARS * 5 - KEY_BYTES * 8)
    values = [(bits >> 5 * (DATA_CHARS - 1 - i)) & 31 for i in range(DATA_CHARS)]
    return PREFIX + "".join(CHARSET[v] for v in values) + create_checksum(HRP, values)


def check_recipient(value: str) -> str:
    """`value` when it is an age X25519 public key, else RecipientError saying why."""
    text = value.strip()
    if text.upper().startswith(SECRET_PREFIX):
        raise RecipientError(
            "this is the district's SECRET key, which must never be on the appliance or its card",
            f"put only the public key here ({HOW_TO}); district.key stays with the district",
        )
    if text.startswith(("ssh-", "ecdsa-")):
        raise RecipientError("an SSH key is not accepted here", f"give an age public key: {HOW_TO}")
    if not text.lower().startswith(PREFIX):
        raise RecipientError(
            f'"{_short(text)}" is not an age public key', f"it starts with age1; use {HOW_TO}"
        )
    if text != text.lower():
        raise RecipientError(
            f'"{_short(text)}" has capital letters',
            "write it in lowercase, as age-keygen prints it",
        )
    if len(text) != LENGTH:
        raise RecipientError(
            f'"{_short(text)}" has {len(text)} characters, an age public key has {LENGTH}',
            f"copy the whole key: {HOW_TO}",
        )
    data = text[len(PREFIX) :]
    odd = sorted({c for c in data if c not in _VALUE})
    if odd:
        raise RecipientError(
            f'"{_short(text)}" contains {", ".join(repr(c) for c in odd)}, which an age key never'
            " has (no b, i, o or 1 after age1)",
            f"copy the key again: {HOW_TO}",
        )
    if not checksum_ok(HRP, data):
        raise RecipientError(
            f'"{_short(text)}" fails its checksum: a character was changed in copying',
            f"copy the key again, do not retype it: {HOW_TO}",
        )
    if _VALUE[data[DATA_CHARS - 1]] & 0b1111:
        raise RecipientError(
            f'"{_short(text)}" is not a 32-byte key (its last bits are not zero)',
            f"copy the key again: {HOW_TO}",
        )
    return text


def _short(text: str) -> str:
    return text if len(text) <= 70 else text[:67] + "…"


# --- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableProblem:
    """One wrong value of [backup]: its key, the list item it is about (to find its line)."""

    key: str
    value: str | None
    message: str
    hint: str = ""


@dataclass(frozen=True)
class BackupSettings:
    recipients: tuple[str, ...] = ()
    keep_daily: int = KEEP_DAILY
    keep_weekly: int = KEEP_WEEKLY
    problems: tuple[TableProblem, ...] = field(default=())


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f'the text "{_short(value)}"'
    return str(value)


def _recipients(table: Mapping[str, Any], problems: list[TableProblem]) -> tuple[str, ...]:
    if "recipients" not in table:
        return ()
    value = table["recipients"]
    example = 'e.g. recipients = ["age1…"]'
    if isinstance(value, str):
        problems.append(
            TableProblem(
                "recipients",
                None,
                "must be a list, even of one key",
                f'write it in brackets: recipients = ["{_short(value.strip())}"]',
            )
        )
        return ()
    if not isinstance(value, list):
        problems.append(
            TableProblem(
                "recipients", None, f"must be a list of keys, got {_shown(value)}", example
            )
        )
        return ()
    found: list[str] = []
    for item in value:
        if not isinstance(item, str):
            problems.append(
                TableProblem("recipients", None, f"{_shown(item)} is not a key in quotes", example)
            )
            continue
        try:
            key = check_recipient(item)
        except RecipientError as exc:
            problems.append(TableProblem("recipients", item, exc.message, exc.hint))
            continue
        if key in found:
            problems.append(
                TableProblem("recipients", item, f'"{key[:16]}…" is listed twice', "keep it once")
            )
            continue
        found.append(key)
    return tuple(found)


def _keep(table: Mapping[str, Any], key: str, problems: list[TableProblem]) -> int:
    default = {"keep_daily": KEEP_DAILY, "keep_weekly": KEEP_WEEKLY}[key]
    if key not in table:
        return default
    value, allowed = table[key], KEEP_RANGES[key]
    hint = f"a whole number from {allowed.start} to {allowed.stop - 1}, e.g. {key} = {default}"
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(
            TableProblem(key, None, f"must be a whole number, got {_shown(value)}", hint)
        )
        return default
    if value not in allowed:
        problems.append(TableProblem(key, None, f"{value} is out of range", hint))
        return default
    return value


def check(table: Mapping[str, Any]) -> BackupSettings:
    """The settings of a `[backup]` table ({} when absent: no keys, the default counts), with
    every problem found (unknown keys are the caller's: it knows the other tables too)."""
    problems: list[TableProblem] = []
    recipients = _recipients(table, problems)
    daily = _keep(table, "keep_daily", problems)
    weekly = _keep(table, "keep_weekly", problems)
    return BackupSettings(recipients, daily, weekly, tuple(problems))


def parse_recipients(text: str) -> tuple[str, ...]:
    """Keys given on one line (`provision new --set backup.recipients=…`): separated by
    commas or spaces, each checked; RecipientError for the first wrong one."""
    keys = [k for k in text.replace(",", " ").split() if k]
    for key in keys:
        check_recipient(key)
    if len(set(keys)) != len(keys):
        raise RecipientError("a key is listed twice", "keep each key once")
    return tuple(keys)
