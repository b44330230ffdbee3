"""APNs for Mali against the real mobile-broadband-provider-info database (Debian package, which
scripts/setup.sh installs), the built-in fallback when the file is absent, and the facility
file's overrides."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from modem import apn as apns
from modem.apn import (
    BUILT_IN,
    DATABASE,
    SOURCE_BUILT_IN,
    SOURCE_FACILITY,
    Apn,
    ApnOverrides,
    apn_for,
    load_database,
    operator_name,
)
from modem.config import ModemConfig, from_mapping
from modem.errors import ConfigurationError


def values(found: Apn) -> tuple[str, str, str, str]:
    return found.name, found.username, found.password, found.auth


@pytest.fixture(scope="module")
def database() -> Path:
    assert DATABASE.exists(), apns.database_missing_hint(DATABASE)
    return DATABASE


def test_the_real_database_gives_malitel_and_orange_with_their_credentials(database):
    malitel = apn_for("61001", database=database)
    assert (malitel.name, malitel.username, malitel.password) == (
        "web.malitel3.ml",
        "internet",
        "internet",
    )
    orange = apn_for("61002", database=database)
    assert (orange.name, orange.username, orange.password) == ("internet", "internet", "internet")
    assert orange.alternatives == ("iew",)  # listed first in the file, kept as an alternative
    for found in (malitel, orange):
        # the database states no method for Mali: either one, as the network asks
        assert found.auth == "pap-or-chap" and found.sends_credentials
        assert found.source.startswith("mobile-broadband-provider-info ")
        assert str(database) in found.source and found.note is None
    assert (malitel.operator, orange.operator) == ("Moov Africa Malitel", "Orange Mali")


def test_the_database_entries_for_mali_as_the_file_has_them(database):
    networks = load_database(database).networks
    assert networks["61001"][0] == "Malitel"
    assert [(a.name, a.username, a.password) for a in networks["61001"][1]] == [
        ("web.malitel3.ml", "internet", "internet")
    ]
    assert networks["61002"][0] == "Orange"
    assert [(a.name, a.username, a.password) for a in networks["61002"][1]] == [
        ("iew", "iew", "iew"),
        ("internet", "internet", "internet"),
    ]
    # Telecel is not in the package: if a new version adds it, the guess in BUILT_IN must go
    assert "61003" not in networks


def test_telecel_comes_from_the_built_in_table_so_the_modem_does_not_stop(database):
    telecel = apn_for("61003", database=database)
    assert telecel.name == "internet" and telecel.source == SOURCE_BUILT_IN
    assert telecel.username == "" and telecel.auth == "none" and not telecel.sends_credentials
    assert "[modem] apn" in telecel.note and telecel.operator == "Telecel Mali"


def test_without_the_file_the_built_in_table_answers_with_the_same_values(database, tmp_path):
    missing = tmp_path / "serviceproviders.xml"
    for code in ("61001", "61002", "61003"):
        fallback = apn_for(code, database=missing)
        assert fallback.source == SOURCE_BUILT_IN and fallback.note
        real = apn_for(code, database=database)
        assert (fallback.name, fallback.username, fallback.password, fallback.auth) == (
            real.name,
            real.username,
            real.password,
            real.auth,
        )
    assert apn_for("99999", database=missing) is None
    assert apn_for(None, database=missing) is None
    assert operator_name("61002", database=missing) == "Orange Mali"


def test_an_unreadable_file_falls_back_instead_of_failing(tmp_path):
    broken = tmp_path / "serviceproviders.xml"
    broken.write_text("<serviceproviders><country")
    assert load_database(broken) is None
    assert apn_for("61001", database=broken).source == SOURCE_BUILT_IN
    other = tmp_path / "other.xml"
    other.write_text("<html/>")
    assert load_database(other) is None


def test_other_countries_come_from_the_database_too(database):
    ghana = apn_for("62001", database=database)  # MTN Ghana
    assert ghana is not None and ghana.source.startswith("mobile-broadband-provider-info")
    assert apn_for("99999", database=database) is None


def test_parsed_once_per_process_and_again_when_the_file_changes(database, tmp_path):
    copy = tmp_path / "serviceproviders.xml"
    shutil.copyfile(database, copy)
    first = load_database(copy)
    assert load_database(copy) is first
    text = copy.read_text(encoding="utf-8").replace('value="web.malitel3.ml"', 'value="new.ml"')
    copy.write_text(text, encoding="utf-8")
    st = copy.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    again = load_database(copy)
    assert again is not first and apn_for("61001", database=copy).name == "new.ml"


SYNTHETIC = """<?xml version="1.0"?>
<serviceproviders format="2.0">
<country code="xx"><name>Test</name>
  <provider><name>Reseller</name><gsm><network-id mcc="999" mnc="01"/>
    <apn value="reseller"><usage type="internet"/></apn></gsm></provider>
  <provider primary="true"><name>Wholesale</name><gsm><network-id mcc="999" mnc="01"/>
    <apn value="mms.example"><usage type="mms"/><username>m</username></apn>
    <apn value="web.example"><usage type="internet"/><username>u</username>
      <password>p</password><authentication method="chap"/></apn></gsm></provider>
  <provider><name>Three digits</name><gsm><network-id mcc="999" mnc="010"/>
    <apn value="three"><username>t</username><authentication method="pap"/></apn></gsm>
  </provider>
</country>
</serviceproviders>
"""


def test_method_usage_and_the_wholesale_provider(tmp_path):
    path = tmp_path / "serviceproviders.xml"
    path.write_text(SYNTHETIC)
    found = apn_for("99901", database=path)
    # the primary provider wins over the MVNO; the MMS APN is never the data one
    assert values(found) == ("web.example", "u", "p", "chap")
    assert found.operator == "Wholesale" and found.alternatives == ()
    three = apn_for("999010", database=path)  # a three-digit MNC is matched as written
    assert (three.name, three.auth) == ("three", "pap")  # no <usage>: taken as internet


def test_facility_overrides_win(database):
    # the APN alone: the database's credentials for that same APN
    iew = apn_for("61002", override=ApnOverrides(apn="iew"), database=database)
    assert (iew.name, iew.username, iew.password) == ("iew", "iew", "iew")
    assert iew.source == SOURCE_FACILITY and iew.overridden == ("apn",)
    # a private APN carries none of the network's credentials
    private = apn_for("61001", override=ApnOverrides(apn="sante.ml"), database=database)
    assert (private.name, private.username, private.auth) == ("sante.ml", "", "none")
    # every key
    full = ApnOverrides(apn="sante.ml", username="cscom", password="s3cret", auth="chap")
    own = apn_for("61003", override=full, database=database)
    assert values(own) == ("sante.ml", "cscom", "s3cret", "chap")
    assert own.overridden == ("apn", "username", "password", "auth")
    # credentials only: the database's APN, the facility's password
    pw = apn_for("61001", override=ApnOverrides(password="other"), database=database)
    assert (pw.name, pw.username, pw.password) == ("web.malitel3.ml", "internet", "other")
    assert pw.source.startswith("mobile-broadband-provider-info")
    # an empty username means none: nothing is sent
    none = apn_for("61002", override=ApnOverrides(username=""), database=database)
    assert none.auth == "none" and not none.sends_credentials
    # a plain string is an APN override (the old signature)
    assert apn_for("99999", override="x.apn", database=database).name == "x.apn"
    # no network known and no override: nothing to guess from
    assert apn_for(None, override=ApnOverrides(username="u"), database=database) is None


def test_overrides_come_from_the_facility_section():
    cfg = from_mapping({"apn": "sante.ml", "username": "u", "password": "p", "auth": "pap"})
    assert ApnOverrides.of(cfg) == ApnOverrides("sante.ml", "u", "p", "pap")
    assert ApnOverrides.of(ModemConfig()) == ApnOverrides()


@pytest.mark.parametrize(
    "section",
    [
        {"auth": "mschap"},
        {"username": "with space"},
        {"password": 'quo"te'},
        {"password": "a#b"},
        {"username": "x" * 65},
        {"password": 1234},
    ],
)
def test_unsafe_or_wrong_overrides_are_refused(section):
    with pytest.raises(ConfigurationError, match=r"\[modem\]"):
        from_mapping(section)


def test_built_in_entries_name_their_source():
    assert set(BUILT_IN) == {"61001", "61002", "61003"}
    assert all(entry.note for entry in BUILT_IN.values())
    assert Apn("x", "user").auth == "pap-or-chap" and Apn("x").auth == "none"
    with pytest.raises(ConfigurationError):
        Apn("x", auth="eap")


def test_setup_and_the_image_install_the_database():
    root = Path(__file__).resolve().parents[2]
    setup = (root / "scripts" / "setup.sh").read_text(encoding="utf-8")
    array = setup.split("packages=(", 1)[1].split(")", 1)[0].split()
    assert "mobile-broadband-provider-info" in array
    image = (root / "image_build" / "packages.txt").read_text(encoding="utf-8")
    listed = {line.split("#", 1)[0].strip() for line in image.splitlines()}
    assert "mobile-broadband-provider-info" in listed
