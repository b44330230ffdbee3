"""The due list: one patient's items, their resolution, contact, priority, filters, groups."""

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.clinical import due as dl
from appliance.domain.encounters import CHRONIC_CONDITIONS

ON = date(2026, 10, 15)
_n = iter(range(10**9))


def days(n: int) -> date:
    return ON + timedelta(days=n)


def enc(kind: str, care: date, **data):
    return {"id": f"e{next(_n)}", "type": kind, "care_date": care.isoformat(), "data": data}


MOTHER = {
    "id": "m1",
    "sex": "F",
    "birth_date": "1998-03-02",
    "phone": "+22376000001",
    "village": "Siby",
    "mother_id": None,
    "family_name": "Keita",
    "given_names": "Fanta",
}


def child(age_days: int, **kw):
    p = {
        "id": "c1",
        "sex": "M",
        "birth_date": days(-age_days).isoformat(),
        "phone": None,
        "village": None,
        "mother_id": "m1",
    }
    return {**p, **kw}


def woman(**kw):
    return {**MOTHER, "id": "w1", **kw}


def codes(items):
    return {i.reason_code: i for i in items}


def due(patient, encounters=(), on=ON, **kw):
    return dl.due_for_patient(patient, list(encounters), on, **kw)


# --- DueItem -----------------------------------------------------------------------------


def test_to_json_keys_and_values():
    item = due(child(0), mother=MOTHER)[0]
    j = item.to_json()
    assert {
        "patient_id",
        "reason",
        "reason_code",
        "kind",
        "due_date",
        "days_overdue",
        "priority",
        "contact",
    } <= set(j)
    assert j["patient_id"] == "c1" and j["due_date"] == item.due_date.isoformat()
    assert j["kind"] in dl.KINDS
    j["contact"]["phone"] = "changed"
    assert item.contact["phone"] != "changed"


@pytest.mark.parametrize(
    ("kind", "status", "code", "expected"),
    [
        ("refer_delivery", "upcoming", "refer_delivery:41w", 1),
        ("pnc", "due", "pnc:mother:24h", 1),
        ("pnc", "due", "pnc:mother:j3", 3),
        ("immunization", "overdue", "penta:2", 2),
        ("anc", "overdue", "anc:3", 2),
        ("immunization", "due", "penta:2", 3),
        ("chronic", "upcoming", "chronic:hiv", 4),
    ],
)
def test_priority_table(kind, status, code, expected):
    assert dl.priority_of(kind, status, code) == expected


# --- contact -----------------------------------------------------------------------------


def test_child_without_phone_is_reached_through_the_mother():
    item = codes(due(child(0), mother=MOTHER))["bcg:1"]
    assert item.contact["phone"] == MOTHER["phone"]
    assert item.contact["phone_of"] == "mother"
    assert item.contact["village"] == "Siby"  # the child's own village is unknown
    assert item.contact["mother_given_names"] == "Fanta"


def test_child_with_its_own_phone_keeps_it():
    item = codes(due(child(0, phone="+22366000002", village="Kati"), mother=MOTHER))["bcg:1"]
    assert item.contact["phone"] == "+22366000002" and item.contact["village"] == "Kati"
    assert "phone_of" not in item.contact


def test_no_mother_no_phone():
    assert codes(due(child(0)))["bcg:1"].contact["phone"] is None


def test_an_adolescent_s_family_planning_reminder_never_goes_to_her_mother():
    girl = {**child(14 * 365, sex="F", id="g1"), "family_name": "Keita"}
    fp = enc("family_planning", days(-80), method="injectable_dmpa_im", user="new")
    item = codes(due(girl, [fp], mother=MOTHER))["fp:injectable_dmpa_im"]
    assert item.contact["phone"] is None and item.contact["family_name"] == "Keita"


# --- immunization ------------------------------------------------------------------------


def test_child_immunizations_and_resolution():
    c = child(75)
    given = [
        enc("immunization", days(-75), antigen="bcg", dose=1),
        enc("immunization", days(-75), antigen="opv", dose=0),
        enc("immunization", days(-33), antigen="penta", dose=1),
    ]
    items = codes(due(c, given))
    penta2 = items["penta:2"]
    assert penta2.kind == "immunization" and penta2.reason == "Penta 2 (vaccin)"
    assert penta2.due_date == days(-5) and penta2.days_overdue == 5 and penta2.priority == 3
    # giving Penta 2 removes the item; Penta 3 comes four weeks later
    after = codes(due(c, [*given, enc("immunization", ON, antigen="penta", dose=2)]))
    assert "penta:2" not in after
    assert "penta:3" in after and after["penta:3"].due_date == days(28)


def test_td_given_as_an_immunization_is_not_a_child_antigen():
    items = codes(due(child(0), [enc("immunization", ON, antigen="td", dose=1)]))
    assert not any(code.startswith("td") for code in items)


def test_hpv_for_a_girl_of_ten_only():
    assert "hpv:1" in codes(due(child(3652, sex="F")))
    assert "hpv:1" not in codes(due(child(3652, sex="M")))
    assert due(child(40 * 365, sex="M")) == []


def test_malaria_vaccine_flag_is_passed_through():
    assert "malaria:1" not in codes(due(child(152)))
    assert "malaria:1" in codes(due(child(152), malaria_vaccine=True))


def test_horizon_limits_upcoming_items():
    assert "penta:1" not in codes(due(child(0)))
    assert "penta:1" in codes(due(child(0), horizon_days=42))


# --- growth monitoring -------------------------------------------------------------------


def test_growth_monthly_under_two_years():
    item = codes(due(child(300), [enc("growth", days(-20), weight_kg=8.0)]))["growth:monthly"]
    assert item.due_date == days(10) and item.status == "upcoming" and item.priority == 4


def test_growth_quarterly_from_two_years():
    c = child(900)
    assert "growth:quarterly" not in codes(due(c, [enc("growth", days(-20), weight_kg=11.0)]))
    item = codes(due(c, [enc("growth", days(-80), weight_kg=11.0)]))["growth:quarterly"]
    assert item.due_date == days(11)


def test_growth_counts_weighings_only_and_stops_at_five_years():
    c = child(300)
    muac_only = [enc("growth", days(-200), weight_kg=6.0), enc("growth", days(-5), muac_mm=130)]
    item = codes(due(c, muac_only))["growth:monthly"]
    assert item.due_date == days(-170) and item.state == "defaulter"  # five sessions missed
    assert not any(i.kind == "growth_monitoring" for i in due(child(1826)))
    assert "growth:monthly" in codes(due(child(0), horizon_days=30))


# --- pregnancy ---------------------------------------------------------------------------

LMP = ON - timedelta(weeks=16)


def pregnant_at(ga_weeks: int, **extra):
    return enc("anc", LMP + timedelta(weeks=ga_weeks), lmp=LMP.isoformat(), **extra)


def test_pregnant_woman_anc_td_iptp():
    items = codes(due(woman(), [pregnant_at(16)]))
    assert items["anc:2"].due_date == LMP + timedelta(weeks=20)
    assert items["anc:2"].reason.startswith("CPN 2")
    assert items["td:1"].due_date == ON and items["td:1"].priority == 3
    assert items["iptp:1"].due_date == ON
    assert items["anc:2"].contact["phone"] == MOTHER["phone"]


def test_anc_overdue_after_a_week_and_resolved_by_a_visit():
    first = pregnant_at(10, td_dose=1, iptp_dose=None)
    on = LMP + timedelta(weeks=21, days=1)
    item = codes(due(woman(), [first], on=on))["anc:2"]
    assert item.status == "overdue" and item.priority == 2 and item.days_overdue == 8
    after = codes(due(woman(), [first, enc("anc", on)], on=on, horizon_days=60))
    assert "anc:2" not in after and after["anc:3"].due_date > item.due_date


def test_referral_at_41_weeks_has_top_priority():
    visits = [pregnant_at(w) for w in (12, 20, 26, 30, 34, 36, 38, 40)]
    on = LMP + timedelta(weeks=41)
    items = codes(due(woman(), visits, on=on))
    refer = items["refer_delivery:41w"]
    assert refer.kind == "refer_delivery" and refer.priority == 1 and refer.due_date == on
    ordered = dl.due_list(list(items.values()), on, on)
    assert ordered[0] is refer
    # the delivery ends the pregnancy and its items
    after = due(woman(), [*visits, enc("delivery", on)], on=on)
    assert not any(i.kind in ("anc", "refer_delivery", "td", "iptp") for i in after)


def test_td_from_previous_pregnancies_counts():
    old = enc("immunization", ON - timedelta(days=900), antigen="td", dose=2)
    items = codes(due(woman(), [old, pregnant_at(16)]))
    # dose 2 + 6 months ran out before this pregnancy: due at its first contact (today), and
    # listed at most until the pregnancy ends
    assert "td:3" in items and items["td:3"].state == "due" and items["td:3"].due_date == ON
    assert items["td:3"].ends_on == LMP + timedelta(days=44 * 7)


def test_no_pregnancy_items_for_a_man_or_without_dating():
    assert due({**woman(), "sex": "M"}, [pregnant_at(16)]) == []
    assert due(woman(), [enc("anc", ON)]) == []


# --- postnatal care ----------------------------------------------------------------------


def test_mother_and_newborn_pnc_after_a_delivery_without_child_record():
    items = codes(due(woman(), [enc("delivery", ON)]))
    assert items["pnc:mother:24h"].priority == 1
    assert items["pnc:newborn:24h"].priority == 1
    assert items["pnc:mother:24h"].reason == "CPoN mère 24 h"


def test_newborn_pnc_not_on_the_mother_when_the_baby_has_its_own_record_or_died():
    assert "pnc:newborn:24h" not in codes(due(woman(), [enc("delivery", ON, child_id="c9")]))
    stillbirth = enc("delivery", ON, outcome="stillbirth")
    assert "pnc:newborn:24h" not in codes(due(woman(), [stillbirth]))


def test_pnc_resolves_and_the_next_comes():
    delivered = enc("delivery", days(-3))
    items = codes(due(woman(), [delivered]))
    assert items["pnc:mother:j3"].status == "due" and "pnc:mother:24h" not in items
    visit = enc("postnatal", ON, subject="mother", days_after_birth=3)
    after = codes(due(woman(), [delivered, visit]))
    assert "pnc:mother:j3" not in after and "pnc:newborn:j3" in after
    assert after["pnc:mother:j7"].due_date == days(4)


def test_newborn_pnc_from_the_child_s_own_record():
    items = codes(due(child(1), [], mother=MOTHER))
    assert items["pnc:newborn:24h"].due_date == days(-1)
    assert items["pnc:newborn:24h"].contact["phone"] == MOTHER["phone"]
    visit = enc("postnatal", ON, subject="newborn", days_after_birth=1)
    assert "pnc:newborn:24h" not in codes(due(child(1), [visit]))
    assert not any(i.kind == "pnc" for i in due(child(61)))


def test_no_mother_pnc_after_60_days():
    assert not any(i.kind == "pnc" for i in due(woman(), [enc("delivery", days(-61))]))


# --- family planning ---------------------------------------------------------------------


def fp(care, method, user="continuing", **kw):
    return enc("family_planning", care, method=method, user=user, **kw)


def test_pills_quantity_cycles_of_28_days():
    item = codes(due(woman(), [fp(days(-80), "pill_coc", quantity=3)]))["fp:pill_coc"]
    assert item.due_date == days(4) and item.status == "upcoming"
    item = codes(due(woman(), [fp(days(-86), "pill_coc", quantity=3)]))["fp:pill_coc"]
    assert item.status == "due" and item.days_overdue == 2
    item = codes(due(woman(), [fp(days(-87), "pill_pop", quantity=3)]))["fp:pill_pop"]
    assert item.status == "overdue"


def test_dmpa_every_13_weeks_with_two_weeks_grace():
    item = codes(due(woman(), [fp(days(-91), "injectable_dmpa_im")]))["fp:injectable_dmpa_im"]
    assert item.due_date == ON and item.status == "due"
    item = codes(due(woman(), [fp(days(-105), "injectable_dmpa_sc")]))["fp:injectable_dmpa_sc"]
    assert item.status == "due" and item.days_overdue == 14
    item = codes(due(woman(), [fp(days(-106), "injectable_dmpa_im")]))["fp:injectable_dmpa_im"]
    assert item.status == "overdue" and item.priority == 2
    self_injection = fp(days(-100), "injectable_dmpa_sc", quantity=2)
    assert "fp:injectable_dmpa_sc" not in codes(due(woman(), [self_injection]))


def test_implant_three_years_from_insertion_configurable():
    inserted = fp(date(2023, 10, 20), "implant", user="new")
    check = fp(date(2025, 1, 10), "implant")
    item = codes(due(woman(), [inserted, check]))["fp:implant"]
    assert item.due_date == date(2026, 10, 20) and item.status == "upcoming"
    five = replace(dl.DEFAULT_CONFIG, implant_years=5)
    assert "fp:implant" not in codes(due(woman(), [inserted, check], config=five))


def test_removal_ends_the_method_and_a_new_insertion_restarts():
    inserted = fp(date(2023, 10, 20), "implant", user="new")
    removed = fp(date(2026, 9, 1), "implant", removal=True)
    assert due(woman(), [inserted, removed]) == []
    again = fp(date(2026, 9, 1), "implant", user="new")
    assert "fp:implant" not in codes(due(woman(), [inserted, again]))


def test_iud_ten_years_by_default():
    iud = fp(date(2016, 10, 25), "iud", user="new")
    assert codes(due(woman(), [iud]))["fp:iud"].due_date == date(2026, 10, 25)
    twelve = replace(dl.DEFAULT_CONFIG, iud_years=12)
    assert due(woman(), [iud], config=twelve) == []


def test_condoms_ten_a_month():
    item = codes(due(woman(), [fp(days(-80), "condom_male", quantity=30)]))["fp:condom_male"]
    assert item.due_date == days(11)  # 30 condoms * 365 / 120 = 91 days
    item = codes(due(woman(), [fp(days(-20), "condom_female")]))["fp:condom_female"]
    assert item.due_date == days(10)


def test_latest_method_only_and_permanent_methods_need_nothing():
    switched = [fp(days(-200), "pill_coc", quantity=1), fp(days(-80), "injectable_dmpa_im")]
    assert set(codes(due(woman(), switched))) == {"fp:injectable_dmpa_im"}
    assert due(woman(), [fp(days(-800), "tubal_ligation", user="new")]) == []


def test_lam_until_the_baby_is_six_months():
    encs = [enc("delivery", days(-170), child_id="c9"), fp(days(-160), "lam", user="new")]
    assert codes(due(woman(), encs))["fp:lam"].due_date == days(12)


# --- chronic -----------------------------------------------------------------------------


def test_chronic_next_visit_is_the_due_date():
    encs = [enc("chronic", days(-30), condition="hiv", next_visit=days(10).isoformat())]
    item = codes(due(woman(), encs))["chronic:hiv"]
    assert item.due_date == days(10) and item.reason == "Suivi VIH" and item.priority == 4


def test_chronic_default_interval_and_latest_visit_per_condition():
    encs = [
        enc("chronic", days(-100), condition="hypertension", next_visit=days(-70).isoformat()),
        enc("chronic", days(-25), condition="hypertension"),
        enc("chronic", days(-40), condition="diabetes"),
    ]
    items = codes(due(woman(), encs))
    assert items["chronic:hypertension"].due_date == days(5)  # 30 days, no next_visit
    assert items["chronic:diabetes"].due_date == days(-10)
    assert items["chronic:diabetes"].status == "overdue"  # more than 7 days late


def test_chronic_intervals_cover_every_condition():
    assert set(dl.DEFAULT_CONFIG.chronic_interval_days) == set(CHRONIC_CONDITIONS)


# --- due list, sorting, grouping ---------------------------------------------------------


def item(pid, urgent, due_date, village):
    """A chronic-care item (grace 7 days, tracing 90) seen on ON."""
    w = dl.load_rules().window("chronic", "chronic:x")
    overdue = due_date + timedelta(days=w.grace_days + 1)
    defaulter = due_date + timedelta(days=w.tracing_days + 1)
    ends = due_date + timedelta(days=w.list_until_days)
    return dl.DueItem(
        pid,
        "pnc" if urgent else "chronic",
        "x",
        "pnc:mother:24h" if urgent else f"chronic:{pid}",
        due_date,
        due_date - timedelta(days=7),
        overdue,
        defaulter,
        ends,
        urgent,
        {"village": village, "phone": None},
        dl.state_on(ON, due_date, overdue, defaulter, ends),
        max((ON - due_date).days, 0),
    )


def test_due_list_window_keeps_late_items_and_leaves_defaulters_apart():
    items = [
        item("a", False, days(-40), "Siby"),  # overdue
        item("b", False, days(3), "Siby"),
        item("c", False, days(20), "Kati"),
        item("d", False, days(-2), "Kati"),  # due
        item("e", False, days(-120), "Kati"),  # defaulter
    ]
    assert [i.state for i in items] == ["overdue", "upcoming", "upcoming", "due", "defaulter"]
    got = dl.due_list(items, ON, days(7))
    assert [i.patient_id for i in got] == ["a", "d", "b"]  # late items stay on every list
    assert [i.patient_id for i in dl.due_list(items, ON, days(30))] == ["a", "d", "b", "c"]
    assert [i.patient_id for i in dl.due_list(items, ON, days(30), village="Kati")] == ["d", "c"]
    assert [i.patient_id for i in dl.due_list(items, ON, ON, states=("defaulter",))] == ["e"]


def test_sorted_by_priority_then_due_date():
    items = [
        item("a", False, days(1), None),
        item("b", False, days(-10), None),
        item("c", False, days(-19), None),
        item("d", True, days(2), None),
        item("e", False, days(-3), None),
    ]
    assert [i.priority for i in items] == [4, 2, 2, 1, 3]
    assert [i.patient_id for i in dl.due_list(items, ON, days(5))] == ["d", "c", "b", "e", "a"]


def test_group_by_village():
    items = [
        item("a", False, days(1), "Siby"),
        item("b", False, days(-10), None),
        item("c", False, days(-10), "Siby"),
    ]
    groups = dl.group_by_village(items)
    assert list(groups) == [dl.UNKNOWN_VILLAGE, "Siby"]
    assert [i.patient_id for i in groups["Siby"]] == ["c", "a"]


# --- property: every item resolves when its encounter is recorded ------------------------


def resolving_encounter(item: dl.DueItem, encounters, patient):
    """The encounter a health worker records when acting on `item`, dated its due date."""
    code, when = item.reason_code, item.due_date
    head, _, rest = code.partition(":")
    if item.kind == "immunization":
        return enc("immunization", when, antigen=head, dose=int(rest))
    if item.kind == "anc":
        return enc("anc", when)
    if item.kind == "td":
        return enc("anc", when, td_dose=int(rest))
    if item.kind == "iptp":
        return enc("anc", when, iptp_dose=int(rest))
    if item.kind == "refer_delivery":
        # a birth cannot be recorded before the contact that dated the pregnancy
        last_anc = max(date.fromisoformat(e["care_date"]) for e in encounters if e["type"] == "anc")
        return enc("delivery", max(when, last_anc))
    if item.kind == "pnc":
        subject = rest.split(":")[0]
        births = [date.fromisoformat(e["care_date"]) for e in encounters if e["type"] == "delivery"]
        born = max(births) if births else date.fromisoformat(patient["birth_date"])
        return enc("postnatal", when, subject=subject, days_after_birth=(when - born).days)
    if item.kind == "growth_monitoring":
        return enc("growth", when, weight_kg=9.0)
    if item.kind == "family_planning":
        last = [e for e in encounters if e["type"] == "family_planning"][-1]["data"]
        return enc("family_planning", when, method=rest, user="new", quantity=last.get("quantity"))
    if item.kind == "chronic":
        return enc("chronic", when, condition=rest)
    raise AssertionError(item.kind)


def _same_track(a: dl.DueItem, b: dl.DueItem) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind == "immunization":
        return a.reason_code.split(":")[0] == b.reason_code.split(":")[0]
    if a.kind in ("pnc", "chronic", "family_planning"):
        return a.reason_code.split(":")[1] == b.reason_code.split(":")[1]
    return True


ANTIGEN_DOSES = {"bcg": 1, "opv": 3, "penta": 3, "pcv": 3, "rota": 3, "ipv": 1, "mr": 2}


@st.composite
def scenarios(draw):
    kind = draw(st.sampled_from(["child", "pregnant", "postpartum", "fp", "chronic"]))
    if kind == "child":
        age = draw(st.integers(0, 1900))
        p = child(age, sex=draw(st.sampled_from(["F", "M"])))
        encs = []
        for antigen, top in ANTIGEN_DOSES.items():
            for dose in range(1, draw(st.integers(0, top)) + 1):
                encs.append(
                    enc(
                        "immunization", days(-draw(st.integers(0, age))), antigen=antigen, dose=dose
                    )
                )
        if age and draw(st.booleans()):
            encs.append(enc("growth", days(-draw(st.integers(0, age))), weight_kg=7.0))
        return p, encs
    p = woman()
    if kind == "pregnant":
        ga = draw(st.integers(6 * 7, 42 * 7))
        lmp = days(-ga)
        first = draw(st.integers(4 * 7, ga))
        encs = [
            enc(
                "anc",
                lmp + timedelta(days=first),
                lmp=lmp.isoformat(),
                td_dose=draw(st.none() | st.integers(1, 5)),
                iptp_dose=draw(st.none() | st.integers(1, 3)),
            )
        ]
        for g in draw(st.lists(st.integers(first, ga), max_size=5)):
            encs.append(enc("anc", lmp + timedelta(days=g)))
        return p, encs
    if kind == "postpartum":
        born = days(-draw(st.integers(0, 60)))
        encs = [enc("delivery", born)]
        for d in draw(st.lists(st.integers(0, (ON - born).days), max_size=4)):
            subject = draw(st.sampled_from(["mother", "newborn"]))
            encs.append(
                enc("postnatal", born + timedelta(days=d), subject=subject, days_after_birth=d)
            )
        return p, encs
    if kind == "fp":
        method = draw(
            st.sampled_from(
                [
                    "pill_coc",
                    "pill_pop",
                    "injectable_dmpa_im",
                    "injectable_dmpa_sc",
                    "implant",
                    "iud",
                    "condom_male",
                ]
            )
        )
        qty = draw(st.none() | st.integers(1, 13))
        care = days(-draw(st.integers(0, 4000)))
        return p, [fp(care, method, user="new", quantity=qty)]
    cond = draw(st.sampled_from(CHRONIC_CONDITIONS))
    care = days(-draw(st.integers(1, 400)))
    nxt = draw(st.none() | st.integers(1, 120))
    data = {"condition": cond}
    if nxt:
        data["next_visit"] = (care + timedelta(days=nxt)).isoformat()
    return p, [enc("chronic", care, **data)]


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_every_item_resolves_when_its_encounter_is_recorded(case):
    patient, encounters = case
    for it in due(patient, encounters, mother=MOTHER):
        assert it.kind in dl.KINDS
        assert it.days_overdue == max(0, (ON - it.due_date).days)
        assert it.due_date <= days(30)
        later = max(ON, it.due_date)
        fed = [*encounters, resolving_encounter(it, encounters, patient)]
        after = due(patient, fed, on=later, mother=MOTHER)
        same = [x for x in after if _same_track(x, it)]
        assert all(x.due_date > it.due_date for x in same), (it, same)
        if it.kind in ("immunization", "anc", "td", "iptp", "refer_delivery"):
            assert it.reason_code not in {x.reason_code for x in after}
