"""The dashboard against a hand-counted small facility recorded through the services: doses and
contacts on the first and last days of months and across the new year, a corrected and a
voided encounter, a child turning 12 months; then the stored counts: a write in March makes
March (and only what it can change) computed again."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date

import pytest

from appliance.services import dashboard as service
from appliance.services import encounters, patients
from appliance.services.context import Context
from appliance.services.errors import PermissionDenied
from appliance.store import Store
from tests.conftest import PINS, keneya

pytestmark = pytest.mark.component
POPULATION = "[population]\ntotal = 10000\nyear = 2026\ngrowth_pct = 0.0\n"
FIC_DOSES = {  # Awa, born 2025-01-15: every 'fully immunized' dose before her first birthday
    "2025-01-15": [("bcg", 1)],
    "2025-02-28": [("penta", 1), ("opv", 1), ("pcv", 1), ("rota", 1)],
    "2025-03-31": [("penta", 2), ("opv", 2), ("pcv", 2), ("rota", 2)],
    "2025-04-30": [("penta", 3), ("opv", 3), ("pcv", 3), ("rota", 3)],
    "2025-10-16": [("mr", 1)],
}


def _person(ctx, actor, given, sex, born):
    return patients.register(
        ctx,
        actor,
        {"family_name": "Traoré", "given_names": given, "sex": sex, "birth_date": born,
         "village": "Kalaban"},
        accept_duplicates=True,
    )["id"]  # fmt: skip


@pytest.fixture
def facility(ctx, actors, tmp_path):
    mw, nurse = actors["midwife"], actors["nurse"]

    def add(actor, pid, kind, **data):
        return encounters.add(ctx, actor, pid, kind, data)

    def dose(pid, day, antigen, n):
        return add(mw, pid, "immunization", care_date=day, antigen=antigen, dose=n)

    people = {}
    people["awa"] = awa = _person(ctx, mw, "Awa", "F", "2025-01-15")
    for day, doses in FIC_DOSES.items():
        for antigen, n in doses:
            dose(awa, day, antigen, n)
    # Issa turns 12 months on 2025-06-15: Penta3 the day before counts, MR1 that day does not;
    # his Penta1 on 31 December 2024 belongs to 2024.
    people["issa"] = issa = _person(ctx, mw, "Issa", "M", "2024-06-15")
    dose(issa, "2024-12-31", "penta", 1)
    dose(issa, "2025-06-14", "penta", 3)
    dose(issa, "2025-06-15", "mr", 1)
    # Moussa's Penta1 written on 1 May, corrected to 30 April: April's
    people["moussa"] = moussa = _person(ctx, mw, "Moussa", "M", "2025-03-01")
    wrong = dose(moussa, "2025-05-01", "penta", 1)
    encounters.correct(
        ctx, mw, wrong["id"], {"care_date": "2025-04-30", "antigen": "penta", "dose": 1},
        reason="date",
    )  # fmt: skip
    # Sira's Penta1 was written on the wrong record and voided: nowhere
    people["sira"] = sira = _person(ctx, mw, "Sira", "F", "2025-05-05")
    encounters.void(ctx, mw, dose(sira, "2025-07-01", "penta", 1)["id"], reason="wrong record")

    # Fatou: first contact on 31 December 2025 at 10 weeks, the 4th (and IPTp3) in March 2026
    people["fatou"] = fatou = _person(ctx, mw, "Fatou", "F", "2000-01-01")
    add(mw, fatou, "anc", care_date="2025-12-31", contact_number=1, gestational_age_weeks=10)
    add(mw, fatou, "anc", care_date="2026-01-01", contact_number=2, iptp_dose=1)
    add(mw, fatou, "anc", care_date="2026-02-01", contact_number=3, iptp_dose=2)
    add(mw, fatou, "anc", care_date="2026-03-31", contact_number=4, iptp_dose=3)
    # Kadia: first contact at 17 weeks (from her LMP), delivered by a midwife on 1 August
    people["kadia"] = kadia = _person(ctx, mw, "Kadia", "F", "1998-05-05")
    add(mw, kadia, "anc", care_date="2026-03-01", contact_number=1, lmp="2025-11-01")
    add(mw, kadia, "delivery", care_date="2026-08-01", skilled_attendant=True)
    add(mw, kadia, "postnatal", care_date="2026-08-02", subject="mother", days_after_birth=1)
    add(mw, kadia, "postnatal", care_date="2026-08-03", subject="mother", days_after_birth=2)
    people["bakary"] = bakary = _person(ctx, mw, "Bakary", "M", "2026-08-01")
    add(mw, bakary, "postnatal", care_date="2026-08-01", subject="newborn", days_after_birth=0)
    # Mariam: first contact written at 11 weeks, corrected to 14; a home birth, seen on day 3
    people["mariam"] = mariam = _person(ctx, mw, "Mariam", "F", "1990-02-02")
    first = add(mw, mariam, "anc", care_date="2026-04-30", contact_number=1,
                gestational_age_weeks=11)  # fmt: skip
    encounters.correct(
        ctx, mw, first["id"],
        {"care_date": "2026-04-30", "contact_number": 1, "gestational_age_weeks": 14},
        reason="échographie",
    )  # fmt: skip
    add(mw, mariam, "delivery", care_date="2026-08-31", skilled_attendant=False, place="home")
    add(mw, mariam, "postnatal", care_date="2026-09-02", subject="mother", days_after_birth=3)

    # Oumar: severe acute malnutrition in May 2026, recovered in July; Awa moderate in June,
    # never seen again
    people["oumar"] = oumar = _person(ctx, mw, "Oumar", "M", "2024-01-01")
    add(mw, oumar, "growth", care_date="2026-05-10", muac_mm=110, weight_kg=8.0)
    add(mw, oumar, "growth", care_date="2026-07-10", muac_mm=130, weight_kg=10.0)
    add(mw, awa, "growth", care_date="2026-06-01", muac_mm=120, weight_kg=8.5)

    def consult(pid, day, codes, new=True):
        add(nurse, pid, "consultation", care_date=day, new_case=new,
            diagnoses=[{"code": c} for c in codes])  # fmt: skip

    consult(fatou, "2026-01-31", ["malaria_confirmed", "anaemia"])
    consult(issa, "2026-02-01", ["pneumonia"])
    consult(oumar, "2026-02-15", ["pneumonia"], new=False)

    facility_file = tmp_path / "facility.toml"
    facility_file.write_text(POPULATION)
    return people, facility_file


def _ind(data, code):
    return next(i for i in data["indicators"] if i["code"] == code)


def _month(data, code, month):
    return next(m for m in _ind(data, code)["monthly"] if m["month"] == month)


def _series(data, code):
    return [m["numerator"] for m in _ind(data, code)["monthly"]]


def test_immunization_of_2025(ctx, actors, facility):
    _, facility_file = facility
    data = service.dashboard(ctx, actors["doctor"], 2025, facility_file=facility_file)
    assert data["through"] == "2025-12" and len(data["months"]) == 12
    assert data["population"] == {
        "total": 10000,
        "expected_pregnancies": 400,
        "live_births": 380,
        "surviving_infants": 360,
        "under_five": 1800,
    }
    #                          J  F  M  A  M  J  J  A  S  O  N  D
    assert _series(data, "penta1") == [0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert _series(data, "penta3") == [0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]
    assert _series(data, "mr1") == [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert _month(data, "penta1", "2025-02") == {
        "month": "2025-02",
        "numerator": 1,
        "denominator": 30.0,
        "rate": 0.033,
        "by_sex": {"F": 1, "M": 0},
    }
    assert _month(data, "penta1", "2025-04")["by_sex"] == {"F": 0, "M": 1}
    assert _ind(data, "penta1")["to_date"][-1] == {
        "month": "2025-12",
        "numerator": 2,
        "denominator": 360.0,
        "rate": 0.006,
    }
    assert _ind(data, "penta3")["to_date"][5] == {
        "month": "2025-06",
        "numerator": 2,
        "denominator": 180.0,
        "rate": 0.011,
    }
    drops = {d["code"]: d["to_date"][-1] for d in data["dropouts"]}
    assert drops["penta1_penta3"] == {"month": "2025-12", "first": 2, "last": 2, "rate": 0.0}
    assert drops["penta1_mr1"] == {"month": "2025-12", "first": 2, "last": 1, "rate": 0.5}
    # Fatou's first contact on 31 December, at 10 weeks
    assert _series(data, "anc1")[11] == 1 and _series(data, "anc1_t1")[11] == 1
    assert sum(_series(data, "fic")) == 0  # Awa's first birthday is in January 2026


def test_penta1_of_2024_is_in_december(ctx, actors, facility):
    data = service.dashboard(ctx, actors["doctor"], 2024, facility_file=facility[1])
    assert _series(data, "penta1")[11] == 1 and sum(_series(data, "penta1")) == 1


def test_2026_to_october(ctx, actors, facility):
    data = service.dashboard(ctx, actors["admin"], 2026, facility_file=facility[1])
    assert data["through"] == "2026-10" and data["months"][-1] == "2026-10"
    #                          J  F  M  A  M  J  J  A  S  O
    assert _series(data, "fic") == [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert _month(data, "fic", "2026-01")["by_sex"] == {"F": 1, "M": 0}
    assert _series(data, "anc1") == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert _series(data, "anc1_t1") == [0] * 10  # Kadia at 17 weeks, Mariam corrected to 14
    assert _series(data, "anc4") == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert _series(data, "iptp3") == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert _series(data, "anc8") == [0] * 10
    anc1 = _ind(data, "anc1")
    assert anc1["annual_target"] == 400 and anc1["denominator"]["en"].startswith("expected preg")
    assert anc1["to_date"][3] == {
        "month": "2026-04",
        "numerator": 2,
        "denominator": 133.3,
        "rate": 0.015,
    }
    assert _month(data, "anc1", "2026-03")["by_sex"] is None
    assert _series(data, "skilled_births") == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert _series(data, "pnc48_mother") == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert _series(data, "pnc48_newborn") == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert _month(data, "pnc48_newborn", "2026-08")["by_sex"] == {"F": 0, "M": 1}
    assert _month(data, "skilled_births", "2026-08")["denominator"] == 31.7
    # nutrition
    assert _series(data, "weighed") == [0, 0, 0, 0, 1, 1, 1, 0, 0, 0]
    weighed_may = _month(data, "weighed", "2026-05")
    assert weighed_may["denominator"] == 1800 and weighed_may["rate"] == 0.001
    assert _ind(data, "weighed")["to_date"][4]["rate"] is None  # not added up
    assert _series(data, "sam_new") == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert _month(data, "sam_recovered", "2026-05") == {
        "month": "2026-05",
        "numerator": 1,
        "denominator": 1,
        "rate": 1.0,
        "by_sex": {"F": 0, "M": 1},
    }
    assert _series(data, "mam_new") == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert _series(data, "mam_not_seen") == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert sum(_series(data, "mam_recovered")) == 0
    # curative: new cases only, by sex and age; every diagnosis
    assert _series(data, "consultations") == [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    jan = _month(data, "consultations", "2026-01")
    assert jan["by_sex"] == {"F": 1, "M": 0} and jan["by_age"] == {"25-49y": 1}
    assert jan["denominator"] == 833.3 and jan["rate"] == 0.001
    assert _month(data, "consultations", "2026-02")["by_age"] == {"1-4y": 1}
    assert [(d["code"], d["n"], d["by_sex"]) for d in data["top_diagnoses"]] == [
        ("pneumonia", 2, {"F": 0, "M": 2}),
        ("anaemia", 1, {"F": 1, "M": 0}),
        ("malaria_confirmed", 1, {"F": 1, "M": 0}),
    ]
    # distinct patients seen in 2026, by age at their first visit of the year
    pyramid = {row["group"]: (row["F"], row["M"]) for row in data["pyramid"]}
    assert pyramid == {
        "0-11m": (0, 1),
        "1-4y": (1, 2),
        "5-14y": (0, 0),
        "15-24y": (0, 0),
        "25-49y": (3, 0),
        "50+y": (0, 0),
    }


def test_without_population_counts_only(ctx, actors, facility, tmp_path):
    data = service.dashboard(ctx, actors["doctor"], 2025, facility_file=tmp_path / "none.toml")
    assert data["population"] is None
    penta1 = _ind(data, "penta1")
    assert penta1["annual_target"] is None
    assert _month(data, "penta1", "2025-02")["denominator"] is None
    assert penta1["to_date"][-1] == {
        "month": "2025-12",
        "numerator": 2,
        "denominator": None,
        "rate": None,
    }


def test_permission_and_year(ctx, actors, facility):
    for role in ("doctor", "matron", "admin"):
        service.dashboard(ctx, actors[role], 2026, facility_file=facility[1])
    for role in ("midwife", "nurse", "health_worker", "technician"):
        with pytest.raises(PermissionDenied):
            service.dashboard(ctx, actors[role], 2026, facility_file=facility[1])
    with pytest.raises(ValueError, match="year must be from 2000 to 2026"):
        service.dashboard(ctx, actors["doctor"], 2027)


def test_a_write_in_march_recomputes_march_only(ctx, actors, facility):
    people, facility_file = facility
    store = ctx.store
    before = service.dashboard(ctx, actors["doctor"], 2026, facility_file=facility_file)
    # marks of other years stay until those years are asked for
    left = store.conn.execute(
        "SELECT COUNT(*) FROM dashboard_stale WHERE month BETWEEN '2026-01' AND '2026-10'"
    )
    assert left.fetchone()[0] == 0
    store.conn.execute("DELETE FROM dashboard_stale")
    store.dashboard.computed.clear()
    encounters.add(
        ctx, actors["nurse"], people["kadia"], "consultation",
        {"care_date": "2026-03-15", "new_case": True, "diagnoses": [{"code": "malaria_confirmed"}]},
    )  # fmt: skip
    stale = store.conn.execute("SELECT month, family FROM dashboard_stale ORDER BY 1, 2")
    # Kadia's first visit of 2026 was already in March (her ANC on 1 March)
    assert [tuple(r) for r in stale] == [("2026-03", "consultation"), ("2026-03", "seen")]
    after = service.dashboard(ctx, actors["doctor"], 2026, facility_file=facility_file)
    assert store.dashboard.computed == [("2026-03", "consultation"), ("2026-03", "seen")]
    assert _series(before, "consultations")[2] == 0 and _series(after, "consultations")[2] == 1
    assert _series(after, "consultations")[:2] == _series(before, "consultations")[:2]
    assert _month(after, "consultations", "2026-03")["by_age"] == {"25-49y": 1}
    store.dashboard.computed.clear()
    service.dashboard(ctx, actors["doctor"], 2026, facility_file=facility_file)
    assert store.dashboard.computed == []


def test_marks_follow_the_records(ctx, actors, facility):
    """A dose marks its month, the first-birthday month and the months it was due; a
    correction its old month too; a changed birth date every month of the record."""
    people, facility_file = facility
    store = ctx.store
    service.dashboard(ctx, actors["doctor"], 2026, facility_file=facility_file)

    def marks():
        rows = store.conn.execute("SELECT month, family FROM dashboard_stale ORDER BY 1, 2")
        found = [tuple(r) for r in rows]
        store.conn.execute("DELETE FROM dashboard_stale")
        return found

    marks()  # those of the other years
    dose = encounters.add(
        ctx, actors["midwife"], people["bakary"], "immunization",
        {"care_date": "2026-09-30", "antigen": "penta", "dose": 1},
    )  # fmt: skip
    # due at 42 days: 12 September; first birthday August 2027
    assert marks() == [
        ("2026-09", "followup"),
        ("2026-09", "immunization"),
        ("2026-09", "seen"),
        ("2027-08", "fic"),
    ]
    encounters.correct(
        ctx, actors["midwife"], dose["id"],
        {"care_date": "2026-10-01", "antigen": "penta", "dose": 1}, reason="date",
    )  # fmt: skip
    assert ("2026-09", "immunization") in marks()
    # the contacts of a pregnancy after the one corrected: Fatou's milestones may move
    contact = store.conn.execute(
        "SELECT id FROM encounters WHERE patient_id = ? AND care_date = '2026-01-01'",
        (people["fatou"],),
    ).fetchone()[0]
    encounters.correct(
        ctx, actors["midwife"], contact,
        {"care_date": "2026-01-01", "contact_number": 2, "iptp_dose": 2}, reason="dose",
    )  # fmt: skip
    anc = [m for m, f in marks() if f == "anc"]
    assert anc == ["2026-01", "2026-02", "2026-03"]
    patients.update(ctx, actors["doctor"], people["oumar"], {"birth_date": "2023-12-01"})
    assert {m for m, f in marks() if f == "*"} == {"2026-02", "2026-05", "2026-07"}


def test_a_later_visit_without_measures_is_no_recovery(ctx, actors, facility):
    """Nana, MAM in September 2026, weighed in October without a height (no status): not
    recovered (and seen, so not « not seen again »); Issa, measured normal after MAM:
    recovered."""
    people, facility_file = facility
    mw = actors["midwife"]
    encounters.add(ctx, mw, people["issa"], "growth", {"care_date": "2026-09-05", "muac_mm": 120})
    encounters.add(ctx, mw, people["issa"], "growth", {"care_date": "2026-10-05", "muac_mm": 135})
    young = _person(ctx, mw, "Nana", "F", "2025-06-01")
    encounters.add(ctx, mw, young, "growth", {"care_date": "2026-09-10", "muac_mm": 120})
    encounters.add(ctx, mw, young, "growth", {"care_date": "2026-10-10", "weight_kg": 9.0})
    data = service.dashboard(ctx, actors["doctor"], 2026, facility_file=facility_file)
    assert _series(data, "mam_new")[8] == 2
    assert _series(data, "mam_recovered")[8] == 1  # Issa only
    assert _series(data, "mam_not_seen")[8] == 0


def test_growth_statuses_are_stored_and_forgotten_with_the_birth_date(ctx, actors, facility):
    """Each growth visit's status is worked out once and stored; a changed birth date forgets
    the child's statuses, and the counts follow the new age."""
    people, facility_file = facility
    store = ctx.store

    def statuses(pid):
        rows = store.conn.execute(
            "SELECT e.care_date, g.status FROM dashboard_growth_status g"
            " JOIN encounters e ON e.id = g.encounter_id WHERE e.patient_id = ? ORDER BY 1",
            (pid,),
        )
        return [tuple(r) for r in rows]

    data = service.dashboard(ctx, actors["doctor"], 2026, facility_file=facility_file)
    assert _series(data, "sam_new")[4] == 1 and _series(data, "sam_recovered")[4] == 1
    assert statuses(people["oumar"]) == [("2026-05-10", "sam"), ("2026-07-10", "normal")]
    assert statuses(people["awa"]) == [("2026-06-01", "mam")]
    # Oumar was five already in May: no longer counted among the under-fives
    patients.update(ctx, actors["doctor"], people["oumar"], {"birth_date": "2020-01-01"})
    assert statuses(people["oumar"]) == []
    data = service.dashboard(ctx, actors["doctor"], 2026, facility_file=facility_file)
    assert _series(data, "sam_new")[4] == 0 and _series(data, "weighed")[4] == 0
    assert _series(data, "mam_new")[5] == 1  # Awa's, kept


def test_the_stored_counts_as_they_are_then_the_background_refresh(
    ctx, actors, facility, fake_time
):
    """Without counting, the dashboard reads the stored counts at once: months never
    computed are said incomplete, months made stale by a write keep their stored counts and
    are listed as pending; the background refresh brings them to the full count."""
    people, facility_file = facility
    store = ctx.store
    doctor = actors["doctor"]
    full = service.dashboard(ctx, doctor, 2025, facility_file=facility_file)
    assert full["pending"] == [] and full["incomplete"] is False
    with store.transaction() as conn:
        conn.execute("DELETE FROM dashboard_fresh")
        conn.execute("DELETE FROM dashboard_counts")
    cold = service.dashboard(ctx, doctor, 2025, facility_file=facility_file, compute=False)
    assert cold["pending"] == full["months"] and cold["incomplete"] is True
    assert _series(cold, "penta1") == [0] * 12  # nothing computed yet

    @contextmanager
    def own_context():
        with Store(store.path) as own:
            yield Context.open(own, machine_time=fake_time, boot_id="boot-1")

    assert service.refresh_in_background(own_context, 2025, wait_s=120)
    warm = service.dashboard(ctx, doctor, 2025, facility_file=facility_file, compute=False)
    assert warm["pending"] == [] and warm["incomplete"] is False
    assert warm["indicators"] == full["indicators"]

    encounters.add(
        ctx, actors["midwife"], people["sira"], "immunization",
        {"care_date": "2025-09-10", "antigen": "penta", "dose": 1},
    )  # fmt: skip
    late = service.dashboard(ctx, doctor, 2025, facility_file=facility_file, compute=False)
    assert late["incomplete"] is False and "2025-09" in late["pending"]
    assert late["indicators"] == full["indicators"]  # the stored counts, until recomputed
    assert service.refresh_in_background(own_context, 2025, wait_s=120)
    now = service.dashboard(ctx, doctor, 2025, facility_file=facility_file, compute=False)
    assert now["pending"] == []
    assert _series(now, "penta1")[8] == _series(full, "penta1")[8] + 1


def test_a_whole_month_mark_survives_a_count_stopped_halfway(ctx, actors, facility):
    """A changed birth date marks every family of the child's months; a count cut after the
    first family of a month (a power cut, a killed web app) leaves the others marked."""
    people, facility_file = facility
    store = ctx.store
    service.dashboard(ctx, actors["doctor"], 2026, facility_file=facility_file)
    patients.update(ctx, actors["doctor"], people["oumar"], {"birth_date": "2020-01-01"})
    _schedule, rules = service._rules(ctx)
    marks_until, todo, _missing = service._out_of_date(ctx, ["2026-05"], rules)
    assert todo == [("2026-05", f) for f in service.defs.FAMILIES]
    first = todo[0][1]  # counted, then the power goes
    store.dashboard.replace(
        "2026-05",
        first,
        service.defs.FAMILY_CODES[first],
        {},
        marks_until=marks_until,
        computed_at="2026-10-01T00:00:00Z",
    )
    assert service._out_of_date(ctx, ["2026-05"], rules)[1] == todo[1:]
    data = service.dashboard(ctx, actors["doctor"], 2026, facility_file=facility_file)
    assert _series(data, "weighed")[4] == 0 and _series(data, "sam_new")[4] == 0


def test_a_status_worked_out_from_an_old_birth_date_is_not_kept(ctx, actors, facility):
    """The birth date changed while a month was being counted: the status worked out from
    the old one is not stored (the trigger's forgetting came first)."""
    people, _ = facility
    store = ctx.store
    visit = store.conn.execute(
        "SELECT id FROM encounters WHERE patient_id = ? AND type = 'growth'", (people["awa"],)
    ).fetchone()[0]
    store.dashboard.keep_growth_statuses([(visit, "mam", "F", date(2019, 1, 1))])
    kept = store.conn.execute("SELECT COUNT(*) FROM dashboard_growth_status").fetchone()[0]
    assert kept == 0
    store.dashboard.keep_growth_statuses([(visit, "mam", "F", date(2025, 1, 15))])
    kept = store.conn.execute("SELECT status FROM dashboard_growth_status").fetchall()
    assert [tuple(r) for r in kept] == [("mam",)]


def test_cli_json_and_table(tmp_path, facility, ctx):
    home = tmp_path
    # the fixture's store lives in tmp_path as keneya.db: the CLI reads the same
    (home / "facility.toml").write_text(POPULATION)
    out = keneya(home, "dashboard", "--year", "2025", "--json", "--as", "doctor",
                 pin=PINS["doctor"])  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["year"] == 2025 and _series(data, "penta1")[1] == 1
    assert set(data) >= {"indicators", "dropouts", "pyramid", "top_diagnoses", "follow_up"}
    table = keneya(home, "dashboard", "--year", "2025", "--as", "doctor", pin=PINS["doctor"])
    assert table.returncode == 0, table.stderr
    assert "Penta1 — dénominateur : enfants survivants (cible) 360" in table.stdout
    assert "  2025-02       1       30    3 %        1       60    2 %" in table.stdout
    bad = keneya(home, "dashboard", "--year", "1990", "--as", "doctor", pin=PINS["doctor"])
    assert bad.returncode != 0
    assert bad.stderr.strip().count("\n") == 0 and "year must be from 2000" in bad.stderr
    (home / "facility.toml").write_text("[population]\ntotal = -5\nyear = 2026\n")
    bad = keneya(home, "dashboard", "--year", "2025", "--as", "doctor", pin=PINS["doctor"])
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0
    assert "[population] total must be a whole number" in bad.stderr
