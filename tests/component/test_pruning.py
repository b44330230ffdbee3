"""Pruning old power and outbox history when the data folder runs short of space, on a real
SQLite file; the folder's free space is a fake, so the floor is crossed on demand."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from appliance.clock import to_iso
from appliance.outbox import enqueue_report
from appliance.services import patients
from appliance.store import pruning
from appliance.store.diskspace import Space
from appliance.store.power import DAY_S, MINUTE_S, QUARTER_S
from appliance.store.pruning import OUTBOX_KEEP_S, POWER_KEEP_S, make_room, room

pytestmark = pytest.mark.component

NOW_S = 1_800_000_000 // DAY_S * DAY_S  # a UTC midnight
MB = 1024 * 1024


def iso(s: float) -> str:
    return to_iso(datetime.fromtimestamp(s, UTC))


def bucket(t: int, state: str = "ok") -> dict:
    return {
        "start_s": t,
        "samples": 12,
        "faults": 0,
        "v_avg": 12.4,
        "v_min": 12.3,
        "v_max": 12.5,
        "i_avg": -0.4,
        "soc_last": 70.0,
        "state": state,
        "clock_trusted": True,
    }


def disk(free_bytes: int, total_bytes: int = 100 * MB):
    return lambda _folder: Space(free_bytes, total_bytes, read_only=False)


def power_history(store, *, days: int = 200) -> None:
    """Daily rows before 90 days, 15-minute rows after, minutes for the last 48 h."""
    start = NOW_S - days * DAY_S
    store.power.add_samples(
        [bucket(t) for t in range(start, NOW_S - 90 * DAY_S, DAY_S)], table="power_samples_1d"
    )
    store.power.add_samples(
        [bucket(t) for t in range(NOW_S - 90 * DAY_S, NOW_S - 2 * DAY_S, QUARTER_S)],
        table="power_samples_15m",
    )
    store.power.add_samples([bucket(t) for t in range(NOW_S - 2 * DAY_S, NOW_S, MINUTE_S)])


def counts(store) -> dict[str, int]:
    return {
        t: store.query_one(f"SELECT COUNT(*) AS n FROM {t}")["n"]
        for t in (
            "power_samples_1d",
            "power_samples_15m",
            "power_samples_1m",
            "power_events",
            "outbox",
            "outbox_attempts",
            "outbox_sms",
            "patients",
            "encounters",
            "audit",
            "staff",
        )
    }


def sent_item(store, period: str, *, created_s: float, status: str = "delivered") -> dict:
    now = iso(created_s)
    item = enqueue_report(
        store,
        facility="KLB",
        dataset="dsMonthly01",
        period=period,
        payload={"dataSet": "dsMonthly01", "period": period, "dataValues": ["x" * 4000]},
        kind="dhis2-datavalueset",
        now=now,
    )
    claimed = store.outbox.claim_next(now=iso(NOW_S))
    assert claimed["id"] == item["id"]
    store.outbox.record_attempt(item["id"], at=now, duration_ms=5, http_status=200)
    if status == "delivered":
        store.outbox.mark_delivered(item["id"], at=now, import_summary={"status": "OK"})
    elif status == "failed":
        store.outbox.mark_failed(item["id"], error="HTTP 401")
    return item


def test_nothing_goes_while_the_folder_has_room(store):
    power_history(store)
    before = counts(store)
    done = make_room(store, now_s=NOW_S, min_free_fraction=0.05, space_of=disk(50 * MB))
    assert done.total == 0 and done.batches == 0
    assert counts(store) == before


def test_old_power_history_goes_oldest_first_and_the_last_two_days_stay(store):
    power_history(store)
    before = counts(store)
    # total chosen so that freeing a few pages inside the file is enough: pruning stops there
    done = make_room(
        store,
        now_s=NOW_S,
        min_free_fraction=0.05,
        space_of=disk(0, total_bytes=40 * 4096),
        pause_s=0,
    )
    after = counts(store)
    assert done.power_samples > 0 and not done.more
    assert done.after.fraction >= 0.05 > done.before.fraction
    # the daily rows (the oldest) went first; the last 48 h of minutes are all there
    assert after["power_samples_1d"] < before["power_samples_1d"]
    oldest_left = store.query_one("SELECT MIN(start_s) AS s FROM power_samples_1d")["s"]
    assert oldest_left is None or oldest_left > NOW_S - 200 * DAY_S
    assert after["power_samples_1m"] == before["power_samples_1m"] == 2 * 1440
    assert room(store, space_of=disk(0, total_bytes=40 * 4096)).reusable_bytes > 0


def test_with_no_room_at_all_only_the_last_two_days_of_power_stay(store):
    power_history(store)
    done = make_room(store, now_s=NOW_S, max_batches=1000, space_of=disk(0), pause_s=0)
    after = counts(store)
    assert after["power_samples_1d"] == after["power_samples_15m"] == 0
    assert after["power_samples_1m"] == 2 * 1440
    oldest = store.query_one("SELECT MIN(start_s) AS s FROM power_samples_1m")["s"]
    assert oldest >= NOW_S - POWER_KEEP_S
    assert done.power_samples == 110 + (88 * 96) and not done.more


def test_batches_are_bounded_and_the_caller_is_told_to_come_back(store):
    power_history(store)
    pauses: list[float] = []
    done = make_room(store, now_s=NOW_S, max_batches=5, space_of=disk(0), sleep=pauses.append)
    assert done.batches == 5 and done.more
    # a pause between batches, so that the other processes' writers get their turn
    assert pauses == [pruning.PAUSE_S] * 4 and pruning.PAUSE_S >= 0.1
    # one batch found no outbox item, one no old event; each other batch is one short
    # transaction of 500 rows
    assert done.power_samples == 3 * 500 and done.outbox_items == done.power_events == 0


def test_power_events_keep_the_pending_shutdown_and_the_last_executed_one(store):
    old = NOW_S - 10 * DAY_S
    ids = {}
    for i, kind in enumerate(
        ["warn", "shutdown_decided", "shutdown_executed", "outage", "shutdown_decided", "warn"]
    ):
        ids[i] = store.power.add_event(
            {"at": iso(old + i * 60), "clock_trusted": True, "kind": kind}
        )
    recent = store.power.add_event({"at": iso(NOW_S - 60), "clock_trusted": True, "kind": "warn"})
    store.power.set_state(
        {
            "sampled_at": iso(old),
            "clock_trusted": 1,
            "source": "t",
            "state": "shutdown_pending",
            "shutdown_event_id": ids[4],
        }
    )
    make_room(store, now_s=NOW_S, max_batches=100, space_of=disk(0), pause_s=0)
    left = [e["id"] for e in store.power.events(limit=100)][::-1]
    assert left == [ids[2], ids[4], recent]
    assert store.integrity_check() == []  # foreign keys included


def test_sent_outbox_items_go_with_their_attempts_and_waiting_ones_stay(store):
    old = NOW_S - OUTBOX_KEEP_S - 5 * DAY_S
    first = sent_item(store, "202601", created_s=old)
    second = sent_item(store, "202602", created_s=old + DAY_S)
    failed = sent_item(store, "202603", created_s=old + 2 * DAY_S, status="failed")
    recent = sent_item(store, "202605", created_s=NOW_S - DAY_S)
    waiting = enqueue_report(
        store,
        facility="KLB",
        dataset="dsMonthly01",
        period="202604",
        payload={"v": 1},
        kind="dhis2-datavalueset",
        now=iso(old),
    )
    store.outbox.sms_start(first["id"], number="+22300000000", encode=lambda n: ["t"], now="x")
    done = make_room(store, now_s=NOW_S, max_batches=100, space_of=disk(0), pause_s=0)
    assert done.outbox_items == 2
    left = {r["id"] for r in store.outbox.list()}
    assert left == {failed["id"], waiting["id"], recent["id"]}
    assert second["id"] not in left and first["id"] not in left
    assert store.outbox.attempts(first["id"]) == [] and store.outbox.sms_of(first["id"]) is None
    assert len(store.outbox.attempts(failed["id"])) == 1
    assert store.integrity_check() == []
    # the attempts of an item still waiting are never deleted, even by hand
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM outbox_attempts WHERE item_id = ?", (failed["id"],))


def test_a_superseded_version_goes_before_the_one_that_replaced_it(store, monkeypatch):
    old = NOW_S - OUTBOX_KEEP_S - 5 * DAY_S
    kw = {"facility": "KLB", "dataset": "dsMonthly01", "period": "202601"}
    kw |= {"kind": "dhis2-datavalueset"}
    v1 = enqueue_report(store, payload={"v": 1}, now=iso(old), **kw)
    v2 = enqueue_report(store, payload={"v": 2}, now=iso(old + 60), **kw)
    assert store.outbox.get(v1["id"])["status"] == "superseded"
    store.outbox.claim_next(now=iso(old + 120))
    store.outbox.mark_delivered(v2["id"], at=iso(old + 120), import_summary={})
    # one item per batch: the superseded one must go first, or its reference would dangle
    monkeypatch.setattr(pruning, "OUTBOX_BATCH", 1)
    done = make_room(store, now_s=NOW_S, max_batches=2, space_of=disk(0), pause_s=0)
    assert done.outbox_items == 2 and done.batches == 2
    assert store.outbox.list() == []


def test_records_encounters_and_audit_are_never_pruned(store, ctx, actors, aminata):
    power_history(store, days=120)
    patients.record(ctx, actors["nurse"], aminata["id"])  # an audited read
    before = counts(store)
    make_room(store, now_s=NOW_S, max_batches=10_000, space_of=disk(0), pause_s=0)
    after = counts(store)
    for table in ("patients", "encounters", "audit", "staff"):
        assert after[table] == before[table]
    assert after["patients"] > 0 and after["audit"] > 0
    assert after["power_samples_15m"] == 0  # while the power history went
