import uuid

from hypothesis import given
from hypothesis import strategies as st

from appliance.ids import damm_digit, damm_valid, health_number, parse_health_number, uuid7


def test_uuid7_has_version_7_and_rfc_variant():
    u = uuid.UUID(uuid7())
    assert u.version == 7
    assert u.variant == uuid.RFC_4122


def test_uuid7_sorts_by_creation_even_within_one_millisecond():
    ids = [uuid7(unix_ms=1_800_000_000_000) for _ in range(500)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 500


def test_uuid7_carries_its_millisecond():
    u = uuid.UUID(uuid7(unix_ms=1_800_000_123_456))
    assert u.int >> 80 >= 1_800_000_123_456


def test_damm_known_value():
    # Worked example for Damm's algorithm: 572 → check digit 4
    assert damm_digit("572") == "4"
    assert damm_valid("5724")
    assert not damm_valid("5274")


@given(st.text(alphabet="0123456789", min_size=6, max_size=6))
def test_damm_catches_every_single_digit_error(seq):
    full = seq + damm_digit(seq)
    for i in range(len(full)):
        for d in "0123456789":
            if d != full[i]:
                assert not damm_valid(full[:i] + d + full[i + 1 :])


@given(st.text(alphabet="0123456789", min_size=6, max_size=6))
def test_damm_catches_every_adjacent_swap(seq):
    full = seq + damm_digit(seq)
    for i in range(len(full) - 1):
        if full[i] != full[i + 1]:
            swapped = full[:i] + full[i + 1] + full[i] + full[i + 2 :]
            assert not damm_valid(swapped)


def test_health_number_format_and_parse_round_trip():
    hn = health_number("KLB", 123)
    assert hn.startswith("KLB-000123-")
    assert parse_health_number(hn) == ("KLB", 123, True)


def test_parse_tolerates_missing_check_digit_spaces_and_case():
    check = health_number("KLB", 123)[-1]
    assert parse_health_number("klb 000123") == ("KLB", 123, None)
    assert parse_health_number("123") == (None, 123, None)
    assert parse_health_number(f"000123{check}") == (None, 123, True)
    assert parse_health_number(f"KLB-000123 {check}") == ("KLB", 123, True)


def test_parse_reports_a_wrong_check_digit():
    check = int(health_number("KLB", 123)[-1])
    assert parse_health_number(f"KLB-000123-{(check + 1) % 10}") == ("KLB", 123, False)


def test_parse_rejects_what_is_not_a_number():
    assert parse_health_number("Traoré") is None
    assert parse_health_number("76123456") is None  # eight digits: a phone number
