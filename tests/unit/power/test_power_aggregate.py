"""Readings -> minute rows: bucketing, faults, worst state, the open bucket."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from power.aggregate import MinuteAggregator, worst
from power.policy import State

T0 = 1_800_000_000  # a minute boundary (divisible by 60)


def test_readings_in_one_minute_make_one_row_when_the_next_minute_starts():
    agg = MinuteAggregator()
    for i, (v, a) in enumerate([(12.0, -0.4), (12.2, -0.6), (12.1, -0.5)]):
        assert agg.add(T0 + 5 * i, state=State.OK, trusted=True, voltage_v=v, current_a=a) == []
    closed = agg.add(T0 + 60, state=State.OK, trusted=True, voltage_v=12.0, current_a=-0.5)
    assert len(closed) == 1
    row = closed[0]
    assert row["start_s"] == T0
    assert row["samples"] == 3 and row["faults"] == 0
    assert row["v_avg"] == pytest.approx(12.1)
    assert (row["v_min"], row["v_max"]) == (12.0, 12.2)
    assert row["i_avg"] == pytest.approx(-0.5)
    assert agg.open is not None and agg.open.start_s == T0 + 60


def test_failed_readings_are_counted_not_averaged():
    agg = MinuteAggregator()
    agg.add(T0, state=State.SENSOR_FAULT, trusted=True)
    agg.add(T0 + 5, state=State.SENSOR_FAULT, trusted=True)
    [row] = agg.flush()
    assert row["samples"] == 0 and row["faults"] == 2
    assert row["v_avg"] is None and row["i_avg"] is None and row["soc_last"] is None
    assert row["state"] == "sensor_fault"
    assert agg.flush() == []  # the open bucket was handed over once


def test_a_bucket_keeps_the_worst_state_and_the_last_soc():
    agg = MinuteAggregator()
    states = [State.OK, State.SHUTDOWN_PENDING, State.WARN]
    for i, state in enumerate(states):
        agg.add(T0 + i, state=state, trusted=True, voltage_v=12, current_a=-1, soc=50 - i)
    [row] = agg.flush()
    assert row["state"] == "shutdown_pending"
    assert row["soc_last"] == 48


def test_one_untrusted_reading_makes_the_bucket_untrusted():
    agg = MinuteAggregator()
    agg.add(T0, state=State.OK, trusted=True, voltage_v=12, current_a=0)
    agg.add(T0 + 1, state=State.OK, trusted=False, voltage_v=12, current_a=0)
    assert agg.flush()[0]["clock_trusted"] is False


def test_clock_stepped_back_closes_the_bucket_too():
    agg = MinuteAggregator()
    agg.add(T0 + 120, state=State.OK, trusted=False, voltage_v=12, current_a=0)
    closed = agg.add(T0, state=State.OK, trusted=True, voltage_v=12, current_a=0)
    assert [r["start_s"] for r in closed] == [T0 + 120]


def test_severity_order():
    assert worst(State.OK, State.WARN) is State.WARN
    assert worst(State.SENSOR_FAULT, State.WARN) is State.SENSOR_FAULT
    assert worst(State.SHUTDOWN_PENDING, State.SENSOR_FAULT) is State.SHUTDOWN_PENDING
    assert worst(State.SHUTDOWN_PENDING, State.LOW_POWER_WAIT) is State.LOW_POWER_WAIT
    assert worst(State.CRITICAL, State.LOW_POWER_WAIT) is State.CRITICAL


def test_every_state_has_a_severity_in_the_stores_order():
    from appliance.store.power import STATES
    from power.aggregate import SEVERITY

    assert sorted(SEVERITY, key=SEVERITY.get) == [State(s) for s in STATES]
    assert set(SEVERITY) == set(State)


@given(
    st.lists(
        st.tuples(st.integers(0, 600), st.floats(10, 15), st.booleans()), min_size=1, max_size=80
    )
)
def test_no_reading_is_lost_or_counted_twice(readings):
    agg = MinuteAggregator()
    rows = []
    t = T0
    for dt, v, ok in readings:
        t += dt
        if ok:
            rows += agg.add(t, state=State.OK, trusted=True, voltage_v=v, current_a=-0.5)
        else:
            rows += agg.add(t, state=State.SENSOR_FAULT, trusted=True)
    rows += agg.flush()
    assert sum(r["samples"] + r["faults"] for r in rows) == len(readings)
    assert sum(r["samples"] for r in rows) == sum(ok for *_, ok in readings)
    assert all(r["start_s"] % 60 == 0 for r in rows)
    for r in rows:
        if r["samples"]:
            assert r["v_min"] - 1e-9 <= r["v_avg"] <= r["v_max"] + 1e-9
