"""The stored follow-up items: always what a full recomputation gives for the same day,
whatever sequence of writes, corrections, voids, demographic changes and merges made them;
states derived in SQL exactly as in Python at every window edge; a rebuild killed half-way
goes on where it stopped."""

from __future__ import annotations

import contextlib
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.clinical import due as dl
from appliance.services import auth, encounters, follow_up, patients
from appliance.services.context import Context
from appliance.services.errors import ServiceError
from appliance.store import Store
from appliance.store.due_items import row_of

pytestmark = pytest.mark.component

START = datetime(2026, 10, 15, 9, 30, tzinfo=UTC)
VILLAGES = ("Kalaban", "Siby", None)
ANTIGENS = ("bcg", "opv", "penta", "pcv", "rota", "ipv", "mr", "yf", "hpv")
FP = ("pill_coc", "injectable_dmpa_im", "implant", "iud", "condom_male", "lam")
CONDITIONS = ("hypertension", "diabetes", "hiv", "tb")


class Clock:
    def __init__(self) -> None:
        self.t = START.timestamp()

    def __call__(self) -> float:
        return self.t

    @property
    def today(self) -> date:
        return datetime.fromtimestamp(self.t, UTC).date()


ops = st.lists(
    st.one_of(
        st.tuples(st.just("woman"), st.integers(15, 45), st.sampled_from(VILLAGES), st.booleans()),
        st.tuples(
            st.just("child"),
            st.integers(0, 15 * 365),
            st.sampled_from(VILLAGES),
            st.booleans(),
            st.integers(0, 50),
        ),
        st.tuples(
            st.just("vaccine"),
            st.integers(0, 50),
            st.sampled_from(ANTIGENS),
            st.integers(1, 3),
            st.integers(0, 400),
        ),
        st.tuples(st.just("weigh"), st.integers(0, 50), st.integers(0, 200)),
        st.tuples(
            st.just("anc"),
            st.integers(0, 50),
            st.integers(6, 42),
            st.integers(0, 60),
            st.one_of(st.none(), st.integers(1, 5)),
            st.one_of(st.none(), st.integers(1, 3)),
        ),
        st.tuples(st.just("delivery"), st.integers(0, 50), st.integers(0, 70), st.booleans()),
        st.tuples(
            st.just("postnatal"),
            st.integers(0, 50),
            st.sampled_from(["mother", "newborn"]),
            st.integers(0, 60),
        ),
        st.tuples(st.just("fp"), st.integers(0, 50), st.sampled_from(FP), st.integers(0, 400)),
        st.tuples(
            st.just("chronic"),
            st.integers(0, 50),
            st.sampled_from(CONDITIONS),
            st.integers(0, 300),
            st.one_of(st.none(), st.integers(-60, 120)),
        ),
        st.tuples(st.just("correct"), st.integers(0, 200), st.integers(1, 40)),
        st.tuples(st.just("void"), st.integers(0, 200)),
        st.tuples(st.just("update"), st.integers(0, 50), st.sampled_from(VILLAGES), st.booleans()),
        st.tuples(st.just("merge"), st.integers(0, 50), st.integers(0, 50)),
        st.tuples(st.just("night"), st.integers(1, 45)),
    ),
    min_size=5,
    max_size=40,
)


def _letters(n: int) -> str:
    return chr(65 + n % 26) + chr(97 + n // 26 % 26)


def _facility(tmp: Path, clock: Clock):
    store = Store(tmp / "keneya.db", create=True)
    store.set_setting("facility_code", "KLB")
    ctx = Context.open(store, machine_time=clock, boot_id="boot-1")
    admin = auth.add_staff(
        ctx, None, username="admin", display_name="A", role="admin", pin="482913"
    )
    admin = auth.login(ctx, "admin", pin="482913")
    auth.add_staff(ctx, admin, username="doc", display_name="D", role="doctor", pin="739104")
    return store, ctx, auth.login(ctx, "doc", pin="739104")


def _apply(ctx: Context, doc, clock: Clock, op: tuple, people: list[dict], encs: list[str]) -> None:
    today = clock.today
    kind = op[0]

    def pick(i: int, sex: str | None = None) -> dict | None:
        cands = [p for p in people if sex is None or p["sex"] == sex]
        return cands[i % len(cands)] if cands else None

    def born(p: dict) -> date:
        return date.fromisoformat(p["birth_date"])

    def add(p: dict | None, etype: str, data: dict) -> None:
        if p is None:
            return
        when = date.fromisoformat(data["care_date"])
        data["care_date"] = max(min(when, today), born(p)).isoformat()
        encs.append(encounters.add(ctx, doc, p["id"], etype, data)["id"])

    if kind == "woman":
        _, age, village, phone = op
        birth = today - timedelta(days=age * 365 + 100)
        people.append(
            patients.register(
                ctx,
                doc,
                {
                    "family_name": "Traoré",
                    "given_names": f"Awa {_letters(len(people))}",
                    "sex": "F",
                    "birth_date": birth.isoformat(),
                    "village": village,
                    "phone": f"76 00 {len(people):02d} 11" if phone else None,
                },
                accept_duplicates=True,
            )
        )
    elif kind == "child":
        _, age, village, phone, mother_i = op
        mother = pick(mother_i, "F")
        birth = today - timedelta(days=age)
        if mother is not None and (birth - born(mother)).days < 13 * 365:
            mother = None
        people.append(
            patients.register(
                ctx,
                doc,
                {
                    "family_name": "Diarra",
                    "given_names": f"Issa {_letters(len(people))}",
                    "sex": "F" if age % 2 else "M",
                    "birth_date": birth.isoformat(),
                    "village": village,
                    "phone": f"66 00 {len(people):02d} 22" if phone else None,
                    "mother_id": mother["id"] if mother else None,
                },
                accept_duplicates=True,
            )
        )
    elif kind == "vaccine":
        _, i, antigen, dose, ago = op
        add(
            pick(i),
            "immunization",
            {"care_date": str(today - timedelta(days=ago)), "antigen": antigen, "dose": dose},
        )
    elif kind == "weigh":
        _, i, ago = op
        add(pick(i), "growth", {"care_date": str(today - timedelta(days=ago)), "weight_kg": 8.0})
    elif kind == "anc":
        _, i, ga, ago, td, iptp = op
        care = today - timedelta(days=ago)
        data = {"care_date": care.isoformat(), "lmp": str(care - timedelta(weeks=ga))}
        if td:
            data["td_dose"] = td
        if iptp:
            data["iptp_dose"] = iptp
        add(pick(i, "F"), "anc", data)
    elif kind == "delivery":
        _, i, ago, with_child = op
        mother = pick(i, "F")
        child = pick(i + 1) if with_child else None
        data = {"care_date": str(today - timedelta(days=ago))}
        if child is not None and child is not mother:
            data["child_id"] = child["id"]
        add(mother, "delivery", data)
    elif kind == "postnatal":
        _, i, subject, day = op
        add(
            pick(i, "F"),
            "postnatal",
            {
                "care_date": str(today - timedelta(days=60 - day)),
                "subject": subject,
                "days_after_birth": day,
            },
        )
    elif kind == "fp":
        _, i, method, ago = op
        add(
            pick(i, "F"),
            "family_planning",
            {
                "care_date": str(today - timedelta(days=ago)),
                "method": method,
                "user": "new",
                "quantity": 3,
            },
        )
    elif kind == "chronic":
        _, i, cond, ago, nxt = op
        data = {"care_date": str(today - timedelta(days=ago)), "condition": cond}
        if nxt is not None:
            data["next_visit"] = str(today - timedelta(days=ago) + timedelta(days=max(nxt, 1)))
        add(pick(i), "chronic", data)
    elif kind in ("correct", "void") and encs:
        eid = encs[op[1] % len(encs)]
        if kind == "void":
            encounters.void(ctx, doc, eid, reason="wrong patient")
            return
        old = ctx.store.encounters.get(eid)
        data = {**old["data"]}
        moved = date.fromisoformat(data["care_date"]) - timedelta(days=op[2])
        data["care_date"] = max(moved, born(ctx.store.patients.get(old["patient_id"]))).isoformat()
        encs.append(encounters.correct(ctx, doc, eid, data, reason="wrong date")["id"])
    elif kind == "update" and people:
        _, i, village, phone = op
        p = pick(i)
        patients.update(
            ctx, doc, p["id"], {"village": village, "phone": "70 11 22 33" if phone else None}
        )
    elif kind == "merge" and len(people) > 1:
        _, i, j = op
        a, b = pick(i), pick(j)
        if a["id"] != b["id"] and a["sex"] == b["sex"]:
            patients.merge(ctx, doc, keep=a["id"], merge_from=b["id"], reason="same person")
            people.remove(b)
    elif kind == "night":
        clock.t += op[1] * 86400
        follow_up.rebuild(ctx)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ops)
def test_stored_items_equal_a_full_recomputation_after_any_writes(sequence):
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        store, ctx, doc = _facility(Path(tmp), clock)
        people: list[dict] = []
        encs: list[str] = []
        for op in sequence:
            # refused input (a date before birth, a closed record) writes nothing
            with contextlib.suppress(ServiceError, ValueError):
                _apply(ctx, doc, clock, op, people, encs)
        stored = store.due_items.all_rows()
        follow_up.rebuild(ctx)
        assert store.due_items.all_rows() == stored
        store.close()


def test_the_property_exercises_real_writes():
    """The generated sequences do write care (not only refused input): one fixed sequence."""
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        store, ctx, doc = _facility(Path(tmp), clock)
        people: list[dict] = []
        encs: list[str] = []
        for op in [
            ("woman", 25, "Siby", True),
            ("child", 100, None, False, 0),
            ("vaccine", 1, "penta", 1, 50),
            ("anc", 0, 20, 3, 1, None),
            ("correct", 0, 5),
            ("update", 0, "Kalaban", True),
            ("night", 3),
            ("fp", 0, "pill_coc", 10),
            ("void", 2),
        ]:
            _apply(ctx, doc, clock, op, people, encs)
        assert len(encs) == 4 and store.due_items.all_rows()
        # the child's items carry its mother's phone and village, changed by the update
        child_rows = [r for r in store.due_items.all_rows() if r[0] == people[1]["id"]]
        assert child_rows and all(r[10] == "Kalaban" for r in child_rows)
        stored = store.due_items.all_rows()
        follow_up.rebuild(ctx)
        assert store.due_items.all_rows() == stored
        store.close()


# -- states at the window edges: SQL and Python agree ----------------------------------------


def _edges(item: dl.DueItem) -> list[date]:
    days = [item.due_date, item.overdue_from, item.defaulter_from, item.ends_on]
    return sorted({d + timedelta(days=k) for d in days for k in (-1, 0, 1)})


EXAMPLES = {
    # kind: (patient, encounters) giving at least one item of that kind on ON
    "immunization": ("child", []),
    "growth_monitoring": ("child", []),
    "anc": ("woman", [("anc", 0, {"lmp": -16 * 7})]),
    "td": ("woman", [("anc", 0, {"lmp": -16 * 7})]),
    "iptp": ("woman", [("anc", 0, {"lmp": -16 * 7})]),
    "refer_delivery": ("woman", [("anc", -200, {"lmp": -40 * 7})]),
    "pnc": ("woman", [("delivery", -1, {})]),
    "family_planning": ("woman", [("family_planning", -80, {"method": "injectable_dmpa_im"})]),
    "chronic": ("woman", [("chronic", -20, {"condition": "hiv"})]),
}
ON = date(2026, 10, 15)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_each_kind_changes_state_at_its_window_edges_in_sql_as_in_python(store, kind):
    who, history = EXAMPLES[kind]
    birth = ON - timedelta(days=40) if who == "child" else date(1995, 1, 1)
    patient = {
        "id": "p1",
        "sex": "F",
        "birth_date": birth.isoformat(),
        "village": "Siby",
        "phone": None,
        "mother_id": None,
        "family_name": "Keita",
        "given_names": "Awa",
    }
    encs = []
    for n, (etype, ago, data) in enumerate(history):
        data = {k: (str(ON + timedelta(days=v)) if k == "lmp" else v) for k, v in data.items()}
        encs.append(
            {"id": f"e{n}", "type": etype, "care_date": str(ON + timedelta(days=ago)), "data": data}
        )
    items = [i for i in dl.due_for_patient(patient, encs, ON, horizon_days=100) if i.kind == kind]
    assert items, kind
    store.conn.execute(
        "INSERT INTO patients (id, sequence, health_number, family_name, given_names, sex,"
        " birth_date, registered_at, search_names, search_keys, family_key)"
        " VALUES ('p1', 1, 'KLB-1', 'Keita', 'Awa', 'F', ?, '2026-01-01', '', '', '')",
        (birth.isoformat(),),
    )
    store.due_items.replace(["p1"], [row_of(i, ON.isoformat()) for i in items])
    seen = set()
    for item in items:
        for day in _edges(item):
            expected = dl.state_on(
                day, item.due_date, item.overdue_from, item.defaulter_from, item.ends_on
            )
            where = follow_up._where(dl.STATES, None)
            params = {**follow_up._params(day, day, day + timedelta(days=200)), "village": None}
            _, rows = store.due_items.select(where, params)
            got = {r["reason_code"]: r["state"] for r in rows}.get(item.reason_code)
            assert got == expected, (item.reason_code, day)
            seen.add(expected)
    # every kind goes through its states and leaves the lists
    assert {"due", None} <= seen, (kind, seen)
    if not any(i.urgent for i in items):
        assert "overdue" in seen or kind == "pnc"


def test_window_edges_follow_the_rules_file():
    rules = dl.load_rules()
    child = {
        "id": "c",
        "sex": "M",
        "birth_date": str(ON - timedelta(days=42)),
        "village": None,
        "phone": None,
    }
    penta = next(
        i for i in dl.due_for_patient(child, [], ON, horizon_days=30) if i.reason_code == "penta:1"
    )
    w = rules.window("immunization", "penta:1")
    assert penta.due_date == ON
    assert penta.overdue_from == ON + timedelta(days=w.grace_days + 1)
    assert penta.defaulter_from == ON + timedelta(days=w.tracing_days + 1)
    assert penta.ends_on == ON + timedelta(days=w.list_until_days)
    # HIV care is traced after 28 days (WHO 2021), hypertension after 90 (HEARTS)
    assert rules.window("chronic", "chronic:hiv").tracing_days == 28
    assert rules.window("chronic", "chronic:hypertension").tracing_days == 90
    with pytest.raises(ValueError, match="grace <= tracing"):
        dl.parse_rules(
            {
                "kinds": {
                    k: {
                        "lookahead_days": 7,
                        "grace_days": 9,
                        "tracing_days": 3,
                        "list_until_days": 30,
                    }
                    for k in dl.KINDS
                }
            }
        )


# -- the nightly rebuild ---------------------------------------------------------------------


def test_a_rebuild_killed_half_way_resumes_and_ends_equal(tmp_path):
    from appliance.seed.facility import seed_facility

    db = tmp_path / "keneya.db"
    seed_facility(db, patients=400, seed=5, logins_dir=tmp_path, today=ON)
    clock = Clock()
    with Store(db) as store:
        ctx = Context.open(store, machine_time=clock, boot_id="b")
        built = store.due_items.all_rows()
        assert built and store.get_setting(follow_up.BUILT_ON) == ON.isoformat()
        assert not follow_up.needs_rebuild(ctx)
        clock.t += 86400  # the next day
        assert follow_up.needs_rebuild(ctx)

        class Killed(Exception):
            pass

        def die_after_two(done: int) -> None:
            if done >= 200:
                raise Killed

        with pytest.raises(Killed):
            follow_up.rebuild(ctx, batch=100, progress=die_after_two)
        assert follow_up.needs_rebuild(ctx)  # not complete
        done = follow_up.rebuild(ctx, batch=100)
        assert done["resumed"] and done["patients"] == 400 - 200
        assert not follow_up.needs_rebuild(ctx)
        resumed = store.due_items.all_rows()
        follow_up.rebuild(ctx, batch=1000)
        assert store.due_items.all_rows() == resumed
