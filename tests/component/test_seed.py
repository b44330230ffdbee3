"""The synthetic facility: deterministic, valid, and shaped like a real CSCom."""

from __future__ import annotations

import json
from datetime import date

import pytest

from appliance.domain.encounters import validate
from appliance.seed.care import HPV_INTRODUCED
from appliance.seed.facility import seed_facility
from appliance.services.context import Context
from appliance.services.patients import find_duplicates
from appliance.store import Store

pytestmark = pytest.mark.component
TODAY = date(2026, 11, 1)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    home = tmp_path_factory.mktemp("seed")
    summary = seed_facility(
        home / "a.db", patients=1500, seed=11, years=3, logins_dir=home, today=TODAY
    )
    with Store(home / "a.db") as store:
        yield store, summary, home


def test_same_seed_same_facility(seeded, tmp_path):
    store, summary, _ = seeded
    seed_facility(
        tmp_path / "b.db", patients=1500, seed=11, years=3, logins_dir=tmp_path, today=TODAY
    )
    with Store(tmp_path / "b.db") as other:
        cols = "id, family_name, given_names, birth_date, village"
        assert other.query(f"SELECT {cols} FROM patients ORDER BY sequence") == store.query(
            f"SELECT {cols} FROM patients ORDER BY sequence"
        )
        assert other.counts()["encounters"] == summary["encounters"]


def test_every_seeded_encounter_passes_the_models(seeded):
    store, _, _ = seeded
    births = dict(store.conn.execute("SELECT id, birth_date FROM patients"))
    for row in store.conn.execute("SELECT patient_id, type, data FROM encounters"):
        validate(
            row["type"],
            json.loads(row["data"]),
            today=TODAY,
            birth_date=date.fromisoformat(births[row["patient_id"]]),
        )


def test_age_pyramid_and_mothers(seeded):
    store, _, _ = seeded
    n = store.counts()["patients"]
    under15 = store.query_one(
        "SELECT COUNT(*) AS n FROM patients WHERE birth_date > ?",
        (date(TODAY.year - 15, TODAY.month, TODAY.day).isoformat(),),
    )["n"]
    assert 0.42 <= under15 / n <= 0.52
    linked = store.query_one(
        "SELECT COUNT(*) AS n FROM patients c JOIN patients m"
        " ON c.mother_id = m.id WHERE m.sex = 'F'"
    )["n"]
    assert linked > 0.5 * under15


def test_care_patterns(seeded):
    store, summary, _ = seeded
    by = summary["encounters_by_type"]
    assert max(by, key=by.get) == "consultation"

    def count(sql):
        return store.query_one(sql)["n"]

    top = store.query(
        "SELECT json_extract(data, '$.diagnoses[0].code') AS code, COUNT(*) AS n"
        " FROM encounters WHERE type = 'consultation' GROUP BY 1 ORDER BY 2 DESC"
    )
    assert {r["code"] for r in top[:3]} <= {
        "malaria_confirmed",
        "respiratory_infection",
        "diarrhoea",
        "malaria_suspected",
    }
    anc1 = count(
        "SELECT COUNT(*) AS n FROM encounters WHERE type = 'anc'"
        " AND json_extract(data, '$.contact_number') = 1"
    )
    anc4 = count(
        "SELECT COUNT(*) AS n FROM encounters WHERE type = 'anc'"
        " AND json_extract(data, '$.contact_number') = 4"
    )
    penta1 = count(
        "SELECT COUNT(*) AS n FROM encounters WHERE type = 'immunization'"
        " AND json_extract(data, '$.antigen') = 'penta'"
        " AND json_extract(data, '$.dose') = 1"
    )
    penta3 = count(
        "SELECT COUNT(*) AS n FROM encounters WHERE type = 'immunization'"
        " AND json_extract(data, '$.antigen') = 'penta'"
        " AND json_extract(data, '$.dose') = 3"
    )
    assert anc1 > anc4 > 0
    assert penta1 > penta3 > 0
    low_muac = count(
        "SELECT COUNT(*) AS n FROM encounters WHERE type = 'growth'"
        " AND json_extract(data, '$.muac_mm') < 125"
    )
    assert low_muac > 0


def test_planted_near_duplicates_are_found(seeded):
    store, summary, _ = seeded
    ctx = Context.open(store, boot_id="test")
    dups = store.query(
        "SELECT * FROM patients WHERE sequence > ?",
        (summary["patients"] - summary["near_duplicates"],),
    )
    assert len(dups) == summary["near_duplicates"] >= 3
    found = 0
    for d in dups:
        others = [c for c in find_duplicates(ctx, d) if c["id"] != d["id"]]
        found += bool(others)
    assert found == len(dups)


def test_logins_file(seeded):
    _, summary, home = seeded
    lines = (home / "demo-logins.txt").read_text().splitlines()
    assert len(lines) == 7
    assert {line.split()[1] for line in lines} == {
        "admin",
        "doctor",
        "midwife",
        "nurse",
        "matron",
        "health_worker",
        "technician",
    }


def test_seeding_a_database_with_patients_is_refused(seeded):
    store, _, home = seeded
    with pytest.raises(ValueError, match="empty"):
        seed_facility(store.path, patients=10, seed=1, logins_dir=home)


def test_hpv_reached_about_half_of_the_girls_since_its_introduction(seeded):
    store, _, _ = seeded
    given = store.query(
        "SELECT p.sex, p.birth_date, e.care_date FROM encounters e"
        " JOIN patients p ON p.id = e.patient_id"
        " WHERE e.type = 'immunization' AND json_extract(e.data, '$.antigen') = 'hpv'"
    )
    assert given
    for row in given:
        born, day = date.fromisoformat(row["birth_date"]), date.fromisoformat(row["care_date"])
        assert row["sex"] == "F"
        assert day >= HPV_INTRODUCED
        assert 9 <= (day - born).days / 365.25 < 15
    # the target: girls 10 years old in the introduction's year or since, now 10-14
    cohort = store.query(
        "SELECT p.id, EXISTS (SELECT 1 FROM encounters e WHERE e.patient_id = p.id"
        "  AND json_extract(e.data, '$.antigen') = 'hpv') AS vaccinated"
        " FROM patients p WHERE p.sex = 'F' AND p.birth_date >= ? AND p.birth_date <= ?",
        (f"{HPV_INTRODUCED.year - 10}-01-01", f"{TODAY.year - 11}-{TODAY:%m-%d}"),
    )
    share = sum(r["vaccinated"] for r in cohort) / len(cohort)
    assert 0.35 <= share <= 0.6


def test_no_girl_is_listed_for_hpv_years_late(seeded):
    store, _, _ = seeded
    late = store.query_one(
        "SELECT COUNT(*) AS n, MIN(due_date) AS oldest FROM due_items"
        " WHERE kind = 'immunization' AND reason_code LIKE 'hpv:%' AND ends_on >= ?",
        (TODAY.isoformat(),),
    )
    girls = store.query_one(
        "SELECT COUNT(*) AS n FROM patients WHERE sex = 'F' AND birth_date > ? AND birth_date <= ?",
        (f"{TODAY.year - 15}-{TODAY:%m-%d}", f"{TODAY.year - 9}-{TODAY:%m-%d}"),
    )["n"]
    # unvaccinated girls of about one birth year at most, never the whole 9-14 population
    assert 0 < late["n"] < girls / 6
    assert (TODAY - date.fromisoformat(late["oldest"])).days <= 366
