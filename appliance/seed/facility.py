"""A realistic, deterministic synthetic facility for the demo, the tests and the benchmarks.

The same (seed, today) gives the same facility. Figures are plausible orders of magnitude for a
rural CSCom, not statistics: Mali's pyramid (about 47% under 15; UN WPP 2022), malaria,
respiratory infections and diarrhoea leading consultations (Mali's SLIS annual reports), ANC
attendance falling from ANC1 to ANC4, children reached by the EPI up to a point of the
schedule (Penta1→Penta3 drop-out), malnourished children treated and most recovering, the
dashboard's coverage rates near a CSCom's against its [population] (tests/component/
test_seed_dashboard.py), and a few deliberate near-duplicate registrations.
"""

from __future__ import annotations

import bisect
import json
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from appliance.clock import to_iso
from appliance.ids import health_number, uuid7_from
from appliance.seed.care import CarePlan
from appliance.services import auth, follow_up
from appliance.services.context import Context
from appliance.store import Store

FACILITY_CODE = "DEMO"
FACILITY_NAME = "CSCom de démonstration"
SEED_BOOT = "seed"
# (lowest age, highest age, share of the population)
AGE_BANDS = (
    (0, 4, 0.175),
    (5, 14, 0.295),
    (15, 24, 0.19),
    (25, 49, 0.25),
    (50, 64, 0.06),
    (65, 90, 0.03),
)
STAFF = (  # username, role, display name
    ("admin.keita", "admin", "Mariam Keïta"),
    ("dr.traore", "doctor", "Dr Moussa Traoré"),
    ("sf.coulibaly", "midwife", "Awa Coulibaly"),
    ("inf.diarra", "nurse", "Seydou Diarra"),
    ("mat.dembele", "matron", "Fatoumata Dembélé"),
    ("asc.sangare", "health_worker", "Bakary Sangaré"),
    ("tech.maiga", "technician", "Ibrahim Maïga"),
)


def _names() -> dict[str, Any]:
    return json.loads(
        resources.files("appliance.seed").joinpath("data/names.json").read_text(encoding="utf-8")
    )


class _Gen:
    def __init__(self, seed: int, today: date, years: int):
        self.seed = seed
        self.rng = random.Random(seed)
        self.today = today
        self.start = today - timedelta(days=365 * years)
        self.names = _names()
        self.families = [n for group in self.names["family_names"].values() for n in group]
        villages = self.names["villages"]
        self.villages = [v["name"] for v in villages]
        self.village_weights = [v["population_share"] for v in villages]

    def uid(self, moment: datetime) -> str:
        """A UUIDv7 whose time is `moment` and whose random bits come from the seed."""
        bits = self.rng.getrandbits(74)
        return uuid7_from(int(moment.timestamp() * 1000), bits >> 62, bits)

    def moment(self, day: date) -> datetime:
        return datetime(day.year, day.month, day.day, 8, tzinfo=UTC) + timedelta(
            minutes=self.rng.randrange(9 * 60)
        )

    def phone(self) -> str:
        prefix = self.rng.choice(self.names["phone_prefixes"])["prefix"]
        return (
            "+223" + prefix + "".join(str(self.rng.randrange(10)) for _ in range(8 - len(prefix)))
        )

    def given(self, sex: str) -> str:
        first = self.rng.choice(self.names["given_names"][sex])
        if self.rng.random() < 0.15:
            second = self.rng.choice(self.names["given_names"][sex])
            if second != first:
                return f"{first} {second}"
        return first

    def day_between(self, a: date, b: date) -> date:
        return a + timedelta(days=self.rng.randrange(max(1, (b - a).days + 1)))


def seed_facility(
    database: Path,
    *,
    patients: int,
    seed: int,
    years: int = 3,
    logins_dir: Path,
    today: date | None = None,
) -> dict[str, Any]:
    """Create a synthetic facility in an empty database; refuse to touch one with patients."""
    today = today or datetime.now(UTC).date()
    with Store(database, create=True) as store:
        if store.patients.count():
            raise ValueError(f"{database} already has patients: seed only an empty database")
        code = store.get_setting("facility_code")
        if code is None:
            store.set_setting("facility_code", FACILITY_CODE)
            store.set_setting("facility_name", FACILITY_NAME)
        code = store.get_setting("facility_code")
        gen = _Gen(seed, today, years)
        ctx = Context.open(store, boot_id=SEED_BOOT)
        staff, logins = _staff(ctx, gen)
        people, near_dups = _people(gen, patients, code, staff)
        store.patients.insert_many(people)
        by_type = _encounters(store, gen, people, staff)
        store.set_setting("seed_near_duplicates", str(near_dups))
        # written past the services: the follow-up items are built once, for the seed's day
        follow_up.rebuild(ctx, on=today)
        logins_dir.mkdir(parents=True, exist_ok=True)
        logins_file = logins_dir / "demo-logins.txt"
        logins_file.write_text("\n".join(logins) + "\n", encoding="utf-8")
        return {
            "facility_code": code,
            "facility_name": store.get_setting("facility_name"),
            "patients": store.patients.count(),
            "encounters": store.encounters.count(),
            "encounters_by_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
            "near_duplicates": near_dups,
            "logins_file": str(logins_file),
            "logins": logins,
            "seed": seed,
            "today": today.isoformat(),
        }


def _staff(ctx: Context, gen: _Gen) -> tuple[dict[str, str], list[str]]:
    ids, logins, admin = {}, [], None
    for username, role, name in STAFF:
        pin = "".join(str(gen.rng.randrange(10)) for _ in range(6))
        while len(set(pin)) < 3:
            pin = "".join(str(gen.rng.randrange(10)) for _ in range(6))
        row = auth.add_staff(
            ctx,
            admin,
            username=username,
            display_name=name,
            role=role,
            pin=pin,
            password=f"demo-{pin}",
        )
        if admin is None:
            admin = auth.login(ctx, username, pin=pin)
        ids[role] = row["id"]
        logins.append(f"{username} {role} {pin}")
    return ids, logins


def _person(
    gen: _Gen,
    seq: int,
    code: str,
    sex: str,
    birth: date,
    village: str,
    registered_by: str,
    **extra: Any,
) -> dict[str, Any]:
    registered = max(birth, gen.start) + timedelta(days=gen.rng.randrange(30))
    registered = min(registered, gen.today)
    at = gen.moment(registered)
    row = {
        "id": gen.uid(at),
        "sequence": seq,
        "health_number": health_number(code, seq),
        "family_name": extra.pop("family_name", None) or gen.rng.choice(gen.families),
        "given_names": gen.given(sex),
        "sex": sex,
        "birth_date": birth.isoformat(),
        "birth_date_estimated": 0,
        "village": village,
        "phone": None,
        "mother_id": None,
        "registered_by": registered_by,
        "registered_at": to_iso(at),
        "merged_into": None,
    }
    row.update(extra)
    if sex == "F" and row["family_name"].startswith("Ag "):
        # Tamasheq patronymics: "Ag" (son of) for men, "Walet" (daughter of) for women
        row["family_name"] = "Walet " + row["family_name"][3:]
    return row


def _people(
    gen: _Gen, n: int, code: str, staff: dict[str, str]
) -> tuple[list[dict[str, Any]], int]:
    rng, people = gen.rng, []
    n_dups = max(3, n // 200) if n >= 50 else 0
    n_real = n - n_dups
    ages = []
    for lo, hi, share in AGE_BANDS:
        # spread evenly over the band's years, and below over the days of each year: each
        # month's births are then as many (about the targets' surviving infants / 12), not a
        # draw that misses them by a third at 3,000 patients and scatters the coverage rates
        ages += [lo + i % (hi - lo + 1) for i in range(round(share * n_real))]
    ages = (ages + [rng.randint(15, 49) for _ in range(n_real)])[:n_real]
    adults_first = sorted(ages, reverse=True)
    of_age = Counter(ages)
    nth: Counter[int] = Counter()
    mothers_by_village: dict[str, tuple[list[int], list[dict[str, Any]]]] = {}
    registrar = staff["health_worker"]
    for age in adults_first:
        seq = len(people) + 1
        sex = rng.choice("FM")
        village = rng.choices(gen.villages, gen.village_weights)[0]
        day_of_year = int((nth[age] + rng.random()) * 365 / of_age[age])
        nth[age] += 1
        birth = gen.today - timedelta(days=age * 365 + day_of_year)
        extra: dict[str, Any] = {}
        if age >= 15:
            extra["birth_date_estimated"] = int(rng.random() < 0.35)
            if rng.random() < 0.55:
                extra["phone"] = gen.phone()
        else:
            # a woman of the same village who was 15 to 45 when the child was born
            births, mothers = mothers_by_village.get(village, ([], []))
            lo = bisect.bisect_left(births, (birth - timedelta(days=45 * 365)).toordinal())
            hi = bisect.bisect_right(births, (birth - timedelta(days=15 * 365)).toordinal())
            if hi > lo:
                mother = mothers[rng.randrange(lo, hi)]
                extra["mother_id"] = mother["id"]
                extra["phone"] = mother["phone"]
        person = _person(gen, seq, code, sex, birth, village, registrar, **extra)
        people.append(person)
        if sex == "F" and 15 <= age <= 49:
            births, mothers = mothers_by_village.setdefault(village, ([], []))
            at = bisect.bisect(births, birth.toordinal())
            births.insert(at, birth.toordinal())
            mothers.insert(at, person)
    # Near-duplicates: the same person registered again, another spelling, an estimated age.
    groups = gen.names["spelling_variants"]
    originals = [p for p in people if p["birth_date_estimated"] == 0 and p["sex"] == "F"]
    for i in range(n_dups):
        group = groups[i % len(groups)]
        original = rng.choice(originals)
        original["family_name"] = group[0]
        birth = date.fromisoformat(original["birth_date"])
        copy = _person(
            gen,
            len(people) + 1,
            code,
            original["sex"],
            birth.replace(month=1, day=1) if birth.month != 2 else birth,
            original["village"],
            registrar,
            family_name=group[1 % len(group)],
            given_names=original["given_names"],
            birth_date_estimated=1,
            phone=original["phone"],
        )
        copy["given_names"] = original["given_names"]
        people.append(copy)
    return people, n_dups


def _encounters(
    store: Store, gen: _Gen, people: list[dict[str, Any]], staff: dict[str, str]
) -> dict[str, int]:
    by_type: dict[str, int] = {}
    batch: list[dict[str, Any]] = []

    def add(person: dict[str, Any], kind: str, day: date, data: dict[str, Any], role: str) -> None:
        if day > gen.today or day < date.fromisoformat(person["birth_date"]):
            return
        at = gen.moment(day)
        batch.append(
            {
                "id": gen.uid(at),
                "patient_id": person["id"],
                "origin_patient_id": person["id"],
                "type": kind,
                "care_date": day.isoformat(),
                "data": {"care_date": day.isoformat(), **data},
                "supersedes": None,
                "correction_reason": None,
                "voided": False,
                "staff_id": staff[role],
                "recorded_at": to_iso(at),
                "clock_trusted": True,
                "boot_id": SEED_BOOT,
            }
        )
        by_type[kind] = by_type.get(kind, 0) + 1
        if len(batch) >= 20_000:
            store.encounters.insert_many(batch)
            batch.clear()

    plan = CarePlan(gen, add, people)
    for person in people:
        plan.for_person(person)
    store.encounters.insert_many(batch)
    return by_type
