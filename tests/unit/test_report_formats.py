"""Output formats: the DHIS2 dataValueSet, ADX, CSV and the French table."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date, datetime

import pytest

from appliance.reports.formats import (
    ADX_NS,
    UID,
    MappingError,
    cells_gone,
    from_csv,
    load_mapping,
    to_adx,
    to_csv,
    to_dhis2,
    to_table,
)
from appliance.reports.monthly import Period, Report, key

OCT = Period(2026, 10)


@pytest.fixture
def report():
    values = {
        key("CONSULT", {"case": "new", "sex": "F", "age": "1-4y"}): 12,
        key("CONSULT", {"case": "returning", "sex": "M", "age": "50+y"}): 3,
        key("ANC1", {}): 4,
        key("IMM", {"antigen": "penta", "dose": "3", "age": "0-11m"}): 9,
        key("SAM_NEW", {"sex": "F"}): 1,
        key("CHRONIC", {"condition": "hypertension"}): 7,
    }
    return Report(
        OCT,
        values,
        facility_code="KLB",
        facility_name="CSCom de Kalaban",
        generated_on=date(2026, 11, 2),
    )


@pytest.fixture
def mapping():
    return load_mapping()


def _cell(mapping, indicator, match=None):
    for de in mapping["dataElements"]:
        if de["indicator"] == indicator and (de.get("match") or {}) == (match or {}):
            return de
    raise AssertionError(indicator)


def test_demo_mapping_is_valid_and_leaves_chronic_out(mapping):
    assert UID.fullmatch(mapping["dataSet"]) and UID.fullmatch(mapping["orgUnit"])
    mapped = {de["indicator"] for de in mapping["dataElements"]}
    assert "CHRONIC" not in mapped and {"CONSULT", "DIAG", "IMM", "FIC", "FP"} <= mapped


def test_dhis2_shape(report, mapping):
    payload, unmapped = to_dhis2(report, mapping)
    assert set(payload) == {"dataSet", "period", "orgUnit", "completeDate", "dataValues"}
    assert payload["period"] == "202610" and payload["completeDate"] == "2026-11-02"
    for row in payload["dataValues"]:
        assert set(row) == {"dataElement", "categoryOptionCombo", "value"}
        assert UID.fullmatch(row["dataElement"]) and UID.fullmatch(row["categoryOptionCombo"])
        assert isinstance(row["value"], str)
    consult = _cell(mapping, "CONSULT", {"case": "new"})["dataElement"]
    coc = mapping["categoryCombos"]["sexAge"]["options"]["F|1-4y"]
    assert {"dataElement": consult, "categoryOptionCombo": coc, "value": "12"} in payload[
        "dataValues"
    ]
    anc1 = _cell(mapping, "ANC1")["dataElement"]
    assert {"dataElement": anc1, "categoryOptionCombo": "HllvX50cXC0", "value": "4"} in payload[
        "dataValues"
    ]
    json.dumps(payload)


def test_unmapped_values_are_listed_not_dropped(report, mapping):
    _, unmapped = to_dhis2(report, mapping)
    assert unmapped == [
        {"indicator": "CHRONIC", "disaggregation": {"condition": "hypertension"}, "value": 7}
    ]


def test_zeros_only_for_zero_significant_data_elements(report, mapping):
    payload, _ = to_dhis2(report, mapping)
    zeros = {
        (r["dataElement"], r["categoryOptionCombo"])
        for r in payload["dataValues"]
        if r["value"] == "0"
    }
    zero_des = set(mapping["zeroSignificant"])
    assert zeros and {de for de, _ in zeros} <= zero_des
    sam = _cell(mapping, "SAM_NEW")["dataElement"]
    sex = mapping["categoryCombos"]["sex"]["options"]
    assert (sam, sex["M"]) in zeros  # no SAM boy: an explicit zero
    assert (sam, sex["F"]) not in zeros  # one SAM girl: her value, not a zero
    # Not zero-significant: an empty cell stays absent.
    anc4 = _cell(mapping, "ANC4")["dataElement"]
    assert all(r["dataElement"] != anc4 for r in payload["dataValues"])


def test_attribute_option_combo_when_configured(report, mapping):
    mapping["attributeOptionCombo"] = "Abcdefghij1"
    payload, _ = to_dhis2(report, mapping)
    assert all(r["attributeOptionCombo"] == "Abcdefghij1" for r in payload["dataValues"])


def test_bad_mapping_uid_is_refused(tmp_path, mapping):
    mapping["orgUnit"] = "1notAUid"
    path = tmp_path / "m.json"
    path.write_text(json.dumps(mapping))
    with pytest.raises(MappingError, match="orgUnit"):
        load_mapping(path)


def test_adx_parses_with_namespace_period_and_attributes(report):
    root = ET.fromstring(to_adx(report, exported=datetime(2026, 11, 2, 8, 0)))
    assert root.tag == f"{{{ADX_NS}}}adx" and root.get("exported") == "2026-11-02T08:00:00"
    (group,) = root.findall(f"{{{ADX_NS}}}group")
    assert group.get("period") == "2026-10-01/P1M" and group.get("orgUnit") == "KLB"
    values = group.findall(f"{{{ADX_NS}}}dataValue")
    assert len(values) == len(report.values)
    consult = [v for v in values if v.get("dataElement") == "CONSULT" and v.get("SEX") == "F"]
    assert consult[0].attrib == {
        "dataElement": "CONSULT",
        "value": "12",
        "CASE": "new",
        "SEX": "F",
        "AGE": "1-4y",
    }


def test_csv_round_trip(report):
    text = to_csv(report)
    header = text.splitlines()[0].split(",")
    assert header[:3] == ["Indicateur", "Détail", "Valeur"]  # people first, in French
    assert "indicator" in header and header[-1] == "value"  # then the codes, for machines
    assert from_csv(text) == report.values


def test_french_table(report):
    text = to_table(report)
    assert "CSCom de Kalaban (KLB)" in text and "Période : 2026-10" in text
    assert "Consultations curatives : 15" in text
    assert "Enfants complètement vaccinés : 0" in text
    assert "Nouveaux cas, Féminin, 1-4 ans" in text
    assert "CPN1 (premier contact) : 4\nCPN4" in text  # no empty row under it
    assert "Définitions des indicateurs :" in text


def test_a_month_still_running_is_not_sent_complete(report, mapping):
    report.meta["complete"] = False
    payload, _ = to_dhis2(report, mapping)
    assert "completeDate" not in payload
    payload, _ = to_dhis2(report, mapping, complete_date=date(2026, 11, 3))
    assert payload["completeDate"] == "2026-11-03"


def _dvs(*rows):
    return {
        "dataValues": [{"dataElement": d, "categoryOptionCombo": c, "value": v} for d, c, v in rows]
    }


def test_cells_gone_are_those_an_earlier_version_sent_and_the_new_one_lacks():
    mapping = {"zeroSignificant": ["zeroDe00001"]}
    earlier = [
        _dvs(("deA00000001", "coc", "5"), ("deB00000001", "coc", "2"), ("zeroDe00001", "coc", "4")),
        _dvs(("deC00000001", "coc", "1"), ("deD00000001", "coc", "0")),
    ]
    now = _dvs(
        ("deA00000001", "coc", "6"),  # changed: the upsert overwrites it
        ("deB00000001", "coc", "0"),  # to zero on an element whose zeros DHIS2 skips
        ("zeroDe00001", "coc", "0"),  # zero-significant: the zero itself overwrites
    )
    gone = cells_gone(now, earlier, mapping)
    assert [(g["dataElement"], g["value"]) for g in gone] == [
        ("deB00000001", "2"),
        ("deC00000001", "1"),  # an older version's cell, left out since
    ]  # deD was sent as 0: never stored, nothing to delete
    assert cells_gone(now, [], mapping) == []


def test_referral_reasons_read_as_on_the_referral_form():
    """The French is the form's own; the English is the web catalog's for the same words."""
    from appliance.domain.referrals import REASONS
    from appliance.reports import labels
    from appliance.web.i18n import catalog

    english = catalog("en")
    for code, french in REASONS.items():
        assert labels.value_label("reason", code, "fr").lower() == french
        assert labels.value_label("reason", code, "en").lower() == english[french].lower()


def test_referrals_to_the_csref_map_reason_by_reason(mapping):
    """Each reason is a data element whose two options (referral, evacuation) add up to it."""
    from appliance.domain.referrals import REASONS

    mapped = [de for de in mapping["dataElements"] if de["indicator"] == "REFERRAL_CSREF"]
    assert sorted(de["match"]["reason"] for de in mapped) == sorted(REASONS)
    report = Report(
        OCT,
        {
            key("REFERRAL_CSREF", {"reason": "eclampsia", "transfer": "evacuation"}): 2,
            key("REFERRAL_CSREF", {"reason": "other", "transfer": "referral"}): 1,
        },
    )
    payload, unmapped = to_dhis2(report, mapping)
    options = mapping["categoryCombos"]["referralTransfer"]["options"]
    eclampsia = _cell(mapping, "REFERRAL_CSREF", {"reason": "eclampsia"})["dataElement"]
    other = _cell(mapping, "REFERRAL_CSREF", {"reason": "other"})["dataElement"]
    assert unmapped == []
    assert {
        (r["dataElement"], r["categoryOptionCombo"], r["value"]) for r in payload["dataValues"]
    } >= {
        (eclampsia, options["evacuation"], "2"),
        (other, options["referral"], "1"),
    }
