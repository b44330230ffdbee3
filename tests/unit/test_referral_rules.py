"""The referral's pure parts: the reason an alert suggests, the urgent SMS's words (no name,
the urgency class only where the district says so, one GSM 7-bit part) and [referral]."""

from __future__ import annotations

from datetime import date

import pytest

from appliance.domain.encounters import InvalidEncounter
from appliance.domain.referrals import (
    REASONS,
    SMS_MAX,
    ReceivingFacility,
    ReferralSettingsError,
    age_words,
    reason_for_alert,
    referral_rules_from,
    sms_text,
    suggested_reason,
    validate_form,
    validate_return,
)
from modem.sms import gsm7_length, is_gsm7

KATI = {"KATI": ReceivingFacility("KATI", "CSRéf de Kati", "+22376000001")}


def _sms(**kw):
    args = dict(
        urgency="urgent",
        reason="severe_preeclampsia",
        sex="F",
        birth_date=date(2002, 3, 1),
        on=date(2026, 12, 7),
        departure="14:20",
        from_name="CSCom de Kalaban",
        health_number="KLB-000123-4",
        detail="reason",
    )
    return sms_text(**{**args, **kw})


def test_the_sms_reads_as_the_district_wrote_it():
    assert _sms() == (
        "Référence urgente en route: femme 24 ans, pré-éclampsie sévère, départ 14:20,"
        " CSCom de Kalaban. Dossier KLB-000123-4"
    )


def test_urgency_only_names_no_diagnosis():
    text = _sms(detail="urgency")
    assert "éclampsie" not in text and "Référence urgente" in text
    assert "KLB-000123-4" in text


@pytest.mark.parametrize("reason", list(REASONS))
def test_every_reason_fits_one_gsm7_sms(reason):
    text = _sms(reason=reason, from_name="Centre de santé communautaire de Sanankoroba-Est")
    assert is_gsm7(text), text
    assert gsm7_length(text) <= SMS_MAX
    assert text.endswith("Dossier KLB-000123-4")  # the long name is cut, never the number


def test_the_sms_carries_no_name_even_if_the_facility_name_is_one():
    text = _sms(from_name="CSCom de Kalaban")
    for word in ("Coulibaly", "Awa"):
        assert word not in text


@pytest.mark.parametrize(
    ("born", "on", "words"),
    [
        (date(2026, 11, 30), date(2026, 12, 7), "7 jours"),
        (date(2026, 4, 8), date(2026, 12, 7), "7 mois"),
        (date(2024, 12, 8), date(2026, 12, 7), "23 mois"),
        (date(2024, 12, 7), date(2026, 12, 7), "2 ans"),
    ],
)
def test_ages_as_said_on_the_phone(born, on, words):
    assert age_words(born, on) == words


def test_a_newborn_and_a_boy_are_named_so():
    assert "nouveau-né 3 jours" in _sms(birth_date=date(2026, 12, 4), sex="M")
    # ç is not in GSM 7-bit (Ç is): one 160-character part rather than a 70-character one
    assert "garcon 4 ans" in _sms(birth_date=date(2022, 6, 1), sex="M")


def test_alerts_suggest_reasons_longest_prefix_first():
    assert reason_for_alert("anc.hypertension.severe") == "severe_preeclampsia"
    assert reason_for_alert("anc.danger_sign.convulsions") == "eclampsia"
    assert reason_for_alert("anc.danger_sign.fever") == "pregnancy_danger_sign"
    assert reason_for_alert("child.sam") == "sam_complicated"
    assert reason_for_alert("child.mam") is None
    alerts = [
        {"code": "anc.anaemia.mild", "severity": "moderate"},
        {"code": "anc.danger_sign.bleeding", "severity": "urgent"},
    ]
    assert suggested_reason(alerts) == ("haemorrhage", "anc.danger_sign.bleeding")
    # the headache of severe pre-eclampsia: the named condition, not the generic danger sign
    alerts = [
        {"code": "anc.danger_sign.severe_headache", "severity": "urgent"},
        {"code": "anc.hypertension.severe", "severity": "urgent"},
    ]
    assert suggested_reason(alerts) == ("severe_preeclampsia", "anc.hypertension.severe")
    assert suggested_reason([{"code": "child.mam", "severity": "high"}]) == (None, None)


def _form(**kw):
    data = {
        "care_date": "2026-12-07",
        "reason": "severe_preeclampsia",
        "urgency": "urgent",
        "to_facility": "KATI",
        "transport": "ambulance",
        "vitals": {"bp_systolic": 170, "bp_diastolic": 112},
    }
    return {**data, **kw}


def test_the_form_refuses_what_the_csref_could_not_use():
    ok = validate_form(_form(), today=date(2026, 12, 7), receiving=KATI)
    assert ok.vitals.bp_systolic == 170
    for bad, field in (
        (_form(to_facility="NOWHERE"), "to_facility"),
        (_form(reason="other"), "reason_detail"),
        (_form(vitals={"bp_systolic": 170}), "blood pressure"),
        (_form(care_date="2026-12-20"), "future"),
        (_form(departure="25:00"), "departure"),
        (_form(urgency="soon"), "urgency"),
    ):
        with pytest.raises(InvalidEncounter) as e:
            validate_form(bad, today=date(2026, 12, 7), receiving=KATI)
        assert field in str(e.value), (bad, str(e.value))


def test_the_counter_referral_needs_a_diagnosis_unless_died_or_not_arrived():
    on = date(2026, 12, 1)
    with pytest.raises(InvalidEncounter, match="diagnosis"):
        validate_return({"returned_on": "2026-12-05", "outcome": "treated_returned"},
                        referred_on=on, today=date(2026, 12, 7))  # fmt: skip
    validate_return({"returned_on": "2026-12-05", "outcome": "not_arrived"},
                    referred_on=on, today=date(2026, 12, 7))  # fmt: skip
    with pytest.raises(InvalidEncounter, match="before the referral"):
        validate_return({"returned_on": "2026-11-30", "outcome": "died"},
                        referred_on=on, today=date(2026, 12, 7))  # fmt: skip


def test_the_facility_file_table_is_checked_with_one_line_messages():
    rules = referral_rules_from(
        {
            "sms_detail": "urgency",
            "return_after_days": 7,
            "receiving": [{"code": "KATI", "name": "CSRéf de Kati", "phone": "+22376000001"}],
        }
    )
    assert rules.sms_detail == "urgency" and rules.receiving["KATI"].phone == "+22376000001"
    assert referral_rules_from({}).return_after_days == 14
    for bad, words in (
        ({"sms_details": "reason"}, "no key 'sms_details'"),
        ({"sms_detail": "all"}, "sms_detail"),
        ({"return_after_days": 0}, "return_after_days"),
        ({"receiving": [{"code": "K", "name": "X"}]}, "code"),
        ({"receiving": [{"code": "KATI", "name": "Kati", "phone": "76 00"}]}, "phone"),
        ({"receiving": [{"code": "KATI", "name": "Kati"}] * 2}, "twice"),
    ):
        with pytest.raises(ReferralSettingsError) as e:
            referral_rules_from(bad)
        assert words in str(e.value) and "\n" not in str(e.value)
