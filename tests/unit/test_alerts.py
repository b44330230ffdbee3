"""Clinical alerts: each rule with a case that raises it and one that does not, thresholds at
their edges, and the shipped table's sources and severities."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from appliance.clinical import alerts as al
from appliance.clinical import growth

ON = date(2026, 10, 15)
WOMAN = {"id": "w1", "sex": "F", "birth_date": "2000-05-01"}  # 26 at ON
LMP = ON - timedelta(weeks=20)


def iso(d: date) -> str:
    return d.isoformat()


def enc(kind: str, care: date, eid: str | None = None, **data) -> dict:
    return {
        "id": eid or f"{kind}-{iso(care)}",
        "type": kind,
        "care_date": iso(care),
        "data": {"care_date": iso(care), **data},
    }


def anc(care: date = ON, eid: str | None = None, **data) -> dict:
    return enc("anc", care, eid, **data)


def codes(alerts: list[al.Alert]) -> list[str]:
    return [a.code for a in alerts]


def preg(*contacts: dict, patient: dict = WOMAN, **kw) -> list[al.Alert]:
    return al.pregnancy_alerts(patient, list(contacts), ON, **kw)


def one(alerts: list[al.Alert], code: str) -> al.Alert:
    found = [a for a in alerts if a.code == code]
    assert len(found) == 1, codes(alerts)
    return found[0]


# -- the table ------------------------------------------------------------------------------


def test_table_has_a_source_for_every_rule_and_valid_severities():
    table = al.thresholds()

    def rules(node, path=""):
        if isinstance(node, dict):
            if "severity" in node:
                yield path, node
            for k, v in node.items():
                yield from rules(v, f"{path}.{k}")

    found = list(rules(table))
    assert len(found) >= 20
    for path, rule in found:
        assert rule["severity"] in al.SEVERITIES, path
        assert rule["source"].strip(), path


def test_alert_json_shape():
    a = one(preg(anc(bp_systolic=165, bp_diastolic=112)), "anc.hypertension.severe")
    assert a.to_json() == {
        "code": "anc.hypertension.severe",
        "severity": "urgent",
        "reason": f"TA 165/112 mmHg (CPN du {ON:%d/%m/%Y})",
        "action": "Référer en urgence au CSRéf (voie de la pré-éclampsie sévère)",
        "source": a.source,
        "encounter_id": f"anc-{iso(ON)}",
        # the reason's French template and values, for the reader's language
        "reason_msg": "TA %(s)s/%(d)s mmHg (CPN du %(date)s)",
        "reason_args": {"s": 165, "d": 112, "date": f"{ON:%d/%m/%Y}"},
    }
    json.dumps(a.to_json())


def test_alert_refuses_unknown_severity():
    with pytest.raises(ValueError):
        al.Alert("x", "low", "r", "a", "s")


# -- pregnancy: danger signs -------------------------------------------------------------------

ANC_SIGNS = (
    "bleeding",
    "convulsions",
    "fever",
    "severe_headache",
    "visual_disturbance",
    "imminent_delivery",
    "looks_very_ill",
    "severe_vomiting",
    "severe_abdominal_pain",
    "unconscious",
    "central_cyanosis",
)


@pytest.mark.parametrize("sign", ANC_SIGNS)
def test_each_anc_danger_sign_is_an_urgent_referral(sign):
    a = one(preg(anc(danger_signs=[sign])), f"anc.danger_sign.{sign}")
    assert a.severity == "urgent"
    assert "Référer en urgence" in a.action
    assert "ANC.DT.01" in a.source


def test_no_danger_sign_no_alert():
    assert not [c for c in codes(preg(anc(danger_signs=[]))) if c.startswith("anc.danger")]


def test_danger_signs_of_an_earlier_contact_do_not_count():
    earlier = anc(ON - timedelta(days=30), danger_signs=["bleeding"])
    assert "anc.danger_sign.bleeding" not in codes(preg(earlier, anc(ON)))


def test_danger_sign_matches_the_domain_list():
    from appliance.domain.encounters import ANC_DANGER_SIGNS

    assert set(ANC_DANGER_SIGNS) == set(ANC_SIGNS) == set(al._ANC_SIGNS)


# -- pregnancy: vital signs at their edges ------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, code",
    [
        ("temperature_c", 37.9, None),
        ("temperature_c", 38.0, "anc.vital.fever"),
        ("pulse_bpm", 59, "anc.vital.pulse_low"),
        ("pulse_bpm", 60, None),
        ("pulse_bpm", 100, None),
        ("pulse_bpm", 101, "anc.vital.pulse_high"),
        ("spo2_pct", 91, "anc.vital.spo2_low"),
        ("spo2_pct", 92, None),
    ],
)
def test_vital_sign_thresholds(field, value, code):
    got = [c for c in codes(preg(anc(**{field: value}))) if c.startswith("anc.vital")]
    assert got == ([code] if code else [])
    if code:
        a = one(preg(anc(**{field: value})), code)
        assert a.severity == "high" and "CSRéf" in a.action
        assert f"{value:g}".replace(".", ",") in a.reason


def test_latest_measured_vital_is_used():
    hot = anc(ON - timedelta(days=28), temperature_c=38.6)
    assert "anc.vital.fever" not in codes(preg(hot, anc(ON, temperature_c=36.8)))
    # not measured at the latest contact: the last measure still stands
    assert "anc.vital.fever" in codes(preg(hot, anc(ON)))


# -- pregnancy: blood pressure -----------------------------------------------------------------


@pytest.mark.parametrize(
    "s, d, code",
    [
        (139, 89, None),
        (140, 89, "anc.hypertension.raised"),
        (139, 90, "anc.hypertension.raised"),
        (140, 90, "anc.hypertension.raised"),
        (159, 109, "anc.hypertension.raised"),
        (160, 100, "anc.hypertension.severe"),
        (150, 110, "anc.hypertension.severe"),
        (160, 110, "anc.hypertension.severe"),
    ],
)
def test_bp_pathways(s, d, code):
    got = [c for c in codes(preg(anc(bp_systolic=s, bp_diastolic=d))) if "hypertension" in c]
    assert got == ([code] if code else [])


def test_bp_severities_and_actions():
    raised = one(preg(anc(bp_systolic=140, bp_diastolic=90)), "anc.hypertension.raised")
    assert raised.severity == "high" and "pré-éclampsie" in raised.action
    severe = one(preg(anc(bp_systolic=165, bp_diastolic=112)), "anc.hypertension.severe")
    assert severe.severity == "urgent" and "TA 165/112 mmHg" in severe.reason


def test_latest_bp_supersedes_an_older_one():
    old = anc(ON - timedelta(days=30), bp_systolic=165, bp_diastolic=112)
    assert not [c for c in codes(preg(old, anc(bp_systolic=120, bp_diastolic=80))) if "hyper" in c]


# -- pregnancy: high-risk factors --------------------------------------------------------------


def born(years_before_lmp: int, days: int = 0) -> dict:
    b = date(LMP.year - years_before_lmp, LMP.month, LMP.day) - timedelta(days=days)
    return {"id": "w", "sex": "F", "birth_date": iso(b)}


@pytest.mark.parametrize(
    "patient, code",
    [
        (born(17), "pregnancy.high_risk.age_under_18"),
        (born(18), None),
        (born(35, days=364), None),
        (born(36), "pregnancy.high_risk.age_over_35"),
    ],
)
def test_age_at_the_start_of_pregnancy(patient, code):
    got = [c for c in codes(preg(anc(lmp=iso(LMP)), patient=patient)) if ".age_" in c]
    assert got == ([code] if code else [])


def test_age_alert_has_no_encounter_and_is_moderate():
    a = one(preg(anc(lmp=iso(LMP)), patient=born(16)), "pregnancy.high_risk.age_under_18")
    assert a.severity == "moderate" and a.encounter_id is None and "CSRéf" in a.action
    assert "16 ans" in a.reason


@pytest.mark.parametrize(
    "data, code",
    [
        ({"parity": 4}, "grand_multiparity"),
        ({"previous_caesarean": True}, "previous_caesarean"),
        ({"previous_stillbirth": True}, "previous_stillbirth"),
        ({"miscarriages": 2}, "recurrent_miscarriage"),
        ({"previous_difficult_delivery": True}, "previous_difficult_delivery"),
        ({"previous_pph": True}, "previous_pph"),
        ({"height_cm": 149.9}, "short_stature"),
        ({"hb_g_dl": 6.9}, "severe_anaemia"),
        ({"known_conditions": ["hypertension"]}, "known_hypertension"),
        ({"known_conditions": ["diabetes"]}, "known_diabetes"),
        ({"known_conditions": ["heart_disease"]}, "known_heart_disease"),
        ({"known_conditions": ["hiv"]}, "known_hiv"),
    ],
)
def test_each_high_risk_factor(data, code):
    a = one(preg(anc(**data)), f"pregnancy.high_risk.{code}")
    assert a.encounter_id == f"anc-{iso(ON)}"
    assert a.severity == ("high" if code == "severe_anaemia" else "moderate")


@pytest.mark.parametrize(
    "data",
    [
        {"parity": 3},
        {"previous_caesarean": False},
        {"previous_stillbirth": False},
        {"miscarriages": 1},
        {"previous_difficult_delivery": False},
        {"previous_pph": False},
        {"height_cm": 150},
        {"hb_g_dl": 7.0},
        {"known_conditions": []},
    ],
)
def test_no_high_risk_factor_below_threshold(data):
    assert not [c for c in codes(preg(anc(**data))) if c.startswith("pregnancy.high_risk")]


# WHO 2011 haemoglobin cut-offs in pregnancy: severe < 7.0, moderate 7.0-9.9, mild 10.0-10.9
@pytest.mark.parametrize(
    ("hb", "code", "severity", "action"),
    [
        (6.9, "pregnancy.high_risk.severe_anaemia", "high", "Référer au CSRéf (anémie sévère)"),
        (7.0, "anc.anaemia.moderate", "moderate", "contrôler l'Hb dans 4 semaines"),
        (9.9, "anc.anaemia.moderate", "moderate", "fer 120 mg + acide folique 400 µg"),
        (10.0, "anc.anaemia.mild", "moderate", "contrôler l'Hb à la prochaine CPN"),
        (10.9, "anc.anaemia.mild", "moderate", "jusqu'à Hb ≥ 11 g/dL"),
        (11.0, None, None, None),
    ],
)
def test_anaemia_in_pregnancy_at_each_cut_off(hb, code, severity, action):
    alerts = [a for a in preg(anc(hb_g_dl=hb)) if "anaemia" in a.code]
    if code is None:
        assert alerts == []
        return
    [a] = alerts  # one class only: severe is not also moderate
    assert (a.code, a.severity) == (code, severity)
    assert action in a.action and a.encounter_id == f"anc-{iso(ON)}"
    assert f"Hb {str(hb).replace('.', ',').removesuffix(',0')} g/dL" in a.reason
    assert "OMS 2011" in a.source


def test_anaemia_reads_the_latest_hb_of_this_pregnancy():
    earlier = anc(ON - timedelta(weeks=4), hb_g_dl=9.0)
    assert "anc.anaemia.moderate" in codes(preg(earlier))
    got = codes(preg(earlier, anc(ON, hb_g_dl=11.2)))
    assert not [c for c in got if "anaemia" in c]  # treated: back to normal
    a = one(preg(earlier, anc(ON, hb_g_dl=10.4)), "anc.anaemia.mild")
    assert "(de 10 à moins de 11 g/dL)" in a.reason


def test_history_fact_from_an_earlier_contact_of_this_pregnancy_counts():
    first = anc(LMP + timedelta(weeks=10), previous_caesarean=True, parity=4, lmp=iso(LMP))
    got = codes(preg(first, anc(ON)))
    assert "pregnancy.high_risk.previous_caesarean" in got
    assert "pregnancy.high_risk.grand_multiparity" in got
    a = one(preg(first, anc(ON)), "pregnancy.high_risk.previous_caesarean")
    assert a.encounter_id == first["id"]


def test_facts_of_a_previous_pregnancy_do_not_count():
    before = anc(LMP - timedelta(days=200), previous_pph=True, hb_g_dl=6.0)
    got = codes(preg(before, anc(ON, lmp=iso(LMP))))
    assert not [c for c in got if c.startswith("pregnancy.high_risk")]
    # the same with the LMP passed in rather than recorded
    got = codes(preg(before, anc(ON), pregnancy_lmp=LMP))
    assert not [c for c in got if c.startswith("pregnancy.high_risk")]


@pytest.mark.parametrize("days, raised", [(364, True), (365, False)])
def test_birth_interval_to_the_lmp(days, raised):
    last = iso(LMP - timedelta(days=days))
    got = codes(preg(anc(lmp=iso(LMP), last_birth_date=last)))
    assert ("pregnancy.high_risk.short_birth_interval" in got) is raised


def test_birth_interval_from_gestational_age_or_first_contact():
    # LMP estimated from the gestational age: 20 weeks before ON
    ga = anc(gestational_age_weeks=20, last_birth_date=iso(LMP - timedelta(days=300)))
    a = one(preg(ga), "pregnancy.high_risk.short_birth_interval")
    assert "DDR estimée" in a.reason
    # nothing known of the LMP: measured to the first contact of the pregnancy
    first = anc(ON - timedelta(days=60))
    last_birth = iso(ON - timedelta(days=60 + 300))
    a = one(
        preg(first, anc(last_birth_date=last_birth)), "pregnancy.high_risk.short_birth_interval"
    )
    assert "1re CPN" in a.reason
    later = iso(ON - timedelta(days=60 + 400))
    assert "pregnancy.high_risk.short_birth_interval" not in codes(
        preg(first, anc(last_birth_date=later))
    )


def test_a_finished_pregnancy_raises_nothing():
    old = anc(ON - timedelta(weeks=45), danger_signs=["bleeding"], previous_pph=True)
    assert preg(old) == []
    assert preg(anc(ON - timedelta(weeks=2)), pregnancy_lmp=ON - timedelta(weeks=45)) == []
    assert preg() == []


def test_contacts_after_on_are_ignored():
    assert preg(anc(ON + timedelta(days=1), danger_signs=["bleeding"])) == []


def test_a_disabled_factor_is_not_raised(monkeypatch):
    table = json.loads(json.dumps(al.thresholds()))
    table["pregnancy"]["high_risk"]["short_stature"]["enabled"] = False
    monkeypatch.setattr(al, "thresholds", lambda: table)
    assert "pregnancy.high_risk.short_stature" not in codes(preg(anc(height_cm=140)))


# -- children under 5 ---------------------------------------------------------------------------

BOY_BIRTH = date(2024, 8, 1)  # 806 days at ON
BOY = {"id": "c1", "sex": "M", "birth_date": iso(BOY_BIRTH)}


def growth_on(care: date, **data) -> dict:
    return enc("growth", care, **data)


def kid(*encs: dict, patient: dict = BOY) -> list[al.Alert]:
    return al.child_alerts(patient, list(encs), ON)


@pytest.mark.parametrize(
    "data, code, severity",
    [
        ({"muac_mm": 114}, "child.sam", "urgent"),
        ({"muac_mm": 115}, "child.mam", "high"),
        ({"muac_mm": 124}, "child.mam", "high"),
        ({"muac_mm": 125}, None, None),
        ({"muac_mm": 140, "oedema": True}, "child.sam", "urgent"),
        ({"weight_kg": 9.0, "height_cm": 85.0, "measured": "standing"}, "child.sam", "urgent"),
        ({"weight_kg": 9.5, "height_cm": 85.0, "measured": "standing"}, "child.mam", "high"),
        ({"weight_kg": 10.0, "height_cm": 85.0, "measured": "standing"}, None, None),
    ],
)
def test_acute_malnutrition(data, code, severity):
    got = [a for a in kid(growth_on(ON, **data)) if a.code in ("child.sam", "child.mam")]
    assert [(a.code, a.severity) for a in got] == ([(code, severity)] if code else [])


def test_wfh_cases_are_what_they_claim():
    age = (ON - BOY_BIRTH).days
    assert growth.wfh("M", age, 9.0, 85.0, "standing") < -3
    assert -3 <= growth.wfh("M", age, 9.5, 85.0, "standing") < -2
    assert growth.wfh("M", age, 10.0, 85.0, "standing") >= -2


def test_sam_names_the_criterion_and_the_pcima_units():
    a = one(kid(growth_on(ON, muac_mm=110)), "child.sam")
    assert "PB 110 mm" in a.reason
    assert "URENI" in a.action and "URENAS" in a.action and "PCIMA" in a.source
    a = one(kid(growth_on(ON, muac_mm=130, oedema=True)), "child.sam")
    assert "œdèmes" in a.reason
    a = one(kid(growth_on(ON, muac_mm=120)), "child.mam")
    assert "URENAM" in a.action


@pytest.mark.parametrize("days_ago, raised", [(60, True), (61, False)])
def test_nutrition_uses_recent_measures_only(days_ago, raised):
    got = codes(kid(growth_on(ON - timedelta(days=days_ago), muac_mm=110)))
    assert ("child.sam" in got) is raised


def test_latest_measure_decides():
    got = codes(kid(growth_on(ON - timedelta(days=30), muac_mm=110), growth_on(ON, muac_mm=135)))
    assert "child.sam" not in got


def test_muac_judges_to_59_completed_months_only():
    # 1826 days = 59.99 WHO months (30.4375 days): MUAC still judges; 1827 days no longer
    five = {"id": "c2", "sex": "F", "birth_date": iso(ON - timedelta(days=1826))}
    assert "child.sam" in codes(kid(growth_on(ON, muac_mm=100), patient=five))
    older = {"id": "c3", "sex": "F", "birth_date": iso(ON - timedelta(days=1827))}
    assert kid(growth_on(ON, muac_mm=100), patient=older) == []
    # the 1,840-day child with MUAC 110 mm is not SAM by MUAC
    issue = {"id": "c4", "sex": "M", "birth_date": iso(ON - timedelta(days=1840))}
    assert kid(growth_on(ON, muac_mm=110), patient=issue) == []


def test_past_five_only_nutrition_alerts_by_bmi_for_age():
    nine = {"id": "c5", "sex": "F", "birth_date": iso(ON - timedelta(days=3300))}  # 108.4 months
    # WHO 2007 BMI-for-age, girls 108 months: SD3neg 12.099, SD2neg 13.14 (BMI at 130 cm)
    severe = one(
        kid(growth_on(ON, weight_kg=11.9 * 1.69, height_cm=130.0), patient=nine), "child.sam"
    )
    assert "IMC/âge" in severe.reason and "maigreur sévère" in severe.reason
    thin = kid(growth_on(ON, weight_kg=12.6 * 1.69, height_cm=130.0), patient=nine)
    assert codes(thin) == ["child.mam"]
    fine = growth_on(ON - timedelta(days=30), weight_kg=26.0, height_cm=130.0)
    assert kid(fine, growth_on(ON, weight_kg=25.0, height_cm=130.0), patient=nine) == []
    # no growth faltering or IMCI danger signs past five: weight lost, no alert
    adult = {"id": "c6", "sex": "F", "birth_date": iso(ON - timedelta(days=6940))}
    assert kid(growth_on(ON, weight_kg=30.0, height_cm=160.0), patient=adult) == []


@pytest.mark.parametrize(
    "gap, w0, w1, raised",
    [
        (30, 10.0, 10.0, True),
        (30, 10.0, 9.8, True),
        (30, 10.0, 10.1, False),
        (19, 10.0, 10.0, False),
        (20, 10.0, 10.0, True),
        (45, 10.0, 10.0, True),
        (46, 10.0, 10.0, False),
    ],
)
def test_growth_faltering(gap, w0, w1, raised):
    prev = growth_on(ON - timedelta(days=gap), weight_kg=w0)
    last = growth_on(ON, weight_kg=w1)
    got = kid(prev, last)
    assert ("child.growth_faltering" in codes(got)) is raised
    if raised:
        a = one(got, "child.growth_faltering")
        assert a.severity == "moderate" and a.encounter_id == last["id"]


def test_growth_faltering_needs_recent_weighings():
    prev = growth_on(ON - timedelta(days=100), weight_kg=10.0)
    last = growth_on(ON - timedelta(days=70), weight_kg=10.0)
    assert "child.growth_faltering" not in codes(kid(prev, last))


IMCI_SIGNS = ("unable_to_drink", "vomits_everything", "convulsions", "lethargic")


def consult(care: date = ON, **data) -> dict:
    return enc("consultation", care, diagnoses=[{"code": "other"}], **data)


@pytest.mark.parametrize("sign", IMCI_SIGNS)
def test_each_imci_danger_sign(sign):
    a = one(kid(consult(danger_signs=[sign])), f"child.imci_danger_sign.{sign}")
    assert a.severity == "urgent" and "Référer en urgence" in a.action


def test_imci_signs_match_the_domain_list():
    from appliance.domain.encounters import IMCI_DANGER_SIGNS

    assert set(IMCI_DANGER_SIGNS) == set(IMCI_SIGNS) == set(al._IMCI_SIGNS)


def test_imci_only_latest_and_recent_consultation():
    sick = consult(ON - timedelta(days=3), danger_signs=["convulsions"])
    assert not [c for c in codes(kid(sick, consult(ON))) if "imci" in c]
    assert [c for c in codes(kid(sick)) if "imci" in c]
    stale = consult(ON - timedelta(days=15), danger_signs=["convulsions"])
    assert not [c for c in codes(kid(stale)) if "imci" in c]
    assert not [c for c in codes(kid(consult(danger_signs=[]))) if "imci" in c]


# -- chronic care ------------------------------------------------------------------------------

MAN = {"id": "m1", "sex": "M", "birth_date": "1960-01-01"}


def chronic(care: date, condition: str = "hypertension", **data) -> dict:
    return enc("chronic", care, condition=condition, **data)


def chron(*encs: dict) -> list[al.Alert]:
    return al.chronic_alerts(MAN, list(encs), ON)


@pytest.mark.parametrize("days_late, raised", [(14, False), (15, True)])
def test_missed_follow_up_after_grace(days_late, raised):
    v = chronic(ON - timedelta(days=60), next_visit=iso(ON - timedelta(days=days_late)))
    assert ("chronic.missed_follow_up" in codes(chron(v))) is raised


def test_missed_follow_up_per_condition_with_severity():
    htn = chronic(ON - timedelta(days=90), next_visit=iso(ON - timedelta(days=30)))
    hiv = chronic(ON - timedelta(days=90), "hiv", next_visit=iso(ON - timedelta(days=30)))
    got = chron(htn, hiv)
    assert [(a.code, a.severity, a.encounter_id) for a in got] == [
        ("chronic.missed_follow_up", "moderate", htn["id"]),
        ("chronic.missed_follow_up", "high", hiv["id"]),
    ]
    assert "HTA" in got[0].reason and "30 jours" in got[0].reason


def test_a_later_visit_clears_the_missed_one():
    missed = chronic(ON - timedelta(days=90), next_visit=iso(ON - timedelta(days=30)))
    came = chronic(ON - timedelta(days=5), next_visit=iso(ON + timedelta(days=25)))
    assert chron(missed, came) == []


@pytest.mark.parametrize(
    "s, d, raised",
    [(179, 109, False), (180, 100, True), (170, 110, True), (180, 110, True)],
)
def test_bp_crisis(s, d, raised):
    got = chron(chronic(ON, bp_systolic=s, bp_diastolic=d))
    assert ("chronic.bp_crisis" in codes(got)) is raised
    if raised:
        assert one(got, "chronic.bp_crisis").severity == "urgent"


def test_bp_crisis_only_at_the_latest_visit():
    old = chronic(ON - timedelta(days=30), bp_systolic=190, bp_diastolic=115)
    assert "chronic.bp_crisis" not in codes(
        chron(old, chronic(ON, bp_systolic=150, bp_diastolic=95))
    )


# -- everything together -------------------------------------------------------------------------


def test_alerts_for_sorts_urgent_first_and_deduplicates():
    contact = anc(
        lmp=iso(LMP), parity=5, bp_systolic=145, bp_diastolic=95, danger_signs=["bleeding"]
    )
    got = al.alerts_for(WOMAN, [contact, contact], ON)
    assert [a.severity for a in got] == ["urgent", "high", "moderate"]
    assert codes(got) == [
        "anc.danger_sign.bleeding",
        "anc.hypertension.raised",
        "pregnancy.high_risk.grand_multiparity",
    ]


def test_alerts_for_ignores_anc_before_a_delivery():
    contact = anc(ON - timedelta(days=20), danger_signs=["bleeding"], previous_pph=True)
    delivery = enc("delivery", ON - timedelta(days=10))
    assert al.alerts_for(WOMAN, [contact, delivery], ON) == []
    assert al.alerts_for(WOMAN, [contact], ON) != []


def test_alerts_for_no_pregnancy_alerts_for_a_man():
    assert al.alerts_for(MAN, [anc(danger_signs=["bleeding"])], ON) == []


def test_alerts_for_combines_child_and_chronic():
    sick = consult(danger_signs=["lethargic"])
    thin = growth_on(ON, muac_mm=120)
    visit = chronic(ON - timedelta(days=40), "sickle_cell", next_visit=iso(ON - timedelta(days=20)))
    got = al.alerts_for(BOY, [thin, sick, visit], ON)
    assert codes(got) == [
        "child.imci_danger_sign.lethargic",
        "child.mam",
        "chronic.missed_follow_up",
    ]
