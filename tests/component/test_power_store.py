"""The power tables on a real SQLite file: merges, roll-ups, history, state, events."""

from __future__ import annotations

import sqlite3

import pytest

from appliance.store import Store
from appliance.store.power import DAY_S, KEEP_MINUTES_S, KEEP_QUARTERS_S, QUARTER_S
from appliance.store.schema import MIGRATIONS

pytestmark = pytest.mark.component

T0 = 1_800_000_000 // DAY_S * DAY_S  # a UTC midnight


def minute(t, n=12, v=12.4, i=-0.4, soc=70.0, state="ok", faults=0, trusted=True):
    return {
        "start_s": t,
        "samples": n,
        "faults": faults,
        "v_avg": v if n else None,
        "v_min": v - 0.05 if n else None,
        "v_max": v + 0.05 if n else None,
        "i_avg": i if n else None,
        "soc_last": soc if n else None,
        "state": state,
        "clock_trusted": trusted,
    }


def test_migration_2_adds_the_power_tables(store):
    assert [v for v, *_ in MIGRATIONS][:2] == [1, 2]
    tables = set(store.db.table_names())
    assert {
        "power_samples_1m",
        "power_samples_15m",
        "power_samples_1d",
        "power_events",
        "power_state",
    } <= tables
    assert store.schema_version() == MIGRATIONS[-1][0]


def test_a_minute_written_twice_is_merged(store):
    store.power.add_samples([minute(T0, n=2, v=12.0, state="ok")])
    store.power.add_samples([minute(T0, n=1, v=13.0, state="warn", faults=3, trusted=False)])
    [row] = store.query("SELECT * FROM power_samples_1m")
    assert row["samples"] == 3 and row["faults"] == 3
    assert row["v_avg"] == pytest.approx((2 * 12.0 + 13.0) / 3)
    assert (row["v_min"], row["v_max"]) == pytest.approx((11.95, 13.05))
    assert row["state"] == "warn" and row["clock_trusted"] == 0


def test_a_batch_is_one_transaction(store):
    rows = [minute(T0 + 60 * k) for k in range(3)] + [{"start_s": T0 + 999}]  # broken row
    with pytest.raises(KeyError):
        store.power.add_samples(rows)
    assert store.query("SELECT COUNT(*) AS n FROM power_samples_1m")[0]["n"] == 0


def test_rollup_moves_old_minutes_into_quarters_and_old_quarters_into_days(store):
    now = T0 + 100 * DAY_S
    # three minutes 3 days ago (one bucket), one minute 1 hour ago
    old = now - 3 * DAY_S
    store.power.add_samples(
        [
            minute(old, n=12, v=12.0, soc=60),
            minute(old + 60, n=6, v=12.6, soc=59, state="warn"),
            minute(old + 120, n=0, faults=12, state="sensor_fault"),
            minute(now - 3600, n=12),
        ]
    )
    # a quarter 95 days ago
    store.power.add_samples([minute(now - 95 * DAY_S, n=180, v=11.9)], table="power_samples_15m")
    moved = store.power.rollup(now)
    assert moved == {"power_samples_1m": 3, "power_samples_15m": 1}
    [quarter] = store.query("SELECT * FROM power_samples_15m")
    assert quarter["start_s"] == old // QUARTER_S * QUARTER_S
    assert quarter["samples"] == 18 and quarter["faults"] == 12
    assert quarter["v_avg"] == pytest.approx((12 * 12.0 + 6 * 12.6) / 18)
    assert quarter["soc_last"] == 59  # the last minute with a reading
    assert quarter["state"] == "sensor_fault"  # the worst of the bucket
    [day] = store.query("SELECT * FROM power_samples_1d")
    assert day["start_s"] == (now - 95 * DAY_S) // DAY_S * DAY_S and day["samples"] == 180
    assert [r["start_s"] for r in store.query("SELECT start_s FROM power_samples_1m")] == [
        now - 3600
    ]
    assert store.power.rollup(now) == {"power_samples_1m": 0, "power_samples_15m": 0}


def test_rollup_cutoffs_fall_on_bucket_boundaries(store):
    now = T0 + 10 * DAY_S + 7 * 60  # not on a quarter boundary
    cutoff = (now - KEEP_MINUTES_S) // QUARTER_S * QUARTER_S
    store.power.add_samples([minute(cutoff - 60), minute(cutoff), minute(cutoff + 60)])
    store.power.rollup(now)
    left = [r["start_s"] for r in store.query("SELECT start_s FROM power_samples_1m")]
    assert left == [cutoff, cutoff + 60]  # the bucket at the cut-off stays whole


def test_history_spans_the_resolutions_in_time_order(store):
    now = T0 + 100 * DAY_S
    store.power.add_samples([minute(now - 600)])
    store.power.add_samples([minute(now - 5 * DAY_S)], table="power_samples_15m")
    store.power.add_samples([minute(now - 95 * DAY_S)], table="power_samples_1d")
    everything = store.power.history(now - 100 * DAY_S, until_s=now)
    assert [r["resolution_s"] for r in everything] == [DAY_S, QUARTER_S, 60]
    assert [r["resolution_s"] for r in store.power.history(now - 3600, until_s=now)] == [60]
    assert store.power.latest_sample()["start_s"] == now - 600
    # a day bucket that began before the window still overlaps it
    day = (now - 95 * DAY_S) // DAY_S * DAY_S
    assert store.power.history(day + 3600, until_s=day + 7200)[0]["start_s"] == day
    assert KEEP_QUARTERS_S == 90 * DAY_S


def test_events_are_append_only_and_read_newest_first(store):
    for kind in ("warn", "shutdown_decided", "shutdown_executed"):
        store.power.add_event(
            {"at": "2026-10-15T12:00:00Z", "clock_trusted": True, "kind": kind, "detail": {"k": 1}}
        )
    assert [e["kind"] for e in store.power.events(limit=2)] == [
        "shutdown_executed",
        "shutdown_decided",
    ]
    assert store.power.last_event(("warn",))["detail"] == {"k": 1}
    with pytest.raises(sqlite3.DatabaseError, match="append-only"), store.transaction() as conn:
        conn.execute("UPDATE power_events SET kind = 'warn'")
    with pytest.raises(sqlite3.IntegrityError):
        store.power.add_event({"at": "x", "clock_trusted": 1, "kind": "lunch"})


def test_cancel_request_names_the_pending_shutdown(store):
    state = {"sampled_at": "2026-10-15T12:00:00Z", "clock_trusted": 1, "source": "t"}
    store.power.set_state(state | {"state": "ok"})
    assert store.power.request_cancel(by="nurse", at="2026-10-15T12:00:05Z") is None
    eid = store.power.add_event({"at": "x", "clock_trusted": 1, "kind": "shutdown_decided"})
    store.power.set_state(
        state | {"state": "shutdown_pending", "shutdown_event_id": eid}, clear_cancel=True
    )
    row = store.power.request_cancel(by="nurse", at="2026-10-15T12:00:05Z")
    assert row["cancel_for"] == eid and row["cancel_requested_by"] == "nurse"
    store.power.set_state(state | {"state": "shutdown_pending", "shutdown_event_id": eid})
    assert store.power.state()["cancel_for"] == eid  # the daemon's minute write keeps it
    store.power.set_state(state | {"state": "ok"}, clear_cancel=True)
    assert store.power.state()["cancel_for"] is None


def test_one_state_row_only(store):
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as conn:
        conn.execute(
            "INSERT INTO power_state (id, sampled_at, clock_trusted, source, state)"
            " VALUES (2, 'x', 1, 't', 'ok')"
        )


def test_checkpoint_truncates_the_wal(tmp_path):
    with Store(tmp_path / "k.db", create=True) as s:
        s.power.add_samples([minute(T0 + 60 * k) for k in range(100)])
        busy, frames, done = s.power.checkpoint()
        assert busy == 0 and frames == done
        assert (tmp_path / "k.db-wal").stat().st_size == 0


def test_migration_10_widens_the_checks_and_adds_the_fault_columns(tmp_path, monkeypatch):
    """A database at version 9 with a pending shutdown keeps every row, and takes the new
    states, events and state columns."""
    import appliance.store.db as db

    path = tmp_path / "old.db"
    monkeypatch.setattr(db, "MIGRATIONS", [m for m in MIGRATIONS if m[0] <= 9])
    with Store(path, create=True) as old:
        event_id = old.power.add_event(
            {"at": "2026-10-15T00:00:00Z", "clock_trusted": True, "kind": "shutdown_decided"}
        )
        with old.transaction() as conn:  # the version 9 columns only
            conn.execute(
                "INSERT INTO power_state (id, sampled_at, clock_trusted, source, state,"
                " shutdown_event_id) VALUES (1, '2026-10-15T00:00:00Z', 1, 't',"
                " 'shutdown_pending', ?)",
                (event_id,),
            )
        old.power.add_samples([minute(T0, state="warn")])
        with pytest.raises(sqlite3.IntegrityError):
            old.power.add_samples([minute(T0 + 60, state="low_power_wait")])
    monkeypatch.setattr(db, "MIGRATIONS", MIGRATIONS)
    with Store(path) as store:
        assert store.migrated == [m[0] for m in MIGRATIONS if m[0] > 9]
        assert store.integrity_check() == []
        row = store.power.state()
        assert row["shutdown_event_id"] == event_id and row["state"] == "shutdown_pending"
        assert (row["fault"], row["fault_detail"], row["planned_shutdown_at"]) == (None,) * 3
        assert store.power.history(T0, until_s=T0)[0]["state"] == "warn"
        for kind in ("fault", "fault_cleared", "low_power_wait", "services_resumed", "critical"):
            store.power.add_event({"at": "2026-10-15T01:00:00Z", "clock_trusted": 1, "kind": kind})
        store.power.add_samples([minute(T0 + 60, state="low_power_wait")])
        store.power.add_samples([minute(T0 + 60, n=1, state="critical")])  # merged: the worst
        assert store.power.history(T0 + 60, until_s=T0 + 60)[-1]["state"] == "critical"
        with pytest.raises(sqlite3.IntegrityError):
            store.power.add_event({"at": "x", "clock_trusted": 1, "kind": "nonsense"})
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.conn.execute("UPDATE power_events SET reason = 'x'")
        assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_the_state_row_keeps_the_fault_and_the_planned_shutdown(store):
    store.power.set_state(
        {"sampled_at": "2026-10-15T00:00:00Z", "clock_trusted": True, "source": "t",
         "state": "low_power_wait", "fault": "reversed_shunt",
         "fault_detail": "charging current at night", "planned_shutdown_at": None,
         "runtime_min": 42}
    )  # fmt: skip
    row = store.power.state()
    assert row["state"] == "low_power_wait" and row["fault"] == "reversed_shunt"
    assert row["fault_detail"] == "charging current at night" and row["runtime_min"] == 42


def test_pruning_keeps_the_last_critical_poweroff(store):
    ids = [
        store.power.add_event({"at": f"2026-10-1{d}T00:00:00Z", "clock_trusted": 1, "kind": k})
        for d, k in enumerate(("warn", "critical", "warn"))
    ]
    assert store.power.prune_oldest_events("2027-01-01T00:00:00Z", limit=10) == 2
    assert [e["id"] for e in store.power.events()] == [ids[1]]
