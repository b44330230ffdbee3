"""[backup] recipients: age X25519 public keys, their shape and Bech32 checksum (BIP 173).

The keys of age-keygen (the reference implementation) are accepted; any one character changed,
dropped or added is refused with a message saying what to do."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning import backup_table as B

# Printed by `age-keygen` (age 1.1.1) when these tests were written; the identities were thrown
# away.
FROM_AGE_KEYGEN = (
    "age18c6e2yf3qjq95yq3cw35fgnnrv28ahskpct9plm6zchxueqzdqqsl226qv",
    "age1ce4zfd86junxgdmdqdh3359jz8uw0ay5lnclh0w6wehve4dx77aqh9l9cl",
)


@pytest.mark.parametrize("key", FROM_AGE_KEYGEN)
def test_keys_made_by_age_keygen_are_accepted(key):
    assert B.check_recipient(key) == key
    assert B.check_recipient(f"  {key}\n") == key  # pasted with blanks around it
    assert len(key) == B.LENGTH == 62


def test_the_bip173_reference_vectors_check_as_bech32():
    # BIP 173, "Test vectors", valid Bech32 strings (human-readable part, data part).
    assert B.checksum_ok("a", "2uel5l")
    assert B.checksum_ok("abcdef", "qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw")
    assert not B.checksum_ok("a", "2uel5m")
    assert not B.checksum_ok("a", "2uel5b")  # b is not in the alphabet


@given(st.binary(min_size=32, max_size=32))
def test_every_32_byte_key_encodes_to_an_accepted_recipient(raw):
    key = B.encode(raw)
    assert key.startswith("age1") and len(key) == 62
    assert B.check_recipient(key) == key


@given(
    st.binary(min_size=32, max_size=32),
    st.integers(min_value=4, max_value=61),
    st.sampled_from(B.CHARSET),
)
def test_any_one_character_changed_is_refused(raw, position, char):
    key = B.encode(raw)
    if key[position] == char:
        char = B.CHARSET[(B.CHARSET.index(char) + 1) % 32]
    typo = key[:position] + char + key[position + 1 :]
    with pytest.raises(B.RecipientError):
        B.check_recipient(typo)


@given(st.binary(min_size=32, max_size=32), st.integers(min_value=4, max_value=61))
def test_a_character_lost_or_doubled_is_refused_by_its_length(raw, position):
    key = B.encode(raw)
    for wrong in (key[:position] + key[position + 1 :], key[:position] + key[position:] * 2):
        with pytest.raises(B.RecipientError) as caught:
            B.check_recipient(wrong[:70])
        assert "characters" in caught.value.message


def test_nonzero_padding_bits_are_refused_even_with_a_right_checksum():
    values = [B._VALUE[c] for c in B.encode(bytes(32))[4:56]]
    values[-1] |= 1  # one of the 4 padding bits
    data = "".join(B.CHARSET[v] for v in values) + B.create_checksum("age", values)
    assert B.checksum_ok("age", data)
    with pytest.raises(B.RecipientError) as caught:
        B.check_recipient("age1" + data)
    assert "not a 32-byte key" in caught.value.message


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("AGE-SECRET-KEY-1NMKYSTJ5NARG87J2CEMX823XA0WE", "SECRET key"),
        ("age-secret-key-1nmkystj5narg87j2cemx823xa0we", "SECRET key"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG district@laptop", "SSH key"),
        ("npub1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "not an age public key"),
        (FROM_AGE_KEYGEN[0].upper(), "capital letters"),
        ("age1" + "b" * 58, "never has"),
        ("age1yubikey1qwerty", "has 18 characters"),
    ],
)
def test_common_mistakes_get_their_own_message(text, said):
    with pytest.raises(B.RecipientError) as caught:
        B.check_recipient(text)
    assert said in caught.value.message
    assert caught.value.hint  # always what to do next


def test_the_table_gives_defaults_and_every_problem():
    assert B.check({}) == B.BackupSettings((), 7, 4, ())
    settings = B.check({"recipients": list(FROM_AGE_KEYGEN), "keep_daily": 14, "keep_weekly": 0})
    assert settings == B.BackupSettings(FROM_AGE_KEYGEN, 14, 0, ())
    bad = B.check({"recipients": [FROM_AGE_KEYGEN[0], 7, FROM_AGE_KEYGEN[0]], "keep_daily": True})
    assert bad.recipients == (FROM_AGE_KEYGEN[0],) and bad.keep_daily == 7
    assert [(p.key, p.message) for p in bad.problems] == [
        ("recipients", "7 is not a key in quotes"),
        ("recipients", '"age18c6e2yf3qjq9…" is listed twice'),
        ("keep_daily", "must be a whole number, got true"),
    ]


def test_keys_on_one_line_are_split_on_commas_and_spaces():
    line = f"{FROM_AGE_KEYGEN[0]},{FROM_AGE_KEYGEN[1]}  "
    assert B.parse_recipients(line) == FROM_AGE_KEYGEN
    assert B.parse_recipients(" ".join(FROM_AGE_KEYGEN)) == FROM_AGE_KEYGEN
    assert B.parse_recipients("") == ()
