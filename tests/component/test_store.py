"""The store's settings, migrations, backups and clock, on real SQLite files."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from appliance.clock import Clock, ClockError, corrected, from_iso, offsets_by_boot
from appliance.store import Store
from appliance.store.db import NotInitialised, SchemaTooNew, split_sql
from appliance.store.schema import MIGRATIONS

pytestmark = pytest.mark.component


def test_connection_settings(store):
    pragma = lambda name: store.conn.execute(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
    assert pragma("journal_mode") == "wal"
    assert pragma("synchronous") == 2  # FULL
    assert pragma("foreign_keys") == 1
    assert pragma("busy_timeout") >= 5000


def test_migrations_are_idempotent(tmp_path):
    path = tmp_path / "k.db"
    with Store(path, create=True) as s:
        assert s.schema_version() == MIGRATIONS[-1][0]
        assert s.migrate() == []
    with Store(path) as s:
        assert s.migrate() == []
        assert s.query_one("SELECT COUNT(*) AS n FROM schema_migrations")["n"] == len(MIGRATIONS)


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(NotInitialised, match="keneya db init"):
        Store(tmp_path / "none.db")


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "k.db"
    with Store(path, create=True) as s:
        s.conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    with pytest.raises(SchemaTooNew):
        Store(path)


def test_a_failed_transaction_leaves_nothing(store):
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("INSERT INTO settings VALUES ('a', 'b')")
        raise RuntimeError("power cut")
    assert store.get_setting("a") is None


def test_split_sql_keeps_triggers_whole():
    parts = split_sql(
        "CREATE TABLE t (a);\nCREATE TRIGGER x AFTER INSERT ON t BEGIN\n"
        "  SELECT 1;\n  SELECT 2;\nEND;\n"
    )
    assert len(parts) == 2 and parts[1].endswith("END;")


def test_foreign_keys_are_enforced(store):
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute(
            "INSERT INTO encounters (id, patient_id, origin_patient_id, type, care_date, data,"
            " staff_id, recorded_at, clock_trusted, boot_id) VALUES"
            " ('e', 'nobody', 'nobody', 'growth', '2026-01-01', '{}', 's', 'x', 0, 'b')"
        )


def test_patients_are_never_deleted(store, aminata):
    with pytest.raises(sqlite3.IntegrityError, match="merge"):
        store.conn.execute("DELETE FROM patients")


# -- the clock -------------------------------------------------------------------------------
def test_clock_is_untrusted_until_a_source_confirms_it(store, fake_time):
    clock = Clock(store, machine_time=fake_time, boot_id="b1")
    assert not clock.now().trusted
    true = datetime(2026, 10, 20, 9, 30, tzinfo=UTC)  # five days ahead of the machine
    reading = clock.mark_trusted("modem", true)
    assert reading.trusted and reading.source == "modem"
    assert reading.now == true and reading.machine < true
    fake_time.advance(3600)
    assert clock.now().now == datetime(2026, 10, 20, 10, 30, tzinfo=UTC)
    # a new boot starts untrusted again
    assert not Clock(store, machine_time=fake_time, boot_id="b2").now().trusted


def test_offsets_correct_times_recorded_before_trust(store, fake_time):
    clock = Clock(store, machine_time=fake_time, boot_id="b1")
    recorded = clock.now().machine
    clock.mark_trusted("staff", datetime(2026, 10, 16, 9, 30, tzinfo=UTC))
    offsets = offsets_by_boot(store.clock.latest()[::-1])
    assert corrected(recorded, offsets["b1"]) == datetime(2026, 10, 16, 9, 30, tzinfo=UTC)
    row = store.clock.for_boot("b1")[0]
    assert from_iso(row["machine_time"]) == recorded  # the machine time is kept as it was


@pytest.mark.parametrize(
    "when", [datetime(2020, 1, 1, tzinfo=UTC), datetime(2150, 1, 1, tzinfo=UTC)]
)
def test_implausible_times_are_refused(store, fake_time, when):
    with pytest.raises(ClockError):
        Clock(store, machine_time=fake_time, boot_id="b1").mark_trusted("ntp", when)


def test_unknown_source_and_naive_time_are_refused(store, fake_time):
    clock = Clock(store, machine_time=fake_time, boot_id="b1")
    with pytest.raises(ClockError):
        clock.mark_trusted("sundial", datetime(2026, 10, 16, tzinfo=UTC))
    with pytest.raises(ClockError):
        clock.mark_trusted("ntp", datetime(2026, 10, 16))
