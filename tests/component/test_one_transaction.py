"""One action, one transaction: a writer killed at random moments (a power cut, the OOM killer)
never leaves a patient or an encounter version without its audit row.

The writer is a forked child (a fresh interpreter per restart would spend the test's time
importing); it opens its own connection after the fork, as another process on the Pi would.
"""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
from datetime import date

import pytest

from appliance.seed.facility import seed_facility
from appliance.services import audit, auth, encounters, patients
from appliance.services.context import Context
from appliance.store import Store

pytestmark = pytest.mark.component

KILLS = 120
WRITER = "dr.traore"  # the seed's doctor: may register, record, correct and void
NAMES = ("Awa", "Fanta", "Moussa", "Seydou", "Kadiatou", "Oumar", "Mariam", "Bakary")
# the expected audit action for each kind of encounter version
ACTION = """CASE WHEN e.voided THEN 'encounter.void'
                 WHEN e.supersedes IS NOT NULL THEN 'encounter.correct'
                 ELSE 'encounter.add' END"""


def _open_version(store: Store, rng: random.Random) -> str | None:
    """A consultation that is the latest, not voided, version of its encounter."""
    rows = store.query(
        "SELECT id FROM encounters e WHERE type = 'consultation' AND voided = 0"
        " AND NOT EXISTS (SELECT 1 FROM encounters s WHERE s.supersedes = e.id)"
        " ORDER BY id DESC LIMIT 50"
    )
    return rng.choice(rows)["id"] if rows else None


def _write_forever(database, actor, patient_ids: list[str], out: int, seed: int) -> None:
    """The child: register, record, correct and void without end; one byte on `out` before
    each service call, so the parent kills it while it writes."""
    rng = random.Random(seed)
    with Store(database, migrate=False) as store:
        ctx = Context.open(store, boot_id="kill-test")
        for i in range(10**9):
            today = ctx.now().today
            op = rng.choice(("register", "add", "add", "correct", "void"))
            os.write(out, b"w")
            if op == "register":
                row = patients.register(
                    ctx,
                    actor,
                    {
                        "family_name": "Diarra",
                        "given_names": rng.choice(NAMES),
                        "sex": rng.choice("FM"),
                        "birth_date": date(1960 + i % 50, 1 + i % 12, 1).isoformat(),
                        "village": "Kalaban",
                    },
                    accept_duplicates=True,
                )
                patient_ids.append(row["id"])
            elif op == "add":
                encounters.add(
                    ctx,
                    actor,
                    rng.choice(patient_ids),
                    "consultation",
                    {
                        "care_date": today.isoformat(),
                        "temperature_c": 38.5,
                        "diagnoses": [{"code": "malaria_confirmed", "confirmed": True}],
                        "notes": f"written {i}",
                    },
                )
            else:
                target = _open_version(store, rng)
                if target is None:
                    continue
                if op == "correct":
                    old = store.encounters.get(target)
                    encounters.correct(
                        ctx,
                        actor,
                        target,
                        {**old["data"], "notes": f"corrected {i}"},
                        reason="typing error",
                    )
                else:
                    encounters.void(ctx, actor, target, reason="wrong patient")


def _run_child(database, actor, patient_ids, seed) -> tuple[int, int]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = 1
        try:
            os.close(read_end)
            _write_forever(database, actor, patient_ids, write_end, seed)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 3
        finally:
            os._exit(code)
    os.close(write_end)
    return pid, read_end


def test_a_writer_killed_at_random_moments_never_leaves_a_write_unaudited(tmp_path):
    database = tmp_path / "keneya.db"
    summary = seed_facility(
        database, patients=40, seed=5, years=1, logins_dir=tmp_path, today=date.today()
    )
    pin = next(line.split()[2] for line in summary["logins"] if line.startswith(WRITER + " "))
    with Store(database) as store:
        actor = auth.login(Context.open(store, boot_id="kill-test"), WRITER, pin=pin)
        seeded_patients = {r["id"] for r in store.query("SELECT id FROM patients")}
        seeded_encounters = {r["id"] for r in store.query("SELECT id FROM encounters")}
    patient_ids = sorted(seeded_patients)
    rng = random.Random(20261015)
    killed = 0
    for round_ in range(KILLS):
        pid, read_end = _run_child(database, actor, patient_ids, seed=round_)
        # Wait until the child has started a few writes (it has opened the database and is
        # in the loop), then kill it a random short while later: mostly mid-write.
        started = 0
        wanted = rng.randint(1, 4)
        while started < wanted:
            ready, _, _ = select.select([read_end], [], [], 60)
            chunk = os.read(read_end, 64) if ready else b""
            if not chunk:  # the child died on its own (or hung): say why
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                pytest.fail(f"writer stopped by itself in round {round_} (status {status})")
            started += len(chunk)
        select.select([], [], [], rng.uniform(0, 0.02))  # a random moment in the write
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(read_end)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        killed += 1

    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        new_patients = [
            pid for (pid,) in conn.execute("SELECT id FROM patients") if pid not in seeded_patients
        ]
        unaudited_patients = [
            pid
            for pid in new_patients
            if not conn.execute(
                "SELECT 1 FROM audit WHERE action = 'patient.register' AND patient_id = ?",
                (pid,),
            ).fetchone()
        ]
        versions = conn.execute(f"SELECT e.id, e.patient_id, {ACTION} FROM encounters e").fetchall()
        new_versions = [v for v in versions if v[0] not in seeded_encounters]
        unaudited_versions = [
            eid
            for eid, patient_id, action in new_versions
            if not conn.execute(
                "SELECT 1 FROM audit WHERE action = ? AND encounter_id = ? AND patient_id = ?",
                (action, eid, patient_id),
            ).fetchone()
        ]
        kinds = {action for _, _, action in new_versions}
    finally:
        conn.close()
    print(
        f"\n{killed} kills: {len(new_patients)} patients and {len(new_versions)} encounter"
        f" versions written; without an audit row: {len(unaudited_patients)} patients,"
        f" {len(unaudited_versions)} encounter versions"
    )
    assert killed >= 100
    # the writer did write each kind of thing, so the check below checked something
    assert new_patients and kinds == {"encounter.add", "encounter.correct", "encounter.void"}
    assert unaudited_patients == []
    assert unaudited_versions == []


# -- the same property without a kill: an audit row that cannot be written undoes the action --
class AuditDown(Exception):
    pass


def _consultation(ctx, actors, aminata):
    return encounters.add(
        ctx,
        actors["nurse"],
        aminata["id"],
        "consultation",
        {"care_date": "2026-10-15", "diagnoses": [{"code": "malaria_confirmed"}]},
    )


ACTIONS = {
    "register": lambda ctx, a, p: patients.register(
        ctx,
        a["nurse"],
        {"family_name": "Keïta", "given_names": "Sali", "sex": "F", "birth_date": "2001-01-01"},
    ),
    "update": lambda ctx, a, p: patients.update(ctx, a["nurse"], p["id"], {"village": "Siby"}),
    "add": lambda ctx, a, p: _consultation(ctx, a, p),
    "correct": lambda ctx, a, p: encounters.correct(
        ctx,
        a["nurse"],
        p["encounter"],
        {"care_date": "2026-10-14", "diagnoses": [{"code": "pneumonia"}]},
        reason="wrong diagnosis",
    ),
    "void": lambda ctx, a, p: encounters.void(ctx, a["nurse"], p["encounter"], reason="wrong"),
    "merge": lambda ctx, a, p: patients.merge(
        ctx, a["doctor"], keep=p["id"], merge_from=p["other"], reason="same woman"
    ),
    "staff add": lambda ctx, a, p: auth.add_staff(
        ctx, a["admin"], username="new.one", display_name="New", role="nurse", pin="582047"
    ),
    "unlock": lambda ctx, a, p: auth.unlock(ctx, a["admin"], "nurse"),
    "wrong pin": lambda ctx, a, p: auth.login(ctx, "nurse", pin="111112"),
    "clock confirm": lambda ctx, a, p: audit.confirm_clock(ctx, a["admin"]),
}


def _everything(store: Store) -> dict[str, list]:
    tables = ("patients", "encounters", "staff", "merges", "clock_events", "audit")
    return {
        t: [tuple(r) for r in store.conn.execute(f"SELECT * FROM {t} ORDER BY 1")] for t in tables
    }


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_action_whose_audit_row_fails_leaves_nothing(ctx, store, actors, aminata, action):
    other = patients.register(
        ctx,
        actors["nurse"],
        {"family_name": "Coulibaly", "given_names": "Nana", "sex": "F", "birth_date": "1990-05-01"},
    )
    target = {
        **aminata,
        "other": other["id"],
        "encounter": _consultation(ctx, actors, aminata)["id"],
    }
    if action == "unlock":
        for _ in range(2):
            with pytest.raises(auth.LoginFailed):
                auth.login(ctx, "nurse", pin="111112")
    before = _everything(store)

    def fail(entry):
        raise AuditDown(entry["action"])

    store.audit.append = fail
    with pytest.raises(AuditDown):
        ACTIONS[action](ctx, actors, target)
    del store.audit.append
    assert _everything(store) == before
