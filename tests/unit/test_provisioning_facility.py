"""The facility file: the example passes, every kind of mistake gets its exact message with
key, line and hint, secrets are split off, and `provision new` writes a file that passes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from appliance.services.auth import check_password, check_pin
from provisioning import facility as F
from provisioning import new

EXAMPLE_PATH = Path(F.__file__).with_name("facility.example.toml")
# The example leaves `mapping` commented out (it has no mapping file beside it); these tests
# work on a facility that names one, on the same line.
EX = EXAMPLE_PATH.read_text(encoding="utf-8").replace(
    '# mapping = "dhis2-mapping.json"  ', 'mapping = "dhis2-mapping.json"    ', 1
)
EXAMPLE_FILE = "provisioning/facility.example.toml"

# A self-signed certificate made for this test with `openssl req -x509 -newkey ec`.
CERT = """-----BEGIN CERTIFICATE-----
MIIBlzCCAT2gAwIBAgIUIjTjZ2Pa4ZMa31/6ckRmkRbSK0YwCgYIKoZIzj0EAwIw
ITEfMB0GA1UEAwwWZGhpczIuc2FudGUuZXhhbXBsZS5tbDAeFw0yNjExMzAwNDEy
MDdaFw0zNjExMjcwNDEyMDdaMCExHzAdBgNVBAMMFmRoaXMyLnNhbnRlLmV4YW1w
bGUubWwwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARFZLzjPp88Atva+OIA3P/C
EETtst06aZGqtaiLIIFRXiqh4/Ghqz/mHPCj9Gn/POKpNznZKa7QjnEu1MxztThp
o1MwUTAdBgNVHQ4EFgQUm8eV54xfUKAjvlxBq3kwRMOv1k8wHwYDVR0jBBgwFoAU
m8eV54xfUKAjvlxBq3kwRMOv1k8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiEAnOdjy5B7pOKVI0Ijm3bgPgMJwnv0r9gGaAq1uCEj4BwCIHnq/Um4
U9KoRS0eXIHGoxxvdC3r40geM/xSzcFOMtOD
-----END CERTIFICATE-----
"""
TOKEN = "d2p_Rk4uVq9ZcWn2Ts7LxH3mPb8YeJ6aFg1D0oNiQ5lCzA"
RECIPIENT = "age1ce4zfd86junxgdmdqdh3359jz8uw0ay5lnclh0w6wehve4dx77aqh9l9cl"  # the example's
# What `age-keygen` writes on its last line (a key made for these tests, never used).
SECRET_KEY = "AGE-SECRET-KEY-1NMKYSTJ5NARG87J2CEMX823XA0WE0FZW2UQZHQ7ZEAECNQCE7WRSMSF58G"


def changed(old: str, new_text: str, text: str = EX) -> str:
    """The example with one exact change (the old text must occur once)."""
    assert text.count(old) == 1, old
    return text.replace(old, new_text)


def without(start: str, end: str) -> str:
    """The example without the lines from the `start` table header to the `end` one."""
    return EX[: EX.index(f"\n{start}")] + EX[EX.index(f"\n{end}") :]


def see(section: str) -> str:
    return f"see [{section}] in {EXAMPLE_FILE}"


NO_LOGIN = changed('token = "d2p_', '# token = "d2p_')
FACILITY_AS_VALUE = changed(
    'language = "fr"',
    'language = "fr"\nfacility = "CSCom de Boni"',
    without("[facility]", "[dhis2]"),
)
MISSING_TABLE = "add it; see provisioning/facility.example.toml"
TOML_HINT = "check the quotes and brackets, and that no key is written twice in a table"

# (id, file text, the exact error text)
BAD_FILES: list[tuple[str, str, str]] = [
    (
        "unknown top-level key",
        changed('language = "fr"', 'language = "fr"\ncolour = "blue"'),
        "facility.toml:16: colour: unknown key; known keys: facility, dhis2, hotspot, admin, "
        "modem, power, backup, ssh, firewall, settings, opinion, referral, population, reminders, "
        "update, time_zone, language",
    ),
    (
        "typo nmae",
        changed('name = "CSCom de Boni"', 'nmae = "CSCom de Boni"'),
        'facility.toml:17: facility.name: missing; add name = "CSCom de Boni" under [facility]\n'
        'facility.toml:18: facility.nmae: unknown key; did you mean "name"? known keys: name, '
        "code, district, region, org_unit",
    ),
    (
        "missing code",
        changed('code = "BONI"', '# code = "BONI"'),
        'facility.toml:17: facility.code: missing; add code = "BONI" under [facility]',
    ),
    (
        "lowercase code",
        changed('code = "BONI"', 'code = "boni"'),
        'facility.toml:19: facility.code: "boni" is not 2 to 6 capital letters; '
        'e.g. code = "BONI"; it begins every health number',
    ),
    (
        "org_unit not a UID",
        changed('org_unit = "Kx7Bn2MpQ4r"', 'org_unit = "7x7Bn2MpQ4r"'),
        'facility.toml:22: facility.org_unit: "7x7Bn2MpQ4r" is not a DHIS2 UID; 11 characters, '
        "a letter then 10 letters or digits: copy it from DHIS2",
    ),
    (
        "url without host",
        changed('url = "https://dhis2.sante.gov.ml"', 'url = "http://"'),
        'facility.toml:26: dhis2.url: "http://" has no host name; '
        'e.g. url = "https://dhis2.sante.gov.ml"',
    ),
    (
        "ftp url",
        changed('url = "https://dhis2.sante.gov.ml"', 'url = "ftp://dhis2.sante.gov.ml"'),
        'facility.toml:26: dhis2.url: "ftp://dhis2.sante.gov.ml" does not start with https:// '
        'or http://; e.g. url = "https://dhis2.sante.gov.ml"',
    ),
    (
        "no token and no username",
        NO_LOGIN,
        "facility.toml:25: dhis2.token: missing: neither a token nor a username and password; "
        'a personal access token from DHIS2, e.g. token = "d2p_…"',
    ),
    (
        "token and username",
        changed('# username = "cscom.boni"', 'username = "cscom.boni"'),
        "facility.toml:30: dhis2.username: give a token or a username and password, not both; "
        "keep token and remove username and password, or the other way round",
    ),
    (
        "username without password",
        changed('# username = "cscom.boni"', 'username = "cscom.boni"', NO_LOGIN),
        'facility.toml:25: dhis2.password: missing; add password = "…" under [dhis2], or a token',
    ),
    (
        "passphrase too short",
        changed('passphrase = "generate"', 'passphrase = "abcdefghi"'),
        "facility.toml:43: hotspot.passphrase: too short (9 characters); "
        'use at least 12, or "generate"',
    ),
    (
        "passphrase not ASCII",
        changed('passphrase = "generate"', 'passphrase = "mot-de-passe-été"'),
        'facility.toml:43: hotspot.passphrase: "é" is not a printable ASCII character; '
        'use letters without accents, digits and punctuation, or "generate"',
    ),
    (
        "channel 14",
        changed("channel = 6 ", "channel = 14 "),
        "facility.toml:45: hotspot.channel: channel 14 is not allowed in Mali; "
        "use 1 to 13 (1, 6 and 11 do not overlap)",
    ),
    (
        "channel as text",
        changed("channel = 6 ", 'channel = "6" '),
        'facility.toml:45: hotspot.channel: must be a whole number, got the text "6"; '
        "write channel = 6, without quotes",
    ),
    (
        "ssid of 33 bytes",
        changed('ssid = "Keneya-BONI"', 'ssid = "Keneya-' + "é" * 13 + '"'),
        "facility.toml:42: hotspot.ssid: too long (33 bytes in UTF-8); 1 to 32 bytes "
        '(an accented letter takes 2), e.g. ssid = "Keneya-BONI"',
    ),
    (
        "plain pin",
        changed('username = "awa.traore"', 'username = "awa.traore"\npin = "4821"'),
        "facility.toml:50: admin.pin: a PIN in clear must never be in the facility file; "
        "remove it; `keneya provision new` asks for it and writes pin_hash",
    ),
    (
        "plain password",
        changed('username = "awa.traore"', 'username = "awa.traore"\npassword = "soleil-bleu"'),
        "facility.toml:50: admin.password: a password in clear must never be in the facility "
        "file; remove it; `keneya provision new` asks for it and writes password_hash",
    ),
    (
        "pin_hash not argon2id",
        changed(
            '# pin_hash = "$argon2id$v=19$…"',
            'pin_hash = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"',
        ),
        "facility.toml:50: admin.pin_hash: is not an argon2id hash; it starts with $argon2id$; "
        "`keneya provision new` writes it",
    ),
    (
        "bad username",
        changed('username = "awa.traore"', 'username = "Awa Traoré"'),
        'facility.toml:49: admin.username: "Awa Traoré" is not a valid user name; 2 to 32 '
        "lowercase letters, digits, . _ - (a letter first), e.g. awa.traore",
    ),
    (
        "empty admin name",
        changed('name = "Awa Traoré"', 'name = ""'),
        'facility.toml:48: admin.name: is empty; e.g. name = "Awa Traoré"',
    ),
    (
        "modem unknown key (delegated)",
        changed('link = "auto"', 'lnk = "auto"'),
        'facility.toml:55: modem.lnk: unknown key; did you mean "link"? known keys: device, '
        "link, apn, username, password, auth, sms_gateway, sms_after_days, pay_per_minute, "
        "status_every_s, send_every_s, sim_pin",
    ),
    (
        "modem sms_gateway (delegated)",
        changed('sms_gateway = "+22370000000"', 'sms_gateway = "abc"'),
        "facility.toml:57: modem.sms_gateway: 'abc' is not a phone number (e.g. +22370000000); "
        + see("modem"),
    ),
    (
        "sim_pin with a letter",
        changed('sim_pin = "4821"', 'sim_pin = "12a4"'),
        'facility.toml:62: modem.sim_pin: "12a4" is not a SIM PIN; 4 to 8 digits, '
        'e.g. sim_pin = "1234"',
    ),
    (
        "sim_pin as a number",
        changed('sim_pin = "4821"', "sim_pin = 4821"),
        'facility.toml:62: modem.sim_pin: must be text in quotes, got 4821; e.g. sim_pin = "1234"',
    ),
    (
        "chemistry nicd (delegated)",
        changed('chemistry = "lead-acid"', 'chemistry = "nicd"'),
        "facility.toml:65: power.chemistry: expected one of lead-acid, lifepo4; " + see("power"),
    ),
    (
        "power unknown key (delegated)",
        changed("capacity_ah = 40", "capacty_ah = 40"),
        'facility.toml:66: power.capacty_ah: unknown key; did you mean "capacity_ah"? known keys: '
        "chemistry, capacity_ah, shunt_ohms, max_current_a, lead, bus_number, address, invert, "
        "sample_s, batch_s, grace_s, min_free_percent, max_draw_a, default_draw_a, thresholds, "
        "gpio, wait",
    ),
    (
        "grace_s too short (delegated)",
        changed("grace_s = 120", "grace_s = 30"),
        "facility.toml:74: power.grace_s: must be at least 60 s; " + see("power"),
    ),
    (
        "gpio pin out of range (delegated, nested table)",
        changed("red = 17", "red = 40"),
        "facility.toml:80: power.gpio.red: must be a BCM pin 1-27 (0: none); " + see("power.gpio"),
    ),
    (
        "unknown time zone",
        changed('time_zone = "Africa/Bamako"', 'time_zone = "Africa/Bamakoo"'),
        'facility.toml:14: time_zone: unknown time zone "Africa/Bamakoo"; '
        'did you mean "Africa/Bamako"?',
    ),
    (
        "language bm",
        changed('language = "fr"', 'language = "bm"'),
        'facility.toml:15: language: must be "fr" or "en", got "bm"; '
        "the screens exist in French and English",
    ),
    (
        "duplicate key",
        changed('region = "Mopti"', 'region = "Mopti"\nregion = "Mopti"'),
        f"facility.toml:22: not valid TOML: Cannot overwrite a value; {TOML_HINT}",
    ),
    (
        "unclosed string",
        changed('district = "Douentza"', 'district = "Douentza'),
        "facility.toml:20: not valid TOML: Illegal character '\\n'; " + TOML_HINT,
    ),
    (
        "a table given as a value",
        FACILITY_AS_VALUE,
        'facility.toml:16: facility: is the text "CSCom de Boni", not a table; '
        "write [facility] on a line of its own, with its keys below it",
    ),
    (
        "missing [hotspot]",
        without("[hotspot]", "[admin]"),
        f"facility.toml: hotspot: missing table [hotspot]; {MISSING_TABLE}",
    ),
    (
        "empty file",
        "",
        "\n".join(
            f"facility.toml: {name}: missing table [{name}]; {MISSING_TABLE}"
            for name in ("facility", "dhis2", "hotspot", "admin")
        ),
    ),
    (
        "mapping with a path",
        changed('mapping = "dhis2-mapping.json"', 'mapping = "../dhis2-mapping.json"'),
        'facility.toml:32: dhis2.mapping: "../dhis2-mapping.json" is not a file name next to the '
        'facility file; e.g. mapping = "dhis2-mapping.json"',
    ),
    (
        "ca_bundle that does not decode",
        changed(
            'mapping = "dhis2-mapping.json"',
            'mapping = "dhis2-mapping.json"\nca_bundle = """\n-----BEGIN CERTIFICATE-----\n'
            'not base64\n-----END CERTIFICATE-----\n"""',
        ),
        "facility.toml:33: dhis2.ca_bundle: holds a certificate that does not decode; "
        "paste the PEM text, -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----",
    ),
    (
        "recipient mistyped",
        changed(RECIPIENT, f'{RECIPIENT}",\n  "{RECIPIENT[:20]}x{RECIPIENT[21:]}'),
        f'facility.toml:90: backup.recipients: "{RECIPIENT[:20]}x{RECIPIENT[21:]}" fails its '
        "checksum: a character was changed in copying; copy the key again, do not retype it: "
        "the public key line age-keygen printed, or the output of age-keygen -y district.key",
    ),
    (
        "secret key as recipient",
        changed(RECIPIENT, SECRET_KEY),
        "facility.toml:89: backup.recipients: this is the district's SECRET key, which must "
        "never be on the appliance or its card; put only the public key here (the public key "
        "line age-keygen printed, or the output of age-keygen -y district.key); district.key "
        "stays with the district",
    ),
    (
        "recipients as text",
        EX[: EX.index("recipients = [")]
        + f'recipients = "{RECIPIENT}"'
        + EX[EX.index("\n]") + 2 :],
        "facility.toml:88: backup.recipients: must be a list, even of one key; write it in "
        f'brackets: recipients = ["{RECIPIENT}"]',
    ),
    (
        "keep_daily zero",
        changed("keep_daily = 7 ", "keep_daily = 0 "),
        "facility.toml:95: backup.keep_daily: 0 is out of range; a whole number from 1 to 60, "
        "e.g. keep_daily = 7",
    ),
    (
        "typo in backup",
        changed("keep_weekly = 4 ", "keep_weeks = 4 "),
        'facility.toml:96: backup.keep_weeks: unknown key; did you mean "keep_weekly"? known '
        "keys: recipients, keep_daily, keep_weekly",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES]
)
def test_bad_file_gets_its_exact_message(text: str, expected: str) -> None:
    with pytest.raises(F.FacilityFileError) as caught:
        F.parse(text)
    assert str(caught.value) == expected
    assert all(isinstance(p, F.Problem) for p in caught.value.problems)


def test_table_of_bad_files_is_large_enough() -> None:
    assert len(BAD_FILES) >= 24
    assert len({case[0] for case in BAD_FILES}) == len(BAD_FILES)


def test_not_utf8_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "facility.toml"
    path.write_bytes(EX.encode("latin-1", errors="replace"))
    with pytest.raises(F.FacilityFileError) as caught:
        F.load(path, source="facility.toml", check_mapping=False)
    assert str(caught.value) == (
        "facility.toml:42: not UTF-8 text (byte 0xe9); save the file as UTF-8 "
        "(in the editor: Save as…, encoding UTF-8)"
    )


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(F.FacilityFileError) as caught:
        F.load(path)
    assert str(caught.value) == f"{path}: file not found; give the path of facility.toml"


def test_directory_instead_of_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(F.FacilityFileError) as caught:
        F.load(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path}: cannot be read (")


def test_example_yields_the_expected_facility() -> None:
    facility = F.parse(EX)
    assert facility.name == "CSCom de Boni"
    assert (facility.code, facility.district, facility.region) == ("BONI", "Douentza", "Mopti")
    assert facility.org_unit == "Kx7Bn2MpQ4r"
    assert facility.dhis2_url == "https://dhis2.sante.gov.ml"
    assert facility.data_set == "Mr4FvT8sLd2"
    assert facility.dhis2_token == TOKEN
    assert facility.dhis2_username is None and facility.dhis2_password is None
    assert facility.ca_bundle is None
    assert facility.mapping_file == "dhis2-mapping.json"
    assert (facility.ssid, facility.channel) == ("Keneya-BONI", 6)
    assert facility.passphrase is not None and facility.passphrase != "generate"
    assert F.check_passphrase(facility.passphrase) == facility.passphrase
    assert (facility.admin_name, facility.admin_username) == ("Awa Traoré", "awa.traore")
    assert facility.admin_pin_hash is None and facility.admin_password_hash is None
    assert facility.sim_pin == "4821"
    assert "sim_pin" not in facility.modem
    assert facility.modem["sms_gateway"] == "+22370000000"
    assert facility.power["thresholds"] == {"v_low": 11.5}
    assert facility.power["gpio"]["button"] == 26
    assert (facility.time_zone, facility.language) == ("Africa/Bamako", "fr")
    assert facility.warnings == ()
    assert facility.hostname() == "keneya-boni"


VACCINE_LINE = "malaria_vaccine = false "


@pytest.mark.parametrize(
    ("written", "stored"),
    [("true", "1"), ("false", "0"), ('"on"', "1"), ('"off"', "0"), ("1", "1"), ("0", "0")],
)
def test_settings_table_is_read_as_stored(written: str, stored: str) -> None:
    facility = F.parse(changed(VACCINE_LINE, f"malaria_vaccine = {written} "))
    assert facility.settings == {"malaria_vaccine": stored}
    # written back as a TOML boolean, and read again the same
    public = facility.public_toml()
    assert f"malaria_vaccine = {'true' if stored == '1' else 'false'}" in public
    assert F.parse(public, secrets_elsewhere=True).settings == facility.settings


def test_settings_table_is_optional() -> None:
    text = EX[: EX.index("\n[settings]")] + "\n"
    assert "[settings]" not in text
    facility = F.parse(text)
    assert facility.settings == {} and "[settings]" not in facility.public_toml()


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ('malaria_vaccine = "peut-être" ', "settings.malaria_vaccine", "refusée"),
        ("malaria_vaccine = 2 ", "settings.malaria_vaccine", "écrire on ou off"),
        ("malaria_vacine = true ", "settings.malaria_vacine", "unknown key"),
    ],
)
def test_a_bad_setting_is_reported_at_its_line(line: str, key: str, message: str) -> None:
    text = changed(VACCINE_LINE, line)
    with pytest.raises(F.FacilityFileError) as caught:
        F.parse(text)
    [problem] = caught.value.problems
    assert problem.key == key and message in problem.message
    lines = text.split("\n")
    assert problem.line == next(n for n, x in enumerate(lines, 1) if x.startswith(line))


def test_secrets_are_exactly_the_secrets() -> None:
    facility = F.parse(EX)
    assert facility.secrets() == {
        "dhis2_token": TOKEN,
        "sim_pin": "4821",
        "hotspot_passphrase": facility.passphrase,
    }
    with_password = changed(
        '# password = "…"',
        'password = "…"',
        changed('# username = "cscom.boni"', 'username = "cscom.boni"', NO_LOGIN),
    )
    assert F.parse(with_password).secrets()["dhis2_password"] == "…"


def test_public_toml_has_no_secret_and_passes_with_secrets_elsewhere() -> None:
    facility = F.parse(
        changed(
            'mapping = "dhis2-mapping.json"',
            f'mapping = "dhis2-mapping.json"\nca_bundle = """\n{CERT}"""',
        )
    )
    public = facility.public_toml()
    for secret in facility.secrets().values():
        assert secret not in public
    assert "passphrase" not in public and "sim_pin" not in public and "token" not in public
    again = F.parse(public, secrets_elsewhere=True)
    assert again.secrets() == {}
    assert again.ca_bundle == facility.ca_bundle  # the CA bundle is not a secret: it stays
    assert again.modem == facility.modem and again.power == facility.power
    assert again.code == "BONI" and again.channel == 6
    with pytest.raises(F.FacilityFileError) as caught:
        F.parse(public)  # without the flag the missing secrets are errors
    keys = [p.key for p in caught.value.problems]
    assert keys == ["dhis2.token", "hotspot.passphrase"]


def test_secrets_elsewhere_still_rejects_other_mistakes() -> None:
    public = changed('code = "BONI"', 'code = "B"', F.parse(EX).public_toml())
    with pytest.raises(F.FacilityFileError) as caught:
        F.parse(public, secrets_elsewhere=True)
    assert [p.key for p in caught.value.problems] == ["facility.code"]


def test_several_problems_are_all_reported_at_their_lines() -> None:
    text = EX
    for old, new_text in [
        ('code = "BONI"', 'code = "boni"'),
        ('url = "https://dhis2.sante.gov.ml"', 'url = "ftp://x"'),
        ("channel = 6 ", "channel = 0 "),
        ('link = "auto"', 'link = "pigeon"'),
        ('chemistry = "lead-acid"', 'chemistry = "nicd"'),
        ('language = "fr"', 'language = "bm"'),
    ]:
        text = changed(old, new_text, text)
    with pytest.raises(F.FacilityFileError) as caught:
        F.parse(text)
    found = [(p.key, p.line) for p in caught.value.problems]
    assert found == [
        ("language", 15),
        ("facility.code", 19),
        ("dhis2.url", 26),
        ("hotspot.channel", 45),
        ("modem.link", 55),
        ("power.chemistry", 65),
    ]
    lines = text.split("\n")
    for key, line in found:
        assert lines[line - 1].lstrip().startswith(key.rsplit(".", 1)[-1])


def test_warnings_for_demo_mapping_and_plain_http() -> None:
    text = changed('mapping = "dhis2-mapping.json"', "")
    text = changed("https://dhis2.sante.gov.ml", "http://dhis2.sante.gov.ml", text)
    facility = F.parse(text)
    assert len(facility.warnings) == 2
    assert facility.warnings[0].startswith("facility.toml:26: dhis2.url: http:// sends the token")
    assert facility.warnings[1].startswith("facility.toml:25: dhis2.mapping: not set: reports")
    assert "demo mapping" in facility.warnings[1]


def test_valid_ca_bundle_is_accepted_and_lines_after_it_stay_right() -> None:
    text = changed(
        'mapping = "dhis2-mapping.json"',
        f'mapping = "dhis2-mapping.json"\nca_bundle = """\n# our CA\n{CERT}"""',
    )
    assert F.parse(text).ca_bundle.count("BEGIN CERTIFICATE") == 1  # type: ignore[union-attr]
    broken = changed('ssid = "Keneya-BONI"', 'ssid = ""', text)
    with pytest.raises(F.FacilityFileError) as caught:
        F.parse(broken)
    line = caught.value.problems[0].line
    assert line is not None and broken.split("\n")[line - 1].startswith('ssid = ""')


def test_line_index_handles_dotted_keys_inline_tables_and_arrays() -> None:
    text = (
        'a = 1\n[t]\nx.y = 2\n"quoted key" = 3\narr = [\n  "k = 1",\n]\n'
        'z = """\nw = 4\n"""\ninline = { p = 1 }\n[t.sub]\nq = 5\n'
    )
    index = F.line_index(text)
    assert index[("a",)] == 1
    assert index[("t",)] == 2
    assert index[("t", "x")] == 3 and index[("t", "x", "y")] == 3
    assert index[("t", "quoted key")] == 4
    assert index[("t", "arr")] == 5
    assert ("t", "k") not in index and ("t", "w") not in index
    assert index[("t", "z")] == 8
    assert index[("t", "inline")] == 11
    assert index[("t", "sub", "q")] == 13


def test_mapping_file_must_sit_next_to_the_facility_file(tmp_path: Path) -> None:
    path = tmp_path / "facility.toml"
    path.write_text("\ufeff" + EX, encoding="utf-8")
    with pytest.raises(F.FacilityFileError) as caught:
        F.load(path, source="facility.toml")
    assert str(caught.value) == (
        'facility.toml:32: dhis2.mapping: "dhis2-mapping.json" is not next to the facility '
        "file; copy the district's mapping file beside facility.toml"
    )
    (tmp_path / "dhis2-mapping.json").write_text("{}", encoding="utf-8")
    assert F.load(path).code == "BONI"


def test_problem_text_without_line_or_key() -> None:
    assert str(F.Problem("", None, "file not found", "", "x.toml")) == "x.toml: file not found"
    assert str(F.Problem("a.b", 3, "bad", "fix it")) == "facility.toml:3: a.b: bad; fix it"


def test_dump_round_trips_in_documented_order() -> None:
    data = tomllib.loads(EX)
    shuffled = {key: data[key] for key in reversed(list(data))}
    text = F.dump(shuffled)
    assert tomllib.loads(text) == data
    headers = [line for line in text.split("\n") if line.startswith("[")]
    assert headers == [
        "[facility]",
        "[dhis2]",
        "[hotspot]",
        "[admin]",
        "[modem]",
        "[power]",
        "[power.thresholds]",
        "[power.gpio]",
        "[backup]",
        "[ssh]",
        "[firewall]",
        "[settings]",
        "[opinion]",
        "[referral]",
        "[population]",
        "[reminders]",
        "[update]",
    ]
    assert text.startswith('time_zone = "Africa/Bamako"\nlanguage = "fr"\n')


def test_the_reminders_and_update_tables_are_checked_and_kept_on_the_card() -> None:
    """The tables the appliance reads itself (the modem daemon `[update]`, the reminders
    `[reminders]`) pass `check` as the README writes them, go onto the card as written, and a
    wrong value is refused on its line, naming the key."""
    text = changed('server = ""', 'server = "https://mopti.example/keneya/"')
    text = changed("[reminders]\nenabled = false", "[reminders]\nenabled = true", text)
    facility = F.parse(text)
    assert facility.update["server"] == "https://mopti.example/keneya/"
    assert facility.reminders["enabled"] is True
    card = tomllib.loads(facility.public_toml())
    assert card["update"] == {
        "server": "https://mopti.example/keneya/",
        "monthly_budget_mb": 30,
        "check_every_h": 24,
    }
    assert card["reminders"]["enabled"] is True and card["reminders"]["days_before"] == 2
    lines = text.split("\n")
    server_line = next(i for i, line in enumerate(lines) if line.startswith("server =")) + 1
    days_line = next(i for i, line in enumerate(lines) if line.startswith("days_before")) + 1
    wrong = changed('"https://mopti.example/keneya/"', '"ftp://district"', text)
    wrong = changed("days_before = 2 ", "days_before = 40", wrong)
    with pytest.raises(F.FacilityFileError) as refused:
        F.parse(wrong)
    assert str(refused.value).split("\n") == [
        f"facility.toml:{days_line}: reminders.days_before: [reminders] days_before must be a "
        "whole number from 1 to 14, not 40; see [reminders] in provisioning/facility.example.toml",
        f"facility.toml:{server_line}: update.server: [update] server must be an https:// (or "
        "http://) URL or empty, not 'ftp://district'; see [update] in "
        "provisioning/facility.example.toml",
    ]
    with pytest.raises(F.FacilityFileError, match=r"update\.monthly_budget_mb: .* a number"):
        F.parse(changed("monthly_budget_mb = 30 ", 'monthly_budget_mb = "30"', text))
    with pytest.raises(F.FacilityFileError, match=r"update\.budget: \[update\] has no key"):
        F.parse(changed("check_every_h = 24", "budget = 3", text))


ANSWERS = {
    "facility.name": "CSCom de Boni",
    "facility.code": "BONI",
    "facility.district": "Douentza",
    "facility.region": "Mopti",
    "facility.org_unit": "Kx7Bn2MpQ4r",
    "dhis2.url": "https://dhis2.sante.gov.ml",
    "dhis2.data_set": "Mr4FvT8sLd2",
    "dhis2.token": TOKEN,
    "dhis2.mapping": "dhis2-mapping.json",
    "admin.name": "Awa Traoré",
    "admin.username": "awa.traore",
    "admin.pin": "482913",
    "admin.password": "soleil-du-sahel",
    "hotspot.passphrase": "tablettes-du-cscom",
    "modem.sim_pin": "4821",
    "backup.recipients": RECIPIENT,
}


def test_build_writes_a_file_that_parses_with_verifiable_hashes() -> None:
    text, keep_safe = new.build(dict(ANSWERS))
    facility = F.parse(text)
    hasher = PasswordHasher()
    assert facility.admin_pin_hash and hasher.verify(facility.admin_pin_hash, "482913")
    assert facility.admin_password_hash
    assert hasher.verify(facility.admin_password_hash, "soleil-du-sahel")
    assert "482913" not in text and "soleil-du-sahel" not in text
    assert facility.ssid == "Keneya-BONI" and facility.channel == 6
    assert facility.passphrase == "tablettes-du-cscom"
    assert facility.sim_pin == "4821" and facility.dhis2_token == TOKEN
    assert facility.backup_recipients == (RECIPIENT,)
    assert facility.warnings == ()
    assert keep_safe == {
        "PIN de l'administrateur": "482913",
        "mot de passe": "soleil-du-sahel",
        "mot de passe Wi-Fi": "tablettes-du-cscom",
        "jeton DHIS2": TOKEN,
    }


def test_build_generates_secrets_that_meet_the_rules() -> None:
    answers = {k: v for k, v in ANSWERS.items() if k not in ("admin.pin", "admin.password")}
    answers["hotspot.passphrase"] = ""
    text, keep_safe = new.build(answers)
    pin = keep_safe["PIN de l'administrateur"]
    password = keep_safe["mot de passe"]
    passphrase = keep_safe["mot de passe Wi-Fi"]
    assert len(pin) == 6 and check_pin(pin) == pin
    words = password.split("-")
    assert len(words) == 4 and all(word in new.WORDS for word in words)
    assert check_password(password) == password
    assert F.check_passphrase(passphrase) == passphrase
    facility = F.parse(text)
    hasher = PasswordHasher()
    assert facility.admin_pin_hash and hasher.verify(facility.admin_pin_hash, pin)
    assert facility.admin_password_hash and hasher.verify(facility.admin_password_hash, password)
    assert facility.passphrase == passphrase


def test_build_reports_every_wrong_answer() -> None:
    answers = dict(ANSWERS, **{"facility.code": "boni", "admin.pin": "1111", "dhis2.token": ""})
    with pytest.raises(F.FacilityFileError) as caught:
        new.build(answers)
    assert [p.key for p in caught.value.problems] == ["facility.code", "admin.pin", "dhis2.token"]
    assert "too easy to guess" in caught.value.problems[1].message


def test_build_writes_the_malaria_vaccine_setting() -> None:
    text, _ = new.build(ANSWERS)
    assert F.parse(text).settings == {"malaria_vaccine": "0"}  # off unless asked
    text, _ = new.build(dict(ANSWERS, **{"settings.malaria_vaccine": "on"}))
    assert "[settings]\nmalaria_vaccine = true" in text
    assert F.parse(text).settings == {"malaria_vaccine": "1"}
    with pytest.raises(F.FacilityFileError) as caught:
        new.build(dict(ANSWERS, **{"settings.malaria_vaccine": "peut-être"}))
    [problem] = caught.value.problems
    assert problem.key == "settings.malaria_vaccine" and "on ou off" in problem.message


def test_questions_have_unique_keys_and_valid_defaults() -> None:
    keys = [key for key, *_ in new.QUESTIONS]
    assert len(keys) == len(set(keys))
    for key, prompt, default, validate in new.QUESTIONS:
        assert " / " in prompt, key
        if default:
            assert validate(default) is None, key


def test_validators_return_the_problem_or_none() -> None:
    validators = {key: validate for key, _prompt, _default, validate in new.QUESTIONS}
    assert validators["facility.code"]("BONI") is None
    assert validators["facility.code"]("boni") == (
        '"boni" is not 2 to 6 capital letters; e.g. code = "BONI"; it begins every health number'
    )
    assert validators["hotspot.channel"]("14") is not None
    assert validators["hotspot.channel"](" 11 ") is None
    assert validators["admin.pin"]("") is None  # empty: generated
    assert "too easy to guess" in (validators["admin.pin"]("1234") or "")
    assert validators["facility.name"]("") == "must not be empty; type a value"
    assert len(set(new.WORDS)) == len(new.WORDS) >= 128


def test_the_backup_keys_stay_in_the_public_file_with_the_kept_counts() -> None:
    text = changed("keep_weekly = 4 ", "keep_weekly = 8 ")
    facility = F.parse(text)
    assert facility.backup_recipients == (RECIPIENT,)
    assert (facility.keep_daily, facility.keep_weekly) == (7, 8)
    public = F.parse(facility.public_toml(), secrets_elsewhere=True)
    assert public.backup_recipients == (RECIPIENT,) and public.keep_weekly == 8
    # the defaults are not written back
    assert tomllib.loads(facility.public_toml())["backup"] == {
        "recipients": [RECIPIENT],
        "keep_weekly": 8,
    }


def test_no_recipient_is_a_warning_that_names_the_usb_backup() -> None:
    text = EX[: EX.index("\n[backup]")] + "\n"
    facility = F.parse(text)
    assert facility.backup_recipients == () and facility.keep_daily == 7
    assert "[backup]" not in facility.public_toml()
    (warning,) = [w for w in facility.warnings if "backup.recipients" in w]
    assert "USB stick will be refused" in warning and "age-keygen" in warning


def test_provision_new_takes_several_keys_and_refuses_a_bad_one() -> None:
    second = "age18c6e2yf3qjq95yq3cw35fgnnrv28ahskpct9plm6zchxueqzdqqsl226qv"
    text, _ = new.build(dict(ANSWERS, **{"backup.recipients": f"{RECIPIENT}, {second}"}))
    assert F.parse(text).backup_recipients == (RECIPIENT, second)
    validate = {key: v for key, _p, _d, v in new.QUESTIONS}["backup.recipients"]
    assert validate("") is None
    assert "fails its checksum" in (validate(second[:-1] + "q") or "")
    assert "listed twice" in (validate(f"{second} {second}") or "")
    with pytest.raises(F.FacilityFileError) as caught:
        new.build(dict(ANSWERS, **{"backup.recipients": SECRET_KEY}))
    assert [p.key for p in caught.value.problems] == ["backup.recipients"]
    assert "SECRET key" in caught.value.problems[0].message
