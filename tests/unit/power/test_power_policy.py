"""Shutdown policy: debounce, hysteresis, charging and sensor faults."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from power.battery import Chemistry
from power.policy import (
    DEFAULT_THRESHOLDS,
    EventKind,
    Fault,
    FaultSample,
    Sample,
    ShutdownPolicy,
    State,
    Thresholds,
)

TH = Thresholds(v_warn=11.8, v_low=11.4, n_consecutive=5, cancel_margin_v=0.4)
DISCHARGE = -0.4


class Feeder:
    def __init__(self, policy=None):
        self.policy = policy or ShutdownPolicy(TH)
        self.t = 0.0
        self.events = []

    def __call__(self, voltage=12.3, current=DISCHARGE, soc=None, runtime=None, n=1):
        for _ in range(n):
            self.t += 60.0
            d = self.policy.feed(Sample(self.t, voltage, current, soc, runtime))
            self.events.extend(e.kind for e in d.events)
        return d

    def fault(self, n=1):
        for _ in range(n):
            self.t += 60.0
            d = self.policy.feed(FaultSample(self.t, "I/O error"))
            self.events.extend(e.kind for e in d.events)
        return d


def test_default_thresholds_per_chemistry():
    lead = Thresholds.for_chemistry(Chemistry.LEAD_ACID)
    assert (lead.v_warn, lead.v_low, lead.n_consecutive) == (11.8, 11.4, 5)
    assert (lead.soc_low, lead.runtime_min, lead.cancel_margin_v) == (15.0, 30.0, 0.4)
    lfp = Thresholds.for_chemistry("lifepo4")
    assert (lfp.v_warn, lfp.v_low) == (12.9, 12.6)
    assert set(DEFAULT_THRESHOLDS) == set(Chemistry)
    assert ShutdownPolicy(chemistry=Chemistry.LIFEPO4).thresholds == lfp


@pytest.mark.parametrize(
    "kw",
    [
        dict(v_warn=11.0, v_low=11.4),
        dict(v_warn=11.8, v_low=11.4, n_consecutive=0),
        dict(v_warn=11.8, v_low=11.4, cancel_margin_v=-0.1),
    ],
)
def test_threshold_validation(kw):
    with pytest.raises(ValueError):
        Thresholds(**kw)


def test_starts_ok():
    f = Feeder()
    assert f().state is State.OK
    assert f.events == []


def test_low_voltage_shuts_down_after_n_consecutive_samples():
    f = Feeder()
    d = f(voltage=11.3, n=4)
    assert d.state is State.OK  # the warning is debounced the same way
    assert f.events == []
    d = f(voltage=11.3)
    assert d.shutdown
    assert d.state is State.SHUTDOWN_PENDING
    reasons = [e.reason for e in d.events if e.kind is EventKind.SHUTDOWN]
    assert reasons == ["voltage 11.300 V < 11.4 V"]
    assert f.events.count(EventKind.SHUTDOWN) == 1
    f(voltage=11.2, n=10)
    assert f.events.count(EventKind.SHUTDOWN) == 1  # decided once, not every sample


def test_interrupted_run_does_not_shut_down():
    f = Feeder()
    for _ in range(20):
        f(voltage=11.3, n=4)
        f(voltage=11.6)
    assert EventKind.SHUTDOWN not in f.events


def test_warn_and_clear():
    f = Feeder()
    d = f(voltage=11.7, n=5)
    assert d.state is State.WARN
    assert f.events == [EventKind.WARN]
    f(voltage=11.9, n=10)  # above v_warn but within its hysteresis
    assert f.policy.state is State.WARN
    d = f(voltage=13.5, current=2.0, n=5)
    assert d.state is State.OK
    assert f.events == [EventKind.WARN, EventKind.WARN_CLEARED]


def test_low_soc_shuts_down():
    f = Feeder()
    d = f(voltage=12.2, soc=14.0, n=5)
    assert d.shutdown
    assert [e.reason for e in d.events if e.kind is EventKind.SHUTDOWN] == ["charge 14.0 % < 15 %"]


def test_short_runtime_shuts_down():
    f = Feeder()
    f(voltage=12.2, soc=50.0, runtime=29.0, n=4)
    assert f.policy.state is State.OK
    assert f(voltage=12.2, soc=50.0, runtime=29.0).shutdown


def test_charging_never_shuts_down():
    f = Feeder()
    f(voltage=10.0, current=1.5, soc=1.0, runtime=0.0, n=100)
    assert EventKind.SHUTDOWN not in f.events
    assert f.policy.state is State.OK


def test_idle_current_is_not_discharging():
    f = Feeder()
    f(voltage=11.0, current=-0.01, n=50)
    assert EventKind.SHUTDOWN not in f.events


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=8.0, max_value=15.0),
            st.floats(min_value=TH.charging_a + 1e-6, max_value=20.0),
            st.one_of(st.none(), st.floats(min_value=0.0, max_value=100.0)),
            st.one_of(st.none(), st.floats(min_value=0.0, max_value=1e4)),
        ),
        max_size=60,
    )
)
def test_property_charging_samples_never_shut_down(samples):
    policy = ShutdownPolicy(TH)
    for k, (v, i, soc, rt) in enumerate(samples):
        d = policy.feed(Sample(60.0 * k, v, i, soc, rt))
        assert not d.shutdown
        assert d.state is not State.SHUTDOWN_PENDING


@given(st.lists(st.integers(min_value=1, max_value=TH.n_consecutive - 1), max_size=30))
def test_property_spikes_shorter_than_n_never_shut_down(runs):
    f = Feeder()
    for run in runs:
        f(voltage=9.5, soc=0.0, runtime=0.0, n=run)  # a burst of bad samples
        f(voltage=12.4, soc=60.0, runtime=600.0)  # one good sample breaks it
    assert EventKind.SHUTDOWN not in f.events


def test_pending_not_cancelled_just_above_v_low():
    f = Feeder()
    f(voltage=11.3, n=5)
    d = f(voltage=TH.v_low + 0.05, n=50)
    assert d.state is State.SHUTDOWN_PENDING
    d = f(voltage=TH.v_low + TH.cancel_margin_v - 0.01, n=50)
    assert d.state is State.SHUTDOWN_PENDING
    assert EventKind.SHUTDOWN_CANCELLED not in f.events


def test_pending_cancelled_above_v_low_plus_margin_after_n_samples():
    f = Feeder()
    f(voltage=11.3, n=5)
    f(voltage=12.0, n=1)
    f(voltage=11.5, n=1)  # a single high sample does not cancel
    assert f.policy.state is State.SHUTDOWN_PENDING
    d = f(voltage=TH.v_low + TH.cancel_margin_v + 0.01, n=4)
    assert d.state is State.SHUTDOWN_PENDING
    d = f(voltage=TH.v_low + TH.cancel_margin_v + 0.01)
    assert EventKind.SHUTDOWN_CANCELLED in [e.kind for e in d.events]
    assert d.state is not State.SHUTDOWN_PENDING


def test_pending_for_low_soc_not_cancelled_by_voltage_alone():
    f = Feeder()
    f(voltage=12.2, soc=10.0, n=5)
    f(voltage=12.2, soc=10.0, n=20)
    assert f.policy.state is State.SHUTDOWN_PENDING


def test_weak_charge_below_margin_does_not_cancel():
    f = Feeder()
    f(voltage=11.3, n=5)
    d = f(voltage=11.6, current=0.5, n=30)
    assert d.state is State.SHUTDOWN_PENDING
    assert f.events.count(EventKind.SHUTDOWN) == 1  # decided once, never on a charging sample


def test_charging_cancels_pending_through_voltage():
    f = Feeder()
    f(voltage=11.3, n=5)
    d = f(voltage=13.8, current=3.0, n=5)
    assert d.state is State.OK
    assert EventKind.SHUTDOWN_CANCELLED in f.events


def test_sensor_dead_since_start_plans_from_the_warning_level():
    # never a reading: the battery is assumed at the warning level (11.8 V resting = 33.3 %)
    # when the monitor started, drained at default_draw_a from a 60 % aged 40 Ah battery
    f = Feeder()
    d = f.fault(n=10)
    assert d.state is State.SENSOR_FAULT
    assert d.fault is Fault.SENSOR_LOST
    assert f.events == [EventKind.SENSOR_FAULT, EventKind.WARN]  # one alert, not one per read
    warn_soc = 30 + (11.8 - 11.75) / (11.90 - 11.75) * 10
    hours = (warn_soc - 15) / 100 * 40 * 0.6 / 0.8
    assert d.planned_shutdown_t == pytest.approx(60 + hours * 3600)
    assert d.minutes_to_shutdown == pytest.approx(hours * 60 - 9)
    assert "assumed" in d.fault_detail
    d = f.fault(n=round(hours * 60) - 10)
    assert not f.policy.pending
    d = f.fault()
    assert d.shutdown and d.t == pytest.approx(60 + hours * 3600)
    assert f.events.count(EventKind.SHUTDOWN) == 1
    reason = next(e.reason for e in d.events if e.kind is EventKind.SHUTDOWN)
    assert reason.startswith("sensor lost: worst-case estimate")


def test_sensor_recovers_after_good_samples():
    f = Feeder(ShutdownPolicy(TH, recover_after=3))
    f.fault()
    f(n=2)
    assert f.policy.state is State.SENSOR_FAULT
    f.fault()
    f(n=2)
    assert f.policy.state is State.SENSOR_FAULT
    d = f()
    assert d.state is State.OK
    assert f.events == [EventKind.SENSOR_FAULT, EventKind.SENSOR_RECOVERED]


def test_faults_do_not_break_a_genuine_low_run():
    f = Feeder()
    for _ in range(4):
        f(voltage=11.2)
        f.fault()
    d = f(voltage=11.2)
    assert d.shutdown


def test_pending_outranks_fault_state():
    f = Feeder()
    f(voltage=11.2, n=5)
    assert f.fault().state is State.SHUTDOWN_PENDING
    assert f.policy.faulted


def test_time_must_not_go_backwards():
    policy = ShutdownPolicy(TH)
    policy.feed(Sample(100.0, 12.0, -0.5))
    with pytest.raises(ValueError):
        policy.feed(FaultSample(50.0))
