"""Pregnancy dating, WHO 2016 ANC contacts, 41-week referral, Td, IPTp-SP and PNC."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.clinical import pregnancy as p

LMP = date(2026, 1, 5)


def wk(weeks: float, days: int = 0) -> date:
    return LMP + timedelta(days=round(weeks * 7) + days)


def anc(care: date, **data):
    return {"id": f"anc-{care}", "type": "anc", "care_date": care.isoformat(), "data": data}


def delivery(care: date, **data):
    return {"id": f"del-{care}", "type": "delivery", "care_date": care.isoformat(), "data": data}


def preg(*visits: date) -> p.Pregnancy:
    return p.Pregnancy(LMP, p.edd_from_lmp(LMP), "lmp", visits[0] if visits else LMP, visits)


# --- dating ------------------------------------------------------------------------------


def test_naegele_edd_is_lmp_plus_280_days():
    assert p.edd_from_lmp(date(2026, 1, 1)) == date(2026, 10, 8)


def test_gestational_age_and_lmp_from_it():
    assert p.gestational_age_days(LMP, wk(20)) == 140
    assert p.lmp_from_ga(20, wk(20)) == LMP
    assert p.lmp_from_ga(20.5, date(2026, 6, 1)) == date(2026, 6, 1) - timedelta(days=144)


# --- current pregnancy -------------------------------------------------------------------


def test_pregnancy_dated_by_lmp():
    got = p.current_pregnancy([anc(wk(10), lmp=LMP.isoformat())], [], wk(12))
    assert got.lmp == LMP and got.edd == p.edd_from_lmp(LMP) and got.dated_by == "lmp"
    assert got.anc_dates == (wk(10),)


def test_pregnancy_dated_by_gestational_age():
    got = p.current_pregnancy([anc(wk(16), gestational_age_weeks=16)], [], wk(18))
    assert got.lmp == LMP and got.dated_by == "gestational_age"


def test_latest_dated_contact_wins_and_lmp_is_preferred_within_a_contact():
    encs = [
        anc(wk(10), gestational_age_weeks=9),
        anc(wk(20), lmp=LMP.isoformat(), gestational_age_weeks=25),
        anc(wk(24)),  # no dating: counts as a visit, dating from the one before
    ]
    got = p.current_pregnancy(encs, [], wk(25))
    assert got.lmp == LMP and got.dated_on == wk(20)
    assert got.anc_dates == (wk(10), wk(20), wk(24))


def test_contacts_after_on_are_ignored():
    got = p.current_pregnancy([anc(wk(10), lmp=LMP.isoformat()), anc(wk(30))], [], wk(20))
    assert got.anc_dates == (wk(10),)


def test_a_delivery_after_the_contact_ends_the_pregnancy():
    encs = [anc(wk(30), lmp=LMP.isoformat())]
    assert p.current_pregnancy(encs, [delivery(wk(39))], wk(40)) is None
    assert p.current_pregnancy(encs, [delivery(wk(30))], wk(31)) is None
    # recorded ahead of `on`: not yet
    assert p.current_pregnancy(encs, [delivery(wk(39))], wk(38)) is not None


def test_more_than_44_weeks_since_lmp_ends_it():
    encs = [anc(wk(30), lmp=LMP.isoformat())]
    assert p.current_pregnancy(encs, [], wk(44)) is not None
    assert p.current_pregnancy(encs, [], wk(44, 1)) is None


def test_a_new_pregnancy_after_an_earlier_birth():
    old_lmp = LMP - timedelta(days=400)
    encs = [anc(old_lmp + timedelta(days=100), lmp=old_lmp.isoformat()), anc(wk(12), lmp=str(LMP))]
    got = p.current_pregnancy(encs, [delivery(LMP - timedelta(days=100))], wk(14))
    assert got.lmp == LMP and got.anc_dates == (wk(12),)


def test_no_dated_contact_no_pregnancy():
    assert p.current_pregnancy([anc(wk(12))], [], wk(14)) is None
    assert p.current_pregnancy([], [], wk(14)) is None


# --- ANC contacts ------------------------------------------------------------------------


def _contacts(visits, on):
    return [c for c in p.anc_schedule(preg(*visits), visits, on) if c.kind == "anc"]


def test_eight_contacts_at_the_who_weeks():
    got = _contacts([], wk(0))
    assert [c.number for c in got] == list(range(1, 9))
    assert [c.due_date for c in got] == [wk(w) for w in (12, 20, 26, 30, 34, 36, 38, 40)]
    assert all(c.status == "upcoming" for c in got)


def test_a_visit_in_the_window_counts_for_the_contact():
    got = _contacts([wk(11)], wk(12))
    assert got[0].number == 2 and got[0].due_date == wk(20)


def test_windows_run_from_the_previous_week_plus_one_to_before_the_next_contact():
    c2 = _contacts([wk(11)], wk(12))[0]
    assert c2.window_start == wk(13) and c2.window_end == wk(26) - timedelta(days=1)
    last = _contacts([wk(11)], wk(12))[-1]
    assert last.number == 8 and last.window_end == wk(41) - timedelta(days=1)


def test_overdue_seven_days_after_the_due_date():
    c = _contacts([wk(11)], wk(20, 7))[0]
    assert c.number == 2 and c.status == "due" and c.days_overdue == 7
    c = _contacts([wk(11)], wk(20, 8))[0]
    assert c.status == "overdue" and c.days_overdue == 8


def test_a_late_visit_makes_up_the_overdue_contact():
    got = _contacts([wk(11), wk(23)], wk(23))
    assert got[0].number == 3 and got[0].due_date == wk(26)


def test_a_missed_contact_drops_once_its_window_closes():
    got = _contacts([wk(11)], wk(26))
    assert got[0].number == 3  # contact 2 (20 w) was never made; its window ended
    assert got[0].status == "due"


def test_late_first_contact_schedules_only_the_remaining_contacts():
    got = _contacts([wk(30)], wk(30))
    assert [c.number for c in got] == [5, 6, 7, 8]
    assert [c.due_date for c in got] == [wk(34), wk(36), wk(38), wk(40)]


def test_a_second_visit_before_the_next_window_does_not_count():
    got = _contacts([wk(8), wk(11)], wk(11))
    assert got[0].number == 2


def test_referral_for_delivery_at_41_weeks():
    items = p.anc_schedule(preg(wk(12)), [wk(12)], wk(40))
    refer = items[-1]
    assert refer.kind == "refer_delivery" and refer.due_date == wk(41)
    assert refer.status == "upcoming"
    refer = p.anc_schedule(preg(wk(12)), [wk(12)], wk(41))[-1]
    assert refer.status == "due" and refer.days_overdue == 0
    refer = p.anc_schedule(preg(wk(12)), [wk(12)], wk(42))[-1]
    assert refer.status == "overdue" and refer.days_overdue == 7
    assert [c.kind for c in p.anc_schedule(preg(wk(12)), [wk(12)], wk(42))] == ["refer_delivery"]


# --- Td ----------------------------------------------------------------------------------


def test_td1_at_the_first_contact():
    t = p.td_due([], wk(20), first_contact=wk(16))
    assert t.dose == 1 and t.due_date == wk(16) and t.status == "due" and t.days_overdue == 28
    assert p.td_due([], wk(20)).due_date == wk(20)


@pytest.mark.parametrize(("prev", "gap"), [(1, 28), (2, 183), (3, 365), (4, 365)])
def test_td_minimum_intervals(prev, gap):
    history = [(n, wk(0) + timedelta(days=400 * (n - 1))) for n in range(1, prev + 1)]
    t = p.td_due(history, history[-1][1])
    assert t.dose == prev + 1
    assert t.due_date == history[-1][1] + timedelta(days=gap)
    assert t.status == "upcoming"


def test_td_overdue_after_grace_and_done_after_five():
    t = p.td_due([(1, wk(0))], wk(4, 29))
    assert t.status == "overdue"
    t = p.td_due([(1, wk(0))], wk(4, 28))
    assert t.status == "due"
    assert p.td_due([(n, wk(n * 60)) for n in range(1, 6)], wk(400)) is None


# --- IPTp-SP -----------------------------------------------------------------------------


def test_iptp_not_before_13_weeks():
    s = p.iptp_due(preg(wk(8)), [], wk(8))
    assert s.dose == 1 and s.due_date == wk(13) and s.status == "upcoming"


def test_iptp_not_before_the_first_contact():
    s = p.iptp_due(preg(wk(20)), [], wk(22))
    assert s.due_date == wk(20) and s.days_overdue == 14 and s.status == "overdue"


def test_iptp_doses_at_least_a_month_apart_until_delivery():
    s = p.iptp_due(preg(wk(14)), [(1, wk(14)), (2, wk(20))], wk(21))
    assert s.dose == 3 and s.due_date == wk(20, 30)
    assert p.iptp_due(preg(wk(14)), [(1, wk(14)), (4, wk(37))], wk(38)) is None  # past EDD


def test_iptp_from_a_previous_pregnancy_is_ignored():
    s = p.iptp_due(preg(wk(14)), [(3, LMP - timedelta(days=30))], wk(14))
    assert s.dose == 1


# --- PNC ---------------------------------------------------------------------------------

BORN = date(2026, 5, 1)


def pn(day: int, subject="mother", with_day=True):
    data = {"subject": subject}
    if with_day:
        data["days_after_birth"] = day
    when = BORN + timedelta(days=day)
    return {"id": f"pn-{day}", "type": "postnatal", "care_date": when.isoformat(), "data": data}


def pnc(encs, day, subject="mother"):
    return {c.code: c for c in p.pnc_schedule(BORN, encs, BORN + timedelta(days=day), subject)}


def test_pnc_four_contacts_from_birth():
    got = pnc([], 0)
    assert list(got) == ["24h", "j3", "j7", "6sem"]
    assert got["24h"].status == "due"
    assert [c.due_date for c in got.values()] == [BORN + timedelta(days=d) for d in (0, 2, 7, 42)]
    assert [(c.window_end - BORN).days for c in got.values()] == [1, 3, 14, 49]


def test_pnc_6_week_contact_is_due_on_day_42():
    # WHO 2013 postnatal care recommendations: the last contact is at 6 weeks
    assert pnc([], 41)["6sem"].status == "upcoming"
    got = pnc([], 42)["6sem"]
    assert got.status == "due" and got.due_date == BORN + timedelta(days=42)
    assert got.days_overdue == 0 and pnc([], 43)["6sem"].days_overdue == 1
    assert pnc([], 49)["6sem"].status == "due" and pnc([], 50)["6sem"].status == "overdue"
    assert "6sem" not in pnc([pn(36)], 41)  # a visit in weeks 5-7 still counts for it


def test_pnc_visit_in_a_window_completes_that_contact():
    assert "24h" not in pnc([pn(1)], 1)
    assert "j3" not in pnc([pn(3)], 3)
    assert "j7" not in pnc([pn(10)], 10)
    assert "6sem" not in pnc([pn(42)], 42)


def test_pnc_visit_outside_every_window_counts_for_nothing():
    got = pnc([pn(5)], 5)
    assert got["j3"].status == "overdue" and got["j3"].days_overdue == 3


def test_pnc_missed_contact_is_dropped_when_the_next_window_opens():
    assert "24h" in pnc([], 1)
    assert "24h" not in pnc([], 2)
    assert pnc([], 6)["j3"].status == "overdue"
    assert "j3" not in pnc([], 7)
    assert pnc([], 15)["j7"].status == "overdue"
    assert pnc([], 50)["6sem"].status == "overdue"
    assert pnc([], 61) == {}


def test_pnc_counts_only_the_subject_and_computes_the_day_when_missing():
    assert "24h" in pnc([pn(0, "newborn")], 0, "mother")
    assert "24h" not in pnc([pn(0, "newborn")], 0, "newborn")
    assert "j7" not in pnc([pn(9, with_day=False)], 9)


# --- properties --------------------------------------------------------------------------


@st.composite
def pregnancies(draw):
    ga_first = draw(st.integers(4 * 7, 40 * 7))
    first = LMP + timedelta(days=ga_first)
    extra = draw(st.lists(st.integers(ga_first, 43 * 7), max_size=8))
    visits = sorted({first, *(LMP + timedelta(days=d) for d in extra)})
    on = LMP + timedelta(days=draw(st.integers(ga_first, 44 * 7)))
    return [v for v in visits if v <= on], on


@settings(max_examples=300, deadline=None)
@given(pregnancies())
def test_anc_contacts_are_at_who_weeks_and_resolve_when_made(case):
    visits, on = case
    items = p.anc_schedule(preg(*visits), visits, on)
    assert items[-1].kind == "refer_delivery"
    for c in items[:-1]:
        assert c.due_date == LMP + timedelta(weeks=p.ANC_WEEKS[c.number - 1])
        assert c.window_end >= on  # a closed window is never listed
        assert (c.status == "overdue") == ((on - c.due_date).days > 7)
        # make the contact on its due date: it goes, and what is left is later
        later = max(on, c.due_date)
        after = p.anc_schedule(preg(*visits), sorted([*visits, c.due_date]), later)
        assert all(x.number != c.number for x in after if x.kind == "anc")
        assert all(x.due_date > c.due_date for x in after if x.kind == "anc")


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 60), st.lists(st.integers(0, 60), max_size=5), st.booleans())
def test_pnc_contacts_resolve_when_made(day, visit_days, mother):
    subject = "mother" if mother else "newborn"
    encs = [pn(d, subject) for d in visit_days if d <= day]
    for c in p.pnc_schedule(BORN, encs, BORN + timedelta(days=day), subject):
        d = (c.due_date - BORN).days
        later = BORN + timedelta(days=max(day, d))
        after = p.pnc_schedule(BORN, [*encs, pn(d, subject)], later, subject)
        assert all(x.number != c.number and x.due_date > c.due_date for x in after)
