"""Shutdown policy: debounce, hysteresis, charging and sensor faults."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from power.battery import Chemistry, soc_from_voltage
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


# -- the blind monitor ---------------------------------------------------------------------


def lost(policy, t0, minutes, step=60.0, reason="I/O error"):
    """Feed fault samples every ``step`` s for ``minutes``; returns the decisions."""
    return [
        policy.feed(FaultSample(t0 + step * (k + 1), reason))
        for k in range(round(minutes * 60 / step))
    ]


def test_blind_plan_from_the_last_soc_and_the_highest_draw_without_sun():
    p = ShutdownPolicy(TH, capacity_ah=40.0)
    t = 0.0
    # an hour at each, the two draws at night, then a morning's charge, which is no draw
    for current, hour in ((-0.3, 22.0), (-0.5, 23.0), (2.0, 9.0)):
        for k in range(60):
            t += 60.0
            p.feed(Sample(t, 12.4, current, soc=60.0, hour=hour + k / 60))
    assert p.state is State.OK
    ds = lost(p, t, 10)
    d = ds[-1]
    assert d.state is State.SENSOR_FAULT and d.fault is Fault.SENSOR_LOST
    assert [e.kind for e in ds[0].events] == [EventKind.SENSOR_FAULT]
    # the smoothed -0.5 A after an hour is within 0.3 % of 0.5 A: 45 % of 24 Ah (60 % of 40)
    draw = p._max_draw
    assert draw == pytest.approx(0.5, rel=3e-3)
    planned = t + (60.0 - 15.0) / 100 * 40 * 0.6 / draw * 3600
    assert d.planned_shutdown_t == pytest.approx(planned)
    assert d.minutes_to_shutdown == pytest.approx((planned - d.t) / 60)
    assert "worst case" in d.fault_detail and "60.0 % measured" in d.fault_detail
    ds = lost(p, d.t, (planned - d.t) / 60 + 2)
    first = next(x for x in ds if x.shutdown)
    assert planned <= first.t < planned + 60  # the first sample at or after the plan
    d = first
    reason = next(e.reason for e in d.events if e.kind is EventKind.SHUTDOWN)
    assert reason.startswith("sensor lost: worst-case estimate 15.0 %")
    assert d.state is State.SHUTDOWN_PENDING


def test_a_few_failed_reads_never_start_a_blind_shutdown():
    # charge just above the threshold: the worst case crosses it within a minute
    p = ShutdownPolicy(TH, capacity_ah=40.0)
    t = 0.0
    for _ in range(30):
        t += 60.0
        p.feed(Sample(t, 11.9, -0.8, soc=15.1))
    for _ in range(20):
        ds = lost(p, t, 3)  # three failed reads, then a good one
        t = ds[-1].t + 60.0
        p.feed(Sample(t, 11.9, -0.8, soc=15.1))
        assert not any(d.shutdown for d in ds)
    # a loss that lasts: n_consecutive reads and blind_after_s (5 min)
    ds = lost(p, t, 5)
    assert [d.shutdown for d in ds] == [False] * 4 + [True]


def test_the_sensor_back_takes_over_from_the_blind_estimate():
    p = ShutdownPolicy(TH, capacity_ah=40.0, recover_after=3)
    p.feed(Sample(60.0, 12.5, -0.4, soc=80.0))
    d = lost(p, 60.0, 60)[-1]
    assert d.fault is Fault.SENSOR_LOST and d.planned_shutdown_t is not None
    events = []
    for _ in range(3):
        d = p.feed(Sample(d.t + 60, 12.5, -0.4, soc=79.0, runtime_min=7000.0))
        events += [e.kind for e in d.events]
    assert events == [EventKind.SENSOR_RECOVERED]
    assert d.state is State.OK and d.fault is None
    # the real runtime counts again: 7000 min to 0 % is 7000 x 64/79 min to 15 %
    assert d.minutes_to_shutdown == pytest.approx(7000 * (79 - 15) / 79)


def test_in_the_wait_the_blind_estimate_uses_the_wait_draw_and_ends_in_critical():
    p = ShutdownPolicy(TH, capacity_ah=40.0)
    t = 0.0
    for _ in range(60):
        t += 60.0
        p.feed(Sample(t, 11.6, -0.6, soc=20.0, hour=(21 + t / 3600) % 24))
    p.enter_wait(t)
    assert p.state is State.LOW_POWER_WAIT
    for _ in range(120):
        t += 60.0
        p.feed(Sample(t, 11.7, -0.2, soc=14.0, hour=(21 + t / 3600) % 24))
    # measured from 30 min into the wait, once the smoothing forgot the running load
    assert p._wait_draw == pytest.approx(0.2, rel=1e-3)
    ds = lost(p, t, 10)
    assert ds[-1].planned_shutdown_t is None and ds[-1].state is State.LOW_POWER_WAIT
    critical_t = t + (14.0 - 5.0) / 100 * 40 * 0.6 / p._wait_draw * 3600
    ds = lost(p, ds[-1].t, (critical_t - ds[-1].t) / 60 + 1)
    first = next(d for d in ds if d.critical)
    assert critical_t <= first.t < critical_t + 60
    assert first.state is State.CRITICAL
    assert not any(d.shutdown for d in ds)


# -- the low-power wait ----------------------------------------------------------------------


@pytest.mark.parametrize("step", [5.0, 60.0])
def test_services_come_back_after_resume_s_of_charge_above_soc_resume(step):
    p = ShutdownPolicy(TH)
    p.enter_wait(0.0)
    t = 0.0

    def feed(soc, current, seconds):
        nonlocal t
        out = []
        for _ in range(round(seconds / step)):
            t += step
            out.append(p.feed(Sample(t, 13.4, current, soc=soc)))
        return out

    assert not any(d.resume for d in feed(39.9, 4.0, 3600))  # charging, not yet 40 %
    assert not any(d.resume for d in feed(41.0, 4.0, 300))
    assert not any(d.resume for d in feed(41.0, -0.3, step))  # a cloud: the run starts again
    ds = feed(41.0, 4.0, 600 + step)  # resume_s after the first sample of the run
    assert [d.resume for d in ds] == [False] * (len(ds) - 1) + [True]
    assert ds[-1].state in (State.WARN, State.OK)
    assert p.state is not State.LOW_POWER_WAIT
    reason = next(e.reason for e in ds[-1].events if e.kind is EventKind.RESUME)
    assert reason == "charging +4.00 A, charge 41.0 %"


def test_under_a_fault_the_voltage_brings_the_services_back_after_30_min():
    p = ShutdownPolicy(TH)
    p.enter_wait(0.0)
    t = 0.0
    for _ in range(60):  # a persistent overflow: only the voltage is known
        t += 60.0
        d = p.feed(FaultSample(t, "overflow (OVF) set", voltage_v=12.9))
        assert not d.resume
    assert d.fault is Fault.WRONG_SHUNT
    ds = []
    for _ in range(30):
        t += 60.0
        ds.append(p.feed(FaultSample(t, "overflow (OVF) set", voltage_v=13.1)))
    assert [d.resume for d in ds] == [False] * 29 + [False]
    t += 60.0
    assert p.feed(FaultSample(t, "overflow", voltage_v=13.1)).resume  # 1800 s after the first


def test_critical_in_the_wait_only_while_not_charging():
    p = ShutdownPolicy(TH)
    p.enter_wait(0.0)
    f = Feeder(p)
    f(voltage=11.1, current=0.5, soc=4.0, n=20)  # charging: the sun is back, never power off
    assert p.state is State.LOW_POWER_WAIT
    d = f(voltage=11.3, current=-0.2, soc=4.9, n=4)
    assert not d.critical
    d = f(voltage=11.3, current=-0.2, soc=4.9)
    assert d.critical and d.state is State.CRITICAL
    reason = next(e.reason for e in d.events if e.kind is EventKind.CRITICAL)
    assert reason == "charge 4.9 % < 5 %"
    d = f(voltage=13.5, current=5.0, soc=60.0, n=50)
    assert d.state is State.CRITICAL and f.events.count(EventKind.CRITICAL) == 1  # terminal


def test_critical_while_running_below_v_critical():
    f = Feeder()
    d = f(voltage=11.1, n=5)
    assert d.critical
    assert f.events == [EventKind.CRITICAL]  # straight to the poweroff, no wait to go through
    assert f.policy.state is State.CRITICAL
    assert not f(voltage=11.1, current=-0.4).critical  # said once


def test_lifepo4_critical_and_resume_levels():
    th = Thresholds.for_chemistry(Chemistry.LIFEPO4)
    assert (th.v_critical, th.soc_critical, th.soc_resume, th.v_resume) == (12.2, 5.0, 35.0, 13.5)
    lead = Thresholds.for_chemistry(Chemistry.LEAD_ACID)
    assert (lead.v_critical, lead.soc_critical, lead.soc_resume, lead.v_resume) == (
        11.15,
        5.0,
        40.0,
        13.0,
    )


def test_cancel_goes_back_to_running_and_decides_again_if_still_low():
    f = Feeder()
    f(voltage=11.3, n=5)
    assert f.policy.pending
    f.policy.cancel(f.t)
    assert f.policy.state is State.WARN and not f.policy.pending
    d = f(voltage=11.3, n=4)
    assert not d.shutdown
    assert f(voltage=11.3).shutdown


def test_force_resume_leaves_the_wait():
    f = Feeder()
    f(voltage=11.3, n=5)
    f.policy.enter_wait(f.t)
    assert f(voltage=11.5).state is State.LOW_POWER_WAIT
    f.policy.force_resume(f.t)
    assert f(voltage=11.5).state is State.WARN
    assert f(voltage=11.3, n=5).shutdown  # still low: the policy decides again


# -- the voltage-only fallback ----------------------------------------------------------------


def reversed_policy():
    """A policy that has named a reversed shunt (charging at 23:00 for 30 min)."""
    p = ShutdownPolicy(TH)
    t = 0.0
    for _ in range(32):
        t += 60.0
        d = p.feed(Sample(t, 12.3, 0.35, hour=23.0))
    assert d.fault is Fault.REVERSED_SHUNT
    return p, t


def test_a_named_fault_is_an_event_with_its_detail():
    p = ShutdownPolicy(TH)
    kinds = []
    for k in range(32):
        d = p.feed(Sample(60.0 * (k + 1), 12.3, 0.35, hour=23.0))
        kinds += [(e.kind, e.reason) for e in d.events]
    assert len(kinds) == 1 and kinds[0][0] is EventKind.FAULT
    assert kinds[0][1].startswith("reversed_shunt: charging current +0.35 A at night")
    assert d.state is State.SENSOR_FAULT and d.fault_detail in kinds[0][1]


def test_under_a_fault_low_voltage_shuts_down_whatever_the_current_says():
    p, t = reversed_policy()
    f = Feeder(p)
    f.t = t
    d = f(voltage=11.3, current=0.4, n=4)  # reads as a charge: the shunt is backwards
    assert not d.shutdown
    d = f(voltage=11.3, current=0.4)
    assert d.shutdown
    reason = next(e.reason for e in d.events if e.kind is EventKind.SHUTDOWN)
    assert reason == "voltage 11.300 V < 11.4 V (voltage only: reversed_shunt)"
    assert EventKind.WARN in f.events


def test_under_a_fault_charge_and_runtime_are_ignored():
    p, t = reversed_policy()
    f = Feeder(p)
    f.t = t
    d = f(voltage=12.3, current=-0.4, soc=3.0, runtime=5.0, n=20)
    assert not f.policy.pending and not d.critical
    # from the voltage: 68.3 % (12.3 V) to 12.0 % (11.4 V) of 40 Ah at the default 0.8 A
    hours = (soc_from_voltage(12.3) - soc_from_voltage(11.4)) / 100 * 40 / 0.8
    assert d.minutes_to_shutdown == pytest.approx(hours * 60)
    assert f(voltage=13.8, current=-0.4).minutes_to_shutdown is None  # a charging voltage


def test_overflow_sample_is_voltage_only():
    p = ShutdownPolicy(TH)
    for k in range(5):
        d = p.feed(FaultSample(60.0 * (k + 1), "overflow", voltage_v=11.3))
    assert d.shutdown  # decided on the voltage alone, before the overflow is named a fault
    assert d.fault is None and p.state is State.SHUTDOWN_PENDING
    assert not p.lost  # the voltage was read: not a lost sensor


def test_an_impossible_voltage_in_a_fault_sample_is_a_lost_read():
    p = ShutdownPolicy(TH)
    d = p.feed(FaultSample(60.0, "overflow", voltage_v=31.9))
    assert d.fault is Fault.SENSOR_LOST


# -- runtime to the shutdown point -----------------------------------------------------------


def test_minutes_to_shutdown_count_to_the_shutdown_point_not_to_empty():
    f = Feeder()
    # the estimator's 2008 min to 0 % at 34 %: the shutdown point (15 %) is 1122 min away
    d = f(voltage=12.1, current=-0.6, soc=34.0, runtime=2008.0)
    assert d.minutes_to_shutdown == pytest.approx(2008 * (34 - 15) / 34)
    assert d.planned_shutdown_t == pytest.approx(d.t + d.minutes_to_shutdown * 60)
    # a short runtime condition comes first
    d = f(voltage=12.1, current=-0.6, soc=34.0, runtime=40.0)
    assert d.minutes_to_shutdown == pytest.approx(10.0)
    d = f(voltage=13.4, current=2.0, soc=34.0, runtime=None)
    assert d.minutes_to_shutdown is None and d.planned_shutdown_t is None  # charging
    f(voltage=11.3, current=-0.6, n=5)
    assert f.policy.pending
    assert f(voltage=11.3).minutes_to_shutdown is None  # already decided


def test_decision_properties():
    f = Feeder()
    d = f()
    assert not (d.shutdown or d.resume or d.critical)
    assert d.fault is None and d.fault_detail is None


@pytest.mark.parametrize(
    "kw",
    [
        dict(v_warn=11.8, v_low=11.4, v_critical=11.4),
        dict(v_warn=11.8, v_low=11.4, soc_critical=15.0),
        dict(v_warn=11.8, v_low=11.4, soc_resume=15.0),
        dict(v_warn=11.8, v_low=11.4, soc_resume=101.0),
        dict(v_warn=11.8, v_low=11.4, v_resume=11.0),
        dict(v_warn=11.8, v_low=11.4, resume_s=-1.0),
        dict(v_warn=11.8, v_low=11.4, blind_capacity_pct=0.0),
    ],
)
def test_new_threshold_validation(kw):
    with pytest.raises(ValueError):
        Thresholds(**kw)


def test_blind_critical_even_without_the_wait():
    # a blind shutdown called off by staff each time: at soc_critical the poweroff comes anyway
    p = ShutdownPolicy(TH, capacity_ah=40.0)
    p.feed(Sample(60.0, 11.9, -0.8, soc=16.0))
    t, kinds = 60.0, []
    while not p.critical and t < 86400:
        t += 60.0
        d = p.feed(FaultSample(t, "I/O error"))
        kinds += [e.kind for e in d.events]
        if p.pending:
            p.cancel(t)
    critical_t = 60.0 + (16.0 - 5.0) / 100 * 40 * 0.6 / 0.8 * 3600
    assert critical_t <= t < critical_t + 60
    assert kinds.count(EventKind.CRITICAL) == 1 and EventKind.SHUTDOWN in kinds


def test_an_impossible_voltage_is_blind_and_named_implausible():
    # IN- came off the battery: the bus reads ~0 V while the current still reads
    p = ShutdownPolicy(TH, capacity_ah=40.0, recover_after=3)
    p.feed(Sample(60.0, 12.3, -0.5, soc=50.0))
    kinds = []
    for k in range(10):
        d = p.feed(Sample(120.0 + 60 * k, 0.02, -0.5, soc=50.0))
        kinds += [e.kind for e in d.events]
    assert d.fault is Fault.IMPLAUSIBLE and d.state is State.SENSOR_FAULT
    assert kinds == [EventKind.SENSOR_FAULT, EventKind.FAULT]
    assert d.fault_detail.startswith("implausible readings (battery voltage 0.02 V outside 8-16 V)")
    # no trusted hour, so no dark draw measured: default_draw_a (0.8 A) over the 0.5 A read
    assert d.planned_shutdown_t == pytest.approx(60.0 + 35 / 100 * 24 / 0.8 * 3600)
    for k in range(3):
        d = p.feed(Sample(800.0 + 60 * k, 12.3, -0.5, soc=50.0))
    assert d.fault is None and d.state is State.OK


def test_appliance_lead_decides_on_the_voltage_and_measures_the_draw():
    p = ShutdownPolicy(TH, capacity_ah=40.0, lead="appliance")
    f = Feeder(p)
    # the estimator's charge count sees no charge on this lead: it is not used
    d = f(voltage=12.2, current=-0.6, soc=3.0, runtime=5.0, n=30)
    assert not p.pending and not d.critical and d.fault is None and d.state is State.OK
    hours = (soc_from_voltage(12.2) - soc_from_voltage(11.4)) / 100 * 40 / 0.6
    assert d.minutes_to_shutdown == pytest.approx(hours * 60, rel=1e-3)  # the measured draw
    assert p._max_draw == pytest.approx(0.6)
    d = f(voltage=11.3, current=-0.6, n=5)
    assert d.shutdown
    reason = next(e.reason for e in d.events if e.kind is EventKind.SHUTDOWN)
    assert reason == "voltage 11.300 V < 11.4 V (voltage only: appliance lead)"
    p.enter_wait(f.t)
    f(voltage=12.9, current=-0.2, n=40)
    assert p.state is State.LOW_POWER_WAIT  # no charge to see: the voltage brings them back
    d = f(voltage=13.2, current=-0.2, n=30)
    assert not d.resume
    assert f(voltage=13.2, current=-0.2).resume  # 1800 s after the first sample at 13.2 V


def test_draws_read_through_a_wrong_shunt_do_not_feed_the_blind_estimate():
    p = ShutdownPolicy(TH, capacity_ah=40.0, shunt_ohms=0.01)
    t = 0.0
    for _ in range(20):  # a 0.1 ohm board read as 0.01: the night's 0.33 A reads 3.3 A
        t += 60.0
        d = p.feed(Sample(t, 12.4, -3.3, soc=80.0, hour=23.0))
    assert d.fault is Fault.WRONG_SHUNT
    d = lost(p, t, 10)[-1]
    assert "at 0.80 A" in d.fault_detail  # the default draw, not the 2 A the readings gave


def test_a_charging_voltage_does_not_reset_the_blind_estimate_to_full():
    p, t = reversed_policy()  # voltage only from here on; 12.3 V at night anchors 68.3 %
    anchored = p._blind_anchor()
    for _ in range(60):  # the sun: 14.2 V under charge, whatever the battery holds
        t += 60.0
        p.feed(Sample(t, 14.2, -4.0, hour=11.0))
    assert p._blind_anchor() == anchored
    d = lost(p, t, 10)[-1]
    assert f"from {soc_from_voltage(12.3):.1f} % measured 70 min ago" in d.fault_detail


# -- the blind estimate's draw: only the dark tells the appliance's own -----------------------


def fed(p, t, hours, current, soc, start_hour, step=60.0):
    """Samples every ``step`` s for ``hours`` from ``t``, the UTC hour running from
    ``start_hour`` at t = 0; returns the last sample's time."""
    for _ in range(round(hours * 3600 / step)):
        t += step
        p.feed(Sample(t, 12.3, current, soc=soc, hour=(start_hour + t / 3600) % 24))
    return t


def test_a_daytime_discharge_is_not_the_draw_the_blind_estimate_takes():
    # started at 08:00 UTC: a weak panel covers most of the load, the battery reads -0.13 A
    p = ShutdownPolicy(TH, capacity_ah=40.0, default_draw_a=0.8)
    t = fed(p, 0.0, 10, -0.13, 60.0, start_hour=8.0)  # to 18:00, still light
    d = lost(p, t, 10)[-1]
    # no dark stretch measured: the default 0.8 A, not the 0.13 A the panel left
    assert d.planned_shutdown_t == pytest.approx(t + 45 / 100 * 24 / 0.8 * 3600)
    assert "at 0.80 A" in d.fault_detail


def test_a_draw_measured_in_the_dark_replaces_the_default():
    p = ShutdownPolicy(TH, capacity_ah=40.0, default_draw_a=0.8, recover_after=1)
    t = fed(p, 0.0, 10, -0.13, 60.0, start_hour=8.0)
    t = fed(p, t, 2, -0.05, 60.0, start_hour=8.0)  # dusk: idle
    t = fed(p, t, 1, -0.37, 60.0, start_hour=8.0)  # 20:00-21:00, dark
    d = lost(p, t, 10)[-1]
    draw = p._blind_draw()
    assert draw == pytest.approx(0.37, rel=1e-2)
    assert d.planned_shutdown_t == pytest.approx(t + 45 / 100 * 24 / draw * 3600)


def test_without_a_trusted_hour_the_blind_draw_is_at_least_the_default():
    p = ShutdownPolicy(TH, capacity_ah=40.0, default_draw_a=0.8, max_draw_a=2.0)
    f = Feeder(p)
    f(current=-0.4, soc=60.0, n=120)
    assert p._blind_draw() == 0.8
    f(current=-1.2, soc=60.0, n=120)  # a higher draw than the default still counts
    assert p._blind_draw() == pytest.approx(1.2, rel=1e-3)


# -- the blind retry in the low-power wait ---------------------------------------------------


def blind_wait(wait_hour, soc=50.0):
    """A policy that measured two hours of night draw (0.37 A) and entered the wait at the
    UTC hour ``wait_hour``; returns (policy, wait start). Lose its sensor from there."""
    p = ShutdownPolicy(TH, capacity_ah=40.0)
    t = fed(p, 0.0, 2.0, -0.37, soc, start_hour=wait_hour - 2)
    p.enter_wait(t)
    return p, t


def first_resume(p, t, hours):
    """Lost reads every minute from ``t`` up to the first RESUME (None: none in ``hours``)."""
    for k in range(round(hours * 60)):
        d = p.feed(FaultSample(t + 60.0 * (k + 1), "I/O error"))
        assert not d.critical
        if d.resume:
            return d
    return None


def test_blind_in_the_wait_the_services_come_back_a_day_later_at_late_morning():
    p, w = blind_wait(wait_hour=2.5, soc=95.0)  # enough charge to outlast a day blind
    d = first_resume(p, w, 40)
    # 20 h at least (a whole day of sun), then the next 11:00 UTC: 22:30 + 12.5 h = 32.5 h
    assert d is not None and w + 32.5 * 3600 <= d.t < w + 32.5 * 3600 + 120
    assert d.fault is Fault.SENSOR_LOST and d.state is State.SENSOR_FAULT
    reason = next(e.reason for e in d.events if e.kind is EventKind.RESUME)
    assert reason == "sensor lost: trying again at 11:00 UTC, 20 h at least into the wait"
    # the estimate starts again from its assumed level (the warning's) at the resume
    after = p.feed(FaultSample(d.t + 60, "I/O error"))
    warn_soc = soc_from_voltage(TH.v_warn)
    assert p._blind_draw() == pytest.approx(0.37, rel=1e-2)
    assert after.planned_shutdown_t == pytest.approx(
        d.t + (warn_soc - 15) / 100 * 24 / p._blind_draw() * 3600
    )
    assert "assumed" in after.fault_detail


def test_blind_in_the_wait_never_before_a_day_nor_at_night():
    for wait_hour in (9.0, 14.0, 18.0, 22.0):
        # a battery big enough that the blind estimate outlasts the longest wait (44 h)
        p = ShutdownPolicy(TH, capacity_ah=400.0)
        w = fed(p, 0.0, 2.0, -0.37, 95.0, start_hour=wait_hour - 2)
        p.enter_wait(w)
        d = first_resume(p, w, 48)
        waited_h = (d.t - w) / 3600
        hour = (wait_hour + waited_h) % 24
        assert 20 <= waited_h <= 44 + 0.1 and 11.0 <= hour < 11.1, (wait_hour, waited_h, hour)


def test_blind_retry_without_a_trusted_hour_and_overridden():
    th = Thresholds(v_warn=11.8, v_low=11.4, blind_retry_s=6 * 3600)
    p = ShutdownPolicy(th, capacity_ah=40.0)
    f = Feeder(p)
    f(current=-0.4, soc=60.0, n=60)
    p.enter_wait(f.t)
    d = first_resume(p, f.t, 7)
    assert d is not None and f.t + 60 + 6 * 3600 <= d.t < f.t + 6 * 3600 + 120
    assert "trying again after 6 h" in d.events[-1].reason


def test_the_sensor_back_in_the_wait_takes_the_normal_resume_rules():
    p, w = blind_wait(wait_hour=2.5)
    p.recover_after = 3
    lost(p, w, 5 * 60)
    t = w + 5 * 3600  # back at 07:30, in daylight
    kinds = []
    for _ in range(12 * 60):  # charging weakly, never at soc_resume: no retry by the clock
        t += 60
        d = p.feed(Sample(t, 12.6, 0.5, soc=30.0, hour=(0.5 + t / 3600) % 24))
        kinds += [e.kind for e in d.events]
    assert kinds == [EventKind.SENSOR_RECOVERED] and d.state is State.LOW_POWER_WAIT
    for _ in range(15):
        t += 60
        d = p.feed(Sample(t, 13.2, 2.0, soc=45.0, hour=(0.5 + t / 3600) % 24))
        kinds += [e.kind for e in d.events]
    assert kinds[-1] is EventKind.RESUME and d.fault is None


def test_a_policy_begun_in_the_wait_retries_instead_of_going_critical_blind():
    # the daemon's fresh policy for the read-only hold: no reading ever, the wait at once
    p = ShutdownPolicy(TH, capacity_ah=40.0)
    p.enter_wait(0.0)
    d = first_resume(p, 0.0, 21)  # asserts no CRITICAL on the way
    assert d is not None and 60 + 20 * 3600 <= d.t < 20 * 3600 + 120
    assert d.fault is Fault.SENSOR_LOST
