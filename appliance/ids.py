"""Identifiers: UUIDv7 record ids and the short health number printed on a patient's card."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7(unix_ms: int | None = None) -> str:
    """A UUIDv7 (RFC 9562 §5.7): 48-bit Unix milliseconds, then random bits.

    Sortable by creation time and unique across facilities, so records can later be merged at
    district level. Within one millisecond a 12-bit counter in `rand_a` keeps ids of this
    process increasing (RFC 9562 §6.2, method 1). Python 3.11 has no uuid.uuid7.
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                ms += 1
                _counter = 0
        else:
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave room to count up
        _last_ms = ms
        return uuid7_from(ms, _counter, int.from_bytes(os.urandom(8), "big"))


def uuid7_from(unix_ms: int, rand_a: int, rand_b: int) -> str:
    """The UUIDv7 layout (RFC 9562 §5.7): 48-bit ms, version 7, 12 bits of `rand_a`, the RFC
    variant, 62 bits of `rand_b`. The synthetic facility feeds it seeded bits."""
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76 | (rand_a & 0xFFF) << 64 | 0b10 << 62 | (rand_b & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


# Damm's quasigroup of order 10 (H. M. Damm, 2004): one check digit that catches every
# single-digit error and every swap of two adjacent digits — the two mistakes made when a
# number is read aloud or copied from a card.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm_digit(digits: str) -> str:
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][int(ch)]
    return str(interim)


def damm_valid(digits_with_check: str) -> bool:
    return digits_with_check.isdigit() and damm_digit(digits_with_check) == "0"


FACILITY_CODE = re.compile(r"^[A-Z]{2,6}$")
SEQUENCE_DIGITS = 6


def health_number(facility_code: str, sequence: int) -> str:
    """`KLB-000123-4`: facility code, sequence in the facility, Damm check digit."""
    seq = f"{sequence:0{SEQUENCE_DIGITS}d}"
    return f"{facility_code}-{seq}-{damm_digit(seq)}"


_HN = re.compile(r"^(?:([A-Z]{2,6})[\s\-]*)?(\d{1,7})(?:[\s\-]*(\d))?$")


def parse_health_number(text: str) -> tuple[str | None, int, bool | None] | None:
    """Read what a person typed: `KLB-000123-4`, `klb 123 4`, `000123` (check digit missing).

    Returns (facility code or None, sequence, check digit valid — None when it was missing),
    or None when the text is not a health number at all. A lone run of 7 digits is read as six
    digits plus check digit.
    """
    m = _HN.match(text.strip().upper())
    if not m:
        return None
    code, digits, check = m.groups()
    if check is None and len(digits) == SEQUENCE_DIGITS + 1:
        digits, check = digits[:-1], digits[-1]
    if len(digits) > SEQUENCE_DIGITS:
        return None
    seq = f"{int(digits):0{SEQUENCE_DIGITS}d}"
    valid = None if check is None else damm_digit(seq) == check
    return code, int(seq), valid
