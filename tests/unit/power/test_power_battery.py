"""State of charge: resting-voltage curves, coulomb counting, runtime."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from power.battery import (
    RESTING_VOLTAGE,
    Chemistry,
    SocEstimator,
    soc_from_voltage,
    voltage_from_soc,
)

LEAD = [12.70, 12.50, 12.42, 12.32, 12.20, 12.06, 11.90, 11.75, 11.58, 11.31, 10.50]
LFP = [13.60, 13.40, 13.28, 13.16, 13.08, 13.04, 13.00, 12.92, 12.80, 12.48, 12.00]
TABLE_POINTS = [
    (chem, volts, 100 - 10 * i)
    for chem, table in ((Chemistry.LEAD_ACID, LEAD), (Chemistry.LIFEPO4, LFP))
    for i, volts in enumerate(table)
]


@pytest.mark.parametrize(("chem", "volts", "soc"), TABLE_POINTS)
def test_curve_table_points(chem, volts, soc):
    assert soc_from_voltage(volts, chemistry=chem) == pytest.approx(soc, abs=1e-9)
    assert voltage_from_soc(soc, chemistry=chem) == pytest.approx(volts, abs=1e-9)


@pytest.mark.parametrize(
    ("chem", "volts", "soc"),
    [
        (Chemistry.LEAD_ACID, 12.13, 55.0),  # halfway 12.06 (50) - 12.20 (60)
        (Chemistry.LEAD_ACID, 10.905, 5.0),  # halfway 10.50 (0) - 11.31 (10)
        (Chemistry.LIFEPO4, 13.02, 45.0),  # halfway 13.00 (40) - 13.04 (50)
        (Chemistry.LIFEPO4, 12.64, 15.0),  # halfway 12.48 (10) - 12.80 (20)
    ],
)
def test_curve_interpolates_between_points(chem, volts, soc):
    assert soc_from_voltage(volts, chemistry=chem) == pytest.approx(soc)
    assert voltage_from_soc(soc, chemistry=chem) == pytest.approx(volts)


def test_curve_clamps_outside_table():
    assert soc_from_voltage(14.4) == 100.0  # charging voltage is not 130 %
    assert soc_from_voltage(9.0) == 0.0
    assert soc_from_voltage(11.0, chemistry="lifepo4") == 0.0
    assert voltage_from_soc(120.0, chemistry=Chemistry.LIFEPO4) == 13.60


@given(
    st.sampled_from(list(Chemistry)),
    st.floats(min_value=9.0, max_value=15.0),
    st.floats(min_value=9.0, max_value=15.0),
)
def test_curve_is_monotonic(chem, v1, v2):
    lo, hi = sorted((v1, v2))
    assert soc_from_voltage(lo, chemistry=chem) <= soc_from_voltage(hi, chemistry=chem)


@given(st.sampled_from(list(Chemistry)), st.floats(min_value=0.0, max_value=100.0))
def test_curve_inverse(chem, soc):
    v = voltage_from_soc(soc, chemistry=chem)
    assert soc_from_voltage(v, chemistry=chem) == pytest.approx(soc, abs=1e-6)


def test_tables_are_strictly_increasing():
    for table in RESTING_VOLTAGE.values():
        assert all(a < b for a, b in zip(table, table[1:], strict=False))


def feed(est, current_a, seconds, *, voltage_v=12.3, t0=0.0, step=60.0):
    out = None
    for k in range(int(seconds / step) + 1):
        out = est.update(t0 + k * step, voltage_v, current_a)
    return out


def test_first_sample_anchors_to_curve():
    est = SocEstimator(40.0)
    e = est.update(0.0, 12.06, 0.0)
    assert e.soc == pytest.approx(50.0)
    assert e.source == "voltage"


def test_anchor_removes_ir_drop():
    est = SocEstimator(40.0, r_internal_ohm=0.05)
    # Discharging 2 A through 50 mOhm sags 0.1 V below the 12.06 V resting voltage.
    assert est.update(0.0, 11.96, -2.0).soc == pytest.approx(50.0)


def test_coulomb_counting_discharge():
    est = SocEstimator(40.0, initial_soc=50.0)
    e = feed(est, -2.0, 3600)  # 2 Ah out of 40 Ah
    assert e.soc == pytest.approx(45.0)
    assert e.source == "coulomb"


def test_coulomb_counting_charge_applies_efficiency():
    est = SocEstimator(40.0, initial_soc=50.0, charge_efficiency=0.85)
    e = feed(est, 2.0, 3600, voltage_v=13.9)
    assert e.soc == pytest.approx(50.0 + 5.0 * 0.85)


def test_default_efficiency_per_chemistry():
    assert SocEstimator(40.0).charge_efficiency == 0.85
    assert SocEstimator(40.0, chemistry=Chemistry.LIFEPO4).charge_efficiency == 0.98


def test_soc_stays_within_bounds():
    est = SocEstimator(10.0, initial_soc=99.0)
    assert feed(est, 5.0, 7200, voltage_v=14.4).soc == 100.0
    est = SocEstimator(10.0, initial_soc=1.0)
    assert feed(est, -5.0, 7200, voltage_v=11.0).soc == 0.0


def test_reanchors_after_rest():
    est = SocEstimator(40.0, initial_soc=80.0, rest_s=1800.0)
    e = feed(est, 0.0, 1740, voltage_v=12.06)  # 29 min at rest: still trusting the count
    assert e.soc == pytest.approx(80.0)
    assert not e.at_rest
    e = est.update(1800.0, 12.06, 0.0)
    assert e.at_rest
    assert e.source == "voltage"
    assert e.soc == pytest.approx(50.0)


def test_load_interrupts_rest():
    est = SocEstimator(40.0, initial_soc=80.0, rest_s=1800.0)
    feed(est, 0.0, 1500, voltage_v=12.06)
    feed(est, -1.0, 120, voltage_v=12.0, t0=1560.0)  # three minutes at 1 A
    e = feed(est, 0.0, 600, voltage_v=12.06, t0=1740.0)
    assert not e.at_rest  # the rest timer restarted at 1740 s
    assert e.soc == pytest.approx(80.0 - 100 * 1.0 * 180 / 3600 / 40)


def test_float_charge_anchors_full():
    est = SocEstimator(40.0, initial_soc=70.0, rest_s=600.0)
    e = feed(est, 0.04, 600, voltage_v=13.6)
    assert e.soc == 100.0


def test_runtime_at_constant_load():
    est = SocEstimator(40.0, initial_soc=50.0)
    e = feed(est, -0.5, 600)
    # 20 Ah left at 0.5 A: 40 h, less the 0.083 Ah used in the 10 minutes.
    assert e.runtime_min == pytest.approx((20.0 - 0.5 / 6) / 0.5 * 60, rel=1e-3)
    assert e.load_a == pytest.approx(-0.5)


def test_runtime_to_reserve():
    est = SocEstimator(40.0, initial_soc=50.0, reserve_soc=25.0)
    e = feed(est, -1.0, 60)
    assert e.runtime_min == pytest.approx((10.0 - 1 / 60) * 60, rel=1e-3)


def test_runtime_follows_smoothed_load():
    est = SocEstimator(40.0, initial_soc=50.0, smoothing_s=600.0)
    feed(est, -0.5, 3600)
    e = feed(est, -1.0, 600, t0=3660.0)  # one time constant after the step
    assert -1.0 < e.load_a < -0.5
    assert e.load_a == pytest.approx(-0.5 - 0.5 * (1 - math.exp(-1)), abs=0.06)


def test_runtime_infinite_when_charging():
    est = SocEstimator(40.0, initial_soc=50.0)
    assert math.isinf(feed(est, 2.0, 600, voltage_v=13.8).runtime_min)


def test_single_spike_barely_moves_the_count():
    steady = SocEstimator(40.0, initial_soc=50.0)
    spiky = SocEstimator(40.0, initial_soc=50.0)
    for k in range(60):
        steady.update(k * 60.0, 12.1, -0.5)
        spiky.update(k * 60.0, 12.1, -50.0 if k == 30 else -0.5)
    assert spiky.soc == pytest.approx(steady.soc, abs=1e-9)
    assert spiky.runtime_min() == pytest.approx(steady.runtime_min(), rel=1e-9)


def test_samples_must_be_in_time_order():
    est = SocEstimator(40.0)
    est.update(10.0, 12.0, -1.0)
    with pytest.raises(ValueError):
        est.update(5.0, 12.0, -1.0)


def test_a_gap_is_not_integrated_but_anchored_on_the_voltage():
    est = SocEstimator(40.0, initial_soc=80.0)
    est.update(0.0, 12.5, -0.5)
    est.update(60.0, 12.5, -0.5)
    before = est.soc
    # the sensor was lost for 5 h: 2.5 Ah may or may not have flowed; the voltage says 50 %
    # (12.06 V resting, read under 0.5 A through 20 mOhm)
    e = est.update(60.0 + 5 * 3600, 12.06 - 0.5 * 0.02, -0.5)
    assert e.source == "voltage"
    assert e.soc == pytest.approx(50.0, abs=1e-6)
    assert before > 79.9
    # a short gap is still integrated
    e = est.update(60.0 + 5 * 3600 + 300, 12.05, -0.5)
    assert e.source == "coulomb"
    assert e.soc == pytest.approx(50.0 - 0.5 * 300 / 3600 / 40 * 100, abs=1e-6)


def test_minutes_to_a_level_at_the_smoothed_load():
    est = SocEstimator(40.0, initial_soc=50.0, smoothing_s=0.0)
    est.update(0.0, 12.1, -2.0)
    e = est.update(1.0, 12.1, -2.0)
    # 35 % of 40 Ah at 2 A: 7 h
    assert est.minutes_to(15.0) == pytest.approx((e.soc - 15) / 100 * 40 / 2 * 60)
    assert est.minutes_to(15.0) == pytest.approx(420.0, abs=0.1)
    assert est.minutes_to(60.0) == 0.0
    assert e.runtime_min == pytest.approx(est.minutes_to(0.0))
    est.update(2.0, 13.5, 3.0)
    est.update(3.0, 13.5, 3.0)
    est.update(4.0, 13.5, 3.0)
    assert math.isinf(est.minutes_to(15.0))  # charging
