"""GSM 7-bit packing, SMS-SUBMIT PDUs and the v1 SMS encoding of a monthly report."""

from __future__ import annotations

import copy
import re
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.reports.formats import load_mapping
from modem.sms import (
    SmsDecodeError,
    decode_report,
    encode_report,
    gsm7_decode,
    gsm7_encode,
    gsm7_length,
    is_gsm7,
    mapping_cells,
    mapping_fingerprint,
    parse_part,
    parse_submit_pdu,
    sms_b64decode,
    sms_b64encode,
    sms_figures,
    submit_pdus,
)

MAPPING = load_mapping()
CELLS = mapping_cells(MAPPING)
ZERO = set(MAPPING["zeroSignificant"])
# Characters that are in the GSM basic set at their ASCII code and unreserved in URLs.
SAFE_TEXT = re.compile(r"[A-Za-z0-9 ./-]*")


# --- GSM 7-bit ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "packed"),
    [
        ("hellohello", "E8329BFD4697D9EC37"),  # TS 23.038 packing, the classic PDU example
        ("Hello", "C8329BFD06"),
        ("@", "00"),  # '@' is septet 0x00
        ("€", "9B32"),  # escape 0x1B then 0x65
        ("[", "1B1E"),  # escape 0x1B then 0x3C
    ],
)
def test_gsm7_packing_known_vectors(text, packed):
    assert gsm7_encode(text).hex().upper() == packed
    assert gsm7_decode(bytes.fromhex(packed), gsm7_length(text)) == text


def test_fill_bits_shift_the_septets():
    # 'a' = 0x61 after one fill bit: 0b1100001_0 = 0xC2
    assert gsm7_encode("a", fill_bits=1) == b"\xc2"
    assert gsm7_decode(b"\xc2", 1, fill_bits=1) == "a"


def test_escape_characters_count_twice_and_non_gsm_is_refused():
    assert gsm7_length("a{b}€") == 8
    assert is_gsm7("Kéné €[]~^|\\{}")
    assert not is_gsm7("ɛ")  # Bambara open e is not in the GSM alphabet
    assert not is_gsm7("`")
    with pytest.raises(ValueError, match="GSM 7-bit"):
        gsm7_encode("ɲ")


@given(
    st.text(
        alphabet=st.sampled_from(
            sorted(set("@£$¥èÇ\nØΔ_ΦÆß !#¤%&'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà{}[]~^|\\€\f"))
        )
    )
)
def test_gsm7_round_trip(text):
    for fill in (0, 1, 6):
        packed = gsm7_encode(text, fill_bits=fill)
        assert len(packed) == (fill + 7 * gsm7_length(text) + 7) // 8
        assert gsm7_decode(packed, gsm7_length(text), fill_bits=fill) == text


def test_gsm7_decode_refuses_too_few_octets():
    with pytest.raises(ValueError, match="cannot hold"):
        gsm7_decode(b"\x00", 2)


# --- SMS-SUBMIT PDUs -----------------------------------------------------------------------------


def test_single_submit_pdu_matches_the_classic_example():
    # "hellohello" to +46708251358, SMSC from the SIM, relative validity 0xAA (4 days)
    [(pdu, octets)] = submit_pdus("+46708251358", "hellohello", reference=0, validity=0xAA)
    assert pdu == "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
    assert octets == len(pdu) // 2 - 1  # AT+CMGS counts the TPDU, not the SMSC field
    parsed = parse_submit_pdu(pdu)
    assert parsed["number"] == "+46708251358"
    assert parsed["text"] == "hellohello"
    assert parsed["udh"] is None
    assert parsed["smsc"] is None
    assert parsed["validity"] == 0xAA


def test_national_number_and_explicit_smsc():
    [(pdu, octets)] = submit_pdus("76123456", "ok", reference=0, smsc="+22366000000")
    assert pdu.startswith("0791" + "2263060000F0")
    assert octets == len(pdu) // 2 - 8
    parsed = parse_submit_pdu(pdu)
    assert parsed["number"] == "76123456"
    assert pdu[16 + 6 : 16 + 8] == "81"  # type of address: unknown, ISDN
    assert parsed["smsc"] == "+22366000000"
    assert parsed["text"] == "ok"


def test_exactly_160_septets_is_one_sms_and_161_is_two():
    assert len(submit_pdus("+22370000000", "x" * 160, reference=1)) == 1
    assert len(submit_pdus("+22370000000", "x" * 159 + "€", reference=1)) == 2


def test_concatenated_submit_pdus_parse_back():
    text = "K1 " + "abcdefghij" * 40  # 403 septets: three parts
    pdus = submit_pdus("+22370000000", text, reference=0x2A)
    assert len(pdus) == 3
    parsed = [parse_submit_pdu(pdu) for pdu, _ in pdus]
    assert [p["udh"] for p in parsed] == [{"ref": 0x2A, "total": 3, "seq": s} for s in (1, 2, 3)]
    assert "".join(p["text"] for p in parsed) == text
    first = bytes.fromhex(pdus[0][0])
    # UDL 160 septets (7 of UDH + 153 of text), UDH 05 00 03 ref total seq, then 'K' (0x4B)
    # after one fill bit: 0x4B << 1 = 0x96 (TS 23.040 §9.2.3.24)
    assert first[-141:-133] == bytes([0xA0, 5, 0, 3, 0x2A, 3, 1, 0x96])
    for (pdu, octets), p in zip(pdus, parsed, strict=True):
        raw = bytes.fromhex(pdu)
        assert raw[1] == 0x51  # SUBMIT, relative validity, UDH present
        assert octets == len(raw) - 1
        assert len(p["text"]) <= 153
        assert p["number"] == "+22370000000"


def test_concatenation_never_splits_an_escape_sequence():
    text = "a" * 152 + "€" + "b" * 10
    parsed = [parse_submit_pdu(pdu) for pdu, _ in submit_pdus("+2231", text, reference=3)]
    assert [p["text"] for p in parsed] == ["a" * 152, "€" + "b" * 10]


def test_submit_refuses_bad_input():
    with pytest.raises(ValueError, match="phone number"):
        submit_pdus("+223 70", "x", reference=0)
    with pytest.raises(ValueError, match="reference"):
        submit_pdus("+22370000000", "x", reference=256)
    with pytest.raises(ValueError, match="GSM"):
        submit_pdus("+22370000000", "ɛ", reference=0)
    with pytest.raises(ValueError, match="SMS-SUBMIT"):
        parse_submit_pdu("0004")  # a DELIVER first octet


# --- report encoding -----------------------------------------------------------------------------


def _payload(values: dict[int, int], *, period: str = "202610", complete: str | None = None):
    """A dataValueSet as to_dhis2 builds it: sorted rows, zero-significant zeros present."""
    cells = {CELLS[i]: v for i, v in values.items()}
    for cell in CELLS:
        if cell[0] in ZERO:
            cells.setdefault(cell, 0)
    out = {"dataSet": MAPPING["dataSet"], "period": period, "orgUnit": MAPPING["orgUnit"]}
    if complete:
        out["completeDate"] = complete
    out["dataValues"] = [
        {"dataElement": de, "categoryOptionCombo": coc, "value": str(v)}
        for (de, coc), v in sorted(cells.items())
    ]
    return out


@st.composite
def reports(draw):
    year = draw(st.integers(2020, 2040))
    month = draw(st.integers(1, 12))
    start = date(year, month, 1)
    complete = draw(st.none() | st.integers(0, 90).map(lambda d: start + timedelta(days=d)))
    values = draw(
        st.dictionaries(
            st.integers(0, len(CELLS) - 1),
            st.integers(0, 3) | st.integers(0, 300) | st.integers(0, 10**6),
            max_size=150,
        )
    )
    complete_text = complete.isoformat() if complete else None
    return _payload(values, period=f"{year:04d}{month:02d}", complete=complete_text)


def _check_texts(texts):
    for text in texts:
        assert len(text) <= 160
        assert is_gsm7(text) and gsm7_length(text) == len(text)
        assert SAFE_TEXT.fullmatch(text), text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reports(), st.integers(0, 0xFFFF), st.randoms(use_true_random=False))
def test_random_reports_round_trip_in_any_order(payload, message_id, rnd):
    texts = encode_report(payload, MAPPING, facility="DEMO", message_id=message_id)
    _check_texts(texts)
    assert [parse_part(t).seq for t in texts] == list(range(1, len(texts) + 1))
    shuffled = list(texts)
    rnd.shuffle(shuffled)
    assert decode_report(shuffled, MAPPING) == payload


@settings(max_examples=100, deadline=None)
@given(reports(), st.data())
def test_a_changed_data_character_fails_the_checksum(payload, data):
    texts = encode_report(payload, MAPPING, facility="DEMO", message_id=7)
    n = data.draw(st.integers(0, len(texts) - 1))
    head, _, chunk = texts[n].rpartition(" ")
    i = data.draw(st.integers(0, len(chunk) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")
    )
    if replacement == chunk[i]:
        replacement = "A" if chunk[i] != "A" else "B"
    texts[n] = f"{head} {chunk[:i]}{replacement}{chunk[i + 1 :]}"
    with pytest.raises(SmsDecodeError, match="bad checksum"):
        decode_report(texts, MAPPING)


def test_worked_example_of_the_docs():
    """docs/sms-encoding.md walks through this report byte by byte: keep the two in step."""
    payload = _payload({0: 12, 1: 7, 13: 130, 312: 5, 315: 2}, complete="2026-11-01")
    texts = encode_report(payload, MAPPING, facility="DEMO", message_id=42)
    assert mapping_fingerprint(MAPPING) == "GZ6Q"
    assert texts == ["K1 DEMO 42 1/1 202610 GZ6Q AgZgJQ ACAADAAHC4IBqgIFAgI"]
    assert sms_b64decode(texts[0].split(" ")[-1]) == bytes.fromhex("0020000C00070B8201AA02050202")
    assert decode_report(texts, MAPPING) == payload


def test_a_changed_header_field_fails_the_checksum():
    texts = encode_report(_payload({0: 5, 40: 2}), MAPPING, facility="DEMO", message_id=1)
    wrong_period = texts[0].replace(" 202610 ", " 202609 ")
    with pytest.raises(SmsDecodeError, match="bad checksum"):
        decode_report([wrong_period, *texts[1:]], MAPPING)


def _big_payload():
    return _payload({i: 1000 + 37 * i for i in range(0, len(CELLS), 3)})


def test_a_missing_part_is_named():
    texts = encode_report(_big_payload(), MAPPING, facility="DEMO", message_id=42)
    assert len(texts) >= 3
    with pytest.raises(SmsDecodeError, match=f"missing part 2/{len(texts)}"):
        decode_report([texts[0], *texts[2:]], MAPPING)
    with pytest.raises(SmsDecodeError, match=f"missing part 1/{len(texts)}"):
        decode_report(texts[1:], MAPPING)


def test_a_repeated_identical_part_is_tolerated_but_a_conflicting_one_is_not():
    texts = encode_report(_big_payload(), MAPPING, facility="DEMO", message_id=42)
    assert decode_report([*texts, texts[1]], MAPPING) == _big_payload()
    forged = texts[1][:-1] + ("A" if texts[1][-1] != "A" else "B")
    with pytest.raises(SmsDecodeError, match="two different texts"):
        decode_report([*texts, forged], MAPPING)


def test_parts_of_different_messages_are_not_mixed():
    one = encode_report(_big_payload(), MAPPING, facility="DEMO", message_id=1)
    two = encode_report(_big_payload(), MAPPING, facility="DEMO", message_id=2)
    with pytest.raises(SmsDecodeError, match="different messages"):
        decode_report([one[0], *two[1:]], MAPPING)


def test_another_mapping_is_refused():
    texts = encode_report(_payload({3: 9}), MAPPING, facility="DEMO", message_id=5)
    reordered = copy.deepcopy(MAPPING)
    reordered["dataElements"][0], reordered["dataElements"][1] = (
        reordered["dataElements"][1],
        reordered["dataElements"][0],
    )
    more_zero = copy.deepcopy(MAPPING)
    more_zero["zeroSignificant"].append(MAPPING["dataElements"][0]["dataElement"])
    for other in (reordered, more_zero):
        assert mapping_fingerprint(other) != mapping_fingerprint(MAPPING)
        with pytest.raises(SmsDecodeError, match="mapping"):
            decode_report(texts, other)


def test_unknown_version_and_malformed_header_are_refused():
    texts = encode_report(_payload({3: 9}), MAPPING, facility="DEMO", message_id=5)
    with pytest.raises(SmsDecodeError, match="unknown SMS report version 'K2'"):
        decode_report(["K2" + texts[0][2:]], MAPPING)
    with pytest.raises(SmsDecodeError, match="malformed"):
        decode_report(["K1 DEMO x 1/1 a"], MAPPING)
    with pytest.raises(SmsDecodeError, match="impossible"):
        decode_report(["K1 DEMO 5 3/2 abc"], MAPPING)
    with pytest.raises(SmsDecodeError, match="version ''"):
        decode_report(["  "], MAPPING)
    # whitespace a gateway adds around or inside the header is harmless
    assert decode_report([" " + texts[0].replace(" ", "\n  ") + "\r\n"], MAPPING) == (
        _payload({3: 9})
    )
    with pytest.raises(SmsDecodeError, match="no texts"):
        decode_report([], MAPPING)


def test_zero_significant_zeros_are_implied_and_other_zeros_kept():
    zs = next(i for i, (de, _) in enumerate(CELLS) if de in ZERO)
    payload = _payload({0: 0, 1: 4})
    texts = encode_report(payload, MAPPING, facility="DEMO", message_id=0)
    decoded = decode_report(texts, MAPPING)
    assert decoded == payload
    zeros = {(r["dataElement"], r["categoryOptionCombo"]) for r in decoded["dataValues"]}
    assert CELLS[zs] in zeros and CELLS[0] in zeros
    # an implied zero costs nothing: the same report without any zero-significant cell in it
    without = _payload({1: 4})
    without["dataValues"] = [r for r in without["dataValues"] if r["dataElement"] not in ZERO]
    assert encode_report(without, MAPPING, facility="DEMO", message_id=0) == encode_report(
        _payload({1: 4}), MAPPING, facility="DEMO", message_id=0
    )


def test_org_unit_comes_from_the_gateway_table_or_a_uid_facility():
    payload = _payload({2: 3})
    texts = encode_report(payload, MAPPING, facility="KLB", message_id=9)
    assert decode_report(texts, MAPPING)["orgUnit"] == MAPPING["orgUnit"]
    assert decode_report(texts, MAPPING, org_units={"KLB": "Abcdefghij1"})["orgUnit"] == (
        "Abcdefghij1"
    )
    with pytest.raises(SmsDecodeError, match="KLB"):
        decode_report(texts, MAPPING, org_units={"OTHER": "Abcdefghij1"})
    uid_texts = encode_report(payload, MAPPING, facility="Xyz0123456a", message_id=9)
    assert decode_report(uid_texts, MAPPING)["orgUnit"] == "Xyz0123456a"


def test_encode_refuses_what_it_cannot_carry():
    good = _payload({1: 2})
    cases = [
        ({**good, "dataSet": "Zzzzzzzzzzz"}, {}, "dataSet"),
        ({**good, "period": "2026-10"}, {}, "YYYYMM"),
        (good, {"facility": "DE MO"}, "facility"),
        (good, {"message_id": 70000}, "message id"),
    ]
    bad_value = copy.deepcopy(good)
    bad_value["dataValues"][0]["value"] = "-1"
    cases.append((bad_value, {}, "non-negative"))
    unknown = copy.deepcopy(good)
    unknown["dataValues"].append(
        {"dataElement": "Zzzzzzzzzzz", "categoryOptionCombo": "HllvX50cXC0", "value": "1"}
    )
    cases.append((unknown, {}, "not a cell"))
    twice = copy.deepcopy(good)
    twice["dataValues"].append(dict(twice["dataValues"][0]))
    cases.append((twice, {}, "twice"))
    early = {**good, "completeDate": "2026-09-30"}
    cases.append((early, {}, "before"))
    for payload, options, message in cases:
        kwargs = {"facility": "DEMO", "message_id": 1, **options}
        with pytest.raises(ValueError, match=message):
            encode_report(payload, MAPPING, **kwargs)


def test_a_report_too_big_for_nine_sms_is_refused():
    huge = _payload({i: 10**9 + 7919 * i * i for i in range(len(CELLS))})
    with pytest.raises(ValueError, match="more than 9 SMS"):
        encode_report(huge, MAPPING, facility="DEMO", message_id=1)


def test_data_alphabet_is_strict():
    assert sms_b64encode(b"\xfb\xff") == "-.8"
    assert sms_b64decode("-.8") == b"\xfb\xff"
    with pytest.raises(ValueError, match="stray bits"):
        sms_b64decode("-.9")  # same octets, but the unused low bits are set
    with pytest.raises(ValueError):
        sms_b64decode("ab_c")


def test_fingerprint_is_four_base32_characters():
    assert re.fullmatch(r"[A-Z2-7]{4}", mapping_fingerprint(MAPPING))
    assert len(CELLS) == len(set(CELLS)) == 436


def test_sms_figures_counts_texts_and_characters():
    payloads = [_payload({0: 1}), _big_payload()]
    figures = sms_figures(payloads, MAPPING, facility="DEMO")
    counts = [len(encode_report(p, MAPPING, facility="DEMO", message_id=0)) for p in payloads]
    assert figures["reports"] == 2
    assert figures["sms"]["max"] == max(counts)
    assert figures["sms"]["mean"] == pytest.approx(sum(counts) / 2)
    assert figures["sms_histogram"] == {str(c): counts.count(c) for c in set(counts)}
    assert sms_figures([], MAPPING)["reports"] == 0


def test_cells_a_revision_took_away_travel_as_zeros():
    from appliance.outbox import DELETIONS_KEY

    payload = _payload({0: 12, 1: 7})
    de, coc = CELLS[5]
    assert de not in ZERO
    revised = {**payload, DELETIONS_KEY: [{"dataElement": de, "categoryOptionCombo": coc}]}
    texts = encode_report(revised, MAPPING, facility="DEMO", message_id=9)
    got = decode_report(texts, MAPPING)
    sent = {(v["dataElement"], v["categoryOptionCombo"]): v["value"] for v in got["dataValues"]}
    assert sent[(de, coc)] == "0"  # the gateway posts it: DHIS2 2.36+ removes the old value
    assert sent[CELLS[0]] == "12" and sent[CELLS[1]] == "7"
