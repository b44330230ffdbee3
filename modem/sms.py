"""The SMS fallback: a month's DHIS2 report squeezed into a few SMS, and the PDUs that carry them.

When 3G data has failed for days, the report still has to reach the district. Encoding v1 (see
docs/sms-encoding.md) turns a dataValueSet into at most a few self-describing texts; the PDU
half builds the SMS-SUBMIT octets for `AT+CMGS` in PDU mode (3GPP TS 27.005) and parses them back
for the simulator and the gateway tests. Pure code: no I/O, no clock.
"""

from __future__ import annotations

import base64
import hashlib
import re
import statistics
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from appliance.outbox import DELETIONS_KEY

# ---------------------------------------------------------------------------------------------
# GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1) and its extension table (§6.2.1.1)
# ---------------------------------------------------------------------------------------------

# Index = septet value. 0x1B is the escape to the extension table (no character of its own).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
ESCAPE = 0x1B
# Characters reached through the escape septet, and their second septet (TS 23.038 §6.2.1.1).
GSM7_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_BASIC_INDEX = {c: i for i, c in enumerate(GSM7_BASIC) if i != ESCAPE}
_EXTENSION_CHAR = {v: c for c, v in GSM7_EXTENSION.items()}

SMS_SEPTETS = 160  # one SMS of GSM 7-bit text (TS 23.040 §9.2.3.24)
CONCAT_PART_SEPTETS = 153  # 160 minus the 7 septets a 6-octet concatenation UDH takes


def _septets(text: str) -> list[int]:
    out = []
    for n, char in enumerate(text):
        if char in _BASIC_INDEX:
            out.append(_BASIC_INDEX[char])
        elif char in GSM7_EXTENSION:
            out += [ESCAPE, GSM7_EXTENSION[char]]
        else:
            raise ValueError(f"character {char!r} at {n} is not in the GSM 7-bit alphabet")
    return out


def is_gsm7(text: str) -> bool:
    """Whether the text can go as GSM 7-bit (so 160 characters per SMS instead of UCS-2's 70)."""
    return all(c in _BASIC_INDEX or c in GSM7_EXTENSION for c in text)


def gsm7_length(text: str) -> int:
    """Septets the text takes: extension-table characters count as two."""
    return len(_septets(text))


def _pack(septets: list[int], fill_bits: int = 0) -> bytes:
    """Septets packed least significant bit first (TS 23.038 §6.1.2.1.1)."""
    out = bytearray()
    acc, nbits = 0, fill_bits
    for septet in septets:
        acc |= septet << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def gsm7_encode(text: str, *, fill_bits: int = 0) -> bytes:
    """The text as packed septets; `fill_bits` leading zero bits align it after a UDH."""
    return _pack(_septets(text), fill_bits)


def gsm7_decode(packed: bytes, septets: int, *, fill_bits: int = 0) -> str:
    """`septets` septets from packed octets whose first `fill_bits` bits are padding."""
    if len(packed) * 8 < fill_bits + 7 * septets:
        raise ValueError(f"{len(packed)} octets cannot hold {septets} septets")
    values = []
    acc = int.from_bytes(packed, "little") >> fill_bits
    for _ in range(septets):
        values.append(acc & 0x7F)
        acc >>= 7
    chars = []
    escaped = False
    for value in values:
        if escaped:
            # An unknown extension code shows the basic character (TS 23.038 §6.2.1.1 note).
            chars.append(_EXTENSION_CHAR.get(value, GSM7_BASIC[value]))
            escaped = False
        elif value == ESCAPE:
            escaped = True
        else:
            chars.append(GSM7_BASIC[value])
    if escaped:
        chars.append(" ")  # a trailing lone escape reads as a space (TS 23.038)
    return "".join(chars)


# ---------------------------------------------------------------------------------------------
# SMS-SUBMIT PDUs (3GPP TS 23.040 §9.2.2.2) for AT+CMGS in PDU mode (3GPP TS 27.005 §3.5.1)
# ---------------------------------------------------------------------------------------------

TOA_INTERNATIONAL = 0x91  # type of number international, ISDN numbering plan (TS 23.040 §9.1.2.5)
TOA_UNKNOWN = 0x81  # type of number unknown, ISDN numbering plan
VP_ONE_WEEK = 173  # relative validity period: 167 < VP <= 196 means (VP - 166) days (§9.2.3.12.1)
IEI_CONCAT_8BIT = 0x00  # concatenated short message, 8-bit reference (TS 23.040 §9.2.3.24.1)
IEI_CONCAT_16BIT = 0x08
_NUMBER = re.compile(r"\+?[0-9]{1,20}")


def _address(number: str) -> tuple[int, int, bytes]:
    """(digit count, type of address, swapped-nibble digits) of a phone number (§9.1.2.5)."""
    if not _NUMBER.fullmatch(number):
        raise ValueError(f"{number!r} is not a phone number (digits, optionally after '+')")
    digits = number.lstrip("+")
    toa = TOA_INTERNATIONAL if number.startswith("+") else TOA_UNKNOWN
    padded = digits + ("F" if len(digits) % 2 else "")
    semi = bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))
    return len(digits), toa, semi


def _read_address(octets: bytes, digits: int, toa: int) -> str:
    text = "".join(f"{b & 0x0F:X}{b >> 4:X}" for b in octets)[:digits]
    return ("+" if toa == TOA_INTERNATIONAL else "") + text


def _split_septets(text: str, size: int) -> list[list[int]]:
    """Septet chunks of at most `size`, never splitting an escape from its second septet."""
    parts: list[list[int]] = [[]]
    for char in text:
        septets = _septets(char)
        if len(parts[-1]) + len(septets) > size:
            parts.append([])
        parts[-1].extend(septets)
    return parts


def submit_pdus(
    number: str,
    text: str,
    *,
    reference: int,
    smsc: str | None = None,
    validity: int = VP_ONE_WEEK,
) -> list[tuple[str, int]]:
    """(PDU hex, TPDU octets) per SMS for `AT+CMGS=<octets>`: one for up to 160 septets, else
    concatenated parts of up to 153 septets with an 8-bit-reference UDH. `reference` (0-255)
    ties the parts together; SMSC "00" means the SIM's own."""
    if not 0 <= reference <= 0xFF:
        raise ValueError(f"concatenation reference {reference} is not in 0..255")
    if not 0 <= validity <= 0xFF:
        raise ValueError(f"relative validity period {validity} is not one octet")
    if smsc is None:
        smsc_field = b"\x00"
    else:
        _, smsc_toa, smsc_digits = _address(smsc)
        smsc_field = bytes([len(smsc_digits) + 1, smsc_toa]) + smsc_digits
    digits, toa, semi = _address(number)
    if gsm7_length(text) <= SMS_SEPTETS:
        chunks, concatenated = [_septets(text)], False
    else:
        chunks, concatenated = _split_septets(text, CONCAT_PART_SEPTETS), True
    if len(chunks) > 0xFF:
        raise ValueError(f"text needs {len(chunks)} parts, more than a UDH can number")
    out = []
    for seq, chunk in enumerate(chunks, 1):
        # first octet: TP-MTI 01 (SUBMIT), TP-VPF 10 (relative), TP-UDHI when a UDH follows
        first = 0x01 | 0x10 | (0x40 if concatenated else 0)
        head = bytes([first, 0x00, digits, toa]) + semi + bytes([0x00, 0x00, validity])
        if concatenated:
            udh = bytes([5, IEI_CONCAT_8BIT, 3, reference, len(chunks), seq])
            udh_septets = (len(udh) * 8 + 6) // 7
            fill = udh_septets * 7 - len(udh) * 8
            body = bytes([udh_septets + len(chunk)]) + udh + _pack(chunk, fill)
        else:
            body = bytes([len(chunk)]) + _pack(chunk)
        tpdu = head + body
        out.append(((smsc_field + tpdu).hex().upper(), len(tpdu)))
    return out


def parse_submit_pdu(pdu_hex: str) -> dict[str, Any]:
    """{number, text, udh: {ref, total, seq} | None, smsc, validity} of an SMS-SUBMIT PDU
    (with its SMSC field first, as AT+CMGS takes it)."""
    try:
        pdu = bytes.fromhex(pdu_hex)
        smsc_len = pdu[0]
        smsc = None
        if smsc_len:
            smsc_toa, smsc_semi = pdu[1], pdu[2 : 1 + smsc_len]
            smsc = _read_address(smsc_semi, 2 * len(smsc_semi), smsc_toa).rstrip("F")
        pos = 1 + smsc_len
        first = pdu[pos]
        if first & 0x03 != 0x01:
            raise ValueError(f"first octet {first:#04x} is not an SMS-SUBMIT")
        digits, toa = pdu[pos + 2], pdu[pos + 3]
        pos += 4
        number = _read_address(pdu[pos : pos + (digits + 1) // 2], digits, toa)
        pos += (digits + 1) // 2
        dcs = pdu[pos + 1]
        pos += 2
        vpf = (first >> 3) & 0x03
        validity = pdu[pos] if vpf == 0b10 else None
        pos += {0b00: 0, 0b10: 1, 0b01: 7, 0b11: 7}[vpf]
        udl = pdu[pos]
        ud = pdu[pos + 1 :]
    except IndexError as exc:
        raise ValueError("PDU is truncated") from exc
    udh = None
    udh_octets = 0
    if first & 0x40:
        udh_octets = ud[0] + 1
        udh = _read_udh(ud[1:udh_octets])
    alphabet = (dcs >> 2) & 0x03 if dcs & 0xC0 == 0 else 0
    if alphabet == 0:  # GSM 7-bit: UDL counts septets, the UDH included
        udh_septets = (udh_octets * 8 + 6) // 7
        fill = udh_septets * 7 - udh_octets * 8
        text = gsm7_decode(ud[udh_octets:], udl - udh_septets, fill_bits=fill)
    elif alphabet == 2:  # UCS-2: UDL counts octets
        text = ud[udh_octets:udl].decode("utf-16-be")
    else:
        raise ValueError(f"data coding scheme {dcs:#04x} is not text this parser reads")
    return {"number": number, "text": text, "udh": udh, "smsc": smsc, "validity": validity}


def _read_udh(udh: bytes) -> dict[str, int] | None:
    pos = 0
    while pos + 2 <= len(udh):
        iei, length = udh[pos], udh[pos + 1]
        data = udh[pos + 2 : pos + 2 + length]
        if iei == IEI_CONCAT_8BIT and length == 3:
            return {"ref": data[0], "total": data[1], "seq": data[2]}
        if iei == IEI_CONCAT_16BIT and length == 4:
            return {"ref": int.from_bytes(data[:2], "big"), "total": data[2], "seq": data[3]}
        pos += 2 + length
    return None


# ---------------------------------------------------------------------------------------------
# Encoding v1 of a monthly report (docs/sms-encoding.md)
# ---------------------------------------------------------------------------------------------

VERSION = "K1"
# Each part is one plain SMS (no concatenation UDH): gateways often hand concatenated SMS over
# as separate messages anyway, so every part carries its own sequence number in the text.
MAX_PART_CHARS = SMS_SEPTETS
MAX_PARTS = 9  # "p/n" stays three characters
MAX_MESSAGE_ID = 0xFFFF
# Base64 with '-' and '.' instead of '+' and '/': both are in the GSM basic set at their ASCII
# positions (TS 23.038) and are unreserved in URLs (RFC 3986 §2.3), so neither a GSM↔ASCII
# mistranslation nor an HTTP gateway's URL (de)coding can change them. No padding.
_STANDARD_TO_SMS = bytes.maketrans(b"+/", b"-.")
_SMS_TO_STANDARD = bytes.maketrans(b"-.", b"+/")
DATA_ALPHABET = re.compile(r"[A-Za-z0-9.-]*")
FACILITY = re.compile(r"[A-Za-z0-9-]{1,16}")
PERIOD = re.compile(r"[0-9]{4}(0[1-9]|1[0-2])")
FLAG_DEFLATED = 0x01
DEFAULT_COMBO = "default"


class SmsDecodeError(ValueError):
    """The texts do not make one whole, intact v1 report for this mapping; the message says why."""


@dataclass(frozen=True)
class SmsPart:
    """One received text, split into its header fields (period, fingerprint and checksum are
    only in part 1)."""

    facility: str
    message_id: int
    seq: int
    total: int
    data: str
    period: str | None = None
    fingerprint: str | None = None
    checksum: str | None = None


def sms_b64encode(data: bytes) -> str:
    return base64.b64encode(data).translate(_STANDARD_TO_SMS).rstrip(b"=").decode("ascii")


def sms_b64decode(text: str) -> bytes:
    """Strict: a character outside the alphabet or stray bits in the last one are refused, so
    any changed character is noticed rather than silently ignored."""
    if not DATA_ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not SMS base64 text")
    raw = text.encode("ascii").translate(_SMS_TO_STANDARD)
    data = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    if sms_b64encode(data) != text:
        raise ValueError("SMS base64 text has stray bits in its last character")
    return data


def _varint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits per octet, high bit set on all but the last."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise SmsDecodeError("report body ends inside a number")
        octet = data[pos]
        value |= (octet & 0x7F) << shift
        pos += 1
        shift += 7
        if not octet & 0x80:
            return value, pos


def mapping_cells(mapping: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(dataElement, categoryOptionCombo) in canonical order: data elements in mapping order,
    then the options of each one's category combo in mapping order."""
    cells: dict[tuple[str, str], None] = {}
    combos = mapping["categoryCombos"]
    for de in mapping["dataElements"]:
        combo = combos[de.get("categoryCombo", DEFAULT_COMBO)]
        for coc in combo["options"].values():
            cells.setdefault((de["dataElement"], coc), None)
    return list(cells)


def mapping_fingerprint(mapping: Mapping[str, Any]) -> str:
    """4 base-32 characters (20 bits) of SHA-256 over what both sides must agree on: the data
    set, attribute option combo, the cell order and which cells are zero-significant."""
    zero = set(mapping.get("zeroSignificant") or [])
    lines = [VERSION, mapping["dataSet"], mapping.get("attributeOptionCombo") or ""]
    lines += [f"{de}/{coc}/{int(de in zero)}" for de, coc in mapping_cells(mapping)]
    digest = hashlib.sha256("\n".join(lines).encode("utf-8")).digest()
    return base64.b32encode(digest)[:4].decode("ascii")


def _period_start(period: str) -> date:
    if not isinstance(period, str) or not PERIOD.fullmatch(period):
        raise ValueError(f"period {period!r} is not YYYYMM")
    return date(int(period[:4]), int(period[4:]), 1)


def _body(payload: Mapping[str, Any], mapping: Mapping[str, Any]) -> bytes:
    """The uncompressed body: completeDate, then (index delta, value) pairs in cell order."""
    index = {cell: n for n, cell in enumerate(mapping_cells(mapping))}
    zero = set(mapping.get("zeroSignificant") or [])
    aoc = mapping.get("attributeOptionCombo")
    values: dict[int, int] = {}
    for row in payload.get("dataValues") or []:
        cell = (row.get("dataElement"), row.get("categoryOptionCombo"))
        if cell not in index:
            raise ValueError(f"data value {cell} is not a cell of the mapping")
        if row.get("attributeOptionCombo", aoc) != aoc:
            raise ValueError(f"data value {cell} has another attributeOptionCombo than the mapping")
        text = row.get("value")
        if not isinstance(text, str | int) or not re.fullmatch(r"[0-9]+", str(text)):
            raise ValueError(f"data value {cell} = {text!r} is not a non-negative integer")
        if index[cell] in values:
            raise ValueError(f"data value {cell} appears twice")
        values[index[cell]] = int(text)
    # Cells a revision takes away travel as zeros: the gateway posts them, and DHIS2 2.36+
    # removes a stored value on a zero for an element that is not zero-significant
    # (DHIS2-11624); an older DHIS2 keeps it until the report goes by 3G with its DELETE.
    for row in payload.get(DELETIONS_KEY) or []:
        cell = (row.get("dataElement"), row.get("categoryOptionCombo"))
        if cell in index:
            values.setdefault(index[cell], 0)
    start = _period_start(payload["period"])
    out = bytearray()
    complete = payload.get("completeDate")
    if complete is None:
        out += _varint(0)
    else:
        days = (date.fromisoformat(complete) - start).days
        if days < 0:
            raise ValueError(f"completeDate {complete} is before the period starts")
        out += _varint(days + 1)
    cells = mapping_cells(mapping)
    previous = -1
    for n in sorted(values):
        if values[n] == 0 and cells[n][0] in zero:
            continue  # the decoder restores zero-significant zeros
        out += _varint(n - previous - 1) + _varint(values[n])
        previous = n
    return bytes(out)


def _checksum(facility: str, period: str, fingerprint: str, body: bytes) -> str:
    """CRC-32 of the header fields and the uncompressed body, as 6 data characters."""
    crc = zlib.crc32(f"{VERSION} {facility} {period} {fingerprint} ".encode("ascii") + body)
    return sms_b64encode(crc.to_bytes(4, "big"))


def _split(data: str, first_header: str, other_header: str) -> list[str]:
    for total in range(1, MAX_PARTS + 1):
        room = [
            MAX_PART_CHARS - len(first_header.format(total=total)),
            *[MAX_PART_CHARS - len(other_header.format(seq=s, total=total)) for s in range(2, 10)],
        ][:total]
        if sum(room) >= len(data):
            chunks, pos = [], 0
            for size in room:
                chunks.append(data[pos : pos + size])
                pos += size
            return chunks
    raise ValueError(f"report needs more than {MAX_PARTS} SMS ({len(data)} data characters)")


def encode_report(
    payload: Mapping[str, Any], mapping: Mapping[str, Any], *, facility: str, message_id: int
) -> list[str]:
    """The texts of one dataValueSet, each a plain SMS of at most 160 GSM 7-bit characters.
    `message_id` (0-65535) must differ between reports of the facility still in flight."""
    if not isinstance(facility, str) or not FACILITY.fullmatch(facility):
        raise ValueError(f"facility code {facility!r} is not 1-16 letters, digits or '-'")
    if not 0 <= message_id <= MAX_MESSAGE_ID:
        raise ValueError(f"message id {message_id} is not in 0..{MAX_MESSAGE_ID}")
    if payload.get("dataSet") != mapping["dataSet"]:
        raise ValueError(f"dataSet {payload.get('dataSet')!r} is not the mapping's")
    period = payload["period"]
    body = _body(payload, mapping)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate, no zlib header
    packed = deflater.compress(body) + deflater.flush()
    wire = bytes([FLAG_DEFLATED]) + packed if len(packed) < len(body) else b"\x00" + body
    fingerprint = mapping_fingerprint(mapping)
    checksum = _checksum(facility, period, fingerprint, body)
    first = f"{VERSION} {facility} {message_id} 1/{{total}} {period} {fingerprint} {checksum} "
    other = f"{VERSION} {facility} {message_id} {{seq}}/{{total}} "
    chunks = _split(sms_b64encode(wire), first, other)
    total = len(chunks)
    return [
        (first.format(total=total) if seq == 1 else other.format(seq=seq, total=total)) + chunk
        for seq, chunk in enumerate(chunks, 1)
    ]


def parse_part(text: str) -> SmsPart:
    """The header fields of one received text."""
    words = text.split()  # any run of whitespace: gateways add line breaks or double spaces
    version = words[0] if words else ""
    if version != VERSION:
        raise SmsDecodeError(f"unknown SMS report version {version[:8]!r} (expected {VERSION})")
    try:
        facility, id_text, position = words[1], words[2], words[3]
    except IndexError as exc:
        raise SmsDecodeError(f"malformed SMS report header in {text[:40]!r}") from exc
    numbers = re.fullmatch(r"([0-9])/([0-9])", position)
    if not re.fullmatch(r"[0-9]{1,5}", id_text) or not numbers:
        raise SmsDecodeError(f"malformed SMS report header in {text[:40]!r}")
    message_id, seq, total = int(id_text), int(numbers[1]), int(numbers[2])
    if not 1 <= seq <= total <= MAX_PARTS:
        raise SmsDecodeError(f"part number {position} is impossible")
    expected = 8 if seq == 1 else 5
    if len(words) != expected:
        raise SmsDecodeError(f"part {position} has {len(words)} fields, expected {expected}")
    if seq == 1:
        return SmsPart(facility, message_id, seq, total, words[7], *words[4:7])
    return SmsPart(facility, message_id, seq, total, words[4])


def _resolve_org_unit(
    facility: str, mapping: Mapping[str, Any], org_units: Mapping[str, str] | None
) -> str:
    if org_units is not None:
        if facility not in org_units:
            raise SmsDecodeError(f"facility {facility!r} is not one the gateway knows")
        return org_units[facility]
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9]{10}", facility):  # already a DHIS2 orgUnit UID
        return facility
    return mapping["orgUnit"]


def _assemble(texts: Iterable[str]) -> tuple[SmsPart, str]:
    """Part 1 and the joined data of one message, or the reason it cannot be had."""
    parts: dict[int, SmsPart] = {}
    for text in texts:
        part = parse_part(text)
        if parts:
            some = next(iter(parts.values()))
            if (part.facility, part.message_id, part.total) != (
                some.facility,
                some.message_id,
                some.total,
            ):
                raise SmsDecodeError(
                    f"texts of different messages: {some.facility} {some.message_id}"
                    f" ({some.total} parts) and {part.facility} {part.message_id}"
                    f" ({part.total} parts)"
                )
        if part.seq in parts and parts[part.seq] != part:
            raise SmsDecodeError(f"two different texts claim part {part.seq}/{part.total}")
        parts[part.seq] = part
    if not parts:
        raise SmsDecodeError("no texts to decode")
    some = next(iter(parts.values()))
    missing = [seq for seq in range(1, some.total + 1) if seq not in parts]
    if missing:
        names = ", ".join(f"{seq}/{some.total}" for seq in missing)
        raise SmsDecodeError(
            f"message {some.message_id} from {some.facility} is missing part {names}"
        )
    return parts[1], "".join(parts[seq].data for seq in sorted(parts))


def decode_report(
    texts: Iterable[str],
    mapping: Mapping[str, Any],
    *,
    org_units: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The dataValueSet back from all the texts of one report, in any order. The orgUnit is
    `org_units[facility]` when given, else the facility code if it is a DHIS2 UID, else the
    mapping's own."""
    first, data = _assemble(texts)
    assert first.period is not None and first.checksum is not None
    fingerprint = mapping_fingerprint(mapping)
    if first.fingerprint != fingerprint:
        raise SmsDecodeError(
            f"report was encoded with mapping {first.fingerprint}, this gateway has {fingerprint}"
        )
    try:
        start = _period_start(first.period)
        wire = sms_b64decode(data)
    except ValueError as exc:
        raise SmsDecodeError(f"bad checksum: report data is corrupted ({exc})") from exc
    if not wire or wire[0] not in (0, FLAG_DEFLATED):
        raise SmsDecodeError("bad checksum: report data is corrupted (unknown body flags)")
    body = wire[1:]
    if wire[0] == FLAG_DEFLATED:
        inflater = zlib.decompressobj(-15)
        try:
            body = inflater.decompress(body) + inflater.flush()
        except zlib.error as exc:
            raise SmsDecodeError(
                "bad checksum: report data is corrupted (does not inflate)"
            ) from exc
        if not inflater.eof or inflater.unused_data:
            raise SmsDecodeError("bad checksum: report data is truncated or has extra data")
    if _checksum(first.facility, first.period, fingerprint, body) != first.checksum:
        raise SmsDecodeError(
            f"bad checksum on message {first.message_id} from {first.facility}:"
            " a text was changed or mixed up on the way"
        )
    return _values(
        body, start, first, mapping, _resolve_org_unit(first.facility, mapping, org_units)
    )


def _values(
    body: bytes, start: date, first: SmsPart, mapping: Mapping[str, Any], org_unit: str
) -> dict[str, Any]:
    cells = mapping_cells(mapping)
    complete, pos = _read_varint(body, 0)
    values: dict[tuple[str, str], int] = {}
    index = -1
    while pos < len(body):
        delta, pos = _read_varint(body, pos)
        value, pos = _read_varint(body, pos)
        index += delta + 1
        if index >= len(cells):
            raise SmsDecodeError(f"cell {index} is beyond the mapping's {len(cells)} cells")
        values[cells[index]] = value
    zero = set(mapping.get("zeroSignificant") or [])
    for cell in cells:
        if cell[0] in zero:
            values.setdefault(cell, 0)
    aoc = mapping.get("attributeOptionCombo")
    rows = []
    for (de, coc), value in sorted(values.items()):
        row = {"dataElement": de, "categoryOptionCombo": coc}
        if aoc:
            row["attributeOptionCombo"] = aoc
        row["value"] = str(value)
        rows.append(row)
    out: dict[str, Any] = {
        "dataSet": mapping["dataSet"],
        "period": first.period,
        "orgUnit": org_unit,
    }
    if complete:
        out["completeDate"] = (start + timedelta(days=complete - 1)).isoformat()
    out["dataValues"] = rows
    return out


def sms_figures(
    payloads: Iterable[Mapping[str, Any]],
    mapping: Mapping[str, Any],
    *,
    facility: str | None = None,
) -> dict[str, Any]:
    """SMS count, characters and body bytes per report (max and mean) for the benchmark. The
    facility code defaults to each payload's orgUnit, the longest a caller would use."""
    sms, chars, body_bytes, wire_bytes, json_values = [], [], [], [], []
    for n, payload in enumerate(payloads):
        texts = encode_report(
            payload, mapping, facility=facility or payload["orgUnit"], message_id=n % 0x10000
        )
        body = _body(payload, mapping)
        sms.append(len(texts))
        chars.append(sum(len(t) for t in texts))
        body_bytes.append(len(body))
        wire_bytes.append(len(sms_b64decode("".join(parse_part(t).data for t in texts))))
        json_values.append(len(payload.get("dataValues") or []))

    def summary(values: list[int]) -> dict[str, float]:
        if not values:
            return {"max": 0, "mean": 0.0}
        return {"max": max(values), "mean": round(statistics.fmean(values), 2)}

    return {
        "reports": len(sms),
        "sms": summary(sms),
        "characters": summary(chars),
        "body_bytes": summary(body_bytes),
        "sent_bytes": summary(wire_bytes),
        "data_values": summary(json_values),
        "sms_histogram": {str(k): sms.count(k) for k in sorted(set(sms))},
    }


__all__ = [
    "SmsDecodeError",
    "SmsPart",
    "decode_report",
    "encode_report",
    "gsm7_decode",
    "gsm7_encode",
    "gsm7_length",
    "is_gsm7",
    "mapping_cells",
    "mapping_fingerprint",
    "parse_part",
    "parse_submit_pdu",
    "sms_b64decode",
    "sms_b64encode",
    "sms_figures",
    "submit_pdus",
]
