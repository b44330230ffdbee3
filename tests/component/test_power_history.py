"""History resolutions after ~100 simulated days of the daemon: minutes for 48 h, 15-minute
rows for 90 days, days before that, and no reading lost on the way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appliance.store import Store
from appliance.store.power import DAY_S, KEEP_MINUTES_S, KEEP_QUARTERS_S, QUARTER_S
from power.daemon import Settings
from power.sim import get
from power.simulated import simulated_daemon
from power.views import history_points

pytestmark = pytest.mark.component

ORIGIN = datetime(2026, 10, 15, tzinfo=UTC)
DAYS = 100


@pytest.fixture(scope="module")
def hundred_days(tmp_path_factory):
    """One reading every 10 simulated minutes (coarse, so 100 days take seconds)."""
    path = tmp_path_factory.mktemp("power") / "keneya.db"
    settings = Settings(sample_s=600, batch_s=3600)
    with (
        Store(path, create=True) as store,
        simulated_daemon(store, get("sunny"), origin=ORIGIN, settings=settings) as sim,
    ):
        summary = sim.daemon.run(duration_s=DAYS * DAY_S)
        now_s = sim.daemon.time.wall()[0]
    store = Store(path)
    yield store, summary, now_s
    store.close()


def rows(store, table):
    return store.query(f"SELECT * FROM power_samples_{table} ORDER BY start_s")


def test_each_resolution_holds_its_own_age_range(hundred_days):
    store, _, now_s = hundred_days
    # the last roll-up ran at most an hour (rollup_every_s) before the end
    minute_cutoff = int(now_s - 3600 - KEEP_MINUTES_S) // QUARTER_S * QUARTER_S
    quarter_cutoff = int(now_s - KEEP_QUARTERS_S) // DAY_S * DAY_S
    minutes, quarters, days = rows(store, "1m"), rows(store, "15m"), rows(store, "1d")
    assert minutes and quarters and days
    assert minutes[0]["start_s"] >= minute_cutoff
    assert now_s - minutes[0]["start_s"] <= KEEP_MINUTES_S + 3600 + QUARTER_S
    assert quarters[-1]["start_s"] < minutes[0]["start_s"]
    assert quarters[0]["start_s"] >= quarter_cutoff - DAY_S
    assert all(r["start_s"] % QUARTER_S == 0 for r in quarters)
    assert days[-1]["start_s"] < quarters[0]["start_s"]
    assert all(r["start_s"] % DAY_S == 0 for r in days)
    assert 9 <= len(days) <= 11  # ~100 - 90 days


def test_no_reading_is_lost_in_the_roll_ups(hundred_days):
    store, summary, _ = hundred_days
    totals = store.power.totals()
    assert sum(t["samples"] for t in totals.values()) == summary.samples == DAYS * 144 + 1
    assert store.integrity_check() == []


def test_aggregates_stay_consistent(hundred_days):
    store, _, _ = hundred_days
    for table in ("15m", "1d"):
        for r in rows(store, table):
            assert r["v_min"] - 1e-9 <= r["v_avg"] <= r["v_max"] + 1e-9
            assert 0 <= r["soc_last"] <= 100
    day = rows(store, "1d")[0]
    assert day["samples"] == 144  # a whole day of readings every 10 minutes
    assert day["i_avg"] < 1.0 and day["v_max"] > 13.5  # charged by day, drained by night


def test_history_reads_each_window_at_its_stored_resolution(hundred_days):
    store, _, now_s = hundred_days
    last_day = history_points(store.power.history(now_s - DAY_S, until_s=now_s))
    assert {p["resolution_s"] for p in last_day} == {60}
    assert len(last_day) == 144 + 1  # one per reading: a reading every 10 minutes
    week = store.power.history(now_s - 7 * DAY_S, until_s=now_s)
    assert {r["resolution_s"] for r in week} == {60, QUARTER_S}
    everything = store.power.history(now_s - (DAYS + 1) * DAY_S, until_s=now_s)
    assert {r["resolution_s"] for r in everything} == {60, QUARTER_S, DAY_S}
    starts = [r["start_s"] for r in everything]
    assert starts == sorted(starts)
