"""The outbox tables on a real SQLite file: versions, superseding, claiming, recovery."""

from __future__ import annotations

import threading

import pytest

from appliance.outbox import enqueue_report
from appliance.store import Store
from appliance.store.outbox import OutboxError
from appliance.store.schema import MIGRATIONS

pytestmark = pytest.mark.component

T0 = "2026-11-01T08:00:00.000000Z"
T1 = "2026-11-01T09:00:00.000000Z"


def report(value: int) -> dict:
    return {
        "dataSet": "dsMonthly01",
        "period": "202610",
        "orgUnit": "ouKalaban01",
        "dataValues": [{"dataElement": "deConsult01", "value": str(value)}],
    }


def enqueue(store, value: int, *, period: str = "202610", now: str = T0) -> dict:
    return enqueue_report(
        store,
        facility="KLB",
        dataset="dsMonthly01",
        period=period,
        payload=report(value),
        kind="dhis2-datavalueset",
        now=now,
    )


def test_migration_3_adds_the_outbox(store):
    assert [v for v, *_ in MIGRATIONS][:3] == [1, 2, 3]
    assert {"outbox", "outbox_attempts"} <= set(store.db.table_names())


def test_enqueue_queues_version_one(store):
    item = enqueue(store, 12)
    assert item["status"] == "queued"
    assert item["version"] == 1
    assert item["idempotency_key"] == "KLB/dsMonthly01/202610/v1"
    assert item["content_type"] == "application/json"
    assert item["next_attempt_at"] == T0


def test_the_same_figures_again_add_nothing(store):
    first = enqueue(store, 12)
    again = enqueue(store, 12, now=T1)
    assert again["id"] == first["id"]
    assert len(store.outbox.list()) == 1


def test_a_new_version_supersedes_a_queued_one(store):
    old = enqueue(store, 12)
    new = enqueue(store, 13, now=T1)
    assert new["version"] == 2
    old = store.outbox.get(old["id"])
    assert old["status"] == "superseded"
    assert old["superseded_by"] == new["id"]
    assert store.outbox.claim_next(now=T1)["id"] == new["id"]
    assert store.outbox.claim_next(now=T1) is None


def test_a_new_version_supersedes_a_failed_one_but_not_a_delivered_one(store):
    a = enqueue(store, 1)
    store.outbox.claim_next(now=T0)
    store.outbox.mark_delivered(a["id"], at=T0, import_summary={"status": "SUCCESS"})
    b = enqueue(store, 2)
    store.outbox.claim_next(now=T0)
    store.outbox.mark_failed(b["id"], error="rejected")
    c = enqueue(store, 3)
    assert store.outbox.get(a["id"])["status"] == "delivered"
    assert store.outbox.get(b["id"])["status"] == "superseded"
    assert store.outbox.get(b["id"])["superseded_by"] == c["id"]
    assert c["version"] == 3


def test_an_item_being_sent_is_not_superseded(store):
    a = enqueue(store, 1)
    store.outbox.claim_next(now=T0)
    b = enqueue(store, 2)
    assert store.outbox.get(a["id"])["status"] == "sending"
    assert b["status"] == "queued"


def test_other_periods_are_separate_reports(store):
    a = enqueue(store, 1, period="202609")
    b = enqueue(store, 1, period="202610")
    assert a["version"] == b["version"] == 1
    assert {i["status"] for i in store.outbox.list()} == {"queued"}


def test_only_due_items_are_claimed(store):
    item = enqueue(store, 1)
    store.outbox.claim_next(now=T0)
    store.outbox.mark_retry(item["id"], error="HTTP 503", next_attempt_at=T1)
    assert store.outbox.claim_next(now=T0) is None
    claimed = store.outbox.claim_next(now=T1)
    assert claimed["id"] == item["id"]
    assert claimed["status"] == "sending"
    assert claimed["last_error"] == "HTTP 503"


def test_outcomes_need_a_claim(store):
    item = enqueue(store, 1)
    with pytest.raises(OutboxError):
        store.outbox.mark_delivered(item["id"], at=T0, import_summary={})


def test_attempts_are_recorded_and_append_only(store):
    item = enqueue(store, 1)
    store.outbox.claim_next(now=T0)
    store.outbox.record_attempt(
        item["id"], at=T0, duration_ms=12, http_status=500, reply_excerpt="x" * 5000
    )
    rows = store.outbox.attempts(item["id"])
    assert len(rows) == 1
    assert rows[0]["http_status"] == 500
    assert len(rows[0]["reply_excerpt"]) == 2000
    assert store.outbox.get(item["id"])["attempts"] == 1
    with pytest.raises(Exception, match="append-only"):
        store.conn.execute("DELETE FROM outbox_attempts")


def test_recover_after_a_crash(tmp_path):
    path = tmp_path / "keneya.db"
    with Store(path, create=True) as s:
        item = enqueue(s, 1)
        assert s.outbox.claim_next(now=T0)["id"] == item["id"]
        # the process dies here: no outcome recorded
    with Store(path) as s:
        assert s.outbox.claim_next(now=T1) is None
        assert s.outbox.recover() == 1
        assert s.outbox.get(item["id"])["status"] == "queued"
        assert s.outbox.claim_next(now=T1)["id"] == item["id"]


def test_recover_with_a_cutoff_leaves_fresh_claims(store):
    enqueue(store, 1)
    store.outbox.claim_next(now=T1)
    assert store.outbox.recover(claimed_before=T0) == 0
    assert store.outbox.recover(claimed_before="2026-11-01T10:00:00.000000Z") == 1


def test_requeue_a_failed_item(store):
    item = enqueue(store, 1)
    store.outbox.claim_next(now=T0)
    store.outbox.mark_failed(item["id"], error="401", import_summary=None)
    assert store.outbox.requeue(item["id"], now=T1)["status"] == "queued"
    with pytest.raises(OutboxError):
        store.outbox.requeue(item["id"], now=T1)


def test_adx_payloads_are_kept_as_text(store):
    item = enqueue_report(
        store,
        facility="KLB",
        dataset="dsMonthly01",
        period="202610",
        payload=b'<adx xmlns="urn:ihe:qrph:adx:2015"/>',
        kind="dhis2-adx",
        now=T0,
    )
    assert item["content_type"] == "application/adx+xml"
    assert item["payload"].startswith("<adx")
    with pytest.raises(ValueError):
        enqueue_report(store, facility="KLB", dataset="d", period="p", payload={}, kind="dhis2-adx")


def test_two_connections_never_claim_the_same_item(tmp_path):
    path = tmp_path / "keneya.db"
    with Store(path, create=True) as s:
        ids = {enqueue(s, 1, period=f"2026{m:02d}")["id"] for m in range(1, 13)}
    claimed: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def worker(n: int) -> None:
        with Store(path) as s:
            barrier.wait()
            while (item := s.outbox.claim_next(now=T1)) is not None:
                claimed[n].append(item["id"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed[0] + claimed[1]) == sorted(ids)
    assert not set(claimed[0]) & set(claimed[1])


def test_an_sms_resumes_where_a_power_cut_stopped_it(tmp_path):
    path = tmp_path / "k.db"
    with Store(path, create=True) as store:
        item = enqueue(store, 41)
        ids = []
        row = store.outbox.sms_start(
            item["id"],
            number="+22370000000",
            encode=lambda mid: ids.append(mid) or ["a", "b"],
            now=T0,
        )
        assert row["texts"] == ["a", "b"] and row["parts_sent"] == 0 and ids == [1]
        store.outbox.sms_part_sent(item["id"], message_ref=17, now=T0)
        assert store.outbox.sms_of(item["id"])["sent_at"] is None
    with Store(path) as store:  # after the cut: the same texts, the same id, one part left
        again = store.outbox.sms_start(
            item["id"], number="+22370000000", encode=lambda mid: ["other"], now=T1
        )
        assert again["texts"] == ["a", "b"] and again["message_id"] == 1
        assert again["parts_sent"] == 1 and again["message_refs"] == [17]
        store.outbox.sms_part_sent(item["id"], message_ref=18, now=T1)
        done = store.outbox.sms_of(item["id"])
        assert done["sent_at"] == T1 and done["message_refs"] == [17, 18]
        waiting = store.outbox.waiting_since()
        assert [(w["id"], w["sms_sent_at"]) for w in waiting] == [(item["id"], T1)]
        second = enqueue(store, 5, period="202611")
        row = store.outbox.sms_start(
            second["id"], number="+1", encode=lambda mid: [str(mid)], now=T1
        )
        assert row["message_id"] == 2 and row["texts"] == ["2"]


def test_retry_now_makes_waiting_items_due_when_the_link_returns(store):
    item = enqueue(store, 41)
    claimed = store.outbox.claim_next(now=T0)
    store.outbox.mark_retry(claimed["id"], error="network", next_attempt_at=T1)
    assert store.outbox.claim_next(now=T0) is None
    assert store.outbox.retry_now(now=T0) == 1
    assert store.outbox.claim_next(now=T0)["id"] == item["id"]
