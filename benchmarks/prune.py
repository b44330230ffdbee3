"""How long pruning holds the write lock, printed as JSON.

A database with a year of power history at the resolutions the daemon keeps (15-minute rows
for the old part, so that there is plenty to prune) and `--items` sent outbox items (a report
of `--payload-kb` each with three attempts) is pruned with the folder's free space reported
as zero, so make_room deletes everything it may. Each batch is one write transaction: the
figures are the batches' durations (median, 95th percentile, max, in ms) per kind, and how
long a writer of another process waited for the write lock while pruning ran (`writer_wait`).

Run: .venv/bin/python benchmarks/prune.py [--items 200] [--payload-kb 20]
(on a Pi 3 stand-in: ../shared/tools/pi-profile .venv/bin/python benchmarks/prune.py)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from appliance.clock import to_iso
from appliance.outbox import enqueue_report
from appliance.store import Store, pruning
from appliance.store.diskspace import Space
from appliance.store.power import DAY_S, QUARTER_S

NOW_S = 1_800_000_000 // DAY_S * DAY_S


def iso(s: float) -> str:
    return to_iso(datetime.fromtimestamp(s, UTC))


def build(path: Path, items: int, payload_kb: int) -> None:
    with Store(path, create=True) as store:
        rows = [
            {"start_s": t, "samples": 180, "faults": 0, "v_avg": 12.5, "v_min": 12.4,
             "v_max": 12.6, "i_avg": 0.5, "soc_last": 80.0, "state": "ok", "clock_trusted": 1}
            for t in range(NOW_S - 365 * DAY_S, NOW_S - 3 * DAY_S, QUARTER_S)
        ]  # fmt: skip
        store.power.add_samples(rows, table="power_samples_15m")
        for i in range(items):
            at = iso(NOW_S - 400 * DAY_S + i * 3600)
            payload = {"dataSet": "ds", "period": f"P{i}", "dataValues": ["x" * payload_kb * 1024]}
            item = enqueue_report(
                store, facility="KLB", dataset="ds", period=f"P{i}", payload=payload, now=at
            )
            store.outbox.claim_next(now=at)
            for _ in range(3):
                store.outbox.record_attempt(
                    item["id"], at=at, duration_ms=900, http_status=200, reply_excerpt="y" * 2000
                )
            store.outbox.mark_delivered(item["id"], at=at, import_summary={"status": "OK"})


def timed_batches(store: Store) -> dict[str, list[float]]:
    """Wrap the repositories' prune calls to time each batch (one transaction each)."""
    times: dict[str, list[float]] = {"outbox_items": [], "power_samples": [], "power_events": []}
    for kind, repo, name in (
        ("outbox_items", store.outbox, "prune_oldest_sent"),
        ("power_samples", store.power, "prune_oldest"),
        ("power_events", store.power, "prune_oldest_events"),
    ):
        original = getattr(repo, name)

        def timed(*args, _original=original, _kind=kind, **kwargs):
            t0 = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                times[_kind].append((time.perf_counter() - t0) * 1000)

        setattr(repo, name, timed)
    return times


def summary(ms: list[float]) -> dict[str, float | int]:
    if not ms:
        return {"batches": 0}
    ordered = sorted(ms)
    return {
        "batches": len(ms),
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "max_ms": round(ordered[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--payload-kb", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "keneya.db"
        build(path, args.items, args.payload_kb)
        size_before = path.stat().st_size
        waits: list[float] = []
        done = threading.Event()

        def writer() -> None:  # another process's writer, on its own connection
            with Store(path) as other:
                while not done.is_set():
                    t0 = time.perf_counter()
                    other.set_setting("writer", str(t0))
                    waits.append((time.perf_counter() - t0) * 1000)
                    time.sleep(0.005)

        thread = threading.Thread(target=writer)
        with Store(path) as store:
            times = timed_batches(store)
            thread.start()
            t0 = time.perf_counter()
            result = pruning.make_room(
                store,
                now_s=NOW_S,
                max_batches=100_000,
                space_of=lambda _f: Space(0, 10**12, read_only=False),
            )
            total_s = time.perf_counter() - t0
            done.set()
            thread.join()
            reusable = pruning.room(store).reusable_bytes
        print(
            json.dumps(
                {
                    "database_bytes": size_before,
                    "pruned": {
                        "outbox_items": result.outbox_items,
                        "power_samples": result.power_samples,
                        "power_events": result.power_events,
                    },
                    "batch": {kind: summary(ms) for kind, ms in times.items()},
                    "total_s": round(total_s, 2),
                    "reusable_bytes_after": reusable,
                    "writer_wait": summary(waits),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
