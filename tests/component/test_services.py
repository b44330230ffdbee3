"""The service layer on a real SQLite file: permissions, audit, throttling, corrections, merge."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from appliance.domain.permissions import ROLES
from appliance.services import audit, auth, encounters, login_throttle, patients
from appliance.services.context import Actor
from appliance.services.errors import (
    Conflict,
    LoginFailed,
    LoginThrottled,
    NotFound,
    PermissionDenied,
    PossibleDuplicates,
)

pytestmark = pytest.mark.component

IMMUNIZATION = {"care_date": "2026-10-14", "antigen": "penta", "dose": 1}
ANC = {"care_date": "2026-10-14", "lmp": "2026-06-01", "gravida": 2, "parity": 1}
CONSULTATION = {
    "care_date": "2026-10-14",
    "diagnoses": [{"code": "malaria_confirmed", "confirmed": True}],
}


def child(ctx, actor, mother_id=None, **kw):
    data = {
        "family_name": "Coulibaly",
        "given_names": "Issa",
        "sex": "M",
        "birth_date": "2026-06-01",
        "village": "Kalaban",
        **kw,
    }
    if mother_id:
        data["mother_id"] = mother_id
    return patients.register(ctx, actor, data)


# -- permissions for every role --------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_reading_a_record_follows_the_table(ctx, actors, aminata, role):
    if role == "technician":
        with pytest.raises(PermissionDenied):
            patients.record(ctx, actors[role], aminata["id"])
        with pytest.raises(PermissionDenied):
            patients.search(ctx, actors[role], "Traoré")
    else:
        assert patients.record(ctx, actors[role], aminata["id"])["id"] == aminata["id"]


@pytest.mark.parametrize("role", ROLES)
def test_recording_anc_follows_the_table(ctx, actors, aminata, role):
    if role in ("doctor", "nurse", "midwife", "matron"):
        assert encounters.add(ctx, actors[role], aminata["id"], "anc", ANC)["type"] == "anc"
    else:
        with pytest.raises(PermissionDenied):
            encounters.add(ctx, actors[role], aminata["id"], "anc", ANC)


@pytest.mark.parametrize("role", ROLES)
def test_registering_follows_the_table(ctx, actors, role):
    data = {"family_name": "Sow", "given_names": "Hawa", "sex": "F", "birth_date": "2001-02-03"}
    if role == "technician":
        with pytest.raises(PermissionDenied):
            patients.register(ctx, actors[role], data)
    else:
        assert patients.register(ctx, actors[role], data)["family_name"] == "Sow"


def test_health_worker_may_vaccinate_but_not_consult(ctx, actors, aminata):
    hw = actors["health_worker"]
    assert encounters.add(
        ctx,
        hw,
        aminata["id"],
        "immunization",
        {"care_date": "2026-10-14", "antigen": "td", "dose": 1},
    )
    with pytest.raises(PermissionDenied):
        encounters.add(ctx, hw, aminata["id"], "consultation", CONSULTATION)


def test_a_forged_actor_is_refused(ctx, aminata):
    with pytest.raises(PermissionDenied):
        patients.record(ctx, {"role": "doctor"}, aminata["id"])  # type: ignore[arg-type]


# -- audit -----------------------------------------------------------------------------------
def test_every_read_and_write_leaves_an_audit_row(ctx, actors, aminata):
    nurse = actors["nurse"]
    patients.record(ctx, nurse, aminata["id"])
    enc = encounters.add(ctx, nurse, aminata["id"], "consultation", CONSULTATION)
    rows = audit.for_patient(ctx, actors["admin"], aminata["id"])
    actions = [r["action"] for r in rows]
    assert actions[:3] == ["encounter.add", "patient.view", "patient.register"]
    assert rows[0]["encounter_id"] == enc["id"]
    assert rows[0]["username"] == "nurse" and rows[0]["role"] == "nurse"
    # reading the audit trail is itself audited
    assert audit.for_patient(ctx, actors["admin"], aminata["id"])[0]["action"] == "audit.read"


def test_audit_rows_cannot_be_changed_or_deleted(ctx, store, actors, aminata):
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("UPDATE audit SET action = 'nothing'")
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("DELETE FROM audit")


def test_only_admin_reads_the_audit_trail(ctx, actors, aminata):
    with pytest.raises(PermissionDenied):
        audit.for_patient(ctx, actors["doctor"], aminata["id"])


# -- login and throttling --------------------------------------------------------------------
def test_login_with_pin_and_wrong_pin(ctx, actors, pins):
    assert auth.login(ctx, "midwife", pin=pins["midwife"]).role == "midwife"
    with pytest.raises(LoginFailed):
        auth.login(ctx, "midwife", pin="000001")
    with pytest.raises(LoginFailed):
        auth.login(ctx, "nobody", pin=pins["midwife"])


def test_failures_throttle_the_device_not_the_account_and_admin_unlocks(
    ctx, actors, fake_time, pins
):
    for _ in range(3):  # free failures
        with pytest.raises(LoginFailed) as e:
            auth.login(ctx, "nurse", pin="111112")
        assert not isinstance(e.value, LoginThrottled)
    with pytest.raises(LoginThrottled) as e:
        auth.login(ctx, "nurse", pin=pins["nurse"])  # even the right PIN waits, on the kiosk
    assert e.value.retry_after_s == 2
    # the same account from another device: in at once
    assert auth.login(ctx, "nurse", pin=pins["nurse"], client="console").role == "nurse"
    fake_time.advance(2)
    with pytest.raises(LoginFailed):
        auth.login(ctx, "nurse", pin="111112")  # fourth failure: 4 s next
    with pytest.raises(LoginThrottled) as e:
        auth.login(ctx, "nurse", pin=pins["nurse"])
    assert e.value.retry_after_s == 4
    assert auth.unlock(ctx, actors["admin"], "nurse") >= 2
    assert auth.login(ctx, "nurse", pin=pins["nurse"]).role == "nurse"


def test_throttle_waits_grow_and_stop_at_their_cap():
    pair = login_throttle.RULES["pair"]
    assert [pair.wait_s(n) for n in (0, 2, 3, 4, 5)] == [0, 0, 2, 4, 8]
    assert pair.wait_s(10_000) == 15 * 60
    assert login_throttle.RULES["account"].wait_s(10_000) == 15  # the real user: seconds


def test_no_secret_is_stored_in_clear(ctx, store, actors, pins):
    row = store.query_one("SELECT pin_hash FROM staff WHERE username = 'nurse'")
    assert pins["nurse"] not in row["pin_hash"] and row["pin_hash"].startswith("$argon2id$")


@pytest.mark.parametrize("pin", ["123", "abcd", "1111", "1234", "123456789"])
def test_weak_or_malformed_pins_are_refused(ctx, actors, pin):
    with pytest.raises(ValueError):
        auth.add_staff(
            ctx, actors["admin"], username="new.one", display_name="New", role="nurse", pin=pin
        )


def test_first_account_must_be_admin_and_later_ones_need_an_admin(tmp_path, store, ctx):
    with pytest.raises(Conflict):
        auth.add_staff(ctx, None, username="n", display_name="N", role="nurse", pin="482913")
    auth.add_staff(ctx, None, username="boss", display_name="Boss", role="admin", pin="482913")
    with pytest.raises(LoginFailed):
        auth.add_staff(ctx, None, username="n2", display_name="N", role="nurse", pin="482914")
    nurse_like = Actor("x", "boss", "nurse", "Boss")
    with pytest.raises(PermissionDenied):
        auth.add_staff(ctx, nurse_like, username="n3", display_name="N", role="nurse", pin="482915")


# -- encounters: append-only, corrections, voids ---------------------------------------------
def test_correction_supersedes_and_keeps_the_old_version(ctx, store, actors, aminata):
    nurse = actors["nurse"]
    first = encounters.add(
        ctx, nurse, aminata["id"], "consultation", {**CONSULTATION, "weight_kg": 6.2}
    )
    fixed = encounters.correct(
        ctx, nurse, first["id"], {**CONSULTATION, "weight_kg": 62}, reason="decimal point slipped"
    )
    current = patients.record(ctx, nurse, aminata["id"])["encounters"]
    assert [e["id"] for e in current] == [fixed["id"]]
    assert current[0]["data"]["weight_kg"] == 62
    versions = encounters.history(ctx, nurse, first["id"])
    assert [v["data"]["weight_kg"] for v in versions] == [6.2, 62]
    assert versions[1]["supersedes"] == first["id"]
    with pytest.raises(Conflict):
        encounters.correct(ctx, nurse, first["id"], CONSULTATION, reason="again")


def test_void_hides_the_encounter_but_keeps_it(ctx, actors, aminata):
    nurse = actors["nurse"]
    enc = encounters.add(ctx, nurse, aminata["id"], "consultation", CONSULTATION)
    encounters.void(ctx, nurse, enc["id"], reason="wrong patient")
    assert patients.record(ctx, nurse, aminata["id"])["encounters"] == []
    assert len(encounters.history(ctx, nurse, enc["id"])) == 2


def test_encounters_cannot_be_updated_or_deleted_in_sql(ctx, store, actors, aminata):
    enc = encounters.add(ctx, actors["nurse"], aminata["id"], "consultation", CONSULTATION)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE encounters SET data = '{}' WHERE id = ?", (enc["id"],))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM encounters WHERE id = ?", (enc["id"],))


def test_correction_needs_the_same_permission_and_a_reason(ctx, actors, aminata):
    enc = encounters.add(ctx, actors["nurse"], aminata["id"], "consultation", CONSULTATION)
    with pytest.raises(PermissionDenied):
        encounters.correct(ctx, actors["health_worker"], enc["id"], CONSULTATION, reason="why")
    with pytest.raises(ValueError):
        encounters.correct(ctx, actors["nurse"], enc["id"], CONSULTATION, reason=" ")


def test_encounter_keeps_machine_time_and_trust(ctx, actors, aminata):
    enc = encounters.add(ctx, actors["nurse"], aminata["id"], "consultation", CONSULTATION)
    assert enc["clock_trusted"] is False and enc["boot_id"] == "boot-1"
    audit.confirm_clock(ctx, actors["nurse"], datetime(2026, 10, 15, 10, 30, tzinfo=UTC))
    enc2 = encounters.add(ctx, actors["nurse"], aminata["id"], "consultation", CONSULTATION)
    assert enc2["clock_trusted"] is True
    assert enc2["recorded_at"].startswith("2026-10-15T09:30")  # the machine time is kept


def test_care_in_the_future_of_the_clock_is_refused(ctx, actors, aminata):
    with pytest.raises(ValueError, match="future"):
        encounters.add(
            ctx,
            actors["nurse"],
            aminata["id"],
            "consultation",
            {**CONSULTATION, "care_date": "2026-12-01"},
        )


# -- duplicates and merge --------------------------------------------------------------------
def test_registering_a_spelling_variant_warns_with_candidates(ctx, actors, aminata):
    again = {
        "family_name": "Traore",
        "given_names": "Aminata",
        "sex": "F",
        "birth_date": "1996-01-01",
        "village": "kalaban",
    }
    with pytest.raises(PossibleDuplicates) as e:
        patients.register(ctx, actors["nurse"], again)
    assert [c["id"] for c in e.value.candidates] == [aminata["id"]]
    forced = patients.register(ctx, actors["nurse"], again, accept_duplicates=True)
    assert forced["id"] != aminata["id"]


def test_same_phone_is_a_duplicate_even_in_another_village(ctx, actors, aminata):
    with pytest.raises(PossibleDuplicates):
        patients.register(
            ctx,
            actors["nurse"],
            {
                "family_name": "Traoré",
                "given_names": "Aminata",
                "sex": "F",
                "birth_date": "1994-05-05",
                "village": "Ségou",
                "phone": "+223 76123456",
            },
        )


@pytest.mark.parametrize(
    "change",
    [
        {"birth_date": "1990-01-01"},  # born 5 years apart
        {"given_names": "Kadiatou"},  # another woman of the family
        {"village": "Ségou", "phone": None},  # elsewhere, no shared phone
        {"sex": "M", "given_names": "Aminata"},
    ],
)
def test_not_a_duplicate(ctx, actors, aminata, change):
    data = {
        "family_name": "Traore",
        "given_names": "Aminata",
        "sex": "F",
        "birth_date": "1995-06-01",
        "village": "Kalaban",
        **change,
    }
    data = {k: v for k, v in data.items() if v is not None}
    assert patients.register(ctx, actors["nurse"], data)["id"] != aminata["id"]


def test_merge_moves_every_encounter_and_keeps_the_other_record(ctx, store, actors, aminata):
    doctor = actors["doctor"]
    dup = patients.register(
        ctx,
        doctor,
        {
            "family_name": "Traore",
            "given_names": "Aminata",
            "sex": "F",
            "age_years": 31,
            "village": "Kalaban",
        },
        accept_duplicates=True,
    )
    baby = child(ctx, doctor, mother_id=dup["id"])
    e1 = encounters.add(ctx, doctor, dup["id"], "anc", ANC)
    encounters.add(ctx, doctor, aminata["id"], "consultation", CONSULTATION)
    with pytest.raises(PermissionDenied):
        patients.merge(
            ctx, actors["nurse"], keep=aminata["id"], merge_from=dup["id"], reason="same woman"
        )
    out = patients.merge(
        ctx, doctor, keep=aminata["id"], merge_from=dup["id"], reason="same woman, same phone"
    )
    assert out["encounters_moved"] == 1
    rec = patients.record(ctx, doctor, aminata["id"])
    assert {e["id"] for e in rec["encounters"]} >= {e1["id"]}
    assert rec["merged_from"] == [dup["id"]]
    assert [c["id"] for c in rec["children"]] == [baby["id"]]
    assert store.patients.get(dup["id"])["merged_into"] == aminata["id"]
    assert store.encounters.get(e1["id"])["origin_patient_id"] == dup["id"]
    assert [r["id"] for r in patients.search(ctx, doctor, "Traore Aminata")] == [aminata["id"]]
    with pytest.raises(Conflict):
        encounters.add(ctx, doctor, dup["id"], "anc", ANC)
    with pytest.raises(Conflict):
        patients.merge(ctx, doctor, keep=aminata["id"], merge_from=dup["id"], reason="again")
    merged_audit = [r["action"] for r in audit.for_patient(ctx, actors["admin"], dup["id"])]
    assert "patient.merged_into" in merged_audit


def test_update_keeps_the_previous_values(ctx, store, actors, aminata):
    patients.update(ctx, actors["nurse"], aminata["id"], {"village": "Ségou"})
    hist = store.query("SELECT old FROM patient_history WHERE patient_id = ?", (aminata["id"],))
    assert '"village":"Kalaban"' in hist[-1]["old"]
    assert store.patients.get(aminata["id"])["village"] == "Ségou"


def test_child_registration_checks_the_mother(ctx, actors, aminata):
    with pytest.raises(NotFound):
        child(ctx, actors["nurse"], mother_id="no-such-id")
    boy = child(ctx, actors["nurse"])
    with pytest.raises(ValueError, match="woman"):
        child(ctx, actors["nurse"], mother_id=boy["id"], given_names="Awa", sex="F")


def test_a_child_cannot_be_the_mother(ctx, actors, aminata):
    girl = patients.register(
        ctx,
        actors["nurse"],
        {
            "family_name": "Traoré",
            "given_names": "Bintou",
            "sex": "F",
            "birth_date": "2026-06-08",
            "village": "Kalaban",
            "mother_id": aminata["id"],
        },
    )
    with pytest.raises(ValueError, match="under 10"):
        patients.register(
            ctx,
            actors["nurse"],
            {
                "family_name": "Traoré",
                "given_names": "Bébé",
                "sex": "M",
                "birth_date": "2026-10-01",
                "mother_id": girl["id"],
            },
        )
