"""The facility file's `[ssh]` and `[firewall]` tables: who may log in to the appliance over
SSH, from which side, and whether the web app also answers on Ethernet.

`[ssh] authorized_keys` are OpenSSH public keys (the one line `ssh-keygen` writes in the
`.pub` file). Each is decoded here, on the technician's laptop, so that a key cut short in
copying is refused before the card leaves rather than found missing in the field: the base64
must decode, the type inside the blob must be the type written before it, and an RSA key
must have at least 3072 bits (NIST SP 800-57 Part 1 rev. 5, table 2: 3072-bit RSA for
security beyond 2030). Blob layouts: RFC 4253 section 6.6 (ssh-rsa), RFC 5656 section 3.1
(ecdsa-sha2-nistp256), RFC 8709 section 4 (ssh-ed25519).

Pure functions, no I/O except `read_keys_file` (for `provision new --set ...=@FILE`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioning.backup_table import TableProblem, _shown

KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa")
RSA_MIN_BITS = 3072
SIDES = ("hotspot", "ethernet")
DEFAULT_FROM: tuple[str, ...] = ("hotspot",)
HOW_TO = "the line of the .pub file that ssh-keygen -t ed25519 wrote (cat ~/.ssh/id_ed25519.pub)"
KEY_EXAMPLE = 'authorized_keys = ["ssh-ed25519 AAAAC3Nza… technicien@portable"]'
_ON = ("true", "on", "yes", "oui", "1")
_OFF = ("false", "off", "no", "non", "0")


class PublicKeyError(ValueError):
    """Not an acceptable OpenSSH public key: what is wrong, and what would be right."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(f"{message}; {hint}" if hint else message)
        self.message = message
        self.hint = hint


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "…"


def _take(blob: bytes, at: int) -> tuple[bytes, int]:
    """One SSH `string` (RFC 4251 section 5: a uint32 length, then that many bytes)."""
    if at + 4 > len(blob):
        raise ValueError("cut short")
    size = int.from_bytes(blob[at : at + 4], "big")
    end = at + 4 + size
    if end > len(blob):
        raise ValueError("cut short")
    return blob[at + 4 : end], end


def check_public_key(line: str) -> str:
    """The key as `type base64 [comment]` (spaces normalised), or PublicKeyError saying why."""
    text = " ".join(line.split())
    if "PRIVATE KEY" in text:
        raise PublicKeyError(
            "this is a PRIVATE key, which must never leave the technician's computer",
            f"give the public key: {HOW_TO}",
        )
    if not text:
        raise PublicKeyError("is empty", f"give {HOW_TO}")
    words = text.split(" ")
    kind = words[0]
    if kind not in KEY_TYPES:
        if any(w in KEY_TYPES for w in words[1:]):
            raise PublicKeyError(
                f'"{_short(text)}" starts with options before the key type',
                "give only the key: type, key, comment (no from=, command=…)",
            )
        raise PublicKeyError(
            f'"{_short(kind)}" is not an accepted key type',
            f"use {', '.join(KEY_TYPES)} (ssh-keygen -t ed25519 is best)",
        )
    if len(words) < 2:
        raise PublicKeyError(f'"{kind}" has no key after it', f"copy the whole line: {HOW_TO}")
    data = words[1]
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise PublicKeyError(
            f'the key "{_short(data)}" is not valid base64: it was cut or changed in copying',
            f"copy the whole line again: {HOW_TO}",
        ) from None
    try:
        inner, at = _take(blob, 0)
        if inner != kind.encode():
            raise PublicKeyError(
                f'the key says it is "{inner.decode("ascii", "replace")}", not "{kind}"',
                f"copy the whole line again: {HOW_TO}",
            )
        _check_blob(kind, blob, at)
    except ValueError as exc:
        if isinstance(exc, PublicKeyError):
            raise
        raise PublicKeyError(
            f'the "{kind}" key is incomplete ({exc})', f"copy the whole line again: {HOW_TO}"
        ) from None
    return text


def _check_blob(kind: str, blob: bytes, at: int) -> None:
    if kind == "ssh-ed25519":
        key, at = _take(blob, at)
        if len(key) != 32:
            raise ValueError(f"{len(key)} bytes instead of 32")
    elif kind == "ecdsa-sha2-nistp256":
        curve, at = _take(blob, at)
        point, at = _take(blob, at)
        if curve != b"nistp256" or len(point) != 65 or point[0] != 4:
            raise ValueError("not a P-256 point")
    else:
        _e, at = _take(blob, at)
        n, at = _take(blob, at)
        bits = int.from_bytes(n, "big").bit_length()
        if bits < RSA_MIN_BITS:
            raise PublicKeyError(
                f"this RSA key has {bits} bits, fewer than {RSA_MIN_BITS}",
                "make an ed25519 key instead: ssh-keygen -t ed25519",
            )
    if at != len(blob):
        raise ValueError("bytes left over")


def key_label(key: str) -> str:
    """How a key is named in messages: its type and comment, or the start of its data."""
    words = key.split(" ")
    return " ".join([words[0], *words[2:]]) if len(words) > 2 else _short(key)


def check_sides(values: Iterable[str]) -> tuple[str, ...]:
    """`from`: "hotspot" and/or "ethernet", each once."""
    found: list[str] = []
    for value in values:
        side = value.strip().lower()
        if side not in SIDES:
            raise PublicKeyError(
                f'"{value}" is not a side of the appliance',
                'use "hotspot" (the Wi-Fi of the tablets) and/or "ethernet" (the cable port)',
            )
        if side not in found:
            found.append(side)
    if not found:
        raise PublicKeyError("lists no side", 'e.g. from = ["hotspot"]')
    return tuple(found)


def parse_switch(text: str) -> bool:
    """A yes/no answer as `provision new` takes it (French or English words, or true/false)."""
    word = text.strip().lower()
    if word in _ON:
        return True
    if word in _OFF:
        return False
    raise PublicKeyError(f'"{text}" is neither on nor off', "answer on or off (oui / non)")


# --- the tables ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessSettings:
    authorized_keys: tuple[str, ...] = ()
    ssh_from: tuple[str, ...] = DEFAULT_FROM
    ethernet_web: bool = False
    problems: tuple[TableProblem, ...] = field(default=())


def _keys(table: Mapping[str, Any], problems: list[TableProblem]) -> tuple[str, ...]:
    if "authorized_keys" not in table:
        return ()
    value = table["authorized_keys"]
    key = "ssh.authorized_keys"
    if isinstance(value, str):
        problems.append(
            TableProblem(
                key,
                None,
                "must be a list, even of one key",
                f'write it in brackets: ["{_short(value)}"]',
            )
        )
        return ()
    if not isinstance(value, list):
        problems.append(
            TableProblem(key, None, f"must be a list of keys, got {_shown(value)}", KEY_EXAMPLE)
        )
        return ()
    found: list[str] = []
    for item in value:
        if not isinstance(item, str):
            problems.append(
                TableProblem(key, None, f"{_shown(item)} is not a key in quotes", KEY_EXAMPLE)
            )
            continue
        try:
            checked = check_public_key(item)
        except PublicKeyError as exc:
            # the key data finds its line (the first characters are the type's, the same in all)
            words = item.split()
            needle = " ".join(words[:2]) + (" " if len(words) > 2 else "")
            problems.append(TableProblem(key, needle, exc.message, exc.hint))
            continue
        if any(checked.split(" ")[:2] == k.split(" ")[:2] for k in found):
            problems.append(
                TableProblem(
                    key,
                    " ".join(item.split()[:2]) + " ",
                    "this key is listed twice",
                    "keep it once",
                )
            )
            continue
        found.append(checked)
    return tuple(found)


def _sides(table: Mapping[str, Any], problems: list[TableProblem]) -> tuple[str, ...]:
    if "from" not in table:
        return DEFAULT_FROM
    value = table["from"]
    example = 'e.g. from = ["hotspot"] or from = ["hotspot", "ethernet"]'
    if isinstance(value, str):
        value = [value]  # a single side without brackets is understood
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(
            TableProblem("ssh.from", None, f"must be a list of sides, got {_shown(value)}", example)
        )
        return DEFAULT_FROM
    try:
        return check_sides(value)
    except PublicKeyError as exc:
        odd = next((v for v in value if v.strip().lower() not in SIDES), None)
        problems.append(TableProblem("ssh.from", odd, exc.message, exc.hint))
        return DEFAULT_FROM


def check(ssh: Mapping[str, Any], firewall: Mapping[str, Any]) -> AccessSettings:
    """The settings of `[ssh]` and `[firewall]` ({} when absent: no SSH, web on the hotspot
    only), with every problem found (unknown keys are the caller's)."""
    problems: list[TableProblem] = []
    keys = _keys(ssh, problems)
    sides = _sides(ssh, problems)
    ethernet_web = False
    if "ethernet_web" in firewall:
        value = firewall["ethernet_web"]
        if isinstance(value, bool):
            ethernet_web = value
        else:
            problems.append(
                TableProblem(
                    "firewall.ethernet_web",
                    None,
                    f"must be true or false, got {_shown(value)}",
                    "write ethernet_web = true or ethernet_web = false, without quotes",
                )
            )
    return AccessSettings(keys, sides, ethernet_web, tuple(problems))


def parse_keys(text: str) -> tuple[str, ...]:
    """Keys given on the command line: one per line (blank lines and # comments skipped), as
    in an authorized_keys file; PublicKeyError for the first wrong one."""
    keys: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            key = check_public_key(line)
        except PublicKeyError as exc:
            raise PublicKeyError(f"key line {number}: {exc.message}", exc.hint) from None
        if any(key.split(" ")[:2] == k.split(" ")[:2] for k in keys):
            raise PublicKeyError(f"key line {number}: this key is listed twice", "keep it once")
        keys.append(key)
    return tuple(keys)


def read_keys_file(answer: str) -> str:
    """`@PATH` replaced by the file's text (a .pub file or an authorized_keys file); any other
    answer as it is."""
    answer = answer.strip()
    if not answer.startswith("@"):
        return answer
    path = Path(answer[1:]).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise PublicKeyError(
            f"{path} cannot be read ({reason})", "give the path of the .pub file"
        ) from None
